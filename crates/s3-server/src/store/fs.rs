//! The filesystem backend: buckets and objects in one directory tree.
//!
//! ```text
//! DIR/
//!   .coffer.sys/tmp/                 temporary files (removed at start-up)
//!   .coffer.sys/multipart/<upload>/  upload.json, part-<n>.data, part-<n>.json
//!   <bucket>/bucket.json             creation time
//!   <bucket>/settings/<name>         bucket settings (policy, encryption, …)
//!   <bucket>/objects/<h0h1>/<h>.meta          metadata record (the commit point);
//!                                             a small object's bytes follow it inline
//!   <bucket>/objects/<h0h1>/<h>.<id>.data     data file(s) named by the record
//! ```
//!
//! `h` is the hex SHA-256 of the key, so every valid S3 key (any UTF-8 up to 1024 bytes,
//! `..` segments, keys that are prefixes of others) maps to a fixed-length file name
//! inside the bucket and no key can name a path outside DIR. Bucket names are checked by
//! the S3 layer (lower-case letters, digits, `-` and `.`, never starting with `.`).
//!
//! Writes are crash-safe and acknowledged only once durable. An unencrypted body of up to
//! [`INLINE_MAX`] bytes stays in memory and is written inside its record; a larger or
//! encrypted one streams to a temporary file on a blocking thread, which syncs it. The
//! record is then committed by the group-commit thread ([`super::commit`]): data files
//! moved into place, the batch's new records appended to the journal with one
//! `fdatasync` (the commit point), records written in place, and only then the answer;
//! the old data files are removed last. A crash leaves the old object or the new
//! one; data files that no record names are removed at start-up. Listing uses an
//! in-memory index per bucket, built at start-up from the records, so it never opens
//! object bodies.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{self, Seek};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use super::commit::{Apply, Committed, Committer, RecordLocks};
use super::meta::{InlineData, ObjectMeta, PartInfo, FORMAT};
use super::versions::{self, Change};
use super::{
    BucketInfo, ByteStream, DeleteCheck, Deleted, Finish, ListEntry, MetaUpdate, ObjectStore,
    PutOptions, Span, StoreError, StoreResult, Versioning, WriteRules,
};

const SYS: &str = ".coffer.sys";
const LOCK_STRIPES: usize = 64;
const READ_CHUNK: usize = 256 << 10;
/// Bodies of up to this many stored bytes are kept inside their record file.
pub const INLINE_MAX: usize = 128 << 10;
/// The same in a bucket with versioning, where the record also carries the inline
/// bytes of older versions and is rewritten with every new version.
pub const VERSIONED_INLINE_MAX: usize = 16 << 10;
/// Chunks gathered into one `writev`, by bytes and by count (below `IOV_MAX`).
const WRITE_BATCH: usize = 1 << 20;
const WRITE_BATCH_CHUNKS: usize = 512;
/// The writer syncs early once it has caught up and this much is unsynced.
const SYNC_WHEN_IDLE: u64 = 512 << 10;
/// Body chunks in flight between the request and its writer thread.
const WRITE_QUEUE: usize = 16;

/// Objects of one bucket, by key, for listing.
#[derive(Debug, Default)]
struct BucketIndex {
    /// Every key's versions, newest first.
    keys: RwLock<BTreeMap<String, Vec<ListEntry>>>,
    /// Creator's access key (`None`: the root user); fixed at creation.
    owner: Option<String>,
    /// Bucket settings read so far (`None`: unset), so that the policy and CORS checks of
    /// every request do not read files on the async threads.
    settings: RwLock<HashMap<String, Option<String>>>,
    /// Serializes setting writes and cache fills, so the cache never holds a stale value.
    settings_lock: tokio::sync::Mutex<()>,
}

/// The filesystem backend.
#[derive(Debug)]
pub struct FsStore {
    root: PathBuf,
    indexes: RwLock<HashMap<String, Arc<BucketIndex>>>,
    locks: Vec<tokio::sync::Mutex<()>>,
    /// Readers of records take these: the committer rewrites records in place.
    records: Arc<RecordLocks>,
    committer: Committer,
}

pub(super) fn internal<E: std::fmt::Display + 'static>(what: &str, e: E) -> StoreError {
    match (&e as &dyn std::any::Any).downcast_ref::<std::io::Error>() {
        Some(io) => StoreError::io(what, io),
        None => StoreError::Internal(format!("{what}: {e}")),
    }
}

fn now_ns() -> i128 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos()
}

pub(super) fn random_id() -> String {
    let mut b = [0u8; 12];
    let _ = aws_lc_rs::rand::fill(&mut b);
    hex::encode(b)
}

