//! Bodies between the object server's streams and the SDK's.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_s3::primitives::ByteStream as SdkStream;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use hyper::body::Frame;

use s3_server::store::{ByteStream, StoreError};

/// What a body sent to the backend did: bytes passed, and the error of the client's side
/// that ended it, if one did (kept so that the caller reports that, not the backend's
/// view of a broken upload).
#[derive(Debug, Default, Clone)]
pub struct Tap {
    count: Arc<AtomicU64>,
    error: Arc<Mutex<Option<io::Error>>>,
}

impl Tap {
    /// Bytes passed so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    /// The body's own error, if it failed, as the store reports it.
    pub fn take_error(&self) -> Option<StoreError> {
        self.error
            .lock()
            .ok()
            .and_then(|mut e| e.take())
            .map(StoreError::Body)
    }

    /// `body` as an SDK body that reports to this tap. The body is read one chunk
    /// ahead, so that its end (where the object server's checks and digests finish) is
    /// reached before its last bytes go out: an HTTP client stops reading a body once it
    /// has sent the announced length.
    pub fn wrap(&self, body: ByteStream) -> SdkStream {
        let frames = LookAhead {
            inner: body,
            pending: None,
            ended: false,
            tap: self.clone(),
        }
        .map(|item| item.map(Frame::data));
        SdkStream::from_body_1_x(http_body_util::StreamBody::new(frames))
    }
}

/// A body read one chunk ahead (see [`Tap::wrap`]).
struct LookAhead {
    inner: ByteStream,
    pending: Option<Bytes>,
    ended: bool,
    tap: Tap,
}

impl futures_util::Stream for LookAhead {
    type Item = io::Result<Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        loop {
            if self.ended {
                return Poll::Ready(self.pending.take().map(Ok));
            }
            match self.inner.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    self.tap
                        .count
                        .fetch_add(chunk.len() as u64, Ordering::AcqRel);
                    if let Some(previous) = self.pending.replace(chunk) {
                        return Poll::Ready(Some(Ok(previous)));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    let text = e.to_string();
                    if let Ok(mut slot) = self.tap.error.lock() {
                        slot.get_or_insert(e);
                    }
                    self.ended = true;
                    self.pending = None;
                    return Poll::Ready(Some(Err(io::Error::other(text))));
                }
                Poll::Ready(None) => self.ended = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Reads from `body` until `limit` bytes are gathered or it ends; `None` at its end.
pub async fn gather(body: &mut ByteStream, limit: usize) -> Result<Option<Bytes>, StoreError> {
    let mut buf = BytesMut::new();
    while buf.len() < limit {
        match body.next().await {
            Some(Ok(chunk)) if buf.is_empty() && chunk.len() >= limit => return Ok(Some(chunk)),
            Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
            Some(Err(e)) => return Err(StoreError::Body(e)),
            None if buf.is_empty() => return Ok(None),
            None => break,
        }
    }
    Ok(Some(buf.freeze()))
}

/// A backend response body as the object server's stream, chunk by chunk as the SDK
/// receives them (no copy). It ends with an error if the backend's body ends early, so a
/// client never takes a short body for a whole one.
pub fn from_backend(body: SdkStream, expected: Option<u64>) -> ByteStream {
    let stream = futures_util::stream::unfold(
        (body, 0u64, false),
        move |(mut body, seen, done)| async move {
            if done {
                return None;
            }
            match body.try_next().await {
                Ok(Some(chunk)) => {
                    let seen = seen + chunk.len() as u64;
                    Some((Ok(chunk), (body, seen, false)))
                }
                Ok(None) => match expected {
                    Some(n) if seen != n => Some((
                        Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("the backend's body ended after {seen} of {n} bytes"),
                        )),
                        (body, seen, true),
                    )),
                    _ => None,
                },
                Err(e) => Some((Err(io::Error::other(e)), (body, seen, true))),
            }
        },
    );
    sync_stream(stream)
}

/// Moves a `Send` stream behind a channel so that the result is also `Sync`, as the
/// store's streams must be.
fn sync_stream<S>(stream: S) -> ByteStream
where
    S: futures_util::Stream<Item = io::Result<Bytes>> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(16);
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}
