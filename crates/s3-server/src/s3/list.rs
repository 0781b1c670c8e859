//! Listings: ListObjects v1/v2 and ListObjectVersions, with prefix,
//! delimiter, markers, continuation tokens, max-keys and `encoding-type=url`.

use base64::Engine;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::convert::{etag, timestamp, url_encode};
use super::errors::s3;
use super::CofferS3;
use crate::store::versions::shown_id;
use crate::store::ListEntry;

/// One page of a listing.
struct Page {
    entries: Vec<ListEntry>,
    prefixes: Vec<String>,
    truncated: bool,
    /// The last key or common prefix returned (the next marker).
    last: Option<String>,
}

/// Sorts after every key that starts with `s`.
fn past(s: &str) -> String {
    format!("{s}\u{10FFFF}")
}

async fn walk(
    s: &CofferS3,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    marker: &str,
    max_keys: usize,
) -> S3Result<Page> {
    let mut page = Page {
        entries: Vec::new(),
        prefixes: Vec::new(),
        truncated: false,
        last: None,
    };
    let delimiter = delimiter.filter(|d| !d.is_empty());
    // A marker that is a common prefix skips everything under it.
    let mut after = match delimiter {
        Some(d)
            if marker.starts_with(prefix)
                && marker[prefix.len()..].contains(d)
                && marker.ends_with(d) =>
        {
            past(marker)
        }
        _ => marker.to_string(),
    };
    if max_keys == 0 {
        return Ok(page);
    }
    'outer: loop {
        let batch = s
            .store
            .list_objects(bucket, prefix, &after, 1000)
            .await
            .map_err(s3)?;
        if batch.is_empty() {
            break;
        }
        for e in batch {
            let rest = &e.key[prefix.len()..];
            if let Some(pos) = delimiter.and_then(|d| rest.find(d).map(|p| p + d.len())) {
                let cp = e.key[..prefix.len() + pos].to_string();
                if page.entries.len() + page.prefixes.len() == max_keys {
                    page.truncated = true;
                    break 'outer;
                }
                after = past(&cp);
                page.last = Some(cp.clone());
                page.prefixes.push(cp);
                continue 'outer;
            }
            if page.entries.len() + page.prefixes.len() == max_keys {
                page.truncated = true;
                break 'outer;
            }
            after = e.key.clone();
            page.last = Some(e.key.clone());
            page.entries.push(e);
        }
    }
    open_etags(s, bucket, &mut page.entries).await?;
    Ok(page)
}

