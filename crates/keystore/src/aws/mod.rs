//! An AWS SecretsManager keystore (spec `kes-api.md` §5.2 `aws.secretsmanager`): one
//! secret per key, named like the key, whose `SecretString` is the stored value.
//!
//! Requests go to the SecretsManager JSON API (`POST /`, `X-Amz-Target:
//! secretsmanager.<Operation>`, `application/x-amz-json-1.1`), signed with SigV4
//! ([`sigv4`]). Creation is `CreateSecret`, which SecretsManager makes atomic:
//! `ResourceExistsException` is [`Error::AlreadyExists`]. Deletion skips the recovery
//! window (`ForceDeleteWithoutRecovery`), so a deleted name can be created again at once;
//! because such a delete of an absent secret succeeds silently, `DescribeSecret` runs
//! first to answer [`Error::NotFound`].
//!
//! Credentials are static (from the config) or read from `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` when the store is built; instance
//! roles and profile files are not read. Nothing is cached: a transport failure, a
//! timeout, a 5xx or throttling is [`Error::Unreachable`], never [`Error::NotFound`].
//! Keys, secret keys and tokens never appear in errors or `Debug` output.

mod client;
pub mod sigv4;

use std::time::Instant;

use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::{Error, KeyStore, Result, Status, MAX_VALUE_SIZE};
use client::{Reply, Transport};
pub use sigv4::Credentials;

/// Everything needed to reach SecretsManager.
#[derive(Debug, Clone)]
pub struct AwsConfig {
    /// `https://secretsmanager.<region>.amazonaws.com` (or `http://` for a local test server).
    pub endpoint: String,
    /// AWS region, part of every signature.
    pub region: String,
    /// KMS key that encrypts new secrets; `None` = the account's default
    /// `aws/secretsmanager` key.
    pub kms_key_id: Option<String>,
    /// Static credentials; `None` = from the AWS environment variables.
    pub credentials: Option<Credentials>,
}

/// Keys as secrets in AWS SecretsManager.
pub struct AwsSecretsManagerKeyStore {
    cfg: AwsConfig,
    creds: Credentials,
    http: Transport,
}

impl std::fmt::Debug for AwsSecretsManagerKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsSecretsManagerKeyStore")
            .field("endpoint", &self.cfg.endpoint)
            .field("region", &self.cfg.region)
            .field("kms_key_id", &self.cfg.kms_key_id)
            .finish_non_exhaustive()
    }
}

/// Credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
fn env_credentials() -> Result<Credentials> {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
    match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        (Some(access_key), Some(secret_key)) => Ok(Credentials {
            access_key,
            secret_key: Zeroizing::new(secret_key),
            session_token: var("AWS_SESSION_TOKEN").map(Zeroizing::new),
        }),
        _ => Err(Error::Backend(
            "aws credentials: none configured and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not set".into(),
        )),
    }
}

/// SecretsManager secret names: 1–512 of `A-Za-z0-9/_+=.@-`. `/` is refused too, so
/// a key name is never read as a path.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 512
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'=' | b'.' | b'@' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName)
    }
}

impl AwsSecretsManagerKeyStore {
    /// A store for `cfg`. Does not contact AWS, so a key server can start while the
    /// endpoint is down and report it as unreachable.
    pub fn new(cfg: AwsConfig) -> Result<Self> {
        if cfg.region.trim().is_empty() {
            return Err(Error::Backend("aws region: empty".into()));
        }
        let creds = match &cfg.credentials {
            Some(c) if c.access_key.is_empty() || c.secret_key.is_empty() => {
                return Err(Error::Backend(
                    "aws credentials: access key and secret key must be set together".into(),
                ))
            }
            Some(c) => c.clone(),
            None => env_credentials()?,
        };
        let http = Transport::new(&cfg.endpoint)?;
        Ok(Self { cfg, creds, http })
    }

    async fn call(&self, op: &str, body: &Value) -> Result<Reply> {
        self.call_raw(op, Zeroizing::new(body.to_string().into_bytes()))
            .await
    }

    async fn call_raw(&self, op: &str, body: Zeroizing<Vec<u8>>) -> Result<Reply> {
        self.http
            .post(&self.creds, &self.cfg.region, op, body)
            .await
    }

    /// Maps a non-success reply; `op` and `name` word the message.
    fn failure(&self, op: &str, name: &str, r: &Reply) -> Error {
        let kind = r.error_type();
        let msg = r.message();
        match (r.status, kind.as_str()) {
            (_, "ThrottlingException") | (500..=599, _) => Error::Unreachable(format!(
                "aws secretsmanager {op} {name}: HTTP {} {kind}: {msg}",
                r.status
            )),
            _ => Error::Backend(format!(
                "aws secretsmanager {op} {name}: HTTP {} {kind}: {msg}",
                r.status
            )),
        }
    }
}

