//! The KMS layer of Coffer's object server, and the KES client of `coffer kes` commands.
//!
//! The object server sees one trait, [`Kms`]: generate a 32-byte data key sealed under a
//! named key and bound to a [`Context`] (one call per object written), and unseal it again
//! (one call per object read). Three backends implement it, chosen from MinIO's environment
//! variables by [`from_env`] and built by [`connect`]:
//!
//! - [`KesKms`]: KES servers (Coffer's own or MinIO KES) through [`KesClient`], which
//!   spreads calls over several endpoints and fails over as kms-go does (transport errors
//!   and 5xx answers except 501 move on to the next endpoint and put the failing one in a
//!   30 s timeout; network errors and 503 are first retried twice on the same endpoint;
//!   4xx answers are returned at once);
//! - [`BuiltinKms`]: one static key (`MINIO_KMS_SECRET_KEY`, the legacy
//!   `MINIO_KMS_MASTER_KEY`), also the development default of [`dev_key`];
//! - [`VaultTransitKms`]: the legacy Vault transit mode (`MINIO_KMS_VAULT_*`).
//!
//! Sealed data keys are byte-compatible with MinIO's for every backend, so objects move
//! between MinIO and Coffer in both directions. [`self_test`] is the start-up check.
//! Errors carry an [`ErrorKind`] that the S3 layer maps to its wire errors; no error
//! message or `Debug` output contains key bytes, tokens or secrets.
//!
//! This crate does not encrypt objects (that is the object server's `sse` module with
//! `coffer-dare`), does not read `MINIO_KMS_AUTO_ENCRYPTION` for itself (see
//! [`auto_encryption`]) and does not cache keys.

mod builtin;
mod client;
mod config;
mod context;
mod ellipses;
mod error;
mod http;
mod kes;
mod kms;
mod pem_key;
mod secret_file;
mod startup;
mod tls;
mod vault;

pub use builtin::BuiltinKms;
pub use client::{KesClient, KesDataKey, RawResponse};
pub use config::{auto_encryption, connect, from_env, ConfigError, KesConfig, KmsConfig};
pub use context::Context;
pub use error::{Error, ErrorKind, Result};
pub use kes::KesKms;
pub use kms::{DataKey, Kms, DATA_KEY_LEN};
pub use startup::{dev_key, self_test, DEV_KEY_NAME};
pub use tls::{ClientIdentity, ServerTrust};
pub use vault::{VaultConfig, VaultTransitKms};
