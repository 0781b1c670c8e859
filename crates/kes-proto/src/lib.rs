//! The KES wire contract for Coffer, a Rust re-implementation of MinIO's KES key server.
//!
//! This crate holds everything a KES server or client must agree on byte for byte: the error
//! bodies and exact messages the Go SDKs compare against ([`ApiError`]), name and pattern rules,
//! client identities derived from certificates ([`Identity`], [`leaf_identity`]), `kes:v1:` API
//! keys and self-signed certificates ([`ApiKey`]), the data-key encryption format in all three
//! historical ciphertext encodings ([`SecretKey`]), the stored-key record in all historical
//! keystore formats ([`StoredKey`]) and the JSON request/response bodies ([`body`]).
//!
//! It does not do I/O: no HTTP, no TLS configuration, no keystores, no policies and no caching;
//! those live in the server crate above it. It writes only the current (HEAD) formats and reads
//! the legacy ones.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod apikey;
mod b64;
pub mod body;
mod ciphertext;
pub mod crypto;
pub mod error;
mod hchacha;
pub mod identity;
pub mod name;
pub mod percent;
mod protobuf;
pub mod stored;
mod timestamp;

pub use apikey::{self_signed_server_cert, ApiKey, API_KEY_PREFIX, ED25519_SPKI_PREFIX};
pub use ciphertext::{IV_LEN, NONCE_LEN};
pub use crypto::{Algorithm, SecretKey, OVERHEAD, TAG_LEN};
pub use error::{ApiError, Error, KeystoreOp, Result};
pub use identity::{leaf_identity, Identity, IDENTITY_LEN};
pub use name::{is_valid_name, is_valid_pattern, pattern_prefix, MAX_NAME_LEN};
pub use stored::{HmacKey, StoredKey};
pub use timestamp::Timestamp;
pub use zeroize::Zeroizing;
