//! A real hyper server on 127.0.0.1 behind `net`: the connection limit holds, idle and
//! header-dripping clients are closed, and a stop lets the request in flight finish.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Serves "ok" (after `delay`) until `stop` turns true; returns the address and the
/// number of connections open at most.
async fn server(
    limits: net::Limits,
    delay: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
) -> (
    std::net::SocketAddr,
    Arc<std::sync::atomic::AtomicUsize>,
    tokio::task::JoinHandle<()>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = net::Listener::new(TcpListener::bind("127.0.0.1:0").await.unwrap(), &limits);
    let addr = listener.local_addr().unwrap();
    let (open, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let peak2 = peak.clone();
    let task = tokio::spawn(async move {
        let builder = net::builder(&limits);
        let mut stopping = stop.clone();
        loop {
            let (tcp, _, slot) = tokio::select! {
                a = listener.accept() => a,
                _ = stopping.changed() => break,
            };
            let n = open.fetch_add(1, Ordering::SeqCst) + 1;
            peak2.fetch_max(n, Ordering::SeqCst);
            let (builder, stop, open) = (builder.clone(), stop.clone(), open.clone());
            tokio::spawn(async move {
                let activity = net::Activity::new();
                let busy = activity.clone();
                let svc = hyper::service::service_fn(move |_req| {
                    let busy = busy.begin();
                    async move {
                        tokio::time::sleep(delay).await;
                        drop(busy);
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("ok"))))
                    }
                });
                let conn = builder.serve_connection(TokioIo::new(tcp), svc);
                net::drive(Box::pin(conn), &activity, limits.read_header_timeout, stop).await;
                open.fetch_sub(1, Ordering::SeqCst);
                drop(slot);
            });
        }
        listener.drain().await;
    });
    (addr, peak, task)
}

/// Reads until the server closes; the bytes read.
async fn read_to_close(s: &mut TcpStream, bound: Duration) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    tokio::time::timeout(bound, s.read_to_end(&mut out))
        .await
        .ok()?
        .ok()?;
    Some(out)
}

/// Reads to the close: a 200 with the body "ok".
async fn assert_answered(s: &mut TcpStream) {
    let out = read_to_close(s, Duration::from_secs(10)).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("ok"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_and_idle_timeout() {
    let limits = net::Limits {
        max_connections: 4,
        read_header_timeout: Duration::from_millis(500),
        ..net::Limits::default()
    };
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let (addr, peak, _task) = server(limits, Duration::ZERO, rx).await;
    let mut idle = Vec::new();
    for _ in 0..12 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // Every idle connection is closed by the server, a few at a time.
    let t0 = Instant::now();
    for s in &mut idle {
        assert_eq!(
            read_to_close(s, Duration::from_secs(10)).await,
            Some(vec![])
        );
    }
    assert!(
        t0.elapsed() >= Duration::from_millis(1000),
        "closed before the timeout"
    );
    assert!(
        peak.load(std::sync::atomic::Ordering::SeqCst) <= 4,
        "more than 4 at once"
    );

    // A request is answered; the connection then closes after being idle.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_answered(&mut s).await;

    // Header lines dripped slowly: cut after the timeout all the same.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let t0 = Instant::now();
    let cut = loop {
        if s.write_all(b"X-a: b\r\n").await.is_err() || t0.elapsed() > Duration::from_secs(10) {
            break t0.elapsed();
        }
        let mut b = [0u8; 64];
        match tokio::time::timeout(Duration::from_millis(100), s.read(&mut b)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break t0.elapsed(),
            _ => {}
        }
    };
    assert!(
        cut >= Duration::from_millis(400) && cut < Duration::from_secs(5),
        "{cut:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_finishes_the_request_in_flight() {
    let limits = net::Limits::default();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let (addr, _, task) = server(limits, Duration::from_millis(1500), rx).await;
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut idle = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    tx.send(true).unwrap();
    // The idle connection closes at once; the busy one gets its answer, then closes.
    assert_eq!(
        read_to_close(&mut idle, Duration::from_secs(2)).await,
        Some(vec![])
    );
    // New connections are refused while the request in flight is still running. The
    // accept loop sees the stop on its own task, perhaps a moment after the idle
    // connection's task did: allow it a bounded moment to close the listener.
    let t0 = Instant::now();
    while TcpStream::connect(addr).await.is_ok() {
        assert!(
            t0.elapsed() < Duration::from_millis(500),
            "connections still accepted 500 ms after the stop"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_answered(&mut busy).await;
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

/// A request body fed by hand.
struct Fed(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for Fed {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|b| b.map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

#[tokio::test]
async fn a_body_that_stops_arriving_fails_after_the_timeout() {
    use http_body_util::BodyExt;
    let timeout = Duration::from_millis(300);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut body = net::IdleBody::new(Fed(rx), timeout);
    // The clock does not run before the server starts reading.
    tokio::time::sleep(timeout * 2).await;
    tx.send(Bytes::from_static(b"a")).await.unwrap();
    let first = body.frame().await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "a");
    // Bytes arriving within the timeout of each other keep it going.
    for _ in 0..3 {
        let tx = tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            tx.send(Bytes::from_static(b"b")).await.unwrap();
        });
        let next = body.frame().await.unwrap().unwrap();
        assert_eq!(next.into_data().unwrap(), "b");
    }
    // Then nothing: the body fails, once the timeout has passed.
    let t0 = Instant::now();
    let err = body.frame().await.unwrap().unwrap_err();
    let waited = t0.elapsed();
    assert!(err.downcast_ref::<net::BodyTimeout>().is_some(), "{err}");
    assert!(
        waited >= timeout && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    drop(tx);
}
