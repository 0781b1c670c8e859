//! Errors: the crate's own [`Error`] and the KES wire error [`ApiError`].
//!
//! `ApiError` values are compared by status *and* exact message, because that is how the Go
//! SDKs (kms-go, kes-go) and therefore MinIO recognise them (spec §1.4). Never reword them.

use std::borrow::Cow;
use std::fmt;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong inside this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An identity is not exactly 64 lowercase hex characters.
    #[error("invalid identity: must be 64 lowercase hex characters")]
    InvalidIdentity,
    /// A DER certificate could not be parsed (or had trailing bytes).
    #[error("invalid X.509 certificate")]
    InvalidCertificate,
    /// No non-CA certificate was presented by the client.
    #[error("no client certificate")]
    NoClientCertificate,
    /// More than one non-CA certificate was presented by the client.
    #[error("more than one client certificate")]
    TooManyClientCertificates,
    /// An API key is not of the form `kes:v1:<base64(0x00 || 32-byte seed)>`.
    #[error("invalid API key")]
    InvalidApiKey,
    /// Generating a certificate failed.
    #[error("failed to create certificate: {0}")]
    Certificate(String),
    /// The system random number generator failed.
    #[error("random number generator failed")]
    Random,
    /// Sealing a plaintext failed.
    #[error("encryption failed")]
    Encrypt,
    /// A ciphertext is malformed, was tampered with, or the key/context is wrong.
    #[error("decryption failed: ciphertext is not authentic")]
    Decrypt,
    /// A stored key record could not be decoded; the text says which part was wrong.
    #[error("invalid stored key: {0}")]
    InvalidStoredKey(&'static str),
    /// The key has no HMAC key (it was loaded from a legacy JSON record).
    #[error("key does not support HMAC")]
    HmacUnsupported,
}

impl Error {
    /// The KES HTTP error a server should answer with for this error.
    pub fn to_api_error(&self) -> ApiError {
        match self {
            Error::Decrypt => ApiError::DECRYPT,
            Error::HmacUnsupported => ApiError::hmac_unsupported(),
            Error::NoClientCertificate => ApiError::new(400, "tls: client certificate is required"),
            Error::TooManyClientCertificates => {
                ApiError::new(400, "tls: received more than one client certificate")
            }
            Error::InvalidStoredKey(_) => ApiError::keystore(KeystoreOp::Read),
            Error::Random => ApiError::new(500, "failed to generate encryption key"),
            Error::Encrypt => ApiError::new(500, "failed to encrypt plaintext"),
            Error::InvalidIdentity
            | Error::InvalidCertificate
            | Error::InvalidApiKey
            | Error::Certificate(_) => ApiError::new(500, "internal server error"),
        }
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        err.to_api_error()
    }
}

/// Which keystore operation failed; selects the HEAD 502 message (spec §1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeystoreOp {
    /// Creating or importing a key.
    Create,
    /// Reading a key.
    Read,
    /// Deleting a key.
    Delete,
    /// Listing keys.
    List,
}

/// An error as the KES HTTP API returns it: a status code and a message.
///
/// Equality compares both status and message, like the Go SDKs do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// Exact message text.
    pub message: Cow<'static, str>,
}

impl ApiError {
    /// 403: the identity may not perform this request.
    pub const NOT_ALLOWED: ApiError =
        ApiError::from_static(403, "not authorized: insufficient permissions");
    /// 404: the key does not exist.
    pub const KEY_NOT_FOUND: ApiError = ApiError::from_static(404, "key does not exist");
    /// 400: a key with that name already exists.
    pub const KEY_EXISTS: ApiError = ApiError::from_static(400, "key already exists");
    /// 404: the policy does not exist.
    pub const POLICY_NOT_FOUND: ApiError = ApiError::from_static(404, "policy does not exist");
    /// 404: the identity does not exist.
    pub const IDENTITY_NOT_FOUND: ApiError = ApiError::from_static(404, "identity does not exist");
    /// 400: the ciphertext could not be decrypted.
    pub const DECRYPT: ApiError =
        ApiError::from_static(400, "decryption failed: ciphertext is not authentic");