fn key_hash(key: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes()).as_ref())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Runs filesystem work that may block (fsync, directory walks) off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| internal("filesystem task", e))?
}

/// Writes `bytes` to `path` atomically: temp file in `tmp`, fsync, rename, fsync dir.
fn write_atomic(tmp_dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let tmp = tmp_dir.join(random_id());
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

impl FsStore {
    /// Opens (creating if needed) the store in `root`, removes leftovers of interrupted
    /// writes and builds the listing indexes.
    pub fn open(root: impl Into<PathBuf>) -> StoreResult<Self> {
        let root = root.into();
        std::fs::create_dir_all(root.join(SYS).join("tmp"))
            .map_err(|e| internal("create data directory", e))?;
        std::fs::create_dir_all(root.join(SYS).join("multipart"))
            .map_err(|e| internal("create data directory", e))?;
        if let Ok(entries) = std::fs::read_dir(root.join(SYS).join("tmp")) {
            for e in entries.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let records = Arc::new(RecordLocks::new());
        let (committer, replayed) = Committer::start(
            &root,
            &root.join(SYS).join("journal"),
            root.join(SYS).join("tmp"),
            records.clone(),
        )
        .map_err(|e| internal("open the commit journal", e))?;
        if replayed > 0 {
            tracing::info!(frames = replayed, "commit journal replayed");
        }
        let store = Self {
            root,
            indexes: RwLock::new(HashMap::new()),
            locks: (0..LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            records,
            committer,
        };
        let buckets = store.bucket_names()?;
        let mut indexes = HashMap::new();
        for b in buckets {
            indexes.insert(b.clone(), Arc::new(store.load_index(&b)?));
        }
        if let Ok(mut i) = store.indexes.write() {
            *i = indexes;
        }
        Ok(store)
    }

    /// Reads a record (whole, even while the committer rewrites it).
    fn read_meta(&self, path: &Path) -> StoreResult<ObjectMeta> {
        decode_meta(self.records.read(path))
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join(SYS).join("tmp")
    }

    fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.join(bucket)
    }

    fn object_dir(&self, bucket: &str, hash: &str) -> PathBuf {
        self.bucket_dir(bucket).join("objects").join(&hash[..2])
    }

    fn meta_path(&self, bucket: &str, hash: &str) -> PathBuf {
        self.object_dir(bucket, hash).join(format!("{hash}.meta"))
    }

    fn upload_dir(&self, upload: &str) -> StoreResult<PathBuf> {
        if upload.is_empty() || !upload.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::NoSuchUpload);
        }
        Ok(self.root.join(SYS).join("multipart").join(upload))
    }

    fn lock_for(&self, hash: &str) -> &tokio::sync::Mutex<()> {
        let n = usize::from_str_radix(&hash[..4], 16).unwrap_or(0) % LOCK_STRIPES;
        &self.locks[n]
    }

    fn bucket_names(&self) -> StoreResult<Vec<String>> {
        let mut names = Vec::new();
        let entries =
            std::fs::read_dir(&self.root).map_err(|e| internal("read data directory", e))?;
        for e in entries.flatten() {
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            if !name.starts_with('.') && e.path().join("bucket.json").is_file() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Reads every record of a bucket, removing data files no record names.
    fn load_index(&self, bucket: &str) -> StoreResult<BucketIndex> {
        let mut keys = BTreeMap::new();
        let owner = std::fs::read(self.bucket_dir(bucket).join("bucket.json"))
            .ok()
            .and_then(|t| serde_json::from_slice::<serde_json::Value>(&t).ok())
            .and_then(|v| v["owner"].as_str().map(str::to_string));
        let objects = self.bucket_dir(bucket).join("objects");
        let Ok(shards) = std::fs::read_dir(&objects) else {
            return Ok(BucketIndex {
                owner,
                ..Default::default()
            });
        };
        for shard in shards.flatten() {
            let dir = shard.path();
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut referenced = std::collections::HashSet::new();
            let mut data_files = Vec::new();
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with(".meta") {
                    let meta = read_meta(&e.path())?;
                    for v in std::iter::once(&meta).chain(meta.older.iter()) {
                        referenced.extend(v.data.iter().cloned());
                    }
                    keys.insert(meta.key.clone(), entries_of(&meta));
                } else {
                    data_files.push(name);
                }
            }
            for f in data_files {
                if !referenced.contains(&f) {
                    let _ = std::fs::remove_file(dir.join(f));
                }
            }
        }
        Ok(BucketIndex {
            keys: RwLock::new(keys),
            owner,
            ..Default::default()
        })
    }

    fn index(&self, bucket: &str) -> StoreResult<Arc<BucketIndex>> {
        self.indexes
            .read()
            .map_err(|_| internal("index", "poisoned"))?
            .get(bucket)
            .cloned()
            .ok_or(StoreError::NoSuchBucket)
    }

    /// Receives `body`: in memory if it ends within `inline_max` bytes, else into a new
    /// temporary file written and synced by a blocking thread, in parallel with other
    /// writers.
    async fn receive(&self, mut body: ByteStream, inline_max: usize) -> StoreResult<Received> {
        let mut held: Vec<Bytes> = Vec::new();
        let mut size = 0u64;
        loop {
            match body.next().await {
                None if inline_max > 0 => return Ok(Received::Inline(concat(held))),
                None => break,
                Some(chunk) => {
                    let chunk = chunk.map_err(StoreError::Body)?;
                    size += chunk.len() as u64;
                    held.push(chunk);
                    if size > inline_max as u64 {
                        break;
                    }
                }
            }
        }
        let tmp = self.tmp_dir().join(random_id());
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(WRITE_QUEUE);
        let path = tmp.clone();
        let writing = self.committer.writing();
        let writer = tokio::task::spawn_blocking(move || {
            let written = write_file(&path, rx);
            drop(writing);
            written
        });
        let mut failed: Option<StoreError> = None;
        let mut pending = held.into_iter();
        loop {
            let chunk = match pending.next() {
                Some(c) => c,
                None => match body.next().await {
                    Some(Ok(c)) => {
                        size += c.len() as u64;
                        c
                    }
                    Some(Err(e)) => {
                        failed = Some(StoreError::Body(e));
                        break;
                    }
                    None => break,
                },
            };
            if tx.send(chunk).await.is_err() {
                // The writer stopped: its error is the one to report.
                break;
            }
        }
        drop(tx);
        let written = writer.await.map_err(|e| internal("write task", e));
        let result = match (failed, written) {
            (Some(e), _) => Err(e),
            (None, Err(e)) => Err(e),
            (None, Ok(Err(e))) => Err(internal("write data", e)),
            (None, Ok(Ok(n))) if n != size => Err(internal("write data", "short write")),
            (None, Ok(Ok(_))) => Ok(Received::File {
                path: tmp.clone(),
                size,
            }),
        };
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    /// Commits the change `apply` makes to `key`'s record, with `files` (received data
    /// files, named in what `apply` writes) moved into place, through the group-commit
    /// thread; returns once durable, with the listing index updated.
    async fn commit(
        &self,
        bucket: &str,
        key: &str,
        apply: Apply,
        files: Vec<(PathBuf, String)>,
    ) -> StoreResult<Committed> {
        let index = self.index(bucket)?;
        let hash = key_hash(key);
        let dir = self.object_dir(bucket, &hash);
        let _guard = self.lock_for(&hash).lock().await;
        let committed = self
            .committer
            .commit(self.meta_path(bucket, &hash), dir, apply, files)
            .await?;
        if let Ok(mut keys) = index.keys.write() {
            match &committed.new {
                Some(record) => {
                    keys.insert(key.to_string(), entries_of(record));
                }
                None => {
                    keys.remove(key);
                }
            }
        }
        Ok(committed)
    }

    /// Commits `meta` (its data files received at `files`) as a new version of its key.
    async fn commit_version(
        &self,
        bucket: &str,
        mut meta: ObjectMeta,
        files: Vec<PathBuf>,
        rules: WriteRules,
    ) -> StoreResult<ObjectMeta> {
        let hash = key_hash(&meta.key);
        let id = random_id();
        meta.format = FORMAT;
        meta.data = (0..files.len())
            .map(|i| format!("{hash}.{id}.{i}.data"))
            .collect();
        meta.version_id = (rules.versioning == Versioning::Enabled).then(versions::new_version_id);
        meta.delete_marker = false;
        meta.older.clear();
        let moves = files.into_iter().zip(meta.data.iter().cloned()).collect();
        let key = meta.key.clone();
        let mut written = meta.clone();
        written.inline = InlineData(None);
        let check = rules.check;
        let apply: Apply = Box::new(move |old: Option<ObjectMeta>| {
            if let Some(check) = &check {
                let current = old.as_ref().filter(|r| !r.delete_marker);
                check(current)?;
            }
            Ok(Change::Write(Box::new(versions::put(old, meta))))
        });
        self.commit(bucket, &key, apply, moves).await?;
        Ok(written)
    }

    /// What `pick` takes of each key's versions (newest first), for the keys after
    /// `after` (exclusive) that start with `prefix`, in order, at most `limit`.
    fn keys_after<T>(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit: usize,
        pick: impl Fn(&[ListEntry]) -> Option<T>,
    ) -> StoreResult<Vec<T>> {
        let index = self.index(bucket)?;
        let keys = index
            .keys
            .read()
            .map_err(|_| internal("index", "poisoned"))?;
        let start = if after.is_empty() || after < prefix {
            prefix
        } else {
            after
        };
        Ok(keys
            .range::<str, _>((std::ops::Bound::Included(start), std::ops::Bound::Unbounded))
            .filter(|(k, _)| k.as_str() != after || after.is_empty())
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter_map(|(_, versions)| pick(versions))
            .take(limit)
            .collect())
    }

    /// Batches and records committed so far by the group-commit thread.
    pub fn commit_stats(&self) -> (u64, u64) {
        self.committer.stats()
    }
}

/// Joins held chunks into one buffer (no copy for a single chunk).
fn concat(mut chunks: Vec<Bytes>) -> Bytes {
    match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => {
            let mut out = bytes::BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
            for c in chunks {
                out.extend_from_slice(&c);
            }
            out.freeze()
        }
    }
}

/// The blocking side of [`FsStore::receive`]: writes the chunks it is sent to `path` in
/// pieces of [`WRITE_BATCH`] (one `writev` each: large writes let the page cache keep the
/// file in large folios, which makes every later read of it cheaper), and syncs the file.
/// It also syncs early whenever it has caught up with the request and
/// [`SYNC_WHEN_IDLE`] bytes are unsynced, so the disk works while the request still
/// receives or hashes, and the last sync is short. Returns the bytes written.
fn write_file(path: &Path, mut rx: tokio::sync::mpsc::Receiver<Bytes>) -> io::Result<u64> {
    let mut f = std::fs::File::create(path)?;
    let (mut written, mut unsynced) = (0u64, 0u64);
    let mut synced_once = false;
    let mut batch: Vec<Bytes> = Vec::with_capacity(WRITE_BATCH_CHUNKS);
    loop {
        let mut len = 0usize;
        let mut ended = false;
        while len < WRITE_BATCH && batch.len() < WRITE_BATCH_CHUNKS {
            match rx.blocking_recv() {
                Some(c) => {
                    len += c.len();
                    batch.push(c);
                }
                None => {
                    ended = true;
                    break;
                }
            }
        }
        if !batch.is_empty() {
            write_all_chunks(&mut f, &batch)?;
            batch.clear();
            written += len as u64;
            unsynced += len as u64;
        }
        if ended {
            break;
        }
        if unsynced >= SYNC_WHEN_IDLE && rx.is_empty() {
            f.sync_data()?;
            (unsynced, synced_once) = (0, true);
        }
    }
    if unsynced > 0 || !synced_once {
        f.sync_data()?;
    }
    Ok(written)
}

fn write_all_chunks(f: &mut std::fs::File, chunks: &[Bytes]) -> io::Result<()> {
    use std::io::{IoSlice, Write};
    let mut slices: Vec<IoSlice<'_>> = chunks.iter().map(|c| IoSlice::new(c)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        let n = f.write_vectored(rest)?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut rest, n);
    }
    Ok(())
}

