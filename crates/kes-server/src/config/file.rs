//! The configuration file model: what a `kes-config.toml` (first KES era) or a current
//! KES YAML file may contain, field for field. Nothing here is checked beyond types;
//! [`super::validate`] turns it into a runtime [`super::Config`].
//!
//! Both eras share one model: their field names rarely collide, and where they mean the
//! same thing (`root` / `admin.identity`, `paths` / `allow`, `all` / `any`) validation
//! maps one onto the other.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A secret from the file (password, AppRole secret, AWS keys): wiped on drop and never
/// printed by `Debug`.
#[derive(Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The text, for the runtime configuration (which keeps it no longer than needed).
    pub fn into_string(mut self) -> String {
        std::mem::take(&mut self.0)
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::ops::Deref for Secret {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `v1` or absent.
    pub version: Option<String>,
    /// `host:port` to listen on.
    pub address: Option<String>,
    /// First era: the root identity.
    pub root: Option<String>,
    /// Current era: `admin.identity`.
    pub admin: Option<AdminSection>,
    /// Server certificate and client authentication.
    pub tls: Option<TlsSection>,
    /// Per-route overrides, keyed by route path.
    pub api: Option<BTreeMap<String, ApiSection>>,
    /// Policies by name.
    pub policy: Option<BTreeMap<String, PolicySection>>,
    /// Key cache.
    pub cache: Option<CacheSection>,
    /// Logging.
    pub log: Option<LogSection>,
    /// Keys to create at start-up.
    pub keys: Option<Vec<KeySection>>,
    /// The keystore.
    pub keystore: Option<KeystoreSection>,
    /// First era: wrapping of stored keys by an external KMS (not supported).
    pub kms: Option<toml_or_yaml_any::Any>,
}

/// `admin:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    /// The admin identity, or `disabled`.
    pub identity: Option<String>,
}

/// `tls:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// Private key file (PEM).
    pub key: Option<String>,
    /// Certificate file (PEM).
    pub cert: Option<String>,
    /// Password of an encrypted private key.
    pub password: Option<Secret>,
    /// `on` verifies client certificates against `ca`; `off` (default) accepts any.
    pub auth: Option<StringOrBool>,
    /// CA certificate file for `auth: on`.
    pub ca: Option<String>,
    /// TLS proxy (parsed for compatibility, not used, as in current KES).
    pub proxy: Option<ProxySection>,
}

/// `tls.proxy:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySection {
    /// Identities of trusted proxies.
    pub identities: Option<Vec<String>>,
    /// Header carrying the forwarded certificate.
    pub header: Option<ProxyHeaderSection>,
}

/// `tls.proxy.header:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyHeaderSection {
    /// Header name.
    pub cert: Option<String>,
}

/// `api.<path>:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// Serve this route without client authentication.
    pub skip_auth: Option<bool>,
    /// Per-request deadline.
    pub timeout: Option<String>,
}

/// `policy.<name>:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    /// Allowed path patterns.
    pub allow: Option<Vec<String>>,
    /// Denied path patterns (win over allow).
    pub deny: Option<Vec<String>>,
    /// First era: allowed path patterns.
    pub paths: Option<Vec<String>>,
    /// Identities this policy applies to.
    pub identities: Option<Vec<String>>,
}

/// `cache:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSection {
    /// `cache.expiry:`
    pub expiry: Option<ExpirySection>,
}

/// `cache.expiry:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpirySection {
    /// Evict every key after this long.
    pub any: Option<String>,
    /// First era name of `any`.
    pub all: Option<String>,
    /// Evict keys not used for this long.
    pub unused: Option<String>,
    /// While the keystore is offline, keep keys this long.
    pub offline: Option<String>,
}

/// `log:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// Error log: `on`, `off` or a level; first era: a table with `file`.
    pub error: Option<LogValue>,
    /// Audit log, same forms.
    pub audit: Option<LogValue>,
}

/// A log setting of either era.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum LogValue {
    /// `on`, `off`, `true`/`false` or a level name.
    Switch(StringOrBool),
    /// First era: `{ file = [...] }`.
    Files {
        /// Files to write the log to.
        file: Vec<String>,
    },
}

/// A YAML scalar that may be written as a string or a boolean (`on`/`off` in YAML 1.1).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StringOrBool {
    /// `true` / `false`.
    Bool(bool),
    /// Anything else.
    Text(String),
}

/// `keys[]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySection {
    /// Key name.
    pub name: String,
}

