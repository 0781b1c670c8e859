//! KES master keys and the data-key protocol (spec §4.1–4.2).
//!
//! Every message gets a random 16-byte IV and 12-byte nonce. The IV derives a one-message
//! sealing key from the 32-byte master key K:
//!
//! ```text
//! AES256:   sealing key = HMAC-SHA256(K, IV)  -> AES-256-GCM
//! ChaCha20: sealing key = HChaCha20(K, IV)    -> ChaCha20-Poly1305 (IETF)
//! output:   | AEAD ciphertext | tag (16) | IV (16) | nonce (12) |
//! ```

use std::fmt;

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::digest;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::{Choice, ConstantTimeEq};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::ciphertext::{self, IV_LEN, NONCE_LEN, SUFFIX_LEN};
use crate::error::{Error, Result};
use crate::hchacha::hchacha20;

/// Length of an AEAD tag.
pub const TAG_LEN: usize = 16;
/// Bytes a ciphertext is longer than its plaintext (tag + IV + nonce = 44).
pub const OVERHEAD: usize = TAG_LEN + SUFFIX_LEN;

/// The algorithm a KES key is used with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// AES-256-GCM with an HMAC-SHA256-derived per-message key (`AES256`).
    Aes256,
    /// ChaCha20-Poly1305 with an HChaCha20-derived per-message key (`ChaCha20`).
    ChaCha20,
}

impl Algorithm {
    /// The HEAD name: `AES256` or `ChaCha20`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Aes256 => "AES256",
            Algorithm::ChaCha20 => "ChaCha20",
        }
    }

    /// Parses a HEAD or E3 name (`AES256`, `AES256-GCM_SHA256`, `ChaCha20`,
    /// `XCHACHA20-POLY1305`); case-sensitive, anything else is `None`.
    pub fn parse(s: &str) -> Option<Algorithm> {
        match s {
            "AES256" | "AES256-GCM_SHA256" => Some(Algorithm::Aes256),
            "ChaCha20" | "XCHACHA20-POLY1305" => Some(Algorithm::ChaCha20),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Algorithm {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Algorithm {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Algorithm::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown algorithm '{s}'")))
    }
}

/// A 32-byte master key and its algorithm. Zeroized on drop, compared in constant time,
/// `Debug` shows only the algorithm.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey {
    #[zeroize(skip)]
    algorithm: Algorithm,
    key: [u8; 32],
}

impl SecretKey {
    /// A key from existing bytes.
    pub fn new(algorithm: Algorithm, key: [u8; 32]) -> SecretKey {
        SecretKey { algorithm, key }
    }

    /// A fresh random key.
    pub fn generate(algorithm: Algorithm) -> Result<SecretKey> {
        Ok(SecretKey {
            algorithm,
            key: random_array()?,
        })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The raw key bytes (for storing the key).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// The E2/E3 key id: hex of the first 16 bytes of SHA-256(K).
    pub fn key_id(&self) -> String {
        let hash = digest::digest(&digest::SHA256, &self.key);
        hex::encode(hash.as_ref().get(..16).unwrap_or_default())
    }

    /// Encrypts `plaintext` with `associated_data` in the HEAD raw format, using a random IV and
    /// nonce. The result is [`OVERHEAD`] bytes longer than the plaintext.
    pub fn encrypt(&self, plaintext: &[u8], associated_data: &[u8]) -> Result<Vec<u8>> {
        let random: [u8; SUFFIX_LEN] = random_array()?;
        let (iv, nonce) = random.split_at(IV_LEN);
        let iv: [u8; IV_LEN] = iv.try_into().map_err(|_| Error::Encrypt)?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| Error::Encrypt)?;
        self.seal(plaintext, associated_data, iv, nonce)
    }

    /// Deterministic [`encrypt`](Self::encrypt) with a caller-chosen IV and nonce, for tests and
    /// test vectors. Never reuse an IV/nonce pair in production.
    ///
    /// # Panics
    ///
    /// If the plaintext exceeds the AEAD's input limit (about 64 GiB).
    pub fn encrypt_with(
        &self,
        plaintext: &[u8],
        associated_data: &[u8],
        iv: [u8; IV_LEN],
        nonce: [u8; NONCE_LEN],
    ) -> Vec<u8> {
        match self.seal(plaintext, associated_data, iv, nonce) {
            Ok(ciphertext) => ciphertext,
            Err(err) => panic!("encrypt_with: {err}"),
        }
    }

    fn sealing_key(&self, iv: &[u8; IV_LEN]) -> Result<LessSafeKey, aws_lc_rs::error::Unspecified> {
        let (derived, alg) = match self.algorithm {
            Algorithm::Aes256 => {
                let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &self.key), iv);
                let mut k = Zeroizing::new([0u8; 32]);
                k.copy_from_slice(tag.as_ref());
                (k, &aead::AES_256_GCM)
            }
            Algorithm::ChaCha20 => (hchacha20(&self.key, iv), &aead::CHACHA20_POLY1305),
        };
        Ok(LessSafeKey::new(UnboundKey::new(alg, derived.as_ref())?))
    }

    fn seal(
        &self,
        plaintext: &[u8],
        associated_data: &[u8],
        iv: [u8; IV_LEN],
        nonce: [u8; NONCE_LEN],
    ) -> Result<Vec<u8>> {
        let key = self.sealing_key(&iv).map_err(|_| Error::Encrypt)?;
        let mut out = Vec::with_capacity(plaintext.len() + OVERHEAD);
        out.extend_from_slice(plaintext);
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(associated_data),
            &mut out,
        )
        .map_err(|_| {
            out.zeroize();
            Error::Encrypt
        })?;
        out.extend_from_slice(&iv);
        out.extend_from_slice(&nonce);
        Ok(out)
    }

    /// Decrypts a ciphertext in any accepted format (raw, E3 MessagePack, E1–E2 JSON), always
    /// with this key's algorithm. Every failure is [`Error::Decrypt`].
    pub fn decrypt(&self, ciphertext: &[u8], associated_data: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let parts = ciphertext::split(ciphertext).ok_or(Error::Decrypt)?;
        let key = self.sealing_key(&parts.iv).map_err(|_| Error::Decrypt)?;
        let mut buf = Zeroizing::new(parts.sealed.into_owned());
        let len = key
            .open_in_place(
                Nonce::assume_unique_for_key(parts.nonce),
                Aad::from(associated_data),
                buf.as_mut_slice(),
            )
            .map_err(|_| Error::Decrypt)?
            .len();
        buf.truncate(len);
        Ok(buf)
    }
}

