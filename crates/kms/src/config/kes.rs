//! `MINIO_KMS_KES_*` → [`KesConfig`]: endpoints (comma list with ellipses), the default
//! key, the client certificate (API key, or files with an optional password) and the CA.

use std::path::Path;

use kes_proto::ApiKey;
use zeroize::Zeroizing;

use super::{invalid, ConfigError, Env};
use crate::{ClientIdentity, ServerTrust};

pub(super) const KES_ENDPOINT: &str = "MINIO_KMS_KES_ENDPOINT";
pub(super) const KES_KEY_NAME: &str = "MINIO_KMS_KES_KEY_NAME";
pub(super) const KES_API_KEY: &str = "MINIO_KMS_KES_API_KEY";
pub(super) const KES_CERT_FILE: &str = "MINIO_KMS_KES_CERT_FILE";
pub(super) const KES_KEY_FILE: &str = "MINIO_KMS_KES_KEY_FILE";
pub(super) const KES_KEY_PASSWORD: &str = "MINIO_KMS_KES_KEY_PASSWORD";
pub(super) const KES_CAPATH: &str = "MINIO_KMS_KES_CAPATH";
pub(super) const KES_CA_PATH: &str = "MINIO_KMS_KES_CA_PATH";

/// A validated KES configuration: files are read and the API key is parsed.
pub struct KesConfig {
    /// Normalized `https://host:port` endpoints.
    pub endpoints: Vec<String>,
    /// The default key.
    pub key_name: String,
    /// Client certificate (from the API key or the files).
    pub identity: ClientIdentity,
    /// Server certificate trust.
    pub trust: ServerTrust,
}

impl std::fmt::Debug for KesConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KesConfig")
            .field("endpoints", &self.endpoints)
            .field("key_name", &self.key_name)
            .finish_non_exhaustive()
    }
}

pub(super) fn kes(env: &Env<'_>) -> Result<KesConfig, ConfigError> {
    let mut endpoints = Vec::new();
    for part in env.var(KES_ENDPOINT).unwrap_or_default().split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        for e in crate::ellipses::expand(part).map_err(|e| invalid(KES_ENDPOINT, e))? {
            let e = crate::client::normalize_endpoint(&e)
                .map_err(|e| invalid(KES_ENDPOINT, e.to_string()))?;
            endpoints.push(e);
        }
    }
    if endpoints.is_empty() {
        return Err(invalid(KES_ENDPOINT, "no endpoint"));
    }

    let key_name = env.var(KES_KEY_NAME).ok_or_else(|| {
        invalid(
            KES_KEY_NAME,
            "not set: it names the default key of SSE-S3 and SSE-KMS",
        )
    })?;
    let key_name = key_name.trim().to_string();
    if !kes_proto::is_valid_name(&key_name) {
        return Err(invalid(
            KES_KEY_NAME,
            format!("'{key_name}' is not a valid key name"),
        ));
    }

    let identity = match (
        env.var(KES_API_KEY),
        env.var(KES_CERT_FILE),
        env.var(KES_KEY_FILE),
    ) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(invalid(
                KES_API_KEY,
                "set either it or MINIO_KMS_KES_CERT_FILE and MINIO_KMS_KES_KEY_FILE, not both",
            ))
        }
        (Some(api_key), None, None) => {
            let key = ApiKey::parse(api_key.trim())
                .map_err(|_| invalid(KES_API_KEY, "not a valid kes:v1: API key"))?;
            ClientIdentity::from_api_key(&key).map_err(|e| invalid(KES_API_KEY, e.to_string()))?
        }
        (None, Some(cert), Some(key)) => files_identity(env, cert.trim(), key.trim())?,
        (None, Some(_), None) => {
            return Err(invalid(
                KES_KEY_FILE,
                "not set, but MINIO_KMS_KES_CERT_FILE is",
            ))
        }
        (None, None, Some(_)) => {
            return Err(invalid(
                KES_CERT_FILE,
                "not set, but MINIO_KMS_KES_KEY_FILE is",
            ))
        }
        (None, None, None) => {
            return Err(invalid(
                KES_API_KEY,
                "not set: set it, or MINIO_KMS_KES_CERT_FILE and MINIO_KMS_KES_KEY_FILE",
            ))
        }
    };

    let ca = env
        .var(KES_CAPATH)
        .map(|v| (KES_CAPATH, v))
        .or_else(|| env.var(KES_CA_PATH).map(|v| (KES_CA_PATH, v)));
    let trust = match ca {
        Some((var, path)) => ServerTrust::from_path(Path::new(path.trim()))
            .map_err(|e| invalid(var, e.to_string()))?,
        None => ServerTrust::system().map_err(|_| {
            invalid(
                KES_CAPATH,
                "not set, and no system CA certificates were found",
            )
        })?,
    };
    Ok(KesConfig {
        endpoints,
        key_name,
        identity,
        trust,
    })
}

fn files_identity(env: &Env<'_>, cert: &str, key: &str) -> Result<ClientIdentity, ConfigError> {
    let (cert, key) = (Path::new(cert), Path::new(key));
    let pem = Zeroizing::new(
        std::fs::read(key).map_err(|e| invalid(KES_KEY_FILE, format!("{}: {e}", key.display())))?,
    );
    let password = env.var(KES_KEY_PASSWORD).map(Zeroizing::new);
    let loaded = match &password {
        Some(p) => ClientIdentity::from_files_with_password(cert, key, p),
        None if crate::pem_key::is_encrypted(&pem) => {
            return Err(invalid(
                KES_KEY_PASSWORD,
                format!("not set, but {} is encrypted", key.display()),
            ))
        }
        None => ClientIdentity::from_files(cert, key),
    };
    loaded.map_err(|e| {
        let msg = e.to_string();
        let var = if msg.contains(KES_KEY_PASSWORD) {
            KES_KEY_PASSWORD
        } else if msg.starts_with("client key") {
            KES_KEY_FILE
        } else {
            KES_CERT_FILE
        };
        invalid(var, msg)
    })
}
