//! S3 client for coffer's mc-style commands and for the S3 gateway backend.
//!
//! Built on aws-sdk-s3 with its default features off: one hyper 1 / rustls (aws-lc)
//! stack shared with the server, checksums only where an operation requires one.
//!
//! - [`alias`]: endpoints and credentials (coffer's file, mc's `config.json`, `MC_HOST_*`);
//! - [`connect`]: an SDK client for an alias, trusting the system roots and the CA
//!   certificates in coffer's and mc's `certs/CAs/` directories;
//! - [`admin`]: SigV4-signed requests to MinIO's admin API (KMS key commands);
//! - [`listing`]: every page of object and version listings;
//! - [`transfer`]: parallel multipart uploads that can resume, and downloads.

pub mod admin;
pub mod alias;
mod connect;
pub mod listing;
pub mod transfer;

pub use aws_sdk_s3;
pub use connect::{connect, Connection};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// Everything that can go wrong in the client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad alias, URL or configuration file.
    #[error("{0}")]
    Config(String),
    /// A local file could not be read or written.
    #[error("{0}")]
    Io(String),
    /// The server answered with an S3 error.
    #[error("{code}: {message}")]
    S3 {
        /// The S3 error code (`NoSuchKey`, `AccessDenied`, …).
        code: String,
        /// The server's message.
        message: String,
        /// The HTTP status.
        status: u16,
    },
    /// No answer: connection refused, TLS failure, timeout.
    #[error("cannot reach {endpoint}: {reason}")]
    Unreachable {
        /// The endpoint URL.
        endpoint: String,
        /// Why, as the HTTP stack tells it.
        reason: String,
    },
}

impl Error {
    /// The S3 error code, if the server answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::S3 { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::S3 { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// An error from the SDK, for requests to `endpoint`.
    pub fn from_sdk<E>(endpoint: &str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        match &err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                let status = status.unwrap_or(0);
                let code = e
                    .code()
                    .map(str::to_string)
                    .unwrap_or_else(|| code_for_status(status).to_string());
                let message = e
                    .message()
                    .map(str::to_string)
                    .unwrap_or_else(|| message_for_status(status).to_string());
                Error::S3 {
                    code,
                    message,
                    status,
                }
            }
            _ => Error::Unreachable {
                endpoint: endpoint.to_string(),
                reason: chain(&err),
            },
        }
    }
}

/// What S3 calls a body-less error answer (HEAD requests have no body).
fn code_for_status(status: u16) -> &'static str {
    match status {
        301 => "PermanentRedirect",
        304 => "NotModified",
        400 => "BadRequest",
        403 => "AccessDenied",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        412 => "PreconditionFailed",
        416 => "InvalidRange",
        501 => "NotImplemented",
        503 => "ServiceUnavailable",
        _ => "UnknownError",
    }
}

fn message_for_status(status: u16) -> &'static str {
    match status {
        403 => "Access Denied.",
        404 => "The specified key or bucket does not exist.",
        405 => "The specified method is not allowed against this resource.",
        412 => "At least one of the pre-conditions you specified did not hold.",
        _ => "The server gave no error message.",
    }
}

/// An error and its causes, outermost first, on one line.
fn chain(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

/// Percent-encodes everything but unreserved characters (and `/` when `keep_slash`),
/// as query values and `x-amz-copy-source` need.
pub fn percent_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    #[test]
    fn percent_encoding() {
        assert_eq!(super::percent_encode("a b/ü+~", true), "a%20b/%C3%BC%2B~");
        assert_eq!(super::percent_encode("a/b*", false), "a%2Fb%2A");
    }
}
