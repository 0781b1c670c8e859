//! A Hashicorp Vault / OpenBao keystore: keys in a K/V secrets engine (version 1 or 2),
//! reached over the Vault HTTP API with an AppRole login (spec `kes-api.md` §5.2).
//!
//! Layout, compatible with KES:
//!
//! ```text
//! KV v1  <engine>/<prefix>/<name>             {"<name>": "<stored value>"}
//! KV v2  <engine>/data/<prefix>/<name>        {"options":{"cas":0},"data":{"<name>": "<stored value>"}}
//!        <engine>/metadata/<prefix>/<name>    delete, and list with ?list=true
//! ```
//!
//! Creation is create-if-absent: KV v2 writes with check-and-set 0, so exactly one of
//! several concurrent writers wins even across key servers. KV v1 has no such primitive:
//! creation is read-then-write, serialized inside this process only (as in KES).
//!
//! The token from the AppRole login is renewed (`auth/token/renew-self`) once 80 % of its
//! lease has passed, on the next request; if renewal fails, or Vault answers 403 (a
//! revoked or expired token), the store logs in again and retries the request once. A
//! second 403 is a policy problem and the error names the path the policy must allow.
//!
//! Nothing is cached: every call asks Vault, and a transport failure, a timeout or a
//! sealed Vault is [`Error::Unreachable`], never [`Error::NotFound`]. Tokens, secret IDs
//! and key values never appear in errors or `Debug` output.

mod client;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hyper::Method;
use tokio::sync::Mutex;
use zeroize::Zeroizing;

use crate::{Error, KeyStore, Result, Status, MAX_VALUE_SIZE};
use client::{Response, Transport};

/// K/V secrets engine version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KvVersion {
    /// KV version 1 (the KES default).
    #[default]
    V1,
    /// KV version 2 (versioned, check-and-set).
    V2,
}

/// TLS to Vault. Without `ca`, only `http://` endpoints work.
#[derive(Debug, Clone, Default)]
pub struct VaultTls {
    /// CA certificate file, or directory of PEM files, that Vault's certificate chains to.
    pub ca: Option<PathBuf>,
    /// Client certificate (for Vault's TLS client auth), with `key`.
    pub cert: Option<PathBuf>,
    /// Client private key, with `cert`.
    pub key: Option<PathBuf>,
}

/// AppRole credentials.
#[derive(Clone)]
pub struct AppRole {
    /// Auth mount (default `approle`).
    pub engine: String,
    /// Namespace of the auth mount; `None` = the store's namespace, `Some("/")` = root.
    pub namespace: Option<String>,
    /// Role ID.
    pub role_id: Zeroizing<String>,
    /// Secret ID.
    pub secret_id: Zeroizing<String>,
    /// After a login failed because Vault was unreachable, wait this long before trying
    /// again (requests meanwhile fail fast as unreachable).
    pub retry: Duration,
}

impl std::fmt::Debug for AppRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppRole")
            .field("engine", &self.engine)
            .field("namespace", &self.namespace)
            .field("role_id", &"<redacted>")
            .field("secret_id", &"<redacted>")
            .field("retry", &self.retry)
            .finish()
    }
}

/// Everything needed to reach a Vault K/V engine.
#[derive(Debug, Clone)]
pub struct VaultConfig {
    /// `https://host:port` (or `http://` for a local test server).
    pub endpoint: String,
    /// K/V mount (default `kv`).
    pub engine: String,
    /// K/V version.
    pub version: KvVersion,
    /// Vault Enterprise / OpenBao namespace (`X-Vault-Namespace`), if any.
    pub namespace: Option<String>,
    /// Path prefix inside the engine (may be empty).
    pub prefix: String,
    /// Login.
    pub approle: AppRole,
    /// TLS.
    pub tls: VaultTls,
    /// Deadline of the `sys/health` probe.
    pub ping: Duration,
}

struct Token {
    value: Zeroizing<String>,
    /// When to renew; `None` = never (no lease).
    renew_at: Option<Instant>,
    /// When the token stops working; `None` = never.
    expires_at: Option<Instant>,
}

#[derive(Default)]
struct Auth {
    token: Option<Token>,
    /// After an unreachable Vault during login: no new attempt before this.
    backoff_until: Option<Instant>,
}

/// Keys in a Vault / OpenBao K/V engine.
pub struct VaultKeyStore {
    cfg: VaultConfig,
    http: Transport,
    auth: Mutex<Auth>,
    /// Serializes KV v1 read-then-write creation within this process.
    create_v1: Mutex<()>,
}

