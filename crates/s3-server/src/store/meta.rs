//! The per-object metadata record, stored beside the data as `<hash>.meta`.
//!
//! ```text
//! JSON object, one per object, written atomically (temp file, fsync, rename):
//! {
//!   "format": 1,                       // frozen field: record format version
//!   "key": "photos/2024/a.jpg",        // the S3 key
//!   "size": 12345,                     // plaintext size in bytes
//!   "etag": "9b2c…",                   // without quotes; "<md5>-<n>" for multipart
//!   "modified_ns": 1732700000000000000,
//!   "content_type": "image/jpeg",      // and the other system headers below, if set
//!   "user": {"x-amz-meta-a": "b"},     // user metadata, lower-case names
//!   "tags": [["k", "v"]],
//!   "data": ["<hash>.<id>.data"],      // data files, concatenated in order
//!   "parts": [{"number":1,"size":…,"etag":…}],  // multipart objects only
//!   "checksum": ["CRC32", "NSRBwg=="],  // if uploaded with an additional checksum
//!   "upload_id": "…",                  // multipart objects only: the upload it came from
//!   "encryption": {…}                  // reserved for SSE (absent when plaintext)
//! }
//! ```
//!
//! Readers ignore unknown fields, so later versions can add fields; a record with a
//! higher `format` than this code knows is refused.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Record format written by this code. Frozen per version.
pub const FORMAT: u32 = 1;

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
    /// Parts of a multipart object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartInfo>,
    /// The additional checksum the object was uploaded with: (algorithm, base64 value),
    /// e.g. `("CRC32", "NSRBwg==")`; computed by the server while receiving the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<(String, String)>,
    /// The multipart upload that produced this object (so that a repeated
    /// CompleteMultipartUpload can be answered as S3 does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// Server-side encryption state (reserved; see docs/FORMAT.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<serde_json::Value>,
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
}
