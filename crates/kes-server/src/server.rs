//! The HTTPS server: accepts TLS connections, identifies the client by its certificate's
//! public key, resolves the route, enforces method, authentication, body limit and
//! deadline, runs the handler, and records metrics and audit events.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;

/// A request's body: failing when the client stops sending it.
type RequestBody = net::IdleBody<Incoming>;
use hyper::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use kes_proto::ApiError;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::cache::KeyCache;
use crate::config::{ApiOverride, Config};
use crate::logs::{AuditEvent, AuditRequest, AuditResponse, LogHub};
use crate::metrics::Metrics;
use crate::routes::{self, Auth, Route};

/// A response body: a full buffer or a log stream.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Everything a request handler may use.
#[derive(Debug)]
pub struct State {
    /// Validated configuration.
    pub config: Config,
    /// Keys in front of the keystore.
    pub cache: KeyCache,
    /// Counters.
    pub metrics: Metrics,
    /// Audit and error streams.
    pub logs: LogHub,
    /// Set while the keystore health probe fails.
    pub offline: AtomicBool,
    /// Server start, reported as `created_at` of config-defined policies.
    pub started: SystemTime,
    routes: Vec<Route>,
}

impl State {
    /// Builds the state of a server.
    pub fn new(config: Config, store: Arc<dyn keystore::KeyStore>) -> Self {
        let mut table = routes::table();
        for r in &mut table {
            let key = r.path.trim_end_matches('/');
            if let Some(o) = config.api.get(r.path).or_else(|| config.api.get(key)) {
                if let Some(t) = o.timeout {
                    r.timeout = t;
                }
            }
        }
        Self {
            logs: LogHub::new(config.log.audit, config.log.error),
            cache: KeyCache::new(store),
            metrics: Metrics::default(),
            offline: AtomicBool::new(false),
            started: SystemTime::now(),
            routes: table,
            config,
        }
    }

    /// The route table in force (with configured timeouts).
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    fn api_override(&self, route: &Route) -> ApiOverride {
        let key = route.path.trim_end_matches('/');
        self.config
            .api
            .get(route.path)
            .or_else(|| self.config.api.get(key))
            .copied()
            .unwrap_or_default()
    }

    /// Whether any route is served without client authentication, so client
    /// certificates must be optional in the handshake.
    pub fn any_skip_auth(&self) -> bool {
        self.config.api.values().any(|o| o.skip_auth)
    }

    /// Records an error event (counted, streamed, printed if enabled).
    pub fn log_error(&self, msg: &str) {
        self.metrics.error_events.fetch_add(1, Ordering::Relaxed);
        self.logs.error(msg);
    }
}

/// What a handler gets about its request.
#[derive(Debug)]
pub struct Call<'a> {
    /// The server state.
    pub state: &'a State,
    /// The client's identity, if it presented a certificate.
    pub identity: Option<&'a str>,
    /// The route's resource (key name, pattern, …), percent-decoded.
    pub resource: &'a str,
    /// The request body (empty for routes without one).
    pub body: Bytes,
}

/// Time a client has for the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves on `listener` until the task is dropped, within `limits`.
pub async fn serve(
    state: Arc<State>,
    listener: TcpListener,
    tls: rustls::ServerConfig,
    limits: net::Limits,
) {
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let listener = net::Listener::new(listener, &limits);
    let builder = net::builder(&limits);
    // Never sent: connections end when idle or when this task is dropped.
    let (_running, stopping) = tokio::sync::watch::channel(false);
    loop {
        let (tcp, peer, slot) = listener.accept().await;
        let (acceptor, state, builder) = (acceptor.clone(), state.clone(), builder.clone());
        let stopping = stopping.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let handshake = acceptor.accept(tcp);
            let Some(Ok(tls)) = net::within(&limits, HANDSHAKE_TIMEOUT, handshake).await else {
                // A failed handshake (no certificate, wrong protocol) is the client's problem.
                return;
            };
            let identity: Result<Option<String>, ApiError> = {
                let (_, conn) = tls.get_ref();
                match conn.peer_certificates() {
                    None => Ok(None),
                    Some(chain) => kes_proto::identity::leaf_identity(chain)
                        .map(|id| Some(id.as_str().to_string()))
                        .map_err(|e| ApiError::new(400, e.to_string())),
                }
            };
            let identity = Arc::new(identity);
            let activity = net::Activity::new();
            let busy = activity.clone();
            let body_timeout = limits.read_body_timeout;
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let req = req.map(|b| net::IdleBody::new(b, body_timeout));
                let state = state.clone();
                let identity = identity.clone();
                let busy = busy.begin();
                async move {
                    let response = handle(&state, &identity, peer, req).await;
                    drop(busy);
                    Ok::<_, Infallible>(response)
                }
            });
            let conn = builder.serve_connection(TokioIo::new(tls), service);
            net::drive(
                Box::pin(conn),
                &activity,
                limits.read_header_timeout,
                stopping,
            )
            .await;
        });
    }
}

