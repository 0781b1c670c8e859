//! The KES HTTP client: typed calls over a pooled HTTPS connection per endpoint, with
//! kms-go's retry and failover rules (spec `kes-api.md` §7.4).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request};
use kes_proto::body::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, GenerateRequest,
    GenerateResponse, HmacRequest, HmacResponse, ListResponse,
};
use kes_proto::ApiError;
use zeroize::Zeroizing;

use crate::http::{error_chain, escape, jitter, HttpClient};
use crate::tls::{client_config, ClientIdentity, ServerTrust};
use crate::{Error, Result};

/// A response as received.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// Response headers.
    pub headers: hyper::HeaderMap,
    /// Body.
    pub body: Bytes,
}

/// A data key as a KES server returns it: the plaintext to use and the ciphertext to store.
pub struct KesDataKey {
    /// The 32-byte key; zeroized on drop.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The key sealed by the key server, to store beside the data.
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for KesDataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KesDataKey")
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

/// How long a failing endpoint is skipped.
const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(30);
/// Deadline of one request to one endpoint.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Retries on the same endpoint after a network error or a 503 (kms-go: 2).
const RETRIES: usize = 2;
/// Fixed part of the pause before a retry; a random 0–800 ms is added.
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Upper bound of the random part of the pause, in milliseconds.
const RETRY_JITTER_MS: u64 = 800;

/// A client for one or more KES endpoints.
pub struct KesClient {
    endpoints: Vec<String>,
    http: HttpClient,
    bad_until: Mutex<Vec<Option<Instant>>>,
    next: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for KesClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KesClient")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

/// Normalizes an endpoint: `host:port` gets `https://`; a trailing `/` is dropped.
pub fn normalize_endpoint(e: &str) -> Result<String> {
    let e = e.trim().trim_end_matches('/');
    if e.is_empty() {
        return Err(Error::Config("empty key server endpoint".into()));
    }
    if e.starts_with("http://") {
        return Err(Error::Config(format!(
            "key server endpoint {e}: plain HTTP is not supported, use https://"
        )));
    }
    Ok(if e.starts_with("https://") {
        e.to_string()
    } else {
        format!("https://{e}")
    })
}

impl KesClient {
    /// A client for `endpoints` (`https://host:port` or `host:port`).
    pub fn new(
        endpoints: &[String],
        identity: ClientIdentity,
        trust: &ServerTrust,
    ) -> Result<Self> {
        if endpoints.is_empty() {
            return Err(Error::Config("no key server endpoint".into()));
        }
        let endpoints = endpoints
            .iter()
            .map(|e| normalize_endpoint(e))
            .collect::<Result<Vec<_>>>()?;
        let tls = client_config(Some(identity), trust)?;
        let http = crate::http::client(tls, true);
        Ok(Self {
            bad_until: Mutex::new(vec![None; endpoints.len()]),
            endpoints,
            http,
            next: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// The endpoints, normalized.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Sends one request to one endpoint.
    pub async fn send_to(
        &self,
        endpoint: &str,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<RawResponse> {
        let uri = format!("{endpoint}{path}");
        let mut req = Request::builder().method(method).uri(&uri);
        if body.is_some() {
            req = req.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| Error::Config(format!("request {uri}: {e}")))?;
        let send = async {
            let resp = self
                .http
                .request(req)
                .await
                .map_err(|e| Error::Unreachable(format!("{endpoint}: {}", error_chain(&e))))?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let content_type = headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| Error::Unreachable(format!("{endpoint}: {e}")))?
                .to_bytes();
            Ok(RawResponse {
                status,
                content_type,
                headers,
                body,
            })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, send)
            .await
            .map_err(|_| Error::Unreachable(format!("{endpoint}: timed out")))?
    }

    /// Sends a request, failing over between endpoints (each first retried on network
    /// errors and 503, see `send_with_retries`). Returns the first response that is not a
    /// transport error or a retryable 5xx.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<RawResponse> {
        let n = self.endpoints.len();
        let start = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % n;
        let now = Instant::now();
        let bad: Vec<bool> = {
            let b = self.bad_until.lock().unwrap_or_else(|p| p.into_inner());
            b.iter().map(|u| u.is_some_and(|t| t > now)).collect()
        };
        let all_bad = bad.iter().all(|b| *b);
        let mut last = Error::Unreachable("no endpoint tried".into());
        for i in 0..n {
            let idx = (start + i) % n;
            if bad[idx] && !all_bad {
                continue;
            }
            let endpoint = &self.endpoints[idx];
            let result = self.send_with_retries(endpoint, &method, path, &body).await;
            let failed = match &result {
                Err(Error::Unreachable(_)) => true,
                Ok(r) => r.status >= 500 && r.status != 501,
                Err(_) => false,
            };
            let mut b = self.bad_until.lock().unwrap_or_else(|p| p.into_inner());
            if failed {
                b[idx] = Some(Instant::now() + ENDPOINT_TIMEOUT);
                match result {
                    Ok(r) => {
                        last = Error::Api(ApiError::from_response(
                            r.status,
                            r.content_type.as_deref(),
                            &r.body,
                        ))
                    }
                    Err(e) => last = e,
                }
                continue;
            }
            b[idx] = None;
            return result;
        }
        Err(last)
    }

    /// [`send_to`](Self::send_to), retried on the same endpoint after a network error or
    /// a 503 as kms-go does: up to [`RETRIES`] times, pausing 200 ms + random(0–800 ms).
    async fn send_with_retries(
        &self,
        endpoint: &str,
        method: &Method,
        path: &str,
        body: &Option<Vec<u8>>,
    ) -> Result<RawResponse> {
        let mut attempt = 0;
        loop {
            let result = self
                .send_to(endpoint, method.clone(), path, body.clone())
                .await;
            let retry = match &result {
                Err(Error::Unreachable(_)) => true,
                Ok(r) => r.status == 503,
                Err(_) => false,
            };
            if !retry || attempt == RETRIES {
                return result;
            }
            attempt += 1;
            tokio::time::sleep(RETRY_PAUSE + jitter(RETRY_JITTER_MS)).await;
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<Bytes> {
        let r = self.send(method, path, body).await?;
        if r.status == 200 {
            Ok(r.body)
        } else {
            Err(Error::Api(ApiError::from_response(
                r.status,
                r.content_type.as_deref(),
                &r.body,
            )))
        }
    }

    async fn call_json<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T> {
        let bytes = self.call(method, path, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Protocol(e.to_string()))
    }

    /// Creates a key.
    pub async fn create_key(&self, name: &str) -> Result<()> {
        self.call(
            Method::POST,
            &format!("/v1/key/create/{}", escape(name)),
            None,
        )
        .await
        .map(|_| ())
    }

    /// Imports 32 key bytes under `name`.
    pub async fn import_key(&self, name: &str, key: &[u8], cipher: &str) -> Result<()> {
        #[derive(serde::Serialize)]
        struct Import<'a> {
            key: String,
            cipher: &'a str,
        }
        use base64_engine::encode;
        let body = serde_json::to_vec(&Import {
            key: encode(key),
            cipher,
        })
        .map_err(|e| Error::Protocol(e.to_string()))?;
        self.call(
            Method::POST,
            &format!("/v1/key/import/{}", escape(name)),
            Some(body),
        )
        .await
        .map(|_| ())
    }

    /// Describes a key (raw JSON object).
    pub async fn describe_key(&self, name: &str) -> Result<serde_json::Value> {
        self.call_json(
            Method::GET,
            &format!("/v1/key/describe/{}", escape(name)),
            None,
        )
        .await
    }

    /// Deletes a key.
    pub async fn delete_key(&self, name: &str) -> Result<()> {
        self.call(
            Method::DELETE,
            &format!("/v1/key/delete/{}", escape(name)),
            None,
        )
        .await
        .map(|_| ())
    }

    /// Lists key names matching `pattern` (`prefix*`).
    pub async fn list_keys(&self, pattern: &str) -> Result<Vec<String>> {
        let r: ListResponse = self
            .call_json(
                Method::GET,
                &format!("/v1/key/list/{}", escape(pattern)),
                None,
            )
            .await?;
        Ok(r.names)
    }

    /// Generates a data key sealed under `name`, bound to `context`.
    pub async fn generate(&self, name: &str, context: &[u8]) -> Result<KesDataKey> {
        let body = serde_json::to_vec(&GenerateRequest {
            context: context.to_vec(),
        })
        .map_err(|e| Error::Protocol(e.to_string()))?;
        let r: GenerateResponse = self
            .call_json(
                Method::POST,
                &format!("/v1/key/generate/{}", escape(name)),
                Some(body),
            )
            .await?;
        Ok(KesDataKey {
            plaintext: r.plaintext,
            ciphertext: r.ciphertext,
        })
    }

    /// Encrypts a small plaintext under `name`.
    pub async fn encrypt(&self, name: &str, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>> {
        let body = serde_json::to_vec(&EncryptRequest {
            plaintext: Zeroizing::new(plaintext.to_vec()),
            context: context.to_vec(),
        })
        .map_err(|e| Error::Protocol(e.to_string()))?;
        let r: EncryptResponse = self
            .call_json(
                Method::POST,
                &format!("/v1/key/encrypt/{}", escape(name)),
                Some(body),
            )
            .await?;
        Ok(r.ciphertext)
    }

    /// Decrypts a ciphertext sealed under `name`.
    pub async fn decrypt(
        &self,
        name: &str,
        ciphertext: &[u8],
        context: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let body = serde_json::to_vec(&DecryptRequest {
            ciphertext: ciphertext.to_vec(),
            context: context.to_vec(),
        })
        .map_err(|e| Error::Protocol(e.to_string()))?;
        let r: DecryptResponse = self
            .call_json(
                Method::POST,
                &format!("/v1/key/decrypt/{}", escape(name)),
                Some(body),
            )
            .await?;
        Ok(r.plaintext)
    }

    /// HMAC-SHA256 of `message` under `name`'s HMAC key.
    pub async fn hmac(&self, name: &str, message: &[u8]) -> Result<Vec<u8>> {
        let body = serde_json::to_vec(&HmacRequest {
            message: message.to_vec(),
        })
        .map_err(|e| Error::Protocol(e.to_string()))?;
        let r: HmacResponse = self
            .call_json(
                Method::PUT,
                &format!("/v1/key/hmac/{}", escape(name)),
                Some(body),
            )
            .await?;
        Ok(r.hmac)
    }

    /// `GET path` returning raw JSON (status, version, api, …).
    pub async fn get_json(&self, path: &str) -> Result<serde_json::Value> {
        self.call_json(Method::GET, path, None).await
    }

    /// Opens a streaming `GET` (log streams) on the first reachable endpoint and calls
    /// `line` for each line until the stream ends or `line` returns false.
    pub async fn stream_lines(
        &self,
        path: &str,
        mut line: impl FnMut(&[u8]) -> bool,
    ) -> Result<()> {
        let mut last = Error::Unreachable("no endpoint".into());
        for endpoint in &self.endpoints {
            let req = Request::builder()
                .method(Method::GET)
                .uri(format!("{endpoint}{path}"))
                .body(Full::new(Bytes::new()))
                .map_err(|e| Error::Config(e.to_string()))?;
            let resp = match self.http.request(req).await {
                Ok(r) => r,
                Err(e) => {
                    last = Error::Unreachable(format!("{endpoint}: {}", error_chain(&e)));
                    continue;
                }
            };
            let status = resp.status().as_u16();
            if status != 200 {
                let ct = resp
                    .headers()
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                return Err(Error::Api(ApiError::from_response(
                    status,
                    ct.as_deref(),
                    &body,
                )));
            }
            let mut body = resp.into_body();
            let mut pending = Vec::new();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| Error::Unreachable(e.to_string()))?;
                if let Some(data) = frame.data_ref() {
                    pending.extend_from_slice(data);
                    while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
                        let l: Vec<u8> = pending.drain(..=pos).collect();
                        if !line(&l[..l.len() - 1]) {
                            return Ok(());
                        }
                    }
                }
            }
            return Ok(());
        }
        Err(last)
    }
}

mod base64_engine {
    use base64::Engine;

    pub fn encode(b: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(b)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn network_errors_are_retried_twice_on_the_same_endpoint() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let key = kes_proto::ApiKey::generate().unwrap();
        let client = KesClient::new(
            &[format!("127.0.0.1:{port}")],
            ClientIdentity::from_api_key(&key).unwrap(),
            &ServerTrust::Insecure,
        )
        .unwrap();
        let start = Instant::now();
        let err = client.list_keys("*").await.unwrap_err();
        let took = start.elapsed();
        assert!(matches!(err, Error::Unreachable(_)), "{err}");
        // Two pauses of 200 ms + random(0–800 ms).
        assert!(took >= 2 * RETRY_PAUSE, "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
}
