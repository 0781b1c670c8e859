//! The one hyper + rustls client builder of this crate (KES and Vault use it), and small
//! helpers both speak with.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::ClientConfig;

/// A pooled HTTP/1.1 + HTTP/2 client over rustls.
pub(crate) type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Builds a pooled client. `https_only` refuses `http://` URIs (KES); Vault transit also
/// accepts plain `http://` for development servers.
pub(crate) fn client(tls: ClientConfig, https_only: bool) -> HttpClient {
    // Without TCP_NODELAY an HTTP/2 request written in two segments waits for the
    // peer's delayed ACK: ~40 ms per call instead of ~0.2 ms.
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls);
    let builder = if https_only {
        builder.https_only()
    } else {
        builder.https_or_http()
    };
    let connector = builder.enable_all_versions().wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(connector)
}

/// An error and its sources on one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Escapes a path argument (names and patterns use `[0-9A-Za-z_*.-]`; anything else is
/// percent-encoded so the server rejects it as a name rather than routing it elsewhere).
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'*' | b'.') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A random duration in `0..max_ms` milliseconds (retry jitter).
pub(crate) fn jitter(max_ms: u64) -> Duration {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut b = [0u8; 8];
    // A failed random source only loses the jitter.
    let _ = SystemRandom::new().fill(&mut b);
    Duration::from_millis(u64::from_le_bytes(b) % max_ms.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_path_arguments() {
        assert_eq!(escape("my-key_1.x*"), "my-key_1.x*");
        assert_eq!(escape("a/b c"), "a%2Fb%20c");
        assert_eq!(escape("é"), "%C3%A9");
    }

    #[test]
    fn jitter_stays_in_range() {
        for _ in 0..100 {
            assert!(jitter(800) < Duration::from_millis(800));
        }
    }
}
