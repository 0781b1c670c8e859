//! Bucket lifecycle: the rules as stored, their evaluation, and the background scanner
//! that applies them.
//!
//! A rule selects objects by prefix, tags and size, and says what expires: current
//! versions after a number of days or at a date (a delete marker is added in a bucket
//! with versioning, the object removed otherwise), noncurrent versions some days after
//! they became noncurrent (keeping the newest few if asked), delete markers left alone
//! with no version behind them, and multipart uploads some days after they started.
//!
//! The scanner walks the buckets that have rules, a bounded amount of work per pass
//! ([`MAX_KEYS_PER_PASS`] keys, [`MAX_ACTIONS_PER_PASS`] deletions), resuming where the
//! last pass stopped. It keeps no state on disk: what expires follows from the stored
//! rules and the stored times of each version, so after a restart the next passes catch
//! up. Versions under object lock are never removed by it.
//!
//! A lifecycle "day" is 86 400 s, and expiry instants are rounded up to the next
//! midnight UTC as S3 does. For tests the day can be shortened
//! (`--lifecycle-day-seconds`, as RGW's `rgw_lc_debug_interval`); it then counts from
//! the version's time exactly, and the scanner runs every fifth of a day.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::{ListEntry, ObjectMeta, ObjectStore, StoreError, Versioning};

/// The bucket setting that holds the rules (JSON).
pub const SETTING: &str = "lifecycle.json";
/// Keys examined per pass at most.
pub const MAX_KEYS_PER_PASS: usize = 100_000;
/// Versions deleted or uploads aborted per pass at most.
pub const MAX_ACTIONS_PER_PASS: usize = 1_000;
/// The length of a real lifecycle day.
pub const DAY: Duration = Duration::from_secs(86_400);

const NS_PER_SEC: i128 = 1_000_000_000;

/// One lifecycle rule, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Rule ID (unique within the bucket).
    pub id: String,
    /// `Status: Enabled`.
    pub enabled: bool,
    /// Key prefix the rule applies to.
    #[serde(default)]
    pub prefix: String,
    /// The prefix was given as `<Prefix>` outside a `<Filter>` (the older form).
    #[serde(default)]
    pub legacy_prefix: bool,
    /// The filter was an `<And>`.
    #[serde(default)]
    pub and: bool,
    /// Tags an object must all have.
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// Only objects larger than this many bytes.
    #[serde(default)]
    pub size_greater_than: Option<i64>,
    /// Only objects smaller than this many bytes.
    #[serde(default)]
    pub size_less_than: Option<i64>,
    /// Current versions expire this many days after they were written.
    #[serde(default)]
    pub expiration_days: Option<i32>,
    /// Current versions expire at this instant (Unix nanoseconds).
    #[serde(default)]
    pub expiration_date_ns: Option<i128>,
    /// A delete marker with no versions behind it is removed.
    #[serde(default)]
    pub expired_delete_marker: bool,
    /// Noncurrent versions expire this many days after becoming noncurrent.
    #[serde(default)]
    pub noncurrent_days: Option<i32>,
    /// …except the newest this many noncurrent versions.
    #[serde(default)]
    pub newer_noncurrent: Option<i32>,
    /// Multipart uploads are aborted this many days after they started.
    #[serde(default)]
    pub abort_upload_days: Option<i32>,
}

impl Rule {
    /// Whether the rule applies to a version of `key` with this size and tags (`tags`
    /// `None`: not known, and the rule needs none).
    pub fn matches(&self, key: &str, size: u64, tags: Option<&[(String, String)]>) -> bool {
        if !self.enabled || !key.starts_with(&self.prefix) {
            return false;
        }
        let size = i128::from(size);
        if self
            .size_greater_than
            .is_some_and(|n| size <= i128::from(n))
            || self.size_less_than.is_some_and(|n| size >= i128::from(n))
        {
            return false;
        }
        self.tags.is_empty() || tags.is_some_and(|have| self.tags.iter().all(|t| have.contains(t)))
    }

