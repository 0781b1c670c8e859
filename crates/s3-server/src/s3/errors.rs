//! The one place where storage errors become S3 errors.

use s3s::{s3_error, S3Error};

use crate::store::StoreError;

/// Maps a storage error to the S3 error a client expects. Internal causes keep their
/// detail in the error source (logged), not in the message sent to the client.
pub fn s3(e: StoreError) -> S3Error {
    match e {
        StoreError::NoSuchBucket => s3_error!(NoSuchBucket),
        StoreError::BucketAlreadyOwnedByYou => s3_error!(BucketAlreadyOwnedByYou),
        StoreError::BucketNotEmpty => s3_error!(BucketNotEmpty),
        StoreError::NoSuchKey => {
            // As RGW does (and the public suite checks): a missing key is no delete marker.
            let mut e = s3_error!(NoSuchKey);
            let mut headers = hyper::HeaderMap::new();
            headers.insert(
                "x-amz-delete-marker",
                hyper::header::HeaderValue::from_static("false"),
            );
            e.set_headers(headers);
            e
        }
        StoreError::NoSuchVersion => {
            s3_error!(NoSuchVersion, "The specified version does not exist.")
        }
        StoreError::DeleteMarker {
            version_id,
            addressed,
        } => {
            let mut e = if addressed {
                s3_error!(
                    MethodNotAllowed,
                    "The specified method is not allowed against this resource."
                )
            } else {
                s3_error!(NoSuchKey)
            };
            let mut headers = hyper::HeaderMap::new();
            headers.insert(
                "x-amz-delete-marker",
                hyper::header::HeaderValue::from_static("true"),
            );
            if let Ok(v) = hyper::header::HeaderValue::from_str(crate::store::versions::shown_id(
                version_id.as_deref(),
            )) {
                headers.insert("x-amz-version-id", v);
            }
            e.set_headers(headers);
            e
        }
        StoreError::Locked => s3_error!(
            AccessDenied,
            "Access Denied because object protected by object lock."
        ),
        StoreError::NoSuchUpload => s3_error!(NoSuchUpload),
        StoreError::InvalidPart(m) => s3_error!(InvalidPart, "{m}"),
        StoreError::InvalidPartOrder => s3_error!(InvalidPartOrder),
        StoreError::EntityTooSmall(n) => {
            s3_error!(EntityTooSmall, "part {n} is smaller than 5 MiB")
        }
        StoreError::PreconditionFailed => s3_error!(PreconditionFailed),
        StoreError::Body(e) => body(e),
        StoreError::StorageFull(m) => {
            tracing::error!(operation = %m, "no space left on the data directory's disk");
            let mut e = S3Error::with_message(
                s3s::S3ErrorCode::Custom("XMinioStorageFull".into()),
                "Storage backend has reached its minimum free drive threshold. Please delete a few objects to proceed.",
            );
            e.set_status_code(hyper::StatusCode::INSUFFICIENT_STORAGE);
            e
        }
        StoreError::ReadOnly(m) => {
            tracing::error!(operation = %m, "the data directory is read-only");
            let mut e = S3Error::with_message(
                s3s::S3ErrorCode::ServiceUnavailable,
                "The data directory is read-only; writes are refused until it is writable again.",
            );
            e.set_status_code(hyper::StatusCode::SERVICE_UNAVAILABLE);
            e
        }
        StoreError::KeyTooLong => s3_error!(KeyTooLongError),
        StoreError::Conflict => s3_error!(
            OperationAborted,
            "A conflicting conditional operation is currently in progress against this resource. Please try again."
        ),
        StoreError::Unavailable(m) => {
            tracing::error!(cause = %m, "storage backend unavailable");
            s3_error!(ServiceUnavailable, "The storage backend is not available.")
        }
        other @ StoreError::Internal(_) => {
            tracing::error!("internal error: {other}");
            S3Error::with_source(s3s::S3ErrorCode::InternalError, Box::new(other))
        }
    }
}

/// A body stream that failed: a check of [`super::body`], or the client's connection.
fn body(e: std::io::Error) -> S3Error {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<super::body::Rejected>())
    {
        Some(super::body::Rejected::BadDigest) => s3_error!(BadDigest),
        Some(super::body::Rejected::IncompleteBody) => s3_error!(IncompleteBody),
        None if timed_out(&e) => s3_error!(
            RequestTimeout,
            "Your socket connection to the server was not read from or written to within the timeout period."
        ),
        None => s3_error!(IncompleteBody, "request body: {e}"),
    }
}

/// Whether the body failed because the client stopped sending it ([`net::IdleBody`]).
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    // Bounded: error chains are short; a cycle would otherwise loop.
    for _ in 0..16 {
        let Some(err) = next else { return false };
        if err.downcast_ref::<net::BodyTimeout>().is_some() {
            return true;
        }
        // An io::Error's `source()` skips the error it wraps: look at that one first.
        next = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|e| e as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    false
}
