//! `MINIO_KMS_VAULT_*` (and the original `MINIO_SSE_VAULT_*`) → [`VaultConfig`].

use zeroize::Zeroizing;

use super::{invalid, ConfigError, Env, VAULT};
use crate::VaultConfig;

pub(super) fn vault(env: &Env<'_>) -> Result<VaultConfig, ConfigError> {
    let required = |i: usize, what: &str| {
        env.vault(i)
            .map(|(_, v)| v)
            .ok_or_else(|| invalid(VAULT[i].0, format!("not set: {what}")))
    };
    let (endpoint_var, endpoint) = env.vault(0).unwrap_or((VAULT[0].0, String::new()));
    let endpoint = endpoint.trim().to_string();
    if !endpoint.starts_with("https://") && !endpoint.starts_with("http://") {
        return Err(invalid(
            endpoint_var,
            "expected an https:// (or http://) URL",
        ));
    }
    if let Some((var, auth)) = env.vault(1) {
        if !auth.trim().eq_ignore_ascii_case("approle") {
            return Err(invalid(
                var,
                format!("'{}' is not supported; only approle is", auth.trim()),
            ));
        }
    }
    let approle_id = required(2, "the AppRole role id")?.trim().to_string();
    let approle_secret = Zeroizing::new(required(3, "the AppRole secret id")?);
    let approle_secret = Zeroizing::new(approle_secret.trim().to_string());
    let key_name = required(4, "the transit key")?.trim().to_string();
    let key_version = match env.vault(5) {
        None => 0,
        Some((var, v)) => v.trim().parse::<u32>().map_err(|_| {
            invalid(
                var,
                format!("'{}' is not a key version (0, 1, 2, …)", v.trim()),
            )
        })?,
    };
    let ca_path = match env.vault(6) {
        None => None,
        Some((var, p)) => {
            let p = std::path::PathBuf::from(p.trim());
            if !p.exists() {
                return Err(invalid(var, format!("{} does not exist", p.display())));
            }
            Some(p)
        }
    };
    Ok(VaultConfig {
        endpoint,
        approle_id,
        approle_secret,
        key_name,
        key_version,
        ca_path,
        namespace: env.vault(7).map(|(_, v)| v.trim().to_string()),
    })
}
