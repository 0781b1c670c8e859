//! The value a keystore holds under a key name (spec §4.4).
//!
//! Written (E4, frozen — shared with Go KES): ASCII `base64-std(KeyVersion)` where
//!
//! ```text
//! KeyVersion { 1: SecretKey key; 2: HMACKey hmac_key; 3: Timestamp created_at; 4: string created_by }
//! SecretKey  { 1: bytes key (32); 2: uint32 type (1 = AES256, 2 = ChaCha20) }
//! HMACKey    { 1: bytes key (32); 2: uint32 hash (1 = SHA256) }
//! Timestamp  { 1: int64 seconds;  2: int32 nanos }
//! ```
//!
//! Read: any valid JSON is a legacy record — E1/E2 `{"bytes":b64}` or E3
//! `{"version","bytes","algorithm","created_at","created_by"}` — which carries no HMAC key.
//! Everything else is base64 protobuf as above; unknown fields are skipped.

use std::fmt;

use aws_lc_rs::hmac;
use base64::Engine as _;
use serde::Deserialize;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::crypto::{random_array, Algorithm, SecretKey};
use crate::error::{Error, Result};
use crate::protobuf::{Reader, Value, Writer};
pub use crate::timestamp::Timestamp;

const KEY_TYPE_AES256: u64 = 1;
const KEY_TYPE_CHACHA20: u64 = 2;
const HASH_SHA256: u64 = 1;

/// A 32-byte HMAC-SHA256 key. Zeroized on drop, compared in constant time, redacted `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct HmacKey([u8; 32]);

impl HmacKey {
    /// An HMAC key from existing bytes.
    pub fn new(key: [u8; 32]) -> HmacKey {
        HmacKey(key)
    }

    /// A fresh random HMAC key.
    pub fn generate() -> Result<HmacKey> {
        random_array().map(HmacKey)
    }

    /// The raw key bytes (for storing the key).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// HMAC-SHA256(key, message).
    pub fn sign(&self, message: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &self.0), message);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }
}

impl PartialEq for HmacKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for HmacKey {}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacKey(..)")
    }
}

/// A key as stored in a keystore: master key, optional HMAC key, and creation metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The master key used for generate/encrypt/decrypt.
    pub key: SecretKey,
    /// The HMAC key; `None` for keys read from legacy JSON records.
    pub hmac_key: Option<HmacKey>,
    /// When the key was created; `None` if unknown (legacy records).
    pub created_at: Option<Timestamp>,
    /// Identity that created the key; `None` if unknown.
    pub created_by: Option<String>,
}

impl StoredKey {
    /// A new random key of `algorithm` with a random HMAC key.
    pub fn generate(algorithm: Algorithm, created_by: &str, now: Timestamp) -> Result<StoredKey> {
        StoredKey::import(SecretKey::generate(algorithm)?, created_by, now)
    }

    /// An imported key, given a fresh random HMAC key.
    pub fn import(key: SecretKey, created_by: &str, now: Timestamp) -> Result<StoredKey> {
        Ok(StoredKey {
            key,
            hmac_key: Some(HmacKey::generate()?),
            created_at: Some(now),
            // proto3 cannot tell an empty string from an absent one.
            created_by: (!created_by.is_empty()).then(|| created_by.to_owned()),
        })
    }

    /// HMAC-SHA256 of `message` under the key's HMAC key.
    pub fn hmac(&self, message: &[u8]) -> Result<[u8; 32]> {
        let key = self.hmac_key.as_ref().ok_or(Error::HmacUnsupported)?;
        Ok(key.sign(message))
    }

    /// The E4 record: base64-std of the protobuf `KeyVersion`. The text contains the key: wipe
    /// it after use (e.g. wrap it in `Zeroizing`).
    pub fn encode(&self) -> String {
        let mut w = Writer::default();
        w.message(1, |m| {
            m.bytes(1, self.key.as_bytes());
            m.uint(
                2,
                match self.key.algorithm() {
                    Algorithm::Aes256 => KEY_TYPE_AES256,
                    Algorithm::ChaCha20 => KEY_TYPE_CHACHA20,
                },
            );
        });
        if let Some(hmac_key) = &self.hmac_key {
            w.message(2, |m| {
                m.bytes(1, hmac_key.as_bytes());
                m.uint(2, HASH_SHA256);
            });
        }
        if let Some(ts) = &self.created_at {
            w.message(3, |m| {
                m.int(1, ts.seconds);
                m.int(2, i64::from(ts.nanos));
            });
        }
        if let Some(by) = &self.created_by {
            w.bytes(4, by.as_bytes());
        }
        let text = crate::b64::ENGINE.encode(&w.buf);
        w.buf.zeroize();
        text
    }