impl std::fmt::Debug for VaultKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultKeyStore")
            .field("endpoint", &self.cfg.endpoint)
            .field("engine", &self.cfg.engine)
            .field("version", &self.cfg.version)
            .field("prefix", &self.cfg.prefix)
            .finish_non_exhaustive()
    }
}

/// Key names become one path segment: no separators, nothing a URL would reinterpret.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName)
    }
}

/// What a request is for, to word errors.
#[derive(Clone, Copy)]
enum Op {
    Create,
    Read,
    Delete,
    List,
}

impl VaultKeyStore {
    /// A store for `cfg`. Does not contact Vault: the first request logs in, so a key
    /// server can start while Vault is down and report it as unreachable.
    pub fn new(mut cfg: VaultConfig) -> Result<Self> {
        cfg.engine = cfg.engine.trim_matches('/').to_string();
        cfg.prefix = cfg.prefix.trim_matches('/').to_string();
        if cfg.engine.is_empty() {
            return Err(Error::Backend("vault engine: empty".into()));
        }
        let http = Transport::new(&cfg.endpoint, &cfg.tls)?;
        Ok(Self {
            cfg,
            http,
            auth: Mutex::new(Auth::default()),
            create_v1: Mutex::new(()),
        })
    }

    fn namespace(&self) -> Option<&str> {
        self.cfg.namespace.as_deref().filter(|n| !n.is_empty())
    }

    /// `<engine>/<section>/<prefix>/<name>` with empty parts left out.
    fn path(&self, section: Option<&str>, name: &str) -> String {
        let mut parts = vec![self.cfg.engine.as_str()];
        if let Some(s) = section {
            parts.push(s);
        }
        if !self.cfg.prefix.is_empty() {
            parts.push(&self.cfg.prefix);
        }
        parts.push(name);
        parts.join("/")
    }

    fn data_path(&self, name: &str) -> String {
        match self.cfg.version {
            KvVersion::V1 => self.path(None, name),
            KvVersion::V2 => self.path(Some("data"), name),
        }
    }

    fn metadata_path(&self, name: &str) -> String {
        match self.cfg.version {
            KvVersion::V1 => self.path(None, name),
            KvVersion::V2 => self.path(Some("metadata"), name),
        }
    }

