//! Key material and the two AEADs DARE uses.

use aws_lc_rs::aead::{self, LessSafeKey, UnboundKey};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{Error, Result, KEY_SIZE};

/// A 256-bit DARE key.
///
/// It has no `Debug` that prints bytes, is zeroized on drop and is compared in constant time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key([u8; KEY_SIZE]);

impl Key {
    /// Wraps 32 key bytes.
    pub fn new(bytes: [u8; KEY_SIZE]) -> Self {
        Self(bytes)
    }

    /// Copies a key from a slice, which must be exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; KEY_SIZE] = bytes
            .try_into()
            .map_err(|_| Error::InvalidKeyLength(bytes.len()))?;
        Ok(Self(arr))
    }

    /// The key bytes. Callers must not log or copy them carelessly.
    pub fn as_bytes(&self) -> &[u8; KEY_SIZE] {
        &self.0
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        subtle::ConstantTimeEq::ct_eq(&self.0[..], &other.0[..]).into()
    }
}

impl Eq for Key {}

/// The AEAD of a package, as stored in header byte 1. The values are frozen by the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CipherSuite {
    /// AES-256-GCM, `0x00`. What Coffer writes.
    Aes256Gcm = 0x00,
    /// ChaCha20-Poly1305 (IETF), `0x01`. Read for compatibility (MinIO on arm64 writes it).
    ChaCha20Poly1305 = 0x01,
}

impl CipherSuite {
    /// Parses header byte 1.
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            0x00 => Some(Self::Aes256Gcm),
            0x01 => Some(Self::ChaCha20Poly1305),
            _ => None,
        }
    }

    fn algorithm(self) -> &'static aead::Algorithm {
        match self {
            Self::Aes256Gcm => &aead::AES_256_GCM,
            Self::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        }
    }
}

/// A keyed AEAD instance. Building one runs the key schedule, so streams build it once.
pub(crate) struct Aead {
    key: LessSafeKey,
}

impl Aead {
    pub(crate) fn new(key: &Key, suite: CipherSuite) -> Self {
        // Both algorithms take 32-byte keys, which `Key` guarantees, so this cannot fail.
        let unbound = match UnboundKey::new(suite.algorithm(), key.as_bytes()) {
            Ok(k) => k,
            Err(_) => unreachable!("AES-256-GCM and ChaCha20-Poly1305 accept 32-byte keys"),
        };
        Self {
            key: LessSafeKey::new(unbound),
        }
    }

    /// Seals `buf[..len - 16]` in place and writes the tag into the last 16 bytes.
    pub(crate) fn seal(&self, nonce: [u8; 12], aad: &[u8], buf: &mut [u8]) {
        let split = buf.len() - crate::TAG_SIZE;
        let (data, tag_out) = buf.split_at_mut(split);
        match self.key.seal_in_place_separate_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(aad),
            data,
        ) {
            Ok(tag) => tag_out.copy_from_slice(tag.as_ref()),
            // Only possible for inputs beyond the AEAD's limit (far above 64 KiB).
            Err(_) => unreachable!("AEAD seal of a DARE payload cannot fail"),
        }
    }

    /// Seals `src` into `dst` (`src.len() + 16` bytes: ciphertext then tag).
    pub(crate) fn seal_into(&self, nonce: [u8; 12], aad: &[u8], src: &[u8], dst: &mut [u8]) {
        let (data, tag) = dst.split_at_mut(src.len());
        match self.key.seal_out_of_place_scatter(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(aad),
            src,
            data,
            &[],
            tag,
        ) {
            Ok(()) => {}
            // Lengths are fixed by the callers; only a bug could get here.
            Err(_) => unreachable!("AEAD seal of a DARE payload cannot fail"),
        }
    }

    /// Opens `ciphertext ‖ tag` into `out` (exactly the ciphertext length). On failure
    /// `out` is zeroed, so no unauthenticated plaintext is left behind.
    pub(crate) fn open_into(
        &self,
        nonce: [u8; 12],
        aad: &[u8],
        sealed: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        let split = sealed
            .len()
            .checked_sub(crate::TAG_SIZE)
            .ok_or(Error::InvalidPayloadSize)?;
        let (data, tag) = sealed.split_at(split);
        let r = self.key.open_separate_gather(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(aad),
            data,
            tag,
            out,
        );
        if r.is_err() {
            out.zeroize();
            return Err(Error::AuthenticationFailed);
        }
        Ok(())
    }

    /// Opens `buf` (ciphertext ‖ tag) in place; on success `buf[..len - 16]` is plaintext.
    pub(crate) fn open(&self, nonce: [u8; 12], aad: &[u8], buf: &mut [u8]) -> Result<()> {
        if buf.len() < crate::TAG_SIZE {
            return Err(Error::InvalidPayloadSize);
        }
        let split = buf.len() - crate::TAG_SIZE;
        let (data, tag) = buf.split_at_mut(split);
        self.key
            .open_in_place_separate_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(aad),
                tag,
                data,
            )
            .map(|_| ())
            .map_err(|_| Error::AuthenticationFailed)
    }
}
