//! The key server driven over mutual TLS as a separate process: the compatibility cases
//! of spec `kes-api.md` §10 (numbers in the test names), with real clients built from
//! API keys.

mod common;

use std::time::Duration;

use common::{kes_client, server_cert, start_kes, Proc, TempDir};
use hyper::Method;
use kes_proto::apikey::ApiKey;
use kms::{KesClient, RawResponse};
use serde_json::Value;

/// K, the AES vector key of spec §4.3.
const K_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const RAW_AES: &str = "lDkfJrKRJ3eF8rbNQE4wiJnr/kkoWzgqoKLtyRLyN2FPb71D1PkZd5UBiFynhAx0oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6uw==";
const RAW_CHACHA: &str = "60u2/E7+2anu6rEUO4pt5SRipjDMINUOickeGBst3ISl4xamuzii8lfwItZxu1DJoKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6uw==";
const JSON_AES: &str = r#"{"aead":"AES-256-GCM-HMAC-SHA-256","iv":"oKGio6SlpqeoqaqrrK2urw==","nonce":"sLGys7S1tre4ubq7","bytes":"lDkfJrKRJ3eF8rbNQE4wiJnr/kkoWzgqoKLtyRLyN2FPb71D1PkZd5UBiFynhAx0"}"#;
const MSGPACK_AES: &str = "laZBRVMyNTbZIDYzMGRjZDI5NjZjNDMzNjY5MTEyNTQ0OGJiYjI1YjRmxBCgoaKjpKWmp6ipqqusra6vxAywsbKztLW2t7i5urvEMJQ5HyaykSd3hfK2zUBOMIiZ6/5JKFs4KqCi7ckS8jdhT2+9Q9T5GXeVAYhcp4QMdA==";
const DEK_B64: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
const AD: &str = r#"{"my-bucket":"my-bucket/my-object"}"#;
const PROTOBUF_RECORD: &str = "CiQKIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fEAESJAogQEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8QARoGCICByKwGIkAzZWNmY2RmMzhmY2JlMTQxYWUyNmExMDMwZjgxZTk2Yjc1MzM2NWE0Njc2MGFlNmI1Nzg2OThhOTdjNTlmZDIy";

fn b64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn unb64(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}

struct Fixture {
    _dir: TempDir,
    keys_dir: std::path::PathBuf,
    proc: Proc,
    cert: Vec<u8>,
    admin: ApiKey,
    minio: ApiKey,
    stranger: ApiKey,
}

impl Fixture {
    fn start(extra_yaml: &str) -> Self {
        let dir = TempDir::new("kes");
        let (cert_path, key_path, cert) = server_cert(dir.path());
        let admin = ApiKey::generate().expect("api key");
        let minio = ApiKey::generate().expect("api key");
        let stranger = ApiKey::generate().expect("api key");
        let keys_dir = dir.path().join("keys");
        let config = format!(
            r#"
version: v1
address: 127.0.0.1:0
admin:
  identity: {admin}
tls:
  key: {key}
  cert: {cert}
policy:
  minio:
    allow:
    - /v1/key/create/minio*
    - /v1/key/generate/minio*
    - /v1/key/decrypt/minio*
    - /v1/status
    deny:
    - /v1/key/decrypt/minio-secret*
    identities:
    - {minio}
log:
  error: on
  audit: off
keystore:
  fs:
    path: {keys}
{extra_yaml}"#,
            admin = admin.identity(),
            minio = minio.identity(),
            key = key_path.display(),
            cert = cert_path.display(),
            keys = keys_dir.display(),
        );
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, config).expect("write config");
        let proc = start_kes(&["--config", cfg_path.to_str().expect("utf-8")]);
        Self {
            _dir: dir,
            keys_dir,
            proc,
            cert,
            admin,
            minio,
            stranger,
        }
    }

    fn client(&self, key: &ApiKey) -> KesClient {
        kes_client(&self.proc.addr, key, &self.cert)
    }

    fn endpoint(&self) -> String {
        format!("https://{}", self.proc.addr)
    }

    async fn raw(
        &self,
        key: &ApiKey,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> RawResponse {
        self.client(key)
            .send_to(
                &self.endpoint(),
                method,
                path,
                body.map(|b| b.as_bytes().to_vec()),
            )
            .await
            .expect("request")
    }
}

