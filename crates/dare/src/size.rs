//! Size arithmetic: plaintext ↔ ciphertext sizes, and which ciphertext bytes a plaintext
//! range needs (also across the parts of a multipart object).

use crate::error::SizeError;
use crate::{Error, Result, MAX_PACKAGE_SIZE, MAX_PAYLOAD_SIZE};

/// Largest plaintext a DARE stream can hold: 2^48 bytes.
pub const MAX_DECRYPTED_SIZE: u64 = 1 << 48;
/// Largest DARE stream: 2^48 bytes of payload plus 32 bytes for each of 2^32 packages.
pub const MAX_ENCRYPTED_SIZE: u64 = MAX_DECRYPTED_SIZE + 32 * (1 << 32);

const P: u64 = MAX_PAYLOAD_SIZE as u64;
const PK: u64 = MAX_PACKAGE_SIZE as u64;
const OVERHEAD: u64 = PK - P;

/// Size of the DARE stream of `plaintext` bytes.
pub fn encrypted_size(plaintext: u64) -> Result<u64> {
    if plaintext > MAX_DECRYPTED_SIZE {
        return Err(Error::InvalidSize(SizeError::PlaintextTooLarge(plaintext)));
    }
    let rest = plaintext % P;
    Ok((plaintext / P) * PK + if rest == 0 { 0 } else { rest + OVERHEAD })
}

/// Plaintext size of a DARE stream of `ciphertext` bytes.
pub fn decrypted_size(ciphertext: u64) -> Result<u64> {
    if ciphertext > MAX_ENCRYPTED_SIZE {
        return Err(Error::InvalidSize(SizeError::CiphertextTooLarge(
            ciphertext,
        )));
    }
    let rest = ciphertext % PK;
    let tail = match rest {
        0 => 0,
        r if r > OVERHEAD => r - OVERHEAD,
        _ => {
            return Err(Error::InvalidSize(SizeError::NotAPackageBoundary(
                ciphertext,
            )))
        }
    };
    Ok((ciphertext / PK) * P + tail)
}

/// The ciphertext a plaintext range needs, and how to decrypt it.
///
/// Read `encrypted_length` bytes at `encrypted_offset` of the stored object, decrypt the
/// first part's stream starting at sequence number `sequence` (with the key of part
/// `first_part`; at each later part boundary switch key and restart at sequence 0),
/// drop `skip` plaintext bytes, then emit the requested length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangePlan {
    /// Index (0-based) of the part holding the first requested byte.
    pub first_part: usize,
    /// Index (0-based) of the part holding the last requested byte.
    pub last_part: usize,
    /// Offset of the first needed ciphertext byte in the stored object.
    pub encrypted_offset: u64,
    /// Number of ciphertext bytes to read.
    pub encrypted_length: u64,
    /// Plaintext bytes to drop from the first decrypted package.
    pub skip: u64,
    /// Sequence number of the first package read, relative to its part.
    pub sequence: u32,
}

/// Maps the plaintext range `offset .. offset + length` of an object made of parts with
/// the given plaintext sizes (one element for a single-part object) to the ciphertext
/// range to read. `length` must be at least 1 and the range must lie inside the object.
pub fn decrypted_range(part_sizes: &[u64], offset: u64, length: u64) -> Result<RangePlan> {
    let total = part_sizes
        .iter()
        .try_fold(0u64, |acc, &s| acc.checked_add(s))
        .ok_or(Error::InvalidSize(SizeError::PlaintextTooLarge(u64::MAX)))?;
    let bad = || Error::InvalidRange {
        offset,
        length,
        size: total,
    };
    let end = offset
        .checked_add(length)
        .filter(|&e| length > 0 && e <= total)
        .ok_or_else(bad)?
        - 1;

    // Find the part of the first byte, tracking plaintext and ciphertext offsets.
    let (mut cum, mut ecum) = (0u64, 0u64);
    let mut first = None;
    let mut plan = RangePlan {
        first_part: 0,
        last_part: 0,
        encrypted_offset: 0,
        encrypted_length: 0,
        skip: 0,
        sequence: 0,
    };
    for (i, &size) in part_sizes.iter().enumerate() {
        let esize = encrypted_size(size)?;
        if first.is_none() && offset < cum + size {
            let pkg = (offset - cum) / P;
            plan.first_part = i;
            plan.skip = (offset - cum) % P;
            plan.sequence = u32::try_from(pkg).map_err(|_| bad())?;
            first = Some(ecum + pkg * PK);
        }
        if first.is_some() && end < cum + size {
            let end_pkg = (end - cum) / P;
            let end_enc = (ecum + (end_pkg + 1) * PK).min(ecum + esize);
            let start = first.ok_or_else(bad)?;
            plan.last_part = i;
            plan.encrypted_offset = start;
            plan.encrypted_length = end_enc - start;
            return Ok(plan);
        }
        cum += size;
        ecum += esize;
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples() {
        let table = [
            (0, 0),
            (1, 33),
            (13, 45),
            (1024, 1056),
            (65535, 65567),
            (65536, 65568),
            (65537, 65601),
            (131072, 131136),
            (1 << 20, 1049088),
            (5 << 20, 5245440),
            (8 << 20, 8392704),
            (30 << 20, 31472640),
        ];
        for (p, c) in table {
            assert_eq!(encrypted_size(p).expect("valid"), c, "encrypted_size({p})");
            assert_eq!(decrypted_size(c).expect("valid"), p, "decrypted_size({c})");
        }
        assert!(decrypted_size(1).is_err());
        assert!(decrypted_size(65569).is_err());
        assert!(encrypted_size(MAX_DECRYPTED_SIZE + 1).is_err());
    }

    #[test]
    fn issue50_vector() {
        let plain = 297_435_132;
        assert_eq!(encrypted_size(plain).expect("valid"), 297_580_380);
        let plan = decrypted_range(&[plain, plain], 594_870_256, 8).expect("in range");
        assert_eq!(plan.encrypted_offset, 595_127_964);
        assert_eq!(plan.encrypted_length, 32_796);
        assert_eq!(plan.skip, 32_756);
        assert_eq!(plan.sequence, 4538);
        assert_eq!(plan.first_part, 1);
        assert_eq!(plan.last_part, 1);
    }

    #[test]
    fn range_across_parts() {
        let mib5 = 5 << 20;
        let plan = decrypted_range(&[mib5, 100], mib5 - 10, 20).expect("in range");
        assert_eq!(plan.first_part, 0);
        assert_eq!(plan.last_part, 1);
        assert_eq!(plan.sequence, 79);
        assert_eq!(plan.skip, 65536 - 10);
        assert_eq!(plan.encrypted_offset, 79 * 65568);
        assert_eq!(
            plan.encrypted_length,
            encrypted_size(mib5).expect("valid") - 79 * 65568 + encrypted_size(100).expect("valid")
        );
    }

    #[test]
    fn range_outside_object_is_rejected() {
        assert!(decrypted_range(&[10], 10, 1).is_err());
        assert!(decrypted_range(&[10], 0, 0).is_err());
        assert!(decrypted_range(&[10], 5, 6).is_err());
        assert!(decrypted_range(&[10], u64::MAX, 2).is_err());
        assert!(decrypted_range(&[], 0, 1).is_err());
        assert!(decrypted_range(&[10], 0, 10).is_ok());
    }
}