#[async_trait::async_trait]
impl KeyStore for AwsSecretsManagerKeyStore {
    async fn create(&self, name: &str, value: &[u8]) -> Result<()> {
        check_name(name)?;
        let text = std::str::from_utf8(value).map_err(|_| {
            Error::Backend("aws secretsmanager stores text: the key value is not UTF-8".into())
        })?;
        // Written by hand so the value only ever sits in zeroized buffers.
        let quote = |s: &str| Zeroizing::new(Value::from(s).to_string());
        let mut body = Zeroizing::new(format!(
            "{{\"Name\":{},\"SecretString\":{}",
            quote(name).as_str(),
            quote(text).as_str()
        ));
        if let Some(k) = self.cfg.kms_key_id.as_deref().filter(|k| !k.is_empty()) {
            body.push_str(&format!(",\"KmsKeyId\":{}", quote(k).as_str()));
        }
        body.push('}');
        let r = self
            .call_raw("CreateSecret", Zeroizing::new(body.as_bytes().to_vec()))
            .await?;
        match (r.status, r.error_type().as_str()) {
            (200, _) => Ok(()),
            (_, "ResourceExistsException") => Err(Error::AlreadyExists),
            _ => Err(self.failure("CreateSecret", name, &r)),
        }
    }

    async fn get(&self, name: &str) -> Result<Zeroizing<Vec<u8>>> {
        check_name(name)?;
        let r = self
            .call("GetSecretValue", &json!({"SecretId": name}))
            .await?;
        match (r.status, r.error_type().as_str()) {
            (200, _) => {}
            (_, "ResourceNotFoundException") => return Err(Error::NotFound),
            _ => return Err(self.failure("GetSecretValue", name, &r)),
        }
        let mut v = r.json();
        let serde_json::Value::String(s) = v["SecretString"].take() else {
            return Err(Error::Backend(format!(
                "aws secretsmanager secret {name}: no SecretString (not written by a key server)"
            )));
        };
        let s = Zeroizing::new(s.into_bytes());
        if s.len() > MAX_VALUE_SIZE {
            return Err(Error::Backend(format!(
                "aws secretsmanager secret {name}: value larger than {MAX_VALUE_SIZE} bytes"
            )));
        }
        Ok(s)
    }

    async fn delete(&self, name: &str) -> Result<()> {
        check_name(name)?;
        // A forced delete of an absent secret succeeds silently, so ask first.
        let r = self
            .call("DescribeSecret", &json!({"SecretId": name}))
            .await?;
        match (r.status, r.error_type().as_str()) {
            (200, _) => {}
            (_, "ResourceNotFoundException") => return Err(Error::NotFound),
            _ => return Err(self.failure("DescribeSecret", name, &r)),
        }
        let r = self
            .call(
                "DeleteSecret",
                &json!({"SecretId": name, "ForceDeleteWithoutRecovery": true}),
            )
            .await?;
        match (r.status, r.error_type().as_str()) {
            (200, _) => Ok(()),
            (_, "ResourceNotFoundException") => Err(Error::NotFound),
            _ => Err(self.failure("DeleteSecret", name, &r)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let mut body = json!({"MaxResults": 100});
            if !prefix.is_empty() {
                body["Filters"] = json!([{"Key": "name", "Values": [prefix]}]);
            }
            if let Some(t) = &next {
                body["NextToken"] = json!(t);
            }
            let r = self.call("ListSecrets", &body).await?;
            if r.status != 200 {
                return Err(self.failure("ListSecrets", prefix, &r));
            }
            let v = r.json();
            for s in v["SecretList"].as_array().into_iter().flatten() {
                if let Some(n) = s["Name"].as_str() {
                    // The name filter also matches inside names; keep true prefixes only.
                    if n.starts_with(prefix) {
                        names.push(n.to_string());
                    }
                }
            }
            next = v["NextToken"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if next.is_none() {
                break;
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    async fn status(&self) -> Result<Status> {
        let start = Instant::now();
        let r = self.call("ListSecrets", &json!({"MaxResults": 1})).await?;
        if r.status != 200 {
            return Err(self.failure("ListSecrets", "", &r));
        }
        Ok(Status {
            latency: start.elapsed().max(std::time::Duration::from_nanos(1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["k1", "my-key_1.v2", "a@b+c=d"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a/b", "a b", "a?b", "ä"] {
            assert!(matches!(check_name(bad), Err(Error::InvalidName)), "{bad}");
        }
    }

    #[test]
    fn debug_and_errors_hide_secrets() {
        let cfg = AwsConfig {
            endpoint: "http://127.0.0.1:1".into(),
            region: "us-east-1".into(),
            kms_key_id: None,
            credentials: Some(Credentials {
                access_key: "AKIDTEST".into(),
                secret_key: Zeroizing::new("very-secret-key".into()),
                session_token: Some(Zeroizing::new("very-secret-token".into())),
            }),
        };
        let s = AwsSecretsManagerKeyStore::new(cfg.clone()).expect("store");
        let d = format!("{s:?} {cfg:?}");
        assert!(!d.contains("very-secret"), "{d}");
        let missing = AwsConfig {
            region: " ".into(),
            ..cfg
        };
        let e = AwsSecretsManagerKeyStore::new(missing).expect_err("no region");
        assert!(e.to_string().contains("region"), "{e}");
    }
}
