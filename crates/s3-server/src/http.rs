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
use hyper_util::rt::TokioIo;
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

/// Time a client has for the TLS handshake (at most the header timeout).
const TLS_HANDSHAKE: std::time::Duration = std::time::Duration::from_secs(10);

/// HTTP/2 receive settings for object bodies (see where the server is built).
const H2_MAX_FRAME: u32 = 1 << 20;
const H2_STREAM_WINDOW: u32 = 8 << 20;
const H2_CONNECTION_WINDOW: u32 = 32 << 20;

/// What every request handler shares.
struct Shared {
    service: s3s::service::S3Service,
    store: Arc<dyn crate::store::ObjectStore>,
    metrics: Metrics,
    log: bool,
    host: Host,
    cors: crate::cors::Default,
    kms: Option<Arc<dyn kms::Kms>>,
    insecure_sse_c: bool,
    read_body_timeout: std::time::Duration,
}

async fn handle(
    shared: &Shared,
    client: crate::s3::ClientInfo,
    mut req: Request<Incoming>,
) -> Response<Body> {
    let (service, metrics, log) = (&shared.service, &shared.metrics, shared.log);
    req.extensions_mut().insert(client);
    let path = req.uri().path().to_string();
    match path.as_str() {
        "/minio/health/live" => return text(StatusCode::OK, String::new()),
        "/minio/health/ready" | "/minio/health/cluster" => {
            let mut status = kms_health(shared.kms.as_deref()).await;
            if status == StatusCode::OK {
                if let Err(e) = shared.store.ready().await {
                    tracing::warn!(error = %e, "readiness: the storage backend does not answer");
                    status = StatusCode::SERVICE_UNAVAILABLE;
                }
            }
            return text(status, String::new());
        }
        "/minio/v2/metrics/cluster" | "/minio/v2/metrics/node" | "/metrics" => {
            return text(StatusCode::OK, metrics.render());
        }
        _ => {}
    }
    let start = Instant::now();
    let request_id = next_request_id();
    let method = req.method().to_string();
    let is_head = req.method() == hyper::Method::HEAD;
    let bytes_in = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let attributes_request = req.method() == hyper::Method::GET
        && req.uri().query().is_some_and(|q| {
            q.split('&')
                .any(|p| p == "attributes" || p == "attributes=")
        });
    let cors_rules = cors_rules(shared, &req).await;
    let cors_ask = crate::cors::Ask::of(req.method().as_str(), req.headers()).map(|a| {
        (
            a.origin.to_string(),
            a.method.to_string(),
            a.headers.clone(),
        )
    });
    let precheck = if req.method() == hyper::Method::OPTIONS {
        Some(preflight(&req, cors_rules.as_deref()))
    } else {
        crate::precheck::request(&req, client.secure || shared.insecure_sse_c).map(Err)
    };
    let refused = |e: s3s::S3Error| match e.to_http_response() {
        Ok(r) => r.map(|b| b.boxed_unsync()),
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, String::new()),
    };
    let mut response = match precheck {
        Some(Ok(r)) => r,
        Some(Err(e)) => refused(e),
        None => match crate::precheck::form(
            req.map(|b| s3s::Body::http_body(net::IdleBody::new(b, shared.read_body_timeout))),
        )
        .await
        {
            Err(e) => refused(e),
            Ok(req) => match service.call(req).await {
                Ok(r) => r.map(|b| b.boxed_unsync()),
                Err(e) => {
                    tracing::error!("request failed: {e:?}");
                    text(StatusCode::INTERNAL_SERVER_ERROR, String::new())
                }
            },
        },
    };
    if let (Some(rules), Some((origin, method, headers))) = (&cors_rules, &cors_ask) {
        let ask = crate::cors::Ask {
            origin,
            method,
            headers: headers.clone(),
        };
        if !response
            .headers()
            .contains_key("access-control-allow-origin")
        {
            if let Some(rule) = crate::cors::matching(rules, &ask) {
                crate::cors::grant(rule, &ask, response.headers_mut());
            }
        }
    }
    let response = if attributes_request {
        bare_attributes_etag(response).await
    } else {
        response
    };
    let response = with_request_id(response, &request_id).await;
    // A HEAD answer keeps its headers (Content-Length included) but never a body: over
    // HTTP/1.1 hyper drops one, over HTTP/2 a body on a HEAD answer resets the stream,
    // and clients then see a protocol error instead of the status.
    let response = if is_head {
        let (parts, _) = response.into_parts();
        let body = Full::new(bytes::Bytes::new())
            .map_err(|e: Infallible| -> Box<dyn std::error::Error + Send + Sync> { match e {} })
            .boxed_unsync();
        Response::from_parts(parts, body)
    } else {
        response
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
            "request_id": request_id,
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": elapsed.as_secs_f64() * 1e3,
        });
        println!("{line}");
    }
    response
}

