//! A Hashicorp Vault / OpenBao keystore: keys in a K/V secrets engine (version 1 or 2),
//! reached over the Vault HTTP API with an AppRole or Kubernetes login, optionally
//! wrapped by a transit key (spec `kes-api.md` §5.2).
//!
//! Layout, compatible with KES:
//!
//! ```text
//! KV v1  <engine>/<prefix>/<name>             {"<name>": "<stored value>"}
//! KV v2  <engine>/data/<prefix>/<name>        {"options":{"cas":0},"data":{"<name>": "<stored value>"}}
//!        <engine>/metadata/<prefix>/<name>    delete, and list with ?list=true
//! ```
//!
//! With `transit`, the stored value is the `vault:v1:…` ciphertext that
//! `<transit>/encrypt/<key>` returns for the base64 of the value (see [`transit`]).
//!
//! Creation is create-if-absent: KV v2 writes with check-and-set 0, so exactly one of
//! several concurrent writers wins even across key servers. KV v1 has no such primitive:
//! creation is read-then-write, serialized inside this process only (as in KES).
//!
//! The login token is renewed (`auth/token/renew-self`) once 80 % of its lease has
//! passed, on the next request; if renewal fails, or Vault answers 403 (a revoked or
//! expired token), the store logs in again and retries the request once. A second 403 is
//! a policy problem and the error names the path the policy must allow (see [`auth`]).
//!
//! A background task polls `sys/health` every `ping` and keeps a sealed flag: while Vault
//! is sealed, requests fail at once with `vault: key store is sealed` (see [`health`]).
//!
//! Nothing is cached: every call asks Vault, and a transport failure, a timeout or a
//! sealed Vault is [`Error::Unreachable`], never [`Error::NotFound`]. Tokens, secret IDs,
//! service-account tokens and key values never appear in errors or `Debug` output.

mod auth;
mod client;
mod health;
mod transit;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hyper::Method;
use tokio::sync::Mutex;
use zeroize::Zeroizing;

use crate::{Error, KeyStore, Result, Status, MAX_VALUE_SIZE};
use auth::Auth;
use client::{Response, Transport};
use health::Conn;
pub use health::SEALED;

/// Deadline of one KV, transit or login request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

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

/// A Kubernetes service-account token: literal, or a file re-read at every login
/// (Kubernetes rotates projected tokens).
#[derive(Clone)]
pub enum Jwt {
    /// The token itself.
    Token(Zeroizing<String>),
    /// A file holding the token.
    File(PathBuf),
}

impl Jwt {
    /// As KES reads `kubernetes.jwt`: a value containing `/` is a file path.
    pub fn parse(value: &str) -> Self {
        if value.contains('/') {
            Jwt::File(PathBuf::from(value))
        } else {
            Jwt::Token(Zeroizing::new(value.to_string()))
        }
    }
}

impl std::fmt::Debug for Jwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Jwt::Token(_) => f.write_str("Token(<redacted>)"),
            Jwt::File(p) => f.debug_tuple("File").field(p).finish(),
        }
    }
}

/// Kubernetes auth: the service-account token is sent with a role to
/// `auth/<engine>/login`; Vault checks it with the Kubernetes TokenReview API.
#[derive(Debug, Clone)]
pub struct Kubernetes {
    /// Auth mount (default `kubernetes`).
    pub engine: String,
    /// Namespace of the auth mount; `None` = the store's namespace, `Some("/")` = root.
    pub namespace: Option<String>,
    /// Vault role bound to the service account.
    pub role: String,
    /// The service-account token.
    pub jwt: Jwt,
    /// As [`AppRole::retry`].
    pub retry: Duration,
}

/// How the store logs in to Vault.
#[derive(Debug, Clone)]
pub enum Login {
    /// AppRole role ID and secret ID.
    AppRole(AppRole),
    /// Kubernetes service-account token.
    Kubernetes(Kubernetes),
}

/// Transit wrapping of stored values.
#[derive(Debug, Clone)]
pub struct Transit {
    /// Transit mount (default `transit`).
    pub engine: String,
    /// Transit key name.
    pub key: String,
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
    pub login: Login,
    /// Transit wrapping of stored values, if any.
    pub transit: Option<Transit>,
    /// TLS.
    pub tls: VaultTls,
    /// Interval of the `sys/health` poll that keeps the sealed flag (also bounds the
    /// probe's deadline, between 1 and 10 s).
    pub ping: Duration,
}

