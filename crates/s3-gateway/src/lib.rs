//! The S3 gateway backend: the object server's store kept in another S3-compatible
//! service (SeaweedFS, Ceph RGW, Garage, AWS S3, a MinIO cluster), so that any number of
//! object servers serve one namespace and none of them holds state of its own.
//!
//! Everything lives in one backend bucket, below an optional prefix `P`:
//!
//! ```text
//! P.coffer/gateway.json        the record key, sealed by the KMS (see [`seal`])
//! P<bucket>/.bucket            sealed: creation time and owner
//! P<bucket>/.settings/<name>   sealed: a bucket setting (policy, versioning, …)
//! P<bucket>/r/<hex of key>     sealed: the key's record (all its versions), the commit point
//! P<bucket>/d/<id>             the stored bytes of one version (ciphertext when encrypted)
//! P<bucket>/u/<upload>         sealed: a multipart upload in progress
//! P<bucket>/p/<upload>/<n>     sealed: one uploaded part's record
//! ```
//!
//! A write streams the stored bytes to a fresh data object, then replaces the key's
//! record with a conditional PUT (`If-Match` on the record read, or `If-None-Match: *`
//! when there was none): two servers changing one key cannot lose each other's change,
//! the loser reads the record again and re-applies its change. The data objects the new
//! record no longer names are deleted after the commit. Small objects are kept inside
//! their record (one backend object, one request to read).
//!
//! Multipart uploads map onto a backend multipart upload of the data object, so a part
//! can be sent to one server and the upload completed on another; the backend assembles
//! the parts without the bytes passing through the gateway again.

pub mod body;
pub mod seal;
mod sweep;
pub use sweep::Swept;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream as SdkStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use s3_server::store::versions::{self, Change};
use s3_server::store::{
    BucketInfo, ByteStream, DeleteCheck, Deleted, Finish, ListEntry, MetaUpdate, ObjectMeta,
    ObjectStore, PartInfo, PutOptions, Span, StoreError, StoreResult, Versioning, WriteRules,
};

use body::{from_backend, gather, Tap};
use seal::RecordSeal;

/// Bodies up to this size live inside their record.
const INLINE_MAX: usize = 128 << 10;
/// The same in a bucket with versioning (the record carries every version's bytes).
const VERSIONED_INLINE_MAX: usize = 16 << 10;
/// Largest body sent as one PutObject; longer ones go as a multipart upload.
const SINGLE_PUT_MAX: u64 = 5 << 30;
/// Part size for bodies of unknown length (memory held per such upload).
const STREAM_PART: usize = 16 << 20;
/// Longest part accepted without an announced length (held in memory).
const UNSIZED_PART_MAX: usize = 64 << 20;
/// How long bucket existence and settings are taken from memory. A change made through
/// another gateway is seen here after at most this long.
pub const CACHE_TTL: Duration = Duration::from_secs(5);
/// Attempts of a conditional record write before a conflict is reported (another
/// gateway won every race in between: about 10 s of back-off in all).
const ATTEMPTS: u32 = 40;
/// Locks that serialize the changes of one key within this gateway (by hash), so that
/// only writers on other gateways race for a record.
const KEY_LOCKS: usize = 256;
/// Records kept in memory (without inline bytes) for listings and commits.
const RECORD_CACHE: usize = 20_000;
/// How long a record read from the backend may stand in for reading it again when the
/// same object's data is read: the object server reads an object's record (HEAD) and
/// then its data (GET) one after the other for every GetObject.
const RECORD_FRESH: Duration = Duration::from_secs(1);
/// Records fetched at once while listing.
const LIST_PARALLEL: usize = 16;
/// Backend keys are at most this long.
const BACKEND_KEY_MAX: usize = 1024;

/// Where the gateway keeps its objects and how it reaches them.
#[derive(Clone)]
pub struct BackendConfig {
    /// `http(s)://host[:port]` of the backend's S3 API.
    pub endpoint: String,
    /// The backend bucket.
    pub bucket: String,
    /// A prefix for every backend key (empty, or ending in `/`).
    pub prefix: String,
    /// Access key at the backend.
    pub access_key: String,
    /// Secret key at the backend.
    pub secret_key: Zeroizing<String>,
    /// Signing region.
    pub region: String,
}

impl std::fmt::Debug for BackendConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendConfig")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

impl BackendConfig {
    /// From `http(s)://host[:port]/bucket[/prefix]`; the bucket defaults to `coffer`.
    pub fn from_url(
        url: &str,
        access_key: String,
        secret_key: Zeroizing<String>,
    ) -> Result<Self, String> {
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .ok_or_else(|| format!("{url}: the backend URL must start with http:// or https://"))?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        if host.is_empty() || host.contains(['?', '#', '@']) {
            return Err(format!(
                "{url}: no host, or a host with a query, fragment or user part"
            ));
        }
        let scheme = &url[..url.len() - rest.len()];
        let path = path.trim_matches('/');
        let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
        let bucket = if bucket.is_empty() { "coffer" } else { bucket };
        if bucket.len() < 3
            || bucket.len() > 63
            || !bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        {
            return Err(format!(
                "{url}: {bucket:?} is not a valid backend bucket name"
            ));
        }
        let prefix = match prefix.trim_matches('/') {
            "" => String::new(),
            p => format!("{p}/"),
        };
        Ok(Self {
            endpoint: format!("{scheme}{host}"),
            bucket: bucket.to_string(),
            prefix,
            access_key,
            secret_key,
            region: s3_server::REGION.to_string(),
        })
    }
}

/// A condition on a backend write.
#[derive(Debug, Clone, Copy)]
enum Cond<'a> {
    /// Unconditional.
    Any,
    /// Only if no object has the name.
    Absent,
    /// Only if the object still has this ETag.
    Match(&'a str),
}

/// Bucket creation time and owner, as kept in `.bucket`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BucketRecord {
    created: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
}

/// A multipart upload in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct UploadState {
    key: String,
    initiated_ns: String,
    backend_upload: String,
    meta: ObjectMeta,
}

/// One uploaded part: what the client sees and the backend's ETag of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PartRecord {
    info: PartInfo,
    backend_etag: String,
}

type Cached<T> = Mutex<HashMap<String, (Instant, T)>>;

/// The store kept in an S3-compatible backend.
pub struct Gateway {
    conn: s3_client::Connection,
    bucket: String,
    prefix: String,
    seal: RecordSeal,
    conditional: bool,
    buckets: Cached<Option<BucketInfo>>,
    settings: Cached<Option<String>>,
    /// Records read from the backend, by backend name.
    records: Mutex<HashMap<String, Remembered>>,
    key_locks: Vec<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("endpoint", &self.conn.alias.url)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("seal", &self.seal)
            .field("conditional", &self.conditional)
            .finish_non_exhaustive()
    }
}

fn now_ns() -> i128 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos()
}

fn random_id() -> String {
    let mut b = [0u8; 16];
    let _ = aws_lc_rs::rand::fill(&mut b);
    hex::encode(b)
}

fn internal(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("{what}: {e}"))
}

fn quote_free(etag: Option<&str>) -> String {
    etag.unwrap_or_default().trim_matches('"').to_string()
}

/// The record key's file in the backend.
#[derive(Debug, Serialize, Deserialize)]
struct KeyFile {
    version: u32,
    /// KMS key the record key is sealed under; `None`: records are kept in clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kms_key: Option<String>,
    /// The KMS ciphertext of the record key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<String>,
}

const KEY_FILE: &str = ".coffer/gateway.json";

/// A record as read from the backend (without inline bytes), with the backend's ETag of
/// it and when it was read.
#[derive(Clone)]
struct Remembered {
    etag: String,
    record: Arc<ObjectMeta>,
    at: Instant,
}

