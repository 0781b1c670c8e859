//! Connection handling shared by the object server and the key server.
//!
//! Both serve HTTP/1 and HTTP/2 through hyper-util's automatic builder, and both must hold
//! up against clients that open many connections and send nothing, or send a request's
//! headers a byte at a time. This crate gives them:
//!
//! - [`Listener`]: accepts at most [`Limits::max_connections`] connections at once; at the
//!   limit it stops accepting, so further clients wait in the kernel's backlog instead of
//!   costing descriptors and tasks;
//! - [`builder`]: hyper's header read timeout, with the timer it needs to take effect;
//! - [`drive`]: runs one connection and closes it gracefully when the server stops or when
//!   no request has been in flight for the idle timeout. That also covers what hyper's
//!   header timeout does not: a connection that never sends its first bytes (hyper-util
//!   waits for them to tell HTTP/1 from HTTP/2, with no timeout) and idle HTTP/2
//!   connections.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulConnection;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// Bounds on what clients may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// Time a client has to send a request's headers, and the longest a connection may
    /// stay open with no request in flight.
    pub read_header_timeout: Duration,
    /// The longest a request body the server is reading may go without a byte arriving
    /// (see [`IdleBody`]).
    pub read_body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            read_header_timeout: Duration::from_secs(30),
            read_body_timeout: Duration::from_secs(30),
        }
    }
}

/// A request body that fails when the client sends nothing for a while, so that a client
/// dripping a body (or stopping halfway) cannot hold a connection and the work behind it
/// for ever. The clock runs only while the server waits for bytes: time the server
/// spends elsewhere before reading (a KMS call, `100 Continue`) does not count.
pub struct IdleBody<B> {
    inner: Pin<Box<B>>,
    timeout: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    waiting: bool,
}

impl<B> std::fmt::Debug for IdleBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdleBody")
            .field("timeout", &self.timeout)
            .field("waiting", &self.waiting)
            .finish_non_exhaustive()
    }
}

impl<B> IdleBody<B> {
    /// `inner`, failing after `timeout` without a frame.
    pub fn new(inner: B, timeout: Duration) -> Self {
        Self {
            inner: Box::pin(inner),
            timeout,
            timer: Box::pin(tokio::time::sleep(timeout)),
            waiting: false,
        }
    }
}

/// The error an [`IdleBody`] ends with; the server answers it with S3's `RequestTimeout`.
#[derive(Debug)]
pub struct BodyTimeout(pub Duration);

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the client sent no bytes of the request body for {:?}",
            self.0
        )
    }
}

impl std::error::Error for BodyTimeout {}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<B> hyper::body::Body for IdleBody<B>
where
    B: hyper::body::Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(frame) => {
                this.waiting = false;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                if !this.waiting {
                    this.waiting = true;
                    let deadline = tokio::time::Instant::now() + this.timeout;
                    this.timer.as_mut().reset(deadline);
                }
                match this.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout(this.timeout))))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// A listening socket that serves a bounded number of connections.
#[derive(Debug)]
pub struct Listener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    max: u32,
}

/// A connection's place under the limit; freed when dropped.
#[derive(Debug)]
pub struct Slot(#[allow(dead_code)] OwnedSemaphorePermit);

impl Listener {
    /// Wraps a bound listener.
    pub fn new(inner: TcpListener, limits: &Limits) -> Self {
        let max = u32::try_from(limits.max_connections.clamp(1, Semaphore::MAX_PERMITS))
            .unwrap_or(u32::MAX);
        Self {
            inner,
            slots: Arc::new(Semaphore::new(max as usize)),
            max,
        }
    }

    /// The address listened on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The next connection, once one of the limited slots is free. Errors of `accept`
    /// (out of descriptors, a connection reset in the backlog) are logged and retried
    /// after a pause, so they cannot spin the loop.
    pub async fn accept(&self) -> (TcpStream, SocketAddr, Slot) {
        let Ok(permit) = self.slots.clone().acquire_owned().await else {
            // The semaphore is never closed.
            std::future::pending::<()>().await;
            unreachable!()
        };
        loop {
            match self.inner.accept().await {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    return (tcp, peer, Slot(permit));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Stops listening (new connections are refused at once), then waits until every
    /// connection accepted so far has ended.
    pub async fn drain(self) {
        let Self { inner, slots, max } = self;
        drop(inner);
        let _ = slots.acquire_many(max).await;
    }
}

/// A hyper-util builder for HTTP/1 and HTTP/2 with the header read timeout in effect.
pub fn builder(limits: &Limits) -> Builder<TokioExecutor> {
    let mut b = Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.read_header_timeout);
    b
}

/// Requests in flight on one connection, and when the count last changed.
#[derive(Debug)]
pub struct Activity {
    epoch: Instant,
    in_flight: AtomicUsize,
    last_ms: AtomicU64,
}

/// A request in flight; ends when dropped.
#[derive(Debug)]
pub struct Busy(Arc<Activity>);

impl Activity {
    /// A connection with nothing in flight, idle from now.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
        })
    }

    /// Marks a request in flight until the guard is dropped.
    pub fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.touch();
        Busy(self.clone())
    }

    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Release);
    }

    /// How long the connection has had nothing in flight (zero while a request is).
    fn idle_for(&self) -> Duration {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Duration::ZERO;
        }
        let last = Duration::from_millis(self.last_ms.load(Ordering::Acquire));
        self.epoch.elapsed().saturating_sub(last)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A server connection that can be shut down gracefully: any of hyper-util's, behind a
/// trait object. (Passing them generically into a spawned task trips a limit of the
/// compiler's `Send` check on their higher-ranked error bounds.)
pub trait Connection: Send {
    /// Drives the connection; ready when it has ended.
    fn poll_end(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()>;
    /// Starts a graceful shutdown.
    fn shut_down(self: Pin<&mut Self>);
}

impl<C: GracefulConnection + Send> Connection for C {
    fn poll_end(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.poll(cx).map(|_| ())
    }

    fn shut_down(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Runs `conn` to its end. It is shut down gracefully (the request in progress, if any,
/// finishes; no new one starts) when `stopping` turns true or its sender is gone, or once
/// `activity` shows no request in flight for `idle`.
pub async fn drive(
    mut conn: Pin<Box<dyn Connection + '_>>,
    activity: &Activity,
    idle: Duration,
    mut stopping: watch::Receiver<bool>,
) {
    let mut closing = *stopping.borrow();
    if closing {
        conn.as_mut().shut_down();
    }
    loop {
        let wait = idle
            .saturating_sub(activity.idle_for())
            .max(Duration::from_millis(10));
        tokio::select! {
            _ = std::future::poll_fn(|cx| conn.as_mut().poll_end(cx)) => return,
            _ = tokio::time::sleep(wait), if !closing => {
                if activity.idle_for() >= idle {
                    conn.as_mut().shut_down();
                    closing = true;
                }
            }
            _ = stopping.changed(), if !closing => {
                conn.as_mut().shut_down();
                closing = true;
            }
        }
    }
}

/// Waits for `f` with the header timeout as bound (TLS handshakes), at most `cap`.
pub async fn within<F: Future>(limits: &Limits, cap: Duration, f: F) -> Option<F::Output> {
    tokio::time::timeout(limits.read_header_timeout.min(cap), f)
        .await
        .ok()
}
