//! Uploads and downloads: parallel multipart uploads that can resume, streaming
//! downloads, and the SSE request headers both carry.

use std::sync::{Arc, Mutex};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use base64::Engine;
use bytes::{Bytes, BytesMut};
use md5::{Digest, Md5};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinSet;
use zeroize::Zeroizing;

use crate::{Connection, Error, Result};

/// S3's part limits.
const MAX_PARTS: u64 = 10_000;
const MIN_PART: u64 = 5 << 20;
const MAX_PART: u64 = 5 << 30;

/// Server-side encryption asked for on a request.
#[derive(Clone, Default)]
pub enum Sse {
    /// Whatever the bucket's default says.
    #[default]
    None,
    /// SSE-S3 (`AES256`).
    S3,
    /// SSE-KMS under the named key.
    Kms(String),
    /// SSE-C with the client's 256-bit key.
    C(Arc<Zeroizing<[u8; 32]>>),
}

impl std::fmt::Debug for Sse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sse::None => f.write_str("None"),
            Sse::S3 => f.write_str("S3"),
            Sse::Kms(key) => f.debug_tuple("Kms").field(key).finish(),
            Sse::C(_) => f.write_str("C(<redacted>)"),
        }
    }
}

/// The three SSE-C header values: algorithm, base64 key, base64 MD5 of the key.
#[derive(Clone)]
pub struct CustomerHeaders {
    /// Always `AES256`.
    pub algorithm: String,
    /// The key, base64.
    pub key: Zeroizing<String>,
    /// MD5 of the key, base64.
    pub key_md5: String,
}

impl std::fmt::Debug for CustomerHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerHeaders")
            .field("key_md5", &self.key_md5)
            .finish_non_exhaustive()
    }
}

/// Adds the SSE-C headers of an [`Sse`] (when it is SSE-C) to any SDK request builder
/// with the `sse_customer_*` setters (GET, HEAD, PUT, parts, completion).
#[macro_export]
macro_rules! with_customer_key {
    ($req:expr, $sse:expr) => {{
        let req = $req;
        match $sse.customer() {
            Some(c) => req
                .sse_customer_algorithm(c.algorithm)
                .sse_customer_key(c.key.as_str())
                .sse_customer_key_md5(c.key_md5),
            None => req,
        }
    }};
}

/// Adds the request headers of an [`Sse`] to a builder that writes an object (PUT,
/// CreateMultipartUpload, CopyObject).
#[macro_export]
macro_rules! with_sse {
    ($req:expr, $sse:expr) => {{
        let req = $req;
        match $sse {
            $crate::transfer::Sse::None => req,
            $crate::transfer::Sse::S3 => req.server_side_encryption("AES256".into()),
            $crate::transfer::Sse::Kms(id) => req
                .server_side_encryption("aws:kms".into())
                .ssekms_key_id(id),
            sse @ $crate::transfer::Sse::C(_) => $crate::with_customer_key!(req, sse),
        }
    }};
}

impl Sse {
    /// The SSE-C headers, when this is SSE-C.
    pub fn customer(&self) -> Option<CustomerHeaders> {
        let Sse::C(key) = self else { return None };
        let b64 = base64::engine::general_purpose::STANDARD;
        Some(CustomerHeaders {
            algorithm: "AES256".into(),
            key: Zeroizing::new(b64.encode(key.as_slice())),
            key_md5: b64.encode(Md5::digest(key.as_slice())),
        })
    }
}

/// Counts transferred bytes (a progress bar, a total).
pub trait Progress: Send + Sync {
    /// `n` more bytes moved.
    fn add(&self, n: u64);
}

/// No progress reporting.
#[derive(Debug)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn add(&self, _: u64) {}
}

/// Multipart uploads this process started and has not finished, so that an interrupt
/// can abort them (or report them as resumable).
#[derive(Debug, Default)]
pub struct Inflight(Mutex<Vec<Pending>>);

/// An unfinished multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Bucket.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Upload ID.
    pub upload_id: String,
}

impl Inflight {
    fn add(&self, p: Pending) {
        if let Ok(mut v) = self.0.lock() {
            v.push(p);
        }
    }

