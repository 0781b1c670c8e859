//! Removing what crashes leave in the backend: data objects that no record names (a
//! gateway stopped between storing an object's bytes and committing its record, or
//! between a commit and deleting the data it replaced), and backend multipart uploads
//! of bodies of unknown length that were never finished.
//!
//! Why a data object older than the grace period that no record names is garbage: a
//! gateway commits the record that names new data right after the backend has stored
//! it (a few round trips, bounded retries), except for a client's multipart upload,
//! whose data becomes an object at completion while its upload state still exists. So
//! the sweep lists, in this order, (1) the old data objects, (2) the uploads in
//! progress, then waits a while, then reads (3) every record. A commit naming a data
//! object from (1) happened before its upload state went away, so either (2) sees the
//! state or (3) sees the record. The wait covers backends that date an object completed
//! from a multipart upload by when the upload started (as S3 does): a body of unknown
//! length streamed for longer than the grace period looks old the moment it is complete,
//! and its commit follows within seconds, well inside the wait.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;

use s3_server::store::{ObjectStore, StoreResult};

use crate::{Gateway, LIST_PARALLEL};

/// Backend multipart uploads with no upload state (bodies of unknown length streamed in
/// parts) are aborted only this long after they started, whatever the grace period: a
/// large body may take hours to arrive.
const UPLOAD_GRACE: Duration = Duration::from_secs(24 * 3600);

/// What one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Data objects no record named.
    pub data: usize,
    /// Unfinished backend multipart uploads no upload state named.
    pub uploads: usize,
}

/// How long the sweep waits between listing old data and reading the records that may
/// name it (at most the grace period): longer than any commit takes after its data is
/// complete (40 attempts with at most a third of a second of back-off each).
const SETTLE: Duration = Duration::from_secs(60);

/// A bucket's old unnamed-so-far data objects and its uploads in progress.
struct Candidates {
    bucket: String,
    data: HashSet<String>,
    uploads: HashSet<String>,
}

impl Gateway {
    /// Sweeps every bucket: deletes data objects older than `grace` that no record
    /// names, and aborts stateless backend uploads older than `grace` and a day.
    pub async fn sweep(&self, grace: Duration) -> StoreResult<Swept> {
        let mut found = Vec::new();
        for bucket in self.list_buckets().await? {
            found.push(self.candidates(&bucket.name, grace).await?);
        }
        if found.iter().any(|c| !c.data.is_empty()) {
            tokio::time::sleep(grace.min(SETTLE)).await;
        }
        let mut total = Swept::default();
        for c in found {
            total.data += self.delete_unnamed(&c).await?;
            total.uploads += self.abort_stale_uploads(&c, grace).await?;
        }
        Ok(total)
    }

    /// (1) and (2): old data objects not of an upload in progress.
    async fn candidates(&self, bucket: &str, grace: Duration) -> StoreResult<Candidates> {
        let now = SystemTime::now();
        let mut data: HashSet<String> = self
            .list_dated(&format!("{bucket}/d/"))
            .await?
            .into_iter()
            .filter(|(_, t)| older_than(now, *t, grace))
            .filter_map(|(rel, _)| rel.strip_prefix(&format!("{bucket}/")).map(str::to_string))
            .collect();
        // Uploads in progress: their data is named `d/<upload id>`.
        let uploads: HashSet<String> = self
            .list_all(&format!("{bucket}/u/"))
            .await?
            .into_iter()
            .filter_map(|(rel, _)| rel.rsplit('/').next().map(str::to_string))
            .collect();
        data.retain(|d| !d.strip_prefix("d/").is_some_and(|id| uploads.contains(id)));
        Ok(Candidates {
            bucket: bucket.to_string(),
            data,
            uploads,
        })
    }

    /// (3): deletes the candidates no record version names; how many.
    async fn delete_unnamed(&self, c: &Candidates) -> StoreResult<usize> {
        if c.data.is_empty() {
            return Ok(0);
        }
        let bucket = c.bucket.as_str();
        let mut unnamed = c.data.clone();
        let records = self.list_all(&format!("{bucket}/r/")).await?;
        let mut read = futures_util::stream::iter(records)
            .map(|(rel, etag)| async move { self.listed_record(bucket, &rel, &etag).await })
            .buffer_unordered(LIST_PARALLEL);
        while let Some(record) = read.next().await {
            let Some(record) = record? else { continue };
            for v in std::iter::once(&*record).chain(record.older.iter()) {
                for d in &v.data {
                    unnamed.remove(d);
                }
            }
        }
        let gone: Vec<String> = unnamed.iter().map(|d| format!("{bucket}/{d}")).collect();
        self.delete_many(&gone).await?;
        Ok(gone.len())
    }

    /// Aborts backend uploads no upload state owns, started more than a day (and the
    /// grace period) ago; how many.
    async fn abort_stale_uploads(&self, c: &Candidates, grace: Duration) -> StoreResult<usize> {
        let now = SystemTime::now();
        let mut aborted = 0;
        for (name, id, started) in self.backend_uploads(&format!("{}/d/", c.bucket)).await? {
            let upload = name.rsplit('/').next().unwrap_or_default();
            if c.uploads.contains(upload) || !older_than(now, started, grace.max(UPLOAD_GRACE)) {
                continue;
            }
            self.abort_backend_upload(&name, &id).await?;
            aborted += 1;
        }
        Ok(aborted)
    }

    /// Every backend key below `prefix` (relative names) with its last-modified time.
    async fn list_dated(&self, prefix: &str) -> StoreResult<Vec<(String, Option<SystemTime>)>> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .conn
                .s3
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(self.name(prefix))
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.backend_error("list", self.conn.error(e)))?;
            for o in page.contents() {
                let Some(rel) = o.key().and_then(|k| k.strip_prefix(self.prefix.as_str())) else {
                    continue;
                };
                let at = o
                    .last_modified()
                    .and_then(|t| SystemTime::try_from(*t).ok());
                all.push((rel.to_string(), at));
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => return Ok(all),
            }
        }
    }
}

/// Whether `t` is at least `age` before `now`.
fn older_than(now: SystemTime, t: Option<SystemTime>, age: Duration) -> bool {
    t.is_some_and(|t| now.duration_since(t).is_ok_and(|a| a >= age))
}
