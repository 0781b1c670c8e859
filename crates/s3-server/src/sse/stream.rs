//! DARE streams over body streams: plaintext → DARE 2.0 on the way in, stored ciphertext
//! → authenticated plaintext on the way out, with the plaintext ↔ stored range mapping
//! of spec/sse.md §1.6 (across multipart parts, each its own stream under its own key).
//!
//! A decrypting stream never yields a byte that has not been authenticated: a package
//! that fails to open, or stored bytes that end early, end the stream with an error (the
//! HTTP layer then aborts the response).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::keys::Secret;
use crate::store::{ByteStream, Span};

/// Encrypts a plaintext stream into one DARE 2.0 stream.
pub fn encrypt(plaintext: ByteStream, sealer: dare::Sealer) -> ByteStream {
    Box::pin(Encrypting {
        inner: plaintext,
        encoder: dare::Encoder::new(sealer),
        input: Bytes::new(),
        eof: false,
    })
}

struct Encrypting {
    inner: ByteStream,
    encoder: dare::Encoder,
    /// Plaintext received but not yet taken by the encoder.
    input: Bytes,
    eof: bool,
}

impl Stream for Encrypting {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            let pending = this.encoder.pending();
            if !pending.is_empty() {
                let out = Bytes::copy_from_slice(pending);
                let n = out.len();
                this.encoder.consume(n);
                return Poll::Ready(Some(Ok(out)));
            }
            if this.eof {
                if this.encoder.is_done() {
                    return Poll::Ready(None);
                }
                if let Err(e) = this.encoder.finish() {
                    return Poll::Ready(Some(Err(e.into_io())));
                }
                if this.encoder.pending().is_empty() {
                    return Poll::Ready(None);
                }
                continue;
            }
            if !this.input.is_empty() {
                match this.encoder.push(&this.input) {
                    Ok(n) => {
                        let _ = this.input.split_to(n);
                    }
                    Err(e) => return Poll::Ready(Some(Err(e.into_io()))),
                }
                continue;
            }
            match this.inner.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(chunk))) => this.input = chunk,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => this.eof = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// One DARE stream (a part, or the whole object) or the piece of it a read needs.
pub struct Segment {
    /// The stream's key.
    pub key: Secret,
    /// Sequence number of the first package read.
    pub sequence: u32,
    /// Stored bytes to read from this stream.
    pub stored: u64,
    /// Whether the read reaches the stream's end (then its final package is checked).
    pub to_end: bool,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("sequence", &self.sequence)
            .field("stored", &self.stored)
            .field("to_end", &self.to_end)
            .finish_non_exhaustive()
    }
}

/// How to read a plaintext range of an encrypted object.
#[derive(Debug)]
pub struct ReadPlan {
    /// Stored bytes to fetch.
    pub stored: Span,
    /// The streams the stored bytes cross, in order.
    pub segments: Vec<Segment>,
    /// Plaintext bytes to drop at the start.
    pub skip: u64,
    /// Plaintext bytes to yield.
    pub length: u64,
}

/// The stored (encrypted) span that holds the plaintext `span` of an object whose
/// streams have the given plaintext sizes: [`ReadPlan::new`]'s `stored`, known before
/// the object's key is.
pub fn stored_span(part_sizes: &[u64], span: &Span) -> Result<Span, dare::Error> {
    if span.end <= span.start {
        return Ok(0..0);
    }
    let plan = dare::decrypted_range(part_sizes, span.start, span.end - span.start)?;
    Ok(plan.encrypted_offset..plan.encrypted_offset + plan.encrypted_length)
}

impl ReadPlan {
    /// The plan for `span` (plaintext) of an object whose streams have the given
    /// plaintext sizes and keys.
    pub fn new(part_sizes: &[u64], keys: Vec<Secret>, span: &Span) -> Result<Self, dare::Error> {
        let length = span.end - span.start;
        if length == 0 {
            return Ok(Self {
                stored: 0..0,
                segments: Vec::new(),
                skip: 0,
                length: 0,
            });
        }
        let plan = dare::decrypted_range(part_sizes, span.start, length)?;
        let mut segments = Vec::new();
        let mut left = plan.encrypted_length;
        let mut keys = keys.into_iter().skip(plan.first_part);
        for i in plan.first_part..=plan.last_part {
            let key = keys.next().ok_or(dare::Error::InvalidPayloadSize)?;
            let sequence = if i == plan.first_part {
                plan.sequence
            } else {
                0
            };
            let size = dare::encrypted_size(part_sizes.get(i).copied().unwrap_or(0))?;
            let from = u64::from(sequence) * dare::MAX_PACKAGE_SIZE as u64;
            let stored = (size - from.min(size)).min(left);
            left -= stored;
            segments.push(Segment {
                key,
                sequence,
                stored,
                to_end: from + stored == size,
            });
        }
        Ok(Self {
            stored: plan.encrypted_offset..plan.encrypted_offset + plan.encrypted_length,
            segments,
            skip: plan.skip,
            length,
        })
    }
}