    /// Whether the rule needs an object's tags to decide.
    pub fn needs_tags(&self) -> bool {
        !self.tags.is_empty()
    }
}

/// Lifecycle timing: the length of a day, and whether instants round to midnight UTC.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    day_ns: i128,
}

impl Clock {
    /// A clock whose lifecycle day lasts `day`.
    pub fn new(day: Duration) -> Self {
        Self {
            day_ns: i128::try_from(day.as_nanos()).unwrap_or(i128::MAX).max(1),
        }
    }

    /// `days` after `from_ns`: rounded up to the next midnight UTC for real days, exact
    /// for a shortened test day.
    pub fn after(&self, from_ns: i128, days: i32) -> i128 {
        let at = from_ns.saturating_add(i128::from(days).saturating_mul(self.day_ns));
        if self.day_ns == i128::from(DAY.as_secs()) * NS_PER_SEC {
            let day = self.day_ns;
            at.div_euclid(day)
                .saturating_add(i128::from(at.rem_euclid(day) != 0))
                * day
        } else {
            at
        }
    }
}

/// When a current version expires under `rules`, and by which rule (the earliest).
pub fn expiry(rules: &[Rule], meta: &ObjectMeta, clock: &Clock) -> Option<(i128, String)> {
    rules
        .iter()
        .filter(|r| r.matches(&meta.key, meta.size, Some(&meta.tags)))
        .filter_map(|r| {
            let by_days = r.expiration_days.map(|d| clock.after(meta.modified_ns, d));
            let at = match (by_days, r.expiration_date_ns) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b)?,
            };
            Some((at, r.id.clone()))
        })
        .min()
}

/// Reads the tags of a version (`None`: unknown).
pub type TagsOf<'a> = dyn FnMut(&ListEntry) -> Option<Vec<(String, String)>> + 'a;

/// What the scanner does to one key.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Versions to delete for good, by ID (`"null"`: the null version).
    pub remove: Vec<String>,
    /// The current version expires: delete the object as a DELETE without version ID
    /// would.
    pub expire_current: bool,
}

/// Decides what expires of one key's versions (newest first) at `now_ns`. `tags_of`
/// reads a version's tags when a rule filters on them.
pub fn plan(
    rules: &[Rule],
    versions: &[ListEntry],
    now_ns: i128,
    clock: &Clock,
    tags_of: &mut TagsOf<'_>,
) -> Plan {
    let mut out = Plan::default();
    let Some(current) = versions.first() else {
        return out;
    };
    let mut matching = |rule: &Rule, v: &ListEntry| {
        if !rule.enabled || !v.key.starts_with(&rule.prefix) {
            return false;
        }
        if rule.needs_tags() {
            let tags = tags_of(v);
            rule.matches(&v.key, v.size, tags.as_deref())
        } else {
            rule.matches(&v.key, v.size, None)
        }
    };
    // Noncurrent versions: version i became noncurrent when version i-1 was written.
    for rule in rules.iter().filter(|r| r.noncurrent_days.is_some()) {
        let days = rule.noncurrent_days.unwrap_or(0);
        let keep = usize::try_from(rule.newer_noncurrent.unwrap_or(0)).unwrap_or(0);
        for (i, v) in versions.iter().enumerate().skip(1 + keep) {
            let since = versions[i - 1].modified_ns;
            let id = crate::store::versions::shown_id(v.version_id.as_deref()).to_string();
            if now_ns >= clock.after(since, days)
                && !out.remove.contains(&id)
                && if v.delete_marker {
                    rule.enabled && v.key.starts_with(&rule.prefix)
                } else {
                    matching(rule, v)
                }
            {
                out.remove.push(id);
            }
        }
    }
    let left = versions.len() - out.remove.len();
    if current.delete_marker {
        // A delete marker that is all that is left of the key: removed by a rule that
        // says so, or by an Expiration after its days (as S3 does).
        let expired = |r: &Rule| {
            r.expired_delete_marker
                || r.expiration_days
                    .is_some_and(|d| now_ns >= clock.after(current.modified_ns, d))
        };
        if left == 1
            && rules
                .iter()
                .any(|r| r.enabled && current.key.starts_with(&r.prefix) && expired(r))
        {
            out.remove
                .push(crate::store::versions::shown_id(current.version_id.as_deref()).to_string());
        }
        return out;
    }
    out.expire_current = rules.iter().any(|r| {
        let due = r
            .expiration_days
            .map(|d| clock.after(current.modified_ns, d))
            .into_iter()
            .chain(r.expiration_date_ns)
            .min()
            .is_some_and(|at| now_ns >= at);
        due && matching(r, current)
    });
    out
}

