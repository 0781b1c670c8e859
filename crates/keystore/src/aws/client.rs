//! HTTP transport to SecretsManager: one hyper client (plain HTTP for a local test
//! server, rustls with the system's CA bundle for AWS), SigV4 signing of each request,
//! request timeouts, and transport failures as [`Error::Unreachable`].

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use zeroize::Zeroizing;

use super::sigv4::{self, Credentials};
use crate::{Error, Result, MAX_VALUE_SIZE};

/// Deadline of one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Content type of the SecretsManager JSON API.
const JSON_1_1: &str = "application/x-amz-json-1.1";
/// Where Linux distributions keep the system CA bundle (`SSL_CERT_FILE` wins).
const CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// A SecretsManager answer. The body may hold a key value, so it is zeroized on drop.
pub(super) struct Reply {
    pub status: u16,
    error_header: Option<String>,
    body: Zeroizing<Vec<u8>>,
}

impl Reply {
    /// The body as JSON (`Null` when empty or not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The AWS error type (`ResourceNotFoundException`…), without namespace; empty on success.
    pub fn error_type(&self) -> String {
        if self.status == 200 {
            return String::new();
        }
        let raw = self
            .error_header
            .clone()
            .or_else(|| self.json()["__type"].as_str().map(str::to_string))
            .unwrap_or_default();
        let raw = raw.split(':').next().unwrap_or_default();
        raw.rsplit('#').next().unwrap_or_default().to_string()
    }

    /// AWS's error message (names resources and reasons, never secret values).
    pub fn message(&self) -> String {
        let v = self.json();
        v["message"]
            .as_str()
            .or_else(|| v["Message"].as_str())
            .unwrap_or_default()
            .to_string()
    }
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// The HTTP client of one SecretsManager endpoint.
pub(super) struct Transport {
    /// `scheme://host[:port]`, no trailing slash.
    endpoint: String,
    /// `host[:port]` as signed.
    host: String,
    http: Client<Https, Full<Bytes>>,
}

use crate::error_chain;

/// Roots from `SSL_CERT_FILE` or the first system CA bundle found (none found = an
/// empty store, so `https://` endpoints fail with a certificate error naming why).
fn system_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let env = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    let candidates = env
        .into_iter()
        .chain(CA_BUNDLES.iter().map(std::path::PathBuf::from));
    for path in candidates {
        if let Ok(iter) = CertificateDer::pem_file_iter(&path) {
            for c in iter.flatten() {
                let _ = roots.add(c);
            }
            if !roots.is_empty() {
                break;
            }
        }
    }
    roots
}

impl Transport {
    /// A client for `endpoint` (`https://…`, or `http://` for a local test server).
    pub fn new(endpoint: &str) -> Result<Self> {
        let endpoint = endpoint.trim().trim_end_matches('/').to_string();
        let host = endpoint
            .strip_prefix("https://")
            .or_else(|| endpoint.strip_prefix("http://"))
            .ok_or_else(|| {
                Error::Backend(format!(
                    "aws endpoint {endpoint}: must start with https:// (or http:// for a local test server)"
                ))
            })?
            .to_string();
        if host.is_empty() || host.contains(['/', '?', '#', '@']) {
            return Err(Error::Backend(format!(
                "aws endpoint {endpoint}: must be scheme://host[:port] without a path"
            )));
        }
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Backend(format!("aws tls: {e}")))?
            .with_root_certificates(system_roots())
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(5)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self {
            endpoint,
            host,
            http,
        })
    }

    /// Sends the signed `POST /` of operation `op` (`CreateSecret`…) with `body`.
    pub async fn post(
        &self,
        creds: &Credentials,
        region: &str,
        op: &str,
        body: Zeroizing<Vec<u8>>,
    ) -> Result<Reply> {
        let target = format!("secretsmanager.{op}");
        let date = sigv4::amz_date(SystemTime::now());
        let signed = sigv4::sign(
            creds,
            region,
            "secretsmanager",
            &sigv4::Post {
                host: &self.host,
                target: &target,
                content_type: JSON_1_1,
                body: &body,
            },
            &date,
        );
        let bad = |what: &str| Error::Backend(format!("aws {what} is not a valid header value"));
        let mut auth =
            HeaderValue::from_str(&signed.authorization).map_err(|_| bad("access key"))?;
        auth.set_sensitive(true);
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(format!("{}/", self.endpoint))
            .header(HOST, &self.host)
            .header(CONTENT_TYPE, JSON_1_1)
            .header("X-Amz-Target", &target)
            .header("X-Amz-Date", &signed.amz_date)
            .header(AUTHORIZATION, auth);
        if let Some(t) = &creds.session_token {
            let mut v = HeaderValue::from_str(t).map_err(|_| bad("session token"))?;
            v.set_sensitive(true);
            req = req.header("X-Amz-Security-Token", v);
        }
        let req = req
            .body(Full::new(Bytes::from(body.to_vec())))
            .map_err(|e| Error::Backend(format!("aws request {op}: {e}")))?;
        let endpoint = &self.endpoint;
        let send = async {
            let resp = self.http.request(req).await.map_err(|e| {
                Error::Unreachable(format!(
                    "aws secretsmanager at {endpoint}: {}",
                    error_chain(&e)
                ))
            })?;
            let status = resp.status().as_u16();
            let error_header = resp
                .headers()
                .get("x-amzn-errortype")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let limited = http_body_util::Limited::new(resp.into_body(), 2 * MAX_VALUE_SIZE);
            let body = limited
                .collect()
                .await
                .map_err(|e| Error::Unreachable(format!("aws secretsmanager at {endpoint}: {e}")))?
                .to_bytes();
            Ok(Reply {
                status,
                error_header,
                body: Zeroizing::new(body.to_vec()),
            })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, send)
            .await
            .map_err(|_| {
                Error::Unreachable(format!("aws secretsmanager at {endpoint}: timed out"))
            })?
    }
}
