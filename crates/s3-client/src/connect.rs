//! An SDK client for an alias.

use std::path::PathBuf;

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};

use crate::alias::Alias;
use crate::{Error, Result};

/// A connected alias: the SDK client and what the commands need to know about it.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The SDK client.
    pub s3: aws_sdk_s3::Client,
    /// The alias it was made from.
    pub alias: Alias,
    /// Extra CA certificates (PEM) trusted besides the system roots.
    pub ca_pems: Vec<Vec<u8>>,
}

impl Connection {
    /// Whether the endpoint speaks TLS.
    pub fn is_https(&self) -> bool {
        self.alias.url.starts_with("https://")
    }

    /// Maps an SDK error of a request to this endpoint.
    pub fn error<E>(
        &self,
        err: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> Error
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        Error::from_sdk(&self.alias.url, err)
    }
}

/// The directories whose `*.crt`/`*.pem` files are trusted as CAs: coffer's and mc's
/// `certs/CAs/`.
fn ca_dirs() -> Vec<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let home = var("HOME").map(PathBuf::from);
    let mut dirs = Vec::new();
    if let Some(d) = var("COFFER_CONFIG_DIR")
        .map(PathBuf::from)
        .or_else(|| var("XDG_CONFIG_HOME").map(|d| PathBuf::from(d).join("coffer")))
        .or_else(|| home.as_ref().map(|h| h.join(".config/coffer")))
    {
        dirs.push(d.join("certs/CAs"));
    }
    if let Some(d) = var("MC_CONFIG_DIR")
        .map(PathBuf::from)
        .or_else(|| home.map(|h| h.join(".mc")))
    {
        dirs.push(d.join("certs/CAs"));
    }
    dirs
}

fn load_ca_pems() -> Result<Vec<Vec<u8>>> {
    let mut pems = Vec::new();
    for dir in ca_dirs() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if path.is_file() {
                let pem = std::fs::read(&path)
                    .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
                check_pem(&path, &pem)?;
                pems.push(pem);
            }
        }
    }
    Ok(pems)
}

/// A CA file must hold at least one certificate, every one of them usable as a trust
/// anchor (the SDK's TLS layer panics on anything else).
fn check_pem(path: &std::path::Path, pem: &[u8]) -> Result<()> {
    use rustls_pki_types::pem::PemObject;
    let bad = |why: String| Error::Config(format!("CA certificate file {}: {why}", path.display()));
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| bad(e.to_string()))?;
        roots.add(cert).map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(())
}

/// An SDK client for `alias`.
pub fn connect(alias: &Alias) -> Result<Connection> {
    let ca_pems = load_ca_pems()?;
    let mut trust = TrustStore::default();
    for pem in &ca_pems {
        trust.add_pem_certificate(pem.clone());
    }
    let tls = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| Error::Config(format!("TLS set-up: {e}")))?;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(tls)
        .build_https();
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(alias.region().to_string()))
        .endpoint_url(&alias.url)
        .force_path_style(alias.path_style())
        .credentials_provider(Credentials::new(
            &alias.access_key,
            &alias.secret_key,
            None,
            None,
            "coffer-alias",
        ))
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .http_client(http)
        .build();
    Ok(Connection {
        s3: aws_sdk_s3::Client::from_conf(config),
        alias: alias.clone(),
        ca_pems,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn ca_files_are_checked() {
        let p = std::path::Path::new("x.crt");
        assert!(super::check_pem(p, b"not a certificate").is_err());
        let junk = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(super::check_pem(p, junk).is_err());
    }
}
