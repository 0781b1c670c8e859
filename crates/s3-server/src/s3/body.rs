//! Checks on what the client sent, run on the plaintext as it streams towards the store:
//! length against `Content-Length`, MD5 against `Content-MD5` (and as the ETag), and an
//! additional checksum (`x-amz-checksum-*`). The store below only sees stored bytes
//! (ciphertext for encrypted objects), so these checks can only happen here.
//!
//! A failed check ends the stream with an error carrying a [`Rejected`], so the store
//! discards what it received and nothing is committed; [`super::errors`] maps it.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use md5::{Digest as _, Md5};
use s3s::{s3_error, S3Result};

use crate::store::{ByteStream, StoreError, StoreResult};

/// Why a body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// The MD5 or additional checksum differs from the one the client sent.
    #[error("the body does not match the digest sent with it")]
    BadDigest,
    /// The body is shorter or longer than `Content-Length`.
    #[error("body length does not match Content-Length")]
    IncompleteBody,
}

impl Rejected {
    fn io(self) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, self)
    }
}

/// What a body must satisfy.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// `Content-MD5`.
    pub content_md5: Option<[u8; 16]>,
    /// `Content-Length` (or the plaintext size of a copy source).
    pub content_length: Option<u64>,
    /// An additional checksum to compute (`CRC32`, `CRC32C`, `CRC64NVME`, `SHA1`,
    /// `SHA256`), with the value the client sent, if it sent one.
    pub checksum: Option<(String, Option<String>)>,
    /// Compute the MD5 even without `Content-MD5` (it is the ETag of plaintext and
    /// SSE-S3 objects; SSE-C and SSE-KMS ETags do not need it).
    pub md5: bool,
}

/// The digest of a body that passed every check.
#[derive(Debug, Clone, Default)]
pub struct Digest {
    /// Bytes received.
    pub size: u64,
    /// MD5, when computed.
    pub md5: Option<[u8; 16]>,
    /// (algorithm, base64 value).
    pub checksum: Option<(String, String)>,
}

/// Where the digest appears once the stream has ended successfully.
#[derive(Debug, Clone, Default)]
pub struct Hashed(Arc<Mutex<Option<Digest>>>);

impl Hashed {
    /// The digest; an internal error if the stream did not end cleanly (the store never
    /// asks before it has read the whole stream).
    pub fn get(&self) -> StoreResult<Digest> {
        self.0
            .lock()
            .ok()
            .and_then(|d| d.clone())
            .ok_or_else(|| StoreError::Internal("body digest missing".into()))
    }
}

/// Wraps `body` so that it is hashed and checked against `expect` as it streams.
pub fn hash(body: ByteStream, expect: Expect) -> S3Result<(ByteStream, Hashed)> {
    let extra = match &expect.checksum {
        Some((algorithm, _)) => Some(checksum_hasher(algorithm)?),
        None => None,
    };
    let hashed = Hashed::default();
    let md5 = (expect.md5 || expect.content_md5.is_some()).then(Md5::new);
    let stream = Hashing {
        inner: body,
        md5,
        extra: extra.map(Mutex::new),
        size: 0,
        expect,
        slot: hashed.clone(),
        done: false,
    };
    Ok((Box::pin(stream), hashed))
}

struct Hashing {
    inner: ByteStream,
    md5: Option<Md5>,
    /// In a mutex only because s3s's hasher is not `Sync` and body streams must be.
    extra: Option<Mutex<s3s::checksum::ChecksumHasher>>,
    size: u64,
    expect: Expect,
    slot: Hashed,
    done: bool,
}

