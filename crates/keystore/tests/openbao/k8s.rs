//! A stand-in for the one Kubernetes API the kubernetes auth method calls: TokenReview
//! (`POST /apis/authentication.k8s.io/v1/tokenreviews`), so OpenBao's real login path
//! runs without a cluster. Tokens are unsigned JWTs with the claims Kubernetes puts in
//! service-account tokens; the stub alone decides which are valid.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{json, Value};

/// A self-signed test CA certificate that signs nothing (`kubernetes_ca_cert` must be set).
pub const UNUSED_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBfDCCASGgAwIBAgIUDTCWgYHN7lko9upCO3OMVLGB5cgwCgYIKoZIzj0EAwIw
EzERMA8GA1UEAwwIazhzLXN0dWIwHhcNMjYxMTI3MTk1NzIzWhcNMjYxMTI4MTk1
NzIzWjATMREwDwYDVQQDDAhrOHMtc3R1YjBZMBMGByqGSM49AgEGCCqGSM49AwEH
A0IABNCs9v9+mX4Rdz0Sbb98Y4NWalLjaWoFNJn8cdD8y1yqYEGNv60sucFaEHvh
+5+yPREu074iUf2mgyiYXrnP5eejUzBRMB0GA1UdDgQWBBQQvKp6JUsTUjfuD7ja
KXnmc9aA9TAfBgNVHSMEGDAWgBQQvKp6JUsTUjfuD7jaKXnmc9aA9TAPBgNVHRMB
Af8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQCF8J6E/bzgXe4RdBem8uzELCpM
qFjqo6v1nvFzhR9EVAIhALy3jLlyEyncn7KJIiNlG382xNdeln4gnUQtPyARrFOl
-----END CERTIFICATE-----
";

/// An unsigned service-account JWT as Kubernetes issues them (legacy secret-based
/// claims). The TokenReview stub, not a signature, decides whether it is valid.
pub fn service_account_jwt(ns: &str, sa: &str, uid: &str) -> String {
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        b64(&json!({"alg": "RS256", "typ": "JWT"})),
        b64(&json!({
            "iss": "kubernetes/serviceaccount",
            "sub": format!("system:serviceaccount:{ns}:{sa}"),
            "kubernetes.io/serviceaccount/namespace": ns,
            "kubernetes.io/serviceaccount/service-account.name": sa,
            "kubernetes.io/serviceaccount/service-account.uid": uid,
        })),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"test-signature"),
    )
}

/// Stands in for the Kubernetes API server's TokenReview endpoint only
/// (`POST /apis/authentication.k8s.io/v1/tokenreviews`), on 127.0.0.1: a token listed
/// in `valid` is authenticated as its service account, anything else is refused.
pub struct TokenReviewStub {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// How many reviews were answered.
    pub reviews: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl TokenReviewStub {
    /// Serves until dropped; `valid` maps token → (namespace, service account, uid).
    pub fn start(valid: Vec<(String, (String, String, String))>) -> Self {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::sync::Arc;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind stub");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let reviews = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, halt) = (reviews.clone(), stop.clone());
        std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                let Ok((mut s, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let _ = s.set_nonblocking(false);
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let Some((path, body)) = read_request(&mut s) else {
                    continue;
                };
                let token = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v["spec"]["token"].as_str().map(str::to_string))
                    .unwrap_or_default();
                let status = match valid.iter().find(|(t, _)| *t == token) {
                    Some((_, (ns, sa, uid)))
                        if path == "/apis/authentication.k8s.io/v1/tokenreviews" =>
                    {
                        json!({
                            "authenticated": true,
                            "user": {
                                "username": format!("system:serviceaccount:{ns}:{sa}"),
                                "uid": uid,
                                "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{ns}")],
                            },
                        })
                    }
                    _ => json!({"authenticated": false, "error": "invalid bearer token"}),
                };
                count.fetch_add(1, Ordering::Relaxed);
                let out = json!({
                    "apiVersion": "authentication.k8s.io/v1",
                    "kind": "TokenReview",
                    "status": status,
                })
                .to_string();
                let _ = write!(
                    s,
                    "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{out}",
                    out.len()
                );
            }
        });
        Self { url, reviews, stop }
    }
}

impl Drop for TokenReviewStub {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// One HTTP/1.1 request: its path and body (by Content-Length).
fn read_request(s: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 1 << 20 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let path = head.split_whitespace().nth(1)?.to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((path, buf[head_end..head_end + len].to_vec()))
}
