//! [`Kms`] over HashiCorp Vault's (or OpenBao's) transit engine: MinIO's Vault KMS of
//! 2018–2021 (`MINIO_KMS_VAULT_*`, spec `sse.md` §7.2), kept so that objects it encrypted
//! stay readable.
//!
//! ```text
//! login     POST /v1/auth/approle/login           {"role_id","secret_id"} -> auth.client_token
//! generate  POST /v1/transit/datakey/plaintext/K  {"context": b64(ctx)[, "key_version": n]}
//!                                                 -> plaintext b64(32 B), ciphertext "vault:v1:…"
//! decrypt   POST /v1/transit/decrypt/K            {"ciphertext": "vault:v1:…", "context": b64(ctx)}
//! ```
//!
//! The stored data-key ciphertext is Vault's `vault:vN:…` string as bytes. The transit key
//! must be created with `derived=true` (`bao write -f transit/keys/K derived=true`): only a
//! derived key binds the context, and without the binding a sealed key could be moved to
//! another object. [`Kms::create_key`] creates derived keys. The token is renewed by logging
//! in again once 80 % of its lease has passed, or when a call is answered 403.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::http::{error_chain, escape, HttpClient};
use crate::kms::{data_key, matches_pattern, DATA_KEY_LEN};
use crate::tls::{client_config, ServerTrust};
use crate::{Context, DataKey, Error, Kms, Result};

/// Deadline of one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Settings of the Vault transit backend (`MINIO_KMS_VAULT_*`).
#[derive(Clone)]
pub struct VaultConfig {
    /// `https://vault:8200` (plain `http://` is accepted for development servers).
    pub endpoint: String,
    /// AppRole role id.
    pub approle_id: String,
    /// AppRole secret id.
    pub approle_secret: Zeroizing<String>,
    /// The transit key (the default key).
    pub key_name: String,
    /// Key version for new data keys; 0 = the latest.
    pub key_version: u32,
    /// CA file or directory for the server certificate; `None` = the system's.
    pub ca_path: Option<PathBuf>,
    /// Vault Enterprise / OpenBao namespace (`X-Vault-Namespace`).
    pub namespace: Option<String>,
}

impl std::fmt::Debug for VaultConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultConfig")
            .field("endpoint", &self.endpoint)
            .field("approle_id", &self.approle_id)
            .field("key_name", &self.key_name)
            .field("key_version", &self.key_version)
            .field("ca_path", &self.ca_path)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

struct Token {
    value: Zeroizing<String>,
    renew_at: Option<Instant>,
}

/// The Vault transit KMS.
pub struct VaultTransitKms {
    config: VaultConfig,
    http: HttpClient,
    token: tokio::sync::Mutex<Option<Token>>,
}

impl std::fmt::Debug for VaultTransitKms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultTransitKms")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Vault's error text: its `errors` array joined, else the body.
fn vault_message(body: &[u8]) -> String {
    let joined = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        let errors = v.get("errors")?.as_array()?;
        Some(
            errors
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; "),
        )
    });
    joined.unwrap_or_else(|| {
        String::from_utf8_lossy(body)
            .trim()
            .chars()
            .take(200)
            .collect()
    })
}

impl VaultTransitKms {
    /// A client for `config`; nothing is sent until the first call.
    pub fn new(config: VaultConfig) -> Result<Self> {
        let endpoint = config.endpoint.trim().trim_end_matches('/').to_string();
        if !endpoint.starts_with("https://") && !endpoint.starts_with("http://") {
            return Err(Error::Config(format!(
                "Vault endpoint {endpoint}: expected http:// or https://"
            )));
        }
        let trust = match &config.ca_path {
            Some(p) => ServerTrust::from_path(p)?,
            None if endpoint.starts_with("https://") => ServerTrust::system()?,
            // Plain http needs no roots; do not fail where the system has none.
            None => ServerTrust::Roots(Vec::new()),
        };
        let http = crate::http::client(client_config(None, &trust)?, false);
        Ok(Self {
            config: VaultConfig { endpoint, ..config },
            http,
            token: tokio::sync::Mutex::new(None),
        })
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Bytes)> {
        let endpoint = &self.config.endpoint;
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{endpoint}/v1/{path}"));
        if body.is_some() {
            req = req.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if let Some(t) = token {
            let mut v = HeaderValue::from_str(t)
                .map_err(|_| Error::Protocol("Vault token is not a valid header".into()))?;
            v.set_sensitive(true);
            req = req.header("X-Vault-Token", v);
        }
        if let Some(ns) = &self.config.namespace {
            req = req.header("X-Vault-Namespace", ns.as_str());
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| Error::Config(format!("Vault request {path}: {e}")))?;
        let send = async {
            let unreachable = |e: &dyn std::error::Error| {
                Error::Unreachable(format!("Vault at {endpoint}: {}", error_chain(e)))
            };
            let resp = self.http.request(req).await.map_err(|e| unreachable(&e))?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| unreachable(&e))?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, send)
            .await
            .map_err(|_| Error::Unreachable(format!("Vault at {endpoint}: timed out")))?
    }

