//! The HTTP(S) front of the object server: health endpoints, metrics and the access log
//! around the s3s service.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use s3s::host::{S3Host, VirtualHost};
use s3s::S3Result;

use crate::{Running, ServerConfig};

/// Path-style requests everywhere; virtual-host style for `<bucket>.<domain>`.
#[derive(Debug, Clone)]
pub struct Host {
    domains: Vec<String>,
}

impl Host {
    /// Virtual hosts under these base domains.
    pub fn new(domains: &[String]) -> Self {
        Self {
            domains: domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
        }
    }
}

impl S3Host for Host {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let name = host
            .rsplit_once(':')
            .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(h, _)| h);
        for d in &self.domains {
            if let Some(bucket) = name
                .strip_suffix(d.as_str())
                .and_then(|b| b.strip_suffix('.'))
            {
                if !bucket.is_empty() {
                    return Ok(
                        VirtualHost::new(d.as_str()).with_bucket(bucket.to_ascii_lowercase())
                    );
                }
            }
        }
        Ok(VirtualHost::new(host))
    }
}

/// The users who may sign requests. An unknown access key is `InvalidAccessKeyId`, as
/// AWS answers.
pub struct Users {
    keys: std::collections::HashMap<String, s3s::auth::SecretKey>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users")
            .field("count", &self.keys.len())
            .finish()
    }
}

impl Users {
    /// From access key / secret key pairs.
    pub fn new(users: &[(String, String)]) -> Self {
        Self {
            keys: users
                .iter()
                .map(|(a, s)| (a.clone(), s.as_str().into()))
                .collect(),
        }
    }
}

#[async_trait::async_trait]
impl s3s::auth::S3Auth for Users {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<s3s::auth::SecretKey> {
        self.keys.get(access_key).cloned().ok_or_else(|| {
            s3s::s3_error!(
                InvalidAccessKeyId,
                "The Access Key Id you provided does not exist in our records."
            )
        })
    }
}

/// Request counters for `/minio/v2/metrics/cluster` (Prometheus text).
#[derive(Debug, Default)]
struct Metrics {
    requests: AtomicU64,
    errors_4xx: AtomicU64,
    errors_5xx: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    latency_us: AtomicU64,
    /// Cumulative request-duration histogram (Prometheus `le` buckets).
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
}

/// Upper bounds (seconds) of the request-duration histogram.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

impl Metrics {
    fn observe(&self, seconds: f64) {
        for (bucket, bound) in self.latency_buckets.iter().zip(LATENCY_BUCKETS) {
            if seconds <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn render(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut histogram = String::from("# TYPE coffer_s3_request_duration_seconds histogram\n");
        for (bucket, bound) in self.latency_buckets.iter().zip(LATENCY_BUCKETS) {
            histogram.push_str(&format!(
                "coffer_s3_request_duration_seconds_bucket{{le=\"{bound}\"}} {}\n",
                g(bucket)
            ));
        }
        histogram.push_str(&format!(
            "coffer_s3_request_duration_seconds_bucket{{le=\"+Inf\"}} {0}\ncoffer_s3_request_duration_seconds_count {0}\ncoffer_s3_request_duration_seconds_sum {1}\n",
            g(&self.requests),
            g(&self.latency_us) as f64 / 1e6
        ));
        histogram + &format!(
            "# TYPE coffer_s3_requests_total counter\ncoffer_s3_requests_total {}\n\
             # TYPE coffer_s3_requests_errors_total counter\ncoffer_s3_requests_errors_total{{class=\"4xx\"}} {}\ncoffer_s3_requests_errors_total{{class=\"5xx\"}} {}\n\
             # TYPE coffer_s3_rx_bytes_total counter\ncoffer_s3_rx_bytes_total {}\n\
             # TYPE coffer_s3_tx_bytes_total counter\ncoffer_s3_tx_bytes_total {}\n\
             # TYPE coffer_s3_request_seconds_total counter\ncoffer_s3_request_seconds_total {}\n",
            g(&self.requests),
            g(&self.errors_4xx),
            g(&self.errors_5xx),
            g(&self.bytes_in),
            g(&self.bytes_out),
            g(&self.latency_us) as f64 / 1e6
        )
    }
}

type Body =
    http_body_util::combinators::UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|e: Infallible| -> Box<dyn std::error::Error + Send + Sync> { match e {} })
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r
}

async fn handle(
    service: &s3s::service::S3Service,
    metrics: &Metrics,
    log: bool,
    client: crate::s3::ClientInfo,
    mut req: Request<Incoming>,
) -> Response<Body> {
    req.extensions_mut().insert(client);
    let path = req.uri().path().to_string();
    match path.as_str() {
        "/minio/health/live" | "/minio/health/ready" | "/minio/health/cluster" => {
            return text(StatusCode::OK, String::new())
        }
        "/minio/v2/metrics/cluster" | "/minio/v2/metrics/node" | "/metrics" => {
            return text(StatusCode::OK, metrics.render());
        }
        _ => {}
    }
    let start = Instant::now();
    let method = req.method().to_string();
    let bytes_in = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let response = match hyper::service::Service::call(service, req).await {
        Ok(r) => r.map(|b| b.boxed_unsync()),
        Err(e) => {
            eprintln!("coffer server: request failed: {e:?}");
            text(StatusCode::INTERNAL_SERVER_ERROR, String::new())
        }
    };
    let status = response.status().as_u16();
    let elapsed = start.elapsed();
    metrics.requests.fetch_add(1, Ordering::Relaxed);
    metrics.bytes_in.fetch_add(bytes_in, Ordering::Relaxed);
    metrics
        .latency_us
        .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    metrics.observe(elapsed.as_secs_f64());
    if let Some(n) = response
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        metrics.bytes_out.fetch_add(n, Ordering::Relaxed);
    }
    match status {
        400..=499 => metrics.errors_4xx.fetch_add(1, Ordering::Relaxed),
        500..=599 => metrics.errors_5xx.fetch_add(1, Ordering::Relaxed),
        _ => 0,
    };
    if log {
        let line = serde_json::json!({
            "time": time::OffsetDateTime::now_utc().unix_timestamp(),
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": elapsed.as_secs_f64() * 1e3,
        });
        println!("{line}");
    }
    response
}

/// Binds and serves `service` (HTTP, or HTTPS when `config.tls` is set).
pub async fn serve(
    service: s3s::service::S3Service,
    config: ServerConfig,
) -> Result<Running, String> {
    let listener = tokio::net::TcpListener::bind(&config.address)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.address))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let tls = match &config.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let https = tls.is_some();
    let metrics = Arc::new(Metrics::default());
    let log = config.access_log;
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let (service, metrics, tls) = (service.clone(), metrics.clone(), tls.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let (service, metrics) = (service.clone(), metrics.clone());
                    let client = crate::s3::ClientInfo {
                        addr: peer,
                        secure: https,
                    };
                    async move {
                        Ok::<_, Infallible>(handle(&service, &metrics, log, client, req).await)
                    }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                match tls {
                    Some(acceptor) => {
                        if let Ok(Ok(stream)) = tokio::time::timeout(
                            std::time::Duration::from_secs(10),
                            acceptor.accept(tcp),
                        )
                        .await
                        {
                            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(tcp), svc).await;
                    }
                }
            });
        }
    });
    Ok(Running { addr, https, task })
}

fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect();
    let certs = certs.map_err(|e| format!("{}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
