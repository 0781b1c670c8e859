//! The filesystem backend: buckets and objects in one directory tree.
//!
//! ```text
//! DIR/
//!   .coffer.sys/tmp/                 temporary files (removed at start-up)
//!   .coffer.sys/multipart/<upload>/  upload.json, part-<n>.data, part-<n>.json
//!   <bucket>/bucket.json             creation time
//!   <bucket>/settings/<name>         bucket settings (policy, encryption, …)
//!   <bucket>/objects/<h0h1>/<h>.meta          metadata record (the commit point)
//!   <bucket>/objects/<h0h1>/<h>.<id>.data     data file(s) named by the record
//! ```
//!
//! `h` is the hex SHA-256 of the key, so every valid S3 key (any UTF-8 up to 1024 bytes,
//! `..` segments, keys that are prefixes of others) maps to a fixed-length file name
//! inside the bucket and no key can name a path outside DIR. Bucket names are checked by
//! the S3 layer (lower-case letters, digits, `-` and `.`, never starting with `.`).
//!
//! Writes are crash-safe: data goes to a temporary file, is fsynced and renamed to a
//! fresh data file; then the metadata record is written the same way and renamed over the
//! old one, which is the commit; then the directory is fsynced and the old data files are
//! removed. A crash leaves the old object or the new one; data files that no record
//! names are removed at start-up. Listing uses an in-memory index per bucket, built at
//! start-up from the records, so it never opens object bodies.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{self, Seek};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use md5::{Digest, Md5};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use super::meta::{ObjectMeta, PartInfo, FORMAT};
use super::{
    BucketInfo, ByteStream, DeleteCheck, Finish, ListEntry, MetaUpdate, ObjectStore, PutOptions,
    Span, StoreError, StoreResult, WriteCheck,
};

const SYS: &str = ".coffer.sys";
const LOCK_STRIPES: usize = 64;
const MIN_PART_SIZE: u64 = 5 << 20;
const READ_CHUNK: usize = 256 << 10;
const WRITE_BUFFER: usize = 1 << 20;

/// Objects of one bucket, by key, for listing.
#[derive(Debug, Default)]
struct BucketIndex {
    keys: RwLock<BTreeMap<String, ListEntry>>,
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
}

fn internal(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("{what}: {e}"))
}

fn now_ns() -> i128 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos()
}

fn random_id() -> String {
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
        let store = Self {
            root,
            indexes: RwLock::new(HashMap::new()),
            locks: (0..LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
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
                    referenced.extend(meta.data.iter().cloned());
                    keys.insert(meta.key.clone(), entry_of(&meta));
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

    /// Streams `body` into a new temporary file, fsynced; returns it and its length.
    async fn receive(&self, mut body: ByteStream) -> StoreResult<Received> {
        let tmp = self.tmp_dir().join(random_id());
        let file = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| internal("create temporary file", e))?;
        // Body chunks are small (often 8-64 KiB); batching them into 1 MiB writes saves a
        // blocking-pool round trip per chunk.
        let mut file = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        let result: StoreResult<u64> = async {
            let mut size = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(StoreError::Body)?;
                size += chunk.len() as u64;
                file.write_all(&chunk)
                    .await
                    .map_err(|e| internal("write data", e))?;
            }
            file.flush().await.map_err(|e| internal("write data", e))?;
            file.get_ref()
                .sync_all()
                .await
                .map_err(|e| internal("sync data", e))?;
            Ok(size)
        }
        .await;
        drop(file);
        match result {
            Ok(size) => Ok(Received { path: tmp, size }),
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(e)
            }
        }
    }

    /// Moves received data files into place and commits `meta` as the object's record.
    async fn commit(
        &self,
        bucket: &str,
        mut meta: ObjectMeta,
        files: Vec<PathBuf>,
        check: Option<WriteCheck>,
    ) -> StoreResult<ObjectMeta> {
        let index = self.index(bucket)?;
        let hash = key_hash(&meta.key);
        let dir = self.object_dir(bucket, &hash);
        let _guard = self.lock_for(&hash).lock().await;
        let tmp_dir = self.tmp_dir();
        let meta_path = self.meta_path(bucket, &hash);
        let id = random_id();
        meta.format = FORMAT;
        meta.data = (0..files.len())
            .map(|i| format!("{hash}.{id}.{i}.data"))
            .collect();
        let committed = meta.clone();
        let old = tokio::task::spawn_blocking(move || -> StoreResult<Option<ObjectMeta>> {
            let old = match std::fs::read(&meta_path) {
                Ok(bytes) => serde_json::from_slice::<ObjectMeta>(&bytes).ok(),
                Err(_) => None,
            };
            if let Some(check) = check {
                check(old.as_ref())?;
            }
            std::fs::create_dir_all(&dir).map_err(|e| internal("create object directory", e))?;
            for (src, name) in files.iter().zip(&meta.data) {
                std::fs::rename(src, dir.join(name)).map_err(|e| internal("place data file", e))?;
            }
            let record = serde_json::to_vec(&meta).map_err(|e| internal("encode metadata", e))?;
            write_atomic(&tmp_dir, &meta_path, &record)
                .map_err(|e| internal("write metadata", e))?;
            if let Some(old) = &old {
                for f in &old.data {
                    if !meta.data.contains(f) {
                        let _ = std::fs::remove_file(dir.join(f));
                    }
                }
            }
            Ok(old)
        })
        .await
        .map_err(|e| internal("commit task", e))??;
        let _ = old;
        if let Ok(mut keys) = index.keys.write() {
            keys.insert(committed.key.clone(), entry_of(&committed));
        }
        Ok(committed)
    }
}

