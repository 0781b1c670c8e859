//! MinIO's admin API for KMS keys (`/minio/admin/v3/kms/…`), as `mc admin kms key` uses
//! it: SigV4-signed requests (aws-sigv4, service `s3`) answered with JSON.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::{Connection, Error, Result};

type Https = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client of one alias's admin API.
#[derive(Debug)]
pub struct Admin {
    http: Https,
    conn: Connection,
}

/// The status of one key, as `GET /kms/key/status` reports it.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct KeyStatus {
    /// The key's name.
    #[serde(rename = "key-id")]
    pub key_id: String,
    /// Why generating a data key failed, if it did.
    #[serde(
        rename = "encryption-error",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub encryption_error: Option<String>,
    /// Why decrypting it failed, if it did.
    #[serde(
        rename = "decryption-error",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub decryption_error: Option<String>,
}

impl Admin {
    /// An admin client speaking to the same endpoint, with the same trust, as `conn`.
    pub fn new(conn: &Connection) -> Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            // A broken system certificate must not stop the others from being used.
            let _ = roots.add(cert);
        }
        for pem in &conn.ca_pems {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| Error::Config(format!("CA certificate: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| Error::Config(format!("CA certificate: {e}")))?;
            }
        }
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(Duration::from_secs(10)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        Ok(Self {
            http: Client::builder(TokioExecutor::new()).build(https),
            conn: conn.clone(),
        })
    }

    /// `POST /kms/status`: the KMS name, default key and endpoints.
    pub async fn kms_status(&self) -> Result<serde_json::Value> {
        let body = self.call("POST", "kms/status", &[]).await?;
        json(&body)
    }

    /// `POST /kms/key/create?key-id=KEY`.
    pub async fn create_key(&self, key: &str) -> Result<()> {
        self.call("POST", "kms/key/create", &[("key-id", key)])
            .await
            .map(drop)
    }

    /// `GET /kms/key/status[?key-id=KEY]`: generates and decrypts a data key under `key`
    /// (the default key when `None`).
    pub async fn key_status(&self, key: Option<&str>) -> Result<KeyStatus> {
        let query: Vec<(&str, &str)> = key.map(|k| ("key-id", k)).into_iter().collect();
        let body = self.call("GET", "kms/key/status", &query).await?;
        serde_json::from_slice(&body)
            .map_err(|e| Error::Config(format!("unexpected key status answer: {e}")))
    }

    /// `GET /minio/kms/v1/key/list?pattern=P`: the names of the keys matching `pattern`.
    pub async fn list_keys(&self, pattern: &str) -> Result<Vec<String>> {
        let body = self
            .request("GET", "/minio/kms/v1/key/list", &[("pattern", pattern)])
            .await?;
        let value = json(&body)?;
        let names = value
            .as_array()
            .or_else(|| value.get("keys").and_then(|k| k.as_array()))
            .ok_or_else(|| Error::Config("unexpected key list answer".into()))?;
        Ok(names
            .iter()
            .filter_map(|k| {
                k.get("name")
                    .or_else(|| k.get("key-id"))
                    .and_then(|n| n.as_str())
                    .or_else(|| k.as_str())
                    .map(str::to_string)
            })
            .collect())
    }

    async fn call(&self, method: &str, path: &str, query: &[(&str, &str)]) -> Result<Bytes> {
        self.request(method, &format!("/minio/admin/v3/{path}"), query)
            .await
    }

    async fn request(&self, method: &str, path: &str, query: &[(&str, &str)]) -> Result<Bytes> {
        let mut uri = format!("{}{path}", self.conn.alias.url);
        for (i, (k, v)) in query.iter().enumerate() {
            uri.push(if i == 0 { '?' } else { '&' });
            uri.push_str(k);
            uri.push('=');
            uri.push_str(&crate::percent_encode(v, false));
        }
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(&uri)
            .header("host", self.conn.alias.host())
            .body(Full::new(Bytes::new()))
            .map_err(|e| Error::Config(format!("admin request {uri}: {e}")))?;
        self.sign(&mut req)?;
        let unreachable = |reason: String| Error::Unreachable {
            endpoint: self.conn.alias.url.clone(),
            reason,
        };
        let resp = tokio::time::timeout(Duration::from_secs(60), self.http.request(req))
            .await
            .map_err(|_| unreachable("no answer within 60 s".into()))?
            .map_err(|e| unreachable(crate::chain(&e)))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(crate::chain(&e)))?
            .to_bytes();
        if status >= 300 {
            return Err(admin_error(status, &body));
        }
        Ok(body)
    }

    fn sign(&self, req: &mut hyper::Request<Full<Bytes>>) -> Result<()> {
        let alias = &self.conn.alias;
        let identity: Identity = aws_credential_types::Credentials::new(
            &alias.access_key,
            &alias.secret_key,
            None,
            None,
            "coffer-alias",
        )
        .into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(alias.region())
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| Error::Config(format!("signing: {e}")))?
            .into();
        let uri = req.uri().to_string();
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let signable = SignableRequest::new(
            req.method().as_str(),
            uri,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(&[]),
        )
        .map_err(|e| Error::Config(format!("signing: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| Error::Config(format!("signing: {e}")))?
            .into_parts();
        instructions.apply_to_request_http1x(req);
        Ok(())
    }
}

fn json(body: &[u8]) -> Result<serde_json::Value> {
    serde_json::from_slice(body).map_err(|e| Error::Config(format!("unexpected answer: {e}")))
}

/// Admin errors come as JSON (`{"Code","Message"}`) or as S3 XML.
fn admin_error(status: u16, body: &[u8]) -> Error {
    let text = String::from_utf8_lossy(body);
    let (code, message) = if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let field = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| v.get(*n).and_then(|x| x.as_str()))
                .map(str::to_string)
        };
        (
            field(&["Code", "code"]),
            field(&["Message", "message", "error"]),
        )
    } else {
        let tag = |name: &str| {
            let open = format!("<{name}>");
            let start = text.find(&open)? + open.len();
            let end = text[start..].find(&format!("</{name}>"))? + start;
            Some(text[start..end].to_string())
        };
        (tag("Code"), tag("Message"))
    };
    Error::S3 {
        code: code.unwrap_or_else(|| crate::code_for_status(status).to_string()),
        message: message.unwrap_or_else(|| crate::message_for_status(status).to_string()),
        status,
    }
}
