//! MinIO's KMS admin API, so `mc admin kms …` and scripts keep working (spec/sse.md §7.3):
//!
//! - `POST /minio/admin/v3/kms/status`, `POST …/kms/key/create?key-id=K`,
//!   `GET …/kms/key/status[?key-id=K]`;
//! - `/minio/kms/v1/`: `GET status|version|apis|metrics`, `POST key/create?key-id=K`,
//!   `GET key/list?pattern=P`, `GET key/status[?key-id=K]`.
//!
//! Requests are SigV4-signed like S3 requests (s3s checks the signature) and only the
//! root user may use them. Without a KMS every route answers 501 `NotImplemented`.

use std::sync::Arc;

use bytes::Bytes;
use hyper::http::Extensions;
use hyper::{HeaderMap, Method, StatusCode, Uri};
use s3s::route::S3Route;
use s3s::{s3_error, Body, S3Request, S3Response, S3Result};

const ADMIN: &str = "/minio/admin/v3/kms/";
const KMS_API: &str = "/minio/kms/v1/";

/// The KMS admin routes.
#[derive(Debug, Clone)]
pub struct KmsAdmin {
    kms: Option<Arc<dyn kms::Kms>>,
    root: String,
}

impl KmsAdmin {
    /// Routes answering from `kms`; `root` is the only access key allowed.
    pub fn new(kms: Option<Arc<dyn kms::Kms>>, root: &str) -> Self {
        Self {
            kms,
            root: root.to_string(),
        }
    }
}

fn json(value: serde_json::Value) -> S3Response<Body> {
    let mut r = S3Response::new(Body::from(Bytes::from(value.to_string())));
    if let Ok(v) = "application/json".parse() {
        r.headers.insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn empty() -> S3Response<Body> {
    S3Response::new(Body::from(Bytes::new()))
}

/// The value of query parameter `name`; `InvalidArgument` when it is badly escaped.
fn query(uri: &Uri, name: &str) -> S3Result<Option<String>> {
    let Some(v) = uri.query().and_then(|q| {
        q.split('&').find_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k == name).then_some(v)
        })
    }) else {
        return Ok(None);
    };
    kes_proto::percent::decode_form(v)
        .map(Some)
        .ok_or_else(|| s3_error!(InvalidArgument, "malformed %-escape in {name}"))
}

/// Generates a data key under `key` and decrypts it again, as MinIO's key status does.
async fn key_status(kms: &dyn kms::Kms, key: &str) -> serde_json::Value {
    let mut ctx = kms::Context::new();
    ctx.insert("MinIO admin API", "KMSKeyStatusHandler");
    let mut out = serde_json::json!({ "key-id": key });
    match kms.generate(key, &ctx).await {
        Err(e) => {
            out["encryption-error"] = e.to_string().into();
        }
        Ok(dk) => match kms.decrypt(key, &dk.ciphertext, &ctx).await {
            Err(e) => out["decryption-error"] = e.to_string().into(),
            Ok(pt) if *pt != *dk.plaintext => {
                out["decryption-error"] =
                    "the decrypted data key does not match the generated one".into();
            }
            Ok(_) => {}
        },
    }
    out
}

fn kms_failure(e: kms::Error) -> s3s::S3Error {
    // MinIO's admin API reports KMS failures as 500 InternalError with the KMS's text.
    let mut err = s3_error!(InternalError, "{e}");
    err.set_status_code(StatusCode::INTERNAL_SERVER_ERROR);
    err
}

#[async_trait::async_trait]
impl S3Route for KmsAdmin {
    fn is_match(&self, _: &Method, uri: &Uri, _: &HeaderMap, _: &mut Extensions) -> bool {
        uri.path().starts_with(ADMIN) || uri.path().starts_with(KMS_API)
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        match &req.credentials {
            Some(c) if c.access_key == self.root => Ok(()),
            _ => Err(s3_error!(AccessDenied, "Access Denied.")),
        }
    }

    async fn call(&self, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let path = req.uri.path();
        let op = path
            .strip_prefix(ADMIN)
            .or_else(|| path.strip_prefix(KMS_API))
            .unwrap_or_default()
            .trim_end_matches('/');
        let Some(kms) = &self.kms else {
            return Err(s3_error!(
                NotImplemented,
                "Server side encryption specified but KMS is not configured"
            ));
        };
        let key = query(&req.uri, "key-id")?.filter(|k| !k.is_empty());
        match (&req.method, op) {
            (&Method::POST | &Method::GET, "status") => {
                let endpoints: serde_json::Map<String, serde_json::Value> = kms
                    .status()
                    .await
                    .map_err(kms_failure)?
                    .into_iter()
                    .map(|(e, online)| (e, if online { "online" } else { "offline" }.into()))
                    .collect();
                Ok(json(serde_json::json!({
                    "name": kms.kind(),
                    "default-key-id": kms.default_key(),
                    "endpoints": endpoints,
                })))
            }
            (&Method::GET, "version") => Ok(json(
                serde_json::json!({ "version": env!("CARGO_PKG_VERSION") }),
            )),
            (&Method::GET, "apis") => Ok(json(serde_json::json!([
                {"method": "GET", "path": "/minio/kms/v1/status"},
                {"method": "GET", "path": "/minio/kms/v1/version"},
                {"method": "GET", "path": "/minio/kms/v1/apis"},
                {"method": "POST", "path": "/minio/kms/v1/key/create"},
                {"method": "GET", "path": "/minio/kms/v1/key/list"},
                {"method": "GET", "path": "/minio/kms/v1/key/status"},
            ]))),
            (&Method::POST, "key/create") => {
                let key = key.ok_or_else(|| s3_error!(InvalidArgument, "key-id is required"))?;
                kms.create_key(&key).await.map_err(kms_failure)?;
                Ok(empty())
            }
            (&Method::GET, "key/list") => {
                let pattern = query(&req.uri, "pattern")?.unwrap_or_else(|| "*".into());
                let names = kms.list_keys(&pattern).await.map_err(kms_failure)?;
                let list: Vec<_> = names
                    .into_iter()
                    .map(|n| serde_json::json!({ "name": n }))
                    .collect();
                Ok(json(serde_json::Value::Array(list)))
            }
            (&Method::GET, "key/status") => {
                let key = key.unwrap_or_else(|| kms.default_key().to_string());
                Ok(json(key_status(kms.as_ref(), &key).await))
            }
            _ => Err(s3_error!(NotImplemented, "unknown KMS admin API")),
        }
    }
}