/// A body received into a temporary file.
struct Received {
    path: PathBuf,
    /// Stored bytes.
    size: u64,
}

fn entry_of(meta: &ObjectMeta) -> ListEntry {
    ListEntry {
        key: meta.key.clone(),
        size: meta.size,
        etag: meta.etag.clone(),
        modified_ns: meta.modified_ns,
    }
}

/// The record of `bucket/key` in the data directory `root` and the directory holding its
/// data files, read without opening the store (offline recovery).
pub fn read_record(root: &Path, bucket: &str, key: &str) -> StoreResult<(ObjectMeta, PathBuf)> {
    if bucket.is_empty() || bucket.starts_with('.') || bucket.contains('/') {
        return Err(StoreError::NoSuchBucket);
    }
    if !root.join(bucket).join("bucket.json").is_file() {
        return Err(StoreError::NoSuchBucket);
    }
    let hash = key_hash(key);
    let dir = root.join(bucket).join("objects").join(&hash[..2]);
    let meta = read_meta(&dir.join(format!("{hash}.meta")))?;
    Ok((meta, dir))
}

/// The stored bytes of a record read with [`read_record`], streamed from its data files.
pub fn data_stream(dir: &Path, meta: &ObjectMeta) -> ByteStream {
    Box::pin(SegmentStream {
        segments: segments(dir, meta, &(0..meta.stored_size())),
        current: None,
    })
}

fn read_meta(path: &Path) -> StoreResult<ObjectMeta> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => StoreError::NoSuchKey,
        _ => internal("read metadata", e),
    })?;
    let meta: ObjectMeta =
        serde_json::from_slice(&bytes).map_err(|e| internal("corrupt metadata record", e))?;
    if meta.format > FORMAT {
        return Err(internal(
            "metadata record",
            format!("format {} is newer than this server", meta.format),
        ));
    }
    Ok(meta)
}

/// Bytes of consecutive data files, opened one after the other.
struct SegmentStream {
    segments: VecDeque<(PathBuf, u64, u64)>,
    current: Option<ReaderStream<tokio::io::Take<tokio::fs::File>>>,
}

impl SegmentStream {
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

