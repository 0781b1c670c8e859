//! Storage backends: where buckets and objects live. The S3 layer above speaks only this
//! trait, so a backend can be a local directory ([`fs::FsStore`]) or, later, another
//! S3-compatible cluster.
//!
//! Object bodies always flow as streams; a backend never needs a whole object in memory.

mod commit;
pub mod fs;
mod journal;
pub mod meta;
pub mod versions;

use std::io;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;

pub use meta::{Encryption, ObjectMeta, PartInfo, Retention, SseKind};

/// A stream of body bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send + Sync + 'static>>;

/// Errors of a storage backend. Each maps to one S3 error code in `s3::errors`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No such bucket.
    #[error("bucket does not exist")]
    NoSuchBucket,
    /// The bucket exists (created by this owner).
    #[error("bucket already exists")]
    BucketAlreadyOwnedByYou,
    /// The bucket is not empty.
    #[error("bucket is not empty")]
    BucketNotEmpty,
    /// No such object.
    #[error("object does not exist")]
    NoSuchKey,
    /// The key exists, but not the version asked for.
    #[error("version does not exist")]
    NoSuchVersion,
    /// The version read or changed is a delete marker: the latest version of the key
    /// (`addressed` false: the key reads as absent) or the one named by ID (`addressed`:
    /// the method is not allowed on it).
    #[error("delete marker")]
    DeleteMarker {
        /// The marker's version ID (`None`: the null version).
        version_id: Option<String>,
        /// Named by version ID in the request.
        addressed: bool,
    },
    /// Object lock protects the version (retention or legal hold).
    #[error("object is protected by object lock")]
    Locked,
    /// No such multipart upload.
    #[error("multipart upload does not exist")]
    NoSuchUpload,
    /// A part named in a completion is missing or its ETag differs.
    #[error("invalid part: {0}")]
    InvalidPart(String),
    /// Parts of a completion are not in ascending order.
    #[error("parts are not in ascending order")]
    InvalidPartOrder,
    /// A non-last part is smaller than 5 MiB.
    #[error("part {0} is smaller than the minimum allowed size")]
    EntityTooSmall(i32),
    /// The body stream failed: the client's connection, or a check the API layer runs on
    /// the plaintext as it streams (its cause is kept for the API layer to map).
    #[error("request body: {0}")]
    Body(io::Error),
    /// A conditional write or delete found the object not as expected.
    #[error("precondition failed")]
    PreconditionFailed,
    /// The data directory's file system is full.
    #[error("no space left in the data directory: {0}")]
    StorageFull(String),
    /// The data directory's file system is read-only.
    #[error("the data directory is read-only: {0}")]
    ReadOnly(String),
    /// Another change to the same object won a race the backend settles (a shared
    /// backend's conditional write); the client may retry.
    #[error("conflicting concurrent change")]
    Conflict,
    /// The key is longer than the backend can store under its prefixes.
    #[error("key too long")]
    KeyTooLong,
    /// A backend service the store depends on does not answer; answered 503.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// Anything else (permissions, corrupt metadata); logged, answered 500.
    #[error("internal: {0}")]
    Internal(String),
}

impl StoreError {
    /// An I/O failure while doing `what`: a full or read-only disk keeps its own kind
    /// (clients get an answer that says so), anything else is internal.
    pub fn io(what: &str, e: &io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
                StoreError::StorageFull(format!("{what}: {e}"))
            }
            io::ErrorKind::ReadOnlyFilesystem => StoreError::ReadOnly(format!("{what}: {e}")),
            _ => StoreError::Internal(format!("{what}: {e}")),
        }
    }
}

impl From<io::Error> for StoreError {
    fn from(e: io::Error) -> Self {
        StoreError::io("I/O", &e)
    }
}

/// Result alias of the storage layer.
pub type StoreResult<T> = Result<T, StoreError>;

/// A bucket as listed.
#[derive(Debug, Clone)]
pub struct BucketInfo {
    /// Name.
    pub name: String,
    /// Creation time (Unix seconds).
    pub created: i64,
    /// Access key of the user who created it (`None`: the root user's).
    pub owner: Option<String>,
}

/// One entry of an object listing: one version of a key.
#[derive(Debug, Clone)]
pub struct ListEntry {
    /// Key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Quoted-less ETag.
    pub etag: String,
    /// Last modification (Unix nanoseconds).
    pub modified_ns: i128,
    /// Version ID (`None`: the null version).
    pub version_id: Option<String>,
    /// A delete marker.
    pub delete_marker: bool,
}

/// How a bucket's versioning treats a write or delete.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Versioning {
    /// Never enabled: one (null) version per key.
    #[default]
    Unversioned,
    /// Every write makes a new version; a delete adds a delete marker.
    Enabled,
    /// Writes replace the null version, which a delete turns into a delete marker.
    Suspended,
}

/// How a write is committed: the bucket's versioning and a condition on the key's
/// current version.
#[derive(Default)]
pub struct WriteRules {
    /// The bucket's versioning when the write started.
    pub versioning: Versioning,
    /// A condition on the current object (`If-Match` / `If-None-Match`), tested under
    /// the key's lock at commit time so that a concurrent write cannot slip in between.
    pub check: Option<WriteCheck>,
}