/// `keystore:` — exactly one backend.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeystoreSection {
    /// Filesystem.
    pub fs: Option<FsSection>,
    /// Hashicorp Vault / OpenBao.
    pub vault: Option<VaultSection>,
    /// AWS SecretsManager (+ KMS).
    pub aws: Option<AwsSection>,
    /// Keystores of KES that Coffer does not offer.
    pub fortanix: Option<toml_or_yaml_any::Any>,
    /// See `fortanix`.
    pub gemalto: Option<toml_or_yaml_any::Any>,
    /// See `fortanix`.
    pub gcp: Option<toml_or_yaml_any::Any>,
    /// See `fortanix`.
    pub azure: Option<toml_or_yaml_any::Any>,
    /// See `fortanix`.
    pub entrust: Option<toml_or_yaml_any::Any>,
}

/// `keystore.fs:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsSection {
    /// Key directory.
    pub path: Option<String>,
}

/// `keystore.vault:` of both eras.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultSection {
    /// Current era: Vault URL.
    pub endpoint: Option<String>,
    /// First era: Vault URL.
    pub address: Option<String>,
    /// K/V engine mount (default `kv`).
    pub engine: Option<String>,
    /// K/V version, `v1` (default) or `v2`.
    pub version: Option<String>,
    /// Vault namespace.
    pub namespace: Option<String>,
    /// Current era: path prefix inside the engine.
    pub prefix: Option<String>,
    /// First era: path prefix inside the engine.
    pub name: Option<String>,
    /// Transit wrapping of stored values.
    pub transit: Option<VaultTransitSection>,
    /// AppRole login.
    pub approle: Option<VaultAppRoleSection>,
    /// Kubernetes login.
    pub kubernetes: Option<VaultKubernetesSection>,
    /// TLS to Vault.
    pub tls: Option<VaultTlsSection>,
    /// Health polling.
    pub status: Option<VaultStatusSection>,
}

/// `keystore.vault.transit:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultTransitSection {
    /// Transit mount (default `transit`).
    pub engine: Option<String>,
    /// Transit key name.
    pub key: Option<String>,
}

/// `keystore.vault.approle:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultAppRoleSection {
    /// Namespace of the auth mount.
    pub namespace: Option<String>,
    /// Auth mount (default `approle`).
    pub engine: Option<String>,
    /// Role ID.
    pub id: Option<String>,
    /// Secret ID.
    pub secret: Option<Secret>,
    /// Re-login delay after a failure.
    pub retry: Option<String>,
}

/// `keystore.vault.kubernetes:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultKubernetesSection {
    /// Namespace of the auth mount.
    pub namespace: Option<String>,
    /// Auth mount (default `kubernetes`).
    pub engine: Option<String>,
    /// Role.
    pub role: Option<String>,
    /// Service-account JWT, or a file holding it.
    pub jwt: Option<String>,
    /// Re-login delay after a failure.
    pub retry: Option<String>,
}

/// `keystore.vault.tls:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultTlsSection {
    /// Client key.
    pub key: Option<String>,
    /// Client certificate.
    pub cert: Option<String>,
    /// CA file or directory.
    pub ca: Option<String>,
}

/// `keystore.vault.status:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultStatusSection {
    /// Health poll interval.
    pub ping: Option<String>,
}

/// `keystore.aws:`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSection {
    /// Current era.
    pub secretsmanager: Option<AwsSecretsManagerSection>,
    /// First era.
    pub secrets_manager: Option<AwsSecretsManagerSection>,
}

/// `keystore.aws.secretsmanager:` of both eras.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSecretsManagerSection {
    /// Current era: endpoint URL.
    pub endpoint: Option<String>,
    /// First era: endpoint URL.
    pub address: Option<String>,
    /// AWS region.
    pub region: Option<String>,
    /// Current era: KMS key for the secrets.
    pub kmskey: Option<String>,
    /// First era: KMS key for the secrets.
    pub kms_key_id: Option<String>,
    /// Static credentials.
    pub credentials: Option<AwsCredentialsSection>,
}

/// `keystore.aws.secretsmanager.credentials:` of both eras.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsCredentialsSection {
    /// Access key (current era).
    pub accesskey: Option<String>,
    /// Secret key (current era).
    pub secretkey: Option<Secret>,
    /// Session token (current era).
    pub token: Option<Secret>,
    /// Access key (first era).
    pub access_key: Option<String>,
    /// Secret key (first era).
    pub secret_key: Option<Secret>,
    /// Session token (first era).
    pub session_token: Option<Secret>,
}

/// A section whose content is accepted without being read.
pub mod toml_or_yaml_any {
    /// Any value.
    #[derive(Debug, Default)]
    pub struct Any;

    impl<'de> serde::Deserialize<'de> for Any {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            serde::de::IgnoredAny::deserialize(d).map(|_| Any)
        }
    }
}
