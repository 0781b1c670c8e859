//! Parsers fed with arbitrary bytes must return errors, never panic.

#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use kes_proto::{leaf_identity, Algorithm, ApiError, ApiKey, SecretKey, StoredKey};

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = (self.next() % (max as u64 + 1)) as usize;
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Inputs that start like each format, then go wrong.
fn inputs(rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for prefix in [
        &b""[..],
        &[0x95],
        b"{",
        &[0x0a],
        &[0x95, 0xa6],
        b"{\"bytes\":",
    ] {
        for _ in 0..400 {
            let mut v = prefix.to_vec();
            v.extend(rng.bytes(120));
            out.push(v);
        }
    }
    out
}

#[test]
fn decrypt_never_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for alg in [Algorithm::Aes256, Algorithm::ChaCha20] {
        let key = SecretKey::new(alg, [3; 32]);
        for input in inputs(&mut rng) {
            assert!(key.decrypt(&input, b"").is_err());
        }
    }
}

#[test]
fn stored_key_decode_never_panics() {
    let mut rng = Rng(42);
    for input in inputs(&mut rng) {
        let _ = StoredKey::decode(&input);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&input);
        let _ = StoredKey::decode(b64.as_bytes());
    }
    // Mutations of a valid record: each either decodes or errors.
    let valid = StoredKey::generate(Algorithm::Aes256, "me", kes_proto::Timestamp::now())
        .unwrap()
        .encode();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&valid)
        .unwrap();
    for i in 0..raw.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut m = raw.clone();
            m[i] ^= flip;
            let _ = StoredKey::decode(
                base64::engine::general_purpose::STANDARD
                    .encode(&m)
                    .as_bytes(),
            );
        }
        let _ = StoredKey::decode(
            base64::engine::general_purpose::STANDARD
                .encode(&raw[..i])
                .as_bytes(),
        );
    }
}

#[test]
fn other_parsers_never_panic() {
    let mut rng = Rng(7);
    for input in inputs(&mut rng) {
        let _ = leaf_identity(&[&input]);
        let text = String::from_utf8_lossy(&input);
        let _ = ApiKey::parse(&format!("kes:v1:{text}"));
        let _ = ApiError::from_response(400, Some("application/json"), &input);
        let _ = serde_json::from_slice::<kes_proto::body::ImportRequest>(&input);
        let _ = kes_proto::Timestamp::parse_rfc3339(&text);
    }
}
