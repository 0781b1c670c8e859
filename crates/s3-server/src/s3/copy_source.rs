//! The copy source of CopyObject and UploadPartCopy, resolved once for both: the caller
//! may read it, its `x-amz-copy-source-if-*` conditions hold, its SSE-C key (if any) is
//! the right one, and its plaintext can be read whole or by range.

use s3s::dto::{CopySource, ETagCondition, Timestamp};
use s3s::{s3_error, S3Request, S3Result};

use super::convert;
use super::errors::s3;
use super::CofferS3;
use crate::sse::{self, headers, Opened};
use crate::store::versions::shown_id;
use crate::store::{ByteStream, ObjectMeta, Span};

/// The [`Conditions`] of a CopyObject or UploadPartCopy input (distinct s3s types with
/// the same field names).
macro_rules! copy_conditions {
    ($input:expr) => {
        $crate::s3::copy_source::Conditions {
            if_match: $input.copy_source_if_match.as_ref(),
            if_none_match: $input.copy_source_if_none_match.as_ref(),
            if_unmodified_since: $input.copy_source_if_unmodified_since.as_ref(),
            if_modified_since: $input.copy_source_if_modified_since.as_ref(),
        }
    };
}
pub(crate) use copy_conditions;

/// The `x-amz-copy-source-if-*` headers of a request.
#[derive(Debug, Default)]
pub struct Conditions<'a> {
    /// `x-amz-copy-source-if-match`.
    pub if_match: Option<&'a ETagCondition>,
    /// `x-amz-copy-source-if-none-match`.
    pub if_none_match: Option<&'a ETagCondition>,
    /// `x-amz-copy-source-if-unmodified-since`.
    pub if_unmodified_since: Option<&'a Timestamp>,
    /// `x-amz-copy-source-if-modified-since`.
    pub if_modified_since: Option<&'a Timestamp>,
}

impl Conditions<'_> {
    /// Any condition that fails is `PreconditionFailed` (times compare at whole seconds,
    /// as HTTP dates carry).
    fn check(&self, src: &ObjectMeta) -> S3Result<()> {
        let matches =
            |c: &ETagCondition| c.is_any() || c.as_etag().is_some_and(|e| e.value() == src.etag);
        let modified = src.modified_ns / 1_000_000_000 * 1_000_000_000;
        if self.if_match.is_some_and(|c| !matches(c))
            || self.if_none_match.is_some_and(matches)
            || self
                .if_unmodified_since
                .is_some_and(|t| modified > convert::to_ns(t))
            || self
                .if_modified_since
                .is_some_and(|t| modified <= convert::to_ns(t))
        {
            return Err(s3_error!(PreconditionFailed));
        }
        Ok(())
    }
}

/// A resolved copy source.
#[derive(Debug)]
pub struct Source {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Its record (of the version named, or the latest).
    pub meta: ObjectMeta,
    /// The version ID to report in `x-amz-copy-source-version-id`.
    pub version_id: Option<String>,
    /// Its unsealed object key, when encrypted.
    pub opened: Option<Opened>,
    /// The SSE-C key the request gave for the source.
    pub customer: Option<sse::CustomerKey>,
}

/// Resolves the copy source of `req`.
pub async fn resolve<T>(
    s: &CofferS3,
    req: &S3Request<T>,
    source: &CopySource,
    conditions: Conditions<'_>,
) -> S3Result<Source> {
    let CopySource::Bucket {
        bucket,
        key,
        version_id,
    } = source
    else {
        return Err(s3_error!(
            NotImplemented,
            "access point copy sources are not supported"
        ));
    };
    // The caller must be allowed to read the source, not only to write the target.
    let action = match version_id {
        Some(_) => "s3:GetObjectVersion",
        None => "s3:GetObject",
    };
    s.authorize_key(req, action, bucket, key).await?;
    let customer = headers::customer_key(&req.headers, true)?;
    let version = super::versioning::requested(version_id.as_deref())?;
    let meta = s
        .store
        .head_object(bucket, key, version)
        .await
        .map_err(|e| match e {
            // A delete marker as the source: S3 answers 400 InvalidRequest when it is
            // named by version ID, and NoSuchKey when it is the latest version.
            crate::store::StoreError::DeleteMarker { addressed: true, .. } => s3_error!(
                InvalidRequest,
                "The source of a copy request may not specifically refer to a delete marker by version id."
            ),
            other => s3(other),
        })?;
    let opened = match (&meta.encryption, &customer) {
        (None, None) => None,
        (None, Some(_)) => return Err(headers::not_applicable()),
        // MinIO's answers for a missing or misplaced copy-source key (§4.2 rows 14, 16).
        (Some(r), None) if r.kind == crate::store::SseKind::C => {
            return Err(s3_error!(InvalidArgument, "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm."))
        }
        (Some(r), Some(_)) if r.kind != crate::store::SseKind::C => {
            return Err(s3_error!(InvalidArgument, "Server Side Encryption with Customer provided key is incompatible with the encryption method specified"))
        }
        (Some(r), c) => Some(s.sse.open(bucket, key, r, c.as_ref()).await?),
    };
    // The conditions compare the ETag clients see (a sealed SSE-S3 ETag opened).
    conditions.check(&super::objects::shown(s, bucket, &meta, opened.as_ref()).await?)?;
    Ok(Source {
        bucket: bucket.to_string(),
        key: key.to_string(),
        version_id: meta
            .version_id
            .clone()
            .or_else(|| version.map(str::to_string)),
        meta,
        opened,
        customer,
    })
}

impl Source {
    /// The plaintext of `span` (whole object when `None`), read from the same version of
    /// the object whose record was resolved.
    pub async fn open(&self, s: &CofferS3, span: Option<Span>) -> S3Result<ByteStream> {
        let span = span.unwrap_or(0..self.meta.size);
        let (stored_span, decrypt) = match &self.opened {
            Some(o) => {
                let (stored, f) = o.reader(&self.bucket, &self.meta, &span)?;
                (stored, Some(f))
            }
            None => (span, None),
        };
        let (read, body) = s
            .store
            .get_object(
                &self.bucket,
                &self.key,
                Some(shown_id(self.meta.version_id.as_deref())),
                Some(stored_span),
            )
            .await
            .map_err(s3)?;
        if read.etag != self.meta.etag || read.modified_ns != self.meta.modified_ns {
            return Err(s3_error!(
                PreconditionFailed,
                "the copy source changed while it was being copied; retry"
            ));
        }
        Ok(match decrypt {
            Some(f) => f(body),
            None => body,
        })
    }
}