fn key_context() -> kms::Context {
    let mut c = kms::Context::new();
    c.insert("coffer", "gateway-records");
    c
}

impl Gateway {
    /// Connects to the backend, creates its bucket if missing, checks that it honours
    /// conditional writes, and opens (or, on an empty backend, creates) the record key
    /// through `kms`.
    pub async fn open(
        config: BackendConfig,
        kms: Option<Arc<dyn kms::Kms>>,
    ) -> Result<Self, String> {
        let alias = s3_client::alias::Alias {
            url: config.endpoint.clone(),
            access_key: config.access_key.clone(),
            secret_key: config.secret_key.to_string(),
            api: "s3v4".into(),
            path: "on".into(),
            region: Some(config.region.clone()),
        };
        let conn = s3_client::connect(&alias).map_err(|e| e.to_string())?;
        let mut gw = Self {
            conn,
            bucket: config.bucket.clone(),
            prefix: config.prefix.clone(),
            seal: RecordSeal::new(None),
            conditional: true,
            buckets: Mutex::new(HashMap::new()),
            settings: Mutex::new(HashMap::new()),
            records: Mutex::new(HashMap::new()),
            key_locks: (0..KEY_LOCKS)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        };
        let at = format!("{} bucket {}", config.endpoint, config.bucket);
        match gw.conn.s3.head_bucket().bucket(&gw.bucket).send().await {
            Ok(_) => {}
            Err(e) => match gw.conn.error(e) {
                e if e.status() == Some(404) => {
                    gw.conn
                        .s3
                        .create_bucket()
                        .bucket(&gw.bucket)
                        .send()
                        .await
                        .map_err(|e| format!("{at}: cannot create it: {}", gw.conn.error(e)))?;
                }
                e => return Err(format!("{at}: {e}")),
            },
        }
        gw.conditional = gw
            .probe_conditional()
            .await
            .map_err(|e| format!("{at}: {e}"))?;
        if !gw.conditional {
            tracing::warn!(
                "the backend ignores If-None-Match on PUT: concurrent writes to one key through several gateways are not atomic"
            );
        }
        gw.seal = RecordSeal::new(gw.record_key(kms).await.map_err(|e| format!("{at}: {e}"))?);
        Ok(gw)
    }

    /// Whether records are sealed (a KMS was configured when the backend was set up).
    pub fn records_sealed(&self) -> bool {
        self.seal.is_sealed()
    }

    /// Whether the backend honours conditional writes.
    pub fn conditional_writes(&self) -> bool {
        self.conditional
    }

    /// Writes a probe object twice with `If-None-Match: *`: the second must fail.
    async fn probe_conditional(&self) -> StoreResult<bool> {
        let rel = format!(".coffer/probe-{}", random_id());
        let first = self
            .put_raw(&rel, Bytes::from_static(b"probe"), Cond::Absent)
            .await?;
        let second = self
            .put_raw(&rel, Bytes::from_static(b"probe"), Cond::Absent)
            .await?;
        self.delete_raw(&rel, None).await?;
        Ok(first.is_some() && second.is_none())
    }

