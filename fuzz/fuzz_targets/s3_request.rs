//! Whole S3 requests through the object server's service (s3s routing, SigV4 and
//! presigned parsing, XML bodies, object keys, our handlers) over a real filesystem store
//! in a temporary directory. The input is a method line, a path-and-query line, header
//! lines, an empty line and a body; its first byte says whether to sign the request with
//! the configured user's key (so that fuzzing reaches past authentication into the
//! parsers of the operations). Every request must get an answer: no panic, and no 500.
//! Requests go through the server's own pre-checks first, as they do in `http::serve`.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use libfuzzer_sys::fuzz_target;

const USER: &str = "fuzzuser";
const SECRET: &str = "fuzz-secret-key";

struct Fixture {
    rt: tokio::runtime::Runtime,
    service: s3s::service::S3Service,
    _dir: std::path::PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("coffer-fuzz-{}", std::process::id()));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let service = rt.block_on(async {
            let store = s3_server::store::fs::FsStore::open(&dir).expect("store");
            let store: Arc<dyn s3_server::store::ObjectStore> = Arc::new(store);
            let kms = kms::BuiltinKms::new("fuzz-key", [9u8; 32]);
            let config = s3_server::ServerConfig {
                address: "127.0.0.1:0".into(),
                users: vec![(USER.into(), SECRET.into())],
                domains: vec!["fuzz.local".into()],
                tls: None,
                access_log: false,
                cors_allow_origin: vec![],
                kms: Some(Arc::new(kms)),
                auto_encryption: false,
                insecure_sse_c: true,
                lifecycle_day: std::time::Duration::from_secs(86_400),
                limits: s3_server::Limits::default(),
            };
            let service = s3_server::service(store.clone(), &config).expect("service");
            // A bucket and an object for the requests to find.
            for (m, p, b) in [
                ("PUT", "/fuzz", &b""[..]),
                ("PUT", "/fuzz/key", &b"hello"[..]),
            ] {
                let req = signed(m, p, &[], b).expect("sign");
                let _ = service.call(req).await;
            }
            service
        });
        Fixture {
            rt,
            service,
            _dir: dir,
        }
    })
}

/// A request signed with the user's key (payload hash in `x-amz-content-sha256`).
fn signed(
    method: &str,
    uri: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Option<hyper::Request<s3s::Body>> {
    let mut req = build(method, uri, headers, body)?;
    let identity: Identity =
        aws_credential_types::Credentials::new(USER, SECRET, None, None, "fuzz").into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .ok()?
        .into();
    let hs: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let signable = SignableRequest::new(
        method,
        req.uri().to_string(),
        hs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .ok()?;
    let (instructions, _) = sign(signable, &params).ok()?.into_parts();
    instructions.apply_to_request_http1x(&mut req);
    Some(req)
}

fn build(
    method: &str,
    uri: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Option<hyper::Request<s3s::Body>> {
    let mut b = hyper::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:9000{uri}"))
        .header("host", "127.0.0.1:9000");
    for (k, v) in headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(s3s::Body::from(bytes::Bytes::copy_from_slice(body)))
        .ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let text_end = rest
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or(rest.len());
    let Ok(head) = std::str::from_utf8(&rest[..text_end]) else {
        return;
    };
    let body = rest.get(text_end + 2..).unwrap_or(&[]);
    let mut lines = head.lines();
    let method = lines.next().unwrap_or("GET").trim();
    let path = lines.next().unwrap_or("/");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .take(32)
        .collect();
    let req = if flags & 1 == 1 {
        signed(method, path, &headers, body)
    } else {
        build(method, path, &headers, body)
    };
    let Some(req) = req else { return };
    // What the server refuses before s3s sees a request (as `http::serve` does).
    if s3_server::precheck::request(&req, true).is_some() {
        return;
    }
    let f = fixture();
    let Ok(req) = f.rt.block_on(s3_server::precheck::form(req)) else {
        return;
    };
    let resp = f.rt.block_on(f.service.call(req));
    if let Ok(resp) = resp {
        assert_ne!(resp.status().as_u16(), 500, "500 for {method} {path}");
    }
});