/// Why a decrypting stream failed; logged with the object's name by the caller.
#[derive(Debug, thiserror::Error)]
#[error("object {bucket}/{key} is damaged or was tampered with: {cause}")]
pub struct Tampered {
    /// Bucket.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// What DARE reported.
    pub cause: dare::Error,
}

/// Decrypts the stored bytes of `plan.stored` into the plaintext the plan describes.
pub fn decrypt(stored: ByteStream, plan: ReadPlan, bucket: &str, key: &str) -> ByteStream {
    Box::pin(Decrypting {
        inner: stored,
        segments: plan.segments.into(),
        current: None,
        input: Bytes::new(),
        ready: VecDeque::new(),
        skip: plan.skip,
        remaining: plan.length,
        name: (bucket.to_string(), key.to_string()),
        failed: false,
    })
}

struct Decrypting {
    inner: ByteStream,
    segments: VecDeque<Segment>,
    /// The decoder of the stream being read and its stored bytes still to feed.
    current: Option<(dare::Decoder, u64, bool)>,
    input: Bytes,
    /// Plaintext opened in place in the input buffer, to hand out.
    ready: VecDeque<Bytes>,
    skip: u64,
    remaining: u64,
    name: (String, String),
    failed: bool,
}

impl Decrypting {
    /// Opens the whole packages at the start of the input in place, in the buffer the
    /// file was read into (no copy in, none out: the plaintext goes out as slices of that
    /// buffer). Only when the decoder is between packages, no range start is being
    /// skipped and nobody else holds the buffer; `Ok(false)` when nothing was opened.
    fn open_in_place(&mut self) -> Result<bool, dare::Error> {
        let Some((decoder, left, _)) = &mut self.current else {
            return Ok(false);
        };
        if self.skip != 0 || !decoder.pending().is_empty() {
            return Ok(false);
        }
        let n = (self.input.len() as u64).min(*left) as usize;
        if n < dare::MAX_PACKAGE_SIZE.min(*left as usize) {
            return Ok(false);
        }
        // The file reader may still share the buffer (tokio's `ReaderStream` does): then
        // one copy of it, still one fewer than `push` and the copy out make.
        let mut buf = match std::mem::take(&mut self.input).try_into_mut() {
            Ok(b) => b,
            Err(shared) => bytes::BytesMut::from(&shared[..]),
        };
        let mut pos = 0;
        let mut plain = Vec::new();
        let opened = loop {
            match decoder.open_in_place(&mut buf[pos..n]) {
                Ok(Some((len, payload))) => {
                    let start = pos + dare::HEADER_SIZE;
                    plain.push(start..start + payload);
                    pos += len;
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        let frozen = buf.freeze();
        self.input = frozen.slice(pos..);
        *left -= pos as u64;
        opened?;
        for r in plain {
            let take = (r.len() as u64).min(self.remaining) as usize;
            self.remaining -= take as u64;
            if take > 0 {
                self.ready.push_back(frozen.slice(r.start..r.start + take));
            }
        }
        Ok(pos > 0)
    }

    fn fail(&mut self, cause: dare::Error) -> Poll<Option<std::io::Result<Bytes>>> {
        self.failed = true;
        let e = Tampered {
            bucket: self.name.0.clone(),
            key: self.name.1.clone(),
            cause,
        };
        tracing::error!("{e}");
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            e,
        ))))
    }
}

