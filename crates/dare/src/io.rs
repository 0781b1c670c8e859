//! `std::io` adapters: encrypt or decrypt while reading from a `Read` or writing into a
//! `Write`, holding at most one package in memory.

use std::io::{self, Read, Write};

use crate::codec::{Codec, Decoder, Direct, Encoder};
use crate::{Error, Key, Sealer};

/// Pulls input from an inner reader through a codec.
#[derive(Debug)]
pub struct DareReader<R, C> {
    inner: R,
    codec: C,
    state: State,
}

/// Where an adapter is in its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Open,
    /// Inner input ended and the codec accepted the end.
    Done,
    /// An error was returned; the stream cannot continue.
    Failed,
}

pub(crate) fn failed_again() -> io::Error {
    io::Error::other("dare: stream already failed")
}

/// Reads plaintext from `R` and yields a DARE 2.0 stream.
pub type EncryptReader<R> = DareReader<R, Encoder>;
/// Reads a DARE stream from `R` and yields authenticated plaintext.
pub type DecryptReader<R> = DareReader<R, Decoder>;

impl<R: Read> DareReader<R, Encoder> {
    /// Encrypts what `inner` yields with `sealer`.
    pub fn encrypt(inner: R, sealer: Sealer) -> Self {
        Self::with_codec(inner, Encoder::new(sealer))
    }
}

impl<R: Read> DareReader<R, Decoder> {
    /// Decrypts what `inner` yields; its first package has sequence number `first_seq`.
    pub fn decrypt(inner: R, key: &Key, first_seq: u32) -> Self {
        Self::with_codec(inner, Decoder::new(key, first_seq))
    }
}

impl<R, C> DareReader<R, C> {
    /// Wraps `inner` with any codec.
    pub fn with_codec(inner: R, codec: C) -> Self {
        Self {
            inner,
            codec,
            state: State::Open,
        }
    }

    /// Returns the inner reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read, C: Codec> Read for DareReader<R, C> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            let pending = self.codec.pending();
            if !pending.is_empty() {
                let n = pending.len().min(out.len());
                out[..n].copy_from_slice(&pending[..n]);
                self.codec.consume(n);
                return Ok(n);
            }
            match self.state {
                State::Done => return Ok(0),
                State::Failed => return Err(failed_again()),
                State::Open => {}
            }
            let got = match self.codec.read_direct(&mut self.inner, out) {
                Ok(Direct::Output(n)) => return Ok(n),
                Ok(Direct::Eof) => Ok(0),
                Ok(Direct::Unavailable) => self.inner.read(self.codec.spare()),
                Err(e) => Err(e),
            };
            let got = match got {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.state = State::Failed;
                    return Err(e);
                }
            };
            let step = if got == 0 {
                self.state = State::Done;
                self.codec.finish()
            } else {
                self.codec.commit(got)
            };
            if let Err(e) = step {
                self.state = State::Failed;
                return Err(e.into_io());
            }
        }
    }
}

/// Pushes output of a codec into an inner writer. Call [`finish`](Self::finish) at the
/// end: dropping the writer without it loses the last package (encryption) or skips the
/// truncation check (decryption).
#[derive(Debug)]
pub struct DareWriter<W, C> {
    inner: W,
    codec: C,
    state: State,
}

/// Takes plaintext and writes a DARE 2.0 stream into `W`.
pub type EncryptWriter<W> = DareWriter<W, Encoder>;
/// Takes a DARE stream and writes authenticated plaintext into `W`.
pub type DecryptWriter<W> = DareWriter<W, Decoder>;

impl<W: Write> DareWriter<W, Encoder> {
    /// Encrypts into `inner` with `sealer`.
    pub fn encrypt(inner: W, sealer: Sealer) -> Self {
        Self::with_codec(inner, Encoder::new(sealer))
    }
}

impl<W: Write> DareWriter<W, Decoder> {
    /// Decrypts into `inner`; the first package has sequence number `first_seq`.
    pub fn decrypt(inner: W, key: &Key, first_seq: u32) -> Self {
        Self::with_codec(inner, Decoder::new(key, first_seq))
    }
}

impl<W: Write, C: Codec> DareWriter<W, C> {
    /// Wraps `inner` with any codec.
    pub fn with_codec(inner: W, codec: C) -> Self {
        Self {
            inner,
            codec,
            state: State::Open,
        }
    }

    fn drain(&mut self) -> io::Result<()> {
        let pending = self.codec.pending();
        if !pending.is_empty() {
            let n = pending.len();
            if let Err(e) = self.inner.write_all(pending) {
                self.state = State::Failed;
                return Err(e);
            }
            self.codec.consume(n);
        }
        Ok(())
    }

    /// Ends the stream: writes the final package (or checks the stream ended where it
    /// may), flushes, and returns the inner writer.
    pub fn finish(mut self) -> Result<W, Error> {
        match self.state {
            State::Failed => return Err(Error::Io(failed_again())),
            State::Done => return Ok(self.inner),
            State::Open => {}
        }
        self.drain()?;
        self.codec.finish()?;
        self.drain()?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write, C: Codec> Write for DareWriter<W, C> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.state == State::Failed {
            return Err(failed_again());
        }
        if data.is_empty() {
            return Ok(0);
        }
        self.drain()?;
        let spare = self.codec.spare();
        let n = spare.len().min(data.len());
        if n == 0 {
            // Only a failed codec offers no room once its output is drained.
            self.state = State::Failed;
            return Err(failed_again());
        }
        spare[..n].copy_from_slice(&data[..n]);
        if let Err(e) = self.codec.commit(n) {
            self.state = State::Failed;
            return Err(e.into_io());
        }
        self.drain()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.drain()?;
        self.inner.flush()
    }
}