pub(crate) fn random_array<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| Error::Random)?;
    Ok(out)
}

impl ConstantTimeEq for SecretKey {
    fn ct_eq(&self, other: &Self) -> Choice {
        let same_alg = Choice::from(u8::from(self.algorithm == other.algorithm));
        self.key.ct_eq(&other.key) & same_alg
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for SecretKey {}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ALGS: [Algorithm; 2] = [Algorithm::Aes256, Algorithm::ChaCha20];

    #[test]
    fn algorithm_names() {
        assert_eq!(Algorithm::parse("AES256"), Some(Algorithm::Aes256));
        assert_eq!(
            Algorithm::parse("AES256-GCM_SHA256"),
            Some(Algorithm::Aes256)
        );
        assert_eq!(Algorithm::parse("ChaCha20"), Some(Algorithm::ChaCha20));
        assert_eq!(
            Algorithm::parse("XCHACHA20-POLY1305"),
            Some(Algorithm::ChaCha20)
        );
        for bad in ["", "aes256", "DES", "AES-256-GCM-HMAC-SHA-256", "CHACHA20"] {
            assert_eq!(Algorithm::parse(bad), None, "{bad}");
        }
        for alg in ALGS {
            assert_eq!(Algorithm::parse(alg.as_str()), Some(alg));
            let json = serde_json::to_string(&alg).unwrap();
            assert_eq!(serde_json::from_str::<Algorithm>(&json).unwrap(), alg);
        }
    }

    #[test]
    fn round_trips_and_tamper() {
        for alg in ALGS {
            let key = SecretKey::generate(alg).unwrap();
            for len in [0usize, 1, 32, 1000] {
                let pt = vec![0x5a; len];
                let ct = key.encrypt(&pt, b"ctx").unwrap();
                assert_eq!(ct.len(), len + OVERHEAD);
                assert_eq!(key.decrypt(&ct, b"ctx").unwrap().as_slice(), pt.as_slice());
                assert_eq!(key.decrypt(&ct, b"ctx2").unwrap_err(), Error::Decrypt);
                assert_eq!(key.decrypt(&ct, b"").unwrap_err(), Error::Decrypt);
                for i in 0..ct.len() {
                    let mut bad = ct.clone();
                    bad[i] ^= 0x01;
                    assert_eq!(key.decrypt(&bad, b"ctx").unwrap_err(), Error::Decrypt);
                }
                let other = SecretKey::generate(alg).unwrap();
                assert_eq!(other.decrypt(&ct, b"ctx").unwrap_err(), Error::Decrypt);
            }
        }
    }

    #[test]
    fn random_iv_and_nonce_per_call() {
        let key = SecretKey::generate(Algorithm::Aes256).unwrap();
        let a = key.encrypt(b"x", b"").unwrap();
        let b = key.encrypt(b"x", b"").unwrap();
        assert_ne!(a[a.len() - SUFFIX_LEN..], b[b.len() - SUFFIX_LEN..]);
    }

    #[test]
    fn algorithm_is_the_keys() {
        let bytes = [9u8; 32];
        let aes = SecretKey::new(Algorithm::Aes256, bytes);
        let chacha = SecretKey::new(Algorithm::ChaCha20, bytes);
        let ct = aes.encrypt(b"data", b"").unwrap();
        assert_eq!(chacha.decrypt(&ct, b"").unwrap_err(), Error::Decrypt);
        assert_ne!(aes, chacha);
        assert_eq!(aes, SecretKey::new(Algorithm::Aes256, bytes));
    }

    #[test]
    fn short_inputs_fail() {
        let key = SecretKey::generate(Algorithm::ChaCha20).unwrap();
        for len in 0..=OVERHEAD - 1 {
            let input = vec![0u8; len];
            assert_eq!(
                key.decrypt(&input, b"").unwrap_err(),
                Error::Decrypt,
                "{len}"
            );
        }
        assert_eq!(key.decrypt(&[0x95], b"").unwrap_err(), Error::Decrypt);
        assert_eq!(key.decrypt(b"{}", b"").unwrap_err(), Error::Decrypt);
    }

    #[test]
    fn debug_is_redacted() {
        let key = SecretKey::new(Algorithm::Aes256, [0xab; 32]);
        let dbg = format!("{key:?}");
        assert!(dbg.contains("Aes256"));
        assert!(!dbg.contains("171") && !dbg.to_lowercase().contains("ab, "));
    }
}