    /// The record key: opened from the backend's key file, or made and stored there.
    async fn record_key(
        &self,
        kms: Option<Arc<dyn kms::Kms>>,
    ) -> StoreResult<Option<Zeroizing<[u8; 32]>>> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        for _ in 0..3 {
            if let Some((bytes, _)) = self.get_raw(KEY_FILE).await? {
                let file: KeyFile =
                    serde_json::from_slice(&bytes).map_err(|e| internal(KEY_FILE, e))?;
                return match (file.kms_key, file.sealed, &kms) {
                    (None, _, None) => Ok(None),
                    (None, _, Some(_)) => Err(StoreError::Internal(format!(
                        "{KEY_FILE}: this backend's records were written without a KMS; start the gateway without one, or use another bucket or prefix"
                    ))),
                    (Some(name), _, None) => Err(StoreError::Internal(format!(
                        "{KEY_FILE}: records are sealed under KMS key {name:?}; configure the KMS (MINIO_KMS_KES_* or MINIO_KMS_SECRET_KEY)"
                    ))),
                    (Some(name), sealed, Some(kms)) => {
                        let sealed = b64
                            .decode(sealed.unwrap_or_default())
                            .map_err(|e| internal(KEY_FILE, e))?;
                        let key = kms
                            .decrypt(&name, &sealed, &key_context())
                            .await
                            .map_err(|e| {
                                StoreError::Internal(format!(
                                    "{KEY_FILE}: the KMS cannot open the record key (sealed under {name:?}; every gateway of one backend must use the same KMS): {e}"
                                ))
                            })?;
                        Ok(Some(key))
                    }
                };
            }
            let (file, key) = match &kms {
                None => (
                    KeyFile {
                        version: 1,
                        kms_key: None,
                        sealed: None,
                    },
                    None,
                ),
                Some(kms) => {
                    let dk = kms
                        .generate(kms.default_key(), &key_context())
                        .await
                        .map_err(|e| internal("KMS: generate the record key", e))?;
                    (
                        KeyFile {
                            version: 1,
                            kms_key: Some(dk.key_id.clone()),
                            sealed: Some(b64.encode(&dk.ciphertext)),
                        },
                        Some(dk.plaintext),
                    )
                }
            };
            let text = serde_json::to_vec_pretty(&file).map_err(|e| internal(KEY_FILE, e))?;
            if self
                .put_raw(KEY_FILE, Bytes::from(text), Cond::Absent)
                .await?
                .is_some()
            {
                return Ok(key);
            }
            // Another gateway made it first: use theirs.
        }
        Err(StoreError::Conflict)
    }

    fn name(&self, rel: &str) -> String {
        format!("{}{}", self.prefix, rel)
    }

    fn backend_error(&self, what: &str, e: s3_client::Error) -> StoreError {
        match &e {
            s3_client::Error::Unreachable { .. } => StoreError::Unavailable(format!("{what}: {e}")),
            s3_client::Error::S3 { status, .. } if *status == 503 || *status == 500 => {
                StoreError::Unavailable(format!("{what}: {e}"))
            }
            s3_client::Error::S3 { code, .. } if code == "InsufficientStorage" => {
                StoreError::StorageFull(format!("{what}: {e}"))
            }
            _ => StoreError::Internal(format!("{what}: {e}")),
        }
    }

    /// A small backend object and its ETag; `None` if absent.
    async fn get_raw(&self, rel: &str) -> StoreResult<Option<(Bytes, String)>> {
        let res = self
            .conn
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(self.name(rel))
            .send()
            .await;
        match res {
            Ok(out) => {
                let etag = quote_free(out.e_tag());
                let bytes = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| StoreError::Unavailable(format!("read {rel}: {e}")))?
                    .into_bytes();
                Ok(Some((bytes, etag)))
            }
            Err(e) => match self.conn.error(e) {
                e if e.status() == Some(404) => Ok(None),
                e => Err(self.backend_error("read", e)),
            },
        }
    }

    /// Writes a small backend object; its ETag, or `None` when the condition failed.
    async fn put_raw(
        &self,
        rel: &str,
        bytes: Bytes,
        cond: Cond<'_>,
    ) -> StoreResult<Option<String>> {
        let mut req = self
            .conn
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(self.name(rel))
            .content_length(bytes.len() as i64)
            .body(SdkStream::from(bytes));
        match cond {
            Cond::Absent if self.conditional => req = req.if_none_match("*"),
            Cond::Match(etag) if self.conditional => req = req.if_match(format!("\"{etag}\"")),
            _ => {}
        }
        match req.send().await {
            Ok(out) => Ok(Some(quote_free(out.e_tag()))),
            Err(e) => match self.conn.error(e) {
                e if matches!(e.status(), Some(412) | Some(409)) => Ok(None),
                // `If-Match` on an object deleted meanwhile.
                e if e.status() == Some(404) && matches!(cond, Cond::Match(_)) => Ok(None),
                e => Err(self.backend_error("write", e)),
            },
        }
    }

    /// Deletes a backend object (absent is fine); `false` when `if_match` failed.
    async fn delete_raw(&self, rel: &str, if_match: Option<&str>) -> StoreResult<bool> {
        let mut req = self
            .conn
            .s3
            .delete_object()
            .bucket(&self.bucket)
            .key(self.name(rel));
        if let (Some(etag), true) = (if_match, self.conditional) {
            req = req.if_match(format!("\"{etag}\""));
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) => match self.conn.error(e) {
                e if matches!(e.status(), Some(412) | Some(409)) => Ok(false),
                e if e.status() == Some(404) => Ok(if_match.is_none()),
                e => Err(self.backend_error("delete", e)),
            },
        }
    }

    /// One page of backend keys below `prefix` after `start_after` (names relative to
    /// the gateway's prefix, with their ETags), and the common prefixes when
    /// `delimiter` is given.
    async fn list_raw(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        delimiter: Option<&str>,
        max: i32,
    ) -> StoreResult<(Vec<(String, String)>, Vec<String>, bool)> {
        let out = self
            .conn
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(self.name(prefix))
            .set_start_after(start_after.map(|s| self.name(s)))
            .set_delimiter(delimiter.map(str::to_string))
            .max_keys(max)
            .send()
            .await
            .map_err(|e| self.backend_error("list", self.conn.error(e)))?;
        let strip = |k: &str| k.strip_prefix(self.prefix.as_str()).map(str::to_string);
        let keys = out
            .contents()
            .iter()
            .filter_map(|o| Some((strip(o.key()?)?, quote_free(o.e_tag()))))
            .collect();
        let prefixes = out
            .common_prefixes()
            .iter()
            .filter_map(|p| strip(p.prefix()?))
            .collect();
        Ok((keys, prefixes, out.is_truncated().unwrap_or(false)))
    }

    /// Every backend key below `prefix` (relative names).
    async fn list_all(&self, prefix: &str) -> StoreResult<Vec<(String, String)>> {
        let mut all: Vec<(String, String)> = Vec::new();
        loop {
            let after = all.last().map(|(k, _)| k.clone());
            let (keys, _, truncated) = self.list_raw(prefix, after.as_deref(), None, 1000).await?;
            let done = keys.is_empty() || !truncated;
            all.extend(keys);
            if done {
                return Ok(all);
            }
        }
    }

    /// Deletes backend objects, a thousand per request.
    async fn delete_many(&self, rels: &[String]) -> StoreResult<()> {
        for chunk in rels.chunks(1000) {
            let objects = chunk
                .iter()
                .map(|r| ObjectIdentifier::builder().key(self.name(r)).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| internal("delete", e))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| internal("delete", e))?;
            self.conn
                .s3
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| self.backend_error("delete", self.conn.error(e)))?;
        }
        Ok(())
    }

    /// Reads and opens a sealed JSON document.
    async fn get_sealed<T: serde::de::DeserializeOwned>(
        &self,
        rel: &str,
    ) -> StoreResult<Option<T>> {
        match self.get_raw(rel).await? {
            None => Ok(None),
            Some((bytes, _)) => {
                let plain = self.seal.open(rel, &bytes)?;
                serde_json::from_slice(&plain)
                    .map(Some)
                    .map_err(|e| internal(rel, e))
            }
        }
    }

    /// Seals and writes a JSON document.
    async fn put_sealed<T: Serialize>(
        &self,
        rel: &str,
        value: &T,
        cond: Cond<'_>,
    ) -> StoreResult<Option<String>> {
        let plain = Zeroizing::new(serde_json::to_vec(value).map_err(|e| internal(rel, e))?);
        let sealed = self.seal.seal(rel, &plain)?;
        self.put_raw(rel, Bytes::from(sealed), cond).await
    }

    /// The backend name of a key's record. Keys are hex-encoded: a backend that keeps
    /// objects as files (SeaweedFS, MinIO) turns `a//b` into `a/b` and `dir/` into an
    /// empty directory, and hex order is byte order, so prefixes and `start-after` still
    /// list as S3 lists.
    fn record_name(bucket: &str, key: &str) -> String {
        format!("{bucket}/r/{}", hex::encode(key))
    }

    /// The key of a record's backend name.
    fn key_of(bucket: &str, rel: &str) -> StoreResult<String> {
        let encoded = rel
            .strip_prefix(bucket)
            .and_then(|r| r.strip_prefix("/r/"))
            .ok_or_else(|| internal(rel, "not a record name"))?;
        let bytes = hex::decode(encoded).map_err(|e| internal(rel, e))?;
        String::from_utf8(bytes).map_err(|e| internal(rel, e))
    }

    /// The record of `bucket/key` and its backend ETag.
    async fn read_record(
        &self,
        bucket: &str,
        key: &str,
    ) -> StoreResult<Option<(ObjectMeta, String)>> {
        let rel = Self::record_name(bucket, key);
        let Some((bytes, etag)) = self.get_raw(&rel).await? else {
            return Ok(None);
        };
        let plain = self.seal.open(&rel, &bytes)?;
        let record = ObjectMeta::decode(Bytes::from(plain)).map_err(|e| internal(&rel, e))?;
        if record.key != key {
            return Err(internal(&rel, "the record names another key"));
        }
        self.remember(&rel, etag.clone(), record.clone());
        Ok(Some((record, etag)))
    }

    /// A record for a listing: from memory when the backend's ETag is the one seen.
    async fn listed_record(
        &self,
        bucket: &str,
        rel: &str,
        etag: &str,
    ) -> StoreResult<Option<Arc<ObjectMeta>>> {
        if let Some(r) = self.records.lock().ok().and_then(|m| m.get(rel).cloned()) {
            if r.etag == etag {
                return Ok(Some(r.record));
            }
        }
        let key = Self::key_of(bucket, rel)?;
        let Some((record, etag)) = self.read_record(bucket, &key).await? else {
            return Ok(None);
        };
        Ok(Some(self.remember(rel, etag, record)))
    }

    /// Keeps a record seen at `etag` in memory, without its inline bytes (listings do
    /// not need them; a commit uses only records that have none).
    fn remember(&self, rel: &str, etag: String, mut record: ObjectMeta) -> Arc<ObjectMeta> {
        record.inline = s3_server::store::meta::InlineData(None);
        for v in &mut record.older {
            v.inline = s3_server::store::meta::InlineData(None);
        }
        let record = Arc::new(record);
        if let Ok(mut m) = self.records.lock() {
            if m.len() >= RECORD_CACHE {
                m.clear();
            }
            let at = Instant::now();
            let record = record.clone();
            m.insert(rel.to_string(), Remembered { etag, record, at });
        }
        record
    }

    /// A remembered record that a commit can start from: complete, with no inline bytes
    /// left out.
    fn remembered(&self, rel: &str) -> Option<(String, ObjectMeta)> {
        let Remembered { etag, record, .. } = self.records.lock().ok()?.get(rel).cloned()?;
        let inline = std::iter::once(&*record)
            .chain(record.older.iter())
            .any(|v| v.inline_len.is_some());
        (!inline).then(|| (etag, (*record).clone()))
    }

    /// The version `version` of a record read from the backend less than
    /// [`RECORD_FRESH`] ago, if its data is not inline (remembered records keep none).
    fn recent(&self, rel: &str, version: Option<&str>) -> Option<ObjectMeta> {
        let r = self.records.lock().ok()?.get(rel).cloned()?;
        if r.at.elapsed() > RECORD_FRESH {
            return None;
        }
        let meta = versions::select((*r.record).clone(), version).ok()?;
        (meta.inline_len.is_none() && !meta.delete_marker).then_some(meta)
    }

    /// Whether a record of `rel` is in memory (complete or not).
    fn is_remembered(&self, rel: &str) -> bool {
        self.records.lock().is_ok_and(|m| m.contains_key(rel))
    }

    fn forget(&self, rel: &str) {
        if let Ok(mut m) = self.records.lock() {
            m.remove(rel);
        }
    }

    /// Applies `change` to the record of `bucket/key` as one conditional write, reading
    /// the record again and re-applying `change` when another writer got there first.
    /// Returns the old and the new record; data objects the new one no longer names
    /// are deleted.
    async fn commit(
        &self,
        bucket: &str,
        key: &str,
        from_memory: bool,
        change: &mut (dyn FnMut(Option<ObjectMeta>) -> StoreResult<Change> + Send),
    ) -> StoreResult<(Option<ObjectMeta>, Option<ObjectMeta>)> {
        let rel = Self::record_name(bucket, key);
        let slot = {
            use std::hash::{Hash, Hasher};
            let mut h = std::hash::DefaultHasher::new();
            rel.hash(&mut h);
            (h.finish() % KEY_LOCKS as u64) as usize
        };
        let _serial = self.key_locks[slot].lock().await;
        // The bucket may have gone while the body was streaming (deleted through this
        // gateway: known at once; through another one: within the cache's lifetime).
        self.bucket_info(bucket).await?;
        // Start from the record this gateway saw last, if any, or else from a guess
        // that the key is new (the usual case of a PUT; this saves reading the record
        // first): the conditional write fails if the guess is not current, and the
        // change is then made again on a fresh read. Only a write is taken on its word;
        // a change that decides to do nothing, to remove, or fails is decided again on a
        // fresh read.
        let mut cached = match (from_memory, self.remembered(&rel)) {
            (true, Some((etag, record))) => Some((Some(etag), Some(record))),
            (true, None) if self.conditional && !self.is_remembered(&rel) => Some((None, None)),
            _ => None,
        };
        for attempt in 0..ATTEMPTS {
            let from_cache = cached.is_some();
            let (old, etag) = match cached.take() {
                Some((e, r)) => (r, e),
                None => match self.read_record(bucket, key).await? {
                    Some((r, e)) => (Some(r), Some(e)),
                    None => (None, None),
                },
            };
            let cond = etag.as_deref().map_or(Cond::Absent, Cond::Match);
            let decided = change(old.clone());
            // A write is checked by its condition; a removal only when there was a record
            // to condition it on.
            let checked = match &decided {
                Ok(Change::Write(_)) => true,
                Ok(Change::Remove) => etag.is_some(),
                Ok(Change::Keep) | Err(_) => false,
            };
            if from_cache && !checked {
                continue;
            }
            let decided = decided?;
            let new = match decided {
                Change::Keep => return Ok((old.clone(), old)),
                Change::Write(new) => {
                    let encoded = Zeroizing::new(new.encode().map_err(|e| internal(&rel, e))?);
                    let sealed = self.seal.seal(&rel, &encoded)?;
                    match self.put_raw(&rel, Bytes::from(sealed), cond).await? {
                        Some(new_etag) => {
                            self.remember(&rel, new_etag, (*new).clone());
                            Some(Some(*new))
                        }
                        None => None,
                    }
                }
                Change::Remove => match &etag {
                    None => Some(None),
                    Some(e) => self.delete_raw(&rel, Some(e)).await?.then_some(None),
                },
            };
            if let Some(new) = new {
                if new.is_none() {
                    self.forget(&rel);
                }
                if let Some(old) = &old {
                    let gone: Vec<String> = versions::orphaned(old, new.as_ref())
                        .into_iter()
                        .map(|d| format!("{bucket}/{d}"))
                        .collect();
                    if let Err(e) = self.delete_many(&gone).await {
                        tracing::warn!(error = %e, "data of a replaced version not deleted");
                    }
                }
                return Ok((old, new));
            }
            self.forget(&rel);
            if from_cache {
                continue;
            }
            // Lost a race: back off a little (randomly, so racers spread out).
            let mut r = [0u8; 1];
            let _ = aws_lc_rs::rand::fill(&mut r);
            let ms = (5u64 << attempt.min(6)) + u64::from(r[0] % 32);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        Err(StoreError::Conflict)
    }

    /// The bucket's record, from memory for [`CACHE_TTL`].
    async fn bucket_info(&self, bucket: &str) -> StoreResult<BucketInfo> {
        if let Some((at, info)) = self
            .buckets
            .lock()
            .ok()
            .and_then(|m| m.get(bucket).cloned())
        {
            if at.elapsed() < CACHE_TTL {
                return info.ok_or(StoreError::NoSuchBucket);
            }
        }
        self.head_bucket(bucket).await
    }

    fn cache_bucket(&self, bucket: &str, info: Option<BucketInfo>) {
        if let Ok(mut m) = self.buckets.lock() {
            m.insert(bucket.to_string(), (Instant::now(), info));
        }
    }

    /// Whether no key of `bucket` has a record.
    async fn no_records(&self, bucket: &str) -> StoreResult<bool> {
        let base = format!("{bucket}/r/");
        Ok(self.list_raw(&base, None, None, 1).await?.0.is_empty())
    }

    fn check_key(&self, bucket: &str, key: &str) -> StoreResult<()> {
        if self.prefix.len() + bucket.len() + 3 + 2 * key.len() > BACKEND_KEY_MAX {
            return Err(StoreError::KeyTooLong);
        }
        Ok(())
    }

    /// Streams a body to a fresh data object; its name below the bucket, the bytes
    /// stored, and the backend's ETag.
    async fn upload_data(
        &self,
        bucket: &str,
        body: ByteStream,
        len: Option<u64>,
    ) -> StoreResult<(String, u64, String)> {
        let id = random_id();
        let rel = format!("{bucket}/d/{id}");
        let etag = match len {
            Some(n) if n <= SINGLE_PUT_MAX => self.put_stream(&rel, body, n).await?,
            _ => self.put_parts(&rel, body, len).await?,
        };
        Ok((format!("d/{id}"), etag.1, etag.0))
    }

    /// One streaming PutObject of `len` bytes: (ETag, bytes).
    async fn put_stream(
        &self,
        rel: &str,
        body: ByteStream,
        len: u64,
    ) -> StoreResult<(String, u64)> {
        let tap = Tap::default();
        let req = self
            .conn
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(self.name(rel))
            .content_length(i64::try_from(len).map_err(|e| internal("length", e))?)
            .body(tap.wrap(body));
        // The body is hashed by the object server (and authenticated by DARE when
        // encrypted); signing it too would mean reading it twice.
        match req.customize().disable_payload_signing().send().await {
            Ok(out) => Ok((quote_free(out.e_tag()), tap.count())),
            Err(e) => Err(tap
                .take_error()
                .unwrap_or_else(|| self.backend_error("store data", self.conn.error(e)))),
        }
    }

    /// A body of unknown (or over 5 GiB) length as a backend multipart upload of parts
    /// gathered in memory: (ETag, bytes).
    async fn put_parts(
        &self,
        rel: &str,
        mut body: ByteStream,
        len: Option<u64>,
    ) -> StoreResult<(String, u64)> {
        let part_size = len
            .map(|n| (n.div_ceil(10_000).max(STREAM_PART as u64)).next_multiple_of(1 << 20))
            .map_or(STREAM_PART, |n| usize::try_from(n).unwrap_or(usize::MAX));
        let name = self.name(rel);
        let upload = self
            .conn
            .s3
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&name)
            .send()
            .await
            .map_err(|e| self.backend_error("store data", self.conn.error(e)))?;
        let id = upload.upload_id().unwrap_or_default().to_string();
        let result = async {
            let mut parts = Vec::new();
            let mut total = 0u64;
            let mut number = 1;
            loop {
                let chunk = gather(&mut body, part_size).await?;
                let Some(chunk) = chunk.or_else(|| parts.is_empty().then(Bytes::new)) else {
                    break;
                };
                let last = chunk.len() < part_size;
                total += chunk.len() as u64;
                let out = self
                    .conn
                    .s3
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(&name)
                    .upload_id(&id)
                    .part_number(number)
                    .content_length(chunk.len() as i64)
                    .body(SdkStream::from(chunk))
                    .customize()
                    .disable_payload_signing()
                    .send()
                    .await
                    .map_err(|e| self.backend_error("store data", self.conn.error(e)))?;
                parts.push(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(out.e_tag().map(str::to_string))
                        .build(),
                );
                number += 1;
                if last {
                    break;
                }
            }
            let done = self
                .conn
                .s3
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(&name)
                .upload_id(&id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| self.backend_error("store data", self.conn.error(e)))?;
            Ok((quote_free(done.e_tag()), total))
        }
        .await;
        if result.is_err() {
            let _ = self.abort_backend_upload(&name, &id).await;
        }
        result
    }

    /// Aborts the backend multipart upload `id` of backend name `name` (gone already: done).
    async fn abort_backend_upload(&self, name: &str, id: &str) -> StoreResult<()> {
        let res = self
            .conn
            .s3
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(name)
            .upload_id(id)
            .send()
            .await;
        match res.map_err(|e| self.conn.error(e)) {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(self.backend_error("abort upload", e)),
        }
    }

    /// Aborts every backend multipart upload of a name under `rel_prefix`.
    async fn abort_backend_uploads(&self, rel_prefix: &str) -> StoreResult<()> {
        for (name, id, _) in self.backend_uploads(rel_prefix).await? {
            self.abort_backend_upload(&name, &id).await?;
        }
        Ok(())
    }

    /// The backend multipart uploads of names under `rel_prefix`: backend name, upload
    /// id, when it was started.
    async fn backend_uploads(
        &self,
        rel_prefix: &str,
    ) -> StoreResult<Vec<(String, String, Option<std::time::SystemTime>)>> {
        let mut all = Vec::new();
        let mut markers: (Option<String>, Option<String>) = (None, None);
        loop {
            let page = self
                .conn
                .s3
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(self.name(rel_prefix))
                .set_key_marker(markers.0.clone())
                .set_upload_id_marker(markers.1.clone())
                .send()
                .await
                .map_err(|e| self.backend_error("list uploads", self.conn.error(e)))?;
            for u in page.uploads() {
                if let (Some(key), Some(id)) = (u.key(), u.upload_id()) {
                    let started = u
                        .initiated()
                        .and_then(|t| std::time::SystemTime::try_from(*t).ok());
                    all.push((key.to_string(), id.to_string(), started));
                }
            }
            let used = markers.clone();
            match (page.next_key_marker(), page.next_upload_id_marker()) {
                (Some(k), id) if page.is_truncated() == Some(true) => {
                    markers = (Some(k.to_string()), id.map(str::to_string));
                    // A backend that hands back the page it was asked for would loop.
                    if markers == used {
                        return Ok(all);
                    }
                }
                _ => return Ok(all),
            }
        }
    }

    /// A ranged read of a data object, or `None` if it is gone.
    async fn read_data(&self, rel: &str, span: &Span) -> StoreResult<Option<ByteStream>> {
        let res = self
            .conn
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(self.name(rel))
            .range(format!("bytes={}-{}", span.start, span.end - 1))
            .send()
            .await;
        match res {
            Ok(out) => Ok(Some(from_backend(out.body, Some(span.end - span.start)))),
            Err(e) => match self.conn.error(e) {
                e if e.status() == Some(404) => Ok(None),
                e => Err(self.backend_error("read data", e)),
            },
        }
    }

    fn upload_name(bucket: &str, upload: &str) -> StoreResult<String> {
        if upload.len() != 32 || !upload.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::NoSuchUpload);
        }
        Ok(format!("{bucket}/u/{upload}"))
    }

    async fn upload_state(
        &self,
        bucket: &str,
        key: &str,
        upload: &str,
    ) -> StoreResult<UploadState> {
        let rel = Self::upload_name(bucket, upload)?;
        match self.get_sealed::<UploadState>(&rel).await? {
            Some(s) if s.key == key => Ok(s),
            _ => Err(StoreError::NoSuchUpload),
        }
    }

    async fn part_records(&self, bucket: &str, upload: &str) -> StoreResult<Vec<PartRecord>> {
        let names = self.list_all(&format!("{bucket}/p/{upload}/")).await?;
        let records: Vec<StoreResult<Option<PartRecord>>> = futures_util::stream::iter(names)
            .map(|(rel, _)| async move { self.get_sealed::<PartRecord>(&rel).await })
            .buffered(LIST_PARALLEL)
            .collect()
            .await;
        let mut parts: Vec<PartRecord> = records
            .into_iter()
            .filter_map(|r| r.transpose())
            .collect::<StoreResult<_>>()?;
        parts.sort_by_key(|p| p.info.number);
        Ok(parts)
    }

    /// Removes an upload's state and part records.
    async fn forget_upload(&self, bucket: &str, upload: &str) {
        let mut rels: Vec<String> = match self.list_all(&format!("{bucket}/p/{upload}/")).await {
            Ok(names) => names.into_iter().map(|(r, _)| r).collect(),
            Err(_) => Vec::new(),
        };
        rels.push(format!("{bucket}/u/{upload}"));
        if let Err(e) = self.delete_many(&rels).await {
            tracing::warn!(error = %e, "records of a finished upload not deleted");
        }
    }

    /// Keys after `after` below `prefix` with `pick` of each record, at most `limit`;
    /// records are fetched a few dozen at a time so that a listing that only needs the
    /// first key of a common prefix does not read a thousand.
    async fn scan<T>(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit: usize,
        pick: impl Fn(&ObjectMeta) -> Option<T>,
    ) -> StoreResult<Vec<T>> {
        self.bucket_info(bucket).await?;
        let base = format!("{bucket}/r/");
        let mut start =
            (!after.is_empty() && after >= prefix).then(|| format!("{base}{}", hex::encode(after)));
        let mut out = Vec::new();
        loop {
            let (keys, _, truncated) = self
                .list_raw(
                    &format!("{base}{}", hex::encode(prefix)),
                    start.as_deref(),
                    None,
                    1000,
                )
                .await?;
            for chunk in keys.chunks(64) {
                let records: Vec<StoreResult<Option<Arc<ObjectMeta>>>> =
                    futures_util::stream::iter(chunk.to_vec())
                        .map(|(rel, etag)| async move {
                            self.listed_record(bucket, &rel, &etag).await
                        })
                        .buffered(LIST_PARALLEL)
                        .collect()
                        .await;
                for record in records {
                    if let Some(t) = record?.as_deref().and_then(&pick) {
                        out.push(t);
                        if out.len() >= limit {
                            return Ok(out);
                        }
                    }
                }
                if !out.is_empty() {
                    return Ok(out);
                }
            }
            match keys.last() {
                Some((rel, _)) if truncated => start = Some(rel.clone()),
                _ => return Ok(out),
            }
        }
    }
}

