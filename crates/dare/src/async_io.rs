//! tokio `AsyncRead`/`AsyncWrite` adapters, the async twins of [`crate::io`]: the same
//! codecs, the same one-package memory bound.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::codec::{Codec, Decoder, Encoder};
use crate::io::{failed_again, State};
use crate::{Key, Sealer};

/// Pulls input from an inner async reader through a codec.
#[derive(Debug)]
pub struct AsyncDareReader<R, C> {
    inner: R,
    codec: C,
    state: State,
}

/// Reads plaintext from `R` and yields a DARE 2.0 stream.
pub type AsyncEncryptReader<R> = AsyncDareReader<R, Encoder>;
/// Reads a DARE stream from `R` and yields authenticated plaintext.
pub type AsyncDecryptReader<R> = AsyncDareReader<R, Decoder>;

impl<R> AsyncDareReader<R, Encoder> {
    /// Encrypts what `inner` yields with `sealer`.
    pub fn encrypt(inner: R, sealer: Sealer) -> Self {
        Self::with_codec(inner, Encoder::new(sealer))
    }
}

impl<R> AsyncDareReader<R, Decoder> {
    /// Decrypts what `inner` yields; its first package has sequence number `first_seq`.
    pub fn decrypt(inner: R, key: &Key, first_seq: u32) -> Self {
        Self::with_codec(inner, Decoder::new(key, first_seq))
    }
}

impl<R, C> AsyncDareReader<R, C> {
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

impl<R: AsyncRead + Unpin, C: Codec + Unpin> AsyncRead for AsyncDareReader<R, C> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if out.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            let pending = this.codec.pending();
            if !pending.is_empty() {
                let n = pending.len().min(out.remaining());
                out.put_slice(&pending[..n]);
                this.codec.consume(n);
                return Poll::Ready(Ok(()));
            }
            match this.state {
                State::Done => return Poll::Ready(Ok(())),
                State::Failed => return Poll::Ready(Err(failed_again())),
                State::Open => {}
            }
            let mut spare = ReadBuf::new(this.codec.spare());
            if let Err(e) = ready!(Pin::new(&mut this.inner).poll_read(cx, &mut spare)) {
                this.state = State::Failed;
                return Poll::Ready(Err(e));
            }
            let got = spare.filled().len();
            let step = if got == 0 {
                this.state = State::Done;
                this.codec.finish()
            } else {
                this.codec.commit(got)
            };
            if let Err(e) = step {
                this.state = State::Failed;
                return Poll::Ready(Err(e.into_io()));
            }
        }
    }
}

/// Pushes output of a codec into an inner async writer. `poll_shutdown` ends the stream
/// (writes the final package, or checks for truncation) and shuts the inner writer down.
#[derive(Debug)]
pub struct AsyncDareWriter<W, C> {
    inner: W,
    codec: C,
    state: State,
}

/// Takes plaintext and writes a DARE 2.0 stream into `W`.
pub type AsyncEncryptWriter<W> = AsyncDareWriter<W, Encoder>;
/// Takes a DARE stream and writes authenticated plaintext into `W`.
pub type AsyncDecryptWriter<W> = AsyncDareWriter<W, Decoder>;

impl<W> AsyncDareWriter<W, Encoder> {
    /// Encrypts into `inner` with `sealer`.
    pub fn encrypt(inner: W, sealer: Sealer) -> Self {
        Self::with_codec(inner, Encoder::new(sealer))
    }
}

impl<W> AsyncDareWriter<W, Decoder> {
    /// Decrypts into `inner`; the first package has sequence number `first_seq`.
    pub fn decrypt(inner: W, key: &Key, first_seq: u32) -> Self {
        Self::with_codec(inner, Decoder::new(key, first_seq))
    }
}

impl<W, C> AsyncDareWriter<W, C> {
    /// Wraps `inner` with any codec.
    pub fn with_codec(inner: W, codec: C) -> Self {
        Self {
            inner,
            codec,
            state: State::Open,
        }
    }

    /// Returns the inner writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: AsyncWrite + Unpin, C: Codec + Unpin> AsyncDareWriter<W, C> {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.codec.pending().is_empty() {
            match ready!(Pin::new(&mut self.inner).poll_write(cx, self.codec.pending())) {
                Ok(0) => {
                    self.state = State::Failed;
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                Ok(n) => self.codec.consume(n),
                Err(e) => {
                    self.state = State::Failed;
                    return Poll::Ready(Err(e));
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin, C: Codec + Unpin> AsyncWrite for AsyncDareWriter<W, C> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.state != State::Open {
            return Poll::Ready(Err(failed_again()));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(this.poll_drain(cx))?;
        let spare = this.codec.spare();
        let n = spare.len().min(data.len());
        if n == 0 {
            this.state = State::Failed;
            return Poll::Ready(Err(failed_again()));
        }
        spare[..n].copy_from_slice(&data[..n]);
        if let Err(e) = this.codec.commit(n) {
            this.state = State::Failed;
            return Poll::Ready(Err(e.into_io()));
        }
        // Sealed output is written on the next call or on flush/shutdown.
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.state == State::Failed {
            return Poll::Ready(Err(failed_again()));
        }
        ready!(this.poll_drain(cx))?;
        if this.state == State::Open {
            if let Err(e) = this.codec.finish() {
                this.state = State::Failed;
                return Poll::Ready(Err(e.into_io()));
            }
            this.state = State::Done;
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}