    async fn login(&self) -> Result<Token> {
        let body = Zeroizing::new(
            serde_json::to_vec(&json!({
                "role_id": self.config.approle_id,
                "secret_id": self.config.approle_secret.as_str(),
            }))
            .map_err(|e| Error::Protocol(e.to_string()))?,
        );
        let (status, resp) = self
            .request(
                Method::POST,
                "auth/approle/login",
                None,
                Some(body.to_vec()),
            )
            .await?;
        if status != 200 {
            return Err(Error::Vault {
                status,
                message: format!("AppRole login: {}", vault_message(&resp)),
            });
        }
        let v: Value = serde_json::from_slice(&resp).map_err(|e| Error::Protocol(e.to_string()))?;
        let token = v["auth"]["client_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Protocol("AppRole login returned no client_token".into()))?;
        let lease = v["auth"]["lease_duration"].as_u64().unwrap_or(0);
        Ok(Token {
            value: Zeroizing::new(token.to_string()),
            renew_at: (lease > 0).then(|| Instant::now() + Duration::from_secs(lease * 4 / 5)),
        })
    }

    /// A token still inside 80 % of its lease, logging in when there is none.
    async fn token(&self) -> Result<Zeroizing<String>> {
        let mut slot = self.token.lock().await;
        let fresh = slot
            .as_ref()
            .is_some_and(|t| t.renew_at.is_none_or(|at| Instant::now() < at));
        if !fresh {
            *slot = Some(self.login().await?);
        }
        match slot.as_ref() {
            Some(t) => Ok(t.value.clone()),
            None => Err(Error::Protocol("no Vault token".into())),
        }
    }

    /// Forgets `used` (answered 403), unless another call already replaced it.
    async fn drop_token(&self, used: &str) {
        let mut slot = self.token.lock().await;
        if slot.as_ref().is_some_and(|t| t.value.as_str() == used) {
            *slot = None;
        }
    }

    /// An authenticated call; a 403 logs in again and retries once. Returns the status and
    /// the JSON body of a 2xx answer, [`Error::Vault`] otherwise.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<(u16, Value)> {
        let body = body
            .map(|b| serde_json::to_vec(&b))
            .transpose()
            .map_err(|e| Error::Protocol(e.to_string()))?;
        let mut retried = false;
        loop {
            let token = self.token().await?;
            let (status, resp) = self
                .request(method.clone(), path, Some(&token), body.clone())
                .await?;
            if status == 403 && !retried {
                self.drop_token(&token).await;
                retried = true;
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(Error::Vault {
                    status,
                    message: vault_message(&resp),
                });
            }
            let v = if resp.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&resp).map_err(|e| Error::Protocol(e.to_string()))?
            };
            return Ok((status, v));
        }
    }

    /// Transit's 400 "encryption key not found" becomes [`Error::KeyNotFound`].
    fn key_error(key: &str, e: Error) -> Error {
        match e {
            Error::Vault { status, message }
                if (status == 400 || status == 404) && message.contains("key not found") =>
            {
                Error::KeyNotFound(key.to_string())
            }
            e => e,
        }
    }
}

fn decode_plaintext(v: &Value) -> Result<Zeroizing<[u8; DATA_KEY_LEN]>> {
    let text = v["data"]["plaintext"]
        .as_str()
        .ok_or_else(|| Error::Protocol("Vault returned no plaintext".into()))?;
    let bytes = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| Error::Protocol("Vault returned invalid base64".into()))?,
    );
    data_key(&bytes)
}

