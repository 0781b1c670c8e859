//! Keystores: where the key server keeps its master keys.
//!
//! A [`KeyStore`] stores opaque values (the encoded key records of `kes-proto`) under key
//! names with KES semantics: create-if-absent, get, delete, list by prefix, status. It
//! never interprets the values and never caches: caching is the key server's job, and a
//! keystore answers every call from its backend, so failures are never remembered.
//!
//! Backends here: [`MemoryKeyStore`] (tests, `--dev`), [`FsKeyStore`] (one file per key)
//! [`VaultKeyStore`] (a Hashicorp Vault / OpenBao K/V engine) and
//! [`AwsSecretsManagerKeyStore`] (one AWS SecretsManager secret per key).

pub mod aws;
mod fs;
mod memory;
pub mod vault;

use std::time::Duration;

pub use aws::{AwsConfig, AwsSecretsManagerKeyStore};
pub use fs::FsKeyStore;
pub use memory::MemoryKeyStore;
pub use vault::{VaultConfig, VaultKeyStore};

/// Largest value a keystore returns; larger stored values are refused as corrupt.
pub const MAX_VALUE_SIZE: usize = 1 << 20;

/// The one error type of keystores. Not-found, already-exists and unreachable are
/// distinct because the key server answers each differently (404, 400, 502/504).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No key with this name.
    #[error("key does not exist")]
    NotFound,
    /// A key with this name exists already.
    #[error("key already exists")]
    AlreadyExists,
    /// The name is not usable by this backend (for example contains a path separator).
    #[error("invalid key name")]
    InvalidName,
    /// The backend cannot be reached (network failure, timeout, sealed Vault). Callers
    /// may retry later; nothing was changed.
    #[error("key store is not reachable: {0}")]
    Unreachable(String),
    /// The backend answered but refused or failed the operation.
    #[error("key store error: {0}")]
    Backend(String),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Health of a keystore backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Round-trip time of the health probe.
    pub latency: Duration,
}

/// Storage of encoded master keys under names.
#[async_trait::async_trait]
pub trait KeyStore: Send + Sync + std::fmt::Debug {
    /// Stores `value` under `name` if no key of that name exists; otherwise
    /// [`Error::AlreadyExists`] and the existing value is untouched.
    async fn create(&self, name: &str, value: &[u8]) -> Result<()>;
    /// The value stored under `name`, or [`Error::NotFound`].
    async fn get(&self, name: &str) -> Result<zeroize::Zeroizing<Vec<u8>>>;
    /// Removes `name`, or [`Error::NotFound`].
    async fn delete(&self, name: &str) -> Result<()>;
    /// All names starting with `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>>;
    /// Probes the backend.
    async fn status(&self) -> Result<Status>;
}

/// An error and its sources on one line (`outer: inner: root`), for messages that must
/// say why a backend call failed.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
