//! MinIO's KMS environment variables → a validated backend configuration → a [`Kms`]
//! (spec `sse.md` §8, `kes-api.md` §7.1).
//!
//! | family | variables |
//! |---|---|
//! | KES | `MINIO_KMS_KES_ENDPOINT` (comma list, `{1...n}` ellipses), `_KEY_NAME`, `_API_KEY` or `_CERT_FILE` + `_KEY_FILE` (+ `_KEY_PASSWORD`), `_CAPATH` (legacy `_CA_PATH`) |
//! | static key | `MINIO_KMS_SECRET_KEY` or `MINIO_KMS_SECRET_KEY_FILE` |
//! | legacy master key | `MINIO_KMS_MASTER_KEY`, `MINIO_KMS_MASTER_KEY_FILE` or `MINIO_SSE_MASTER_KEY` |
//! | legacy Vault transit | `MINIO_KMS_VAULT_*` (older `MINIO_SSE_VAULT_*`) |
//!
//! An empty variable counts as unset, and so does a `*_FILE` naming a file that does not
//! exist (relative names are also looked up in `/run/secrets`), as MinIO's Docker image
//! expects. Two families at once is an error naming both. Every error is one line that
//! names the variable at fault and never shows a secret.

use std::path::Path;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::secret_file::{self, SECRETS_DIR};
use crate::{BuiltinKms, Error, KesClient, KesKms, Kms, Result, VaultConfig, VaultTransitKms};

mod kes;
mod vault;

pub use kes::KesConfig;
use kes::{KES_API_KEY, KES_CERT_FILE, KES_ENDPOINT, KES_KEY_FILE, KES_KEY_NAME};

/// A configuration error from [`from_env`] or [`auto_encryption`].
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Two KMS configurations are present.
    #[error("kms: configuration for {0} and {1} is present; set only one")]
    Conflict(&'static str, &'static str),
    /// A variable is missing or unusable.
    #[error("kms: {var}: {reason}")]
    Invalid {
        /// The variable at fault.
        var: &'static str,
        /// What is wrong (never the value of a secret).
        reason: String,
    },
}

fn invalid(var: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        var,
        reason: reason.into(),
    }
}

/// The KMS the environment asks for.
#[derive(Debug)]
pub enum KmsConfig {
    /// KES servers.
    Kes(KesConfig),
    /// One static key (secret key or legacy master key).
    Builtin(BuiltinKms),
    /// Legacy Vault transit.
    Vault(VaultConfig),
}

impl std::fmt::Display for KmsConfig {
    /// One line for the start-up log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KmsConfig::Kes(c) => write!(
                f,
                "KES at {} (default key {})",
                c.endpoints.join(", "),
                c.key_name
            ),
            KmsConfig::Builtin(b) if b.is_legacy_master_key() => {
                write!(f, "legacy static master key {}", b.name())
            }
            KmsConfig::Builtin(b) => write!(f, "static key {}", b.name()),
            KmsConfig::Vault(v) => write!(
                f,
                "Vault transit at {} (default key {})",
                v.endpoint, v.key_name
            ),
        }
    }
}

const SECRET_KEY: &str = "MINIO_KMS_SECRET_KEY";
const SECRET_KEY_FILE: &str = "MINIO_KMS_SECRET_KEY_FILE";
const MASTER_KEYS: [&str; 3] = [
    "MINIO_KMS_MASTER_KEY",
    "MINIO_KMS_MASTER_KEY_FILE",
    "MINIO_SSE_MASTER_KEY",
];
const MINKMS: [&str; 4] = [
    "MINIO_KMS_SERVER",
    "MINIO_KMS_ENCLAVE",
    "MINIO_KMS_SSE_KEY",
    "MINIO_KMS_API_KEY",
];
/// Each Vault setting under its current and its original name.
const VAULT: [(&str, &str); 8] = [
    ("MINIO_KMS_VAULT_ENDPOINT", "MINIO_SSE_VAULT_ENDPOINT"),
    ("MINIO_KMS_VAULT_AUTH_TYPE", "MINIO_SSE_VAULT_AUTH_TYPE"),
    ("MINIO_KMS_VAULT_APPROLE_ID", "MINIO_SSE_VAULT_APPROLE_ID"),
    (
        "MINIO_KMS_VAULT_APPROLE_SECRET",
        "MINIO_SSE_VAULT_APPROLE_SECRET",
    ),
    ("MINIO_KMS_VAULT_KEY_NAME", "MINIO_SSE_VAULT_KEY_NAME"),
    ("MINIO_KMS_VAULT_KEY_VERSION", "MINIO_SSE_VAULT_KEY_VERSION"),
    ("MINIO_KMS_VAULT_CAPATH", "MINIO_SSE_VAULT_CAPATH"),
    ("MINIO_KMS_VAULT_NAMESPACE", "MINIO_SSE_VAULT_NAMESPACE"),
];