/// Replaces sealed SSE-S3 ETags with the MD5s clients see: from memory for object
/// versions seen before, else with one KMS call per object (a few at a time).
async fn open_etags(s: &CofferS3, bucket: &str, entries: &mut [ListEntry]) -> S3Result<()> {
    use futures_util::StreamExt;
    let unknown: Vec<usize> = (0..entries.len())
        .filter(|&i| match s.sse.known_etag(&entries[i].etag) {
            Some(v) => {
                entries[i].etag = v;
                false
            }
            None => true,
        })
        .collect();
    let opened: Vec<(usize, S3Result<String>)> =
        futures_util::stream::iter(unknown.into_iter().map(|i| {
            let key = entries[i].key.clone();
            let version = entries[i].version_id.clone();
            async move {
                let visible = async {
                    let meta = s
                        .store
                        .head_object(bucket, &key, Some(shown_id(version.as_deref())))
                        .await
                        .map_err(s3)?;
                    s.sse.visible_etag(bucket, &meta, None).await
                }
                .await;
                (i, visible)
            }
        }))
        .buffered(8)
        .collect()
        .await;
    for (i, visible) in opened {
        match visible {
            Ok(v) => entries[i].etag = v,
            // Deleted since it was listed: the listing is a snapshot; keep the entry.
            Err(e) if e.code() == &s3s::S3ErrorCode::NoSuchKey => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn max_keys(m: Option<i32>) -> S3Result<usize> {
    match m {
        None => Ok(1000),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "max-keys must not be negative")),
        Some(n) => Ok((n as usize).min(1000)),
    }
}

fn url_mode(e: &Option<EncodingType>) -> S3Result<bool> {
    match e.as_ref().map(|e| e.as_str()) {
        None => Ok(false),
        Some("url") => Ok(true),
        Some(other) => Err(s3_error!(InvalidArgument, "invalid encoding-type {other}")),
    }
}

fn enc(url: bool, s: &str) -> String {
    if url {
        url_encode(s)
    } else {
        s.to_string()
    }
}

fn objects(entries: &[ListEntry], url: bool) -> Vec<Object> {
    entries
        .iter()
        .map(|e| Object {
            key: Some(enc(url, &e.key)),
            size: i64::try_from(e.size).ok(),
            e_tag: Some(etag(&e.etag)),
            last_modified: Some(timestamp(e.modified_ns)),
            storage_class: Some(ObjectStorageClass::from_static(
                ObjectStorageClass::STANDARD,
            )),
            ..Default::default()
        })
        .collect()
}

fn prefixes(p: &[String], url: bool) -> Vec<CommonPrefix> {
    p.iter()
        .map(|p| CommonPrefix {
            prefix: Some(enc(url, p)),
        })
        .collect()
}

/// ListObjects (v1).
pub async fn v1(
    s: &CofferS3,
    req: S3Request<ListObjectsInput>,
) -> S3Result<S3Response<ListObjectsOutput>> {
    let i = req.input;
    let url = url_mode(&i.encoding_type)?;
    let prefix = i.prefix.clone().unwrap_or_default();
    let marker = i.marker.clone().unwrap_or_default();
    let max = max_keys(i.max_keys)?;
    let page = walk(s, &i.bucket, &prefix, i.delimiter.as_deref(), &marker, max).await?;
    let next_marker = (page.truncated && i.delimiter.is_some())
        .then(|| page.last.clone())
        .flatten();
    Ok(S3Response::new(ListObjectsOutput {
        name: Some(i.bucket),
        // AWS leaves the echoed Prefix of ListObjects v1 unencoded (clients decode only
        // Delimiter, Marker and NextMarker there).
        prefix: Some(prefix),
        marker: Some(enc(url, &marker)),
        max_keys: Some(max as i32),
        is_truncated: Some(page.truncated),
        contents: Some(objects(&page.entries, url)),
        common_prefixes: Some(prefixes(&page.prefixes, url)),
        delimiter: i.delimiter.filter(|d| !d.is_empty()).map(|d| enc(url, &d)),
        next_marker: next_marker.map(|m| enc(url, &m)),
        encoding_type: i.encoding_type,
        ..Default::default()
    }))
}

/// ListObjectsV2.
pub async fn v2(
    s: &CofferS3,
    req: S3Request<ListObjectsV2Input>,
) -> S3Result<S3Response<ListObjectsV2Output>> {
    let i = req.input;
    let url = url_mode(&i.encoding_type)?;
    let prefix = i.prefix.clone().unwrap_or_default();
    let max = max_keys(i.max_keys)?;
    let marker = match &i.continuation_token {
        Some(t) => {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t)
                .map_err(|_| {
                    s3_error!(
                        InvalidArgument,
                        "The continuation token provided is incorrect"
                    )
                })?;
            String::from_utf8(bytes).map_err(|_| {
                s3_error!(
                    InvalidArgument,
                    "The continuation token provided is incorrect"
                )
            })?
        }
        None => i.start_after.clone().unwrap_or_default(),
    };
    let page = walk(s, &i.bucket, &prefix, i.delimiter.as_deref(), &marker, max).await?;
    let next = page
        .truncated
        .then(|| {
            page.last
                .as_ref()
                .map(|l| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(l))
        })
        .flatten();
    let owner = i.fetch_owner.unwrap_or(false).then(owner);
    let mut contents = objects(&page.entries, url);
    if let Some(o) = owner {
        for c in &mut contents {
            c.owner = Some(o.clone());
        }
    }
    Ok(S3Response::new(ListObjectsV2Output {
        name: Some(i.bucket),
        prefix: Some(enc(url, &prefix)),
        max_keys: Some(max as i32),
        key_count: Some((page.entries.len() + page.prefixes.len()) as i32),
        continuation_token: i.continuation_token,
        is_truncated: Some(page.truncated),
        next_continuation_token: next,
        contents: Some(contents),
        common_prefixes: Some(prefixes(&page.prefixes, url)),
        delimiter: i.delimiter.filter(|d| !d.is_empty()).map(|d| enc(url, &d)),
        encoding_type: i.encoding_type,
        start_after: i.start_after.map(|a| enc(url, &a)),
        ..Default::default()
    }))
}

