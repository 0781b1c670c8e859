//! Validation of key/policy/identity names and listing patterns (HEAD rules, spec §1.6).

/// Longest accepted name, in bytes.
pub const MAX_NAME_LEN: usize = 80;

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Whether `s` is a valid key, policy or identity name.
///
/// 1–80 bytes of `[0-9A-Za-z_-]`; `-` may be neither the first nor the last character and a
/// lone `_` is invalid. (A leading `_` is allowed, as in KES.)
pub fn is_valid_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_NAME_LEN || s == "_" {
        return false;
    }
    if bytes.first() == Some(&b'-') || bytes.last() == Some(&b'-') {
        return false;
    }
    bytes.iter().copied().all(is_name_byte)
}

/// Whether `s` is a valid listing pattern.
///
/// Same charset as names plus `*`, which may only be the last character. The empty pattern and
/// `*` alone are valid (both mean "everything"). A pattern selects a name *prefix* (kms-go sends
/// bare prefixes such as `minio-`), so the first/last-character rules of names do not apply.
pub fn is_valid_pattern(s: &str) -> bool {
    let prefix = pattern_prefix(s);
    prefix.len() <= MAX_NAME_LEN && prefix.bytes().all(is_name_byte)
}

/// The name prefix a pattern selects: the pattern without one trailing `*`.
pub fn pattern_prefix(p: &str) -> &str {
    p.strip_suffix('*').unwrap_or(p)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let long80 = "a".repeat(80);
        let long81 = "a".repeat(81);
        let table: &[(&str, bool)] = &[
            ("my-key", true),
            ("minio-default", true),
            ("a", true),
            ("A_b-9", true),
            ("_", false),
            ("__", true),
            ("_a", true),
            ("a_", true),
            ("-a", false),
            ("a-", false),
            ("-", false),
            ("", false),
            ("a.b", false),
            ("a/b", false),
            ("a b", false),
            ("a*", false),
            ("ä", false),
            (&long80, true),
            (&long81, false),
            (
                "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22",
                true,
            ),
        ];
        for (name, ok) in table {
            assert_eq!(is_valid_name(name), *ok, "{name:?}");
        }
    }

    #[test]
    fn patterns() {
        let long = format!("{}*", "a".repeat(80));
        let too_long = format!("{}*", "a".repeat(81));
        let table: &[(&str, bool)] = &[
            ("", true),
            ("*", true),
            ("my-*", true),
            ("my-key", true),
            ("my*key", false),
            ("**", false),
            ("*a", false),
            ("-*", true),
            ("a-", true),
            ("minio-", true),
            ("_", true),
            ("_*", true),
            ("a.b*", false),
            ("a/*", false),
            (&long, true),
            (&too_long, false),
        ];
        for (pattern, ok) in table {
            assert_eq!(is_valid_pattern(pattern), *ok, "{pattern:?}");
        }
    }

    #[test]
    fn prefixes() {
        assert_eq!(pattern_prefix("my-*"), "my-");
        assert_eq!(pattern_prefix("*"), "");
        assert_eq!(pattern_prefix(""), "");
        assert_eq!(pattern_prefix("exact"), "exact");
    }
}
