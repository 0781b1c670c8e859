//! Storage backends: where buckets and objects live. The S3 layer above speaks only this
//! trait, so a backend can be a local directory ([`fs::FsStore`]) or, later, another
//! S3-compatible cluster.
//!
//! Object bodies always flow as streams; a backend never needs a whole object in memory.

pub mod fs;
pub mod meta;

use std::io;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;

pub use meta::{ObjectMeta, PartInfo};

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
    /// The body's MD5 differs from the Content-MD5 header.
    #[error("Content-MD5 does not match the body")]
    BadDigest,
    /// The body is shorter or longer than announced.
    #[error("body length does not match Content-Length")]
    IncompleteBody,
    /// The client's body stream failed.
    #[error("request body: {0}")]
    Body(String),
    /// A conditional write or delete found the object not as expected.
    #[error("precondition failed")]
    PreconditionFailed,
    /// Anything else (disk full, permissions, corrupt metadata); logged, answered 500.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<io::Error> for StoreError {
    fn from(e: io::Error) -> Self {
        StoreError::Internal(e.to_string())
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

/// One entry of an object listing.
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
}

/// What the writer of an object supplies besides the body.
#[derive(Default)]
pub struct PutOptions {
    /// Metadata to store (content type, user metadata, tags, …). `size`, `etag`,
    /// `modified_ns` and data locations are filled in by the backend.
    pub meta: ObjectMeta,
    /// Expected MD5 of the body (Content-MD5), if the client sent one.
    pub content_md5: Option<[u8; 16]>,
    /// Expected body length, if known.
    pub content_length: Option<u64>,
    /// An additional checksum to compute over the body (`CRC32`, `CRC32C`, `CRC64NVME`,
    /// `SHA1`, `SHA256`) and store, with the value the client sent if it sent one
    /// (a mismatch is `BadDigest` and nothing is stored).
    pub checksum: Option<(String, Option<String>)>,
    /// A condition on the current object (`If-Match` / `If-None-Match`), tested under
    /// the key's lock at commit time so that a concurrent write cannot slip in between.
    pub check: Option<WriteCheck>,
}

impl std::fmt::Debug for PutOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutOptions")
            .field("meta", &self.meta)
            .field("content_length", &self.content_length)
            .field("check", &self.check.is_some())
            .finish_non_exhaustive()
    }
}

/// A condition on the current record of an object (`None`: absent) about to be
/// replaced; its error is returned to the client.
pub type WriteCheck = Box<dyn Fn(Option<&ObjectMeta>) -> StoreResult<()> + Send + Sync>;

/// A condition on the current record of an object about to be deleted.
pub type DeleteCheck = Box<dyn Fn(&ObjectMeta) -> bool + Send + Sync>;

/// A byte range, inclusive start, exclusive end.
pub type Span = std::ops::Range<u64>;

/// Storage of buckets and objects.
#[async_trait::async_trait]
pub trait ObjectStore: Send + Sync + std::fmt::Debug {
    /// All buckets, sorted by name.
    async fn list_buckets(&self) -> StoreResult<Vec<BucketInfo>>;
    /// Creates a bucket owned by `owner` (an access key; `None` for the root user).
    async fn create_bucket(&self, bucket: &str, owner: Option<&str>) -> StoreResult<()>;
    /// The owner recorded at creation (`None`: the root user), without I/O.
    fn bucket_owner(&self, bucket: &str) -> StoreResult<Option<String>>;
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
    /// An object's metadata.
    async fn head_object(&self, bucket: &str, key: &str) -> StoreResult<ObjectMeta>;
    /// An object's metadata and the bytes of `span` (whole object when `None`).
    async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        span: Option<Span>,
    ) -> StoreResult<(ObjectMeta, ByteStream)>;
    /// Replaces an object's tags, reading and writing its record under the key's lock so a
    /// concurrent overwrite is neither undone nor mixed with stale metadata.
    async fn set_tags(
        &self,
        bucket: &str,
        key: &str,
        tags: Vec<(String, String)>,
    ) -> StoreResult<()>;
    /// Deletes an object; deleting a missing key succeeds. With `check`, the object is
    /// deleted only if `check` approves its current record (tested under the key's lock,
    /// so no write can slip in between); otherwise `PreconditionFailed`.
    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        check: Option<DeleteCheck>,
    ) -> StoreResult<()>;
    /// Keys after `after` (exclusive) starting with `prefix`, in order, at most `limit`.
    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> StoreResult<Vec<ListEntry>>;

    /// Starts a multipart upload; returns its ID.
    async fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        meta: ObjectMeta,
    ) -> StoreResult<String>;
    /// Stores one part; returns its info.
    async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload: &str,
        number: i32,
        body: ByteStream,
        opts: PutOptions,
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
    /// Assembles the object from the given parts (number, ETag), in order.
    async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload: &str,
        parts: &[(i32, String)],
        check: Option<WriteCheck>,
    ) -> StoreResult<ObjectMeta>;
    /// Discards an upload and its parts.
    async fn abort_multipart(&self, bucket: &str, key: &str, upload: &str) -> StoreResult<()>;
}