/// The owner every object has (single-tenant server).
pub fn owner() -> Owner {
    Owner {
        display_name: Some("coffer".into()),
        id: Some("02d6176db174dc93cb1b899f7c6078f08654445fe8cf1b6ce98d8855f66bdbf4".into()),
    }
}

/// One page of a version listing.
struct VersionPage {
    /// Versions and delete markers, with whether each is its key's latest.
    entries: Vec<(ListEntry, bool)>,
    prefixes: Vec<String>,
    truncated: bool,
    /// Where the next page starts: the last key (or common prefix) returned, and the
    /// last version ID of that key.
    next: Option<(String, Option<String>)>,
}

impl VersionPage {
    fn full(&self, max: usize) -> bool {
        self.entries.len() + self.prefixes.len() >= max
    }

    /// Adds a key's versions from `skip` on; false once the page is full and more
    /// remain (the page is then truncated).
    fn emit(&mut self, versions: &[ListEntry], skip: usize, max: usize) -> bool {
        for (n, e) in versions.iter().enumerate().skip(skip) {
            if self.full(max) {
                self.truncated = true;
                return false;
            }
            let id = shown_id(e.version_id.as_deref()).to_string();
            self.next = Some((e.key.clone(), Some(id)));
            self.entries.push((e.clone(), n == 0));
        }
        true
    }
}

/// Walks keys and their versions (newest first) after `(key_marker, version_marker)`.
async fn walk_versions(
    s: &CofferS3,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    key_marker: &str,
    version_marker: Option<&str>,
    max: usize,
) -> S3Result<VersionPage> {
    let mut page = VersionPage {
        entries: Vec::new(),
        prefixes: Vec::new(),
        truncated: false,
        next: None,
    };
    let delimiter = delimiter.filter(|d| !d.is_empty());
    let common_prefix = |key: &str| -> Option<String> {
        let rest = key.strip_prefix(prefix)?;
        let d = delimiter?;
        rest.find(d)
            .map(|p| key[..prefix.len() + p + d.len()].to_string())
    };
    let mut after = match common_prefix(key_marker) {
        Some(cp) if cp == key_marker => past(key_marker),
        _ => key_marker.to_string(),
    };
    if max == 0 {
        return Ok(page);
    }
    // The rest of the marker key's versions, after the marker version.
    if let Some(v) = version_marker.filter(|v| !v.is_empty() && !key_marker.is_empty()) {
        // The marker key is the first key that starts with itself.
        let batch = s
            .store
            .list_versions(bucket, key_marker, "", 1)
            .await
            .map_err(s3)?;
        let marker_key = batch
            .first()
            .filter(|vs| vs.first().is_some_and(|e| e.key == key_marker));
        if let Some(versions) = marker_key {
            if key_marker.starts_with(prefix) && common_prefix(key_marker).is_none() {
                let skip = versions
                    .iter()
                    .position(|e| shown_id(e.version_id.as_deref()) == v)
                    .map_or(0, |p| p + 1);
                if !page.emit(versions, skip, max) {
                    return finish_versions(s, bucket, page).await;
                }
            }
        }
        after = key_marker.to_string();
    }
    'outer: loop {
        let batch = s
            .store
            .list_versions(bucket, prefix, &after, 1000)
            .await
            .map_err(s3)?;
        if batch.is_empty() {
            break;
        }
        for versions in batch {
            let Some(first) = versions.first() else {
                continue;
            };
            let key = first.key.clone();
            if let Some(cp) = common_prefix(&key) {
                if page.full(max) {
                    page.truncated = true;
                    break 'outer;
                }
                after = past(&cp);
                page.next = Some((cp.clone(), None));
                page.prefixes.push(cp);
                continue 'outer;
            }
            if !page.emit(&versions, 0, max) {
                break 'outer;
            }
            after = key;
        }
    }
    finish_versions(s, bucket, page).await
}

