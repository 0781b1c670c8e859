//! Group commit: object records are committed by one thread that takes every record
//! waiting as one batch whose records share their syncs.
//!
//! A writer hands over a [`Job`]: how to compute the key's new record from its old one
//! (a new version with a small object's bytes inline, a delete marker, a version
//! removed, changed tags) and the received data files, already synced by their
//! writers. The committer takes every job that is waiting and commits them together:
//!
//! 1. for each job: read the old record, compute the new one (checks included: an error
//!    answers the job and changes nothing), move the data files into the object's
//!    directory, write the new record to a temporary file (no sync);
//! 2. one sync ([`sync_all`]): the temporary records and the new names of the data files
//!    are on disk;
//! 3. for each job: rename the temporary record over the old one, or remove the old one
//!    when the key has no versions left (the commit point);
//! 4. one more sync: the renames are on disk; only now are the writers answered;
//! 5. data files the old records named and the new ones do not are removed.
//!
//! A sync is one `syncfs(2)` while no body is being written (it gives for the whole
//! filesystem the guarantee `fsync(2)` gives for one file, and reports writeback errors
//! since Linux 5.8), else parallel `fsync`s of the paths involved. A batch thus costs two
//! syncs whatever its size, where a lone writer paid three (data, record, directory). A crash
//! before step 3 leaves old records and unreferenced files (removed at start-up); a
//! crash during step 3 leaves each object old or new; nothing is acknowledged before
//! step 4 ends. Writers of one key never share a batch: the store holds the key's lock
//! until its job is answered.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use super::fs::internal;
use super::meta::ObjectMeta;
use super::versions::{self, Change};
use super::{StoreError, StoreResult};

/// Jobs taken into one batch at most (bounds the work between two syncs).
const MAX_BATCH: usize = 256;
// One committing thread: four were measured against one (same run, 2 cores): no gain
// for 16 clients' 1 MiB PUTs (0.98x), 0.93x and 1.5x the CPU for their 4 KiB PUTs.
/// Threads syncing the files of one batch at most.
const SYNC_THREADS: usize = 16;

/// Computes a key's new record from its old one (`None`: the key has none); an error
/// refuses the change.
pub(super) type Apply = Box<dyn FnOnce(Option<ObjectMeta>) -> StoreResult<Change> + Send>;

/// A key's record after a committed job.
#[derive(Debug)]
pub(super) struct Committed {
    /// The record now in place (`None`: removed).
    pub new: Option<ObjectMeta>,
}

/// One record to commit.
struct Job {
    /// Where the record goes.
    meta_path: PathBuf,
    /// The directory of the record and its data files.
    dir: PathBuf,
    /// The change (names of the new data files already set in what it writes).
    apply: Option<Apply>,
    /// Received data files and their names in `dir`, in the record's order.
    files: Vec<(PathBuf, String)>,
    reply: Option<tokio::sync::oneshot::Sender<StoreResult<Committed>>>,
}

/// Batches committed so far and the jobs in them.
#[derive(Debug, Default)]
pub struct CommitStats {
    /// Batches (each two syncs).
    pub batches: AtomicU64,
    /// Jobs committed or refused.
    pub jobs: AtomicU64,
    /// Bodies being written to data files right now (see [`sync_all`]).
    pub writing: AtomicU64,
}

/// The committing thread's queue.
#[derive(Debug)]
pub(super) struct Committer {
    tx: mpsc::Sender<Job>,
    stats: Arc<CommitStats>,
}

impl Committer {
    /// Starts the thread; `root` is the data directory, `tmp_dir` where temporary
    /// records go (on the same filesystem).
    pub fn start(root: &Path, tmp_dir: PathBuf) -> std::io::Result<Self> {
        let fs = std::fs::File::open(root)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let stats = Arc::new(CommitStats::default());
        let counters = stats.clone();
        std::thread::Builder::new()
            .name("coffer-commit".into())
            .spawn(move || run(&fs, &tmp_dir, &rx, &counters))?;
        Ok(Self { tx, stats })
    }

