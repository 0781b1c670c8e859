//! Sealing and opening single packages, with the per-stream state the format needs
//! (sequence numbers, the stream's nonce and cipher, the final flag).

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::header::{Header, Version, FINAL_FLAG};
use crate::key::Aead;
use crate::{CipherSuite, Error, Key, Result, HEADER_SIZE, MAX_PAYLOAD_SIZE, TAG_SIZE};

/// Largest sequence number a package may use: a stream holds at most 2^32 packages.
const MAX_SEQ: u64 = u32::MAX as u64;

/// Encrypts the packages of one DARE 2.0 stream.
pub struct Sealer {
    aead: Aead,
    suite: CipherSuite,
    nonce: [u8; 12],
    seq: u64,
    finished: bool,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("suite", &self.suite)
            .field("seq", &self.seq)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// A stream under `key` with a fresh random 95-bit nonce and AES-256-GCM whose first
    /// package has sequence number `first_seq` (0 for a whole stream).
    pub fn new(key: &Key, first_seq: u32) -> Result<Self> {
        let mut nonce = [0u8; 12];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| Error::Random)?;
        Ok(Self::with_nonce(
            key,
            CipherSuite::Aes256Gcm,
            nonce,
            first_seq,
        ))
    }

    /// A stream with a caller-chosen nonce and first sequence number. MinIO derives the
    /// nonce of multipart parts from the upload ID; bit 7 of `nonce[0]` is replaced by the
    /// final flag. A (key, nonce) pair must never seal two different streams.
    pub fn with_nonce(key: &Key, suite: CipherSuite, nonce: [u8; 12], first_seq: u32) -> Self {
        Self {
            aead: Aead::new(key, suite),
            suite,
            nonce,
            seq: u64::from(first_seq),
            finished: false,
        }
    }

    /// Seals one package in place. `pkg` is the whole package buffer: 16 header bytes
    /// (overwritten), the plaintext payload, and 16 bytes for the tag (overwritten).
    /// Non-final packages must carry exactly 64 KiB; the final one 1..=64 KiB.
    pub fn seal_in_place(&mut self, pkg: &mut [u8], last: bool) -> Result<()> {
        let payload_len = pkg.len().saturating_sub(HEADER_SIZE + TAG_SIZE);
        let (header, nonce) = self.next_header(payload_len, last)?;
        let (head, body) = pkg.split_at_mut(HEADER_SIZE);
        head.copy_from_slice(header.as_bytes());
        self.aead.seal(nonce, header.aad(), body);
        Ok(())
    }

    /// Seals `payload` as the next package into `out`, which must hold at least
    /// `payload.len() + 32` bytes. Returns the package length.
    pub fn seal_into(&mut self, payload: &[u8], out: &mut [u8], last: bool) -> Result<usize> {
        let len = HEADER_SIZE + payload.len() + TAG_SIZE;
        let pkg = out.get_mut(..len).ok_or(Error::InvalidPayloadSize)?;
        let (header, nonce) = self.next_header(payload.len(), last)?;
        let (head, body) = pkg.split_at_mut(HEADER_SIZE);
        head.copy_from_slice(header.as_bytes());
        self.aead.seal_into(nonce, header.aad(), payload, body);
        Ok(len)
    }

    /// Checks the package shape and advances the stream: the header and AEAD nonce of
    /// the next package.
    fn next_header(&mut self, payload_len: usize, last: bool) -> Result<(Header, [u8; 12])> {
        if self.finished {
            return Err(Error::UnexpectedData);
        }
        if !(1..=MAX_PAYLOAD_SIZE).contains(&payload_len)
            || (!last && payload_len != MAX_PAYLOAD_SIZE)
        {
            return Err(Error::InvalidPayloadSize);
        }
        if self.seq > MAX_SEQ {
            return Err(Error::SequenceOverflow);
        }
        let header = Header::v20(self.suite, payload_len, &self.nonce, last);
        let nonce = header.aead_nonce(self.seq as u32)?;
        self.seq += 1;
        self.finished = last;
        Ok((header, nonce))
    }

    /// Whether the final package has been sealed.
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

