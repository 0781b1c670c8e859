//! The crate's one error type, and the classification the object server maps to S3 errors.
//!
//! No message carries key bytes, tokens or secrets: backends put key *names*, endpoints and
//! the remote service's own error text in them, never what was sent.

use kes_proto::ApiError;

/// What can go wrong talking to a KMS.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A KES server answered with an error.
    #[error("{0}")]
    Api(ApiError),
    /// No endpoint could be reached (or it timed out).
    #[error("key server unreachable: {0}")]
    Unreachable(String),
    /// The server answered something that is not its protocol.
    #[error("unexpected response from key server: {0}")]
    Protocol(String),
    /// Client settings are unusable (certificate files, endpoints).
    #[error("{0}")]
    Config(String),
    /// The named key does not exist.
    #[error("key '{0}' does not exist")]
    KeyNotFound(String),
    /// A key with that name already exists.
    #[error("key '{0}' already exists")]
    KeyExists(String),
    /// The backend cannot do this (the built-in KMS creating a second key).
    #[error("not supported: {0}")]
    NotSupported(String),
    /// The ciphertext does not authenticate under the key and context, or is malformed.
    #[error("decryption failed: ciphertext is not authentic")]
    InvalidCiphertext,
    /// The encryption context is not a JSON object of strings.
    #[error("invalid encryption context: {0}")]
    InvalidContext(String),
    /// Vault answered with an error status.
    #[error("Vault: {message} (HTTP {status})")]
    Vault {
        /// HTTP status.
        status: u16,
        /// Vault's `errors` joined, or the body text.
        message: String,
    },
    /// A local cryptographic step failed (random source, sealing).
    #[error("{0}")]
    Crypto(&'static str),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How the object server should treat an [`Error`]; each kind maps to one S3 error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The key does not exist (S3: 404 `kms:KeyNotFound`).
    KeyNotFound,
    /// The key already exists.
    KeyExists,
    /// The backend cannot do this.
    NotSupported,
    /// Stored ciphertext or context does not authenticate.
    InvalidCiphertext,
    /// The client supplied an invalid encryption context.
    InvalidContext,
    /// The KMS refused our credentials or policy.
    NotAuthorized,
    /// The KMS is unreachable or failing; retrying later may help.
    Unavailable,
    /// Anything else (protocol violations, configuration, local failures).
    Other,
}

impl Error {
    /// The classification of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Api(e) => api_kind(e),
            Error::Unreachable(_) => ErrorKind::Unavailable,
            Error::KeyNotFound(_) => ErrorKind::KeyNotFound,
            Error::KeyExists(_) => ErrorKind::KeyExists,
            Error::NotSupported(_) => ErrorKind::NotSupported,
            Error::InvalidCiphertext => ErrorKind::InvalidCiphertext,
            Error::InvalidContext(_) => ErrorKind::InvalidContext,
            Error::Vault { status, .. } => match status {
                403 => ErrorKind::NotAuthorized,
                404 => ErrorKind::KeyNotFound,
                501 => ErrorKind::NotSupported,
                500..=599 => ErrorKind::Unavailable,
                _ => ErrorKind::Other,
            },
            Error::Protocol(_) | Error::Config(_) | Error::Crypto(_) => ErrorKind::Other,
        }
    }
}

fn api_kind(e: &ApiError) -> ErrorKind {
    match e.status {
        404 => ErrorKind::KeyNotFound,
        400 if e.message == ApiError::KEY_EXISTS.message => ErrorKind::KeyExists,
        400 if e.message == ApiError::DECRYPT.message => ErrorKind::InvalidCiphertext,
        403 => ErrorKind::NotAuthorized,
        501 => ErrorKind::NotSupported,
        500..=599 => ErrorKind::Unavailable,
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kes_statuses_classify() {
        let table = [
            (ApiError::KEY_NOT_FOUND, ErrorKind::KeyNotFound),
            (ApiError::KEY_EXISTS, ErrorKind::KeyExists),
            (ApiError::DECRYPT, ErrorKind::InvalidCiphertext),
            (ApiError::NOT_ALLOWED, ErrorKind::NotAuthorized),
            (
                ApiError::new(501, "not implemented"),
                ErrorKind::NotSupported,
            ),
            (ApiError::new(502, "bad gateway"), ErrorKind::Unavailable),
            (ApiError::new(503, "sealed"), ErrorKind::Unavailable),
            (ApiError::new(400, "invalid key name"), ErrorKind::Other),
        ];
        for (api, kind) in table {
            assert_eq!(Error::Api(api.clone()).kind(), kind, "{api:?}");
        }
        assert_eq!(
            Error::Unreachable("x".into()).kind(),
            ErrorKind::Unavailable
        );
        let vault = |status| Error::Vault {
            status,
            message: String::new(),
        };
        assert_eq!(vault(403).kind(), ErrorKind::NotAuthorized);
        assert_eq!(vault(503).kind(), ErrorKind::Unavailable);
        assert_eq!(vault(400).kind(), ErrorKind::Other);
    }
}
