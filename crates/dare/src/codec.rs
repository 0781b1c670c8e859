//! Sans-I/O stream codecs: the buffering state machines behind every `Read`, `Write`,
//! `AsyncRead` and `AsyncWrite` adapter of this crate.
//!
//! Each codec owns exactly one package buffer (65 568 bytes). Input is written into
//! [`spare`](Encoder::spare) and announced with [`commit`](Encoder::commit); output is
//! taken from [`pending`](Encoder::pending) and released with
//! [`consume`](Encoder::consume). The adapters only move bytes between these and their
//! inner reader or writer.

use crate::{
    Error, Key, Opener, Result, Sealer, SizeError, HEADER_SIZE, MAX_PACKAGE_SIZE, MAX_PAYLOAD_SIZE,
};

/// Turns plaintext into a DARE 2.0 stream, one package at a time.
pub struct Encoder {
    sealer: Sealer,
    /// Package buffer; payload bytes live at `HEADER_SIZE..HEADER_SIZE + filled`.
    buf: Box<[u8]>,
    filled: usize,
    /// Sealed bytes not yet handed out: `buf[out_pos..out_end]`.
    out_pos: usize,
    out_end: usize,
    /// The first payload byte of the next package, read ahead to learn that the
    /// current full package is not the last one.
    carry: Option<u8>,
    finished: bool,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("filled", &self.filled)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// An encoder around a sealer (which fixes key, nonce and first sequence number).
    pub fn new(sealer: Sealer) -> Self {
        Self {
            sealer,
            buf: vec![0u8; MAX_PACKAGE_SIZE].into_boxed_slice(),
            filled: 0,
            out_pos: 0,
            out_end: 0,
            carry: None,
            finished: false,
        }
    }

    /// Where the next plaintext bytes go. Empty while sealed output is pending or after
    /// [`finish`](Self::finish). When the package is full, this is a one-byte slot: a
    /// byte there tells the encoder that more data follows.
    pub fn spare(&mut self) -> &mut [u8] {
        if self.out_pos < self.out_end || self.finished {
            return &mut [];
        }
        let start = HEADER_SIZE + self.filled;
        // `filled == MAX_PAYLOAD_SIZE` gives the look-ahead slot (first tag byte).
        let end = HEADER_SIZE + MAX_PAYLOAD_SIZE + usize::from(self.filled == MAX_PAYLOAD_SIZE);
        &mut self.buf[start..end]
    }