    /// Reads a stored record in any of the formats in the module docs. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<StoredKey> {
        if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
            return decode_legacy(bytes);
        }
        let text = bytes.trim_ascii();
        let mut raw = Zeroizing::new(Vec::with_capacity(base64::decoded_len_estimate(text.len())));
        crate::b64::ENGINE
            .decode_vec(text, &mut raw)
            .map_err(|_| Error::InvalidStoredKey("neither JSON nor base64"))?;
        decode_protobuf(&raw)
    }
}

fn key32(bytes: &[u8], what: &'static str) -> Result<[u8; 32]> {
    bytes.try_into().map_err(|_| Error::InvalidStoredKey(what))
}

fn decode_protobuf(buf: &[u8]) -> Result<StoredKey> {
    let mut key: Option<SecretKey> = None;
    let mut hmac_key = None;
    let mut created_at = None;
    let mut created_by = None;
    let mut r = Reader::new(buf);
    while let Some((field, value)) = r.next_field()? {
        match (field, value) {
            (1, Value::Len(m)) => key = Some(decode_secret_key(m)?),
            (2, Value::Len(m)) => hmac_key = Some(decode_hmac_key(m)?),
            (3, Value::Len(m)) => created_at = Some(decode_timestamp(m)?),
            (4, Value::Len(s)) => {
                let s = std::str::from_utf8(s)
                    .map_err(|_| Error::InvalidStoredKey("created_by is not UTF-8"))?;
                created_by = (!s.is_empty()).then(|| s.to_owned());
            }
            (1..=4, _) => return Err(Error::InvalidStoredKey("wrong protobuf wire type")),
            _ => {}
        }
    }
    Ok(StoredKey {
        key: key.ok_or(Error::InvalidStoredKey("missing key"))?,
        hmac_key,
        created_at,
        created_by,
    })
}

fn decode_secret_key(buf: &[u8]) -> Result<SecretKey> {
    let mut bytes: &[u8] = &[];
    let mut kind = 0;
    let mut r = Reader::new(buf);
    while let Some((field, value)) = r.next_field()? {
        match (field, value) {
            (1, Value::Len(b)) => bytes = b,
            (2, Value::Varint(v)) => kind = v,
            (1 | 2, _) => return Err(Error::InvalidStoredKey("wrong protobuf wire type")),
            _ => {}
        }
    }
    let algorithm = match kind {
        KEY_TYPE_AES256 => Algorithm::Aes256,
        KEY_TYPE_CHACHA20 => Algorithm::ChaCha20,
        _ => return Err(Error::InvalidStoredKey("unknown key type")),
    };
    Ok(SecretKey::new(
        algorithm,
        key32(bytes, "key is not 32 bytes")?,
    ))
}

fn decode_hmac_key(buf: &[u8]) -> Result<HmacKey> {
    let mut bytes: &[u8] = &[];
    let mut hash = 0;
    let mut r = Reader::new(buf);
    while let Some((field, value)) = r.next_field()? {
        match (field, value) {
            (1, Value::Len(b)) => bytes = b,
            (2, Value::Varint(v)) => hash = v,
            (1 | 2, _) => return Err(Error::InvalidStoredKey("wrong protobuf wire type")),
            _ => {}
        }
    }
    if hash != HASH_SHA256 {
        return Err(Error::InvalidStoredKey("unknown HMAC hash"));
    }
    Ok(HmacKey::new(key32(bytes, "HMAC key is not 32 bytes")?))
}