    fn remove(&self, upload_id: &str) {
        if let Ok(mut v) = self.0.lock() {
            v.retain(|p| p.upload_id != upload_id);
        }
    }

    /// Takes the list of unfinished uploads.
    pub fn take(&self) -> Vec<Pending> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

/// How to upload.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Part size for multipart uploads; objects smaller than one part go in one PUT.
    pub part_size: u64,
    /// Parts in flight at once.
    pub parallel: usize,
    /// Encryption.
    pub sse: Sse,
    /// Reuse the parts of an unfinished upload of the same key whose MD5 matches.
    pub resume: bool,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// User metadata (`x-amz-meta-*`, without the prefix).
    pub metadata: Vec<(String, String)>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            part_size: 16 << 20,
            parallel: 4,
            sse: Sse::None,
            resume: false,
            content_type: None,
            metadata: Vec::new(),
        }
    }
}

/// What the server said about a stored object.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    /// ETag, without quotes.
    pub etag: String,
    /// Version ID, in a versioned bucket.
    pub version_id: Option<String>,
    /// Bytes stored.
    pub size: u64,
    /// Parts reused from an earlier, interrupted upload.
    pub resumed_parts: usize,
}

/// The part size for an object of `size` bytes (if known): at least `wanted`, large
/// enough for S3's 10 000 parts, at least 5 MiB.
pub fn part_size(size: Option<u64>, wanted: u64) -> u64 {
    let mut part = wanted.clamp(MIN_PART, MAX_PART);
    if let Some(size) = size {
        let need = size.div_ceil(MAX_PARTS);
        if need > part {
            part = need.div_ceil(1 << 20) << 20;
        }
    }
    part.min(MAX_PART)
}

/// Reads up to `limit` bytes (fewer only at the end of the stream).
async fn read_chunk<R: AsyncRead + Unpin>(src: &mut R, limit: u64) -> Result<Bytes> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut buf = BytesMut::with_capacity(limit.min(64 << 20));
    while buf.len() < limit {
        if buf.capacity() == buf.len() {
            buf.reserve((limit - buf.len()).min(64 << 20));
        }
        let want = limit - buf.len();
        let mut take = (&mut *src).take(want as u64);
        let n = take
            .read_buf(&mut buf)
            .await
            .map_err(|e| Error::Io(format!("read: {e}")))?;
        if n == 0 {
            break;
        }
    }
    Ok(buf.freeze())
}

/// What an upload reads from.
pub enum Source<'a> {
    /// A local file, read on a blocking thread straight into each part's buffer (no
    /// intermediate buffer, no copy).
    File(Arc<std::fs::File>),
    /// Any byte stream: stdin, another server's GET body.
    Stream(&'a mut (dyn AsyncRead + Unpin + Send)),
}

impl std::fmt::Debug for Source<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::File(_) => "Source::File",
            Source::Stream(_) => "Source::Stream",
        })
    }
}

impl Source<'_> {
    /// The next `limit` bytes (fewer only at the end).
    async fn chunk(&mut self, limit: u64) -> Result<Bytes> {
        match self {
            Source::File(file) => {
                let file = file.clone();
                tokio::task::spawn_blocking(move || {
                    use std::io::Read;
                    let cap = usize::try_from(limit)
                        .unwrap_or(usize::MAX)
                        .min(MAX_PART as usize);
                    let mut buf = Vec::with_capacity(cap);
                    (&*file)
                        .take(limit)
                        .read_to_end(&mut buf)
                        .map_err(|e| Error::Io(format!("read: {e}")))?;
                    Ok(Bytes::from(buf))
                })
                .await
                .map_err(|e| Error::Io(format!("read task: {e}")))?
            }
            Source::Stream(reader) => read_chunk(reader, limit).await,
        }
    }
}

fn quote_free(etag: &str) -> String {
    etag.trim_matches('"').to_string()
}

