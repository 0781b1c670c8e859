//! HTTP transport to Vault: one hyper client (plain HTTP or rustls with the configured
//! CA), request timeouts, and the mapping of transport failures to
//! [`Error::Unreachable`]. Nothing here knows about KV paths or tokens' meaning.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::Zeroizing;

use super::VaultTls;
use crate::{Error, Result, MAX_VALUE_SIZE};

/// Deadline of one request to Vault.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// A Vault answer: status and body. The body may hold a key value or a token, so it is
/// zeroized on drop.
pub(super) struct Response {
    pub status: u16,
    pub body: Zeroizing<Vec<u8>>,
}

impl Response {
    /// The body as JSON (`Null` when empty or not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// Vault's `errors` array joined, for messages. Vault error texts name paths and
    /// reasons, never tokens or stored values.
    pub fn errors(&self) -> String {
        let v = self.json();
        let joined = v["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        if joined.is_empty() {
            format!("HTTP {}", self.status)
        } else {
            joined
        }
    }
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// The HTTP client of one Vault endpoint.
pub(super) struct Transport {
    /// `scheme://host:port`, no trailing slash.
    pub endpoint: String,
    http: Client<Https, Full<Bytes>>,
}

use crate::error_chain;

/// The PEM certificates in `path`: a file, or every regular file of a directory (not
/// hidden ones, not subdirectories; symlinks followed, as in an OpenSSL `certs/` dir).
/// Files of a directory holding no certificate (a key, a README) are skipped; a
/// malformed PEM file is an error, and so is finding no certificate at all.
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let files = if path.is_dir() {
        let mut v: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| Error::Backend(format!("vault tls ca {}: {e}", path.display())))?
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        v.sort();
        v
    } else {
        vec![path.to_path_buf()]
    };
    let mut certs = Vec::new();
    for f in files {
        let iter = CertificateDer::pem_file_iter(&f)
            .map_err(|e| Error::Backend(format!("vault tls ca {}: {e}", f.display())))?;
        for c in iter {
            certs
                .push(c.map_err(|e| Error::Backend(format!("vault tls ca {}: {e}", f.display())))?);
        }
    }
    if certs.is_empty() {
        return Err(Error::Backend(format!(
            "vault tls ca {}: no PEM certificate found",
            path.display()
        )));
    }
    Ok(certs)
}

fn tls_config(tls: &VaultTls) -> Result<rustls::ClientConfig> {
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = &tls.ca {
        for c in read_certs(ca)? {
            roots
                .add(c)
                .map_err(|e| Error::Backend(format!("vault tls ca {}: {e}", ca.display())))?;
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Backend(format!("vault tls: {e}")))?
        .with_root_certificates(roots);
    match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| Error::Backend(format!("vault tls key {}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| Error::Backend(format!("vault tls client certificate: {e}")))
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(Error::Backend(
            "vault tls: key and cert must be set together".into(),
        )),
    }
}

impl Transport {
    /// A client for `endpoint` (`http://` or `https://`). HTTPS needs `tls.ca` when
    /// Vault's certificate is not from a CA in that file or directory: there is no
    /// system trust store fallback, so the trusted roots are always explicit.
    pub fn new(endpoint: &str, tls: &VaultTls) -> Result<Self> {
        let endpoint = endpoint.trim().trim_end_matches('/').to_string();
        if !endpoint.starts_with("http://") && !endpoint.starts_with("https://") {
            return Err(Error::Backend(format!(
                "vault endpoint {endpoint}: must start with https:// (or http:// for a local test server)"
            )));
        }
        if endpoint.starts_with("https://") && tls.ca.is_none() {
            return Err(Error::Backend(format!(
                "vault endpoint {endpoint}: https needs tls.ca (the CA file or directory that signed Vault's certificate)"
            )));
        }
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(5)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(tls)?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self { endpoint, http })
    }

    /// Sends `method /v1/<path>` with optional token, namespace and JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        namespace: Option<&str>,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Response> {
        let uri = format!("{}/v1/{path}", self.endpoint);
        let mut req = Request::builder().method(method).uri(&uri);
        if let Some(t) = token {
            let mut v = HeaderValue::from_str(t)
                .map_err(|_| Error::Backend("vault token is not a valid header value".into()))?;
            v.set_sensitive(true);
            req = req.header("X-Vault-Token", v);
        }
        if let Some(ns) = namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        if body.is_some() {
            req = req.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| Error::Backend(format!("vault request /v1/{path}: {e}")))?;
        let endpoint = &self.endpoint;
        let send = async {
            let resp = self.http.request(req).await.map_err(|e| {
                Error::Unreachable(format!("vault at {endpoint}: {}", error_chain(&e)))
            })?;
            let status = resp.status().as_u16();
            let limited = http_body_util::Limited::new(resp.into_body(), 2 * MAX_VALUE_SIZE);
            let body = limited
                .collect()
                .await
                .map_err(|e| Error::Unreachable(format!("vault at {endpoint}: {e}")))?
                .to_bytes();
            Ok(Response {
                status,
                body: Zeroizing::new(body.to_vec()),
            })
        };
        tokio::time::timeout(
            timeout.min(REQUEST_TIMEOUT).max(Duration::from_millis(100)),
            send,
        )
        .await
        .map_err(|_| Error::Unreachable(format!("vault at {endpoint}: timed out")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two self-signed test CAs (`openssl req -x509 -newkey ec`), not used anywhere else.
    const CA_A: &str = include_str!("testdata/ca-a.pem");
    const CA_B: &str = include_str!("testdata/ca-b.pem");

    fn tmpdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "coffer-vault-ca-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }

    #[test]
    fn a_ca_directory_loads_every_pem_certificate_file() {
        let d = tmpdir("dir");
        std::fs::write(d.join("a.pem"), CA_A).expect("write");
        std::fs::write(d.join("b.crt"), CA_B).expect("write");
        std::fs::write(d.join("README"), "CA certificates for Vault\n").expect("write");
        std::fs::write(
            d.join("client.key"),
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .expect("write");
        std::fs::write(d.join(".hidden.pem"), "not even PEM").expect("write");
        std::fs::create_dir(d.join("sub")).expect("mkdir");
        std::fs::write(d.join("sub").join("c.pem"), CA_A).expect("write");
        let certs = read_certs(&d).expect("directory");
        assert_eq!(certs.len(), 2);
        // Each one is trusted: a rustls root store takes both.
        let tls = VaultTls {
            ca: Some(d.clone()),
            ..VaultTls::default()
        };
        tls_config(&tls).expect("client config");
        // A single file works as before.
        assert_eq!(read_certs(&d.join("a.pem")).expect("file").len(), 1);

        let empty = tmpdir("empty");
        std::fs::write(empty.join("README"), "nothing here").expect("write");
        let e = read_certs(&empty).expect_err("no certificate");
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
        let _ = std::fs::remove_dir_all(&empty);
    }
}
