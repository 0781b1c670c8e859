//! The per-object metadata record, stored beside the data as `<hash>.meta`.
//!
//! ```text
//! JSON object on one line, one per object, written atomically (temp file, sync,
//! rename, sync); for a small unencrypted object the line ends with "\n" and the object's stored
//! bytes follow it in the same file (format 2, `inline`):
//! {
//!   "format": 2,                       // frozen field: record format version
//!   "key": "photos/2024/a.jpg",        // the S3 key
//!   "size": 12345,                     // plaintext size in bytes
//!   "etag": "9b2c…",                   // without quotes; "<md5>-<n>" for multipart
//!   "modified_ns": 1732700000000000000,
//!   "content_type": "image/jpeg",      // and the other system headers below, if set
//!   "user": {"x-amz-meta-a": "b"},     // user metadata, lower-case names
//!   "tags": [["k", "v"]],
//!   "data": ["<hash>.<id>.data"],      // data files, concatenated in order
//!   "inline": 4096,                    // or: this many stored bytes follow the line
//!   "stored": [12401],                 // bytes of each data file (absent: = plaintext sizes)
//!   "parts": [{"number":1,"size":…,"etag":…,"stored":…}],  // multipart objects only
//!   "checksum": ["CRC32", "NSRBwg=="],  // if uploaded with an additional checksum
//!   "upload_id": "…",                  // multipart objects only: the upload it came from
//!   "encryption": {…},                 // see below (absent when plaintext)
//!   "version_id": "…",                 // format 3: the version (absent: null version)
//!   "delete_marker": true,             // format 3: a delete marker
//!   "retention": {…}, "legal_hold": true,  // format 3: object lock
//!   "versions": [{…}, …]               // format 3: older versions, newest first
//! }
//! ```
//!
//! The `encryption` object of an encrypted object (format 1 of that object; the data
//! files then hold DARE 2.0 streams, one per part; see docs/FORMAT.md for recovery):
//!
//! ```text
//! {
//!   "version": 1,                      // frozen field: encryption record version
//!   "kind": "SSE-S3",                  // "SSE-C" | "SSE-S3" | "SSE-KMS" (the KEK domain)
//!   "algorithm": "DAREv2-HMAC-SHA256", // seal algorithm of sealed_key
//!   "iv": "<base64, 32 bytes>",
//!   "sealed_key": "<base64, 64 bytes>",// the object key, DARE-sealed under the KEK
//!   "kms_key": "my-key",               // SSE-S3 / SSE-KMS: the KMS key name
//!   "kms_sealed_key": "<base64>",      // SSE-S3 / SSE-KMS: the KMS ciphertext of the EK
//!   "context": "<base64>",             // SSE-KMS: the client's context, canonical JSON
//!   "multipart": true                  // parts are encrypted under part keys
//! }
//! ```
//!
//! Readers ignore unknown fields, so later versions can add fields; a record with a
//! higher `format` than this code knows is refused.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Record format written by this code. Frozen per version: 1 is the JSON record alone,
/// 2 may carry the object's bytes after it (`inline`), 3 holds versions (a version id, a
/// delete marker, older versions or object-lock fields). A record without any of those
/// is still written as format 2, byte for byte as before versioning existed.
pub const FORMAT: u32 = 3;

/// The format of records that hold nothing of versioning.
pub const FORMAT_UNVERSIONED: u32 = 2;

/// Stored bytes kept in the record file itself. Its `Debug` shows the length only: for
/// an unencrypted object these bytes are the plaintext.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct InlineData(pub Option<Bytes>);

impl std::fmt::Debug for InlineData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(b) => write!(f, "InlineData({} bytes)", b.len()),
            None => f.write_str("InlineData(None)"),
        }
    }
}

