//! The versions of one key, as its record holds them: the record's own fields are the
//! latest version, `versions` the older ones, newest first. Every change to a key's
//! versions is one new record replacing the old one in a single rename, so a crash
//! leaves the key's version list as it was or as the change made it: never a key with
//! zero or two latest versions.
//!
//! These functions compute the new record from the old; the committer
//! ([`super::commit`]) applies them under the key's lock.

use super::meta::ObjectMeta;
use super::{DeleteCheck, Deleted, StoreError, StoreResult, Versioning};

/// What a change does to a key's record.
#[derive(Debug)]
pub enum Change {
    /// Nothing to write.
    Keep,
    /// The new record.
    Write(Box<ObjectMeta>),
    /// The key has no versions left: its record goes.
    Remove,
}

/// The versions of a record, newest first (each without `versions` of its own).
pub fn unpack(mut record: ObjectMeta) -> Vec<ObjectMeta> {
    let older = std::mem::take(&mut record.older);
    let mut all = Vec::with_capacity(1 + older.len());
    all.push(record);
    all.extend(older);
    all
}

/// The record holding `versions` (newest first), or [`Change::Remove`] when none is left.
pub fn pack(mut versions: Vec<ObjectMeta>) -> Change {
    if versions.is_empty() {
        return Change::Remove;
    }
    let mut latest = versions.remove(0);
    latest.older = versions;
    Change::Write(Box::new(latest))
}

/// Whether `v` is the version a request names (`"null"`: the null version).
fn is(v: &ObjectMeta, id: &str) -> bool {
    match &v.version_id {
        Some(own) => own == id,
        None => id == "null",
    }
}

/// A version ID as a request names it (`"null"` for the null version).
pub fn shown_id(id: Option<&str>) -> &str {
    id.unwrap_or("null")
}

/// A new version ID: 32 hex digits, time-ordered (milliseconds since the epoch, then
/// random bits) so that IDs of one key sort by age as well as by position.
pub fn new_version_id() -> String {
    let ms = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(0);
    let mut random = [0u8; 10];
    let _ = aws_lc_rs::rand::fill(&mut random);
    format!("{:012x}{}", ms & 0xffff_ffff_ffff, hex::encode(random))
}