/// The change that adds `meta` as the key's new version, if `check` approves of the
/// current one.
fn put_version(
    check: Option<s3_server::store::WriteCheck>,
    meta: ObjectMeta,
) -> impl FnMut(Option<ObjectMeta>) -> StoreResult<Change> + Send {
    move |old| {
        if let Some(check) = &check {
            check(old.as_ref().filter(|r| !r.delete_marker))?;
        }
        Ok(Change::Write(Box::new(versions::put(old, meta.clone()))))
    }
}

/// Stored bytes in memory as a stream.
fn once(bytes: Bytes) -> ByteStream {
    Box::pin(futures_util::stream::iter([Ok(bytes)]))
}

/// What a write stores: bytes inside the record, or a data object.
enum Stored {
    Inline(Bytes),
    Data {
        name: String,
        size: u64,
        etag: String,
    },
}

#[async_trait::async_trait]
impl ObjectStore for Gateway {
    async fn ready(&self) -> StoreResult<()> {
        self.conn
            .s3
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.backend_error("backend bucket", self.conn.error(e)))
    }

    async fn list_buckets(&self) -> StoreResult<Vec<BucketInfo>> {
        let mut names = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (_, prefixes, truncated) =
                self.list_raw("", after.as_deref(), Some("/"), 1000).await?;
            let done = prefixes.is_empty() || !truncated;
            after = prefixes.last().cloned();
            names.extend(
                prefixes
                    .into_iter()
                    .filter_map(|p| p.strip_suffix('/').map(str::to_string))
                    .filter(|n| !n.starts_with('.')),
            );
            if done {
                break;
            }
        }
        let infos: Vec<StoreResult<BucketInfo>> = futures_util::stream::iter(names)
            .map(|n| async move { self.head_bucket(&n).await })
            .buffered(LIST_PARALLEL)
            .collect()
            .await;
        let mut out = Vec::new();
        for info in infos {
            match info {
                Ok(i) => out.push(i),
                Err(StoreError::NoSuchBucket) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn create_bucket(&self, bucket: &str, owner: Option<&str>) -> StoreResult<()> {
        let record = BucketRecord {
            created: time::OffsetDateTime::now_utc().unix_timestamp(),
            owner: owner.map(str::to_string),
        };
        if !self.conditional && self.head_bucket(bucket).await.is_ok() {
            return Err(StoreError::BucketAlreadyOwnedByYou);
        }
        let rel = format!("{bucket}/.bucket");
        match self.put_sealed(&rel, &record, Cond::Absent).await? {
            Some(_) => {
                self.cache_bucket(
                    bucket,
                    Some(BucketInfo {
                        name: bucket.to_string(),
                        created: record.created,
                        owner: record.owner,
                    }),
                );
                Ok(())
            }
            None => Err(StoreError::BucketAlreadyOwnedByYou),
        }
    }

    async fn bucket_owner(&self, bucket: &str) -> StoreResult<Option<String>> {
        Ok(self.bucket_info(bucket).await?.owner)
    }

    async fn head_bucket(&self, bucket: &str) -> StoreResult<BucketInfo> {
        let record = self
            .get_sealed::<BucketRecord>(&format!("{bucket}/.bucket"))
            .await?;
        let info = record.map(|r| BucketInfo {
            name: bucket.to_string(),
            created: r.created,
            owner: r.owner,
        });
        self.cache_bucket(bucket, info.clone());
        info.ok_or(StoreError::NoSuchBucket)
    }

    async fn delete_bucket(&self, bucket: &str) -> StoreResult<()> {
        let bucket_rel = format!("{bucket}/.bucket");
        let Some((record, _)) = self.get_raw(&bucket_rel).await? else {
            return Err(StoreError::NoSuchBucket);
        };
        if !self.no_records(bucket).await? {
            return Err(StoreError::BucketNotEmpty);
        }
        self.delete_raw(&bucket_rel, None).await?;
        self.cache_bucket(bucket, None);
        // A write through another gateway may have committed meanwhile: then the bucket
        // stays.
        if !self.no_records(bucket).await? {
            self.put_raw(&bucket_rel, record, Cond::Any).await?;
            if let Ok(mut m) = self.buckets.lock() {
                m.remove(bucket);
            }
            return Err(StoreError::BucketNotEmpty);
        }
        let rest: Vec<String> = self
            .list_all(&format!("{bucket}/"))
            .await?
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        self.delete_many(&rest).await?;
        // Multipart uploads still open (the bucket's own, and any a crashed gateway left)
        // hold their parts in the backend until aborted.
        self.abort_backend_uploads(&format!("{bucket}/")).await?;
        if let Ok(mut m) = self.settings.lock() {
            m.retain(|k, _| !k.starts_with(&format!("{bucket}/")));
        }
        Ok(())
    }

    async fn get_bucket_setting(&self, bucket: &str, name: &str) -> StoreResult<Option<String>> {
        self.bucket_info(bucket).await?;
        let rel = format!("{bucket}/.settings/{name}");
        if let Some((at, v)) = self.settings.lock().ok().and_then(|m| m.get(&rel).cloned()) {
            if at.elapsed() < CACHE_TTL {
                return Ok(v);
            }
        }
        let value = match self.get_raw(&rel).await? {
            None => None,
            Some((bytes, _)) => Some(
                String::from_utf8(self.seal.open(&rel, &bytes)?).map_err(|e| internal(&rel, e))?,
            ),
        };
        if let Ok(mut m) = self.settings.lock() {
            m.insert(rel, (Instant::now(), value.clone()));
        }
        Ok(value)
    }

    async fn set_bucket_setting(
        &self,
        bucket: &str,
        name: &str,
        value: Option<&str>,
    ) -> StoreResult<()> {
        self.head_bucket(bucket).await?;
        let rel = format!("{bucket}/.settings/{name}");
        if let Ok(mut m) = self.settings.lock() {
            m.remove(&rel);
        }
        match value {
            Some(v) => {
                let sealed = self.seal.seal(&rel, v.as_bytes())?;
                self.put_raw(&rel, Bytes::from(sealed), Cond::Any).await?;
            }
            None => {
                self.delete_raw(&rel, None).await?;
            }
        }
        if let Ok(mut m) = self.settings.lock() {
            m.insert(rel, (Instant::now(), value.map(str::to_string)));
        }
        Ok(())
    }

    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        mut body: ByteStream,
        opts: PutOptions,
    ) -> StoreResult<ObjectMeta> {
        self.bucket_info(bucket).await?;
        self.check_key(bucket, key)?;
        let PutOptions {
            mut meta,
            finish,
            rules,
            stored_len,
        } = opts;
        let inline_max = match rules.versioning {
            Versioning::Unversioned => INLINE_MAX,
            _ => VERSIONED_INLINE_MAX,
        };
        let stored = match stored_len {
            Some(n) if n > inline_max as u64 => {
                let (name, size, etag) = self.upload_data(bucket, body, Some(n)).await?;
                Stored::Data { name, size, etag }
            }
            _ => match gather(&mut body, inline_max + 1).await? {
                None => Stored::Inline(Bytes::new()),
                Some(b) if b.len() <= inline_max => Stored::Inline(b),
                Some(first) => {
                    let rest: ByteStream =
                        Box::pin(futures_util::stream::iter([Ok(first)]).chain(body));
                    let (name, size, etag) = self.upload_data(bucket, rest, None).await?;
                    Stored::Data { name, size, etag }
                }
            },
        };
        let drop_data = |stored: &Stored| match stored {
            Stored::Data { name, .. } => Some(format!("{bucket}/{name}")),
            Stored::Inline(_) => None,
        };
        let size = match &stored {
            Stored::Inline(b) => b.len() as u64,
            Stored::Data { size, .. } => *size,
        };
        let digest = match finish(size) {
            Ok(d) => d,
            Err(e) => {
                if let Some(rel) = drop_data(&stored) {
                    let _ = self.delete_raw(&rel, None).await;
                }
                return Err(e);
            }
        };
        // A plaintext body sent in one request: the backend's MD5 must be ours.
        if let Stored::Data { etag, .. } = &stored {
            let md5_like = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
            if meta.encryption.is_none()
                && md5_like(etag)
                && md5_like(&digest.etag)
                && *etag != digest.etag
            {
                if let Some(rel) = drop_data(&stored) {
                    let _ = self.delete_raw(&rel, None).await;
                }
                return Err(internal(
                    "store data",
                    "the backend stored other bytes than were sent",
                ));
            }
        }
        meta.key = key.to_string();
        meta.size = digest.size;
        meta.etag = digest.etag;
        meta.checksum = digest.checksum;
        meta.stored = vec![size];
        meta.modified_ns = now_ns();
        meta.parts.clear();
        meta.version_id = (rules.versioning == Versioning::Enabled).then(versions::new_version_id);
        meta.delete_marker = false;
        meta.older.clear();
        match &stored {
            Stored::Inline(b) => {
                meta.data = Vec::new();
                meta.inline_len = Some(b.len() as u64);
                meta.inline = s3_server::store::meta::InlineData(Some(b.clone()));
            }
            Stored::Data { name, .. } => {
                meta.data = vec![name.clone()];
                meta.inline_len = None;
            }
        }
        let written = meta.clone();
        let mut apply = put_version(rules.check, meta);
        if let Err(e) = self.commit(bucket, key, true, &mut apply).await {
            if let Some(rel) = drop_data(&stored) {
                let _ = self.delete_raw(&rel, None).await;
            }
            return Err(e);
        }
        let mut written = written;
        written.inline = s3_server::store::meta::InlineData(None);
        Ok(written)
    }

    async fn head_object(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> StoreResult<ObjectMeta> {
        self.bucket_info(bucket).await?;
        let (record, _) = self
            .read_record(bucket, key)
            .await?
            .ok_or(StoreError::NoSuchKey)?;
        let mut meta = versions::select(record, version)?;
        meta.inline = s3_server::store::meta::InlineData(None);
        Ok(meta)
    }

    async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        span: Option<Span>,
    ) -> StoreResult<(ObjectMeta, ByteStream)> {
        self.bucket_info(bucket).await?;
        // A concurrent overwrite may delete the data between reading the record and
        // reading the data: read the record again then. The first attempt may use the
        // record just read for the HEAD that comes before every GET (the data objects a
        // record names never change, so the data read is the one that record describes;
        // the object server compares what it gets with what its HEAD saw).
        let rel = Self::record_name(bucket, key);
        let mut recent = self.recent(&rel, version);
        for _ in 0..5 {
            let mut meta = match recent.take() {
                Some(meta) => meta,
                None => {
                    let (record, _) = self
                        .read_record(bucket, key)
                        .await?
                        .ok_or(StoreError::NoSuchKey)?;
                    versions::select(record, version)?
                }
            };
            let total = meta.stored_size();
            let span = span.clone().unwrap_or(0..total);
            if let Some(bytes) = meta.inline.0.take() {
                let end = usize::try_from(span.end)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                let start = usize::try_from(span.start).unwrap_or(usize::MAX).min(end);
                return Ok((meta, once(bytes.slice(start..end))));
            }
            if span.start >= span.end {
                return Ok((meta, once(Bytes::new())));
            }
            let Some(data) = meta.data.first() else {
                return Err(internal("read", "a record without data"));
            };
            if let Some(stream) = self.read_data(&format!("{bucket}/{data}"), &span).await? {
                return Ok((meta, stream));
            }
        }
        Err(internal(
            "read data",
            "object changed too often while reading it",
        ))
    }

    async fn update_meta(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        update: MetaUpdate,
    ) -> StoreResult<ObjectMeta> {
        self.bucket_info(bucket).await?;
        // `update` runs once; losing a race to another writer is reported, not retried.
        let wanted = version.map(str::to_string);
        let mut update = Some(update);
        let changed = Arc::new(Mutex::new(None::<ObjectMeta>));
        let slot = changed.clone();
        let mut apply = move |old: Option<ObjectMeta>| -> StoreResult<Change> {
            let old = old.ok_or(StoreError::NoSuchKey)?;
            let f = update.take().ok_or(StoreError::Conflict)?;
            let (record, version) = versions::update(old, wanted.as_deref(), f)?;
            if let Ok(mut s) = slot.lock() {
                *s = Some(version);
            }
            Ok(Change::Write(Box::new(record)))
        };
        self.commit(bucket, key, false, &mut apply).await?;
        let mut meta = changed
            .lock()
            .ok()
            .and_then(|mut s| s.take())
            .ok_or(StoreError::NoSuchKey)?;
        meta.inline = s3_server::store::meta::InlineData(None);
        Ok(meta)
    }

    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        versioning: Versioning,
        check: Option<DeleteCheck>,
    ) -> StoreResult<Deleted> {
        self.bucket_info(bucket).await?;
        let outcome = Arc::new(Mutex::new(Deleted::default()));
        let slot = outcome.clone();
        let wanted = version.map(str::to_string);
        let marker = ObjectMeta {
            key: key.to_string(),
            modified_ns: now_ns(),
            version_id: (versioning == Versioning::Enabled).then(versions::new_version_id),
            delete_marker: true,
            ..Default::default()
        };
        let mut apply = move |old: Option<ObjectMeta>| -> StoreResult<Change> {
            let (change, deleted) = versions::delete(
                old,
                wanted.as_deref(),
                versioning,
                check.as_ref(),
                marker.clone(),
            )?;
            if let Ok(mut s) = slot.lock() {
                *s = deleted;
            }
            Ok(change)
        };
        self.commit(bucket, key, true, &mut apply).await?;
        let deleted = outcome
            .lock()
            .map_err(|_| internal("delete", "poisoned"))?
            .clone();
        Ok(deleted)
    }

    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> StoreResult<Vec<ListEntry>> {
        self.scan(bucket, prefix, after, limit, |record| {
            s3_server::store::fs::entries_of(record)
                .into_iter()
                .next()
                .filter(|e| !e.delete_marker)
        })
        .await
    }

    async fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> StoreResult<Vec<Vec<ListEntry>>> {
        self.scan(bucket, prefix, after, limit, |record| {
            Some(s3_server::store::fs::entries_of(record))
        })
        .await
    }

    async fn upload_meta(&self, bucket: &str, key: &str, upload: &str) -> StoreResult<ObjectMeta> {
        Ok(self.upload_state(bucket, key, upload).await?.meta)
    }

    async fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        meta: ObjectMeta,
    ) -> StoreResult<String> {
        self.bucket_info(bucket).await?;
        self.check_key(bucket, key)?;
        let id = random_id();
        let out = self
            .conn
            .s3
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(self.name(&format!("{bucket}/d/{id}")))
            .send()
            .await
            .map_err(|e| self.backend_error("create upload", self.conn.error(e)))?;
        let state = UploadState {
            key: key.to_string(),
            initiated_ns: now_ns().to_string(),
            backend_upload: out.upload_id().unwrap_or_default().to_string(),
            meta,
        };
        self.put_sealed(&format!("{bucket}/u/{id}"), &state, Cond::Any)
            .await?;
        Ok(id)
    }

    async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload: &str,
        number: i32,
        mut body: ByteStream,
        stored_len: Option<u64>,
        finish: Finish,
    ) -> StoreResult<PartInfo> {
        let state = self.upload_state(bucket, key, upload).await?;
        let name = self.name(&format!("{bucket}/d/{upload}"));
        let tap = Tap::default();
        let (sdk_body, len) = match stored_len {
            Some(n) => (tap.wrap(body), n),
            None => {
                // No length announced (S3 itself requires one): gather a part of up to
                // 64 MiB in memory; a longer one is refused rather than held.
                let all = gather(&mut body, UNSIZED_PART_MAX + 1)
                    .await?
                    .unwrap_or_default();
                if all.len() > UNSIZED_PART_MAX {
                    return Err(StoreError::Body(std::io::Error::other(
                        "a part without Content-Length over 64 MiB",
                    )));
                }
                let n = all.len() as u64;
                (tap.wrap(once(all)), n)
            }
        };
        let out = self
            .conn
            .s3
            .upload_part()
            .bucket(&self.bucket)
            .key(&name)
            .upload_id(&state.backend_upload)
            .part_number(number)
            .content_length(i64::try_from(len).map_err(|e| internal("length", e))?)
            .body(sdk_body)
            .customize()
            .disable_payload_signing()
            .send()
            .await;
        let backend_etag = match out {
            Ok(out) => quote_free(out.e_tag()),
            Err(e) => {
                return Err(tap
                    .take_error()
                    .unwrap_or_else(|| match self.conn.error(e) {
                        e if e.status() == Some(404) => StoreError::NoSuchUpload,
                        e => self.backend_error("store part", e),
                    }))
            }
        };
        let digest = finish(tap.count())?;
        let info = PartInfo {
            number,
            size: digest.size,
            etag: digest.etag,
            modified_ns: now_ns(),
            stored: Some(tap.count()),
            checksum: digest.checksum,
        };
        let record = PartRecord {
            info: info.clone(),
            backend_etag,
        };
        self.put_sealed(
            &format!("{bucket}/p/{upload}/{number:05}"),
            &record,
            Cond::Any,
        )
        .await?;
        Ok(info)
    }

    async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload: &str,
    ) -> StoreResult<(ObjectMeta, Vec<PartInfo>)> {
        let state = self.upload_state(bucket, key, upload).await?;
        let parts = self.part_records(bucket, upload).await?;
        Ok((state.meta, parts.into_iter().map(|p| p.info).collect()))
    }

    async fn list_uploads(&self, bucket: &str) -> StoreResult<Vec<(String, String, i128)>> {
        self.bucket_info(bucket).await?;
        let names = self.list_all(&format!("{bucket}/u/")).await?;
        let states: Vec<(String, StoreResult<Option<UploadState>>)> =
            futures_util::stream::iter(names)
                .map(|(rel, _)| async move {
                    let id = rel.rsplit('/').next().unwrap_or_default().to_string();
                    (id, self.get_sealed::<UploadState>(&rel).await)
                })
                .buffered(LIST_PARALLEL)
                .collect()
                .await;
        let mut out = Vec::new();
        for (id, state) in states {
            if let Some(s) = state? {
                out.push((s.key, id, s.initiated_ns.parse().unwrap_or(0)));
            }
        }
        out.sort();
        Ok(out)
    }

    async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload: &str,
        parts: &[(i32, String)],
        checksum: Option<(String, String)>,
        rules: WriteRules,
    ) -> StoreResult<ObjectMeta> {
        let state = self.upload_state(bucket, key, upload).await?;
        let stored = self.part_records(bucket, upload).await?;
        let (chosen, etag) = s3_server::store::choose_parts(parts, stored.iter().map(|p| &p.info))?;
        let backend_etags: HashMap<i32, &str> = stored
            .iter()
            .map(|p| (p.info.number, p.backend_etag.as_str()))
            .collect();
        // Test the condition before the backend assembles the object (the upload stays
        // usable if it fails); the commit tests it again atomically.
        if let Some(check) = &rules.check {
            let current = self.read_record(bucket, key).await?.map(|(r, _)| r);
            check(current.as_ref().filter(|r| !r.delete_marker))?;
        }
        let rel = format!("{bucket}/d/{upload}");
        let completed: Vec<CompletedPart> = chosen
            .iter()
            .map(|p| {
                let backend = backend_etags.get(&p.number).copied().unwrap_or_default();
                CompletedPart::builder()
                    .part_number(p.number)
                    .e_tag(format!("\"{backend}\""))
                    .build()
            })
            .collect();
        self.conn
            .s3
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(self.name(&rel))
            .upload_id(&state.backend_upload)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| match self.conn.error(e) {
                e if e.status() == Some(404) => StoreError::NoSuchUpload,
                e if e.code() == Some("InvalidPart") => {
                    StoreError::InvalidPart("a part was uploaded again while completing".into())
                }
                e => self.backend_error("complete upload", e),
            })?;
        let mut meta = state.meta;
        meta.key = key.to_string();
        meta.size = chosen.iter().map(|p| p.size).sum();
        meta.etag = etag;
        meta.modified_ns = now_ns();
        meta.stored = chosen.iter().map(PartInfo::stored_size).collect();
        meta.parts = chosen;
        meta.upload_id = Some(upload.to_string());
        meta.checksum = checksum;
        meta.data = vec![format!("d/{upload}")];
        meta.inline_len = None;
        meta.version_id = (rules.versioning == Versioning::Enabled).then(versions::new_version_id);
        meta.delete_marker = false;
        meta.older.clear();
        let written = meta.clone();
        let mut apply = put_version(rules.check, meta);
        let committed = self.commit(bucket, key, true, &mut apply).await;
        self.forget_upload(bucket, upload).await;
        if let Err(e) = committed {
            let _ = self.delete_raw(&rel, None).await;
            return Err(e);
        }
        Ok(written)
    }

    async fn abort_multipart(&self, bucket: &str, key: &str, upload: &str) -> StoreResult<()> {
        let state = self.upload_state(bucket, key, upload).await?;
        let name = self.name(&format!("{bucket}/d/{upload}"));
        self.abort_backend_upload(&name, &state.backend_upload)
            .await?;
        self.forget_upload(bucket, upload).await;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<BackendConfig, String> {
        BackendConfig::from_url(url, "a".into(), Zeroizing::new("s".into()))
    }

    #[test]
    fn record_names_keep_byte_order_and_prefixes() {
        let keys = [
            "",
            "a",
            "a/",
            "a//b",
            "a/b",
            "ab",
            "b",
            "~",
            "\u{e9}t\u{e9}",
        ];
        let names: Vec<String> = keys.iter().map(|k| Gateway::record_name("bk", k)).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "hex names sort as their keys");
        for (k, n) in keys.iter().zip(&names) {
            assert_eq!(Gateway::key_of("bk", n).unwrap(), *k);
            assert!(n.starts_with(&format!("bk/r/{}", hex::encode("a"))) == k.starts_with('a'));
        }
        assert!(Gateway::key_of("bk", "bk/r/zz").is_err());
        assert!(Gateway::key_of("bk", "other/r/61").is_err());
    }

    #[test]
    fn backend_urls() {
        let c = parse("http://127.0.0.1:8333").unwrap();
        assert_eq!(
            (c.endpoint.as_str(), c.bucket.as_str(), c.prefix.as_str()),
            ("http://127.0.0.1:8333", "coffer", "")
        );
        let c = parse("https://s3.example.com/data-bucket/tenant/a/").unwrap();
        assert_eq!(
            (c.endpoint.as_str(), c.bucket.as_str(), c.prefix.as_str()),
            ("https://s3.example.com", "data-bucket", "tenant/a/")
        );
        for bad in [
            "ftp://x/b",
            "http:///bucket",
            "http://h/AB",
            "http://h/x",
            "http://u@h/bkt",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        // The secret never shows.
        let c = BackendConfig::from_url(
            "http://h/bkt",
            "AK".into(),
            Zeroizing::new("very-secret".into()),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("very-secret"));
    }
}