    const fn from_static(status: u16, message: &'static str) -> ApiError {
        ApiError {
            status,
            message: Cow::Borrowed(message),
        }
    }

    /// An error with any status and message.
    pub fn new(status: u16, message: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 400: invalid key name.
    pub fn invalid_key_name(name: &str) -> ApiError {
        Self::new(
            400,
            format!("key name '{name}' is empty, too long or contains invalid characters"),
        )
    }

    /// 400: invalid policy name.
    pub fn invalid_policy_name(name: &str) -> ApiError {
        Self::new(
            400,
            format!("policy name '{name}' is empty, too long or contains invalid characters"),
        )
    }

    /// 400: invalid identity path argument.
    pub fn invalid_identity(identity: &str) -> ApiError {
        Self::new(
            400,
            format!("identity '{identity}' is empty, too long or contains invalid characters"),
        )
    }

    /// 400: invalid listing pattern.
    pub fn invalid_pattern(pattern: &str) -> ApiError {
        Self::new(
            400,
            format!("listing pattern '{pattern}' is empty, too long or is invalid"),
        )
    }

    /// 400: malformed encrypt/generate/decrypt/hmac body.
    pub fn invalid_request_body() -> ApiError {
        Self::from_static(400, "invalid request body")
    }

    /// 400: malformed import body.
    pub fn invalid_import_body() -> ApiError {
        Self::from_static(400, "invalid import key request body")
    }

    /// 406: unknown key algorithm (as sent by the client).
    pub fn unsupported_algorithm(cipher: &str) -> ApiError {
        Self::new(406, format!("algorithm '{cipher}' is not supported"))
    }

    /// 406: imported key is not 32 bytes long.
    pub fn invalid_key_size(cipher: &str) -> ApiError {
        Self::new(406, format!("invalid key size for '{cipher}'"))
    }

    /// 409: key loaded from a legacy record has no HMAC key.
    pub fn hmac_unsupported() -> ApiError {
        Self::from_static(409, "key does not support HMAC")
    }

    /// 502: a keystore operation failed for a reason other than not-found/exists.
    pub fn keystore(op: KeystoreOp) -> ApiError {
        let message = match op {
            KeystoreOp::Create => "failed to create key",
            KeystoreOp::Read => "failed to read key",
            KeystoreOp::Delete => "failed to delete key",
            KeystoreOp::List => "failed to list keys",
        };
        Self::from_static(502, message)
    }

    /// The HEAD response body: `{"message":"<text>"}` followed by a newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut body = br#"{"message":"#.to_vec();
        // Serialising a str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut body, self.message.as_ref());
        body.extend_from_slice(b"}\n");
        body
    }

    /// Reconstructs an error from an HTTP response, the way the Go SDKs do (spec §1.4).
    ///
    /// With a JSON content type the `error` field (if non-empty) or else the `message` field is
    /// used; otherwise, or when the body is not such an object, the trimmed body text is. The
    /// legacy texts `key does already exist` and `prohibited by policy` map to
    /// [`ApiError::KEY_EXISTS`] and [`ApiError::NOT_ALLOWED`].
    pub fn from_response(status: u16, content_type: Option<&str>, body: &[u8]) -> ApiError {
        let is_json = content_type.is_some_and(|ct| {
            ct.trim_start()
                .get(..16)
                .is_some_and(|p| p.eq_ignore_ascii_case("application/json"))
        });
        let from_json = if is_json {
            message_from_json(body)
        } else {
            None
        };
        let message = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
        match message.as_str() {
            "key does already exist" => ApiError::KEY_EXISTS,
            "prohibited by policy" => ApiError::NOT_ALLOWED,
            _ => ApiError::new(status, message),
        }
    }
}

