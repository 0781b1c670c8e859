//! Key server configuration: parse a file (first-era TOML or current YAML) into the file
//! model, substitute `${ENV}` values, then validate into the runtime [`Config`].
//!
//! Precedence is flag > file > default: the command line may override `address` (the only
//! setting with a flag); everything else comes from the file or the defaults written here.

pub mod duration;
pub mod file;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use file::{FileConfig, LogValue, StringOrBool};

use crate::policy::Policy;

/// Default listen address of the current KES era.
pub const DEFAULT_ADDRESS: &str = "0.0.0.0:7373";

/// A configuration problem: one line naming the field and the reason.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// The validated runtime configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address (`host:port`).
    pub address: String,
    /// The admin identity; `None` when no admin is configured. `disabled` (or any value
    /// that is not an identity) never matches a client.
    pub admin: Option<String>,
    /// TLS settings.
    pub tls: TlsConfig,
    /// Per-route overrides keyed by route path.
    pub api: BTreeMap<String, ApiOverride>,
    /// Policies by name.
    pub policies: BTreeMap<String, Policy>,
    /// Policy name of each identity.
    pub identities: BTreeMap<String, String>,
    /// Key cache expiry.
    pub cache: CacheConfig,
    /// Logging.
    pub log: LogConfig,
    /// Keys created at start-up if absent.
    pub keys: Vec<String>,
    /// The keystore.
    pub keystore: KeystoreConfig,
}

/// TLS settings of the key server.
#[derive(Debug, Clone, Default)]
pub struct TlsConfig {
    /// Private key PEM file.
    pub key: PathBuf,
    /// Certificate chain PEM file.
    pub cert: PathBuf,
    /// When set, client certificates must chain to these CAs (`tls.auth: on`).
    pub client_ca: Option<PathBuf>,
}

/// `api.<path>` overrides.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiOverride {
    /// Serve without client authentication.
    pub skip_auth: bool,
    /// Request deadline.
    pub timeout: Option<Duration>,
}

/// Key cache expiry; zero disables a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Evict all keys this often.
    pub any: Duration,
    /// Evict keys unused for this long.
    pub unused: Duration,
    /// While the keystore is unreachable, keep serving cached keys this long.
    pub offline: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            any: Duration::from_secs(300),
            unused: Duration::from_secs(30),
            offline: Duration::ZERO,
        }
    }
}

/// Where log events go besides the `/v1/log/*` streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    /// Print error events to stderr.
    pub error: bool,
    /// Print audit events to stdout.
    pub audit: bool,
}

/// The configured keystore.
#[derive(Debug, Clone)]
pub enum KeystoreConfig {
    /// In memory (first-era default, `--dev`).
    Memory,
    /// One file per key in a directory.
    Fs {
        /// Key directory.
        path: PathBuf,
    },
    /// Hashicorp Vault / OpenBao K/V (endpoint, engine, version, namespace, prefix,
    /// AppRole or Kubernetes login, transit wrapping, TLS, health poll). Its `Debug`
    /// redacts the AppRole secrets and a literal Kubernetes token.
    Vault(Box<keystore::VaultConfig>),
    /// AWS SecretsManager (endpoint, region, KMS key, static or environment
    /// credentials). Its `Debug` redacts the credentials.
    Aws(Box<keystore::AwsConfig>),
}

/// Which syntax a file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// First-era `kes-config.toml`.
    Toml,
    /// Current-era YAML.
    Yaml,
}

impl Format {
    /// By file extension: `.toml` is TOML, everything else YAML.
    pub fn of(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("toml") => Format::Toml,
            _ => Format::Yaml,
        }
    }
}

/// Reads and validates a configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
    parse(&text, Format::of(path), &|k| std::env::var(k).ok())
        .map_err(|e| ConfigError(format!("config file {}: {}", path.display(), e.0)))
}