    /// Commits the change `apply` makes to the record at `meta_path`, with `files`
    /// moved into `dir`, and waits until it is durable (or refused). The caller holds the
    /// key's lock.
    pub async fn commit(
        &self,
        meta_path: PathBuf,
        dir: PathBuf,
        apply: Apply,
        files: Vec<(PathBuf, String)>,
    ) -> StoreResult<Committed> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job {
            meta_path,
            dir,
            apply: Some(apply),
            files,
            reply: Some(reply),
        };
        self.tx
            .send(job)
            .map_err(|_| StoreError::Internal("commit thread stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Internal("commit thread stopped".into()))?
    }

    /// Counts a body being written to a data file until the guard drops.
    pub fn writing(&self) -> WritingGuard {
        self.stats.writing.fetch_add(1, Ordering::Relaxed);
        WritingGuard(self.stats.clone())
    }

    /// Batches and jobs so far.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.stats.batches.load(Ordering::Relaxed),
            self.stats.jobs.load(Ordering::Relaxed),
        )
    }
}

/// See [`Committer::writing`].
pub(super) struct WritingGuard(Arc<CommitStats>);

impl Drop for WritingGuard {
    fn drop(&mut self) {
        self.0.writing.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A job after step 1.
struct Staged {
    job: Job,
    /// The temporary new record (`None`: the record is removed).
    tmp: Option<PathBuf>,
    old: Option<ObjectMeta>,
    new: Option<ObjectMeta>,
    placed: Vec<PathBuf>,
}

impl Staged {
    /// Undoes step 1 (the record was not renamed).
    fn discard(&self) {
        if let Some(tmp) = &self.tmp {
            let _ = std::fs::remove_file(tmp);
        }
        for p in &self.placed {
            let _ = std::fs::remove_file(p);
        }
    }

    /// Step 3.
    fn commit(&self) -> std::io::Result<()> {
        match &self.tmp {
            Some(tmp) => std::fs::rename(tmp, &self.job.meta_path),
            None => match std::fs::remove_file(&self.job.meta_path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        }
    }
}

fn answer(job: &mut Job, result: StoreResult<Committed>) {
    if let Some(reply) = job.reply.take() {
        let _ = reply.send(result);
    }
}

fn run(fs: &std::fs::File, tmp_dir: &Path, rx: &mpsc::Receiver<Job>, stats: &CommitStats) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.jobs.fetch_add(batch.len() as u64, Ordering::Relaxed);
        commit_batch(fs, tmp_dir, batch, stats);
    }
}

fn commit_batch(fs: &std::fs::File, tmp_dir: &Path, batch: Vec<Job>, stats: &CommitStats) {
    let mut staged = Vec::with_capacity(batch.len());
    for mut job in batch {
        match stage(&mut job, tmp_dir) {
            Ok(Staging::Unchanged(old)) => answer(&mut job, Ok(Committed { new: old })),
            Ok(Staging::Staged {
                tmp,
                old,
                new,
                placed,
            }) => staged.push(Staged {
                job,
                tmp,
                old,
                new,
                placed,
            }),
            // The received files stay where they are: the caller removes a refused
            // body's, and a refused completion keeps its upload's parts for a retry.
            Err(e) => answer(&mut job, Err(e)),
        }
    }
    if staged.is_empty() {
        return;
    }
    // The temporary records, and the directories data files were moved into (so that no
    // record can become durable before the names of its data files).
    let mut paths: Vec<&Path> = staged.iter().filter_map(|s| s.tmp.as_deref()).collect();
    paths.extend(
        staged
            .iter()
            .filter(|s| !s.placed.is_empty())
            .map(|s| s.job.dir.as_path()),
    );
    paths.sort();
    paths.dedup();
    if let Err(e) = sync_all(fs, &paths, stats) {
        for mut s in staged {
            s.discard();
            answer(&mut s.job, Err(StoreError::io("sync data", &e)));
        }
        return;
    }
    let mut renamed = Vec::with_capacity(staged.len());
    for mut s in staged {
        match s.commit() {
            Ok(()) => renamed.push(s),
            Err(e) => {
                s.discard();
                answer(&mut s.job, Err(internal("write metadata", e)));
            }
        }
    }
    let mut dirs: Vec<&Path> = renamed.iter().map(|s| s.job.dir.as_path()).collect();
    dirs.sort();
    dirs.dedup();
    let synced = sync_all(fs, &dirs, stats);
    for mut s in renamed {
        if let Err(e) = &synced {
            // The record is in place but not known to be durable: say so rather than
            // acknowledge it.
            answer(&mut s.job, Err(StoreError::io("sync metadata", e)));
            continue;
        }
        if let Some(old) = &s.old {
            for f in versions::orphaned(old, s.new.as_ref()) {
                let _ = std::fs::remove_file(s.job.dir.join(f));
            }
        }
        let committed = Committed { new: s.new.take() };
        answer(&mut s.job, Ok(committed));
    }
}

/// Makes `paths` (files and directories) durable. While no body of this store
/// is being written to a data file, with one `syncfs`: little else is dirty then, and one
/// call covers the whole batch. Otherwise each path, from parallel threads so that the
/// filesystem's journal merges them: a `syncfs` would also wait for the in-flight bodies'
/// data, tying every small commit to the largest write (measured: 1 MiB PUTs from 16
/// clients 15 % slower with `syncfs` alone, 4 KiB ones 26 % faster).
fn sync_all(fs: &std::fs::File, paths: &[&Path], stats: &CommitStats) -> std::io::Result<()> {
    if paths.len() > 1 && stats.writing.load(Ordering::Relaxed) == 0 {
        return rustix::fs::syncfs(fs).map_err(Into::into);
    }
    let one = |p: &Path| -> std::io::Result<()> { std::fs::File::open(p)?.sync_all() };
    if paths.len() <= 1 {
        return paths.iter().try_for_each(|p| one(p));
    }
    let per = paths.len().div_ceil(SYNC_THREADS);
    std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .chunks(per)
            .map(|chunk| scope.spawn(move || chunk.iter().try_for_each(|p| one(p))))
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .unwrap_or_else(|_| Err(std::io::Error::other("sync thread panicked")))
        })
    })
}

