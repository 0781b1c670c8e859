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
//! progress, (3) every record. A commit naming a data object from (1) happened before
//! its upload state went away, so either (2) sees the state or (3) sees the record.

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

impl Gateway {
    /// Sweeps every bucket: deletes data objects older than `grace` that no record
    /// names, and aborts stateless backend uploads older than `grace` and a day.
    pub async fn sweep(&self, grace: Duration) -> StoreResult<Swept> {
        let mut total = Swept::default();
        for bucket in self.list_buckets().await? {
            let s = self.sweep_bucket(&bucket.name, grace).await?;
            total.data += s.data;
            total.uploads += s.uploads;
        }
        Ok(total)
    }

    async fn sweep_bucket(&self, bucket: &str, grace: Duration) -> StoreResult<Swept> {
        let now = SystemTime::now();
        let older_than = |t: Option<SystemTime>, age: Duration| {
            t.is_some_and(|t| now.duration_since(t).is_ok_and(|a| a >= age))
        };
        // (1) Old data objects, by their name below the bucket (`d/<id>`).
        let mut candidates: HashSet<String> = self
            .list_dated(&format!("{bucket}/d/"))
            .await?
            .into_iter()
            .filter(|(_, t)| older_than(*t, grace))
            .filter_map(|(rel, _)| rel.strip_prefix(&format!("{bucket}/")).map(str::to_string))
            .collect();
        // (2) Uploads in progress: their data is named `d/<upload id>`.
        let uploads: HashSet<String> = self
            .list_all(&format!("{bucket}/u/"))
            .await?
            .into_iter()
            .filter_map(|(rel, _)| rel.rsplit('/').next().map(str::to_string))
            .collect();
        candidates.retain(|d| !d.strip_prefix("d/").is_some_and(|id| uploads.contains(id)));
        // (3) Every record: what any version names is live.
        if !candidates.is_empty() {
            let records = self.list_all(&format!("{bucket}/r/")).await?;
            let mut read = futures_util::stream::iter(records)
                .map(|(rel, etag)| async move { self.listed_record(bucket, &rel, &etag).await })
                .buffer_unordered(LIST_PARALLEL);
            while let Some(record) = read.next().await {
                let Some(record) = record? else { continue };
                for v in std::iter::once(&*record).chain(record.older.iter()) {
                    for d in &v.data {
                        candidates.remove(d);
                    }
                }
            }
        }
        let gone: Vec<String> = candidates.iter().map(|d| format!("{bucket}/{d}")).collect();
        self.delete_many(&gone).await?;
        // Backend uploads that no upload state names and that are older than a day.
        let stale = self.backend_uploads(&format!("{bucket}/d/")).await?;
        let mut aborted = 0;
        for (name, id, started) in stale {
            let upload = name.rsplit('/').next().unwrap_or_default();
            if uploads.contains(upload) || !older_than(started, grace.max(UPLOAD_GRACE)) {
                continue;
            }
            self.abort_backend_upload(&name, &id).await?;
            aborted += 1;
        }
        Ok(Swept {
            data: gone.len(),
            uploads: aborted,
        })
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
