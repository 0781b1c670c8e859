//! The filesystem store against a real temporary directory: inline and file-backed
//! objects, overwrites between the two, ranges, records after a restart, and group commit.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;

use super::*;
use crate::store::{Digest, ObjectStore, PutOptions, Versioning, WriteRules};

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let p = std::env::temp_dir().join(format!("coffer-store-test-{}", random_id()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn body_of(data: &[u8], chunk: usize) -> ByteStream {
    let chunks: Vec<io::Result<Bytes>> = data
        .chunks(chunk.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Box::pin(futures_util::stream::iter(chunks))
}

fn opts() -> PutOptions {
    PutOptions {
        meta: ObjectMeta::default(),
        finish: Box::new(|size| {
            Ok(Digest {
                size,
                etag: format!("etag-{size}"),
                checksum: None,
            })
        }),
        rules: WriteRules::default(),
        stored_len: None,
    }
}

fn versioned_opts(versioning: Versioning) -> PutOptions {
    let mut o = opts();
    o.rules.versioning = versioning;
    o
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

async fn read_all(store: &FsStore, key: &str, span: Option<Span>) -> Vec<u8> {
    read_version(store, key, None, span).await
}

async fn read_version(
    store: &FsStore,
    key: &str,
    version: Option<&str>,
    span: Option<Span>,
) -> Vec<u8> {
    let (_, mut s) = store.get_object("b", key, version, span).await.unwrap();
    let mut out = Vec::new();
    while let Some(c) = s.next().await {
        out.extend_from_slice(&c.unwrap());
    }
    out
}

/// Files in the object directories that are not records.
fn data_files(root: &Path) -> usize {
    let mut n = 0;
    for shard in std::fs::read_dir(root.join("b").join("objects")).unwrap() {
        for e in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            if e.unwrap().file_name().to_string_lossy().ends_with(".data") {
                n += 1;
            }
        }
    }
    n
}

#[tokio::test]
async fn inline_and_file_objects_round_trip_and_replace_each_other() {
    let dir = TempDir::new();
    let store = FsStore::open(&dir.0).unwrap();
    store.create_bucket("b", None).await.unwrap();

    let small = pattern(1000, 1);
    let meta = store
        .put_object("b", "k", body_of(&small, 300), opts())
        .await
        .unwrap();
    assert_eq!(meta.inline_len, Some(1000));
    assert!(meta.data.is_empty());
    assert_eq!(data_files(&dir.0), 0, "a small object has no data file");
    assert_eq!(read_all(&store, "k", None).await, small);
    assert_eq!(read_all(&store, "k", Some(10..20)).await, small[10..20]);
    assert_eq!(read_all(&store, "k", Some(999..1000)).await, small[999..]);

    let large = pattern(INLINE_MAX + 1, 2);
    let meta = store
        .put_object("b", "k", body_of(&large, 64 << 10), opts())
        .await
        .unwrap();
    assert_eq!(meta.inline_len, None);
    assert_eq!(meta.data.len(), 1);
    assert_eq!(data_files(&dir.0), 1);
    assert_eq!(read_all(&store, "k", None).await, large);
    assert_eq!(
        read_all(&store, "k", Some(100_000..131_073)).await,
        large[100_000..]
    );

    // Exactly INLINE_MAX stays inline; replacing the file-backed object removes its file.
    let edge = pattern(INLINE_MAX, 3);
    let meta = store
        .put_object("b", "k", body_of(&edge, 8192), opts())
        .await
        .unwrap();
    assert_eq!(meta.inline_len, Some(INLINE_MAX as u64));
    assert_eq!(data_files(&dir.0), 0, "the old data file is removed");
    assert_eq!(read_all(&store, "k", None).await, edge);

    // The empty object is inline too.
    store
        .put_object("b", "empty", body_of(&[], 1), opts())
        .await
        .unwrap();
    assert_eq!(read_all(&store, "empty", None).await, Vec::<u8>::new());

    // A metadata update keeps the inline bytes.
    store
        .update_meta(
            "b",
            "k",
            None,
            Box::new(|m: &mut ObjectMeta| {
                m.tags = vec![("t".into(), "v".into())];
                Ok(())
            }),
        )
        .await
        .unwrap();
    assert_eq!(read_all(&store, "k", None).await, edge);

    // After a restart the records (and their inline bytes) read back from disk.
    drop(store);
    let store = FsStore::open(&dir.0).unwrap();
    let head = store.head_object("b", "k", None).await.unwrap();
    assert_eq!(head.tags, vec![("t".to_string(), "v".to_string())]);
    assert_eq!(head.size, INLINE_MAX as u64);
    assert_eq!(read_all(&store, "k", None).await, edge);
    let listed = store.list_objects("b", "", "", 10).await.unwrap();
    assert_eq!(listed.len(), 2);

    store
        .delete_object("b", "k", None, Versioning::Unversioned, None)
        .await
        .unwrap();
    assert!(matches!(
        store.head_object("b", "k", None).await,
        Err(StoreError::NoSuchKey)
    ));
}

#[tokio::test]
async fn a_refused_write_leaves_the_old_object() {
    let dir = TempDir::new();
    let store = FsStore::open(&dir.0).unwrap();
    store.create_bucket("b", None).await.unwrap();
    let old = pattern(500_000, 4);
    store
        .put_object("b", "k", body_of(&old, 65536), opts())
        .await
        .unwrap();
    for size in [10, 400_000] {
        let mut o = opts();
        o.rules.check = Some(Box::new(|_| Err(StoreError::PreconditionFailed)));
        let r = store
            .put_object("b", "k", body_of(&pattern(size, 5), 65536), o)
            .await;
        assert!(matches!(r, Err(StoreError::PreconditionFailed)));
    }
    assert_eq!(read_all(&store, "k", None).await, old);
    assert_eq!(data_files(&dir.0), 1, "the refused body left no file");
    let tmp: Vec<_> = std::fs::read_dir(dir.0.join(SYS).join("tmp"))
        .unwrap()
        .collect();
    assert!(tmp.is_empty(), "temporary files left: {}", tmp.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_share_commits() {
    let dir = TempDir::new();
    let store = Arc::new(FsStore::open(&dir.0).unwrap());
    store.create_bucket("b", None).await.unwrap();
    let writers = 32;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..4u8 {
                let data = pattern(4096 + w * 100, round);
                store
                    .put_object("b", &format!("k{w}"), body_of(&data, 4096), opts())
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for w in 0..writers {
        assert_eq!(
            read_all(&store, &format!("k{w}"), None).await,
            pattern(4096 + w * 100, 3)
        );
    }
    let (batches, jobs) = store.commit_stats();
    assert_eq!(jobs, (writers * 4) as u64);
    assert!(
        batches < jobs,
        "{jobs} commits in {batches} batches: none was shared"
    );
}

#[tokio::test]
async fn versions_inline_and_in_files_survive_a_restart() {
    let dir = TempDir::new();
    let store = FsStore::open(&dir.0).unwrap();
    store.create_bucket("b", None).await.unwrap();
    // A null version from before versioning, then versions inline and in data files.
    let null = pattern(1000, 1);
    store
        .put_object("b", "k", body_of(&null, 300), opts())
        .await
        .unwrap();
    let mut ids = Vec::new();
    let bodies = [pattern(2000, 2), pattern(300_000, 3), pattern(5, 4)];
    for body in &bodies {
        let m = store
            .put_object(
                "b",
                "k",
                body_of(body, 4096),
                versioned_opts(Versioning::Enabled),
            )
            .await
            .unwrap();
        ids.push(m.version_id.unwrap());
    }
    let deleted = store
        .delete_object("b", "k", None, Versioning::Enabled, None)
        .await
        .unwrap();
    assert!(deleted.delete_marker && deleted.version_id.is_some());
    assert!(matches!(
        store.head_object("b", "k", None).await,
        Err(StoreError::DeleteMarker {
            addressed: false,
            ..
        })
    ));
    assert!(store
        .list_objects("b", "", "", 10)
        .await
        .unwrap()
        .is_empty());

    drop(store);
    let store = FsStore::open(&dir.0).unwrap();
    assert_eq!(read_version(&store, "k", Some("null"), None).await, null);
    for (id, body) in ids.iter().zip(&bodies) {
        assert_eq!(read_version(&store, "k", Some(id), None).await, *body);
    }
    assert_eq!(
        read_version(&store, "k", Some(&ids[1]), Some(10..20)).await,
        bodies[1][10..20]
    );
    let listed = store.list_versions("b", "", "", 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].len(), 5);
    assert!(listed[0][0].delete_marker);

    // Removing the marker brings the newest version back; removing a version by ID
    // removes its data file.
    let marker = deleted.version_id.unwrap();
    store
        .delete_object("b", "k", Some(&marker), Versioning::Enabled, None)
        .await
        .unwrap();
    assert_eq!(read_all(&store, "k", None).await, bodies[2]);
    assert_eq!(data_files(&dir.0), 1);
    store
        .delete_object("b", "k", Some(&ids[1]), Versioning::Enabled, None)
        .await
        .unwrap();
    assert_eq!(data_files(&dir.0), 0);
    assert!(matches!(
        store.head_object("b", "k", Some(&ids[1])).await,
        Err(StoreError::NoSuchVersion)
    ));
    // Suspended: a write replaces the null version only.
    store
        .put_object(
            "b",
            "k",
            body_of(&pattern(10, 9), 10),
            versioned_opts(Versioning::Suspended),
        )
        .await
        .unwrap();
    let listed = store.list_versions("b", "", "", 10).await.unwrap();
    assert_eq!(listed[0].len(), 3);
    assert_eq!(
        read_version(&store, "k", Some("null"), None).await,
        pattern(10, 9)
    );
    // Every version gone: the key is gone, and the bucket can be deleted.
    for v in ["null", ids[0].as_str(), ids[2].as_str()] {
        store
            .delete_object("b", "k", Some(v), Versioning::Suspended, None)
            .await
            .unwrap();
    }
    assert!(store
        .list_versions("b", "", "", 10)
        .await
        .unwrap()
        .is_empty());
    store.delete_bucket("b").await.unwrap();
}

#[tokio::test]
async fn journaled_records_whose_renames_were_lost_are_replayed_at_open() {
    let dir = TempDir::new();
    let store = FsStore::open(&dir.0).unwrap();
    store.create_bucket("b", None).await.unwrap();
    let small = pattern(1000, 1);
    let large = pattern(INLINE_MAX + 5, 2);
    store
        .put_object("b", "small", body_of(&small, 300), opts())
        .await
        .unwrap();
    store
        .put_object("b", "large", body_of(&large, 64 << 10), opts())
        .await
        .unwrap();
    let paths = [
        store.meta_path("b", &key_hash("small")),
        store.meta_path("b", &key_hash("large")),
    ];
    drop(store);
    // The state a crash leaves when a batch's frame is synced but its renames never
    // reached the disk: data files in place, records absent, the frame in the journal.
    let records: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    for p in &paths {
        std::fs::remove_file(p).unwrap();
    }
    let sys = dir.0.join(SYS);
    {
        let (mut journal, replayed) =
            super::super::journal::Journal::open(&dir.0, &sys.join("journal"), &sys.join("tmp"))
                .unwrap();
        assert_eq!(replayed, 0, "a closed store leaves nothing to replay");
        let entries: Vec<_> = paths
            .iter()
            .zip(&records)
            .map(|(path, record)| super::super::journal::Entry::Write { path, record })
            .collect();
        assert!(journal.append(&entries).unwrap());
    }
    assert_eq!(data_files(&dir.0), 1);
    let store = FsStore::open(&dir.0).unwrap();
    assert_eq!(read_all(&store, "small", None).await, small);
    assert_eq!(read_all(&store, "large", None).await, large);
    assert_eq!(
        data_files(&dir.0),
        1,
        "the replayed record keeps its data file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_never_see_a_record_half_rewritten() {
    let dir = TempDir::new();
    let store = Arc::new(FsStore::open(&dir.0).unwrap());
    store.create_bucket("b", None).await.unwrap();
    // Sizes that shrink, grow within the old file's blocks, and outgrow them.
    let sizes = [3000usize, 100, 4000, 9000, 10, 60_000, 2000];
    let bodies: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, n)| pattern(*n, i as u8))
        .collect();
    store
        .put_object("b", "k", body_of(&bodies[0], 4096), opts())
        .await
        .unwrap();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, done, bodies) = (store.clone(), done.clone(), bodies.clone());
        tokio::spawn(async move {
            let mut reads = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let got = read_all(&store, "k", None).await;
                assert!(bodies.contains(&got), "a read of {} bytes", got.len());
                reads += 1;
            }
            reads
        })
    };
    for round in 0..30 {
        let body = &bodies[round % bodies.len()];
        store
            .put_object("b", "k", body_of(body, 4096), opts())
            .await
            .unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.await.unwrap() > 0);
}