/// A body received: in memory, or in a temporary file.
enum Received {
    Inline(Bytes),
    File {
        path: PathBuf,
        /// Stored bytes.
        size: u64,
    },
}

/// The listing entries of a record's versions, newest first.
pub fn entries_of(record: &ObjectMeta) -> Vec<ListEntry> {
    std::iter::once(record)
        .chain(record.older.iter())
        .map(|v| ListEntry {
            key: record.key.clone(),
            size: v.size,
            etag: v.etag.clone(),
            modified_ns: v.modified_ns,
            version_id: v.version_id.clone(),
            delete_marker: v.delete_marker,
        })
        .collect()
}

/// The record of `bucket/key` in the data directory `root` (its latest version, or the
/// version named) and the directory holding its data files, read without opening the
/// store (offline recovery).
pub fn read_record(
    root: &Path,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> StoreResult<(ObjectMeta, PathBuf)> {
    if bucket.is_empty() || bucket.starts_with('.') || bucket.contains('/') {
        return Err(StoreError::NoSuchBucket);
    }
    if !root.join(bucket).join("bucket.json").is_file() {
        return Err(StoreError::NoSuchBucket);
    }
    let hash = key_hash(key);
    let dir = root.join(bucket).join("objects").join(&hash[..2]);
    let meta = versions::select(read_meta(&dir.join(format!("{hash}.meta")))?, version)?;
    Ok((meta, dir))
}

/// The stored bytes of a record read with [`read_record`], streamed from its data files.
pub fn data_stream(dir: &Path, meta: &ObjectMeta) -> ByteStream {
    stored_stream(dir, meta, &(0..meta.stored_size()))
}

/// `span` of the stored bytes of `meta`: from the record itself when inline, else a
/// stream over its data files (opened on first poll).
fn stored_stream(dir: &Path, meta: &ObjectMeta, span: &Span) -> ByteStream {
    if let Some(data) = &meta.inline.0 {
        let end = usize::try_from(span.end)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let start = usize::try_from(span.start).unwrap_or(usize::MAX).min(end);
        let chunk = data.slice(start..end);
        return Box::pin(futures_util::stream::iter(
            (!chunk.is_empty()).then_some(Ok(chunk)),
        ));
    }
    Box::pin(SegmentStream::new(segments(dir, meta, span)))
}

/// Reads a record while no server can be writing it (start-up, offline recovery).
fn read_meta(path: &Path) -> StoreResult<ObjectMeta> {
    decode_meta(std::fs::read(path))
}

fn decode_meta(read: io::Result<Vec<u8>>) -> StoreResult<ObjectMeta> {
    let bytes = read.map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => StoreError::NoSuchKey,
        _ => internal("read metadata", e),
    })?;
    let meta =
        ObjectMeta::decode(bytes.into()).map_err(|e| internal("corrupt metadata record", e))?;
    if meta.format > FORMAT {
        return Err(internal(
            "metadata record",
            format!("format {} is newer than this server", meta.format),
        ));
    }
    Ok(meta)
}