fn json(r: &RawResponse) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&r.body)))
}

fn assert_error(r: &RawResponse, status: u16, message: &str) {
    assert_eq!(
        r.status,
        status,
        "body {:?}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    assert_eq!(json(r)["message"], message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compatibility_cases_1_to_20_and_22_to_29() {
    let f = Fixture::start("");
    let (a, m, x) = (&f.admin, &f.minio, &f.stranger);

    // 1. No client certificate: the handshake (or the first read) fails.
    assert!(no_cert_request(&f.proc.addr, "/version").await.is_err());

    // 2. /version
    let r = f.raw(a, Method::GET, "/version", None).await;
    assert_eq!(r.status, 200);
    assert!(json(&r)["version"].is_string() && json(&r)["commit"].is_string());

    // 3. create, then create again
    let r = f
        .raw(a, Method::POST, "/v1/key/create/minio-k1", None)
        .await;
    assert_eq!((r.status, r.body.len()), (200, 0));
    let r = f
        .raw(a, Method::POST, "/v1/key/create/minio-k1", None)
        .await;
    assert_error(&r, 400, "key already exists");

    // 4. PUT accepted; GET refused with 405 and Accept
    assert_eq!(
        f.raw(a, Method::PUT, "/v1/key/create/minio-k2", None)
            .await
            .status,
        200
    );
    let r = f.raw(a, Method::GET, "/v1/key/create/x", None).await;
    assert_eq!(r.status, 405);
    assert!(r.headers.get("accept").is_some());
    assert!(json(&r)["message"]
        .as_str()
        .expect("message")
        .contains("expected"));

    // 5. invalid names
    for bad in ["bad.name", "-x"] {
        let r = f
            .raw(a, Method::POST, &format!("/v1/key/create/{bad}"), None)
            .await;
        assert_eq!(r.status, 400, "{bad}");
    }

    // 6-8. generate / decrypt under the minio policy
    let r = f
        .raw(
            m,
            Method::POST,
            "/v1/key/generate/minio-k1",
            Some(r#"{"context":"e30="}"#),
        )
        .await;
    assert_eq!(r.status, 200);
    let g = json(&r);
    let plaintext = unb64(g["plaintext"].as_str().expect("plaintext"));
    let ciphertext = unb64(g["ciphertext"].as_str().expect("ciphertext"));
    assert_eq!((plaintext.len(), ciphertext.len()), (32, 76));
    let r2 = f
        .raw(
            m,
            Method::POST,
            "/v1/key/generate/minio-k1",
            Some(r#"{"context":"e30="}"#),
        )
        .await;
    let c2 = unb64(json(&r2)["ciphertext"].as_str().expect("ciphertext"));
    assert_ne!(ciphertext[48..], c2[48..], "fresh IV and nonce per call");
    let body = format!(
        r#"{{"ciphertext":"{}","context":"e30="}}"#,
        b64(&ciphertext)
    );
    let r = f
        .raw(m, Method::POST, "/v1/key/decrypt/minio-k1", Some(&body))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        unb64(json(&r)["plaintext"].as_str().expect("pt")),
        plaintext
    );
    for body in [
        format!(
            r#"{{"ciphertext":"{}","context":"{}"}}"#,
            b64(&ciphertext),
            b64(b"{}x")
        ),
        format!(r#"{{"ciphertext":"{}"}}"#, b64(&ciphertext)),
        {
            let mut t = ciphertext.clone();
            t[5] ^= 1;
            format!(r#"{{"ciphertext":"{}","context":"e30="}}"#, b64(&t))
        },
    ] {
        let r = f
            .raw(m, Method::POST, "/v1/key/decrypt/minio-k1", Some(&body))
            .await;
        assert_error(&r, 400, "decryption failed: ciphertext is not authentic");
    }

    // 9. missing key
    let r = f
        .raw(m, Method::POST, "/v1/key/generate/minio-nokey", Some("{}"))
        .await;
    assert_error(&r, 404, "key does not exist");

    // 10. policy enforcement
    let r = f
        .raw(m, Method::POST, "/v1/key/generate/other", Some("{}"))
        .await;
    assert_error(&r, 403, "not authorized: insufficient permissions");
    let r = f
        .raw(m, Method::POST, "/v1/key/decrypt/minio-secret1", Some("{}"))
        .await;
    assert_error(&r, 403, "not authorized: insufficient permissions");
    for path in [
        "/v1/key/generate/minio-k1",
        "/v1/key/create/minio-zz",
        "/v1/status",
    ] {
        let r = f.raw(x, Method::POST, path, Some("{}")).await;
        assert!(r.status == 403 || r.status == 405, "{path}: {}", r.status);
    }
    assert_eq!(f.raw(x, Method::GET, "/v1/status", None).await.status, 403);
    assert_eq!(f.raw(m, Method::GET, "/v1/status", None).await.status, 200);

    // 11. empty body generate → decrypts only with empty context
    let r = f
        .raw(m, Method::POST, "/v1/key/generate/minio-k1", None)
        .await;
    assert_eq!(r.status, 200);
    let ct = json(&r)["ciphertext"].as_str().expect("ct").to_string();
    let ok = f
        .raw(
            m,
            Method::POST,
            "/v1/key/decrypt/minio-k1",
            Some(&format!(r#"{{"ciphertext":"{ct}"}}"#)),
        )
        .await;
    assert_eq!(ok.status, 200);
    let bad = f
        .raw(
            m,
            Method::POST,
            "/v1/key/decrypt/minio-k1",
            Some(&format!(r#"{{"ciphertext":"{ct}","context":"e30="}}"#)),
        )
        .await;
    assert_eq!(bad.status, 400);

    // 12. import K, decrypt the raw, JSON and MessagePack vectors
    let r = f
        .raw(
            a,
            Method::POST,
            "/v1/key/import/k3",
            Some(&format!(r#"{{"key":"{K_B64}","cipher":"AES256"}}"#)),
        )
        .await;
    assert_eq!(r.status, 200);
    for ct in [
        RAW_AES.to_string(),
        b64(JSON_AES.as_bytes()),
        MSGPACK_AES.to_string(),
    ] {
        let body = format!(
            r#"{{"ciphertext":"{ct}","context":"{}"}}"#,
            b64(AD.as_bytes())
        );
        let r = f
            .raw(a, Method::POST, "/v1/key/decrypt/k3", Some(&body))
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(json(&r)["plaintext"], DEK_B64);
    }

    // 13. ChaCha20 import
    let r = f
        .raw(
            a,
            Method::POST,
            "/v1/key/import/k4",
            Some(&format!(r#"{{"key":"{K_B64}","cipher":"ChaCha20"}}"#)),
        )
        .await;
    assert_eq!(r.status, 200);
    let body = format!(
        r#"{{"ciphertext":"{RAW_CHACHA}","context":"{}"}}"#,
        b64(AD.as_bytes())
    );
    let r = f
        .raw(a, Method::POST, "/v1/key/decrypt/k4", Some(&body))
        .await;
    assert_eq!(json(&r)["plaintext"], DEK_B64);

    // 14. bad imports; legacy body
    let r = f
        .raw(
            a,
            Method::POST,
            "/v1/key/import/k5",
            Some(&format!(
                r#"{{"key":"{}","cipher":"AES256"}}"#,
                b64(&[1u8; 16])
            )),
        )
        .await;
    assert_eq!(r.status, 406);
    let r = f
        .raw(
            a,
            Method::POST,
            "/v1/key/import/k5",
            Some(&format!(r#"{{"key":"{K_B64}","cipher":"DES"}}"#)),
        )
        .await;
    assert_eq!(r.status, 406);
    let r = f
        .raw(
            a,
            Method::POST,
            "/v1/key/import/k6",
            Some(&format!(r#"{{"bytes":"{K_B64}"}}"#)),
        )
        .await;
    assert_eq!(r.status, 200);

    // 15. encrypt / decrypt a message
    let body = format!(
        r#"{{"plaintext":"{}","context":"{}"}}"#,
        b64(b"hello"),
        b64(b"c")
    );
    let r = f
        .raw(a, Method::POST, "/v1/key/encrypt/k3", Some(&body))
        .await;
    let ct = unb64(json(&r)["ciphertext"].as_str().expect("ct"));
    assert_eq!(ct.len(), 49);
    let body = format!(
        r#"{{"ciphertext":"{}","context":"{}"}}"#,
        b64(&ct),
        b64(b"c")
    );
    let r = f
        .raw(a, Method::POST, "/v1/key/decrypt/k3", Some(&body))
        .await;
    assert_eq!(unb64(json(&r)["plaintext"].as_str().expect("pt")), b"hello");

    // 16. HMAC is deterministic; a legacy record has no HMAC key (409)
    let body = format!(r#"{{"message":"{}"}}"#, b64(b"root access key"));
    let h1 = json(&f.raw(a, Method::PUT, "/v1/key/hmac/k3", Some(&body)).await)["hmac"].clone();
    let h2 = json(&f.raw(a, Method::PUT, "/v1/key/hmac/k3", Some(&body)).await)["hmac"].clone();
    assert_eq!(h1, h2);
    assert_eq!(unb64(h1.as_str().expect("hmac")).len(), 32);
    std::fs::write(
        f.keys_dir.join("legacy-e1"),
        format!(r#"{{"bytes":"{K_B64}"}}"#),
    )
    .expect("write");
    let r = f
        .raw(a, Method::PUT, "/v1/key/hmac/legacy-e1", Some(&body))
        .await;
    assert_error(&r, 409, "key does not support HMAC");

    // 17. describe
    let r = f
        .raw(a, Method::GET, "/v1/key/describe/minio-k1", None)
        .await;
    let d = json(&r);
    assert_eq!(d["name"], "minio-k1");
    assert!(d["algorithm"] == "AES256" || d["algorithm"] == "ChaCha20");
    assert!(d["created_at"].as_str().expect("created_at").ends_with('Z'));
    assert_eq!(d["created_by"], f.admin.identity().to_string());
    assert_eq!(
        f.raw(a, Method::GET, "/v1/key/describe/nope", None)
            .await
            .status,
        404
    );

    // 18. list
    for path in ["/v1/key/list/", "/v1/key/list/*", "/v1/key/list"] {
        let r = f.raw(a, Method::GET, path, None).await;
        assert_eq!(r.status, 200, "{path}");
        let names: Vec<String> = serde_json::from_value(json(&r)["names"].clone()).expect("names");
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert!(names.contains(&"minio-k1".to_string()) && names.contains(&"k3".to_string()));
    }
    let r = f.raw(a, Method::GET, "/v1/key/list/minio*", None).await;
    let names: Vec<String> = serde_json::from_value(json(&r)["names"].clone()).expect("names");
    assert!(!names.is_empty() && names.iter().all(|n| n.starts_with("minio")));

    // 19. delete
    assert_eq!(
        f.raw(a, Method::DELETE, "/v1/key/delete/minio-k2", None)
            .await
            .status,
        200
    );
    let r = f
        .raw(a, Method::DELETE, "/v1/key/delete/minio-k2", None)
        .await;
    assert_error(&r, 404, "key does not exist");
    let r = f
        .raw(a, Method::POST, "/v1/key/generate/minio-k2", None)
        .await;
    assert_error(&r, 404, "key does not exist");

    // 20. status
    let s = json(&f.raw(a, Method::GET, "/v1/status", None).await);
    for field in ["version", "os", "arch"] {
        assert!(s[field].is_string(), "{field}");
    }
    for field in [
        "uptime",
        "num_cpu",
        "num_cpu_used",
        "mem_heap_used",
        "mem_stack_used",
    ] {
        assert!(s[field].is_u64(), "{field}");
    }
    assert!(s["keystore_latency"].as_u64().expect("latency") > 0);

    // 22. metrics
    let r = f.raw(a, Method::GET, "/v1/metrics", None).await;
    let text = String::from_utf8_lossy(&r.body);
    for family in [
        "kes_http_request_success",
        "kes_http_response_time_bucket",
        "kes_system_up_time",
    ] {
        assert!(text.contains(family), "{family}");
    }

    // 23. api
    let routes = json(&f.raw(a, Method::GET, "/v1/api", None).await);
    let routes = routes.as_array().expect("array");
    assert!(routes.iter().any(|r| r["method"] == "PUT"
        && r["path"] == "/v1/key/generate/"
        && r["max_body"] == 1_000_000
        && r["timeout"] == 15));
    assert!(routes
        .iter()
        .any(|r| r["path"] == "/v1/log/audit" && r["timeout"] == 0));

    // 24. self describe (kms-go flat shape)
    let d = json(
        &f.raw(a, Method::GET, "/v1/identity/self/describe", None)
            .await,
    );
    assert_eq!(
        (d["identity"].as_str(), d["admin"].as_bool()),
        (Some(f.admin.identity().as_str()), Some(true))
    );
    let d = json(
        &f.raw(m, Method::GET, "/v1/identity/self/describe", None)
            .await,
    );
    assert_eq!(d["identity"], f.minio.identity().to_string());
    assert_eq!(d["policy"], "minio");
    assert!(d["allow"].is_object() && d["deny"].is_object());

    // 25. identities and policies
    let d = json(
        &f.raw(
            a,
            Method::GET,
            &format!("/v1/identity/describe/{}", f.minio.identity()),
            None,
        )
        .await,
    );
    assert_eq!(d["policy"], "minio");
    let d = json(
        &f.raw(
            a,
            Method::GET,
            &format!("/v1/identity/describe/{}", f.admin.identity()),
            None,
        )
        .await,
    );
    assert_eq!(d["admin"], true);
    let r = f
        .raw(
            a,
            Method::GET,
            &format!("/v1/identity/describe/{}", "ab".repeat(32)),
            None,
        )
        .await;
    assert_error(&r, 404, "identity does not exist");
    let p = json(&f.raw(a, Method::GET, "/v1/policy/read/minio", None).await);
    assert!(p["allow"]["/v1/key/generate/minio*"].is_object());
    assert!(p["deny"]["/v1/key/decrypt/minio-secret*"].is_object());
    assert_error(
        &f.raw(a, Method::GET, "/v1/policy/read/nope", None).await,
        404,
        "policy does not exist",
    );
    let l = json(&f.raw(a, Method::GET, "/v1/policy/list/*", None).await);
    assert_eq!(l["names"], serde_json::json!(["minio"]));

    // 26. audit stream sees a create
    let client = f.client(a);
    let endpoint = f.endpoint();
    let watcher = tokio::spawn(async move {
        let mut seen = None;
        let _ = client
            .stream_lines("/v1/log/audit", |line| {
                let v: Value = serde_json::from_slice(line).unwrap_or_default();
                if v["request"]["path"] == "/v1/key/create/audit-k" {
                    seen = Some(v);
                    false
                } else {
                    true
                }
            })
            .await;
        let _ = endpoint;
        seen
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        f.raw(a, Method::POST, "/v1/key/create/audit-k", None)
            .await
            .status,
        200
    );
    let event = tokio::time::timeout(Duration::from_secs(10), watcher)
        .await
        .expect("audit event within 10 s")
        .expect("task")
        .expect("event seen");
    assert_eq!(event["response"]["code"], 200);
    assert_eq!(event["request"]["identity"], f.admin.identity().to_string());

    // 27. the spec's API key works as admin when configured so (covered by the fixture:
    //     every admin call above uses an API-key certificate); check the vector identity.
    let k = ApiKey::parse("kes:v1:AD9E7FSYWrMD+VjhI6q545cYT9YOyFxZb7UnjEepYDRc").expect("api key");
    assert_eq!(
        k.identity().as_str(),
        "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22"
    );

    // 28. oversized bodies
    let big = format!(r#"{{"context":"{}"}}"#, "A".repeat(1_000_001));
    let r = f
        .raw(m, Method::POST, "/v1/key/generate/minio-k1", Some(&big))
        .await;
    assert_eq!(r.status, 400);

    // 29. stored-key read compatibility
    std::fs::write(f.keys_dir.join("minio-old"), PROTOBUF_RECORD).expect("write");
    let d = json(
        &f.raw(a, Method::GET, "/v1/key/describe/minio-old", None)
            .await,
    );
    assert_eq!(d["created_at"], "2024-01-01T00:00:00Z");
    assert_eq!(
        d["created_by"],
        "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22"
    );
    let r = f
        .raw(a, Method::PUT, "/v1/key/hmac/minio-old", Some(&body))
        .await;
    assert_eq!(
        hex_of(&unb64(json(&r)["hmac"].as_str().expect("hmac"))),
        "93d3f90070c5961bf66c1c2f19c9a8a7e3539598e6da59ffa76081e95dc131b9"
    );
    std::fs::write(
        f.keys_dir.join("legacy-e3"),
        format!(r#"{{"version":"v1","bytes":"{K_B64}","algorithm":"AES256-GCM_SHA256","created_at":"2022-01-01T00:00:00Z","created_by":"x"}}"#),
    )
    .expect("write");
    for name in ["legacy-e1", "legacy-e3"] {
        let body = format!(
            r#"{{"ciphertext":"{RAW_AES}","context":"{}"}}"#,
            b64(AD.as_bytes())
        );
        let r = f
            .raw(
                a,
                Method::POST,
                &format!("/v1/key/decrypt/{name}"),
                Some(&body),
            )
            .await;
        assert_eq!(json(&r)["plaintext"], DEK_B64, "{name}");
    }
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Sends `GET path` over TLS without a client certificate; Ok(status) if answered.
async fn no_cert_request(addr: &str, path: &str) -> Result<u16, String> {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    tls.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no HTTP response: {text:?}"))
}

#[derive(Debug)]
struct AcceptAny;

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_21_ready_with_skip_auth_and_unreachable_keystore() {
    let f = Fixture::start("api:\n  /v1/ready:\n    skip_auth: true\nkeys:\n  - name: boot-key\n");
    // keys: listed in the config exist from the start.
    let d = json(
        &f.raw(&f.admin, Method::GET, "/v1/key/describe/boot-key", None)
            .await,
    );
    assert_eq!(d["name"], "boot-key");
    assert_eq!(no_cert_request(&f.proc.addr, "/v1/ready").await, Ok(200));
    assert_eq!(
        no_cert_request(&f.proc.addr, "/v1/key/list/").await,
        Ok(400)
    );
    assert_eq!(
        f.raw(&f.admin, Method::GET, "/v1/ready", None).await.status,
        200
    );

    // Keystore gone: ready 504, status reports both flags, still 200.
    std::fs::remove_dir_all(&f.keys_dir).expect("remove keystore");
    let r = f.raw(&f.admin, Method::GET, "/v1/ready", None).await;
    assert_error(&r, 504, "key store is not reachable");
    let s = json(&f.raw(&f.admin, Method::GET, "/v1/status", None).await);
    assert_eq!(
        (
            s["keystore_unreachable"].as_bool(),
            s["keystore_unavailable"].as_bool()
        ),
        (Some(true), Some(true))
    );
}