/// Uploads everything `src` yields to `bucket/key`: one PUT when it fits in one part,
/// else a multipart upload with `parallel` parts in flight.
#[allow(clippy::too_many_arguments)]
pub async fn upload(
    conn: &Connection,
    mut src: Source<'_>,
    size: Option<u64>,
    bucket: &str,
    key: &str,
    opts: &UploadOptions,
    progress: Arc<dyn Progress>,
    inflight: &Inflight,
) -> Result<Stored> {
    let part = part_size(size, opts.part_size);
    let first = src.chunk(part).await?;
    if (first.len() as u64) < part {
        let len = first.len() as u64;
        let stored = put_one(conn, bucket, key, first, opts).await?;
        progress.add(len);
        return Ok(stored);
    }
    multipart(
        conn, &mut src, first, part, bucket, key, opts, progress, inflight,
    )
    .await
}

async fn put_one(
    conn: &Connection,
    bucket: &str,
    key: &str,
    body: Bytes,
    opts: &UploadOptions,
) -> Result<Stored> {
    let size = body.len() as u64;
    let mut req = conn
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_length(size as i64)
        .body(ByteStream::from(body));
    if let Some(ct) = &opts.content_type {
        req = req.content_type(ct);
    }
    for (k, v) in &opts.metadata {
        req = req.metadata(k, v);
    }
    req = crate::with_sse!(req, &opts.sse);
    let out = if conn.is_https() {
        // TLS already protects the body; hashing it for the signature would only cost CPU.
        req.customize().disable_payload_signing().send().await
    } else {
        req.send().await
    }
    .map_err(|e| conn.error(e))?;
    Ok(Stored {
        etag: quote_free(out.e_tag().unwrap_or_default()),
        version_id: out.version_id().map(str::to_string),
        size,
        resumed_parts: 0,
    })
}

/// An unfinished upload of `key` started earlier, and the parts it holds.
async fn find_resumable(
    conn: &Connection,
    bucket: &str,
    key: &str,
) -> Result<Option<(String, std::collections::HashMap<i32, (i64, String)>)>> {
    let uploads = conn
        .s3
        .list_multipart_uploads()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
        .map_err(|e| conn.error(e))?;
    let newest = uploads
        .uploads()
        .iter()
        .filter(|u| u.key() == Some(key))
        .max_by_key(|u| u.initiated().map(|t| t.as_nanos()));
    let Some(id) = newest.and_then(|u| u.upload_id()) else {
        return Ok(None);
    };
    let mut parts = std::collections::HashMap::new();
    let mut marker: Option<String> = None;
    loop {
        let page = conn
            .s3
            .list_parts()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .set_part_number_marker(marker.clone())
            .send()
            .await
            .map_err(|e| conn.error(e))?;
        for p in page.parts() {
            if let (Some(n), Some(etag)) = (p.part_number(), p.e_tag()) {
                parts.insert(n, (p.size().unwrap_or(-1), quote_free(etag)));
            }
        }
        match page.next_part_number_marker() {
            Some(next) if page.is_truncated() == Some(true) => marker = Some(next.to_string()),
            _ => break,
        }
    }
    Ok(Some((id.to_string(), parts)))
}