/// Shows sealed SSE-S3 ETags of a version page opened, as in object listings.
async fn finish_versions(
    s: &CofferS3,
    bucket: &str,
    mut page: VersionPage,
) -> S3Result<VersionPage> {
    let mut objects: Vec<ListEntry> = page
        .entries
        .iter()
        .filter(|(e, _)| !e.delete_marker)
        .map(|(e, _)| e.clone())
        .collect();
    open_etags(s, bucket, &mut objects).await?;
    let mut opened = objects.into_iter();
    for (e, _) in page.entries.iter_mut().filter(|(e, _)| !e.delete_marker) {
        if let Some(o) = opened.next() {
            e.etag = o.etag;
        }
    }
    Ok(page)
}

/// ListObjectVersions: every version and delete marker, newest first within a key.
pub async fn versions(
    s: &CofferS3,
    req: S3Request<ListObjectVersionsInput>,
) -> S3Result<S3Response<ListObjectVersionsOutput>> {
    let i = req.input;
    let url = url_mode(&i.encoding_type)?;
    let prefix = i.prefix.clone().unwrap_or_default();
    let marker = i.key_marker.clone().unwrap_or_default();
    let max = max_keys(i.max_keys)?;
    if i.version_id_marker
        .as_deref()
        .is_some_and(|v| !v.is_empty())
        && marker.is_empty()
    {
        return Err(s3_error!(
            InvalidArgument,
            "A version-id marker cannot be specified without a key marker."
        ));
    }
    let page = walk_versions(
        s,
        &i.bucket,
        &prefix,
        i.delimiter.as_deref(),
        &marker,
        i.version_id_marker.as_deref(),
        max,
    )
    .await?;
    let mut versions = Vec::new();
    let mut markers = Vec::new();
    for (e, latest) in &page.entries {
        let version_id = Some(shown_id(e.version_id.as_deref()).to_string());
        if e.delete_marker {
            markers.push(DeleteMarkerEntry {
                key: Some(enc(url, &e.key)),
                version_id,
                is_latest: Some(*latest),
                last_modified: Some(timestamp(e.modified_ns)),
                owner: Some(owner()),
            });
        } else {
            versions.push(ObjectVersion {
                key: Some(enc(url, &e.key)),
                version_id,
                is_latest: Some(*latest),
                size: i64::try_from(e.size).ok(),
                e_tag: Some(etag(&e.etag)),
                last_modified: Some(timestamp(e.modified_ns)),
                owner: Some(owner()),
                storage_class: Some(ObjectVersionStorageClass::from_static(
                    ObjectVersionStorageClass::STANDARD,
                )),
                ..Default::default()
            });
        }
    }
    let next = page.truncated.then_some(page.next).flatten();
    Ok(S3Response::new(ListObjectVersionsOutput {
        name: Some(i.bucket),
        prefix: Some(enc(url, &prefix)),
        key_marker: Some(enc(url, &marker)),
        version_id_marker: i.version_id_marker.clone(),
        max_keys: Some(max as i32),
        is_truncated: Some(page.truncated),
        next_key_marker: next.as_ref().map(|(k, _)| enc(url, k)),
        next_version_id_marker: next.and_then(|(_, v)| v),
        versions: Some(versions),
        delete_markers: (!markers.is_empty()).then_some(markers),
        common_prefixes: Some(prefixes(&page.prefixes, url)),
        delimiter: i.delimiter.filter(|d| !d.is_empty()).map(|d| enc(url, &d)),
        encoding_type: i.encoding_type,
        ..Default::default()
    }))
}