impl Hashing {
    fn update(&mut self, chunk: &Bytes) -> Result<(), Rejected> {
        self.size += chunk.len() as u64;
        if self.expect.content_length.is_some_and(|n| self.size > n) {
            return Err(Rejected::IncompleteBody);
        }
        if let Some(m) = &mut self.md5 {
            m.update(chunk);
        }
        if let Some(h) = &self.extra {
            if let Ok(mut h) = h.lock() {
                h.update(chunk);
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Rejected> {
        if self.expect.content_length.is_some_and(|n| self.size != n) {
            return Err(Rejected::IncompleteBody);
        }
        let md5: Option<[u8; 16]> = self.md5.take().map(|m| m.finalize().into());
        if let (Some(want), Some(got)) = (self.expect.content_md5, md5) {
            if !bool::from(subtle_eq(&want, &got)) {
                return Err(Rejected::BadDigest);
            }
        }
        let checksum = match (self.extra.take(), &self.expect.checksum) {
            (Some(h), Some((algorithm, expected))) => {
                let h = h.into_inner().map_err(|_| Rejected::BadDigest)?;
                let value = checksum_value(h.finalize()).unwrap_or_default();
                if expected.as_ref().is_some_and(|e| *e != value) {
                    return Err(Rejected::BadDigest);
                }
                Some((algorithm.clone(), value))
            }
            _ => None,
        };
        if let Ok(mut slot) = self.slot.0.lock() {
            *slot = Some(Digest {
                size: self.size,
                md5,
                checksum,
            });
        }
        Ok(())
    }
}

fn subtle_eq(a: &[u8; 16], b: &[u8; 16]) -> subtle::Choice {
    use subtle::ConstantTimeEq;
    a.ct_eq(b)
}

impl Stream for Hashing {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(chunk))) => match self.update(&chunk) {
                Ok(()) => Poll::Ready(Some(Ok(chunk))),
                Err(r) => {
                    self.done = true;
                    Poll::Ready(Some(Err(r.io())))
                }
            },
            Poll::Ready(None) => {
                self.done = true;
                match self.finish() {
                    Ok(()) => Poll::Ready(None),
                    Err(r) => Poll::Ready(Some(Err(r.io()))),
                }
            }
            other => other,
        }
    }
}

/// A hasher for one additional checksum algorithm (S3's names).
fn checksum_hasher(algorithm: &str) -> S3Result<s3s::checksum::ChecksumHasher> {
    use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Sha1, Sha256};
    let mut h = s3s::checksum::ChecksumHasher::default();
    match algorithm {
        "CRC32" => h.crc32 = Some(Crc32::new()),
        "CRC32C" => h.crc32c = Some(Crc32c::new()),
        "CRC64NVME" => h.crc64nvme = Some(Crc64Nvme::new()),
        "SHA1" => h.sha1 = Some(Sha1::new()),
        "SHA256" => h.sha256 = Some(Sha256::new()),
        other => {
            return Err(s3_error!(
                InvalidRequest,
                "unsupported checksum algorithm {other}"
            ))
        }
    }
    Ok(h)
}

/// The one value a single-algorithm hasher produced.
fn checksum_value(c: s3s::dto::Checksum) -> Option<String> {
    c.checksum_crc32
        .or(c.checksum_crc32c)
        .or(c.checksum_crc64nvme)
        .or(c.checksum_sha1)
        .or(c.checksum_sha256)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn stream(chunks: &[&'static [u8]]) -> ByteStream {
        let items: Vec<std::io::Result<Bytes>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        Box::pin(futures_util::stream::iter(items))
    }

    async fn drain(mut s: ByteStream) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(c) = s.next().await {
            out.extend_from_slice(&c?);
        }
        Ok(out)
    }

    fn rejected(e: &std::io::Error) -> Option<Rejected> {
        e.get_ref()
            .and_then(|i| i.downcast_ref::<Rejected>())
            .copied()
    }

    #[tokio::test]
    async fn digest_of_a_good_body() {
        let md5: [u8; 16] = Md5::digest(b"hello world").into();
        let (s, h) = hash(
            stream(&[b"hello ", b"world"]),
            Expect {
                content_md5: Some(md5),
                content_length: Some(11),
                checksum: Some(("CRC32".into(), None)),
                md5: true,
            },
        )
        .unwrap();
        assert_eq!(drain(s).await.unwrap(), b"hello world");
        let d = h.get().unwrap();
        assert_eq!((d.size, d.md5), (11, Some(md5)));
        assert_eq!(d.checksum.unwrap().0, "CRC32");
    }

    #[tokio::test]
    async fn wrong_md5_length_and_checksum_are_refused() {
        let cases = [
            (
                Expect {
                    content_md5: Some([0; 16]),
                    ..Default::default()
                },
                Rejected::BadDigest,
            ),
            (
                Expect {
                    content_length: Some(3),
                    ..Default::default()
                },
                Rejected::IncompleteBody,
            ),
            (
                Expect {
                    content_length: Some(30),
                    ..Default::default()
                },
                Rejected::IncompleteBody,
            ),
            (
                Expect {
                    checksum: Some(("CRC32".into(), Some("AAAAAA==".into()))),
                    ..Default::default()
                },
                Rejected::BadDigest,
            ),
        ];
        for (expect, want) in cases {
            let (s, h) = hash(stream(&[b"hello ", b"world"]), expect).unwrap();
            let e = drain(s).await.unwrap_err();
            assert_eq!(rejected(&e), Some(want));
            assert!(h.get().is_err());
        }
    }

    #[tokio::test]
    async fn no_md5_unless_asked() {
        let (s, h) = hash(stream(&[b"abc"]), Expect::default()).unwrap();
        drain(s).await.unwrap();
        assert_eq!(h.get().unwrap().md5, None);
    }
}