/// A request id unique within this process and unlikely to repeat across restarts:
/// start time in nanoseconds plus a counter, in hex as MinIO writes them.
fn next_request_id() -> String {
    static NEXT: std::sync::OnceLock<AtomicU64> = std::sync::OnceLock::new();
    let next = NEXT.get_or_init(|| {
        AtomicU64::new(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
        )
    });
    format!("{:016X}", next.fetch_add(1, Ordering::Relaxed))
}

/// Sets `x-amz-request-id` and, on an S3 XML error, the `<RequestId>` element that
/// clients match against the header.
async fn with_request_id(response: Response<Body>, id: &str) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    if let Ok(v) = hyper::header::HeaderValue::from_str(id) {
        parts.headers.insert("x-amz-request-id", v);
    }
    // An error that carries headers of its own (x-amz-delete-marker, …) comes from s3s
    // without a Content-Type: its body is the S3 XML error all the same.
    let small_xml = parts.status.as_u16() >= 400
        && parts
            .headers
            .get(hyper::header::CONTENT_TYPE)
            .is_none_or(|v| v.as_bytes().starts_with(b"application/xml"))
        && hyper::body::Body::size_hint(&body)
            .exact()
            .is_some_and(|n| n > 0 && n < 64 * 1024);
    if !small_xml {
        return Response::from_parts(parts, body);
    }
    let Ok(bytes) = body.collect().await.map(|c| c.to_bytes()) else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, String::new());
    };
    let xml = String::from_utf8_lossy(&bytes);
    if !xml.starts_with("<?xml") {
        let body = Full::new(bytes.clone())
            .map_err(|e: Infallible| -> Box<dyn std::error::Error + Send + Sync> { match e {} })
            .boxed_unsync();
        return Response::from_parts(parts, body);
    }
    parts.headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/xml"),
    );
    let body = match xml.rfind("</Error>") {
        Some(at) if !xml.contains("<RequestId>") => {
            format!("{}<RequestId>{id}</RequestId>{}", &xml[..at], &xml[at..])
        }
        _ => xml.into_owned(),
    };
    parts.headers.insert(
        hyper::header::CONTENT_LENGTH,
        hyper::header::HeaderValue::from(body.len()),
    );
    let mut r = text(parts.status, body);
    *r.headers_mut() = parts.headers;
    r
}

/// GetObjectAttributes: AWS writes the ETag bare in this XML body (unlike the ETag
/// header and the listings); s3s quotes it, so the quotes are taken out here.
async fn bare_attributes_etag(response: Response<Body>) -> Response<Body> {
    let (parts, body) = response.into_parts();
    let small = parts.status == StatusCode::OK
        && hyper::body::Body::size_hint(&body)
            .exact()
            .is_some_and(|n| n < 1024 * 1024);
    if !small {
        return Response::from_parts(parts, body);
    }
    let Ok(bytes) = body.collect().await.map(|c| c.to_bytes()) else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, String::new());
    };
    let xml = String::from_utf8_lossy(&bytes)
        .replacen("<ETag>&quot;", "<ETag>", 1)
        .replacen("&quot;</ETag>", "</ETag>", 1)
        .replacen("<ETag>\"", "<ETag>", 1)
        .replacen("\"</ETag>", "</ETag>", 1);
    let mut headers = parts.headers;
    headers.insert(
        hyper::header::CONTENT_LENGTH,
        hyper::header::HeaderValue::from(xml.len()),
    );
    let mut r = text(parts.status, xml);
    *r.headers_mut() = headers;
    r
}

/// The CORS rules that apply to a request with an `Origin`: its bucket's configuration,
/// or the server-wide default. `None` when there is no `Origin`.
async fn cors_rules<B>(shared: &Shared, req: &Request<B>) -> Option<Vec<crate::cors::Rule>> {
    req.headers().get(hyper::header::ORIGIN)?;
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let bucket = match shared.host.parse_host_header(host) {
        Ok(vh) if vh.bucket().is_some() => vh.bucket().map(str::to_string),
        _ => req
            .uri()
            .path()
            .trim_start_matches('/')
            .split('/')
            .next()
            .filter(|b| !b.is_empty())
            .map(str::to_string),
    };
    if let Some(bucket) = bucket {
        if let Ok(Some(text)) = shared
            .store
            .get_bucket_setting(&bucket, crate::cors::SETTING)
            .await
        {
            if let Ok(rules) = serde_json::from_str(&text) {
                return Some(rules);
            }
        }
    }
    Some(vec![shared.cors.rule()])
}