/// Decrypts the packages of one DARE 1.0 or 2.0 stream, enforcing every decode rule.
///
/// The version is taken from the first package. Any error is final for the stream.
pub struct Opener {
    key: Key,
    aeads: [Option<Aead>; 2],
    seq: u64,
    version: Option<Version>,
    reference: Option<Header>,
    finished: bool,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener")
            .field("seq", &self.seq)
            .field("version", &self.version)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Opener {
    /// A decoder whose first package has sequence number `first_seq` (0 for a whole
    /// stream, `k` when starting at package `k` of a range).
    pub fn new(key: &Key, first_seq: u32) -> Self {
        Self {
            key: key.clone(),
            aeads: [None, None],
            seq: u64::from(first_seq),
            version: None,
            reference: None,
            finished: false,
        }
    }

    /// Whether a DARE 2.0 final package has been opened: any further byte is an error.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Whether the stream may end here: before any package, after a DARE 2.0 final
    /// package, or at any package boundary of a DARE 1.0 stream.
    pub fn may_end(&self) -> bool {
        match self.version {
            None | Some(Version::V10) => true,
            Some(Version::V20) => self.finished,
        }
    }

    /// Checks what the header alone can tell: version (and that it matches the stream's),
    /// cipher (and, in 2.0, that it matches the stream's) and, in 2.0, that a non-final
    /// package is full. Returns the decoded header.
    pub fn check_header(&mut self, bytes: [u8; HEADER_SIZE]) -> Result<Header> {
        if self.finished {
            return Err(Error::UnexpectedData);
        }
        let header = Header::decode(bytes)?;
        let version = header.version()?;
        match self.version {
            None => self.version = Some(version),
            Some(v) if v != version => return Err(Error::UnsupportedVersion),
            Some(_) => {}
        }
        let suite = header.cipher()?;
        if version == Version::V20 {
            let reference = *self.reference.get_or_insert(header);
            if reference.cipher()? != suite {
                return Err(Error::UnsupportedCipher);
            }
            if !header.is_final() && header.payload_len() != MAX_PAYLOAD_SIZE {
                return Err(Error::InvalidPayloadSize);
            }
        }
        Ok(header)
    }

    /// Authenticates and decrypts one whole package in place. On success returns the
    /// payload length; the plaintext is `pkg[16..16 + len]`. On failure no byte of `pkg`
    /// may be used as plaintext.
    pub fn open_in_place(&mut self, pkg: &mut [u8]) -> Result<usize> {
        let (header, nonce) = self.check_package(pkg)?;
        let suite = header.cipher()?;
        self.aead(suite)
            .open(nonce, header.aad(), &mut pkg[HEADER_SIZE..])?;
        Ok(self.advance(&header))
    }

    /// Authenticates and decrypts one whole package into `out`, which must hold at least
    /// the payload. Returns the payload length. On failure `out` holds no plaintext.
    pub fn open_into(&mut self, pkg: &[u8], out: &mut [u8]) -> Result<usize> {
        let (header, nonce) = self.check_package(pkg)?;
        let len = header.payload_len();
        let out = out.get_mut(..len).ok_or(Error::InvalidPayloadSize)?;
        let suite = header.cipher()?;
        self.aead(suite)
            .open_into(nonce, header.aad(), &pkg[HEADER_SIZE..], out)?;
        Ok(self.advance(&header))
    }

    /// Every check before the AEAD: header, length, sequence (1.0) or nonce (2.0).
    /// Returns the header and the AEAD nonce.
    fn check_package(&mut self, pkg: &[u8]) -> Result<(Header, [u8; 12])> {
        if self.finished {
            return Err(Error::UnexpectedData);
        }
        if pkg.len() <= HEADER_SIZE + TAG_SIZE {
            return Err(Error::InvalidPayloadSize);
        }
        let mut head = [0u8; HEADER_SIZE];
        head.copy_from_slice(&pkg[..HEADER_SIZE]);
        let header = self.check_header(head)?;
        if header.package_len() != pkg.len() {
            return Err(Error::InvalidPayloadSize);
        }
        if self.seq > MAX_SEQ {
            return Err(Error::SequenceOverflow);
        }
        let seq = self.seq as u32;
        match header.version()? {
            Version::V10 => {
                if header.sequence_v10() != seq {
                    return Err(Error::SequenceMismatch);
                }
            }
            Version::V20 => {
                let mut expected = self.reference.map(|r| r.nonce()).unwrap_or_default();
                if header.is_final() {
                    expected[0] |= FINAL_FLAG;
                }
                let got = header.nonce();
                if !bool::from(subtle::ConstantTimeEq::ct_eq(&got[..], &expected[..])) {
                    return Err(Error::NonceMismatch);
                }
            }
        }
        Ok((header, header.aead_nonce(seq)?))
    }

    fn aead(&mut self, suite: CipherSuite) -> &Aead {
        let key = &self.key;
        self.aeads[suite as usize].get_or_insert_with(|| Aead::new(key, suite))
    }

    /// Records an authenticated package; returns its payload length.
    fn advance(&mut self, header: &Header) -> usize {
        self.seq += 1;
        if header.version().ok() == Some(Version::V20) && header.is_final() {
            self.finished = true;
        }
        header.payload_len()
    }
}
