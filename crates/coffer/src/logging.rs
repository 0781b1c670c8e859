//! Diagnostic logging: `tracing` events of every crate, filtered by `RUST_LOG`, written to
//! stderr one line each. The JSON access log (stdout or a file) and the key server's audit
//! log do not pass through here; they keep their own formats.
//!
//! Some dependencies describe requests in detail at debug level: s3s prints signatures and
//! trailers, h2 and hyper print header blocks (where an SSE-C key travels). Those targets
//! are capped at `info` whatever `RUST_LOG` asks, so no log level turns secrets into log
//! lines. s3s is off by default: it logs every S3 error answer (a missing key, a failed
//! precondition) at error level, which our access log already records as a status code.

use std::io::IsTerminal;

use tracing::{Level, Metadata};
use tracing_subscriber::filter::{filter_fn, EnvFilter, FilterExt};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// The filter when `RUST_LOG` is unset or empty.
const DEFAULT: &str = "warn,s3s=off";

/// Targets never logged below `info`: their debug events carry request headers or
/// signatures.
const CAPPED: [&str; 4] = ["s3s", "h2", "hyper", "hyper_util"];

/// Installs the subscriber. A `RUST_LOG` that does not parse is reported and replaced
/// by the default.
pub fn init() {
    let filter = match std::env::var("RUST_LOG") {
        Ok(s) if !s.trim().is_empty() => EnvFilter::try_new(&s).unwrap_or_else(|e| {
            eprintln!("coffer: RUST_LOG={s:?} is not a valid filter ({e}); using {DEFAULT:?}");
            EnvFilter::new(DEFAULT)
        }),
        _ => EnvFilter::new(DEFAULT),
    };
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(filter.and(filter_fn(allowed)));
    // Fails only when a subscriber is installed already (never, from main).
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// Drops debug and trace events (and spans) of the capped targets.
fn allowed(meta: &Metadata<'_>) -> bool {
    *meta.level() <= Level::INFO || !CAPPED.iter().any(|t| is_within(meta.target(), t))
}

/// Whether `target` is the crate `krate` or one of its modules.
fn is_within(target: &str, krate: &str) -> bool {
    target
        .strip_prefix(krate)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

#[cfg(test)]
mod tests {
    use super::is_within;

    #[test]
    fn targets() {
        assert!(is_within("s3s", "s3s"));
        assert!(is_within("s3s::ops::signature", "s3s"));
        assert!(!is_within("s3s_fs", "s3s"));
        assert!(is_within("h2::proto", "h2"));
        assert!(!is_within("hyper_util::client", "hyper"));
    }
}