#[allow(clippy::too_many_arguments)]
async fn multipart(
    conn: &Connection,
    src: &mut Source<'_>,
    first: Bytes,
    part: u64,
    bucket: &str,
    key: &str,
    opts: &UploadOptions,
    progress: Arc<dyn Progress>,
    inflight: &Inflight,
) -> Result<Stored> {
    let resumable = if opts.resume {
        find_resumable(conn, bucket, key).await?
    } else {
        None
    };
    let (upload_id, existing) = match resumable {
        Some(found) => found,
        None => (
            create_upload(conn, bucket, key, opts).await?,
            Default::default(),
        ),
    };
    inflight.add(Pending {
        bucket: bucket.into(),
        key: key.into(),
        upload_id: upload_id.clone(),
    });
    let result = send_parts(
        conn, src, first, part, bucket, key, &upload_id, &existing, opts, progress,
    )
    .await;
    let outcome = match result {
        Ok((parts, size, resumed)) => complete(conn, bucket, key, &upload_id, parts, opts)
            .await
            .map(|mut s| {
                s.size = size;
                s.resumed_parts = resumed;
                s
            }),
        Err(e) => Err(e),
    };
    match &outcome {
        Ok(_) => inflight.remove(&upload_id),
        Err(_) if !opts.resume => {
            inflight.remove(&upload_id);
            // Best effort: the error that stopped the upload is what the user needs.
            let _ = conn
                .s3
                .abort_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        Err(_) => {}
    }
    outcome
}

async fn create_upload(
    conn: &Connection,
    bucket: &str,
    key: &str,
    opts: &UploadOptions,
) -> Result<String> {
    let mut req = conn.s3.create_multipart_upload().bucket(bucket).key(key);
    if let Some(ct) = &opts.content_type {
        req = req.content_type(ct);
    }
    for (k, v) in &opts.metadata {
        req = req.metadata(k, v);
    }
    req = crate::with_sse!(req, &opts.sse);
    let out = req.send().await.map_err(|e| conn.error(e))?;
    out.upload_id()
        .map(str::to_string)
        .ok_or_else(|| Error::Config("the server returned no upload ID".into()))
}

type Sent = (Vec<CompletedPart>, u64, usize);

#[allow(clippy::too_many_arguments)]
async fn send_parts(
    conn: &Connection,
    src: &mut Source<'_>,
    first: Bytes,
    part: u64,
    bucket: &str,
    key: &str,
    upload_id: &str,
    existing: &std::collections::HashMap<i32, (i64, String)>,
    opts: &UploadOptions,
    progress: Arc<dyn Progress>,
) -> Result<Sent> {
    let mut tasks: JoinSet<Result<CompletedPart>> = JoinSet::new();
    let mut done = Vec::new();
    let mut number = 0i32;
    let mut total = 0u64;
    let mut resumed = 0usize;
    let mut next = Some(first);
    while let Some(chunk) = next.take() {
        if chunk.is_empty() && number > 0 {
            break;
        }
        number += 1;
        if i64::from(number) > MAX_PARTS as i64 {
            return Err(Error::Config(format!(
                "more than {MAX_PARTS} parts of {part} bytes; use a larger --part-size"
            )));
        }
        let len = chunk.len() as u64;
        total += len;
        let full = len == part;
        if let Some((size, etag)) = existing.get(&number) {
            if *size == len as i64 && *etag == hex::encode(Md5::digest(&chunk)) {
                resumed += 1;
                progress.add(len);
                done.push(
                    CompletedPart::builder()
                        .part_number(number)
                        .e_tag(etag)
                        .build(),
                );
                if full {
                    next = Some(src.chunk(part).await?);
                }
                continue;
            }
        }
        while tasks.len() >= opts.parallel.max(1) {
            if let Some(joined) = tasks.join_next().await {
                done.push(joined.map_err(|e| Error::Io(format!("upload task: {e}")))??);
            }
        }
        let (conn2, bucket2, key2, id2) = (
            conn.clone(),
            bucket.to_string(),
            key.to_string(),
            upload_id.to_string(),
        );
        let (sse, progress2) = (opts.sse.clone(), progress.clone());
        tasks.spawn(async move {
            let etag = upload_part(&conn2, &bucket2, &key2, &id2, number, chunk, &sse).await?;
            progress2.add(len);
            Ok(CompletedPart::builder()
                .part_number(number)
                .e_tag(etag)
                .build())
        });
        if full {
            next = Some(src.chunk(part).await?);
        }
    }
    while let Some(joined) = tasks.join_next().await {
        done.push(joined.map_err(|e| Error::Io(format!("upload task: {e}")))??);
    }
    done.sort_by_key(|p| p.part_number());
    Ok((done, total, resumed))
}

async fn upload_part(
    conn: &Connection,
    bucket: &str,
    key: &str,
    upload_id: &str,
    number: i32,
    chunk: Bytes,
    sse: &Sse,
) -> Result<String> {
    let mut req = conn
        .s3
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .part_number(number)
        .content_length(chunk.len() as i64)
        .body(ByteStream::from(chunk));
    req = crate::with_customer_key!(req, sse);
    let out = if conn.is_https() {
        req.customize().disable_payload_signing().send().await
    } else {
        req.send().await
    }
    .map_err(|e| conn.error(e))?;
    Ok(out.e_tag().unwrap_or_default().to_string())
}

async fn complete(
    conn: &Connection,
    bucket: &str,
    key: &str,
    upload_id: &str,
    parts: Vec<CompletedPart>,
    opts: &UploadOptions,
) -> Result<Stored> {
    let mut req = conn
        .s3
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        );
    req = crate::with_customer_key!(req, &opts.sse);
    let out = req.send().await.map_err(|e| conn.error(e))?;
    Ok(Stored {
        etag: quote_free(out.e_tag().unwrap_or_default()),
        version_id: out.version_id().map(str::to_string),
        ..Stored::default()
    })
}