impl Stream for Decrypting {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        loop {
            if let Some(out) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(out)));
            }
            if this.remaining == 0 {
                return Poll::Ready(None);
            }
            // Hand out authenticated plaintext first.
            if let Some((decoder, _, _)) = &mut this.current {
                let pending = decoder.pending();
                if !pending.is_empty() {
                    let drop = (this.skip as usize).min(pending.len());
                    let take = (pending.len() - drop).min(this.remaining as usize);
                    let out = Bytes::copy_from_slice(&pending[drop..drop + take]);
                    decoder.consume(drop + take);
                    this.skip -= drop as u64;
                    this.remaining -= take as u64;
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(out)));
                    }
                    continue;
                }
            }
            // Move to the next stream when this one has had all its bytes.
            if this.current.as_ref().is_none_or(|(_, left, _)| *left == 0) {
                if let Some((mut decoder, _, to_end)) = this.current.take() {
                    if to_end {
                        if let Err(e) = decoder.finish() {
                            return this.fail(e);
                        }
                    }
                }
                match this.segments.pop_front() {
                    Some(s) => {
                        let decoder = dare::Decoder::new(&dare::Key::new(*s.key), s.sequence);
                        this.current = Some((decoder, s.stored, s.to_end));
                        continue;
                    }
                    // Stored bytes ran out before the plaintext the record promises.
                    None => return this.fail(dare::Error::UnexpectedEof),
                }
            }
            if !this.input.is_empty() {
                match this.open_in_place() {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) => return this.fail(e),
                }
                if let Some((decoder, left, _)) = &mut this.current {
                    let n = (this.input.len() as u64).min(*left) as usize;
                    match decoder.push(&this.input[..n]) {
                        Ok(taken) => {
                            let _ = this.input.split_to(taken);
                            *left -= taken as u64;
                        }
                        Err(e) => return this.fail(e),
                    }
                }
                continue;
            }
            match this.inner.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(chunk))) => this.input = chunk,
                Poll::Ready(Some(Err(e))) => {
                    this.failed = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => return this.fail(dare::Error::UnexpectedEof),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    fn chunks(data: &[u8], size: usize) -> ByteStream {
        let items: Vec<std::io::Result<Bytes>> = data
            .chunks(size.max(1))
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        Box::pin(futures_util::stream::iter(items))
    }

    async fn drain(mut s: ByteStream) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(c) = s.next().await {
            out.extend_from_slice(&c?);
        }
        Ok(out)
    }

    fn key(b: u8) -> Secret {
        Zeroizing::new([b; 32])
    }

    async fn seal(data: &[u8], k: u8) -> Vec<u8> {
        let sealer = dare::Sealer::new(&dare::Key::new([k; 32]), 0).unwrap();
        drain(encrypt(chunks(data, 7000), sealer)).await.unwrap()
    }

    #[tokio::test]
    async fn round_trip_and_ranges_over_parts() {
        let sizes = [0usize, 1, 65535, 65536, 65537, 200_000];
        for &a in &sizes {
            for &b in &[1usize, 70_000] {
                let pa: Vec<u8> = (0..a).map(|i| i as u8).collect();
                let pb: Vec<u8> = (0..b).map(|i| (i * 7) as u8).collect();
                let mut stored = seal(&pa, 1).await;
                assert_eq!(stored.len() as u64, dare::encrypted_size(a as u64).unwrap());
                stored.extend(seal(&pb, 2).await);
                let plain = [pa.clone(), pb.clone()].concat();
                let total = plain.len() as u64;
                let spans = [0..total, 0..1, total - 1..total, total / 3..total / 2 + 1];
                for span in spans {
                    if span.is_empty() {
                        continue;
                    }
                    let plan =
                        ReadPlan::new(&[a as u64, b as u64], vec![key(1), key(2)], &span).unwrap();
                    let slice =
                        stored[plan.stored.start as usize..plan.stored.end as usize].to_vec();
                    let got = drain(decrypt(chunks(&slice, 5000), plan, "b", "k"))
                        .await
                        .unwrap();
                    assert_eq!(
                        got,
                        &plain[span.start as usize..span.end as usize],
                        "{a}+{b} {span:?}"
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn tampering_and_truncation_fail() {
        let plain = vec![9u8; 150_000];
        let stored = seal(&plain, 3).await;
        let plan = || ReadPlan::new(&[150_000], vec![key(3)], &(0..150_000)).unwrap();
        let mut bad = stored.clone();
        bad[100_000] ^= 1;
        assert!(drain(decrypt(chunks(&bad, 4096), plan(), "b", "k"))
            .await
            .is_err());
        let short = &stored[..stored.len() - 10];
        assert!(drain(decrypt(chunks(short, 4096), plan(), "b", "k"))
            .await
            .is_err());
        let wrong = ReadPlan::new(&[150_000], vec![key(4)], &(0..150_000)).unwrap();
        assert!(drain(decrypt(chunks(&stored, 4096), wrong, "b", "k"))
            .await
            .is_err());
    }
}
