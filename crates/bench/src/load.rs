//! The load generator: connections built by hand (so the HTTP version and the number of
//! connections are exactly what a scenario says), closed-loop workers that each keep one
//! request in flight, and latency histograms.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo};
use kms::KesClient;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::procs::cpu_seconds;

/// Deadline of one request; a server that stalls fails the scenario instead of hanging it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A worker gives up after this many failed requests.
const MAX_ERRORS: u64 = 100;

/// HTTP version of a hand-built connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// HTTP/1.1 with keep-alive.
    H1,
    /// HTTP/2.
    H2,
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Server address.
    pub addr: SocketAddr,
    /// TLS settings, `None` for plain HTTP.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// mTLS settings of a client holding `key`, trusting only `server_cert`, offering
/// exactly one ALPN protocol.
pub fn tls_config(
    key: &kes_proto::apikey::ApiKey,
    server_cert: &[u8],
    proto: Proto,
) -> Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(server_cert.to_vec()))?;
    let (cert, pkcs8) = key
        .certificate(1)
        .map_err(|e| anyhow!("client certificate: {e}"))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![CertificateDer::from(cert)],
            PrivateKeyDer::Pkcs8(pkcs8.into()),
        )?;
    config.alpn_protocols = vec![match proto {
        Proto::H1 => b"http/1.1".to_vec(),
        Proto::H2 => b"h2".to_vec(),
    }];
    Ok(Arc::new(config))
}

/// One open connection; an HTTP/2 one may be shared between workers.
#[derive(Debug)]
pub enum Conn {
    /// HTTP/1.1: one request at a time.
    H1(http1::SendRequest<Full<Bytes>>),
    /// HTTP/2: as many streams as clones.
    H2(http2::SendRequest<Full<Bytes>>),
}

/// Opens one connection (TCP, TLS if configured, HTTP handshake).
pub async fn connect(ep: &Endpoint, proto: Proto) -> Result<Conn> {
    let tcp = tokio::time::timeout(REQUEST_TIMEOUT, TcpStream::connect(ep.addr))
        .await
        .context("connect timed out")??;
    tcp.set_nodelay(true)?;
    match &ep.tls {
        None => handshake(TokioIo::new(tcp), proto).await,
        Some(config) => {
            let name = ServerName::from(ep.addr.ip());
            let tls = tokio::time::timeout(
                REQUEST_TIMEOUT,
                TlsConnector::from(config.clone()).connect(name, tcp),
            )
            .await
            .context("TLS handshake timed out")??;
            let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            let want: &[u8] = match proto {
                Proto::H1 => b"http/1.1",
                Proto::H2 => b"h2",
            };
            if alpn.as_deref() != Some(want) {
                bail!(
                    "server did not agree on ALPN {}: got {:?}",
                    String::from_utf8_lossy(want),
                    alpn.map(|a| String::from_utf8_lossy(&a).into_owned())
                );
            }
            handshake(TokioIo::new(tls), proto).await
        }
    }
}

async fn handshake<I>(io: TokioIo<I>, proto: Proto) -> Result<Conn>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    Ok(match proto {
        Proto::H1 => {
            let (send, conn) = http1::handshake(io).await?;
            tokio::spawn(conn);
            Conn::H1(send)
        }
        Proto::H2 => {
            let (send, conn) = http2::handshake(TokioExecutor::new(), io).await?;
            tokio::spawn(conn);
            Conn::H2(send)
        }
    })
}

/// One request, built once and cloned per send.
#[derive(Debug, Clone)]
pub struct Call {
    /// Absolute URI (HTTP/2 takes scheme and authority from it).
    pub uri: Uri,
    /// Path and query (HTTP/1.1 request line).
    pub path: Uri,
    /// `Host` for HTTP/1.1.
    pub host: HeaderValue,
    /// Extra headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// JSON body.
    pub body: Bytes,
}