impl std::fmt::Debug for WriteRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteRules")
            .field("versioning", &self.versioning)
            .field("check", &self.check.is_some())
            .finish()
    }
}

/// What a delete did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    /// The version removed or the delete marker created (`None` with `versioned` false:
    /// an unversioned bucket's object; `None` otherwise: the null version).
    pub version_id: Option<String>,
    /// A delete marker was created, or the version removed was one.
    pub delete_marker: bool,
    /// The bucket has (or had) versioning: the version ID is reported.
    pub versioned: bool,
}

/// What the API layer learnt about a body once it has streamed through: the plaintext
/// size, the ETag to show and the additional checksum, if one was asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Digest {
    /// Plaintext size in bytes.
    pub size: u64,
    /// ETag without quotes.
    pub etag: String,
    /// (algorithm, base64 value) of an additional checksum.
    pub checksum: Option<(String, String)>,
}

/// Called by the backend once the whole body is stored (with the number of stored
/// bytes) and before the write is committed; an error aborts the write.
pub type Finish = Box<dyn FnOnce(u64) -> StoreResult<Digest> + Send + Sync>;

/// What the writer of an object supplies besides the body.
pub struct PutOptions {
    /// Metadata to store (content type, user metadata, tags, encryption, …).
    /// `modified_ns`, the stored sizes and data locations are filled in by the backend,
    /// `size`, `etag` and `checksum` from [`finish`](Self::finish).
    pub meta: ObjectMeta,
    /// Reports the body's digest once it has been stored.
    pub finish: Finish,
    /// Versioning and the write's condition.
    pub rules: WriteRules,
    /// The number of stored bytes the body will yield, when the request announced its
    /// length (a backend may stream with it instead of buffering); `None`: unknown.
    pub stored_len: Option<u64>,
}

impl std::fmt::Debug for PutOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutOptions")
            .field("meta", &self.meta)
            .field("rules", &self.rules)
            .field("stored_len", &self.stored_len)
            .finish_non_exhaustive()
    }
}

/// A condition on the current record of an object (`None`: absent) about to be
/// replaced; its error is returned to the client.
pub type WriteCheck = Box<dyn Fn(Option<&ObjectMeta>) -> StoreResult<()> + Send + Sync>;

/// A change to an object's record (an error leaves the record as it was).
pub type MetaUpdate = Box<dyn FnOnce(&mut ObjectMeta) -> StoreResult<()> + Send>;

/// A condition on the version a delete targets: the latest (when no version ID is given)
/// or the one named; `permanent` tells whether that version is about to be removed (not
/// only covered by a delete marker). Its error is returned to the client.
pub type DeleteCheck = Box<dyn Fn(&ObjectMeta, bool) -> StoreResult<()> + Send + Sync>;

/// Smallest part of a multipart object but the last.
pub const MIN_PART_SIZE: u64 = 5 << 20;

/// The parts a CompleteMultipartUpload names (number, ETag as the client sent it), picked
/// from the uploaded ones (`uploaded` by number), checked as S3 checks them: ascending
/// numbers, every part uploaded with that ETag, every part but the last at least
/// [`MIN_PART_SIZE`]. Returns the chosen parts, in order, and the object's ETag
/// (`<MD5 of the parts' MD5s>-<count>`).
pub fn choose_parts<'a>(
    wanted: &[(i32, String)],
    uploaded: impl Iterator<Item = &'a PartInfo>,
) -> StoreResult<(Vec<PartInfo>, String)> {
    use md5::Digest as _;
    if wanted.is_empty() {
        return Err(StoreError::InvalidPart("no parts given".into()));
    }
    if wanted.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(StoreError::InvalidPartOrder);
    }
    let by_number: std::collections::HashMap<i32, &PartInfo> =
        uploaded.map(|p| (p.number, p)).collect();
    let mut chosen = Vec::with_capacity(wanted.len());
    let mut md5s = Vec::with_capacity(16 * wanted.len());
    for (i, (number, etag)) in wanted.iter().enumerate() {
        let p = by_number
            .get(number)
            .ok_or_else(|| StoreError::InvalidPart(format!("part {number} was not uploaded")))?;
        if etag.trim_matches('"') != p.etag {
            return Err(StoreError::InvalidPart(format!(
                "part {number}: ETag does not match"
            )));
        }
        if i + 1 < wanted.len() && p.size < MIN_PART_SIZE {
            return Err(StoreError::EntityTooSmall(*number));
        }
        md5s.extend(
            hex::decode(&p.etag).map_err(|e| StoreError::Internal(format!("part ETag: {e}")))?,
        );
        chosen.push((*p).clone());
    }
    let etag = format!("{}-{}", hex::encode(md5::Md5::digest(&md5s)), chosen.len());
    Ok((chosen, etag))
}

/// A byte range, inclusive start, exclusive end.
pub type Span = std::ops::Range<u64>;

