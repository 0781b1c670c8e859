//! Strict percent-decoding, shared by every parser of URL text in Coffer (KES paths, S3
//! query values and headers, `MC_HOST_` URLs).
//!
//! The `percent-encoding` crate passes a malformed escape through as literal text, and a
//! `%` followed by a sign and one digit (`%+2`) is read by some parsers as the byte 0x02.
//! Here the text is validated first: a `%` must be followed by two hex digits, and the
//! decoded bytes must be UTF-8; anything else is refused.

/// Decodes `s`; `None` for a malformed escape or bytes that are not UTF-8.
pub fn decode(s: &str) -> Option<String> {
    if !escapes_valid(s) {
        return None;
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// Decodes form-style text, where `+` stands for a space (query strings, `x-amz-tagging`).
pub fn decode_form(s: &str) -> Option<String> {
    if !escapes_valid(s) {
        return None;
    }
    decode(&s.replace('+', " "))
}

/// Whether every `%` in `s` starts a two-hex-digit escape.
pub fn escapes_valid(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().all(|(i, &c)| {
        c != b'%'
            || b.get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict() {
        assert_eq!(decode("my%2Dkey").as_deref(), Some("my-key"));
        assert_eq!(decode("a+b").as_deref(), Some("a+b"));
        assert_eq!(decode_form("a%20b+c%2B").as_deref(), Some("a b c+"));
        assert_eq!(decode_form("%C3%BC").as_deref(), Some("ü"));
        for bad in ["%+2", "%zz", "%", "%4", "x%", "%FF", "%C3"] {
            assert_eq!(decode(bad), None, "{bad}");
            assert_eq!(decode_form(bad), None, "{bad}");
        }
    }
}