impl Call {
    /// A JSON `POST` of `body` to `path` on `ep`.
    pub fn post(ep: &Endpoint, path: &str, body: &serde_json::Value) -> Result<Self> {
        let scheme = if ep.tls.is_some() { "https" } else { "http" };
        Ok(Self {
            uri: format!("{scheme}://{}{path}", ep.addr).parse()?,
            path: path.parse()?,
            host: HeaderValue::from_str(&ep.addr.to_string())?,
            headers: Vec::new(),
            body: Bytes::from(serde_json::to_vec(body)?),
        })
    }

    /// The same call with one more header.
    pub fn header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ));
        self
    }

    fn request(&self, proto: Proto) -> Result<Request<Full<Bytes>>> {
        let mut b = Request::builder().method(Method::POST);
        b = match proto {
            Proto::H1 => b.uri(self.path.clone()).header(HOST, self.host.clone()),
            Proto::H2 => b.uri(self.uri.clone()),
        };
        b = b.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (k, v) in &self.headers {
            b = b.header(k, v);
        }
        Ok(b.body(Full::new(self.body.clone()))?)
    }
}

impl Conn {
    /// Another handle on the same HTTP/2 connection (a new stream per request).
    pub fn share(&self) -> Result<Conn> {
        match self {
            Conn::H2(s) => Ok(Conn::H2(s.clone())),
            Conn::H1(_) => bail!("an HTTP/1.1 connection cannot be shared"),
        }
    }

    /// Sends `call`; returns the status and the whole body.
    pub async fn send(&mut self, call: &Call) -> Result<(u16, Bytes)> {
        let resp = match self {
            Conn::H1(s) => {
                s.ready().await?;
                s.send_request(call.request(Proto::H1)?).await?
            }
            Conn::H2(s) => {
                s.ready().await?;
                s.send_request(call.request(Proto::H2)?).await?
            }
        };
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

/// What a worker does per request.
#[derive(Debug, Clone)]
pub enum Op {
    /// A hand-built request on a hand-built connection.
    Raw(Call),
    /// `KesClient::generate(name, context)`.
    KmsGenerate { name: String, context: Vec<u8> },
    /// `KesClient::decrypt(name, ciphertext, context)`.
    KmsDecrypt {
        name: String,
        ciphertext: Vec<u8>,
        context: Vec<u8>,
    },
}

/// The client a worker sends through.
#[derive(Debug)]
pub enum Worker {
    /// Its own connection (or a clone of a shared HTTP/2 one).
    Conn(Conn),
    /// The `kms` crate's client, as the object server uses it (its own pool).
    Kms(Arc<KesClient>),
}

impl Worker {
    async fn once(&mut self, op: &Op) -> Result<()> {
        match (self, op) {
            (Worker::Conn(c), Op::Raw(call)) => {
                let (status, body) = c.send(call).await?;
                if status != 200 {
                    bail!("HTTP {status}: {}", String::from_utf8_lossy(&body));
                }
            }
            (Worker::Kms(k), Op::KmsGenerate { name, context }) => {
                k.generate(name, context).await?;
            }
            (
                Worker::Kms(k),
                Op::KmsDecrypt {
                    name,
                    ciphertext,
                    context,
                },
            ) => {
                k.decrypt(name, ciphertext, context).await?;
            }
            _ => bail!("operation does not fit the worker"),
        }
        Ok(())
    }
}

/// How long and how much to run.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Unmeasured lead-in (connection pools fill, caches warm).
    pub warmup: Duration,
    /// Measured window.
    pub measure: Duration,
    /// Cap on measured requests per worker.
    pub max_requests: u64,
}

/// Results of one run (or several, merged).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Latencies of the measured requests, in microseconds.
    pub hist: Histogram<u64>,
    /// Length of the measured windows, in seconds.
    pub secs: f64,
    /// Failed requests.
    pub errors: u64,
    /// The first failure seen.
    pub first_error: Option<String>,
    /// CPU seconds the server used over the measured windows (`None`: not measured).
    pub server_cpu: Option<f64>,
    /// CPU seconds the load generator used over the measured windows.
    pub client_cpu: Option<f64>,
}