/// Answers an `OPTIONS` preflight: 400 without `Origin` or
/// `Access-Control-Request-Method`, 403 when no rule allows it, else 200 with the grant.
fn preflight<B>(
    req: &Request<B>,
    rules: Option<&[crate::cors::Rule]>,
) -> Result<Response<Body>, s3s::S3Error> {
    let bad = |msg: &'static str| {
        let mut e = s3s::S3Error::with_message(s3s::S3ErrorCode::InvalidRequest, msg);
        e.set_status_code(StatusCode::BAD_REQUEST);
        e
    };
    let (Some(rules), Some(ask)) = (rules, crate::cors::Ask::of("", req.headers())) else {
        return Err(bad(
            "Insufficient information. Origin request header needed.",
        ));
    };
    if ask.method.is_empty() {
        return Err(bad("Invalid Access-Control-Request-Method."));
    }
    let Some(rule) = crate::cors::matching(rules, &ask) else {
        let mut e = s3s::S3Error::with_message(
            s3s::S3ErrorCode::AccessDenied,
            "CORSResponse: This CORS request is not allowed. This is usually because the evaluation of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not allowed by the resource's CORS spec.",
        );
        e.set_status_code(StatusCode::FORBIDDEN);
        return Err(e);
    };
    let mut r = text(StatusCode::OK, String::new());
    crate::cors::grant(rule, &ask, r.headers_mut());
    Ok(r)
}

/// Whether the server is ready: with a KMS, only when it generates a data key (as
/// MinIO's readiness check does, with the context `{"healthcheck":""}`).
async fn kms_health(kms: Option<&dyn kms::Kms>) -> StatusCode {
    let Some(kms) = kms else {
        return StatusCode::OK;
    };
    let mut ctx = kms::Context::new();
    ctx.insert("healthcheck", "");
    match kms.generate(kms.default_key(), &ctx).await {
        Ok(_) => StatusCode::OK,
        Err(e) => {
            tracing::warn!(error = %e, "readiness: the KMS does not answer");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

/// Binds and serves `service` (HTTP, or HTTPS when `config.tls` is set).
pub async fn serve(
    service: s3s::service::S3Service,
    store: Arc<dyn crate::store::ObjectStore>,
    config: ServerConfig,
) -> Result<Running, String> {
    let listener = tokio::net::TcpListener::bind(&config.address)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.address))?;
    let limits = config.limits;
    let listener = net::Listener::new(listener, &limits);
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let tls = match &config.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let https = tls.is_some();
    let shared = Arc::new(Shared {
        service,
        store,
        metrics: Metrics::default(),
        log: config.access_log,
        host: Host::new(&config.domains),
        cors: crate::cors::Default::new(&config.cors_allow_origin),
        kms: config.kms.clone(),
        insecure_sse_c: config.insecure_sse_c,
        read_body_timeout: config.limits.read_body_timeout,
    });
    let (stop, mut stopping) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let mut builder = net::builder(&limits);
        // Object bodies are large: with h2's defaults (16 KiB frames, small windows) a
        // 1 GiB upload costs 65 536 frames and as many wake-ups.
        builder
            .http2()
            .max_frame_size(H2_MAX_FRAME)
            .initial_stream_window_size(H2_STREAM_WINDOW)
            .initial_connection_window_size(H2_CONNECTION_WINDOW);
        loop {
            let (tcp, peer, slot) = tokio::select! {
                a = listener.accept() => a,
                _ = stopping.changed() => break,
            };
            let (shared, tls, builder) = (shared.clone(), tls.clone(), builder.clone());
            let stopping = stopping.clone();
            tokio::spawn(async move {
                let _slot = slot;
                let activity = net::Activity::new();
                let busy = activity.clone();
                let svc = hyper::service::service_fn(move |req| {
                    let shared = shared.clone();
                    let client = crate::s3::ClientInfo {
                        addr: peer,
                        secure: https,
                    };
                    let busy = busy.begin();
                    async move {
                        let response = handle(&shared, client, req).await;
                        // The request stays in flight until its body is sent (or
                        // dropped): a long download is not an idle connection.
                        let response = response.map(|body| {
                            body.map_frame(move |frame| {
                                let _ = &busy;
                                frame
                            })
                            .boxed_unsync()
                        });
                        Ok::<_, Infallible>(response)
                    }
                });
                let idle = limits.read_header_timeout;
                match tls {
                    Some(acceptor) => {
                        let handshake = acceptor.accept(tcp);
                        if let Some(Ok(stream)) =
                            net::within(&limits, TLS_HANDSHAKE, handshake).await
                        {
                            let conn = builder.serve_connection(TokioIo::new(stream), svc);
                            net::drive(Box::pin(conn), &activity, idle, stopping).await;
                        }
                    }
                    None => {
                        let conn = builder.serve_connection(TokioIo::new(tcp), svc);
                        net::drive(Box::pin(conn), &activity, idle, stopping).await;
                    }
                }
            });
        }
        // Stopped: no new connections; the open ones finish the request they are in
        // (idle ones close at once), then this task ends.
        drop(stopping);
        listener.drain().await;
    });
    Ok(Running {
        addr,
        https,
        task,
        stop,
    })
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
