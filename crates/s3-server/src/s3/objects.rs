//! Object operations: PUT, GET, HEAD, DELETE, DeleteObjects, CopyObject, tagging.

use futures_util::StreamExt;
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3Request, S3Response, S3Result};

use super::body::Expect;
use super::convert::{self, etag, timestamp};
use super::copy_source::{self, copy_conditions};
use super::errors::s3;
use super::{checksum, lock, versioning, write, CofferS3};
use crate::sse::{self, headers as sse_headers, ResponseHeaders};
use crate::sse_response_headers;
use crate::store::versions::shown_id;
use crate::store::{ByteStream, ObjectMeta, Span, SseKind, Versioning, WriteRules};

/// The request body as a store stream.
pub fn body_stream(body: Option<StreamingBlob>) -> ByteStream {
    match body {
        Some(b) => Box::pin(b.map(|r| r.map_err(std::io::Error::other))),
        None => Box::pin(futures_util::stream::empty()),
    }
}

/// Copies an additional checksum (algorithm, value) into an output with S3's
/// `checksum_*` fields.
macro_rules! set_checksum {
    ($out:expr, $checksum:expr) => {
        if let Some((algorithm, value)) = &$checksum {
            let value = Some(value.clone());
            match algorithm.as_str() {
                "CRC32" => $out.checksum_crc32 = value,
                "CRC32C" => $out.checksum_crc32c = value,
                "CRC64NVME" => $out.checksum_crc64nvme = value,
                "SHA1" => $out.checksum_sha1 = value,
                "SHA256" => $out.checksum_sha256 = value,
                _ => {}
            }
        }
    };
}
pub(crate) use set_checksum;

/// The SSE headers of a PutObject: the request's, plus the form fields of a POST
/// upload (s3s puts those into the input, not the headers).
fn sse_fields(input: &PutObjectInput, headers: &hyper::HeaderMap) -> hyper::HeaderMap {
    let mut h = headers.clone();
    let fields = [
        (
            "x-amz-server-side-encryption",
            input.server_side_encryption.as_ref().map(|v| v.as_str()),
        ),
        (
            "x-amz-server-side-encryption-aws-kms-key-id",
            input.ssekms_key_id.as_deref(),
        ),
        (
            "x-amz-server-side-encryption-context",
            input.ssekms_encryption_context.as_deref(),
        ),
        (
            "x-amz-server-side-encryption-customer-algorithm",
            input.sse_customer_algorithm.as_deref(),
        ),
        (
            "x-amz-server-side-encryption-customer-key",
            input.sse_customer_key.as_deref(),
        ),
        (
            "x-amz-server-side-encryption-customer-key-md5",
            input.sse_customer_key_md5.as_deref(),
        ),
    ];
    for (name, value) in fields {
        if let (false, Some(v)) = (h.contains_key(name), value) {
            if let Ok(v) = hyper::header::HeaderValue::from_str(v) {
                h.insert(name, v);
            }
        }
    }
    h
}