/// Bytes of consecutive data files, opened one after the other.
///
/// Read through `tokio::fs::File` in chunks of [`READ_CHUNK`]. A variant reading with
/// `pread` on the blocking pool straight into the response buffers, one chunk ahead, was
/// measured against this one (same run, 2 cores): 1.2-1.3x for one client, but 0.58-0.86x
/// with 16 (fresh 512 KiB buffers per chunk), and worse at 128 KiB chunks; not kept.
struct SegmentStream {
    segments: VecDeque<(PathBuf, u64, u64)>,
    current: Option<ReaderStream<tokio::io::Take<tokio::fs::File>>>,
}

impl SegmentStream {
    fn new(segments: VecDeque<(PathBuf, u64, u64)>) -> Self {
        Self {
            segments,
            current: None,
        }
    }

    fn open_next(&mut self) -> io::Result<bool> {
        let Some((path, offset, len)) = self.segments.pop_front() else {
            return Ok(false);
        };
        let mut f = std::fs::File::open(&path)?;
        f.seek(io::SeekFrom::Start(offset))?;
        let f = tokio::fs::File::from_std(f).take(len);
        self.current = Some(ReaderStream::with_capacity(f, READ_CHUNK));
        Ok(true)
    }
}

impl Stream for SegmentStream {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(cur) = self.current.as_mut() {
                match cur.poll_next_unpin(cx) {
                    Poll::Ready(None) => self.current = None,
                    other => return other,
                }
            }
            match self.open_next() {
                Ok(true) => {}
                Ok(false) => return Poll::Ready(None),
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }
}

