//! The 16-byte package header of DARE 1.0 and 2.0.
//!
//! ```text
//! DARE 2.0 (written by Coffer and by MinIO since 2018):
//!
//!  byte 0      1        2..3          4               5..15          16 .. 16+n-1    16+n .. +15
//!     +------+--------+-------------+---------------+--------------+---------------+-----------+
//!     | 0x20 | cipher | LE16(n - 1) | F | r0 (7 b)  | r1 .. r11    | ciphertext(n) | tag (16)  |
//!     +------+--------+-------------+---------------+--------------+---------------+-----------+
//!   AAD         = bytes 0..4
//!   header nonce = bytes 4..16, the same in every package of a stream except for F
//!   F           = bit 7 of byte 4, set on the final package only
//!   AEAD nonce  = header nonce with bytes 8..12 (of the nonce) XOR LE32(sequence number)
//!
//! DARE 1.0 (read only):
//!
//!  byte 0      1        2..3          4..7            8..15          16 .. 16+n-1    16+n .. +15
//!     +------+--------+-------------+---------------+--------------+---------------+-----------+
//!     | 0x10 | cipher | LE16(n - 1) | LE32(seq)     | rand (8)     | ciphertext(n) | tag (16)  |
//!     +------+--------+-------------+---------------+--------------+---------------+-----------+
//!   AAD = bytes 0..4, AEAD nonce = bytes 4..16
//! ```
//!
//! Every value here is frozen by the format: changing one breaks every stored object.

use crate::{CipherSuite, Error, Result, HEADER_SIZE, MAX_PAYLOAD_SIZE};

/// Header byte 0 of a DARE 1.0 package. Frozen.
pub const VERSION_10: u8 = 0x10;
/// Header byte 0 of a DARE 2.0 package. Frozen.
pub const VERSION_20: u8 = 0x20;
/// The final flag: bit 7 of header byte 4 (DARE 2.0). Frozen.
pub const FINAL_FLAG: u8 = 0x80;

/// The format version of a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// DARE 1.0: explicit sequence numbers, no end-of-stream marker.
    V10,
    /// DARE 2.0: implicit sequence numbers, final flag.
    V20,
}

/// A decoded package header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    bytes: [u8; HEADER_SIZE],
}

impl Header {
    /// Decodes and checks the version, cipher and length fields. It does not check the
    /// nonce or the final flag; those depend on the stream (see [`crate::Opener`]).
    pub fn decode(bytes: [u8; HEADER_SIZE]) -> Result<Self> {
        let h = Self { bytes };
        h.version()?;
        h.cipher()?;
        Ok(h)
    }

    /// Encodes a DARE 2.0 header.
    pub fn v20(suite: CipherSuite, payload_len: usize, nonce: &[u8; 12], last: bool) -> Self {
        debug_assert!((1..=MAX_PAYLOAD_SIZE).contains(&payload_len));
        let mut bytes = [0u8; HEADER_SIZE];
        bytes[0] = VERSION_20;
        bytes[1] = suite as u8;
        bytes[2..4].copy_from_slice(&((payload_len - 1) as u16).to_le_bytes());
        bytes[4..16].copy_from_slice(nonce);
        if last {
            bytes[4] |= FINAL_FLAG;
        } else {
            bytes[4] &= !FINAL_FLAG;
        }
        Self { bytes }
    }

    /// The raw 16 bytes.
    pub fn as_bytes(&self) -> &[u8; HEADER_SIZE] {
        &self.bytes
    }

    /// The format version (byte 0).
    pub fn version(&self) -> Result<Version> {
        match self.bytes[0] {
            VERSION_10 => Ok(Version::V10),
            VERSION_20 => Ok(Version::V20),
            _ => Err(Error::UnsupportedVersion),
        }
    }

    /// The AEAD (byte 1).
    pub fn cipher(&self) -> Result<CipherSuite> {
        CipherSuite::from_byte(self.bytes[1]).ok_or(Error::UnsupportedCipher)
    }

    /// Payload length in bytes, 1..=65536 (bytes 2..4 hold length - 1).
    pub fn payload_len(&self) -> usize {
        usize::from(u16::from_le_bytes([self.bytes[2], self.bytes[3]])) + 1
    }

    /// Whole package length: header, payload and tag.
    pub fn package_len(&self) -> usize {
        HEADER_SIZE + self.payload_len() + crate::TAG_SIZE
    }

    /// DARE 2.0: whether the final flag is set.
    pub fn is_final(&self) -> bool {
        self.bytes[4] & FINAL_FLAG != 0
    }

    /// DARE 1.0: the explicit sequence number (bytes 4..8).
    pub fn sequence_v10(&self) -> u32 {
        u32::from_le_bytes([self.bytes[4], self.bytes[5], self.bytes[6], self.bytes[7]])
    }

    /// The additional authenticated data: bytes 0..4.
    pub fn aad(&self) -> &[u8] {
        &self.bytes[..4]
    }

    /// The 12 header nonce bytes (bytes 4..16).
    pub fn nonce(&self) -> [u8; 12] {
        let mut n = [0u8; 12];
        n.copy_from_slice(&self.bytes[4..16]);
        n
    }

    /// The AEAD nonce of this package at sequence number `seq`.
    pub fn aead_nonce(&self, seq: u32) -> Result<[u8; 12]> {
        let mut n = self.nonce();
        if self.version()? == Version::V20 {
            let x = u32::from_le_bytes([n[8], n[9], n[10], n[11]]) ^ seq;
            n[8..12].copy_from_slice(&x.to_le_bytes());
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v20_round_trip() {
        let nonce = [0x7f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
        let h = Header::v20(CipherSuite::Aes256Gcm, 65536, &nonce, false);
        assert_eq!(h.as_bytes()[..4], [0x20, 0x00, 0xff, 0xff]);
        let d = Header::decode(*h.as_bytes()).expect("valid header");
        assert_eq!(d.payload_len(), 65536);
        assert!(!d.is_final());
        let f = Header::v20(CipherSuite::ChaCha20Poly1305, 1, &nonce, true);
        assert_eq!(f.as_bytes()[..5], [0x20, 0x01, 0x00, 0x00, 0xff]);
        assert!(f.is_final());
    }

    #[test]
    fn rejects_unknown_version_and_cipher() {
        let mut b = [0u8; 16];
        b[0] = 0x21;
        assert!(matches!(Header::decode(b), Err(Error::UnsupportedVersion)));
        b[0] = 0x20;
        b[1] = 2;
        assert!(matches!(Header::decode(b), Err(Error::UnsupportedCipher)));
    }

    #[test]
    fn sequence_xor_touches_last_four_nonce_bytes() {
        let nonce = [0u8; 12];
        let h = Header::v20(CipherSuite::Aes256Gcm, 1, &nonce, true);
        let n = h.aead_nonce(0x0102_0304).expect("v20");
        assert_eq!(n, [0x80, 0, 0, 0, 0, 0, 0, 0, 4, 3, 2, 1]);
    }
}