/// Aborts unfinished uploads; returns how many were aborted.
pub async fn abort_all(conn: &Connection, pending: &[Pending]) -> usize {
    let mut n = 0;
    for p in pending {
        let aborted = conn
            .s3
            .abort_multipart_upload()
            .bucket(&p.bucket)
            .key(&p.key)
            .upload_id(&p.upload_id)
            .send()
            .await;
        n += usize::from(aborted.is_ok());
    }
    n
}

/// Streams `bucket/key` (a version of it, with the SSE-C key if given) into `dst`;
/// returns the bytes written.
pub async fn download<W: AsyncWrite + Unpin>(
    conn: &Connection,
    bucket: &str,
    key: &str,
    version: Option<&str>,
    sse: &Sse,
    dst: &mut W,
    progress: &dyn Progress,
) -> Result<u64> {
    let mut req = conn
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(str::to_string));
    req = crate::with_customer_key!(req, sse);
    let out = req.send().await.map_err(|e| conn.error(e))?;
    let expected = out.content_length().and_then(|n| u64::try_from(n).ok());
    let mut body = out.body;
    let mut written = 0u64;
    while let Some(chunk) = body.try_next().await.map_err(|e| Error::Unreachable {
        endpoint: conn.alias.url.clone(),
        reason: crate::chain(&e),
    })? {
        dst.write_all(&chunk)
            .await
            .map_err(|e| Error::Io(format!("write: {e}")))?;
        written += chunk.len() as u64;
        progress.add(chunk.len() as u64);
    }
    dst.flush()
        .await
        .map_err(|e| Error::Io(format!("write: {e}")))?;
    if let Some(n) = expected {
        if n != written {
            return Err(Error::Unreachable {
                endpoint: conn.alias.url.clone(),
                reason: format!("the body ended after {written} of {n} bytes"),
            });
        }
    }
    Ok(written)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes() {
        assert_eq!(part_size(Some(1 << 30), 16 << 20), 16 << 20);
        assert_eq!(part_size(None, 1), MIN_PART);
        // 1 TiB needs parts over 104 MiB to stay within 10 000.
        let p = part_size(Some(1 << 40), 16 << 20);
        assert!(p * MAX_PARTS >= 1 << 40 && p.is_multiple_of(1 << 20), "{p}");
        assert_eq!(part_size(Some(u64::MAX), 16 << 20), MAX_PART);
    }

    #[tokio::test]
    async fn chunks_fill_to_the_limit() {
        let data = vec![7u8; 10_000];
        let mut src = &data[..];
        let a = read_chunk(&mut src, 4096).await.unwrap();
        let b = read_chunk(&mut src, 4096).await.unwrap();
        let c = read_chunk(&mut src, 4096).await.unwrap();
        let d = read_chunk(&mut src, 4096).await.unwrap();
        assert_eq!((a.len(), b.len(), c.len(), d.len()), (4096, 4096, 1808, 0));
    }

    #[test]
    fn customer_headers_and_debug() {
        let sse = Sse::C(Arc::new(Zeroizing::new([1u8; 32])));
        let c = sse.customer().unwrap();
        assert_eq!(c.algorithm, "AES256");
        assert_eq!(
            c.key.as_str(),
            "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
        );
        assert_eq!(format!("{sse:?}"), "C(<redacted>)");
    }
}
