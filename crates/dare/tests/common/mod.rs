//! Helpers shared by the integration tests of this crate.
#![allow(dead_code)]

use dare::Key;

/// The key of sio's test vectors: bytes 0x00..0x1f.
pub fn sio_key() -> Key {
    let mut k = [0u8; 32];
    for (i, b) in k.iter_mut().enumerate() {
        *b = i as u8;
    }
    Key::new(k)
}

/// One vector of a data file: its bytes and the comment after them.
pub struct Vector {
    pub bytes: Vec<u8>,
    pub comment: String,
}

/// Reads `tests/data/<name>`: one hex vector per line, `#` lines are comments.
pub fn load(name: &str) -> Vec<Vector> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (hex_part, comment) = l.split_once(' ').unwrap_or((l, ""));
            Vector {
                bytes: hex::decode(hex_part).unwrap_or_else(|e| panic!("{path}: {e}")),
                comment: comment.to_string(),
            }
        })
        .collect()
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