/// Reads a bucket's rules.
pub async fn rules_of(store: &dyn ObjectStore, bucket: &str) -> Result<Vec<Rule>, StoreError> {
    match store.get_bucket_setting(bucket, SETTING).await? {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| StoreError::Internal(format!("lifecycle rules of {bucket}: {e}"))),
    }
}

fn now_ns() -> i128 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos()
}

/// Where the next pass resumes: a bucket and the last key examined in it.
#[derive(Debug, Default)]
struct Cursor {
    bucket: String,
    after: String,
}

/// Counts of a scanner's work, for tests and logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassStats {
    /// Keys examined.
    pub keys: usize,
    /// Versions removed, delete markers added, uploads aborted.
    pub actions: usize,
}

/// Runs the scanner until the process ends: one pass every fifth of a lifecycle day
/// (at least every second, at most every hour).
pub async fn run(store: Arc<dyn ObjectStore>, day: Duration) {
    let clock = Clock::new(day);
    let period = (day / 5).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    let mut cursor = Cursor::default();
    loop {
        tokio::time::sleep(period).await;
        if let Err(e) = pass(store.as_ref(), &clock, &mut cursor).await {
            tracing::error!(error = %e, "lifecycle scan failed");
        }
    }
}

/// One bounded pass over the buckets that have lifecycle rules.
async fn pass(
    store: &dyn ObjectStore,
    clock: &Clock,
    cursor: &mut Cursor,
) -> Result<PassStats, StoreError> {
    let mut stats = PassStats::default();
    let buckets = store.list_buckets().await?;
    let start = buckets
        .iter()
        .position(|b| b.name >= cursor.bucket)
        .unwrap_or(0);
    let order = buckets[start..].iter().chain(buckets[..start].iter());
    for b in order {
        let rules = match rules_of(store, &b.name).await {
            Ok(r) => r,
            Err(StoreError::NoSuchBucket) => continue,
            Err(e) => return Err(e),
        };
        let after = if cursor.bucket == b.name {
            std::mem::take(&mut cursor.after)
        } else {
            String::new()
        };
        if rules.iter().any(|r| r.enabled) {
            match scan_bucket(store, &b.name, &rules, clock, after, &mut stats).await {
                Ok(None) => {}
                Ok(Some(resume)) => {
                    *cursor = Cursor {
                        bucket: b.name.clone(),
                        after: resume,
                    };
                    return Ok(stats);
                }
                Err(StoreError::NoSuchBucket) => {}
                Err(e) => return Err(e),
            }
        }
    }
    *cursor = Cursor::default();
    Ok(stats)
}