fn message_from_json(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        error: Option<String>,
    }
    let parsed: Body = serde_json::from_slice(body).ok()?;
    match (parsed.error, parsed.message) {
        (Some(err), _) if !err.is_empty() => Some(err),
        (_, Some(msg)) => Some(msg),
        (Some(err), None) => Some(err),
        (None, None) => Some(String::new()),
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sentinels_are_exact() {
        let table = [
            (
                ApiError::NOT_ALLOWED,
                403,
                "not authorized: insufficient permissions",
            ),
            (ApiError::KEY_NOT_FOUND, 404, "key does not exist"),
            (ApiError::KEY_EXISTS, 400, "key already exists"),
            (ApiError::POLICY_NOT_FOUND, 404, "policy does not exist"),
            (ApiError::IDENTITY_NOT_FOUND, 404, "identity does not exist"),
            (
                ApiError::DECRYPT,
                400,
                "decryption failed: ciphertext is not authentic",
            ),
            (
                ApiError::hmac_unsupported(),
                409,
                "key does not support HMAC",
            ),
            (
                ApiError::keystore(KeystoreOp::List),
                502,
                "failed to list keys",
            ),
            (
                ApiError::unsupported_algorithm("DES"),
                406,
                "algorithm 'DES' is not supported",
            ),
            (
                ApiError::invalid_key_size("AES256"),
                406,
                "invalid key size for 'AES256'",
            ),
            (
                ApiError::invalid_key_name("a.b"),
                400,
                "key name 'a.b' is empty, too long or contains invalid characters",
            ),
            (
                ApiError::invalid_pattern("a*b"),
                400,
                "listing pattern 'a*b' is empty, too long or is invalid",
            ),
        ];
        for (err, status, msg) in table {
            assert_eq!(err.status, status);
            assert_eq!(err.message, msg);
            assert_eq!(err.to_string(), msg);
        }
    }

    #[test]
    fn json_body_is_escaped_and_newline_terminated() {
        let err = ApiError::new(400, "key name 'a\"b' is bad");
        assert_eq!(
            err.to_json(),
            b"{\"message\":\"key name 'a\\\"b' is bad\"}\n".to_vec()
        );
        let v: serde_json::Value = serde_json::from_slice(&ApiError::DECRYPT.to_json()).unwrap();
        assert_eq!(
            v["message"],
            "decryption failed: ciphertext is not authentic"
        );
    }

    #[test]
    fn from_response_round_trips_and_maps_legacy() {
        let e = ApiError::KEY_NOT_FOUND;
        let back = ApiError::from_response(404, Some("application/json"), &e.to_json());
        assert_eq!(back, ApiError::KEY_NOT_FOUND);

        let legacy = ApiError::from_response(
            400,
            Some("application/json; charset=utf-8"),
            br#"{"message":"key does already exist"}"#,
        );
        assert_eq!(legacy, ApiError::KEY_EXISTS);
        let legacy = ApiError::from_response(403, Some("text/plain"), b"prohibited by policy\n");
        assert_eq!(legacy, ApiError::NOT_ALLOWED);

        let e = ApiError::from_response(500, Some("application/json"), br#"{"error":"boom"}"#);
        assert_eq!(e, ApiError::new(500, "boom"));
        let e = ApiError::from_response(404, None, b"404 page not found\n");
        assert_eq!(e, ApiError::new(404, "404 page not found"));
        let e = ApiError::from_response(400, Some("application/json"), b"not json");
        assert_eq!(e, ApiError::new(400, "not json"));
        assert_ne!(
            ApiError::new(400, "key does not exist"),
            ApiError::KEY_NOT_FOUND
        );
    }

    #[test]
    fn crate_errors_map_to_wire() {
        assert_eq!(Error::Decrypt.to_api_error(), ApiError::DECRYPT);
        assert_eq!(ApiError::from(Error::HmacUnsupported).status, 409);
        assert_eq!(
            Error::TooManyClientCertificates.to_api_error().message,
            "tls: received more than one client certificate"
        );
    }
}