/// A JSON response (body followed by a newline, as Go's encoder writes).
pub fn json<T: serde::Serialize>(value: &T) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(mut body) => {
            body.push(b'\n');
            let mut r = Response::new(full(body));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        Err(_) => error_response(&ApiError::new(500, "failed to encode response")),
    }
}

/// An empty 200.
pub fn empty() -> Response<Body> {
    Response::new(full(Vec::new()))
}

/// A buffered body.
pub fn full(body: impl Into<Bytes>) -> Body {
    UnsyncBoxBody::new(Full::new(body.into()))
}

/// The KES error response of `e`.
pub fn error_response(e: &ApiError) -> Response<Body> {
    let mut r = Response::new(full(e.to_json()));
    *r.status_mut() = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn not_found() -> Response<Body> {
    let mut r = Response::new(full(&b"404 page not found\n"[..]));
    *r.status_mut() = StatusCode::NOT_FOUND;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

async fn handle(
    state: &State,
    identity: &Result<Option<String>, ApiError>,
    peer: SocketAddr,
    req: Request<RequestBody>,
) -> Response<Body> {
    let start = Instant::now();
    let Some(path) = kes_proto::percent::decode(req.uri().path()) else {
        return error_response(&ApiError::new(400, "invalid request path"));
    };
    let Some((route, canonical, resource)) = routes::resolve(state.routes(), &path) else {
        return not_found();
    };
    let route = route.clone();
    state.metrics.begin();
    let response = dispatch(state, identity, &route, &canonical, &resource, req).await;
    let code = response.status().as_u16();
    let elapsed = start.elapsed();
    state.metrics.end(code, elapsed);
    if !matches!(
        route.handler,
        routes::Handler::LogAudit | routes::Handler::LogError
    ) {
        let id = identity
            .as_ref()
            .ok()
            .and_then(|i| i.as_deref())
            .unwrap_or("");
        state.metrics.audit_events.fetch_add(1, Ordering::Relaxed);
        state.logs.audit(&AuditEvent {
            time: crate::logs::now_rfc3339(),
            request: AuditRequest {
                ip: peer.ip().to_string(),
                path: &path,
                identity: id,
            },
            response: AuditResponse {
                code,
                time: elapsed.as_millis() as u64,
            },
        });
    }
    response
}

async fn dispatch(
    state: &State,
    identity: &Result<Option<String>, ApiError>,
    route: &Route,
    canonical: &str,
    resource: &str,
    req: Request<RequestBody>,
) -> Response<Body> {
    if !route.accepts(req.method()) {
        let e = ApiError::new(
            405,
            format!(
                "received method '{}' expected '{}'",
                req.method(),
                route.method
            ),
        );
        let mut r = error_response(&e);
        if let Ok(v) = HeaderValue::from_str(route.method.as_str()) {
            r.headers_mut().insert(ACCEPT, v);
        }
        return r;
    }
    let skip = state.api_override(route).skip_auth;
    let id = match identity {
        Ok(id) => id.as_deref(),
        Err(e) if !skip && route.auth != Auth::None => return error_response(e),
        Err(_) => None,
    };
    if !skip && route.auth != Auth::None {
        let Some(id) = id else {
            return error_response(&ApiError::new(400, "tls: client certificate is required"));
        };
        if route.auth == Auth::Policy && !authorized(state, id, canonical) {
            return error_response(&ApiError::NOT_ALLOWED);
        }
    }
    let body = if route.max_body == 0 {
        Bytes::new()
    } else {
        match Limited::new(req.into_body(), route.max_body)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(_) => return error_response(&ApiError::invalid_request_body()),
        }
    };
    let call = Call {
        state,
        identity: id,
        resource,
        body,
    };
    if route.timeout.is_zero() {
        return crate::handlers::run(route.handler, call).await;
    }
    match tokio::time::timeout(route.timeout, crate::handlers::run(route.handler, call)).await {
        Ok(r) => r,
        Err(_) => error_response(&ApiError::new(503, "request timed out")),
    }
}

/// Admin, or a policy that allows `path`.
pub fn authorized(state: &State, identity: &str, path: &str) -> bool {
    if state.config.admin.as_deref() == Some(identity) {
        return true;
    }
    state
        .config
        .identities
        .get(identity)
        .and_then(|p| state.config.policies.get(p))
        .is_some_and(|p| p.allows(path))
}