/// Keys in a Vault / OpenBao K/V engine.
pub struct VaultKeyStore {
    cfg: VaultConfig,
    conn: Arc<Conn>,
    auth: Mutex<Auth>,
    /// Serializes KV v1 read-then-write creation within this process.
    create_v1: Mutex<()>,
    /// The `sys/health` poller, started on first use inside a Tokio runtime.
    poller: OnceLock<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for VaultKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultKeyStore")
            .field("endpoint", &self.cfg.endpoint)
            .field("engine", &self.cfg.engine)
            .field("version", &self.cfg.version)
            .field("prefix", &self.cfg.prefix)
            .field("transit", &self.cfg.transit)
            .finish_non_exhaustive()
    }
}

impl Drop for VaultKeyStore {
    fn drop(&mut self) {
        if let Some(p) = self.poller.get() {
            p.abort();
        }
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

/// A mount or key name from the configuration, as a path: no empty segments, no `..`.
fn check_path(field: &str, value: &str) -> Result<String> {
    let v = value.trim_matches('/');
    let ok = !v.is_empty()
        && v.split('/').all(|s| check_name(s).is_ok())
        && v.bytes().all(|b| b != b'?' && b != b'#' && b != b'%');
    if ok {
        Ok(v.to_string())
    } else {
        Err(Error::Backend(format!(
            "vault {field} {value:?}: not a usable path"
        )))
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
        cfg.engine = check_path("engine", &cfg.engine)?;
        cfg.prefix = cfg.prefix.trim_matches('/').to_string();
        if let Some(t) = &mut cfg.transit {
            t.engine = check_path("transit engine", &t.engine)?;
            t.key = check_path("transit key", &t.key)?;
        }
        let http = Transport::new(&cfg.endpoint, &cfg.tls)?;
        let namespace = cfg.namespace.clone().filter(|n| !n.is_empty());
        let conn = Arc::new(Conn::new(http, namespace, cfg.ping));
        let store = Self {
            cfg,
            conn,
            auth: Mutex::new(Auth::default()),
            create_v1: Mutex::new(()),
            poller: OnceLock::new(),
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            store.start_poller();
        }
        Ok(store)
    }

    /// Starts the `sys/health` poller once; must run inside a Tokio runtime.
    fn start_poller(&self) {
        self.poller
            .get_or_init(|| health::spawn_poller(Arc::downgrade(&self.conn), self.cfg.ping));
    }

    fn namespace(&self) -> Option<&str> {
        self.conn.namespace.as_deref()
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
            _ => unexpected(
                match op {
                    Op::Create => "create",
                    Op::Read => "read",
                    Op::Delete => "delete",
                    Op::List => "list",
                },
                path,
                r,
            ),
        }
    }

    /// Sends a request with the token, failing fast while Vault is sealed; on 403 logs
    /// in again and retries once.
    async fn call(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<Response> {
        self.start_poller();
        self.conn.check_sealed()?;
        let token = self.token(false).await?;
        let r = self
            .conn
            .send(method.clone(), path, Some(&token), body.clone())
            .await?;
        if r.status != 403 {
            return Ok(r);
        }
        let token = self.token(true).await?;
        self.conn.send(method, path, Some(&token), body).await
    }

    /// The stored string of `name` as it is in Vault (transit ciphertext when transit
    /// is on); `Ok(None)` when absent.
    async fn read_stored(&self, name: &str) -> Result<Option<Zeroizing<String>>> {
        let mut path = self.data_path(name);
        if self.cfg.version == KvVersion::V2 {
            // Keys are written once (check-and-set 0), so version 1 is the key.
            path.push_str("?version=1");
        }
        let r = self.call(Method::GET, &path, None).await?;
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
            Some(serde_json::Value::String(s)) => Ok(Some(Zeroizing::new(std::mem::take(s)))),
            _ => Err(Error::Backend(format!(
                "vault {path}: the secret has no string field {name:?} (not written by a key server?)"
            ))),
        }
    }

    /// The value of `name` (unwrapped by transit when configured); `Ok(None)` when absent.
    async fn read(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let Some(stored) = self.read_stored(name).await? else {
            return Ok(None);
        };
        let path = self.data_path(name);
        let value = match &self.cfg.transit {
            Some(t) => self.unwrap_value(t, &path, &stored).await?,
            None => Zeroizing::new(stored.as_bytes().to_vec()),
        };
        if value.len() > MAX_VALUE_SIZE {
            return Err(Error::Backend(format!(
                "vault {path}: stored value too large"
            )));
        }
        Ok(Some(value))
    }
}

/// A non-success answer that is neither 403 nor handled by the caller.
fn unexpected(what: &str, path: &str, r: &Response) -> Error {
    match r.status {
        503 if r.errors().contains("sealed") => Error::Unreachable(health::SEALED.into()),
        502..=504 => Error::Unreachable(format!("vault {path}: {}", r.errors())),
        _ => Error::Backend(format!(
            "vault {what} {path}: HTTP {}: {}",
            r.status,
            r.errors()
        )),
    }
}

#[async_trait::async_trait]
impl KeyStore for VaultKeyStore {
    async fn create(&self, name: &str, value: &[u8]) -> Result<()> {
        check_name(name)?;
        let text = std::str::from_utf8(value).map_err(|_| {
            Error::Backend("vault stores text values; this value is not UTF-8".into())
        })?;
        let path = self.data_path(name);
        let _serial = match self.cfg.version {
            KvVersion::V1 => {
                let serial = self.create_v1.lock().await;
                if self.read_stored(name).await?.is_some() {
                    return Err(Error::AlreadyExists);
                }
                Some(serial)
            }
            KvVersion::V2 => None,
        };
        let stored = match &self.cfg.transit {
            Some(t) => self.wrap_value(t, text).await?,
            None => Zeroizing::new(text.to_string()),
        };
        let body = Zeroizing::new(match self.cfg.version {
            KvVersion::V1 => serde_json::json!({ name: stored.as_str() }).to_string(),
            KvVersion::V2 => {
                serde_json::json!({"options": {"cas": 0}, "data": { name: stored.as_str() }})
                    .to_string()
            }
        });
        let r = self
            .call(Method::POST, &path, Some(body.as_bytes().to_vec()))
            .await?;
        match (self.cfg.version, r.status) {
            (_, 200 | 204) => Ok(()),
            (KvVersion::V2, 400) if r.errors().contains("check-and-set") => {
                Err(Error::AlreadyExists)
            }
            // Writing over an existing secret is an "update", which a least-privilege
            // policy (create/read) refuses: a 403 may mean "exists".
            (KvVersion::V2, 403) if self.read_stored(name).await?.is_some() => {
                Err(Error::AlreadyExists)
            }
            _ => Err(self.failure(Op::Create, &path, &r)),
        }
    }

