//! The one error type of this crate.

use std::fmt;

/// Everything that can go wrong while encoding or decoding DARE.
///
/// Each decode rule of the format has its own variant, so callers (and tests) can tell a
/// truncated stream from a tampered one. The `Display` texts name the problem and never
/// include key or plaintext bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The first byte of a package is neither `0x10` (DARE 1.0) nor `0x20` (DARE 2.0), or a
    /// package of one version appears in a stream of the other.
    #[error("dare: unsupported version")]
    UnsupportedVersion,
    /// The cipher byte is not a known AEAD, or a DARE 2.0 package switches cipher mid-stream.
    #[error("dare: unsupported cipher suite")]
    UnsupportedCipher,
    /// The package length field does not match the package, or a non-final DARE 2.0
    /// package carries less than 64 KiB.
    #[error("dare: invalid payload size")]
    InvalidPayloadSize,
    /// A DARE 2.0 header nonce differs from the stream's, or its final flag is wrong for
    /// its position (a cleared flag on a short last package, a set flag mid-stream).
    #[error("dare: header nonce mismatch")]
    NonceMismatch,
    /// A DARE 1.0 package carries an unexpected sequence number (packages reordered,
    /// dropped or duplicated).
    #[error("dare: sequence number mismatch")]
    SequenceMismatch,
    /// The AEAD tag did not verify: wrong key, wrong sequence number, or modified bytes.
    #[error("dare: authentication failed")]
    AuthenticationFailed,
    /// The stream ended inside a package, or a DARE 2.0 stream ended without a final package.
    #[error("dare: unexpected EOF")]
    UnexpectedEof,
    /// Bytes follow the final package of a DARE 2.0 stream.
    #[error("dare: unexpected data after final package")]
    UnexpectedData,
    /// A key was not exactly 32 bytes long.
    #[error("dare: invalid key length {0}, want 32 bytes")]
    InvalidKeyLength(usize),
    /// A size is outside what DARE can represent, or an encrypted size that no stream can
    /// have.
    #[error("dare: invalid size: {0}")]
    InvalidSize(SizeError),
    /// A plaintext range that does not fit the object.
    #[error("dare: invalid range: offset {offset} length {length} of object size {size}")]
    InvalidRange {
        /// First requested plaintext byte.
        offset: u64,
        /// Number of requested bytes.
        length: u64,
        /// Plaintext size of the whole object.
        size: u64,
    },
    /// The sequence number space (2^32 packages) is exhausted.
    #[error("dare: stream too large: sequence number overflow")]
    SequenceOverflow,
    /// The operating system's random number generator failed.
    #[error("dare: random number generator failed")]
    Random,
    /// An I/O error of the underlying reader or writer.
    #[error("dare: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a size is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeError {
    /// Plaintext larger than 2^48 bytes.
    PlaintextTooLarge(u64),
    /// Ciphertext larger than the largest DARE stream.
    CiphertextTooLarge(u64),
    /// A ciphertext length that ends in a package of 32 bytes or fewer.
    NotAPackageBoundary(u64),
}

impl fmt::Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PlaintextTooLarge(n) => write!(f, "plaintext size {n} exceeds 2^48 bytes"),
            Self::CiphertextTooLarge(n) => write!(f, "ciphertext size {n} exceeds the maximum"),
            Self::NotAPackageBoundary(n) => {
                write!(f, "ciphertext size {n} is not a valid DARE stream size")
            }
        }
    }
}

impl Error {
    /// Converts into an `io::Error` that keeps this error as its source, so callers of
    /// the `Read`/`Write` adapters can recover it with [`Error::from_io`].
    pub fn into_io(self) -> std::io::Error {
        match self {
            Error::Io(e) => e,
            Error::UnexpectedEof => std::io::Error::new(std::io::ErrorKind::UnexpectedEof, self),
            other => std::io::Error::new(std::io::ErrorKind::InvalidData, other),
        }
    }

    /// Recovers a DARE error from an `io::Error` produced by this crate's adapters;
    /// other I/O errors come back as [`Error::Io`].
    pub fn from_io(err: std::io::Error) -> Self {
        if err.get_ref().is_some_and(|e| e.is::<Error>()) {
            match err.into_inner().map(|inner| inner.downcast::<Error>()) {
                Some(Ok(e)) => *e,
                // Unreachable given the check above; keep a sane fallback.
                Some(Err(inner)) => Error::Io(std::io::Error::other(inner)),
                None => Error::Io(std::io::Error::other("unknown error")),
            }
        } else {
            Error::Io(err)
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
