//! Transit wrapping of stored values, as KES does it: the value written to K/V is the
//! ciphertext `POST <engine>/encrypt/<key>` returns for `plaintext` = base64(value)
//! (`vault:v1:…`, the version being the transit key's), and reading posts it to
//! `<engine>/decrypt/<key>`. The transit key never leaves Vault, so a copy of the K/V
//! data alone does not reveal the keys. The token needs `update` on both paths.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hyper::Method;
use zeroize::Zeroizing;

use super::{unexpected, Transit, VaultKeyStore};
use crate::{Error, Result};

impl VaultKeyStore {
    fn transit_denied(&self, t: &Transit, path: &str) -> Error {
        Error::Backend(format!(
            "vault denied access to {path}: the token's policy needs update on {e}/encrypt/{k} and {e}/decrypt/{k}",
            e = t.engine,
            k = t.key
        ))
    }

    /// The transit ciphertext of `value`.
    pub(super) async fn wrap_value(&self, t: &Transit, value: &str) -> Result<Zeroizing<String>> {
        let path = format!("{}/encrypt/{}", t.engine, t.key);
        let plaintext = Zeroizing::new(STANDARD.encode(value.as_bytes()));
        let body =
            Zeroizing::new(serde_json::json!({ "plaintext": plaintext.as_str() }).to_string());
        let r = self
            .call(Method::POST, &path, Some(body.as_bytes().to_vec()))
            .await?;
        match r.status {
            200 => {}
            403 => return Err(self.transit_denied(t, &path)),
            _ => return Err(unexpected("transit encrypt", &path, &r)),
        }
        let mut v = r.json();
        match v["data"].get_mut("ciphertext") {
            Some(serde_json::Value::String(s)) if s.starts_with("vault:") => {
                Ok(Zeroizing::new(std::mem::take(s)))
            }
            _ => Err(Error::Backend(format!(
                "vault {path}: the answer has no transit ciphertext"
            ))),
        }
    }

    /// The value inside the transit ciphertext `stored`, read from K/V at `kv_path`.
    pub(super) async fn unwrap_value(
        &self,
        t: &Transit,
        kv_path: &str,
        stored: &str,
    ) -> Result<Zeroizing<Vec<u8>>> {
        if !stored.starts_with("vault:") {
            return Err(Error::Backend(format!(
                "vault {kv_path}: the stored value is not transit ciphertext (written without transit wrapping?)"
            )));
        }
        let path = format!("{}/decrypt/{}", t.engine, t.key);
        let body = Zeroizing::new(serde_json::json!({ "ciphertext": stored }).to_string());
        let r = self
            .call(Method::POST, &path, Some(body.as_bytes().to_vec()))
            .await?;
        match r.status {
            200 => {}
            403 => return Err(self.transit_denied(t, &path)),
            _ => {
                return Err(unexpected(
                    &format!("transit decrypt of {kv_path} at"),
                    &path,
                    &r,
                ))
            }
        }
        let mut v = r.json();
        let b64 = match v["data"].get_mut("plaintext") {
            Some(serde_json::Value::String(s)) => Zeroizing::new(std::mem::take(s)),
            _ => Zeroizing::new(String::new()),
        };
        STANDARD
            .decode(b64.as_bytes())
            .ok()
            .filter(|_| !b64.is_empty())
            .map(Zeroizing::new)
            .ok_or_else(|| {
                Error::Backend(format!(
                    "vault {path}: the answer has no base64 plaintext for {kv_path}"
                ))
            })
    }
}