    /// The message for a 403 that survived a fresh login: which policy paths are needed.
    fn denied(&self, path: &str) -> Error {
        let p = if self.cfg.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.cfg.prefix)
        };
        let e = &self.cfg.engine;
        let need = match self.cfg.version {
            KvVersion::V1 => format!("create/read/delete/list on {e}/{p}*"),
            KvVersion::V2 => {
                format!("create/read on {e}/data/{p}* and delete/list on {e}/metadata/{p}*")
            }
        };
        Error::Backend(format!(
            "vault denied access to {path}: the token's policy needs {need}"
        ))
    }

    /// Maps a non-success answer of a KV request.
    fn failure(&self, op: Op, path: &str, r: &Response) -> Error {
        match r.status {
            403 => self.denied(path),
            503 if r.errors().contains("sealed") => {
                Error::Unreachable("vault: key store is sealed".into())
            }
            502..=504 => Error::Unreachable(format!("vault {path}: {}", r.errors())),
            _ => {
                let what = match op {
                    Op::Create => "create",
                    Op::Read => "read",
                    Op::Delete => "delete",
                    Op::List => "list",
                };
                Error::Backend(format!(
                    "vault {what} {path}: HTTP {}: {}",
                    r.status,
                    r.errors()
                ))
            }
        }
    }

    async fn login(&self, auth: &mut Auth) -> Result<()> {
        if let Some(until) = auth.backoff_until {
            if Instant::now() < until {
                return Err(Error::Unreachable(format!(
                    "vault at {}: login failed recently; retrying after {:?}",
                    self.http.endpoint, self.cfg.approle.retry
                )));
            }
        }
        let a = &self.cfg.approle;
        let body = Zeroizing::new(
            serde_json::json!({"role_id": a.role_id.as_str(), "secret_id": a.secret_id.as_str()})
                .to_string(),
        );
        let ns = match a.namespace.as_deref() {
            Some("/") => None,
            Some(n) if !n.is_empty() => Some(n),
            _ => self.namespace(),
        };
        let path = format!("auth/{}/login", a.engine.trim_matches('/'));
        let sent = Instant::now();
        let r = match self
            .http
            .send(
                Method::POST,
                &path,
                None,
                ns,
                Some(body.as_bytes().to_vec()),
                Duration::from_secs(15),
            )
            .await
        {
            Ok(r) => r,
            Err(e) => {
                if matches!(e, Error::Unreachable(_)) && !a.retry.is_zero() {
                    auth.backoff_until = Some(Instant::now() + a.retry);
                }
                return Err(e);
            }
        };
        auth.backoff_until = None;
        if r.status != 200 {
            return Err(match r.status {
                503 if r.errors().contains("sealed") => {
                    Error::Unreachable("vault: key store is sealed".into())
                }
                502..=504 => Error::Unreachable(format!("vault {path}: {}", r.errors())),
                _ => Error::Backend(format!(
                    "vault AppRole login at {path} failed (HTTP {}): {}; check approle id and secret",
                    r.status,
                    r.errors()
                )),
            });
        }
        auth.token = Some(token_from(&r, sent, &path)?);
        Ok(())
    }

    async fn renew(&self, auth: &mut Auth) -> Result<()> {
        let Some(t) = &auth.token else {
            return self.login(auth).await;
        };
        let sent = Instant::now();
        let r = self
            .http
            .send(
                Method::POST,
                "auth/token/renew-self",
                Some(&t.value),
                self.namespace(),
                Some(b"{}".to_vec()),
                Duration::from_secs(15),
            )
            .await;
        match r {
            Ok(r) if r.status == 200 => {
                auth.token = Some(token_from(&r, sent, "auth/token/renew-self")?);
                Ok(())
            }
            // Not renewable any more, revoked, or Vault had a hiccup: log in afresh.
            _ => self.login(auth).await,
        }
    }

    /// A usable token: logs in or renews as needed.
    async fn token(&self, fresh: bool) -> Result<Zeroizing<String>> {
        let mut auth = self.auth.lock().await;
        let now = Instant::now();
        let state = auth.token.as_ref().map(|t| {
            (
                t.expires_at.is_some_and(|e| now >= e),
                t.renew_at.is_some_and(|r| now >= r),
            )
        });
        match state {
            None => self.login(&mut auth).await?,
            Some(_) if fresh => self.login(&mut auth).await?,
            Some((true, _)) => self.login(&mut auth).await?,
            Some((false, true)) => self.renew(&mut auth).await?,
            Some((false, false)) => {}
        }
        auth.token
            .as_ref()
            .map(|t| t.value.clone())
            .ok_or_else(|| Error::Backend("vault login returned no token".into()))
    }

    /// Sends a KV request with the token; on 403 logs in again and retries once.
    async fn kv(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<Response> {
        let token = self.token(false).await?;
        let r = self
            .http
            .send(
                method.clone(),
                path,
                Some(&token),
                self.namespace(),
                body.clone(),
                Duration::from_secs(15),
            )
            .await?;
        if r.status != 403 {
            return Ok(r);
        }
        let token = self.token(true).await?;
        self.http
            .send(
                method,
                path,
                Some(&token),
                self.namespace(),
                body,
                Duration::from_secs(15),
            )
            .await
    }

    /// Reads `name`; `Ok(None)` when absent.
    async fn read(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let mut path = self.data_path(name);
        if self.cfg.version == KvVersion::V2 {
            // Keys are written once (check-and-set 0), so version 1 is the key.
            path.push_str("?version=1");
        }
        let r = self.kv(Method::GET, &path, None).await?;
        let path = self.data_path(name);
        match r.status {
            200 => {}
            404 => return Ok(None),
            _ => return Err(self.failure(Op::Read, &path, &r)),
        }
        let mut v = r.json();
        let data = match self.cfg.version {
            KvVersion::V1 => &mut v["data"],
            KvVersion::V2 => &mut v["data"]["data"],
        };
        if data.is_null() {
            // KV v2 answers 200 with null data for a deleted version.
            return Ok(None);
        }
        match data.get_mut(name) {
            Some(serde_json::Value::String(s)) => {
                let s = Zeroizing::new(std::mem::take(s));
                if s.len() > MAX_VALUE_SIZE {
                    return Err(Error::Backend(format!("vault {path}: stored value too large")));
                }
                Ok(Some(Zeroizing::new(s.as_bytes().to_vec())))
            }
            _ => Err(Error::Backend(format!(
                "vault {path}: the secret has no string field {name:?} (not written by a key server?)"
            ))),
        }
    }
}