impl Outcome {
    /// An empty outcome.
    pub fn new() -> Result<Self> {
        Ok(Self {
            hist: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            secs: 0.0,
            errors: 0,
            first_error: None,
            server_cpu: None,
            client_cpu: None,
        })
    }

    /// Adds another run.
    pub fn merge(&mut self, o: &Outcome) -> Result<()> {
        self.hist.add(&o.hist)?;
        self.secs += o.secs;
        self.errors += o.errors;
        if self.first_error.is_none() {
            self.first_error.clone_from(&o.first_error);
        }
        self.server_cpu = add(self.server_cpu, o.server_cpu);
        self.client_cpu = add(self.client_cpu, o.client_cpu);
        Ok(())
    }

    /// Successful requests per second.
    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.hist.len() as f64 / self.secs
        } else {
            0.0
        }
    }

    /// Server CPU microseconds per measured request.
    pub fn server_us(&self) -> Option<f64> {
        self.per_request(self.server_cpu)
    }

    /// Load-generator CPU microseconds per measured request.
    pub fn client_us(&self) -> Option<f64> {
        self.per_request(self.client_cpu)
    }

    /// `None` below 200 ms of CPU: /proc counts in 10 ms ticks, too coarse for less.
    fn per_request(&self, cpu: Option<f64>) -> Option<f64> {
        let n = self.hist.len();
        cpu.filter(|c| n > 0 && *c >= 0.2)
            .map(|c| c * 1e6 / n as f64)
    }

    /// Latency at quantile `q`, in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Runs every worker in a closed loop (one request in flight each) for the budget.
/// Requests that start in the measured window and finish before it closes are counted.
/// CPU time of the server `pid` and of this process is sampled when the window opens
/// and once every worker has stopped (so it also covers the last in-flight requests).
/// `probe` runs after the window, while the workers' connections are still open.
pub async fn run<P: FnOnce() -> R, R>(
    workers: Vec<Worker>,
    op: Arc<Op>,
    budget: Budget,
    pid: u32,
    probe: P,
) -> Result<(Outcome, R)> {
    let start = Instant::now() + budget.warmup;
    let end = start + budget.measure;
    let pid = pid.to_string();
    let cpu = move || (cpu_seconds(&pid), cpu_seconds("self"));
    let sample = {
        let cpu = cpu.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(start.into()).await;
            cpu()
        })
    };
    let mut tasks = Vec::new();
    for mut w in workers {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Outcome::new()?;
            let mut measured = 0u64;
            loop {
                let t0 = Instant::now();
                if t0 >= end || measured >= budget.max_requests {
                    break;
                }
                let r = tokio::time::timeout(REQUEST_TIMEOUT, w.once(&op)).await;
                let t1 = Instant::now();
                match r {
                    Ok(Ok(())) => {
                        if t0 >= start && t1 <= end {
                            let us = u64::try_from(t1.duration_since(t0).as_micros())
                                .unwrap_or(u64::MAX);
                            out.hist.saturating_record(us.max(1));
                            measured += 1;
                        }
                    }
                    Ok(Err(e)) => fail(&mut out, e.to_string()),
                    Err(_) => fail(&mut out, "request timed out".into()),
                }
                if out.errors >= MAX_ERRORS {
                    break;
                }
            }
            Ok::<_, anyhow::Error>((out, w))
        }));
    }
    let mut total = Outcome::new()?;
    let mut keep = Vec::new();
    for t in tasks {
        let (out, w) = t.await??;
        total.merge(&out)?;
        keep.push(w);
    }
    let (server0, client0) = sample.await?;
    let (server1, client1) = cpu();
    total.server_cpu = server1.zip(server0).map(|(b, a)| b - a);
    total.client_cpu = client1.zip(client0).map(|(b, a)| b - a);
    total.secs = budget.measure.as_secs_f64();
    let probed = probe();
    drop(keep);
    Ok((total, probed))
}

fn add(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

fn fail(out: &mut Outcome, e: String) {
    out.errors += 1;
    if out.first_error.is_none() {
        out.first_error = Some(e);
    }
}