/// Whether `id` can name a version: `null` or an ID of [`new_version_id`]'s shape.
pub fn valid_version_id(id: &str) -> bool {
    id == "null" || (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The version of `record` a request names (the latest when `version` is `None`),
/// without the record's older versions. A delete marker is an error, as S3 has it.
pub fn select(record: ObjectMeta, version: Option<&str>) -> StoreResult<ObjectMeta> {
    let found = match version {
        None => {
            let mut latest = record;
            latest.older.clear();
            latest
        }
        Some(id) => unpack(record)
            .into_iter()
            .find(|v| is(v, id))
            .ok_or(StoreError::NoSuchVersion)?,
    };
    if found.delete_marker {
        return Err(StoreError::DeleteMarker {
            version_id: found.version_id,
            addressed: version.is_some(),
        });
    }
    Ok(found)
}

/// The record after writing `new` (whose `version_id` is already set: `Some` when
/// versioning is enabled, else `None`, the null version, which replaces any null
/// version the key had).
pub fn put(old: Option<ObjectMeta>, new: ObjectMeta) -> ObjectMeta {
    let mut versions = old.map(unpack).unwrap_or_default();
    if new.version_id.is_none() {
        versions.retain(|v| v.version_id.is_some());
    }
    versions.insert(0, new);
    match pack(versions) {
        Change::Write(record) => *record,
        // `versions` holds `new` at least.
        Change::Keep | Change::Remove => ObjectMeta::default(),
    }
}

/// The record after a delete (see [`super::ObjectStore::delete_object`]); `marker` is
/// the delete marker to add when one is due (its `version_id` set as for [`put`]).
pub fn delete(
    old: Option<ObjectMeta>,
    version: Option<&str>,
    versioning: Versioning,
    check: Option<&DeleteCheck>,
    marker: ObjectMeta,
) -> StoreResult<(Change, Deleted)> {
    let versioned = versioning != Versioning::Unversioned
        || old
            .as_ref()
            .is_some_and(|r| r.version_id.is_some() || !r.older.is_empty());
    let mut versions = old.map(unpack).unwrap_or_default();
    let approve = |v: &ObjectMeta, permanent: bool| match check {
        Some(check) => check(v, permanent),
        None => Ok(()),
    };
    if let Some(id) = version {
        let Some(at) = versions.iter().position(|v| is(v, id)) else {
            let deleted = Deleted {
                version_id: (id != "null").then(|| id.to_string()),
                delete_marker: false,
                versioned,
            };
            return Ok((Change::Keep, deleted));
        };
        approve(&versions[at], true)?;
        let gone = versions.remove(at);
        let deleted = Deleted {
            version_id: gone.version_id,
            delete_marker: gone.delete_marker,
            versioned,
        };
        return Ok((pack(versions), deleted));
    }
    match versioning {
        Versioning::Unversioned => {
            let Some(at) = versions.iter().position(|v| v.version_id.is_none()) else {
                return Ok((Change::Keep, Deleted::default()));
            };
            approve(&versions[at], true)?;
            versions.remove(at);
            Ok((
                pack(versions),
                Deleted {
                    versioned,
                    ..Default::default()
                },
            ))
        }
        Versioning::Enabled | Versioning::Suspended => {
            if let Some(latest) = versions.first() {
                approve(latest, false)?;
            }
            if marker.version_id.is_none() {
                // Suspended: the marker becomes the null version.
                if let Some(null) = versions.iter().find(|v| v.version_id.is_none()) {
                    approve(null, true)?;
                }
                versions.retain(|v| v.version_id.is_some());
            }
            let deleted = Deleted {
                version_id: marker.version_id.clone(),
                delete_marker: true,
                versioned: true,
            };
            versions.insert(0, marker);
            Ok((pack(versions), deleted))
        }
    }
}

/// The record after `update` changed the version named (the latest when `None`); the
/// version's stored bytes and identity stay as they were.
pub fn update(
    record: ObjectMeta,
    version: Option<&str>,
    update: impl FnOnce(&mut ObjectMeta) -> StoreResult<()>,
) -> StoreResult<(ObjectMeta, ObjectMeta)> {
    let mut versions = unpack(record);
    let at = match version {
        None => 0,
        Some(id) => versions
            .iter()
            .position(|v| is(v, id))
            .ok_or(StoreError::NoSuchVersion)?,
    };
    let target = &mut versions[at];
    if target.delete_marker {
        return Err(StoreError::DeleteMarker {
            version_id: target.version_id.clone(),
            addressed: version.is_some(),
        });
    }
    let mut changed = target.clone();
    update(&mut changed)?;
    // The stored bytes and the version's identity stay; a record never loses track of
    // its data.
    changed.key.clone_from(&target.key);
    changed.data.clone_from(&target.data);
    changed.inline_len = target.inline_len;
    changed.inline = target.inline.clone();
    changed.stored.clone_from(&target.stored);
    changed.version_id.clone_from(&target.version_id);
    changed.delete_marker = false;
    changed.older.clear();
    *target = changed.clone();
    match pack(versions) {
        Change::Write(record) => Ok((*record, changed)),
        Change::Keep | Change::Remove => Err(StoreError::NoSuchKey),
    }
}

/// Data files the old record names and the new one does not (to remove once the new
/// record is durable).
pub fn orphaned(old: &ObjectMeta, new: Option<&ObjectMeta>) -> Vec<String> {
    let kept: std::collections::HashSet<&str> = new
        .map(|n| {
            std::iter::once(n)
                .chain(n.older.iter())
                .flat_map(|v| v.data.iter().map(String::as_str))
                .collect()
        })
        .unwrap_or_default();
    std::iter::once(old)
        .chain(old.older.iter())
        .flat_map(|v| v.data.iter())
        .filter(|f| !kept.contains(f.as_str()))
        .cloned()
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn version(id: Option<&str>, etag: &str) -> ObjectMeta {
        ObjectMeta {
            key: "k".into(),
            etag: etag.into(),
            version_id: id.map(str::to_string),
            data: vec![format!("{etag}.data")],
            ..Default::default()
        }
    }

    fn marker(id: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            key: "k".into(),
            version_id: id.map(str::to_string),
            delete_marker: true,
            ..Default::default()
        }
    }

    fn etags(record: &ObjectMeta) -> Vec<String> {
        unpack(record.clone())
            .into_iter()
            .map(|v| {
                if v.delete_marker {
                    format!("DM:{}", shown_id(v.version_id.as_deref()))
                } else {
                    v.etag
                }
            })
            .collect()
    }

    #[test]
    fn enabled_puts_stack_and_null_is_replaced() {
        let r = put(None, version(None, "a"));
        let r = put(Some(r), version(Some("v1"), "b"));
        let r = put(Some(r), version(Some("v2"), "c"));
        assert_eq!(etags(&r), ["c", "b", "a"]);
        // Suspended: the new null version replaces the old null one, wherever it is.
        let r2 = put(Some(r.clone()), version(None, "d"));
        assert_eq!(etags(&r2), ["d", "c", "b"]);
        assert_eq!(orphaned(&r, Some(&r2)), ["a.data"]);
        assert_eq!(select(r2.clone(), Some("v1")).unwrap().etag, "b");
        assert_eq!(select(r2.clone(), Some("null")).unwrap().etag, "d");
        assert!(matches!(
            select(r2, Some("zz")),
            Err(StoreError::NoSuchVersion)
        ));
    }

    #[test]
    fn deletes_add_markers_or_remove_versions() {
        let r = put(None, version(Some("v1"), "a"));
        let (c, d) = delete(Some(r), None, Versioning::Enabled, None, marker(Some("m1"))).unwrap();
        let Change::Write(r) = c else { panic!() };
        let r = *r;
        assert!(d.delete_marker && d.version_id.as_deref() == Some("m1"));
        assert_eq!(etags(&r), ["DM:m1", "a"]);
        match select(r.clone(), None) {
            Err(StoreError::DeleteMarker {
                addressed: false, ..
            }) => {}
            other => panic!("{other:?}"),
        }
        match select(r.clone(), Some("m1")) {
            Err(StoreError::DeleteMarker {
                addressed: true, ..
            }) => {}
            other => panic!("{other:?}"),
        }
        // Removing the marker by ID brings the object back.
        let (c, d) = delete(Some(r), Some("m1"), Versioning::Enabled, None, marker(None)).unwrap();
        let Change::Write(r) = c else { panic!() };
        let r = *r;
        assert!(d.delete_marker);
        assert_eq!(select(r.clone(), None).unwrap().etag, "a");
        let (c, _) = delete(Some(r), Some("v1"), Versioning::Enabled, None, marker(None)).unwrap();
        assert!(matches!(c, Change::Remove));
    }

    #[test]
    fn suspended_delete_replaces_the_null_version_with_a_marker() {
        let r = put(None, version(None, "a"));
        let r = put(Some(r), version(Some("v1"), "b"));
        let (c, d) = delete(Some(r), None, Versioning::Suspended, None, marker(None)).unwrap();
        let Change::Write(r) = c else { panic!() };
        let r = *r;
        assert_eq!(d.version_id, None);
        assert_eq!(etags(&r), ["DM:null", "b"]);
    }

    #[test]
    fn a_refused_check_changes_nothing() {
        let r = put(None, version(Some("v1"), "a"));
        let check: DeleteCheck = Box::new(|_, permanent| {
            if permanent {
                Err(StoreError::Locked)
            } else {
                Ok(())
            }
        });
        assert!(matches!(
            delete(
                Some(r.clone()),
                Some("v1"),
                Versioning::Enabled,
                Some(&check),
                marker(None)
            ),
            Err(StoreError::Locked)
        ));
        // A delete marker is not a permanent delete.
        assert!(delete(
            Some(r),
            None,
            Versioning::Enabled,
            Some(&check),
            marker(Some("m"))
        )
        .is_ok());
    }

    #[test]
    fn updates_keep_data_and_identity() {
        let r = put(None, version(Some("v1"), "a"));
        let r = put(Some(r), version(Some("v2"), "b"));
        let (r, changed) = update(r, Some("v1"), |m| {
            m.tags = vec![("t".into(), "1".into())];
            m.data.clear();
            Ok(())
        })
        .unwrap();
        assert_eq!(changed.data, ["a.data"]);
        assert_eq!(select(r.clone(), Some("v1")).unwrap().tags.len(), 1);
        assert!(select(r, None).unwrap().tags.is_empty());
    }

    #[test]
    fn version_ids_are_valid_and_distinct() {
        let (a, b) = (new_version_id(), new_version_id());
        assert!(valid_version_id(&a) && valid_version_id(&b) && a != b);
        assert!(valid_version_id("null"));
        assert!(!valid_version_id("../x") && !valid_version_id(""));
    }
}