/// Parses and validates configuration text; `env` looks up `${VAR}` substitutions.
pub fn parse(
    text: &str,
    format: Format,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let model: FileConfig = match format {
        Format::Toml => {
            let mut value: toml::Value =
                toml::from_str(text).map_err(|e| ConfigError(one_line(&e.to_string())))?;
            substitute_toml(&mut value, env, "")?;
            serde_path_to_error::deserialize(value).map_err(|e| {
                ConfigError(format!(
                    "{}: {}",
                    e.path(),
                    one_line(&e.inner().to_string())
                ))
            })?
        }
        Format::Yaml => {
            let mut value: serde_yaml_ng::Value =
                serde_yaml_ng::from_str(text).map_err(|e| ConfigError(one_line(&e.to_string())))?;
            if value.is_null() {
                value = serde_yaml_ng::Value::Mapping(Default::default());
            }
            substitute_yaml(&mut value, env, "")?;
            serde_path_to_error::deserialize(value).map_err(|e| {
                ConfigError(format!(
                    "{}: {}",
                    e.path(),
                    one_line(&e.inner().to_string())
                ))
            })?
        }
    };
    validate(model, format)
}

fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `${NAME}` as a whole scalar value → the variable's value.
fn env_name(s: &str) -> Option<&str> {
    s.strip_prefix("${")?
        .strip_suffix('}')
        .filter(|n| !n.is_empty())
}