    /// Announces `n` bytes written into [`spare`](Self::spare).
    pub fn commit(&mut self, n: usize) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.filled += n;
        if self.filled > MAX_PAYLOAD_SIZE {
            // A byte arrived after a full payload: the package is not the last.
            self.carry = Some(self.buf[HEADER_SIZE + MAX_PAYLOAD_SIZE]);
            self.filled = MAX_PAYLOAD_SIZE;
            self.sealer.seal_in_place(&mut self.buf[..], false)?;
            self.out_pos = 0;
            self.out_end = MAX_PACKAGE_SIZE;
        }
        Ok(())
    }

    /// Copies as much of `data` as fits; returns how many bytes were taken.
    pub fn push(&mut self, data: &[u8]) -> Result<usize> {
        let spare = self.spare();
        let n = spare.len().min(data.len());
        spare[..n].copy_from_slice(&data[..n]);
        self.commit(n)?;
        Ok(n)
    }

    /// Ends the plaintext: seals what is buffered as the final package (nothing for an
    /// empty stream). Call once all pending output has been consumed.
    pub fn finish(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        debug_assert!(self.out_pos == self.out_end);
        self.finished = true;
        if self.filled > 0 {
            let end = HEADER_SIZE + self.filled + crate::TAG_SIZE;
            self.sealer.seal_in_place(&mut self.buf[..end], true)?;
            self.out_pos = 0;
            self.out_end = end;
        }
        Ok(())
    }

    /// Sealed bytes ready to be written out.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.out_pos..self.out_end]
    }

    /// Releases `n` bytes of [`pending`](Self::pending).
    pub fn consume(&mut self, n: usize) {
        self.out_pos = (self.out_pos + n).min(self.out_end);
        if self.out_pos == self.out_end && !self.finished && self.out_end != 0 {
            self.out_pos = 0;
            self.out_end = 0;
            self.filled = 0;
            if let Some(b) = self.carry.take() {
                self.buf[HEADER_SIZE] = b;
                self.filled = 1;
            }
        }
    }

    /// See [`Codec::read_direct`]: fills the package buffer from `inner`, then seals
    /// it straight into `out` (which must hold a whole package) instead of sealing in
    /// place and copying the package out.
    pub fn read_direct<R: std::io::Read>(
        &mut self,
        inner: &mut R,
        out: &mut [u8],
    ) -> std::io::Result<Direct> {
        if self.out_pos < self.out_end || self.finished || out.len() < MAX_PACKAGE_SIZE {
            return Ok(Direct::Unavailable);
        }
        // One byte past a full payload (the look-ahead slot) tells whether this
        // package is the last.
        while self.filled <= MAX_PAYLOAD_SIZE {
            match inner.read(self.spare()) {
                Ok(0) => {
                    self.finished = true;
                    if self.filled == 0 {
                        return Ok(Direct::Eof);
                    }
                    let payload = &self.buf[HEADER_SIZE..HEADER_SIZE + self.filled];
                    let n = self
                        .sealer
                        .seal_into(payload, out, true)
                        .map_err(Error::into_io)?;
                    self.filled = 0;
                    return Ok(Direct::Output(n));
                }
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let payload = &self.buf[HEADER_SIZE..HEADER_SIZE + MAX_PAYLOAD_SIZE];
        let n = self
            .sealer
            .seal_into(payload, out, false)
            .map_err(Error::into_io)?;
        self.buf[HEADER_SIZE] = self.buf[HEADER_SIZE + MAX_PAYLOAD_SIZE];
        self.filled = 1;
        Ok(Direct::Output(n))
    }

    /// Whether [`finish`](Self::finish) ran and all output was consumed.
    pub fn is_done(&self) -> bool {
        self.finished && self.out_pos == self.out_end
    }
}

/// Turns a DARE 1.0 or 2.0 stream back into plaintext, releasing a package's plaintext
/// only after it authenticated.
pub struct Decoder {
    opener: Opener,
    buf: Box<[u8]>,
    /// Bytes of the current package received so far.
    have: usize,
    /// Bytes the current package needs: the header first, then the whole package.
    need: usize,
    /// Authenticated plaintext not yet handed out: `buf[out_pos..out_end]`.
    out_pos: usize,
    out_end: usize,
    failed: bool,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("have", &self.have)
            .field("need", &self.need)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// A decoder whose first package has sequence number `first_seq`.
    pub fn new(key: &Key, first_seq: u32) -> Self {
        Self::with_opener(Opener::new(key, first_seq))
    }

    /// A decoder around an opener.
    pub fn with_opener(opener: Opener) -> Self {
        Self {
            opener,
            buf: vec![0u8; MAX_PACKAGE_SIZE].into_boxed_slice(),
            have: 0,
            need: HEADER_SIZE,
            out_pos: 0,
            out_end: 0,
            failed: false,
        }
    }

    /// Where the next ciphertext bytes go. Empty while plaintext is pending. After a
    /// DARE 2.0 final package this is a one-byte probe: any byte there is an error.
    pub fn spare(&mut self) -> &mut [u8] {
        if self.out_pos < self.out_end || self.failed {
            return &mut [];
        }
        if self.opener.is_finished() {
            return &mut self.buf[..1];
        }
        &mut self.buf[self.have..self.need]
    }

    /// Announces `n` bytes written into [`spare`](Self::spare); opens the package once it
    /// is complete.
    pub fn commit(&mut self, n: usize) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        let r = self.advance(n);
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    fn advance(&mut self, n: usize) -> Result<()> {
        if self.opener.is_finished() {
            return Err(Error::UnexpectedData);
        }
        self.have += n;
        if self.have < self.need {
            return Ok(());
        }
        if self.need == HEADER_SIZE {
            let mut head = [0u8; HEADER_SIZE];
            head.copy_from_slice(&self.buf[..HEADER_SIZE]);
            self.need = self.opener.check_header(head)?.package_len();
            return Ok(());
        }
        let len = self.opener.open_in_place(&mut self.buf[..self.need])?;
        self.out_pos = HEADER_SIZE;
        self.out_end = HEADER_SIZE + len;
        self.have = 0;
        self.need = HEADER_SIZE;
        Ok(())
    }

    /// See [`Codec::read_direct`]: reads one package and decrypts it straight into
    /// `out` (which must hold 64 KiB), skipping the copy out of the package buffer.
    pub fn read_direct<R: std::io::Read>(
        &mut self,
        inner: &mut R,
        out: &mut [u8],
    ) -> std::io::Result<Direct> {
        if self.out_pos < self.out_end
            || self.failed
            || self.opener.is_finished()
            || out.len() < MAX_PAYLOAD_SIZE
        {
            return Ok(Direct::Unavailable);
        }
        loop {
            match inner.read(&mut self.buf[self.have..self.need]) {
                Ok(0) => return Ok(Direct::Eof),
                Ok(n) => self.have += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if self.have < self.need {
                continue;
            }
            let step = if self.need == HEADER_SIZE {
                let mut head = [0u8; HEADER_SIZE];
                head.copy_from_slice(&self.buf[..HEADER_SIZE]);
                self.opener.check_header(head).map(|h| {
                    self.need = h.package_len();
                    None
                })
            } else {
                self.opener.open_into(&self.buf[..self.need], out).map(Some)
            };
            match step {
                Ok(None) => {}
                Ok(Some(len)) => {
                    self.have = 0;
                    self.need = HEADER_SIZE;
                    return Ok(Direct::Output(len));
                }
                Err(e) => {
                    self.failed = true;
                    return Err(e.into_io());
                }
            }
        }
    }

    /// Opens the package at the start of `input` in place, without copying it into the
    /// package buffer, when the decoder is between packages with no plaintext pending and
    /// `input` holds the whole package. Returns `Some((package length, payload length))`
    /// (the plaintext is then `input[HEADER_SIZE..HEADER_SIZE + payload length]`), or
    /// `None` when the package must go through [`push`](Self::push) (also after an
    /// error, as `push` then takes nothing). An error is final, as with `push`; on error
    /// no byte of `input` may be used as plaintext.
    pub fn open_in_place(&mut self, input: &mut [u8]) -> Result<Option<(usize, usize)>> {
        if self.have != 0 || self.out_pos < self.out_end || self.failed || self.opener.is_finished()
        {
            return Ok(None);
        }
        let Some(head) = input.get(..HEADER_SIZE) else {
            return Ok(None);
        };
        let mut bytes = [0u8; HEADER_SIZE];
        bytes.copy_from_slice(head);
        // A header that does not decode is left to `push`, which reports it.
        let Ok(header) = crate::header::Header::decode(bytes) else {
            return Ok(None);
        };
        let len = header.package_len();
        let Some(pkg) = input.get_mut(..len) else {
            return Ok(None);
        };
        match self.opener.open_in_place(pkg) {
            Ok(n) => Ok(Some((len, n))),
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    /// Copies as much of `data` as the current package still needs; returns how many
    /// bytes were taken.
    pub fn push(&mut self, data: &[u8]) -> Result<usize> {
        let spare = self.spare();
        let n = spare.len().min(data.len());
        spare[..n].copy_from_slice(&data[..n]);
        self.commit(n)?;
        Ok(n)
    }

    /// The input has ended: checks that the stream may end here.
    pub fn finish(&mut self) -> Result<()> {
        if self.have == 0 && self.opener.may_end() {
            Ok(())
        } else {
            self.failed = true;
            Err(Error::UnexpectedEof)
        }
    }

    /// Authenticated plaintext ready to be handed out.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.out_pos..self.out_end]
    }

    /// Releases `n` bytes of [`pending`](Self::pending).
    pub fn consume(&mut self, n: usize) {
        self.out_pos = (self.out_pos + n).min(self.out_end);
    }
}

/// Encrypts `plaintext` into `out` as one DARE 2.0 stream, sealing each package straight
/// from the input (no intermediate copy). `out` must hold
/// [`encrypted_size`](crate::encrypted_size) bytes; returns the bytes written.
pub fn encrypt_slice(mut sealer: Sealer, plaintext: &[u8], out: &mut [u8]) -> Result<usize> {
    let size = crate::encrypted_size(plaintext.len() as u64)?;
    if (out.len() as u64) < size {
        return Err(Error::InvalidSize(SizeError::NotAPackageBoundary(
            out.len() as u64,
        )));
    }
    let mut pos = 0;
    let mut chunks = plaintext.chunks(MAX_PAYLOAD_SIZE).peekable();
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        pos += sealer.seal_into(chunk, &mut out[pos..], last)?;
    }
    Ok(pos)
}

/// Decrypts a whole DARE 1.0 or 2.0 stream from `ciphertext` into `out` (at least as
/// long as the ciphertext, or its [`decrypted_size`](crate::decrypted_size)), opening
/// each package straight into place. Returns the plaintext length. An empty input is an
/// error (`UnexpectedEof`), as in sio's `DecryptBuffer`. On error, `out` may hold
/// plaintext of the packages before the failing one, never of the failing one.
pub fn decrypt_slice(
    key: &Key,
    first_seq: u32,
    ciphertext: &[u8],
    out: &mut [u8],
) -> Result<usize> {
    if ciphertext.is_empty() {
        return Err(Error::UnexpectedEof);
    }
    let mut opener = Opener::new(key, first_seq);
    let (mut rest, mut pos) = (ciphertext, 0);
    while !rest.is_empty() {
        if opener.is_finished() {
            return Err(Error::UnexpectedData);
        }
        let head: [u8; HEADER_SIZE] = rest
            .get(..HEADER_SIZE)
            .and_then(|h| h.try_into().ok())
            .ok_or(Error::UnexpectedEof)?;
        let len = opener.check_header(head)?.package_len();
        let pkg = rest.get(..len).ok_or(Error::UnexpectedEof)?;
        let dst = out.get_mut(pos..).ok_or(Error::InvalidPayloadSize)?;
        pos += opener.open_into(pkg, dst)?;
        rest = &rest[len..];
    }
    if !opener.may_end() {
        return Err(Error::UnexpectedEof);
    }
    Ok(pos)
}

/// [`encrypt_slice`] into a new vector.
pub fn encrypt_buffer(sealer: Sealer, plaintext: &[u8]) -> Result<Vec<u8>> {
    let size = crate::encrypted_size(plaintext.len() as u64)?;
    let len = usize::try_from(size)
        .map_err(|_| Error::InvalidSize(SizeError::PlaintextTooLarge(size)))?;
    let mut out = vec![0u8; len];
    encrypt_slice(sealer, plaintext, &mut out)?;
    Ok(out)
}

/// [`decrypt_slice`] into a new vector.
pub fn decrypt_buffer(key: &Key, first_seq: u32, ciphertext: &[u8]) -> Result<Vec<u8>> {
    let mut out = vec![0u8; ciphertext.len()];
    let n = decrypt_slice(key, first_seq, ciphertext, &mut out)?;
    out.truncate(n);
    Ok(out)
}

/// The buffer-moving interface the I/O adapters drive; implemented by [`Encoder`] and
/// [`Decoder`].
pub trait Codec {
    /// Where input goes; empty while output is pending.
    fn spare(&mut self) -> &mut [u8];
    /// Announces `n` input bytes written into `spare`.
    fn commit(&mut self, n: usize) -> Result<()>;
    /// Output ready to be handed out.
    fn pending(&self) -> &[u8];
    /// Releases `n` bytes of output.
    fn consume(&mut self, n: usize);
    /// Ends the input; may make final output pending.
    fn finish(&mut self) -> Result<()>;
    /// Zero-copy fast path for blocking readers: when nothing is pending and `out` can
    /// hold a whole unit of output, read input from `inner` and produce that unit
    /// directly in `out`.
    fn read_direct<R: std::io::Read>(
        &mut self,
        inner: &mut R,
        out: &mut [u8],
    ) -> std::io::Result<Direct>;
}

/// What [`Codec::read_direct`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direct {
    /// Wrote this many output bytes to the start of `out`.
    Output(usize),
    /// The inner reader ended; the caller must run its end-of-input path.
    Eof,
    /// The fast path does not apply now; use `spare`/`commit`/`pending`.
    Unavailable,
}

macro_rules! impl_codec {
    ($t:ty) => {
        impl Codec for $t {
            fn spare(&mut self) -> &mut [u8] {
                <$t>::spare(self)
            }
            fn commit(&mut self, n: usize) -> Result<()> {
                <$t>::commit(self, n)
            }
            fn pending(&self) -> &[u8] {
                <$t>::pending(self)
            }
            fn consume(&mut self, n: usize) {
                <$t>::consume(self, n)
            }
            fn finish(&mut self) -> Result<()> {
                <$t>::finish(self)
            }
            fn read_direct<R: std::io::Read>(
                &mut self,
                inner: &mut R,
                out: &mut [u8],
            ) -> std::io::Result<Direct> {
                <$t>::read_direct(self, inner, out)
            }
        }
    };
}
impl_codec!(Encoder);
impl_codec!(Decoder);