/// Metadata of one object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// Record format version.
    #[serde(default)]
    pub format: u32,
    /// S3 key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag without quotes.
    pub etag: String,
    /// Last modification, Unix nanoseconds.
    pub modified_ns: i128,
    /// `Content-Type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `Content-Encoding`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    /// `Content-Disposition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    /// `Content-Language`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    /// `Cache-Control`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// `Expires`, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// `x-amz-website-redirect-location`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website_redirect: Option<String>,
    /// User metadata (`x-amz-meta-*` without the prefix, lower case).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user: BTreeMap<String, String>,
    /// Object tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// Data files, concatenated in order (names relative to the record's directory).
    #[serde(default)]
    pub data: Vec<String>,
    /// Length of the stored bytes that follow the JSON line in the record file (small
    /// objects; `data` is then empty).
    #[serde(default, rename = "inline", skip_serializing_if = "Option::is_none")]
    pub inline_len: Option<u64>,
    /// Those bytes, once read (never part of the JSON).
    #[serde(skip)]
    pub inline: InlineData,
    /// Stored bytes of each data file; empty in records written before encryption,
    /// where stored sizes equal plaintext sizes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stored: Vec<u64>,
    /// Parts of a multipart object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartInfo>,
    /// The additional checksum the object was uploaded with: (algorithm, base64 value),
    /// e.g. `("CRC32", "NSRBwg==")`; computed by the server while receiving the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<(String, String)>,
    /// `COMPOSITE` when `checksum` is the checksum of the parts' checksums (multipart
    /// objects); absent: the checksum of the whole object (`FULL_OBJECT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
    /// The multipart upload that produced this object (so that a repeated
    /// CompleteMultipartUpload can be answered as S3 does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// Server-side encryption state; `None` for plaintext objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
    /// The version's ID; `None` is the `null` version (written while versioning was off
    /// or suspended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// This version is a delete marker (no data; size 0, empty ETag).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete_marker: bool,
    /// Object-lock retention of this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// Object-lock legal hold of this version.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legal_hold: bool,
    /// In the record file only: the key's older versions, newest first (the record's own
    /// fields are the latest version). Their inline bytes follow the latest's.
    #[serde(default, rename = "versions", skip_serializing_if = "Vec::is_empty")]
    pub older: Vec<ObjectMeta>,
}

/// Object-lock retention of one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// `GOVERNANCE` or `COMPLIANCE`.
    pub mode: String,
    /// Retained until this instant, Unix nanoseconds.
    pub until_ns: i128,
}

/// Encryption record version written by this code. Frozen per version.
pub const ENCRYPTION_VERSION: u32 = 1;

/// The server-side encryption of an object, as MinIO keeps it (spec/sse.md §2.2) but
/// typed: which kind, the sealed object key and what unseals it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    /// Record version ([`ENCRYPTION_VERSION`]).
    pub version: u32,
    /// SSE-C, SSE-S3 or SSE-KMS.
    pub kind: SseKind,
    /// Seal algorithm of `sealed_key` (`DAREv2-HMAC-SHA256`).
    pub algorithm: String,
    /// Random IV of the KEK derivation.
    #[serde(with = "b64")]
    pub iv: Vec<u8>,
    /// The object key sealed under the KEK.
    #[serde(with = "b64")]
    pub sealed_key: Vec<u8>,
    /// KMS key name (SSE-S3, SSE-KMS), without `arn:aws:kms:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
    /// The KMS ciphertext of the external key (SSE-S3, SSE-KMS).
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "b64")]
    pub kms_sealed_key: Vec<u8>,
    /// The client's SSE-KMS context as canonical JSON (without the bucket entry the
    /// server adds), if the client sent one.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "b64")]
    pub context: Vec<u8>,
    /// Written through the multipart API: part `n` is encrypted under the part key `n`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multipart: bool,
}

impl std::fmt::Debug for Encryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Sealed keys are not secret, but there is no reason to print them either.
        f.debug_struct("Encryption")
            .field("kind", &self.kind)
            .field("kms_key", &self.kms_key)
            .field("multipart", &self.multipart)
            .finish_non_exhaustive()
    }
}

/// The kind of server-side encryption; its name is also the KEK's domain string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SseKind {
    /// Customer-provided key.
    #[serde(rename = "SSE-C")]
    C,
    /// KMS data key under the default key.
    #[serde(rename = "SSE-S3")]
    S3,
    /// KMS data key under a chosen key, with an optional client context.
    #[serde(rename = "SSE-KMS")]
    Kms,
}

impl SseKind {
    /// The domain string bound into the KEK (`SSE-C`, `SSE-S3`, `SSE-KMS`).
    pub fn domain(self) -> &'static str {
        match self {
            SseKind::C => "SSE-C",
            SseKind::S3 => "SSE-S3",
            SseKind::Kms => "SSE-KMS",
        }
    }
}

mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

/// One part of a multipart object or upload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartInfo {
    /// Part number (1..=10000).
    pub number: i32,
    /// Size in bytes.
    pub size: u64,
    /// ETag (MD5 hex) without quotes.
    pub etag: String,
    /// Upload time, Unix nanoseconds.
    #[serde(default)]
    pub modified_ns: i128,
    /// Stored bytes of the part (absent: equal to `size`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<u64>,
    /// The part's additional checksum (algorithm, base64), sealed as the object's is
    /// when the upload is encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<(String, String)>,
}

impl PartInfo {
    /// Stored bytes of the part.
    pub fn stored_size(&self) -> u64 {
        self.stored.unwrap_or(self.size)
    }
}

impl ObjectMeta {
    /// Plaintext size of each data file (one per part; one for a single-part object).
    pub fn part_sizes(&self) -> Vec<u64> {
        if self.parts.is_empty() {
            vec![self.size]
        } else {
            self.parts.iter().map(|p| p.size).collect()
        }
    }

    /// Stored size of each data file.
    pub fn stored_sizes(&self) -> Vec<u64> {
        if !self.stored.is_empty() {
            self.stored.clone()
        } else if self.parts.is_empty() {
            vec![self.size]
        } else {
            self.parts.iter().map(PartInfo::stored_size).collect()
        }
    }

    /// Total stored bytes.
    pub fn stored_size(&self) -> u64 {
        self.stored_sizes().iter().sum()
    }

    /// Whether the record needs format 3 (see [`FORMAT`]).
    fn versioned(&self) -> bool {
        self.version_id.is_some()
            || self.delete_marker
            || self.retention.is_some()
            || self.legal_hold
            || !self.older.is_empty()
    }

    /// The record file's bytes: the JSON line, then the inline bytes if any (the
    /// latest version's, then each older version's, in the order of `versions`).
    pub fn encode(&self) -> serde_json::Result<Vec<u8>> {
        let mut record = std::borrow::Cow::Borrowed(self);
        let format = if self.versioned() {
            FORMAT
        } else {
            FORMAT_UNVERSIONED
        };
        if self.format != format || self.older.iter().any(|o| o.format != 0) {
            let r = record.to_mut();
            r.format = format;
            for o in &mut r.older {
                o.format = 0;
            }
        }
        let mut out = serde_json::to_vec(&*record)?;
        let versions = std::iter::once(self).chain(self.older.iter());
        let inline: Vec<&Bytes> = versions
            .filter(|v| v.inline_len.is_some())
            .filter_map(|v| v.inline.0.as_ref())
            .collect();
        if !inline.is_empty() {
            out.reserve(1 + inline.iter().map(|d| d.len()).sum::<usize>());
            out.push(b'\n');
            for data in inline {
                out.extend_from_slice(data);
            }
        }
        Ok(out)
    }

    /// Reads a record file written by [`encode`](Self::encode) (or a format-1 record,
    /// which is the JSON alone).
    pub fn decode(bytes: Bytes) -> Result<Self, String> {
        // Compact JSON never holds a raw newline: the first one ends the record.
        let end = bytes.iter().position(|&b| b == b'\n');
        let json = &bytes[..end.unwrap_or(bytes.len())];
        let mut meta: ObjectMeta = serde_json::from_slice(json).map_err(|e| e.to_string())?;
        let rest = end.map_or_else(Bytes::new, |e| bytes.slice(e + 1..));
        let announced = std::iter::once(&meta)
            .chain(meta.older.iter())
            .filter_map(|v| v.inline_len)
            .try_fold(0u64, u64::checked_add)
            .ok_or("inline lengths overflow")?;
        let has_inline = std::iter::once(&meta)
            .chain(meta.older.iter())
            .any(|v| v.inline_len.is_some());
        if end.is_some() != has_inline || rest.len() as u64 != announced {
            return Err(format!(
                "record announces {announced} inline bytes, file holds {}",
                rest.len()
            ));
        }
        let mut at = 0usize;
        let mut take = |v: &mut ObjectMeta| {
            if let Some(n) = v.inline_len {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                v.inline = InlineData(Some(rest.slice(at..at + n)));
                at += n;
            }
        };
        take(&mut meta);
        for o in &mut meta.older {
            take(o);
        }
        Ok(meta)
    }
}