#[async_trait::async_trait]
impl Kms for VaultTransitKms {
    fn kind(&self) -> &'static str {
        "Vault transit"
    }

    fn default_key(&self) -> &str {
        &self.config.key_name
    }

    async fn generate(&self, key: &str, context: &Context) -> Result<DataKey> {
        let mut body = json!({ "context": b64(&context.to_bytes()) });
        if self.config.key_version > 0 {
            body["key_version"] = json!(self.config.key_version);
        }
        let path = format!("transit/datakey/plaintext/{}", escape(key));
        let (_, v) = self
            .call(Method::POST, &path, Some(body))
            .await
            .map_err(|e| Self::key_error(key, e))?;
        let plaintext = decode_plaintext(&v)?;
        let ciphertext = v["data"]["ciphertext"]
            .as_str()
            .ok_or_else(|| Error::Protocol("Vault returned no ciphertext".into()))?;
        Ok(DataKey {
            key_id: key.to_string(),
            plaintext,
            ciphertext: ciphertext.as_bytes().to_vec(),
        })
    }

    async fn decrypt(
        &self,
        key: &str,
        ciphertext: &[u8],
        context: &Context,
    ) -> Result<Zeroizing<[u8; DATA_KEY_LEN]>> {
        let ciphertext = std::str::from_utf8(ciphertext)
            .ok()
            .filter(|c| c.starts_with("vault:"))
            .ok_or(Error::InvalidCiphertext)?;
        let body = json!({ "ciphertext": ciphertext, "context": b64(&context.to_bytes()) });
        let path = format!("transit/decrypt/{}", escape(key));
        let (_, v) = self
            .call(Method::POST, &path, Some(body))
            .await
            .map_err(|e| match Self::key_error(key, e) {
                Error::Vault { status: 400, .. } => Error::InvalidCiphertext,
                e => e,
            })?;
        decode_plaintext(&v)
    }

    async fn create_key(&self, key: &str) -> Result<()> {
        let path = format!("transit/keys/{}", escape(key));
        match self.call(Method::GET, &path, None).await {
            Ok(_) => return Err(Error::KeyExists(key.to_string())),
            Err(Error::Vault { status: 404, .. }) => {}
            Err(e) => return Err(e),
        }
        self.call(Method::POST, &path, Some(json!({ "derived": true })))
            .await
            .map(|_| ())
    }

    async fn list_keys(&self, pattern: &str) -> Result<Vec<String>> {
        let keys = match self.call(Method::GET, "transit/keys?list=true", None).await {
            Ok((_, v)) => v["data"]["keys"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|k| k.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            Err(Error::Vault { status: 404, .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut keys: Vec<String> = keys
            .into_iter()
            .filter(|k| matches_pattern(pattern, k))
            .collect();
        keys.sort();
        Ok(keys)
    }

    async fn status(&self) -> Result<Vec<(String, bool)>> {
        // 200 active, 429 standby, 472/473 replication or performance standby; 501 not
        // initialised and 503 sealed cannot serve.
        let online = matches!(
            self.request(Method::GET, "sys/health", None, None).await,
            Ok((200 | 429 | 472 | 473, _))
        );
        Ok(vec![(self.config.endpoint.clone(), online)])
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn vault_errors_are_read_from_the_errors_array() {
        assert_eq!(
            vault_message(br#"{"errors":["permission denied","x"]}"#),
            "permission denied; x"
        );
        assert_eq!(vault_message(b" sealed \n"), "sealed");
        let e = VaultTransitKms::key_error(
            "k",
            Error::Vault {
                status: 400,
                message: "encryption key not found".into(),
            },
        );
        assert_eq!(e.kind(), crate::ErrorKind::KeyNotFound);
    }

    #[test]
    fn config_debug_hides_the_secret() {
        let c = VaultConfig {
            endpoint: "http://127.0.0.1:8200".into(),
            approle_id: "role".into(),
            approle_secret: Zeroizing::new("s3cr3t-id".into()),
            key_name: "k".into(),
            key_version: 0,
            ca_path: None,
            namespace: None,
        };
        assert!(!format!("{c:?}").contains("s3cr3t"));
        let kms = VaultTransitKms::new(c.clone()).unwrap();
        assert!(!format!("{kms:?}").contains("s3cr3t"));
        let bad = VaultConfig {
            endpoint: "vault:8200".into(),
            ..c
        };
        assert!(VaultTransitKms::new(bad).is_err());
    }
}