    fn bucket_owner(&self, bucket: &str) -> StoreResult<Option<String>> {
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
        let Received { path: tmp, size } = self.receive(body).await?;
        let mut meta = opts.meta;
        let result = match (opts.finish)(size) {
            Ok(digest) => {
                meta.checksum = digest.checksum;
                meta.key = key.to_string();
                meta.size = digest.size;
                meta.etag = digest.etag;
                meta.stored = vec![size];
                meta.modified_ns = now_ns();
                meta.parts.clear();
                self.commit(bucket, meta, vec![tmp.clone()], opts.check)
                    .await
            }
            Err(e) => Err(e),
        };
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    async fn head_object(&self, bucket: &str, key: &str) -> StoreResult<ObjectMeta> {
        self.index(bucket)?;
        read_meta(&self.meta_path(bucket, &key_hash(key)))
    }

    async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        span: Option<Span>,
    ) -> StoreResult<(ObjectMeta, ByteStream)> {
        self.index(bucket)?;
        let hash = key_hash(key);
        let dir = self.object_dir(bucket, &hash);
        // A concurrent overwrite may remove the data files between reading the record and
        // opening them: read the record again then.
        for _ in 0..5 {
            let meta = read_meta(&self.meta_path(bucket, &hash))?;
            let span = span.clone().unwrap_or(0..meta.stored_size());
            let mut stream = SegmentStream {
                segments: segments(&dir, &meta, &span),
                current: None,
            };
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
        update: MetaUpdate,
    ) -> StoreResult<ObjectMeta> {
        let index = self.index(bucket)?;
        let hash = key_hash(key);
        let _guard = self.lock_for(&hash).lock().await;
        let path = self.meta_path(bucket, &hash);
        let tmp_dir = self.tmp_dir();
        let meta = blocking(move || {
            let mut meta = read_meta(&path)?;
            let data = meta.data.clone();
            update(&mut meta)?;
            // The data files stay; a record never loses track of them.
            meta.data = data;
            meta.format = FORMAT;
            let record = serde_json::to_vec(&meta).map_err(|e| internal("encode metadata", e))?;
            write_atomic(&tmp_dir, &path, &record).map_err(|e| internal("write metadata", e))?;
            Ok(meta)
        })
        .await?;
        if let Ok(mut keys) = index.keys.write() {
            keys.insert(meta.key.clone(), entry_of(&meta));
        }
        Ok(meta)
    }

    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        check: Option<DeleteCheck>,
    ) -> StoreResult<()> {
        let index = self.index(bucket)?;
        let hash = key_hash(key);
        let _guard = self.lock_for(&hash).lock().await;
        let path = self.meta_path(bucket, &hash);
        let dir = self.object_dir(bucket, &hash);
        let removed = blocking(move || {
            let meta = match read_meta(&path) {
                Ok(m) => m,
                Err(StoreError::NoSuchKey) => return Ok(false),
                Err(e) => return Err(e),
            };
            if check.is_some_and(|check| !check(&meta)) {
                return Err(StoreError::PreconditionFailed);
            }
            std::fs::remove_file(&path).map_err(|e| internal("delete object", e))?;
            let _ = sync_dir(&dir);
            for f in &meta.data {
                let _ = std::fs::remove_file(dir.join(f));
            }
            Ok(true)
        })
        .await?;
        if !removed {
            return Ok(());
        }
        if let Ok(mut keys) = index.keys.write() {
            keys.remove(key);
        }
        Ok(())
    }

    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> StoreResult<Vec<ListEntry>> {
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
        let iter = keys
            .range::<str, _>((std::ops::Bound::Included(start), std::ops::Bound::Unbounded))
            .filter(|(k, _)| k.as_str() != after || after.is_empty())
            .take_while(|(k, _)| k.starts_with(prefix));
        Ok(iter.take(limit).map(|(_, e)| e.clone()).collect())
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
        finish: Finish,
    ) -> StoreResult<PartInfo> {
        let dir = self.upload_dir(upload)?;
        upload_record(&dir, bucket, key)?;
        let Received { path: tmp, size } = self.receive(body).await?;
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
        check: Option<WriteCheck>,
    ) -> StoreResult<ObjectMeta> {
        let dir = self.upload_dir(upload)?;
        let (mut meta, stored) = self.list_parts(bucket, key, upload).await?;
        if parts.is_empty() {
            return Err(StoreError::InvalidPart("no parts given".into()));
        }
        let by_number: HashMap<i32, &PartInfo> = stored.iter().map(|p| (p.number, p)).collect();
        if parts.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(StoreError::InvalidPartOrder);
        }
        let mut chosen = Vec::new();
        let mut md5s = Vec::new();
        for (i, (number, etag)) in parts.iter().enumerate() {
            let p = by_number.get(number).ok_or_else(|| {
                StoreError::InvalidPart(format!("part {number} was not uploaded"))
            })?;
            if etag.trim_matches('"') != p.etag {
                return Err(StoreError::InvalidPart(format!(
                    "part {number}: ETag does not match"
                )));
            }
            if i + 1 < parts.len() && p.size < MIN_PART_SIZE {
                return Err(StoreError::EntityTooSmall(*number));
            }
            md5s.extend(hex::decode(&p.etag).map_err(|e| internal("part ETag", e))?);
            chosen.push((*p).clone());
        }
        let digest = Md5::digest(&md5s);
        meta.key = key.to_string();
        meta.size = chosen.iter().map(|p| p.size).sum();
        meta.etag = format!("{}-{}", hex::encode(digest), chosen.len());
        meta.modified_ns = now_ns();
        let files: Vec<PathBuf> = chosen
            .iter()
            .map(|p| dir.join(format!("part-{}.data", p.number)))
            .collect();
        meta.stored = chosen.iter().map(PartInfo::stored_size).collect();
        meta.parts = chosen;
        meta.upload_id = Some(upload.to_string());
        let committed = self.commit(bucket, meta, files, check).await?;
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