fn decode_timestamp(buf: &[u8]) -> Result<Timestamp> {
    let mut ts = Timestamp {
        seconds: 0,
        nanos: 0,
    };
    let mut r = Reader::new(buf);
    while let Some((field, value)) = r.next_field()? {
        match (field, value) {
            // Protobuf int64/int32 are two's complement varints.
            (1, Value::Varint(v)) => ts.seconds = v as i64,
            (2, Value::Varint(v)) => ts.nanos = v as i32,
            (1 | 2, _) => return Err(Error::InvalidStoredKey("wrong protobuf wire type")),
            _ => {}
        }
    }
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(Error::InvalidStoredKey("timestamp nanos out of range"));
    }
    Ok(ts)
}

/// E1–E3 JSON record. Unknown fields (e.g. E1's external-KMS wrapping) are ignored, so a
/// wrapped record fails for lack of `bytes`.
#[derive(Deserialize)]
struct LegacyRecord {
    #[serde(default, deserialize_with = "crate::b64::deserialize_secret")]
    bytes: Zeroizing<Vec<u8>>,
    #[serde(default)]
    algorithm: Option<String>,
    #[serde(default)]
    created_at: Option<Timestamp>,
    #[serde(default)]
    created_by: Option<String>,
}

fn decode_legacy(bytes: &[u8]) -> Result<StoredKey> {
    let record: LegacyRecord = serde_json::from_slice(bytes)
        .map_err(|_| Error::InvalidStoredKey("malformed legacy JSON record"))?;
    let algorithm = match record.algorithm.as_deref() {
        None | Some("") => Algorithm::Aes256,
        Some(name) => {
            Algorithm::parse(name).ok_or(Error::InvalidStoredKey("unknown legacy algorithm"))?
        }
    };
    Ok(StoredKey {
        key: SecretKey::new(algorithm, key32(&record.bytes, "key is not 32 bytes")?),
        hmac_key: None,
        created_at: record.created_at,
        created_by: record.created_by.filter(|s| !s.is_empty()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_generated() {
        let now = Timestamp::now();
        for alg in [Algorithm::Aes256, Algorithm::ChaCha20] {
            let key = StoredKey::generate(alg, "someone", now).unwrap();
            let back = StoredKey::decode(key.encode().as_bytes()).unwrap();
            assert_eq!(back, key);
            assert_eq!(back.hmac(b"m").unwrap(), key.hmac(b"m").unwrap());
        }
        let imported =
            StoredKey::import(SecretKey::new(Algorithm::Aes256, [1; 32]), "", now).unwrap();
        let back = StoredKey::decode(imported.encode().as_bytes()).unwrap();
        assert_eq!(back.created_by, None);
        assert_eq!(back, imported);
    }

    #[test]
    fn negative_timestamps_survive() {
        let mut key = StoredKey::generate(Algorithm::Aes256, "x", Timestamp::GO_ZERO).unwrap();
        assert_eq!(StoredKey::decode(key.encode().as_bytes()).unwrap(), key);
        key.created_at = Some(Timestamp {
            seconds: 0,
            nanos: 0,
        });
        assert_eq!(StoredKey::decode(key.encode().as_bytes()).unwrap(), key);
    }

    #[test]
    fn legacy_has_no_hmac() {
        let rec = br#"{"bytes":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}"#;
        let key = StoredKey::decode(rec).unwrap();
        assert_eq!(key.hmac(b"x").unwrap_err(), Error::HmacUnsupported);
        assert_eq!(key.key.algorithm(), Algorithm::Aes256);
        assert_eq!(key.created_at, None);
    }

    #[test]
    fn garbage_is_an_error() {
        let cases: &[&[u8]] = &[
            b"",
            b"{}",
            b"[]",
            b"null",
            b"\"abc\"",
            br#"{"bytes":"AAEC"}"#,
            br#"{"bytes":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","algorithm":"DES"}"#,
            b"not base64!",
            b"AAAA",
            b"CgA=", // SecretKey present but empty
            b"CiIKIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f", // no key type
            b"CiQKIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fEAM=", // type 3
            b"\xff\xfe",
        ];
        for case in cases {
            assert!(
                StoredKey::decode(case).is_err(),
                "{:?}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn debug_is_redacted() {
        let key = StoredKey::import(
            SecretKey::new(Algorithm::Aes256, [0xcd; 32]),
            "me",
            Timestamp::now(),
        )
        .unwrap();
        let dbg = format!("{key:?}");
        assert!(!dbg.contains("205") && dbg.contains("HmacKey(..)"));
    }
}