fn token_from(r: &Response, sent: Instant, path: &str) -> Result<Token> {
    let mut v = r.json();
    let auth = &mut v["auth"];
    let lease = auth["lease_duration"].as_u64().unwrap_or(0);
    let value = match auth.get_mut("client_token") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Zeroizing::new(std::mem::take(s)),
        _ => {
            return Err(Error::Backend(format!(
                "vault {path}: answer has no client token"
            )))
        }
    };
    let (renew_at, expires_at) = if lease == 0 {
        (None, None)
    } else {
        let lease = Duration::from_secs(lease);
        (Some(sent + lease.mul_f64(0.8)), Some(sent + lease))
    };
    Ok(Token {
        value,
        renew_at,
        expires_at,
    })
}

#[async_trait::async_trait]
impl KeyStore for VaultKeyStore {
    async fn create(&self, name: &str, value: &[u8]) -> Result<()> {
        check_name(name)?;
        let text = std::str::from_utf8(value).map_err(|_| {
            Error::Backend("vault stores text values; this value is not UTF-8".into())
        })?;
        let path = self.data_path(name);
        match self.cfg.version {
            KvVersion::V1 => {
                let _serial = self.create_v1.lock().await;
                if self.read(name).await?.is_some() {
                    return Err(Error::AlreadyExists);
                }
                let body = Zeroizing::new(serde_json::json!({ name: text }).to_string());
                let r = self
                    .kv(Method::POST, &path, Some(body.as_bytes().to_vec()))
                    .await?;
                match r.status {
                    200 | 204 => Ok(()),
                    _ => Err(self.failure(Op::Create, &path, &r)),
                }
            }
            KvVersion::V2 => {
                let body = Zeroizing::new(
                    serde_json::json!({"options": {"cas": 0}, "data": { name: text }}).to_string(),
                );
                let r = self
                    .kv(Method::POST, &path, Some(body.as_bytes().to_vec()))
                    .await?;
                match r.status {
                    200 | 204 => Ok(()),
                    400 if r.errors().contains("check-and-set") => Err(Error::AlreadyExists),
                    // Writing over an existing secret is an "update", which a
                    // least-privilege policy (create/read) refuses: a 403 may mean "exists".
                    403 if self.read(name).await?.is_some() => Err(Error::AlreadyExists),
                    _ => Err(self.failure(Op::Create, &path, &r)),
                }
            }
        }
    }

    async fn get(&self, name: &str) -> Result<Zeroizing<Vec<u8>>> {
        check_name(name)?;
        self.read(name).await?.ok_or(Error::NotFound)
    }

    async fn delete(&self, name: &str) -> Result<()> {
        check_name(name)?;
        // Vault deletes idempotently; the key server needs "not found" for absent keys.
        if self.read(name).await?.is_none() {
            return Err(Error::NotFound);
        }
        let path = self.metadata_path(name);
        let r = self.kv(Method::DELETE, &path, None).await?;
        match r.status {
            200 | 204 => Ok(()),
            404 => Err(Error::NotFound),
            _ => Err(self.failure(Op::Delete, &path, &r)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut dir = self.metadata_path("");
        let shown = dir.clone();
        dir.push_str("?list=true");
        let r = self.kv(Method::GET, &dir, None).await?;
        match r.status {
            200 => {}
            404 => return Ok(Vec::new()),
            _ => return Err(self.failure(Op::List, &shown, &r)),
        }
        let v = r.json();
        let mut names: Vec<String> = v["data"]["keys"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|k| k.as_str())
                    .filter(|k| !k.ends_with('/') && k.starts_with(prefix))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        Ok(names)
    }

    async fn status(&self) -> Result<Status> {
        let start = Instant::now();
        let r = self
            .http
            .send(
                Method::GET,
                "sys/health?standbyok=true&perfstandbyok=true",
                None,
                self.namespace(),
                None,
                self.cfg.ping,
            )
            .await?;
        let latency = start.elapsed().max(Duration::from_nanos(1));
        let v = r.json();
        if v["sealed"].as_bool() == Some(true) || r.status == 503 {
            return Err(Error::Unreachable("vault: key store is sealed".into()));
        }
        if v["initialized"].as_bool() == Some(false) || r.status == 501 {
            return Err(Error::Unreachable("vault: not initialized".into()));
        }
        if r.status != 200 {
            return Err(Error::Unreachable(format!(
                "vault sys/health: HTTP {}",
                r.status
            )));
        }
        Ok(Status { latency })
    }
}