/// Storage of buckets and objects.
///
/// A backend keeps *stored bytes* and their lengths and knows nothing of their meaning:
/// hashing, length checks and encryption of what the client sent happen in the API layer,
/// on the plaintext, before the bytes reach the backend.
#[async_trait::async_trait]
pub trait ObjectStore: Send + Sync + std::fmt::Debug {
    /// Whether the store can serve requests (the readiness probe); a local directory
    /// always can.
    async fn ready(&self) -> StoreResult<()> {
        Ok(())
    }
    /// All buckets, sorted by name.
    async fn list_buckets(&self) -> StoreResult<Vec<BucketInfo>>;
    /// Creates a bucket owned by `owner` (an access key; `None` for the root user).
    async fn create_bucket(&self, bucket: &str, owner: Option<&str>) -> StoreResult<()>;
    /// The owner recorded at creation (`None`: the root user); asked on every request
    /// of a non-root user, so backends answer it from memory where they can.
    async fn bucket_owner(&self, bucket: &str) -> StoreResult<Option<String>>;
    /// Whether a bucket exists (and its creation time).
    async fn head_bucket(&self, bucket: &str) -> StoreResult<BucketInfo>;
    /// Deletes an empty bucket.
    async fn delete_bucket(&self, bucket: &str) -> StoreResult<()>;
    /// Reads a bucket setting (policy, encryption, …) stored as text; `None` if unset.
    async fn get_bucket_setting(&self, bucket: &str, name: &str) -> StoreResult<Option<String>>;
    /// Writes (`Some`) or removes (`None`) a bucket setting.
    async fn set_bucket_setting(
        &self,
        bucket: &str,
        name: &str,
        value: Option<&str>,
    ) -> StoreResult<()>;

    /// Stores an object; visible only once complete and durable. Returns its metadata.
    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: ByteStream,
        opts: PutOptions,
    ) -> StoreResult<ObjectMeta>;
    /// The metadata of an object's latest version, or of the version named (`"null"`:
    /// the null version). A delete marker is the error [`StoreError::DeleteMarker`].
    async fn head_object(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> StoreResult<ObjectMeta>;
    /// A version's metadata (as [`head_object`](Self::head_object)) and the stored bytes
    /// of `span` (whole object when `None`); spans count stored bytes, which are
    /// ciphertext for encrypted objects.
    async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        span: Option<Span>,
    ) -> StoreResult<(ObjectMeta, ByteStream)>;
    /// Rewrites the metadata of a version (the latest when `version` is `None`), not
    /// its data, with `update`, under the key's lock so a concurrent overwrite is neither
    /// undone nor mixed with stale metadata. Tags, SSE-C key rotation, object lock.
    /// Returns the new version's metadata.
    async fn update_meta(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        update: MetaUpdate,
    ) -> StoreResult<ObjectMeta>;
    /// Deletes as S3 does: without `version`, the object (unversioned), or by adding a
    /// delete marker (versioning enabled or suspended); with `version`, that version for
    /// good. Deleting a missing key or version succeeds. With `check`, the target is
    /// deleted only if `check` approves it (tested under the key's lock, so no write can
    /// slip in between).
    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        versioning: Versioning,
        check: Option<DeleteCheck>,
    ) -> StoreResult<Deleted>;
    /// The latest versions of keys after `after` (exclusive) starting with `prefix`, in
    /// order, at most `limit`; keys whose latest version is a delete marker are left out.
    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> StoreResult<Vec<ListEntry>>;
    /// Keys after `after` (exclusive) starting with `prefix`, in order, at most `limit`,
    /// each with all its versions, newest first.
    async fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> StoreResult<Vec<Vec<ListEntry>>>;

    /// The initial metadata of an upload in progress (encryption state included).
    async fn upload_meta(&self, bucket: &str, key: &str, upload: &str) -> StoreResult<ObjectMeta>;
    /// Starts a multipart upload; returns its ID.
    async fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        meta: ObjectMeta,
    ) -> StoreResult<String>;
    /// Stores one part; returns its info. `stored_len` as in [`PutOptions::stored_len`].
    #[allow(clippy::too_many_arguments)]
    async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload: &str,
        number: i32,
        body: ByteStream,
        stored_len: Option<u64>,
        finish: Finish,
    ) -> StoreResult<PartInfo>;
    /// The upload's parts, sorted by number, and its initial metadata.
    async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload: &str,
    ) -> StoreResult<(ObjectMeta, Vec<PartInfo>)>;
    /// Uploads in progress in a bucket: (key, upload ID, initiated ns), sorted by key.
    async fn list_uploads(&self, bucket: &str) -> StoreResult<Vec<(String, String, i128)>>;
    /// Assembles the object from the given parts (number, ETag), in order, with the
    /// object's additional checksum computed from the parts' (if any).
    async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload: &str,
        parts: &[(i32, String)],
        checksum: Option<(String, String)>,
        rules: WriteRules,
    ) -> StoreResult<ObjectMeta>;
    /// Discards an upload and its parts.
    async fn abort_multipart(&self, bucket: &str, key: &str, upload: &str) -> StoreResult<()>;
}