/// Metadata a PUT or CreateMultipartUpload request asks for.
#[allow(clippy::too_many_arguments)]
pub fn requested_meta(
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    expires: Option<&Timestamp>,
    website_redirect: Option<String>,
    metadata: Option<Metadata>,
    tagging: Option<&str>,
) -> S3Result<ObjectMeta> {
    let expires = match expires {
        Some(t) => {
            let mut buf = Vec::new();
            t.format(s3s::dto::TimestampFormat::HttpDate, &mut buf)
                .map_err(|_| s3_error!(InvalidArgument, "invalid Expires"))?;
            Some(String::from_utf8_lossy(&buf).into_owned())
        }
        None => None,
    };
    // `aws-chunked` describes how this request's body is framed, not the object.
    let content_encoding = content_encoding
        .map(|e| {
            e.split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("aws-chunked"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|e| !e.is_empty());
    Ok(ObjectMeta {
        content_type,
        content_encoding,
        content_disposition,
        content_language,
        cache_control,
        expires,
        website_redirect,
        user: convert::user_meta(metadata),
        tags: convert::parse_tagging_header(tagging)?,
        ..Default::default()
    })
}

fn expires_out(meta: &ObjectMeta) -> Option<Timestamp> {
    meta.expires
        .as_deref()
        .and_then(|e| Timestamp::parse(s3s::dto::TimestampFormat::HttpDate, e).ok())
}

/// Makes the ETag clients see of the current `bucket/key` known without a KMS call (a
/// sealed SSE-S3 ETag is opened now), so that a conditional write or delete, checked
/// under the key's lock, can compare it. An object replaced in between has an ETag not
/// known yet, which matches no condition.
async fn learn_current_etag(s: &CofferS3, bucket: &str, key: &str) -> S3Result<()> {
    if let Ok(meta) = s.store.head_object(bucket, key, None).await {
        s.sse.visible_etag(bucket, &meta, None).await?;
    }
    Ok(())
}

pub(crate) async fn put_preconditions(
    s: &CofferS3,
    bucket: &str,
    key: &str,
    if_match: Option<IfMatch>,
    if_none_match: Option<IfNoneMatch>,
) -> S3Result<Option<crate::store::WriteCheck>> {
    use crate::store::StoreError;
    if if_match.is_none() && if_none_match.is_none() {
        return Ok(None);
    }
    let named = |c: &Option<ETagCondition>| c.as_ref().is_some_and(|c| !c.is_any());
    if named(&if_match) || named(&if_none_match) {
        learn_current_etag(s, bucket, key).await?;
    }
    let sse = s.sse.clone();
    let etag_is = move |c: &ETagCondition, m: &ObjectMeta| {
        c.is_any()
            || c.as_etag()
                .is_some_and(|e| sse.known_etag(&m.etag).is_some_and(|v| v == e.value()))
    };
    Ok(Some(Box::new(move |existing: Option<&ObjectMeta>| {
        if let (Some(cond), Some(m)) = (&if_none_match, existing) {
            if etag_is(cond, m) {
                return Err(StoreError::PreconditionFailed);
            }
        }
        if let Some(cond) = &if_match {
            match existing {
                None => return Err(StoreError::NoSuchKey),
                Some(m) if !etag_is(cond, m) => return Err(StoreError::PreconditionFailed),
                Some(_) => {}
            }
        }
        Ok(())
    })))
}

/// PutObject.
pub async fn put(
    s: &CofferS3,
    req: S3Request<PutObjectInput>,
) -> S3Result<S3Response<PutObjectOutput>> {
    super::acl::check_acl!(
        in s,
        req.input,
        grant_full_control,
        grant_read,
        grant_read_acp,
        grant_write_acp
    )?;
    let checksum = checksum::requested(
        checksum::sent!(req.input),
        req.input.checksum_algorithm.as_ref(),
        &req.headers,
    )?;
    let asked = sse_headers::requested(&sse_fields(&req.input, &req.headers), false)?;
    let secure = req
        .extensions
        .get::<super::ClientInfo>()
        .is_some_and(|c| c.secure);
    s.sse.check_transport(&asked, secure)?;
    let input = req.input;
    let mut meta = requested_meta(
        input.content_type.map(|c| c.to_string()),
        input.content_encoding,
        input.content_disposition,
        input.content_language,
        input.cache_control,
        input.expires.as_ref(),
        input.website_redirect_location,
        input.metadata,
        input.tagging.as_deref(),
    )?;
    (meta.retention, meta.legal_hold) = lock::requested(
        s,
        &input.bucket,
        input.object_lock_mode.as_ref(),
        input.object_lock_retain_until_date.as_ref(),
        input.object_lock_legal_hold_status.as_ref(),
    )
    .await?;
    let expect = Expect {
        content_md5: convert::content_md5(input.content_md5.as_deref())?,
        content_length: input.content_length.and_then(|n| u64::try_from(n).ok()),
        checksum,
        md5: true,
    };
    let asked = s
        .sse
        .resolve(asked, s.bucket_encryption(&input.bucket).await?);
    let sealing = s.sse.seal(&input.bucket, &input.key, &asked, false).await?;
    let body = write::Incoming {
        plaintext: body_stream(input.body),
        expect,
        sealing,
    };
    let check = put_preconditions(
        s,
        &input.bucket,
        &input.key,
        input.if_match,
        input.if_none_match,
    )
    .await?;
    let versioning = s.versioning(&input.bucket).await?;
    let rules = WriteRules { versioning, check };
    let stored = write::object(s, &input.bucket, &input.key, body, meta, rules).await?;
    let customer = match &asked {
        sse::Requested::C(c) => Some(c),
        _ => None,
    };
    let mut out = PutObjectOutput {
        e_tag: Some(etag(&stored.etag)),
        size: i64::try_from(stored.size).ok(),
        version_id: stored.version_id.clone(),
        expiration: super::lifecycle::expiration_header(s, &input.bucket, &stored).await,
        checksum_type: stored
            .checksum
            .as_ref()
            .map(|_| ChecksumType::from_static(checksum::FULL_OBJECT)),
        ..Default::default()
    };
    let h = ResponseHeaders::of(stored.encryption.as_ref(), customer);
    out.ssekms_encryption_context = h.context.clone();
    sse_response_headers!(out, h);
    set_checksum!(out, stored.checksum);
    Ok(S3Response::new(out))
}

/// Evaluates GET/HEAD conditional headers (RFC 9110 order).
fn check_read_preconditions(
    meta: &ObjectMeta,
    if_match: Option<&IfMatch>,
    if_none_match: Option<&IfNoneMatch>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let modified = meta.modified_ns / 1_000_000_000 * 1_000_000_000;
    let matches =
        |c: &ETagCondition| c.is_any() || c.as_etag().is_some_and(|e| e.value() == meta.etag);
    if let Some(c) = if_match {
        if !matches(c) {
            return Err(s3_error!(PreconditionFailed));
        }
    } else if let Some(t) = if_unmodified_since {
        if modified > convert::to_ns(t) {
            return Err(s3_error!(PreconditionFailed));
        }
    }
    if let Some(c) = if_none_match {
        if matches(c) {
            return Err(not_modified(meta));
        }
    } else if let Some(t) = if_modified_since {
        if modified <= convert::to_ns(t) {
            return Err(not_modified(meta));
        }
    }
    Ok(())
}

/// 304 Not Modified carries the object's validators, as RFC 9110 §15.4.5 asks.
fn not_modified(meta: &ObjectMeta) -> s3s::S3Error {
    let mut e = s3_error!(NotModified);
    let mut headers = hyper::HeaderMap::new();
    if let Ok(v) = hyper::header::HeaderValue::from_str(&format!("\"{}\"", meta.etag)) {
        headers.insert(hyper::header::ETAG, v);
    }
    let mut date = Vec::new();
    if timestamp(meta.modified_ns)
        .format(s3s::dto::TimestampFormat::HttpDate, &mut date)
        .is_ok()
    {
        if let Ok(v) = hyper::header::HeaderValue::from_bytes(&date) {
            headers.insert(hyper::header::LAST_MODIFIED, v);
        }
    }
    e.set_headers(headers);
    e
}

fn invalid_part_number() -> s3s::S3Error {
    // AWS answers a part number beyond the object's parts with 400 InvalidPart (the
    // public s3-tests suite checks this against AWS).
    s3_error!(InvalidPart, "The requested partnumber is not satisfiable")
}

/// The byte span of a `Range` header or `partNumber` query, and the Content-Range.
fn span_of(
    meta: &ObjectMeta,
    range: Option<&Range>,
    part: Option<i32>,
) -> S3Result<Option<(Span, String)>> {
    if let Some(n) = part {
        if range.is_some() {
            return Err(s3_error!(
                InvalidRequest,
                "Range and partNumber cannot be combined"
            ));
        }
        let sizes: Vec<u64> = if meta.parts.is_empty() {
            vec![meta.size]
        } else {
            meta.parts.iter().map(|p| p.size).collect()
        };
        let idx = usize::try_from(n)
            .ok()
            .filter(|i| (1..=sizes.len()).contains(i))
            .ok_or_else(invalid_part_number)?;
        let start: u64 = sizes[..idx - 1].iter().sum();
        let end = start + sizes[idx - 1];
        if end == start {
            return Ok(Some((start..end, format!("bytes */{}", meta.size))));
        }
        return Ok(Some((
            start..end,
            format!("bytes {}-{}/{}", start, end - 1, meta.size),
        )));
    }
    let Some(r) = range else { return Ok(None) };
    let span = r.check(meta.size).map_err(|_| s3_error!(InvalidRange))?;
    let content_range = format!(
        "bytes {}-{}/{}",
        span.start,
        span.end.saturating_sub(1),
        meta.size
    );
    Ok(Some((span, content_range)))
}

/// Fills the headers GET and HEAD share from the stored metadata. The two outputs are
/// different s3s types with the same field names, hence a macro.
macro_rules! object_headers {
    ($ty:ident, $meta:expr, $part_number:expr, $length:expr, $range:expr, { $($field:ident: $value:expr),* $(,)? }) => {{
        let meta: &ObjectMeta = $meta;
        $ty {
            content_length: i64::try_from($length).ok(),
            content_range: $range,
            accept_ranges: Some("bytes".into()),
            e_tag: Some(etag(&meta.etag)),
            last_modified: Some(timestamp(meta.modified_ns)),
            content_type: meta.content_type.as_deref().and_then(|c| c.parse().ok()),
            content_encoding: meta.content_encoding.clone(),
            content_disposition: meta.content_disposition.clone(),
            content_language: meta.content_language.clone(),
            cache_control: meta.cache_control.clone(),
            expires: expires_out(meta),
            website_redirect_location: meta.website_redirect.clone(),
            metadata: convert::metadata_out(meta),
            parts_count: (!meta.parts.is_empty() && $part_number.is_some()).then_some(meta.parts.len() as i32),
            $($field: $value,)*
            ..Default::default()
        }
    }};
}

/// GetObject.
pub async fn get(
    s: &CofferS3,
    req: S3Request<GetObjectInput>,
) -> S3Result<S3Response<GetObjectOutput>> {
    sse_headers::refuse_on_read(&req.headers)?;
    let customer = sse_headers::customer_key(&req.headers, false)?;
    let i = req.input;
    let version = versioning::requested(i.version_id.as_deref())?;
    let bucket_versioning = s.versioning(&i.bucket).await?;
    // Preconditions, range and headers come from the record the data is read with: if
    // the object is replaced between reading its record and opening its data, start over.
    let mut attempts = 0;
    let (meta, span, body, opened) = loop {
        let meta = s
            .store
            .head_object(&i.bucket, &i.key, version)
            .await
            .map_err(s3)?;
        // SSE-S3 and SSE-KMS objects are unsealed first (the one KMS call of this read):
        // their key opens a sealed ETag, which the preconditions compare. Without
        // preconditions the data is fetched while the KMS answers (a backend such as
        // the S3 gateway's is a round trip away, like the KMS).
        let unconditional = i.if_match.is_none()
            && i.if_none_match.is_none()
            && i.if_modified_since.is_none()
            && i.if_unmodified_since.is_none();
        let mut early = None;
        let mut opened = match &meta.encryption {
            Some(record) if record.kind != SseKind::C && unconditional => {
                let span = span_of(&meta, i.range.as_ref(), i.part_number)?;
                sse::check_read(meta.encryption.as_ref(), customer.as_ref())?;
                let plain = span.as_ref().map_or(0..meta.size, |(s, _)| s.clone());
                let stored = sse::stored_span(&meta, &plain)?;
                let version = Some(shown_id(meta.version_id.as_deref()));
                let (key, data) = futures_util::future::join(
                    s.sse.open(&i.bucket, &i.key, record, None),
                    s.store
                        .get_object(&i.bucket, &i.key, version, Some(stored.clone())),
                )
                .await;
                early = Some((stored, data));
                Some(key?)
            }
            Some(record) if record.kind != SseKind::C => {
                Some(s.sse.open(&i.bucket, &i.key, record, None).await?)
            }
            _ => None,
        };
        let shown = shown(s, &i.bucket, &meta, opened.as_ref()).await?;
        check_read_preconditions(
            &shown,
            i.if_match.as_ref(),
            i.if_none_match.as_ref(),
            i.if_modified_since.as_ref(),
            i.if_unmodified_since.as_ref(),
        )?;
        // A part number beyond the object is InvalidPart whatever the SSE headers say.
        let span = span_of(&meta, i.range.as_ref(), i.part_number)?;
        sse::check_read(meta.encryption.as_ref(), customer.as_ref())?;
        let plain = span.as_ref().map_or(0..meta.size, |(s, _)| s.clone());
        if let (None, Some(record)) = (&opened, &meta.encryption) {
            opened = Some(
                s.sse
                    .open(&i.bucket, &i.key, record, customer.as_ref())
                    .await?,
            );
        }
        let (stored_span, decrypt) = match &opened {
            Some(o) => {
                let (stored, f) = o.reader(&i.bucket, &meta, &plain)?;
                (stored, Some(f))
            }
            None => (plain, None),
        };
        let (read, body) = match early {
            Some((stored, data)) if stored == stored_span => data,
            _ => {
                s.store
                    .get_object(
                        &i.bucket,
                        &i.key,
                        Some(shown_id(meta.version_id.as_deref())),
                        Some(stored_span),
                    )
                    .await
            }
        }
        .map_err(s3)?;
        attempts += 1;
        // `shown` is `meta` with the ETag clients see; the data read must be of that record.
        if read.etag == meta.etag && read.modified_ns == meta.modified_ns {
            let body = match decrypt {
                Some(f) => first_chunk_checked(f(body)).await?,
                None => body,
            };
            break (shown, span, body, opened);
        }
        if attempts == 5 {
            return Err(s3_error!(
                InternalError,
                "the object changed too often while it was being read"
            ));
        }
    };
    let length = span
        .as_ref()
        .map(|(s, _)| s.end - s.start)
        .unwrap_or(meta.size);
    let lock_headers = lock::headers_of(&meta);
    let expiration = match version {
        None => super::lifecycle::expiration_header(s, &i.bucket, &meta).await,
        Some(_) => None,
    };
    let mut out = object_headers!(GetObjectOutput, &meta, i.part_number, length, span.map(|(_, cr)| cr), {
        body: Some(StreamingBlob::wrap(body)),
        tag_count: (!meta.tags.is_empty()).then_some(meta.tags.len() as i32),
        version_id: versioning::shown(meta.version_id.as_deref(), bucket_versioning),
        object_lock_mode: lock_headers.0,
        object_lock_retain_until_date: lock_headers.1,
        object_lock_legal_hold_status: lock_headers.2,
        expiration: expiration,
    });
    sse_response_headers!(
        out,
        ResponseHeaders::of(meta.encryption.as_ref(), customer.as_ref())
    );
    let whole = wants_checksum(i.checksum_mode.as_ref(), i.range.as_ref(), i.part_number);
    let shown = checksum_shown(&meta, opened.as_ref(), whole, i.part_number);
    out.checksum_type = checksum_type_out(&meta, shown.as_ref());
    set_checksum!(out, shown);
    if let Some(ct) = i.response_content_type {
        out.content_type = ct.parse().ok();
    }
    if let Some(v) = i.response_content_disposition {
        out.content_disposition = Some(v);
    }
    if let Some(v) = i.response_content_encoding {
        out.content_encoding = Some(v);
    }
    if let Some(v) = i.response_content_language {
        out.content_language = Some(v);
    }
    if let Some(v) = i.response_cache_control {
        out.cache_control = Some(v);
    }
    let mut resp = S3Response::new(out);
    context_header(&mut resp.headers, meta.encryption.as_ref());
    Ok(resp)
}

/// The additional checksum of an object as clients see it: encrypted objects keep it
/// sealed, and it is shown only when the object key is at hand.
fn checksum_in_clear(meta: &ObjectMeta, opened: Option<&sse::Opened>) -> Option<(String, String)> {
    match (&meta.encryption, opened) {
        (None, _) => meta.checksum.clone(),
        (Some(_), Some(o)) => o.checksum(meta.checksum.as_ref()),
        (Some(_), None) => None,
    }
}

/// `x-amz-checksum-type` for a checksum shown of `meta`.
fn checksum_type_out(meta: &ObjectMeta, shown: Option<&(String, String)>) -> Option<ChecksumType> {
    shown.map(|_| ChecksumType::from(super::multipart::checksum_type_of(meta).to_string()))
}

/// The checksum a GET or HEAD shows: the object's when asked for (`whole`), else the
/// part's when a part is read.
fn checksum_shown(
    meta: &ObjectMeta,
    opened: Option<&sse::Opened>,
    whole: bool,
    part: Option<i32>,
) -> Option<(String, String)> {
    if whole {
        checksum_in_clear(meta, opened)
    } else {
        part_checksum(meta, part)
    }
}

/// The checksum of part `n` of a multipart object read with `partNumber` (unencrypted
/// objects: an encrypted object's part checksums are sealed under part keys).
fn part_checksum(meta: &ObjectMeta, n: Option<i32>) -> Option<(String, String)> {
    let n = usize::try_from(n?).ok()?;
    if meta.encryption.is_some() || meta.checksum.is_none() {
        return None;
    }
    meta.parts.get(n.checked_sub(1)?)?.checksum.clone()
}

/// The record as clients see it: with a sealed SSE-S3 ETag opened (with `opened`, or
/// one KMS call the first time an object version is seen).
pub(crate) async fn shown(
    s: &CofferS3,
    bucket: &str,
    meta: &ObjectMeta,
    opened: Option<&sse::Opened>,
) -> S3Result<ObjectMeta> {
    let mut shown = meta.clone();
    shown.etag = s.sse.visible_etag(bucket, meta, opened).await?;
    Ok(shown)
}

/// The SSE-KMS context header, which s3s's GET and HEAD outputs have no field for.
fn context_header(headers: &mut hyper::HeaderMap, record: Option<&crate::store::Encryption>) {
    if let Some(ctx) = ResponseHeaders::of(record, None).context {
        if let Ok(v) = hyper::header::HeaderValue::from_str(&ctx) {
            headers.insert("x-amz-server-side-encryption-context", v);
        }
    }
}

/// Stored checksums are sent when asked for (`x-amz-checksum-mode: ENABLED`) and the
/// whole object is read: a checksum of the object says nothing about a range of it.
fn wants_checksum(mode: Option<&ChecksumMode>, range: Option<&Range>, part: Option<i32>) -> bool {
    mode.is_some_and(|m| m.as_str() == ChecksumMode::ENABLED) && range.is_none() && part.is_none()
}

/// HeadObject.
pub async fn head(
    s: &CofferS3,
    req: S3Request<HeadObjectInput>,
) -> S3Result<S3Response<HeadObjectOutput>> {
    sse_headers::refuse_on_read(&req.headers)?;
    let customer = sse_headers::customer_key(&req.headers, false)?;
    let i = req.input;
    let version = versioning::requested(i.version_id.as_deref())?;
    let bucket_versioning = s.versioning(&i.bucket).await?;
    let meta = s
        .store
        .head_object(&i.bucket, &i.key, version)
        .await
        .map_err(s3)?;
    sse::check_read(meta.encryption.as_ref(), customer.as_ref())?;
    let checksum_asked = wants_checksum(i.checksum_mode.as_ref(), i.range.as_ref(), i.part_number);
    // SSE-C: the key must be the right one (no KMS involved). SSE-S3/SSE-KMS objects are
    // only unsealed (one KMS call) for a sealed checksum that is asked for, or a sealed
    // ETag not opened before.
    let opened = match &meta.encryption {
        Some(record)
            if customer.is_some()
                || (checksum_asked && meta.checksum.is_some())
                || s.sse.known_etag(&meta.etag).is_none() =>
        {
            Some(
                s.sse
                    .open(&i.bucket, &i.key, record, customer.as_ref())
                    .await?,
            )
        }
        _ => None,
    };
    let meta = shown(s, &i.bucket, &meta, opened.as_ref()).await?;
    check_read_preconditions(
        &meta,
        i.if_match.as_ref(),
        i.if_none_match.as_ref(),
        i.if_modified_since.as_ref(),
        i.if_unmodified_since.as_ref(),
    )?;
    let span = span_of(&meta, i.range.as_ref(), i.part_number)?;
    let length = span
        .as_ref()
        .map(|(s, _)| s.end - s.start)
        .unwrap_or(meta.size);
    let lock_headers = lock::headers_of(&meta);
    let expiration = match version {
        None => super::lifecycle::expiration_header(s, &i.bucket, &meta).await,
        Some(_) => None,
    };
    let mut out = object_headers!(
        HeadObjectOutput,
        &meta,
        i.part_number,
        length,
        span.map(|(_, cr)| cr),
        {
            version_id: versioning::shown(meta.version_id.as_deref(), bucket_versioning),
            object_lock_mode: lock_headers.0,
            object_lock_retain_until_date: lock_headers.1,
            object_lock_legal_hold_status: lock_headers.2,
            expiration: expiration,
        }
    );
    sse_response_headers!(
        out,
        ResponseHeaders::of(meta.encryption.as_ref(), customer.as_ref())
    );
    let shown = checksum_shown(&meta, opened.as_ref(), checksum_asked, i.part_number);
    out.checksum_type = checksum_type_out(&meta, shown.as_ref());
    set_checksum!(out, shown);
    let mut resp = S3Response::new(out);
    context_header(&mut resp.headers, meta.encryption.as_ref());
    // s3s's HeadObjectOutput has no tag count; S3 sends it on HEAD as on GET.
    if !meta.tags.is_empty() {
        resp.headers.insert(
            "x-amz-tagging-count",
            hyper::header::HeaderValue::from(meta.tags.len()),
        );
    }
    Ok(resp)
}

/// DeleteObject (deleting a missing key succeeds, as in S3).
pub async fn delete(
    s: &CofferS3,
    req: S3Request<DeleteObjectInput>,
) -> S3Result<S3Response<DeleteObjectOutput>> {
    let header = |name: &str| {
        req.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let modified = match header("x-amz-if-match-last-modified-time") {
        Some(t) => Some(
            Timestamp::parse(s3s::dto::TimestampFormat::HttpDate, &t)
                .or_else(|_| Timestamp::parse(s3s::dto::TimestampFormat::DateTime, &t))
                .map_err(|_| {
                    s3_error!(InvalidArgument, "invalid x-amz-if-match-last-modified-time")
                })?,
        ),
        None => None,
    };
    let size = match header("x-amz-if-match-size") {
        Some(n) => Some(
            n.parse::<i64>()
                .map_err(|_| s3_error!(InvalidArgument, "invalid x-amz-if-match-size"))?,
        ),
        None => None,
    };
    let bypass = s
        .bypasses_governance(&req, &req.input.bucket, &req.input.key)
        .await;
    let i = req.input;
    s.store.head_bucket(&i.bucket).await.map_err(s3)?;
    let version = versioning::requested(i.version_id.as_deref())?;
    let bucket_versioning = s.versioning(&i.bucket).await?;
    let check = delete_check(
        s,
        &i.bucket,
        &i.key,
        i.if_match
            .map(|c| c.as_etag().map(|e| e.value().to_string())),
        modified.as_ref(),
        size,
    )
    .await?;
    // A conditional delete of a key that does not exist does nothing (no delete marker).
    if check.is_some() && version.is_none() && bucket_versioning != Versioning::Unversioned {
        if let Err(crate::store::StoreError::NoSuchKey) =
            s.store.head_object(&i.bucket, &i.key, None).await
        {
            return Ok(S3Response::new(DeleteObjectOutput::default()));
        }
    }
    let deleted = s
        .store
        .delete_object(
            &i.bucket,
            &i.key,
            version,
            bucket_versioning,
            Some(lock::delete_check(check, bypass)),
        )
        .await
        .map_err(s3)?;
    Ok(S3Response::new(DeleteObjectOutput {
        delete_marker: deleted.delete_marker.then_some(true),
        version_id: deleted_version(&deleted),
        ..Default::default()
    }))
}

/// The version ID a delete reports: the version removed or the delete marker created.
fn deleted_version(d: &crate::store::Deleted) -> Option<String> {
    d.versioned
        .then(|| shown_id(d.version_id.as_deref()).to_string())
}

/// The conditions of a conditional delete (`If-Match`, where `Some(None)` is `*`;
/// `x-amz-if-match-last-modified-time`, compared at whole seconds; `x-amz-if-match-size`).
async fn delete_check(
    s: &CofferS3,
    bucket: &str,
    key: &str,
    etag: Option<Option<String>>,
    modified: Option<&Timestamp>,
    size: Option<i64>,
) -> S3Result<Option<crate::store::DeleteCheck>> {
    if etag.is_none() && modified.is_none() && size.is_none() {
        return Ok(None);
    }
    if etag.as_ref().is_some_and(Option::is_some) {
        learn_current_etag(s, bucket, key).await?;
    }
    let sse = s.sse.clone();
    let modified_s = modified.map(|t| convert::to_ns(t).div_euclid(1_000_000_000));
    Ok(Some(Box::new(move |m: &ObjectMeta, _permanent: bool| {
        let holds = etag.as_ref().is_none_or(|e| {
            e.as_ref()
                .is_none_or(|e| sse.known_etag(&m.etag).is_some_and(|v| v == *e))
        }) && modified_s.is_none_or(|t| m.modified_ns.div_euclid(1_000_000_000) == t)
            && size.is_none_or(|n| u64::try_from(n).is_ok_and(|n| n == m.size));
        if holds {
            Ok(())
        } else {
            Err(crate::store::StoreError::PreconditionFailed)
        }
    })))
}

/// DeleteObjects.
pub async fn delete_many(
    s: &CofferS3,
    req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    s.store.head_bucket(&req.input.bucket).await.map_err(s3)?;
    if req.input.delete.objects.len() > 1000 {
        return Err(s3_error!(MalformedXML, "at most 1000 keys per request"));
    }
    // The access layer lets DeleteObjects through; each key is authorized here, as S3
    // does, so a policy on `bucket/prefix/*` works and a denied key is reported alone.
    let mut denied = Vec::new();
    for o in &req.input.delete.objects {
        let action = match o.version_id {
            Some(_) => "s3:DeleteObjectVersion",
            None => "s3:DeleteObject",
        };
        if let Err(e) = s
            .authorize_key(&req, action, &req.input.bucket, &o.key)
            .await
        {
            denied.push((o.key.clone(), e));
        }
    }
    let bypass_asked = req.input.bypass_governance_retention.unwrap_or(false);
    let i = &req.input;
    let bucket_versioning = s.versioning(&i.bucket).await?;
    let quiet = i.delete.quiet.unwrap_or(false);
    let mut deleted = Vec::new();
    let mut errors: Vec<Error> = denied
        .into_iter()
        .map(|(key, e)| Error {
            key: Some(key),
            code: Some(e.code().as_str().to_string()),
            message: e.message().map(str::to_string),
            ..Default::default()
        })
        .collect();
    for o in &i.delete.objects {
        if errors
            .iter()
            .any(|e| e.key.as_deref() == Some(o.key.as_str()))
        {
            continue;
        }
        let check = match delete_check(
            s,
            &i.bucket,
            &o.key,
            o.e_tag.as_ref().map(|e| Some(e.value().to_string())),
            o.last_modified_time.as_ref(),
            o.size,
        )
        .await
        {
            Ok(check) => check,
            Err(e) => {
                errors.push(Error {
                    key: Some(o.key.clone()),
                    version_id: o.version_id.clone(),
                    code: Some(e.code().as_str().to_string()),
                    message: e.message().map(str::to_string),
                });
                continue;
            }
        };
        let result = match versioning::requested(o.version_id.as_deref()) {
            Ok(version) => {
                let bypass = bypass_asked && s.bypasses_governance(&req, &i.bucket, &o.key).await;
                let check = lock::delete_check(check, bypass);
                s.store
                    .delete_object(&i.bucket, &o.key, version, bucket_versioning, Some(check))
                    .await
                    .map_err(s3)
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(d) => {
                if !quiet {
                    let marker_created = d.delete_marker && o.version_id.is_none();
                    deleted.push(DeletedObject {
                        key: Some(o.key.clone()),
                        delete_marker: d.delete_marker.then_some(true),
                        delete_marker_version_id: marker_created
                            .then(|| deleted_version(&d))
                            .flatten(),
                        version_id: if marker_created {
                            None
                        } else {
                            o.version_id.clone()
                        },
                    });
                }
            }
            Err(e) => {
                errors.push(Error {
                    key: Some(o.key.clone()),
                    version_id: o.version_id.clone(),
                    code: Some(e.code().as_str().to_string()),
                    message: e.message().map(str::to_string),
                });
            }
        }
    }
    Ok(S3Response::new(DeleteObjectsOutput {
        deleted: Some(deleted),
        errors: (!errors.is_empty()).then_some(errors),
        ..Default::default()
    }))
}

/// CopyObject. The source is decrypted and the target freshly encrypted (new object
/// key, new KMS data key) as its own headers, the bucket default or auto-encryption
/// say; only an SSE-C key rotation in place re-seals the key without copying data.
pub async fn copy(
    s: &CofferS3,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
    let asked = sse_headers::requested(&req.headers, true)?;
    let i = &req.input;
    super::acl::check_acl!(
        in s,
        i,
        grant_full_control,
        grant_read,
        grant_read_acp,
        grant_write_acp
    )?;
    let src = copy_source::resolve(s, &req, &i.copy_source, copy_conditions!(i)).await?;
    let i = req.input;
    let replace = i
        .metadata_directive
        .as_ref()
        .is_some_and(|d| d.as_str() == "REPLACE");
    let replace_tags = i
        .tagging_directive
        .as_ref()
        .is_some_and(|d| d.as_str() == "REPLACE");
    let target_versioning = s.versioning(&i.bucket).await?;
    let same = src.bucket == *i.bucket && src.key == *i.key;
    let encryption_involved =
        src.meta.encryption.is_some() || !matches!(asked, sse::Requested::None);
    if same && !replace && !replace_tags && !encryption_involved {
        return Err(s3_error!(
            InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
        ));
    }
    let mut meta = if replace {
        requested_meta(
            i.content_type.map(|c| c.to_string()),
            i.content_encoding,
            i.content_disposition,
            i.content_language,
            i.cache_control,
            i.expires.as_ref(),
            i.website_redirect_location,
            i.metadata,
            None,
        )?
    } else {
        ObjectMeta {
            content_type: src.meta.content_type.clone(),
            content_encoding: src.meta.content_encoding.clone(),
            content_disposition: src.meta.content_disposition.clone(),
            content_language: src.meta.content_language.clone(),
            cache_control: src.meta.cache_control.clone(),
            expires: src.meta.expires.clone(),
            website_redirect: src.meta.website_redirect.clone(),
            user: src.meta.user.clone(),
            ..Default::default()
        }
    };
    meta.tags = if replace_tags {
        convert::parse_tagging_header(i.tagging.as_deref())?
    } else {
        src.meta.tags.clone()
    };
    let customer = match &asked {
        sse::Requested::C(c) => Some(c),
        _ => None,
    };
    let customer_md5 = customer.map(|c| c.md5().to_string());
    let stored = match (&src.opened, customer) {
        // SSE-C key rotation in place (spec §4.4): re-seal the object key only.
        (Some(opened), Some(new)) if same && src.customer.is_some() => {
            let record = opened.reseal_customer(&i.bucket, &i.key, new)?;
            let (etag, modified) = (src.meta.etag.clone(), src.meta.modified_ns);
            s.store
                .update_meta(
                    &i.bucket,
                    &i.key,
                    Some(shown_id(src.meta.version_id.as_deref())),
                    Box::new(move |m: &mut ObjectMeta| {
                        if m.etag != etag || m.modified_ns != modified {
                            return Err(crate::store::StoreError::PreconditionFailed);
                        }
                        m.encryption = Some(record);
                        if replace {
                            let keep = std::mem::take(m);
                            *m = ObjectMeta {
                                key: keep.key,
                                size: keep.size,
                                etag: keep.etag,
                                data: keep.data,
                                stored: keep.stored,
                                parts: keep.parts,
                                checksum: keep.checksum,
                                upload_id: keep.upload_id,
                                encryption: keep.encryption,
                                ..meta
                            };
                        } else if replace_tags {
                            m.tags = meta.tags;
                        }
                        Ok(())
                    }),
                )
                .await
                .map_err(s3)?
        }
        _ => {
            let asked = s.sse.resolve(asked, s.bucket_encryption(&i.bucket).await?);
            let sealing = s.sse.seal(&i.bucket, &i.key, &asked, false).await?;
            let body = src.open(s, None).await?;
            let expect = Expect {
                content_length: Some(src.meta.size),
                // A composite checksum is of the parts, not of these bytes: the copy gets a
                // full-object checksum of the same algorithm, computed afresh.
                checksum: checksum_in_clear(&src.meta, src.opened.as_ref()).map(|(a, v)| {
                    let composite =
                        super::multipart::checksum_type_of(&src.meta) == checksum::COMPOSITE;
                    (a, (!composite).then_some(v))
                }),
                ..Default::default()
            };
            let body = write::Incoming {
                plaintext: body,
                expect,
                sealing,
            };
            let rules = WriteRules {
                versioning: target_versioning,
                check: None,
            };
            write::object(s, &i.bucket, &i.key, body, meta, rules).await?
        }
    };
    // MinIO sends no SSE headers here; AWS does, and clients check them.
    let mut out = CopyObjectOutput {
        copy_object_result: Some(CopyObjectResult {
            e_tag: Some(etag(&stored.etag)),
            last_modified: Some(timestamp(stored.modified_ns)),
            ..Default::default()
        }),
        copy_source_version_id: src.version_id.clone(),
        version_id: versioning::shown(stored.version_id.as_deref(), target_versioning),
        ..Default::default()
    };
    let mut h = ResponseHeaders::of(stored.encryption.as_ref(), None);
    if h.customer_algorithm.is_some() {
        h.customer_key_md5 = customer_md5;
    }
    out.ssekms_encryption_context = h.context.clone();
    sse_response_headers!(out, h);
    Ok(S3Response::new(out))
}

/// Reads the first chunk of a decrypting stream before any header is sent, so that an
/// object whose first package does not authenticate fails with an error response
/// instead of an aborted body.
async fn first_chunk_checked(mut body: ByteStream) -> S3Result<ByteStream> {
    match body.next().await {
        None => Ok(Box::pin(futures_util::stream::empty())),
        Some(Ok(first)) => Ok(Box::pin(
            futures_util::stream::once(async move { Ok(first) }).chain(body),
        )),
        Some(Err(e)) => {
            let tampered = e.get_ref().is_some_and(|i| i.is::<sse::stream::Tampered>());
            if tampered {
                Err(sse::error(
                    "XMinioObjectTampered",
                    500,
                    "The requested object was modified and may be compromised",
                ))
            } else {
                Err(S3Error::with_source(
                    s3s::S3ErrorCode::InternalError,
                    Box::new(e),
                ))
            }
        }
    }
}

/// GetObjectTagging.
pub async fn get_tagging(
    s: &CofferS3,
    req: S3Request<GetObjectTaggingInput>,
) -> S3Result<S3Response<GetObjectTaggingOutput>> {
    let i = req.input;
    let version = versioning::requested(i.version_id.as_deref())?;
    let meta = s
        .store
        .head_object(&i.bucket, &i.key, version)
        .await
        .map_err(s3)?;
    let version_id = versioning::shown(meta.version_id.as_deref(), s.versioning(&i.bucket).await?);
    let tag_set = convert::tags_out(meta.tags);
    Ok(S3Response::new(GetObjectTaggingOutput {
        tag_set,
        version_id,
    }))
}

/// PutObjectTagging.
pub async fn put_tagging(
    s: &CofferS3,
    req: S3Request<PutObjectTaggingInput>,
) -> S3Result<S3Response<PutObjectTaggingOutput>> {
    let i = req.input;
    let tags = convert::tags_in(i.tagging, 10)?;
    let version = versioning::requested(i.version_id.as_deref())?;
    let meta = s
        .store
        .update_meta(
            &i.bucket,
            &i.key,
            version,
            Box::new(move |m: &mut ObjectMeta| {
                m.tags = tags;
                Ok(())
            }),
        )
        .await
        .map_err(s3)?;
    Ok(S3Response::new(PutObjectTaggingOutput {
        version_id: versioning::shown(meta.version_id.as_deref(), s.versioning(&i.bucket).await?),
    }))
}

/// DeleteObjectTagging.
pub async fn delete_tagging(
    s: &CofferS3,
    req: S3Request<DeleteObjectTaggingInput>,
) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
    let i = req.input;
    let version = versioning::requested(i.version_id.as_deref())?;
    let meta = s
        .store
        .update_meta(
            &i.bucket,
            &i.key,
            version,
            Box::new(|m: &mut ObjectMeta| {
                m.tags.clear();
                Ok(())
            }),
        )
        .await
        .map_err(s3)?;
    Ok(S3Response::new(DeleteObjectTaggingOutput {
        version_id: versioning::shown(meta.version_id.as_deref(), s.versioning(&i.bucket).await?),
    }))
}

/// GetObjectAttributes: ETag, size, storage class and (for multipart objects) parts.
pub async fn attributes(
    s: &CofferS3,
    req: S3Request<GetObjectAttributesInput>,
) -> S3Result<S3Response<GetObjectAttributesOutput>> {
    let customer = sse_headers::customer_key(&req.headers, false)?;
    let i = req.input;
    let version = versioning::requested(i.version_id.as_deref())?;
    let meta = s
        .store
        .head_object(&i.bucket, &i.key, version)
        .await
        .map_err(s3)?;
    sse::check_read(meta.encryption.as_ref(), customer.as_ref())?;
    // The header is one comma-separated list (`ETag, ObjectSize`); accept either form.
    let wants = |a: &str| {
        i.object_attributes
            .iter()
            .flat_map(|x| x.as_str().split(','))
            .any(|x| x.trim() == a)
    };
    let mut out = GetObjectAttributesOutput {
        last_modified: Some(timestamp(meta.modified_ns)),
        version_id: versioning::shown(meta.version_id.as_deref(), s.versioning(&i.bucket).await?),
        ..Default::default()
    };
    let opened = match &meta.encryption {
        Some(record)
            if customer.is_some()
                || (wants(ObjectAttributes::CHECKSUM) && meta.checksum.is_some())
                || (wants(ObjectAttributes::ETAG) && s.sse.known_etag(&meta.etag).is_none()) =>
        {
            Some(
                s.sse
                    .open(&i.bucket, &i.key, record, customer.as_ref())
                    .await?,
            )
        }
        _ => None,
    };
    if wants(ObjectAttributes::ETAG) {
        out.e_tag = Some(etag(
            &s.sse
                .visible_etag(&i.bucket, &meta, opened.as_ref())
                .await?,
        ));
    }
    if wants(ObjectAttributes::CHECKSUM) && meta.checksum.is_some() {
        let mut c = Checksum::default();
        let shown = checksum_in_clear(&meta, opened.as_ref());
        c.checksum_type = checksum_type_out(&meta, shown.as_ref());
        set_checksum!(c, shown);
        out.checksum = Some(c);
    }
    if wants(ObjectAttributes::OBJECT_SIZE) {
        out.object_size = i64::try_from(meta.size).ok();
    }
    if wants(ObjectAttributes::STORAGE_CLASS) {
        out.storage_class = Some(StorageClass::from_static(StorageClass::STANDARD));
    }
    if wants(ObjectAttributes::OBJECT_PARTS) && !meta.parts.is_empty() {
        let marker = i.part_number_marker.unwrap_or(0);
        let max = i.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
        let after: Vec<_> = meta.parts.iter().filter(|p| p.number > marker).collect();
        let page: Vec<_> = after.iter().take(max).collect();
        out.object_parts = Some(GetObjectAttributesParts {
            is_truncated: Some(after.len() > max),
            max_parts: Some(max as i32),
            part_number_marker: Some(marker),
            next_part_number_marker: page.last().map(|p| p.number),
            total_parts_count: Some(meta.parts.len() as i32),
            parts: Some(
                page.iter()
                    .map(|p| {
                        let mut part = ObjectPart {
                            part_number: Some(p.number),
                            size: i64::try_from(p.size).ok(),
                            ..Default::default()
                        };
                        if meta.encryption.is_none() {
                            set_checksum!(part, p.checksum);
                        }
                        part
                    })
                    .collect(),
            ),
        });
    }
    Ok(S3Response::new(out))
}
