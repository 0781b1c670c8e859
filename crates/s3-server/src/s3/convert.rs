//! Conversions between S3 DTOs and the stored metadata record.

use s3s::dto::{ETag, Tag, Tagging, Timestamp};
use s3s::{s3_error, S3Result};

use crate::store::ObjectMeta;

/// The ETag header value of a stored ETag.
pub fn etag(value: &str) -> ETag {
    ETag::Strong(value.to_string())
}

/// Unix nanoseconds → S3 timestamp.
pub fn timestamp(ns: i128) -> Timestamp {
    time::OffsetDateTime::from_unix_timestamp_nanos(ns)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .into()
}

/// S3 timestamp → Unix nanoseconds.
pub fn to_ns(t: &Timestamp) -> i128 {
    time::OffsetDateTime::from(t.clone()).unix_timestamp_nanos()
}

/// User metadata of a request (`x-amz-meta-*`, names lower-cased).
pub fn user_meta(m: Option<s3s::dto::Metadata>) -> std::collections::BTreeMap<String, String> {
    m.into_iter()
        .flatten()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

/// User metadata for a response.
pub fn metadata_out(meta: &ObjectMeta) -> Option<s3s::dto::Metadata> {
    if meta.user.is_empty() {
        None
    } else {
        Some(
            meta.user
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }
}

/// Parses `x-amz-tagging` (URL query form `k1=v1&k2=v2`).
pub fn parse_tagging_header(h: Option<&str>) -> S3Result<Vec<(String, String)>> {
    let Some(h) = h.filter(|h| !h.is_empty()) else {
        return Ok(Vec::new());
    };
    let mut tags = Vec::new();
    for pair in h.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(k)
            .ok_or_else(|| s3_error!(InvalidArgument, "invalid x-amz-tagging header"))?;
        let v = percent_decode(v)
            .ok_or_else(|| s3_error!(InvalidArgument, "invalid x-amz-tagging header"))?;
        tags.push((k, v));
    }
    check_tags(&mut tags)?;
    Ok(tags)
}

/// AWS limits on object tags: at most 10, keys 1..=128 and values ..=256 characters,
/// keys unique. The tags are sorted by key: a tag set has no order, and S3 lists it sorted.
pub fn check_tags(tags: &mut [(String, String)]) -> S3Result<()> {
    check_tags_limit(tags, 10)
}

/// The tags of a Put*Tagging body, checked and sorted; at most `max` of them.
pub fn tags_in(tagging: Tagging, max: usize) -> S3Result<Vec<(String, String)>> {
    let mut tags: Vec<(String, String)> = tagging
        .tag_set
        .into_iter()
        .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
        .collect();
    check_tags_limit(&mut tags, max)?;
    Ok(tags)
}

/// Stored tags as a Get*Tagging tag set.
pub fn tags_out(tags: Vec<(String, String)>) -> Vec<Tag> {
    tags.into_iter()
        .map(|(k, v)| Tag {
            key: Some(k),
            value: Some(v),
        })
        .collect()
}

/// [`check_tags`] with another count limit (buckets may have 50 tags).
pub fn check_tags_limit(tags: &mut [(String, String)], max: usize) -> S3Result<()> {
    tags.sort();
    if tags.len() > max {
        return Err(s3_error!(InvalidTag, "at most {max} tags are allowed"));
    }
    let mut seen = std::collections::HashSet::new();
    for (k, v) in tags.iter() {
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            return Err(s3_error!(
                InvalidTag,
                "tag keys must be 1-128 and values 0-256 characters"
            ));
        }
        if !seen.insert(k) {
            return Err(s3_error!(InvalidTag, "duplicate tag key"));
        }
    }
    Ok(())
}

/// Decodes form-style percent-encoding (`+` is a space), refusing a `%` that is not
/// followed by two hex digits: `%+2` or `%zz` are errors, not bytes.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    kes_proto::percent::decode_form(s)
}

/// Percent-encodes for `encoding-type=url` listings (RFC 3986 unreserved kept).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The MD5 of a `Content-MD5` header (base64), or `InvalidDigest`.
pub fn content_md5(h: Option<&str>) -> S3Result<Option<[u8; 16]>> {
    use base64::Engine;
    let Some(h) = h else { return Ok(None) };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(h.trim())
        .map_err(|_| s3_error!(InvalidDigest))?;
    let arr: [u8; 16] = bytes.try_into().map_err(|_| s3_error!(InvalidDigest))?;
    Ok(Some(arr))
}

#[cfg(test)]
mod tests {
    use super::{parse_tagging_header, percent_decode, url_encode};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

        /// Whatever a key holds, encoding then decoding gives it back.
        #[test]
        fn encode_then_decode_is_identity(s in "\\PC{0,64}") {
            prop_assert_eq!(percent_decode(&url_encode(&s)), Some(s));
        }

        /// Arbitrary text, escapes included, never panics and never yields a `%` escape
        /// that was not two hex digits.
        #[test]
        fn decoding_arbitrary_text_never_panics(s in "[%+0-9a-fA-Fxz ]{0,40}|\\PC{0,40}") {
            if let Some(out) = percent_decode(&s) {
                let b = s.as_bytes();
                for (i, c) in b.iter().enumerate() {
                    if *c == b'%' {
                        prop_assert!(b.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)));
                    }
                }
                prop_assert!(out.len() <= s.len());
            }
        }

        /// The x-amz-tagging header: an error or at most 10 valid tags, never a panic.
        #[test]
        fn tagging_header_never_panics(s in "[a-z=&%+0-9]{0,80}|\\PC{0,80}") {
            if let Ok(tags) = parse_tagging_header(Some(&s)) {
                prop_assert!(tags.len() <= 10);
                prop_assert!(tags.iter().all(|(k, v)| !k.is_empty() && k.chars().count() <= 128 && v.chars().count() <= 256));
            }
        }
    }

    #[test]
    fn percent_decoding_is_strict() {
        assert_eq!(percent_decode("a%20b+c%2B").as_deref(), Some("a b c+"));
        assert_eq!(percent_decode("%+2"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%C3%BC").as_deref(), Some("ü"));
        assert_eq!(percent_decode("%FF"), None);
    }
}
