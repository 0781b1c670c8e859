//! Ciphertext formats accepted by decrypt (spec §4.2).
//!
//! ```text
//! raw (E4, written):  | sealed = AEAD ciphertext || tag (16) | IV (16) | nonce (12) |
//! MessagePack (E3):   0x95 [ str algorithm, str key-id, bin IV(16), bin nonce(12), bin sealed ]
//! JSON (E1–E2):       {"aead":"…","id":"…","iv":b64(16),"nonce":b64(12),"bytes":b64(sealed)}
//! ```
//!
//! The algorithm and key-id fields of the legacy formats are parsed but ignored: the key's own
//! algorithm is used, as in KES HEAD. If a legacy-looking ciphertext fails to parse it is
//! treated as raw (and then fails authentication).

use std::borrow::Cow;

use serde::Deserialize;

/// Length of the per-message IV (HMAC/HChaCha20 input).
pub const IV_LEN: usize = 16;
/// Length of the AEAD nonce.
pub const NONCE_LEN: usize = 12;
/// Bytes appended to the sealed data in the raw format.
pub const SUFFIX_LEN: usize = IV_LEN + NONCE_LEN;

/// First byte of an E3 MessagePack ciphertext (fixarray of 5).
const MSGPACK_ARRAY5: u8 = 0x95;

/// A ciphertext split into its parts.
pub(crate) struct Parts<'a> {
    pub sealed: Cow<'a, [u8]>,
    pub iv: [u8; IV_LEN],
    pub nonce: [u8; NONCE_LEN],
}

/// Detects the format and splits; `None` if the input is too short to be raw.
pub(crate) fn split(ciphertext: &[u8]) -> Option<Parts<'_>> {
    let legacy = match ciphertext.first() {
        Some(&MSGPACK_ARRAY5) => parse_msgpack(ciphertext),
        Some(b'{') => parse_json(ciphertext),
        _ => None,
    };
    legacy.or_else(|| split_raw(ciphertext))
}

fn split_raw(ciphertext: &[u8]) -> Option<Parts<'_>> {
    if ciphertext.len() <= SUFFIX_LEN {
        return None;
    }
    let (sealed, suffix) = ciphertext.split_at_checked(ciphertext.len() - SUFFIX_LEN)?;
    let (iv, nonce) = suffix.split_at_checked(IV_LEN)?;
    Some(Parts {
        sealed: Cow::Borrowed(sealed),
        iv: iv.try_into().ok()?,
        nonce: nonce.try_into().ok()?,
    })
}

fn owned_parts(sealed: Vec<u8>, iv: &[u8], nonce: &[u8]) -> Option<Parts<'static>> {
    Some(Parts {
        sealed: Cow::Owned(sealed),
        iv: iv.try_into().ok()?,
        nonce: nonce.try_into().ok()?,
    })
}

#[derive(Deserialize)]
struct JsonCiphertext {
    #[serde(default, rename = "aead")]
    _aead: Option<String>,
    #[serde(default, rename = "id")]
    _id: Option<String>,
    #[serde(default, deserialize_with = "crate::b64::deserialize")]
    iv: Vec<u8>,
    #[serde(default, deserialize_with = "crate::b64::deserialize")]
    nonce: Vec<u8>,
    #[serde(default, deserialize_with = "crate::b64::deserialize")]
    bytes: Vec<u8>,
}

fn parse_json(ciphertext: &[u8]) -> Option<Parts<'static>> {
    let ct: JsonCiphertext = serde_json::from_slice(ciphertext).ok()?;
    owned_parts(ct.bytes, &ct.iv, &ct.nonce)
}

/// A cursor over MessagePack bytes; every read checks bounds.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (b, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(*b)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.rest.split_at_checked(n)?;
        self.rest = rest;
        Some(head)
    }

    fn be_len(&mut self, width: usize) -> Option<usize> {
        let bytes = self.take(width)?;
        let n = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        usize::try_from(n).ok()
    }

    /// A `str` value (fixstr, str8, str16, str32).
    fn str(&mut self) -> Option<&'a [u8]> {
        let len = match self.byte()? {
            m @ 0xa0..=0xbf => usize::from(m & 0x1f),
            0xd9 => self.be_len(1)?,
            0xda => self.be_len(2)?,
            0xdb => self.be_len(4)?,
            _ => return None,
        };
        self.take(len)
    }

    /// A `bin` value (bin8, bin16, bin32).
    fn bin(&mut self) -> Option<&'a [u8]> {
        let len = match self.byte()? {
            0xc4 => self.be_len(1)?,
            0xc5 => self.be_len(2)?,
            0xc6 => self.be_len(4)?,
            _ => return None,
        };
        self.take(len)
    }
}

fn parse_msgpack(ciphertext: &[u8]) -> Option<Parts<'static>> {
    let mut r = Reader { rest: ciphertext };
    if r.byte()? != MSGPACK_ARRAY5 {
        return None;
    }
    let _algorithm = r.str()?;
    let _key_id = r.str()?;
    let iv = r.bin()?;
    let nonce = r.bin()?;
    let sealed = r.bin()?;
    if !r.rest.is_empty() {
        return None;
    }
    owned_parts(sealed.to_vec(), iv, nonce)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn raw_needs_more_than_suffix() {
        assert!(split(&[]).is_none());
        assert!(split(&[7u8; SUFFIX_LEN]).is_none());
        let p = split(&[7u8; SUFFIX_LEN + 1]).unwrap();
        assert_eq!(p.sealed.as_ref(), &[7u8]);
    }

    #[test]
    fn malformed_legacy_falls_back_to_raw() {
        let mut bad = vec![MSGPACK_ARRAY5, 0xa1, b'x'];
        bad.resize(40, 0);
        let p = split(&bad).unwrap();
        assert_eq!(p.sealed.len(), 40 - SUFFIX_LEN);
        let json = br#"{"iv":"AAAA","nonce":"AAAA","bytes":"AAAA","x":1}"#;
        let p = split(json).unwrap();
        assert_eq!(p.sealed.len(), json.len() - SUFFIX_LEN);
        // Truncated lengths never panic.
        for n in 0..12 {
            let mut m = vec![MSGPACK_ARRAY5, 0xdb, 0xff, 0xff, 0xff, 0xff, 0xc6];
            m.truncate(n);
            let _ = split(&m);
        }
    }

    #[test]
    fn msgpack_rejects_trailing_bytes() {
        let mut m = vec![MSGPACK_ARRAY5, 0xa0, 0xa0, 0xc4, 16];
        m.extend([1u8; 16]);
        m.extend([0xc4, 12]);
        m.extend([2u8; 12]);
        m.extend([0xc4, 1, 9]);
        let p = split(&m).unwrap();
        assert_eq!(p.sealed.as_ref(), &[9u8]);
        assert_eq!(p.iv, [1u8; 16]);
        m.push(0);
        let p = split(&m).unwrap();
        assert_eq!(p.sealed.len(), m.len() - SUFFIX_LEN);
    }
}