/// What step 1 made of a job (one per job, short-lived: not worth boxing).
#[allow(clippy::large_enum_variant)]
enum Staging {
    /// Nothing to write; the record as it is.
    Unchanged(Option<ObjectMeta>),
    /// Ready for the sync.
    Staged {
        tmp: Option<PathBuf>,
        old: Option<ObjectMeta>,
        new: Option<ObjectMeta>,
        placed: Vec<PathBuf>,
    },
}

/// Step 1 for one job: the old record, the change computed, data files placed,
/// temporary record.
fn stage(job: &mut Job, tmp_dir: &Path) -> StoreResult<Staging> {
    let old = match std::fs::read(&job.meta_path) {
        Ok(bytes) => Some(
            ObjectMeta::decode(bytes.into()).map_err(|e| internal("corrupt metadata record", e))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(internal("read metadata", e)),
    };
    if old.as_ref().is_some_and(|o| o.format > super::meta::FORMAT) {
        return Err(internal("metadata record", "format newer than this server"));
    }
    let apply = job
        .apply
        .take()
        .ok_or_else(|| internal("commit", "job applied twice"))?;
    let new = match apply(old.clone())? {
        Change::Keep => return Ok(Staging::Unchanged(old)),
        Change::Remove => None,
        Change::Write(record) => Some(*record),
    };
    std::fs::create_dir_all(&job.dir).map_err(|e| internal("create object directory", e))?;
    let mut placed = Vec::with_capacity(job.files.len());
    let undo = |placed: &[PathBuf]| {
        for p in placed {
            let _ = std::fs::remove_file(p);
        }
    };
    for (src, name) in &job.files {
        let dst = job.dir.join(name);
        if let Err(e) = std::fs::rename(src, &dst) {
            undo(&placed);
            return Err(internal("place data file", e));
        }
        placed.push(dst);
    }
    let Some(record) = &new else {
        return Ok(Staging::Staged {
            tmp: None,
            old,
            new,
            placed,
        });
    };
    let bytes = match record.encode() {
        Ok(r) => r,
        Err(e) => {
            undo(&placed);
            return Err(internal("encode metadata", e));
        }
    };
    let tmp = tmp_dir.join(super::fs::random_id());
    if let Err(e) = std::fs::write(&tmp, &bytes) {
        let _ = std::fs::remove_file(&tmp);
        undo(&placed);
        return Err(internal("write metadata", e));
    }
    Ok(Staging::Staged {
        tmp: Some(tmp),
        old,
        new,
        placed,
    })
}
