//! The encryption context a data key is bound to, and its canonical bytes.
//!
//! The KMS authenticates the context as associated data, so the bytes must be exactly
//! what MinIO's `kms.Context.MarshalText` writes, or objects written by MinIO cannot be
//! read and the other way round (spec `sse.md` §3.2, `kes-api.md` §7.3):
//!
//! ```text
//! {}                                  no entries
//! {"a":"1","b":"2"}                   keys sorted bytewise, no whitespace
//! "  \  \n \r \t                      -> \"  \\  \n  \r  \t
//! other bytes < 0x20, < > &           -> \u00XX (lower-case hex)
//! U+2028, U+2029                      -> \u2028, \u2029
//! any other character                 raw UTF-8
//! ```

use std::collections::BTreeMap;

use crate::{Error, Result};

/// A map of strings bound to a data key. Sorted by key, as its encoding is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context(BTreeMap<String, String>);

impl Context {
    /// An empty context (encodes as `{}`).
    pub fn new() -> Self {
        Self::default()
    }

    /// The SSE-S3/SSE-KMS context of an object: `{bucket: path}`, where `path` is the
    /// caller's `path.Join(bucket, object)`.
    pub fn object(bucket: &str, path: &str) -> Self {
        let mut c = Self::new();
        c.insert(bucket, path);
        c
    }

    /// Sets `key` to `value`, replacing an earlier value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), value.into());
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries in encoding order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Parses a JSON object whose values are all strings (the decoded
    /// `x-amz-server-side-encryption-context` header).
    pub fn from_json(json: &[u8]) -> Result<Self> {
        serde_json::from_slice::<BTreeMap<String, String>>(json)
            .map(Self)
            .map_err(|e| Error::InvalidContext(e.to_string()))
    }

    /// The canonical bytes: the associated data of the KMS call.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(2 + self.0.len() * 16);
        out.push('{');
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_quoted(&mut out, k);
            out.push(':');
            push_quoted(&mut out, v);
        }
        out.push('}');
        out.into_bytes()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Context {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// Appends `s` as a JSON string with Go's escaping (HTML-safe).
fn push_quoted(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if c < ' ' || c == '<' || c == '>' || c == '&' => {
                let b = c as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX[b >> 4]));
                out.push(char::from(HEX[b & 0xf]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn text(c: &Context) -> String {
        String::from_utf8(c.to_bytes()).unwrap()
    }

    #[test]
    fn spec_vector_12_14() {
        let c = Context::from_json(br#"{"b":"1","a":"<&>"}"#).unwrap();
        assert_eq!(text(&c), r#"{"a":"\u003c\u0026\u003e","b":"1"}"#);
        assert_eq!(text(&Context::new()), "{}");
        let c: Context = [("x", "é")].into_iter().collect();
        assert_eq!(c.to_bytes(), "{\"x\":\"é\"}".as_bytes());
    }

    #[test]
    fn object_context() {
        let c = Context::object("mybucket", "mybucket/myobject");
        assert_eq!(text(&c), r#"{"mybucket":"mybucket/myobject"}"#);
        assert_eq!(c.get("mybucket"), Some("mybucket/myobject"));
        assert!(!c.is_empty());
    }

    #[test]
    fn escapes_like_go() {
        let c = Context::object("k", "q\"b\\n\nr\rt\t\u{1}\u{1f}\u{7f}\u{2028}\u{2029}>");
        assert_eq!(
            text(&c),
            "{\"k\":\"q\\\"b\\\\n\\nr\\rt\\t\\u0001\\u001f\u{7f}\\u2028\\u2029\\u003e\"}"
        );
        // \b and \f take the \u form, as in MinIO's encoder.
        let c = Context::object("\u{8}", "\u{c}");
        assert_eq!(text(&c), r#"{"\u0008":"\u000c"}"#);
    }

    #[test]
    fn keys_sort_bytewise() {
        let c: Context = [("b", "1"), ("B", "2"), ("é", "3"), ("a", "4"), ("", "5")]
            .into_iter()
            .collect();
        assert_eq!(text(&c), r#"{"":"5","B":"2","a":"4","b":"1","é":"3"}"#);
        let keys: Vec<&str> = c.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["", "B", "a", "b", "é"]);
    }

    #[test]
    fn from_json_takes_only_objects_of_strings() {
        for bad in [
            &b"[]"[..],
            b"null",
            br#"{"a":1}"#,
            br#"{"a":null}"#,
            br#"{"a":{"b":"c"}}"#,
            b"{",
            b"",
        ] {
            let err = Context::from_json(bad).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidContext);
        }
        let c = Context::from_json(br#" { "a\u0026" : "x\n" } "#).unwrap();
        assert_eq!(c.get("a&"), Some("x\n"));
        assert!(Context::from_json(b"{}").unwrap().is_empty());
    }

    #[test]
    fn round_trips_through_json() {
        let c: Context = [("a<", "\"\\\u{0}"), ("z", "é\u{2028}")]
            .into_iter()
            .collect();
        assert_eq!(Context::from_json(&c.to_bytes()).unwrap(), c);
    }
}