    async fn get(&self, name: &str) -> Result<Zeroizing<Vec<u8>>> {
        check_name(name)?;
        self.read(name).await?.ok_or(Error::NotFound)
    }

    async fn delete(&self, name: &str) -> Result<()> {
        check_name(name)?;
        // Vault deletes idempotently; the key server needs "not found" for absent keys.
        if self.read_stored(name).await?.is_none() {
            return Err(Error::NotFound);
        }
        let path = self.metadata_path(name);
        let r = self.call(Method::DELETE, &path, None).await?;
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
        let r = self.call(Method::GET, &dir, None).await?;
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
        self.start_poller();
        self.conn.probe().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_with_a_slash_is_a_file_and_literals_are_redacted() {
        assert!(matches!(Jwt::parse("/var/run/secrets/token"), Jwt::File(_)));
        assert!(matches!(Jwt::parse("./token"), Jwt::File(_)));
        let literal = Jwt::parse("eyJhbGciOi.eyJzdWIi.c2ln");
        assert!(matches!(literal, Jwt::Token(_)));
        assert!(!format!("{literal:?}").contains("eyJ"));
    }

    #[test]
    fn configured_paths_are_checked() {
        assert_eq!(check_path("engine", "/kv/").expect("ok"), "kv");
        assert_eq!(check_path("engine", "team/kv").expect("ok"), "team/kv");
        for bad in ["", "/", "a//b", "../x", "a?b", "a%2f"] {
            assert!(check_path("engine", bad).is_err(), "{bad:?}");
        }
    }
}