/// Applies `rules` to one bucket from key `after` on; returns where to resume when the
/// pass's budget ran out.
async fn scan_bucket(
    store: &dyn ObjectStore,
    bucket: &str,
    rules: &[Rule],
    clock: &Clock,
    mut after: String,
    stats: &mut PassStats,
) -> Result<Option<String>, StoreError> {
    let versioning = match store
        .get_bucket_setting(bucket, crate::s3::VERSIONING_SETTING)
        .await?
        .as_deref()
    {
        Some("Enabled") => Versioning::Enabled,
        Some("Suspended") => Versioning::Suspended,
        _ => Versioning::Unversioned,
    };
    let now = now_ns();
    if after.is_empty() {
        abort_uploads(store, bucket, rules, clock, now, stats).await?;
    }
    loop {
        let batch = store.list_versions(bucket, "", &after, 1000).await?;
        if batch.is_empty() {
            return Ok(None);
        }
        for versions in batch {
            let Some(first) = versions.first() else {
                continue;
            };
            let key = first.key.clone();
            if stats.keys >= MAX_KEYS_PER_PASS || stats.actions >= MAX_ACTIONS_PER_PASS {
                return Ok(Some(after));
            }
            stats.keys += 1;
            let mut tagged = Vec::new();
            for v in &versions {
                if rules.iter().any(Rule::needs_tags) {
                    let version = crate::store::versions::shown_id(v.version_id.as_deref());
                    let tags = store
                        .head_object(bucket, &key, Some(version))
                        .await
                        .ok()
                        .map(|m| m.tags);
                    tagged.push(tags);
                } else {
                    tagged.push(None);
                }
            }
            let mut tags_of = |e: &ListEntry| {
                versions
                    .iter()
                    .position(|v| v.version_id == e.version_id)
                    .and_then(|i| tagged[i].clone())
            };
            let plan = plan(rules, &versions, now, clock, &mut tags_of);
            apply(store, bucket, &key, versioning, plan, stats).await?;
            after = key;
        }
    }
}