/// The environment, with empty values read as unset.
struct Env<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
    secrets_dir: &'a Path,
}

impl Env<'_> {
    fn var(&self, name: &str) -> Option<String> {
        (self.get)(name).filter(|v| !v.trim().is_empty())
    }

    /// A `*_FILE` variable whose file exists.
    fn file(&self, name: &str) -> Option<std::path::PathBuf> {
        secret_file::resolve(self.var(name)?.trim(), self.secrets_dir)
    }

    /// The first Vault variable of `VAULT[i]` that is set, with its name.
    fn vault(&self, i: usize) -> Option<(&'static str, String)> {
        let (new, old) = VAULT.get(i).copied()?;
        self.var(new)
            .map(|v| (new, v))
            .or_else(|| self.var(old).map(|v| (old, v)))
    }

    /// The value of `var`, or else the content of the file `file_var` names, with the
    /// name of the variable it came from.
    fn secret(
        &self,
        var: &'static str,
        file_var: &'static str,
    ) -> Result<(&'static str, Zeroizing<String>), ConfigError> {
        if let Some(v) = self.var(var) {
            return Ok((var, Zeroizing::new(v)));
        }
        let path = self
            .file(file_var)
            .ok_or_else(|| invalid(file_var, "file not found"))?;
        let text = secret_file::read(&path).map_err(|e| invalid(file_var, e))?;
        Ok((file_var, text))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Kes,
    SecretKey,
    MasterKey,
    Vault,
    MinKms,
}

/// Which families are configured, each with the name to show for it.
fn families(env: &Env<'_>) -> Result<Vec<(&'static str, Family)>, ConfigError> {
    let mut found = Vec::new();
    if env.var(KES_ENDPOINT).is_some() {
        found.push(("MINIO_KMS_KES_*", Family::Kes));
    } else if let Some(v) = [KES_KEY_NAME, KES_API_KEY, KES_CERT_FILE, KES_KEY_FILE]
        .into_iter()
        .find(|v| env.var(v).is_some())
    {
        return Err(invalid(KES_ENDPOINT, format!("not set, but {v} is")));
    }

    match (
        env.var(SECRET_KEY).is_some(),
        env.file(SECRET_KEY_FILE).is_some(),
    ) {
        (true, true) => return Err(ConfigError::Conflict(SECRET_KEY, SECRET_KEY_FILE)),
        (true, false) => found.push((SECRET_KEY, Family::SecretKey)),
        (false, true) => found.push((SECRET_KEY_FILE, Family::SecretKey)),
        (false, false) => {}
    }

    let master: Vec<&'static str> = MASTER_KEYS
        .into_iter()
        .filter(|v| match v.strip_suffix("_FILE") {
            Some(_) => env.file(v).is_some(),
            None => env.var(v).is_some(),
        })
        .collect();
    match master.as_slice() {
        [] => {}
        [one] => found.push((*one, Family::MasterKey)),
        [a, b, ..] => return Err(ConfigError::Conflict(a, b)),
    }

    if let Some((name, _)) = env.vault(0) {
        let family = if name.starts_with("MINIO_KMS") {
            "MINIO_KMS_VAULT_*"
        } else {
            "MINIO_SSE_VAULT_*"
        };
        found.push((family, Family::Vault));
    } else if let Some((name, _)) = (1..VAULT.len()).find_map(|i| env.vault(i)) {
        return Err(invalid(VAULT[0].0, format!("not set, but {name} is")));
    }

    if let Some(v) = MINKMS.into_iter().find(|v| env.var(v).is_some()) {
        found.push((v, Family::MinKms));
    }
    Ok(found)
}

