//! The load generator's S3 client: one HTTP/1.1 keep-alive connection that signs its
//! requests (SigV4, `UNSIGNED-PAYLOAD` for bodies, every `x-amz-*` header signed), streams
//! PUT bodies from a shared buffer and counts GET bodies without keeping them.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use bytes::Bytes;
use coffer_bench::sigv4::{self, Credentials, ToSign};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, HOST};
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::sse::Sse;
use super::{ACCESS_KEY, BUCKET, SECRET_KEY};

/// A request body of `left` bytes cut from a repeated chunk, streamed frame by frame.
#[derive(Debug)]
pub struct Payload {
    chunk: Bytes,
    left: u64,
}

impl Payload {
    fn empty() -> Self {
        Self {
            chunk: Bytes::new(),
            left: 0,
        }
    }
}

impl Body for Payload {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let me = self.get_mut();
        if me.left == 0 || me.chunk.is_empty() {
            return Poll::Ready(None);
        }
        let n = me.left.min(me.chunk.len() as u64);
        me.left -= n;
        Poll::Ready(Some(Ok(Frame::data(me.chunk.slice(..n as usize)))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

/// One HTTP/1.1 keep-alive connection that signs its requests and sends the encryption
/// headers of its mode.
#[derive(Debug)]
pub struct Client {
    send: http1::SendRequest<Payload>,
    host: String,
    creds: Credentials,
    sse: Sse,
}

impl Client {
    /// Connects (bounded) with `TCP_NODELAY`.
    pub async fn connect(addr: SocketAddr, sse: Sse) -> Result<Self> {
        let tcp = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
            .await
            .context("connect timed out")??;
        tcp.set_nodelay(true)?;
        let (send, conn) = http1::handshake(TokioIo::new(tcp)).await?;
        tokio::spawn(conn);
        Ok(Self {
            send,
            host: addr.to_string(),
            creds: Credentials {
                access_key: ACCESS_KEY.into(),
                secret_key: SECRET_KEY.into(),
                region: "us-east-1".into(),
            },
            sse,
        })
    }

    async fn request(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Payload,
    ) -> Result<Response<Incoming>> {
        let hash = if body.left > 0 {
            sigv4::UNSIGNED_PAYLOAD
        } else {
            sigv4::EMPTY_SHA256
        };
        let date = sigv4::amz_date_now();
        let auth = sigv4::authorization(
            &self.creds,
            &ToSign {
                method: method.as_str(),
                host: &self.host,
                path,
                query: "",
                headers,
                payload_hash: hash,
                amz_date: &date,
            },
        );
        let mut b = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(HOST, &self.host)
            .header("x-amz-date", &date)
            .header("x-amz-content-sha256", hash)
            .header(AUTHORIZATION, auth);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        if method == Method::PUT {
            b = b.header(CONTENT_LENGTH, body.left);
        }
        let req = b.body(body)?;
        self.send.ready().await?;
        Ok(self.send.send_request(req).await?)
    }

    /// Creates the bench bucket; returns the status and body.
    pub async fn create_bucket(&mut self) -> Result<(u16, String)> {
        let resp = self
            .request(Method::PUT, &format!("/{BUCKET}"), &[], Payload::empty())
            .await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// PUTs `size` bytes cut from `chunk` (repeated) under `key`, with this client's
    /// encryption headers, and checks that the server confirms the encryption.
    pub async fn put(&mut self, key: &str, size: u64, chunk: &Bytes) -> Result<()> {
        let body = Payload {
            chunk: chunk.clone(),
            left: size,
        };
        let sse = self.sse;
        let resp = self
            .request(
                Method::PUT,
                &format!("/{BUCKET}/{key}"),
                sse.put_headers(),
                body,
            )
            .await?;
        let status = resp.status().as_u16();
        let checked = sse.check_response(resp.headers());
        let body = resp.into_body().collect().await?.to_bytes();
        ensure!(
            status == 200,
            "PUT HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
        checked.context("PUT")
    }

    /// GETs `key` and counts its body without keeping it.
    pub async fn get(&mut self, key: &str, size: u64) -> Result<u64> {
        let sse = self.sse;
        let resp = self
            .request(
                Method::GET,
                &format!("/{BUCKET}/{key}"),
                sse.get_headers(),
                Payload::empty(),
            )
            .await?;
        let status = resp.status().as_u16();
        let checked = sse.check_response(resp.headers());
        let mut body = resp.into_body();
        if status != 200 {
            let text = body.collect().await?.to_bytes();
            bail!("GET HTTP {status}: {}", String::from_utf8_lossy(&text));
        }
        checked.context("GET")?;
        let mut n = 0u64;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                n += data.len() as u64;
                ensure!(n <= size, "GET body longer than {size} bytes");
            }
        }
        Ok(n)
    }

    /// GETs `key` and returns its whole body (small objects of the set-up checks).
    pub async fn get_bytes(&mut self, key: &str) -> Result<Bytes> {
        let sse = self.sse;
        let resp = self
            .request(
                Method::GET,
                &format!("/{BUCKET}/{key}"),
                sse.get_headers(),
                Payload::empty(),
            )
            .await?;
        let status = resp.status().as_u16();
        let checked = sse.check_response(resp.headers());
        let body = resp.into_body().collect().await?.to_bytes();
        ensure!(
            status == 200,
            "GET HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
        checked.context("GET")?;
        Ok(body)
    }
}
