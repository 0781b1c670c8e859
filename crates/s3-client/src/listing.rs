//! Listing objects and versions, every page.

use aws_sdk_s3::primitives::DateTime;

use crate::{Connection, Result};

/// One object of a listing.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag without quotes.
    pub etag: String,
    /// Last modification.
    pub modified: Option<DateTime>,
    /// Storage class.
    pub class: String,
}

/// Objects and common prefixes under a prefix.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Objects, in key order.
    pub objects: Vec<Entry>,
    /// Common prefixes (only with a delimiter).
    pub prefixes: Vec<String>,
}

/// Lists `bucket` under `prefix`; with `recursive` false, keys group at `/`.
pub async fn objects(
    conn: &Connection,
    bucket: &str,
    prefix: &str,
    recursive: bool,
) -> Result<Listing> {
    let mut out = Listing::default();
    let mut token: Option<String> = None;
    loop {
        let mut req = conn
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token.clone());
        if !recursive {
            req = req.delimiter("/");
        }
        let page = req.send().await.map_err(|e| conn.error(e))?;
        for o in page.contents() {
            out.objects.push(Entry {
                key: o.key().unwrap_or_default().to_string(),
                size: o.size().and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                etag: o.e_tag().unwrap_or_default().trim_matches('"').to_string(),
                modified: o.last_modified().copied(),
                class: o
                    .storage_class()
                    .map(|c| c.as_str().to_string())
                    .unwrap_or_else(|| "STANDARD".into()),
            });
        }
        for p in page.common_prefixes() {
            if let Some(p) = p.prefix() {
                out.prefixes.push(p.to_string());
            }
        }
        match page.next_continuation_token() {
            Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
            _ => break,
        }
    }
    Ok(out)
}

/// One version or delete marker.
#[derive(Debug, Clone)]
pub struct Version {
    /// Key.
    pub key: String,
    /// Version ID (`null` for the null version).
    pub version_id: String,
    /// Whether this is the current version.
    pub latest: bool,
    /// Whether this is a delete marker.
    pub delete_marker: bool,
    /// Size (0 for markers).
    pub size: u64,
    /// Last modification.
    pub modified: Option<DateTime>,
}

/// Every version and delete marker under `prefix`, per key newest first.
pub async fn versions(conn: &Connection, bucket: &str, prefix: &str) -> Result<Vec<Version>> {
    let mut out = Vec::new();
    let (mut key_marker, mut version_marker): (Option<String>, Option<String>) = (None, None);
    loop {
        let page = conn
            .s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .map_err(|e| conn.error(e))?;
        let mut batch = Vec::new();
        for v in page.versions() {
            batch.push(Version {
                key: v.key().unwrap_or_default().to_string(),
                version_id: v.version_id().unwrap_or("null").to_string(),
                latest: v.is_latest().unwrap_or(false),
                delete_marker: false,
                size: v.size().and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                modified: v.last_modified().copied(),
            });
        }
        for m in page.delete_markers() {
            batch.push(Version {
                key: m.key().unwrap_or_default().to_string(),
                version_id: m.version_id().unwrap_or("null").to_string(),
                latest: m.is_latest().unwrap_or(false),
                delete_marker: true,
                size: 0,
                modified: m.last_modified().copied(),
            });
        }
        // Servers may group versions and markers separately; order per key, newest first.
        batch.sort_by(|a, b| {
            a.key.cmp(&b.key).then_with(|| {
                b.modified
                    .map(|t| t.as_nanos())
                    .cmp(&a.modified.map(|t| t.as_nanos()))
            })
        });
        out.extend(batch);
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_string);
        version_marker = page.next_version_id_marker().map(str::to_string);
        if key_marker.is_none() {
            break;
        }
    }
    Ok(out)
}