/// Reads the KMS configuration from the environment (`get` looks a variable up; tests
/// pass a map). `Ok(None)` when no KMS is configured.
pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<KmsConfig>, ConfigError> {
    from_env_in(&get, Path::new(SECRETS_DIR))
}

/// [`from_env`] with another secrets directory (tests).
pub(crate) fn from_env_in(
    get: &dyn Fn(&str) -> Option<String>,
    secrets_dir: &Path,
) -> Result<Option<KmsConfig>, ConfigError> {
    let env = Env { get, secrets_dir };
    let found = families(&env)?;
    let (label, family) = match found.as_slice() {
        [] => return Ok(None),
        [one] => *one,
        [(a, _), (b, _), ..] => return Err(ConfigError::Conflict(a, b)),
    };
    Ok(Some(match family {
        Family::Kes => KmsConfig::Kes(kes::kes(&env)?),
        Family::SecretKey => {
            let (var, text) = env.secret(SECRET_KEY, SECRET_KEY_FILE)?;
            KmsConfig::Builtin(
                BuiltinKms::from_secret_key(&text).map_err(|e| invalid(var, e.to_string()))?,
            )
        }
        Family::MasterKey => {
            // Only `label` is set (two would have been a conflict).
            let value_var = match label {
                "MINIO_KMS_MASTER_KEY_FILE" => "MINIO_KMS_MASTER_KEY",
                other => other,
            };
            let (var, text) = env.secret(value_var, "MINIO_KMS_MASTER_KEY_FILE")?;
            KmsConfig::Builtin(
                BuiltinKms::from_master_key(&text).map_err(|e| invalid(var, e.to_string()))?,
            )
        }
        Family::Vault => KmsConfig::Vault(vault::vault(&env)?),
        Family::MinKms => {
            return Err(invalid(
                label,
                "MinIO KMS (MinKMS) is not supported; use a KES server (MINIO_KMS_KES_*)",
            ))
        }
    }))
}

/// Whether `MINIO_KMS_AUTO_ENCRYPTION` (legacy `MINIO_SSE_AUTO_ENCRYPTION`) is on. The
/// values of MinIO's `ParseBool` are accepted (`on`/`off`, `true`/`false`, `1`/`0`, any
/// case); unset or empty is off.
pub fn auto_encryption(get: impl Fn(&str) -> Option<String>) -> Result<bool, ConfigError> {
    let found = ["MINIO_KMS_AUTO_ENCRYPTION", "MINIO_SSE_AUTO_ENCRYPTION"]
        .into_iter()
        .find_map(|v| get(v).filter(|s| !s.trim().is_empty()).map(|s| (v, s)));
    let Some((var, value)) = found else {
        return Ok(false);
    };
    match value.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "t" | "1" => Ok(true),
        "off" | "false" | "f" | "0" => Ok(false),
        _ => Err(invalid(
            var,
            format!("'{}' is neither on nor off", value.trim()),
        )),
    }
}

/// Builds the backend. Nothing is sent yet; run [`crate::self_test`] next.
pub async fn connect(cfg: KmsConfig) -> Result<Arc<dyn Kms>> {
    Ok(match cfg {
        KmsConfig::Kes(c) => {
            let client = KesClient::new(&c.endpoints, c.identity, &c.trust)
                .map_err(|e| Error::Config(format!("kms: {KES_CERT_FILE}/{KES_KEY_FILE}: {e}")))?;
            Arc::new(KesKms::new(client, c.key_name))
        }
        KmsConfig::Builtin(b) => Arc::new(b),
        KmsConfig::Vault(v) => Arc::new(VaultTransitKms::new(v)?),
    })
}

#[cfg(test)]
mod tests;