fn substitute_yaml(
    v: &mut serde_yaml_ng::Value,
    env: &dyn Fn(&str) -> Option<String>,
    at: &str,
) -> Result<(), ConfigError> {
    use serde_yaml_ng::Value;
    match v {
        Value::String(s) => {
            if let Some(name) = env_name(s) {
                *s = env(name).ok_or_else(|| {
                    ConfigError(format!("{at}: environment variable {name} is not set"))
                })?;
            }
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                substitute_yaml(item, env, &format!("{at}[{i}]"))?;
            }
        }
        Value::Mapping(map) => {
            for (k, item) in map.iter_mut() {
                let key = k.as_str().unwrap_or("?");
                let path = if at.is_empty() {
                    key.to_string()
                } else {
                    format!("{at}.{key}")
                };
                substitute_yaml(item, env, &path)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn substitute_toml(
    v: &mut toml::Value,
    env: &dyn Fn(&str) -> Option<String>,
    at: &str,
) -> Result<(), ConfigError> {
    match v {
        toml::Value::String(s) => {
            if let Some(name) = env_name(s) {
                *s = env(name).ok_or_else(|| {
                    ConfigError(format!("{at}: environment variable {name} is not set"))
                })?;
            }
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                substitute_toml(item, env, &format!("{at}[{i}]"))?;
            }
        }
        toml::Value::Table(t) => {
            for (key, item) in t.iter_mut() {
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                substitute_toml(item, env, &path)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn duration(field: &str, v: Option<&String>, default: Duration) -> Result<Duration, ConfigError> {
    match v.map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => duration::parse(s).map_err(|e| ConfigError(format!("{field}: {e}"))),
    }
}

/// A configured identity: 64 hex characters (compared in lowercase).
fn identity(field: &str, raw: &str) -> Result<String, ConfigError> {
    let id = raw.trim();
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return err(format!(
            "{field}: {id:?} is not an identity (64 hex characters; `coffer kes identity of CERT` prints one)"
        ));
    }
    Ok(id.to_ascii_lowercase())
}

fn switch(field: &str, v: &Option<LogValue>, default: bool) -> Result<bool, ConfigError> {
    let text = match v {
        None => return Ok(default),
        Some(LogValue::Files { file }) => return Ok(!file.is_empty() || default),
        Some(LogValue::Switch(StringOrBool::Bool(b))) => return Ok(*b),
        Some(LogValue::Switch(StringOrBool::Text(t))) => t.trim().to_ascii_lowercase(),
    };
    match text.as_str() {
        "" | "on" | "true" | "debug" | "info" | "warn" | "warning" | "error" => Ok(true),
        "off" | "false" => Ok(false),
        other => err(format!(
            "{field}: {other:?} is not one of on, off, DEBUG, INFO, WARN, ERROR"
        )),
    }
}

fn validate(f: FileConfig, format: Format) -> Result<Config, ConfigError> {
    if let Some(v) = f.version.as_deref().filter(|v| !v.is_empty()) {
        if v != "v1" {
            return err(format!("version: {v:?} is not supported (only v1)"));
        }
    }
    if f.kms.is_some() {
        return err("kms: wrapping stored keys with an external KMS (first-era [kms.*]) is not supported; store keys in [keystore.*] instead");
    }

    let address = f
        .address
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ADDRESS.to_string());

    // Admin: `root` (first era) or `admin.identity`; only an identity can ever match.
    let admin_raw = match (&f.root, f.admin.as_ref().and_then(|a| a.identity.clone())) {
        (Some(_), Some(_)) => {
            return err("root and admin.identity are both set; keep admin.identity")
        }
        (Some(r), None) => Some(("root", r.clone())),
        (None, Some(a)) => Some(("admin.identity", a)),
        (None, None) => None,
    };
    let admin = match admin_raw {
        Some((_, a)) if a.trim().is_empty() => None,
        Some((_, a)) if a.trim() == "disabled" => Some("disabled".to_string()),
        Some((field, a)) => Some(identity(field, &a)?),
        None => None,
    };
    if admin.is_none() && format == Format::Yaml {
        return err("admin.identity: missing (set an identity, or `disabled`)");
    }

    let tls_section = f.tls.unwrap_or_default();
    if tls_section
        .password
        .as_deref()
        .is_some_and(|p| !p.is_empty())
    {
        return err("tls.password: encrypted private keys are not supported; decrypt the key file (openssl pkey -in KEY -out KEY.plain)");
    }
    let verify = match &tls_section.auth {
        None => false,
        Some(StringOrBool::Bool(b)) => *b,
        Some(StringOrBool::Text(t)) => match t.trim().to_ascii_lowercase().as_str() {
            "" | "off" | "false" => false,
            "on" | "true" => true,
            other => return err(format!("tls.auth: {other:?} is not on or off")),
        },
    };
    let client_ca = tls_section
        .ca
        .filter(|c| !c.trim().is_empty())
        .map(PathBuf::from);
    if verify && client_ca.is_none() {
        return err("tls.ca: required when tls.auth is on");
    }
    let tls = TlsConfig {
        key: tls_section.key.map(PathBuf::from).unwrap_or_default(),
        cert: tls_section.cert.map(PathBuf::from).unwrap_or_default(),
        client_ca: if verify { client_ca } else { None },
    };

    let mut api = BTreeMap::new();
    for (path, section) in f.api.unwrap_or_default() {
        if !crate::routes::is_route_path(&path) {
            return err(format!("api.{path}: not a route of the key server"));
        }
        let timeout = match section.timeout.as_ref() {
            Some(t) => Some(duration(
                &format!("api.{path}.timeout"),
                Some(t),
                Duration::ZERO,
            )?),
            None => None,
        };
        api.insert(
            path,
            ApiOverride {
                skip_auth: section.skip_auth.unwrap_or(false),
                timeout,
            },
        );
    }

    let mut policies = BTreeMap::new();
    let mut identities = BTreeMap::new();
    for (name, p) in f.policy.unwrap_or_default() {
        if !kes_proto::name::is_valid_name(&name) {
            return err(format!("policy.{name}: invalid policy name"));
        }
        let mut allow = p.allow.unwrap_or_default();
        allow.extend(p.paths.unwrap_or_default());
        let deny = p.deny.unwrap_or_default();
        for (i, id) in p.identities.unwrap_or_default().iter().enumerate() {
            if id.trim().is_empty() {
                continue; // templates leave unused slots empty
            }
            let id = identity(&format!("policy.{name}.identities[{i}]"), id)?;
            if admin.as_deref() == Some(id.as_str()) {
                return err(format!(
                    "policy.{name}.identities[{i}]: {id} is the admin identity and cannot have a policy"
                ));
            }
            if let Some(other) = identities.insert(id.clone(), name.clone()) {
                return err(format!(
                    "policy.{name}.identities[{i}]: {id} is already assigned to policy {other}"
                ));
            }
        }
        policies.insert(name, Policy::new(allow, deny));
    }

    let expiry = f.cache.and_then(|c| c.expiry).unwrap_or_default();
    let any_field = if expiry.all.is_some() {
        "cache.expiry.all"
    } else {
        "cache.expiry.any"
    };
    let cache = CacheConfig {
        any: duration(
            any_field,
            expiry.any.as_ref().or(expiry.all.as_ref()),
            CacheConfig::default().any,
        )?,
        unused: duration(
            "cache.expiry.unused",
            expiry.unused.as_ref(),
            CacheConfig::default().unused,
        )?,
        offline: duration(
            "cache.expiry.offline",
            expiry.offline.as_ref(),
            Duration::ZERO,
        )?,
    };

    let log_section = f.log.unwrap_or_default();
    let log = LogConfig {
        error: switch("log.error", &log_section.error, true)?,
        audit: switch("log.audit", &log_section.audit, format == Format::Yaml)?,
    };

    let mut keys = Vec::new();
    for (i, k) in f.keys.unwrap_or_default().into_iter().enumerate() {
        if !kes_proto::name::is_valid_name(&k.name) {
            return err(format!(
                "keys[{i}].name: {:?} is not a valid key name",
                k.name
            ));
        }
        keys.push(k.name);
    }

    let keystore = keystore(f.keystore, format)?;
    Ok(Config {
        address,
        admin,
        tls,
        api,
        policies,
        identities,
        cache,
        log,
        keys,
        keystore,
    })
}

fn keystore(
    section: Option<file::KeystoreSection>,
    format: Format,
) -> Result<KeystoreConfig, ConfigError> {
    let Some(ks) = section else {
        return match format {
            Format::Toml => Ok(KeystoreConfig::Memory),
            Format::Yaml => err("keystore: missing (configure exactly one of fs, vault, aws)"),
        };
    };
    let mut found = Vec::new();
    if ks.fs.is_some() {
        found.push("fs");
    }
    if ks.vault.is_some() {
        found.push("vault");
    }
    if ks.aws.is_some() {
        found.push("aws");
    }
    for (name, present) in [
        ("fortanix", ks.fortanix.is_some()),
        ("gemalto", ks.gemalto.is_some()),
        ("gcp", ks.gcp.is_some()),
        ("azure", ks.azure.is_some()),
        ("entrust", ks.entrust.is_some()),
    ] {
        if present {
            return err(format!(
                "keystore.{name}: this keystore is not supported by coffer (use fs, vault or aws)"
            ));
        }
    }
    if found.len() > 1 {
        return err(format!(
            "keystore: more than one keystore configured ({}); keep one",
            found.join(", ")
        ));
    }
    if let Some(fs) = ks.fs {
        let path = fs.path.filter(|p| !p.trim().is_empty());
        let Some(path) = path else {
            return err("keystore.fs.path: missing");
        };
        return Ok(KeystoreConfig::Fs {
            path: PathBuf::from(path),
        });
    }
    if let Some(v) = ks.vault {
        return Ok(KeystoreConfig::Vault(Box::new(vault(v)?)));
    }
    if let Some(a) = ks.aws {
        let (sm, section) = match (a.secretsmanager, a.secrets_manager) {
            (Some(s), None) => (s, "keystore.aws.secretsmanager"),
            (None, Some(s)) => (s, "keystore.aws.secrets_manager"),
            (Some(_), Some(_)) => {
                return err("keystore.aws: secretsmanager and secrets_manager are both set")
            }
            (None, None) => return err("keystore.aws.secretsmanager: missing"),
        };
        return Ok(KeystoreConfig::Aws(Box::new(aws(sm, section)?)));
    }
    match format {
        Format::Toml => Ok(KeystoreConfig::Memory),
        Format::Yaml => err("keystore: empty (configure exactly one of fs, vault, aws)"),
    }
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// `keystore.aws.secretsmanager` (current era) or `keystore.aws.secrets_manager` (first
/// era) into the keystore's runtime settings. First-era `address`, `kms_key_id`,
/// `access_key`, `secret_key` and `session_token` are the current `endpoint`, `kmskey`,
/// `accesskey`, `secretkey` and `token`. No credentials = the AWS environment variables.
fn aws(
    sm: file::AwsSecretsManagerSection,
    section: &str,
) -> Result<keystore::AwsConfig, ConfigError> {
    let s = section;
    let one = |a: Option<String>, b: Option<String>, cur: &str, old: &str| match (
        nonempty(a),
        nonempty(b),
    ) {
        (Some(_), Some(_)) => err(format!("{s}: {cur} and {old} are both set; keep {cur}")),
        (a, b) => Ok(a.or(b)),
    };
    let Some(endpoint) = one(sm.endpoint, sm.address, "endpoint", "address")? else {
        return err(format!("{s}.endpoint: missing"));
    };
    if !endpoint.starts_with("https://") && !endpoint.starts_with("http://") {
        return err(format!(
            "{s}.endpoint: {endpoint:?} must start with https:// (or http:// for a local test server)"
        ));
    }
    let Some(region) = nonempty(sm.region) else {
        return err(format!("{s}.region: missing (for example us-east-1)"));
    };
    let kms_key_id = one(sm.kmskey, sm.kms_key_id, "kmskey", "kms_key_id")?;
    let c = sm.credentials.unwrap_or_default();
    let access = one(c.accesskey, c.access_key, "accesskey", "access_key")?;
    let secret = one(
        c.secretkey.map(file::Secret::into_string),
        c.secret_key.map(file::Secret::into_string),
        "secretkey",
        "secret_key",
    )?;
    let token = one(
        c.token.map(file::Secret::into_string),
        c.session_token.map(file::Secret::into_string),
        "token",
        "session_token",
    )?;
    let credentials = match (access, secret) {
        (Some(access_key), Some(secret_key)) => Some(keystore::aws::Credentials {
            access_key,
            secret_key: secret_key.into(),
            session_token: token.map(Into::into),
        }),
        (None, None) if token.is_none() => None,
        (None, None) => {
            return err(format!(
                "{s}.credentials.token: set without accesskey and secretkey"
            ))
        }
        (Some(_), None) => return err(format!("{s}.credentials.secretkey: missing")),
        (None, Some(_)) => return err(format!("{s}.credentials.accesskey: missing")),
    };
    Ok(keystore::AwsConfig {
        endpoint,
        region,
        kms_key_id,
        credentials,
    })
}

/// How often the Vault keystore polls `sys/health` when `status.ping` is unset or 0.
pub const DEFAULT_PING: Duration = Duration::from_secs(15);

/// `keystore.vault` of either era into the keystore's runtime settings. First-era
/// `address` and `name` are the current `endpoint` and `prefix`. Exactly one of
/// `approle` and `kubernetes`; a `kubernetes.jwt` containing `/` is a file, re-read at
/// every login (Kubernetes rotates it), so here it only has to exist.
fn vault(v: file::VaultSection) -> Result<keystore::VaultConfig, ConfigError> {
    use keystore::vault::{AppRole, Jwt, Kubernetes, KvVersion, Login, Transit, VaultTls};
    let endpoint = match (nonempty(v.endpoint), nonempty(v.address)) {
        (Some(_), Some(_)) => {
            return err("keystore.vault: endpoint and address are both set; keep endpoint")
        }
        (Some(e), None) | (None, Some(e)) => e,
        (None, None) => return err("keystore.vault.endpoint: missing"),
    };
    if !endpoint.starts_with("https://") && !endpoint.starts_with("http://") {
        return err(format!(
            "keystore.vault.endpoint: {endpoint:?} must start with https:// (or http:// for a local test server)"
        ));
    }
    let prefix = match (nonempty(v.prefix), nonempty(v.name)) {
        (Some(_), Some(_)) => {
            return err("keystore.vault: prefix and name are both set; keep prefix")
        }
        (Some(p), None) | (None, Some(p)) => p,
        (None, None) => String::new(),
    };
    let version = match nonempty(v.version).as_deref() {
        None | Some("v1") | Some("1") => KvVersion::V1,
        Some("v2") | Some("2") => KvVersion::V2,
        Some(other) => return err(format!("keystore.vault.version: {other:?} is not v1 or v2")),
    };
    let transit = match v.transit {
        None => None,
        Some(t) => {
            let Some(key) = nonempty(t.key) else {
                return err(
                    "keystore.vault.transit.key: missing (the transit key that wraps stored keys)",
                );
            };
            Some(Transit {
                engine: nonempty(t.engine).unwrap_or_else(|| "transit".into()),
                key,
            })
        }
    };
    let login = match (v.approle, v.kubernetes) {
        (Some(_), Some(_)) => {
            return err("keystore.vault: approle and kubernetes are both set; keep one")
        }
        (None, None) => return err(
            "keystore.vault.approle: missing (coffer logs in to Vault with approle or kubernetes)",
        ),
        (Some(a), None) => {
            let Some(role_id) = nonempty(a.id) else {
                return err("keystore.vault.approle.id: missing (the AppRole role ID)");
            };
            let Some(secret_id) = nonempty(a.secret.map(file::Secret::into_string)) else {
                return err("keystore.vault.approle.secret: missing (the AppRole secret ID)");
            };
            Login::AppRole(AppRole {
                engine: nonempty(a.engine).unwrap_or_else(|| "approle".into()),
                namespace: nonempty(a.namespace),
                role_id: role_id.into(),
                secret_id: secret_id.into(),
                retry: duration(
                    "keystore.vault.approle.retry",
                    a.retry.as_ref(),
                    Duration::from_secs(15),
                )?,
            })
        }
        (None, Some(k)) => {
            let Some(role) = nonempty(k.role) else {
                return err("keystore.vault.kubernetes.role: missing (the Vault role bound to the service account)");
            };
            let Some(jwt) = nonempty(k.jwt) else {
                return err("keystore.vault.kubernetes.jwt: missing (the service account token, or the file holding it)");
            };
            let jwt = Jwt::parse(&jwt);
            if let Jwt::File(path) = &jwt {
                if let Err(e) = std::fs::metadata(path) {
                    return err(format!(
                        "keystore.vault.kubernetes.jwt: cannot read {}: {e}",
                        path.display()
                    ));
                }
            }
            Login::Kubernetes(Kubernetes {
                engine: nonempty(k.engine).unwrap_or_else(|| "kubernetes".into()),
                namespace: nonempty(k.namespace),
                role,
                jwt,
                retry: duration(
                    "keystore.vault.kubernetes.retry",
                    k.retry.as_ref(),
                    Duration::from_secs(15),
                )?,
            })
        }
    };
    let ping = duration(
        "keystore.vault.status.ping",
        v.status.as_ref().and_then(|s| s.ping.as_ref()),
        DEFAULT_PING,
    )?;
    let tls = v.tls.unwrap_or_default();
    let tls = VaultTls {
        ca: nonempty(tls.ca).map(PathBuf::from),
        cert: nonempty(tls.cert).map(PathBuf::from),
        key: nonempty(tls.key).map(PathBuf::from),
    };
    if tls.cert.is_some() != tls.key.is_some() {
        return err("keystore.vault.tls: key and cert must be set together");
    }
    if endpoint.starts_with("https://") && tls.ca.is_none() {
        return err("keystore.vault.tls.ca: missing (an https endpoint needs the CA file or directory that signed Vault's certificate)");
    }
    Ok(keystore::VaultConfig {
        endpoint,
        engine: nonempty(v.engine).unwrap_or_else(|| "kv".into()),
        version,
        namespace: nonempty(v.namespace),
        prefix,
        login,
        transit,
        tls,
        ping: if ping.is_zero() { DEFAULT_PING } else { ping },
    })
}