/// Carries out one key's plan. Versions under object lock stay.
async fn apply(
    store: &dyn ObjectStore,
    bucket: &str,
    key: &str,
    versioning: Versioning,
    plan: Plan,
    stats: &mut PassStats,
) -> Result<(), StoreError> {
    for version in &plan.remove {
        let check: crate::store::DeleteCheck =
            Box::new(|v: &ObjectMeta, _| crate::s3::lock_allows_delete(v));
        match store
            .delete_object(bucket, key, Some(version), versioning, Some(check))
            .await
        {
            Ok(_) => stats.actions += 1,
            Err(StoreError::Locked) => {}
            Err(e) => return Err(e),
        }
    }
    if plan.expire_current {
        let check: crate::store::DeleteCheck = Box::new(|v: &ObjectMeta, permanent| {
            if permanent {
                crate::s3::lock_allows_delete(v)
            } else {
                Ok(())
            }
        });
        match store
            .delete_object(bucket, key, None, versioning, Some(check))
            .await
        {
            Ok(_) => stats.actions += 1,
            Err(StoreError::Locked) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Aborts the bucket's multipart uploads that are older than a rule allows.
async fn abort_uploads(
    store: &dyn ObjectStore,
    bucket: &str,
    rules: &[Rule],
    clock: &Clock,
    now: i128,
    stats: &mut PassStats,
) -> Result<(), StoreError> {
    if !rules
        .iter()
        .any(|r| r.enabled && r.abort_upload_days.is_some())
    {
        return Ok(());
    }
    for (key, upload, initiated) in store.list_uploads(bucket).await? {
        let due = rules.iter().any(|r| {
            r.enabled
                && key.starts_with(&r.prefix)
                && r.abort_upload_days
                    .is_some_and(|d| now >= clock.after(initiated, d))
        });
        if due && stats.actions < MAX_ACTIONS_PER_PASS {
            match store.abort_multipart(bucket, &key, &upload).await {
                Ok(()) => stats.actions += 1,
                Err(StoreError::NoSuchUpload) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SEC: i128 = NS_PER_SEC;

    fn entry(key: &str, id: &str, t: i128, marker: bool) -> ListEntry {
        ListEntry {
            key: key.into(),
            size: 10,
            etag: String::new(),
            modified_ns: t * SEC,
            version_id: (id != "null").then(|| id.to_string()),
            delete_marker: marker,
        }
    }

    fn no_tags(_: &ListEntry) -> Option<Vec<(String, String)>> {
        None
    }

    #[test]
    fn real_days_round_up_to_midnight_and_test_days_do_not() {
        let real = Clock::new(DAY);
        // 2024-01-01T10:00:00Z + 1 day -> 2024-01-03T00:00:00Z.
        let t = 1_704_103_200 * SEC;
        assert_eq!(real.after(t, 1), 1_704_240_000 * SEC);
        assert_eq!(real.after(1_704_067_200 * SEC, 1), 1_704_153_600 * SEC);
        let test = Clock::new(Duration::from_secs(10));
        assert_eq!(test.after(t, 2), t + 20 * SEC);
    }

    #[test]
    fn current_versions_expire_by_prefix_size_and_tags() {
        let clock = Clock::new(Duration::from_secs(10));
        let rule = Rule {
            id: "r".into(),
            enabled: true,
            prefix: "logs/".into(),
            expiration_days: Some(1),
            size_greater_than: Some(5),
            ..Default::default()
        };
        let v = [entry("logs/a", "null", 100, false)];
        let p = plan(
            std::slice::from_ref(&rule),
            &v,
            105 * SEC,
            &clock,
            &mut no_tags,
        );
        assert!(!p.expire_current, "not due yet");
        let p = plan(
            std::slice::from_ref(&rule),
            &v,
            111 * SEC,
            &clock,
            &mut no_tags,
        );
        assert!(p.expire_current);
        let other = [entry("data/a", "null", 100, false)];
        assert!(
            !plan(
                std::slice::from_ref(&rule),
                &other,
                200 * SEC,
                &clock,
                &mut no_tags
            )
            .expire_current
        );
        let tagged = Rule {
            tags: vec![("t".into(), "1".into())],
            ..rule
        };
        assert!(
            !plan(
                std::slice::from_ref(&tagged),
                &v,
                200 * SEC,
                &clock,
                &mut no_tags
            )
            .expire_current
        );
        let mut has = |_: &ListEntry| Some(vec![("t".to_string(), "1".to_string())]);
        assert!(plan(&[tagged], &v, 200 * SEC, &clock, &mut has).expire_current);
    }

    #[test]
    fn noncurrent_versions_and_lone_markers() {
        let clock = Clock::new(Duration::from_secs(10));
        let rule = Rule {
            id: "r".into(),
            enabled: true,
            noncurrent_days: Some(1),
            newer_noncurrent: Some(1),
            expired_delete_marker: true,
            ..Default::default()
        };
        // Newest first: v4 (current), v3 noncurrent since 400, v2 since 300, v1 since 200.
        let v = [
            entry("k", "v4", 400, false),
            entry("k", "v3", 300, false),
            entry("k", "v2", 200, false),
            entry("k", "v1", 100, false),
        ];
        let p = plan(
            std::slice::from_ref(&rule),
            &v,
            405 * SEC,
            &clock,
            &mut no_tags,
        );
        // v3 is kept as the one newer noncurrent version; v2 and v1 are due.
        assert_eq!(p.remove, ["v2", "v1"]);
        assert!(!p.expire_current);
        let lone = [entry("k", "m", 100, true)];
        assert_eq!(
            plan(
                std::slice::from_ref(&rule),
                &lone,
                101 * SEC,
                &clock,
                &mut no_tags
            )
            .remove,
            ["m"]
        );
        let covered = [entry("k", "m", 100, true), entry("k", "v1", 50, false)];
        assert!(plan(&[rule], &covered, 101 * SEC, &clock, &mut no_tags)
            .remove
            .is_empty());
    }

    #[test]
    fn disabled_rules_do_nothing() {
        let clock = Clock::new(Duration::from_secs(1));
        let rule = Rule {
            id: "r".into(),
            enabled: false,
            expiration_days: Some(1),
            ..Default::default()
        };
        let v = [entry("k", "null", 0, false)];
        assert_eq!(
            plan(&[rule], &v, 1_000 * SEC, &clock, &mut no_tags),
            Plan::default()
        );
    }
}