/// The data-file segments covering `span` of an object.
fn segments(dir: &Path, meta: &ObjectMeta, span: &Span) -> VecDeque<(PathBuf, u64, u64)> {
    let sizes = meta.stored_sizes();
    let mut out = VecDeque::new();
    let mut start = 0u64;
    for (file, size) in meta.data.iter().zip(sizes) {
        let end = start + size;
        let (lo, hi) = (span.start.max(start), span.end.min(end));
        if lo < hi {
            out.push_back((dir.join(file), lo - start, hi - lo));
        }
        start = end;
    }
    out
}

#[async_trait::async_trait]
impl ObjectStore for FsStore {
    async fn list_buckets(&self) -> StoreResult<Vec<BucketInfo>> {
        let mut out = Vec::new();
        for name in self.bucket_names()? {
            // A bucket deleted since the names were read is simply not listed.
            match self.head_bucket(&name).await {
                Ok(info) => out.push(info),
                Err(StoreError::NoSuchBucket) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn create_bucket(&self, bucket: &str, owner: Option<&str>) -> StoreResult<()> {
        let dir = self.bucket_dir(bucket);
        let mut indexes = self
            .indexes
            .write()
            .map_err(|_| internal("index", "poisoned"))?;
        if indexes.contains_key(bucket) {
            return Err(StoreError::BucketAlreadyOwnedByYou);
        }
        std::fs::create_dir_all(dir.join("objects")).map_err(|e| internal("create bucket", e))?;
        let mut record = serde_json::json!({ "format": FORMAT, "created": time::OffsetDateTime::now_utc().unix_timestamp() });
        if let Some(owner) = owner {
            record["owner"] = owner.into();
        }
        write_atomic(
            &self.tmp_dir(),
            &dir.join("bucket.json"),
            record.to_string().as_bytes(),
        )
        .map_err(|e| internal("create bucket", e))?;
        indexes.insert(
            bucket.to_string(),
            Arc::new(BucketIndex {
                owner: owner.map(str::to_string),
                ..Default::default()
            }),
        );
        Ok(())
    }

    async fn bucket_owner(&self, bucket: &str) -> StoreResult<Option<String>> {
        Ok(self.index(bucket)?.owner.clone())
    }

    async fn head_bucket(&self, bucket: &str) -> StoreResult<BucketInfo> {
        let index = self.index(bucket)?;
        let text = std::fs::read(self.bucket_dir(bucket).join("bucket.json"))
            .map_err(|_| StoreError::NoSuchBucket)?;
        let v: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| internal("bucket record", e))?;
        Ok(BucketInfo {
            name: bucket.to_string(),
            created: v["created"].as_i64().unwrap_or(0),
            owner: index.owner.clone(),
        })
    }

    async fn delete_bucket(&self, bucket: &str) -> StoreResult<()> {
        let index = self.index(bucket)?;
        if index.keys.read().map(|k| !k.is_empty()).unwrap_or(true) {
            return Err(StoreError::BucketNotEmpty);
        }
        if let Ok(mut i) = self.indexes.write() {
            i.remove(bucket);
        }
        // Remove the record first so a crash mid-way leaves no half bucket.
        let dir = self.bucket_dir(bucket);
        blocking(move || {
            std::fs::remove_file(dir.join("bucket.json"))
                .map_err(|e| internal("delete bucket", e))?;
            std::fs::remove_dir_all(&dir).map_err(|e| internal("delete bucket", e))
        })
        .await
    }

    async fn get_bucket_setting(&self, bucket: &str, name: &str) -> StoreResult<Option<String>> {
        let index = self.index(bucket)?;
        let cached = |index: &BucketIndex| {
            index
                .settings
                .read()
                .ok()
                .and_then(|m| m.get(name).cloned())
        };
        if let Some(v) = cached(&index) {
            return Ok(v);
        }
        let _guard = index.settings_lock.lock().await;
        if let Some(v) = cached(&index) {
            return Ok(v);
        }
        let path = self.bucket_dir(bucket).join("settings").join(name);
        let value = blocking(move || match std::fs::read_to_string(path) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(internal("read bucket setting", e)),
        })
        .await?;
        if let Ok(mut m) = index.settings.write() {
            m.insert(name.to_string(), value.clone());
        }
        Ok(value)
    }

    async fn set_bucket_setting(
        &self,
        bucket: &str,
        name: &str,
        value: Option<&str>,
    ) -> StoreResult<()> {
        let index = self.index(bucket)?;
        let _guard = index.settings_lock.lock().await;
        let dir = self.bucket_dir(bucket).join("settings");
        let path = dir.join(name);
        let tmp_dir = self.tmp_dir();
        let value = value.map(str::to_string);
        let cached = value.clone();
        // Forget the cached value first: if the write fails half-way, the next read goes
        // to the file again.
        if let Ok(mut m) = index.settings.write() {
            m.remove(name);
        }
        blocking(move || match value {
            Some(v) => {
                std::fs::create_dir_all(&dir).map_err(|e| internal("bucket setting", e))?;
                write_atomic(&tmp_dir, &path, v.as_bytes())
                    .map_err(|e| internal("write bucket setting", e))
            }
            None => match std::fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(internal("remove bucket setting", e)),
            },
        })
        .await?;
        if let Ok(mut m) = index.settings.write() {
            m.insert(name.to_string(), cached);
        }
        Ok(())
    }

    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: ByteStream,
        opts: PutOptions,
    ) -> StoreResult<ObjectMeta> {
        self.index(bucket)?;
        // Encrypted objects keep the layout of docs/FORMAT.md's recovery steps (a data
        // file of DARE packages beside a JSON record) whatever their size.
        let inline_max = if opts.meta.encryption.is_some() {
            0
        } else if opts.rules.versioning == Versioning::Unversioned {
            INLINE_MAX
        } else {
            VERSIONED_INLINE_MAX
        };
        let received = self.receive(body, inline_max).await?;
        let (size, files, inline) = match received {
            Received::Inline(data) => (data.len() as u64, vec![], Some(data)),
            Received::File { path, size } => (size, vec![path], None),
        };
        let mut meta = opts.meta;
        let tmp = files.clone();
        let result = match (opts.finish)(size) {
            Ok(digest) => {
                meta.checksum = digest.checksum;
                meta.key = key.to_string();
                meta.size = digest.size;
                meta.etag = digest.etag;
                meta.stored = vec![size];
                meta.modified_ns = now_ns();
                meta.parts.clear();
                meta.inline_len = inline.as_ref().map(|d| d.len() as u64);
                meta.inline = InlineData(inline);
                self.commit_version(bucket, meta, files, opts.rules).await
            }
            Err(e) => Err(e),
        };
        if result.is_err() {
            for f in tmp {
                let _ = std::fs::remove_file(f);
            }
        }
        result
    }

    async fn head_object(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> StoreResult<ObjectMeta> {
        self.index(bucket)?;
        let mut meta = versions::select(
            self.read_meta(&self.meta_path(bucket, &key_hash(key)))?,
            version,
        )?;
        meta.inline = InlineData(None);
        Ok(meta)
    }

    async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        span: Option<Span>,
    ) -> StoreResult<(ObjectMeta, ByteStream)> {
        self.index(bucket)?;
        let hash = key_hash(key);
        let dir = self.object_dir(bucket, &hash);
        // A concurrent overwrite may remove the data files between reading the record and
        // opening them: read the record again then.
        for _ in 0..5 {
            let meta = versions::select(self.read_meta(&self.meta_path(bucket, &hash))?, version)?;
            let span = span.clone().unwrap_or(0..meta.stored_size());
            if meta.inline.0.is_some() {
                let stream = stored_stream(&dir, &meta, &span);
                return Ok((meta, stream));
            }
            let mut stream = SegmentStream::new(segments(&dir, &meta, &span));
            match stream.open_next() {
                Ok(_) => return Ok((meta, Box::pin(stream))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(internal("open data", e)),
            }
        }
        Err(internal(
            "open data",
            "object changed too often while opening it",
        ))
    }

    async fn update_meta(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        update: MetaUpdate,
    ) -> StoreResult<ObjectMeta> {
        let wanted = version.map(str::to_string);
        let apply: Apply = Box::new(move |old: Option<ObjectMeta>| {
            let old = old.ok_or(StoreError::NoSuchKey)?;
            let (record, _) = versions::update(old, wanted.as_deref(), update)?;
            Ok(Change::Write(Box::new(record)))
        });
        let committed = self.commit(bucket, key, apply, Vec::new()).await?;
        let record = committed.new.ok_or(StoreError::NoSuchKey)?;
        let mut meta = versions::select(record, version)?;
        meta.inline = InlineData(None);
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
        self.index(bucket)?;
        let outcome = Arc::new(std::sync::Mutex::new(Deleted::default()));
        let slot = outcome.clone();
        let wanted = version.map(str::to_string);
        let marker = ObjectMeta {
            format: FORMAT,
            key: key.to_string(),
            modified_ns: now_ns(),
            version_id: (versioning == Versioning::Enabled).then(versions::new_version_id),
            delete_marker: true,
            ..Default::default()
        };
        let apply: Apply = Box::new(move |old: Option<ObjectMeta>| {
            let (change, deleted) =
                versions::delete(old, wanted.as_deref(), versioning, check.as_ref(), marker)?;
            if let Ok(mut slot) = slot.lock() {
                *slot = deleted;
            }
            Ok(change)
        });
        self.commit(bucket, key, apply, Vec::new()).await?;
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
        self.keys_after(bucket, prefix, after, limit, |versions| {
            versions.first().filter(|v| !v.delete_marker).cloned()
        })
    }

    async fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> StoreResult<Vec<Vec<ListEntry>>> {
        self.keys_after(bucket, prefix, after, limit, |versions| {
            Some(versions.to_vec())
        })
    }

    async fn upload_meta(&self, bucket: &str, key: &str, upload: &str) -> StoreResult<ObjectMeta> {
        let dir = self.upload_dir(upload)?;
        let (bucket, key) = (bucket.to_string(), key.to_string());
        blocking(move || upload_record(&dir, &bucket, &key)).await
    }

    async fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        meta: ObjectMeta,
    ) -> StoreResult<String> {
        self.index(bucket)?;
        let id = random_id() + &random_id();
        let dir = self.upload_dir(&id)?;
        let record = serde_json::json!({ "bucket": bucket, "key": key, "initiated_ns": now_ns().to_string(), "meta": meta });
        let tmp_dir = self.tmp_dir();
        blocking(move || {
            std::fs::create_dir_all(&dir).map_err(|e| internal("create upload", e))?;
            write_atomic(
                &tmp_dir,
                &dir.join("upload.json"),
                record.to_string().as_bytes(),
            )
            .map_err(|e| internal("create upload", e))
        })
        .await?;
        Ok(id)
    }

    async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload: &str,
        number: i32,
        body: ByteStream,
        _stored_len: Option<u64>,
        finish: Finish,
    ) -> StoreResult<PartInfo> {
        let dir = self.upload_dir(upload)?;
        upload_record(&dir, bucket, key)?;
        let Received::File { path: tmp, size } = self.receive(body, 0).await? else {
            return Err(internal("store part", "part body held in memory"));
        };
        let digest = match finish(size) {
            Ok(d) => d,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        };
        let info = PartInfo {
            number,
            size: digest.size,
            etag: digest.etag,
            modified_ns: now_ns(),
            stored: Some(size),
            checksum: digest.checksum,
        };
        let record = serde_json::to_vec(&info).map_err(|e| internal("encode part", e))?;
        let tmp_dir = self.tmp_dir();
        blocking(move || {
            let stored = std::fs::rename(&tmp, dir.join(format!("part-{number}.data")))
                .map_err(|e| internal("store part", e))
                .and_then(|()| {
                    write_atomic(&tmp_dir, &dir.join(format!("part-{number}.json")), &record)
                        .map_err(|e| internal("store part", e))
                });
            if stored.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            stored
        })
        .await?;
        Ok(info)
    }

    async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload: &str,
    ) -> StoreResult<(ObjectMeta, Vec<PartInfo>)> {
        let dir = self.upload_dir(upload)?;
        let (bucket, key) = (bucket.to_string(), key.to_string());
        blocking(move || {
            let meta = upload_record(&dir, &bucket, &key)?;
            let mut parts = Vec::new();
            for e in std::fs::read_dir(&dir)
                .map_err(|_| StoreError::NoSuchUpload)?
                .flatten()
            {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with("part-") && name.ends_with(".json") {
                    let bytes = std::fs::read(e.path()).map_err(|e| internal("read part", e))?;
                    parts.push(
                        serde_json::from_slice::<PartInfo>(&bytes)
                            .map_err(|e| internal("read part", e))?,
                    );
                }
            }
            parts.sort_by_key(|p| p.number);
            Ok((meta, parts))
        })
        .await
    }

    async fn list_uploads(&self, bucket: &str) -> StoreResult<Vec<(String, String, i128)>> {
        self.index(bucket)?;
        let root = self.root.join(SYS).join("multipart");
        let bucket = bucket.to_string();
        blocking(move || list_uploads_in(&root, &bucket)).await
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
        let dir = self.upload_dir(upload)?;
        let (mut meta, stored) = self.list_parts(bucket, key, upload).await?;
        let (chosen, etag) = super::choose_parts(parts, stored.iter())?;
        meta.key = key.to_string();
        meta.size = chosen.iter().map(|p| p.size).sum();
        meta.etag = etag;
        meta.modified_ns = now_ns();
        let files: Vec<PathBuf> = chosen
            .iter()
            .map(|p| dir.join(format!("part-{}.data", p.number)))
            .collect();
        meta.stored = chosen.iter().map(PartInfo::stored_size).collect();
        meta.parts = chosen;
        meta.upload_id = Some(upload.to_string());
        meta.checksum = checksum;
        let committed = self.commit_version(bucket, meta, files, rules).await?;
        let _ = blocking(move || {
            std::fs::remove_dir_all(&dir).map_err(|e| internal("remove upload", e))
        })
        .await;
        Ok(committed)
    }

    async fn abort_multipart(&self, bucket: &str, key: &str, upload: &str) -> StoreResult<()> {
        let dir = self.upload_dir(upload)?;
        upload_record(&dir, bucket, key)?;
        blocking(move || std::fs::remove_dir_all(&dir).map_err(|e| internal("abort upload", e)))
            .await
    }
}

/// The upload's initial metadata, checking that it belongs to `bucket`/`key`.
fn upload_record(dir: &Path, bucket: &str, key: &str) -> StoreResult<ObjectMeta> {
    let bytes = std::fs::read(dir.join("upload.json")).map_err(|_| StoreError::NoSuchUpload)?;
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| internal("upload record", e))?;
    if v["bucket"] != bucket || v["key"] != key {
        return Err(StoreError::NoSuchUpload);
    }
    serde_json::from_value(v["meta"].clone()).map_err(|e| internal("upload record", e))
}

/// Uploads in progress for `bucket`: (key, upload ID, initiated ns), sorted.
fn list_uploads_in(root: &Path, bucket: &str) -> StoreResult<Vec<(String, String, i128)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root)
        .map_err(|e| internal("list uploads", e))?
        .flatten()
    {
        let Ok(bytes) = std::fs::read(e.path().join("upload.json")) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        if v["bucket"] == bucket {
            let initiated = v["initiated_ns"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            out.push((
                v["key"].as_str().unwrap_or_default().to_string(),
                e.file_name().to_string_lossy().into_owned(),
                initiated,
            ));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
#[path = "fs_tests.rs"]
mod tests;
