//! Audit and error events: fanned out to `/v1/log/{audit,error}` subscribers and, when
//! enabled, printed (audit to stdout, errors to stderr), one JSON object per line.

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::broadcast;

/// Capacity of each stream; slow subscribers lose the oldest events, never block requests.
const CAPACITY: usize = 1024;

/// The two event streams.
#[derive(Debug)]
pub struct LogHub {
    audit: broadcast::Sender<Bytes>,
    error: broadcast::Sender<Bytes>,
    print_audit: bool,
    print_error: bool,
}

/// One audited request.
#[derive(Debug, Serialize)]
pub struct AuditEvent<'a> {
    /// RFC 3339 time.
    pub time: String,
    /// What was asked.
    pub request: AuditRequest<'a>,
    /// What was answered.
    pub response: AuditResponse,
}

/// The request part of an audit event.
#[derive(Debug, Serialize)]
pub struct AuditRequest<'a> {
    /// Client IP.
    pub ip: String,
    /// Request path.
    pub path: &'a str,
    /// Client identity (empty if none).
    pub identity: &'a str,
}

/// The response part of an audit event.
#[derive(Debug, Serialize)]
pub struct AuditResponse {
    /// HTTP status.
    pub code: u16,
    /// Milliseconds to the response.
    pub time: u64,
}

impl LogHub {
    /// A hub; `print_*` also write events to stdout/stderr.
    pub fn new(print_audit: bool, print_error: bool) -> Self {
        Self {
            audit: broadcast::channel(CAPACITY).0,
            error: broadcast::channel(CAPACITY).0,
            print_audit,
            print_error,
        }
    }

    /// Records an audit event.
    pub fn audit(&self, event: &AuditEvent<'_>) {
        let Ok(mut line) = serde_json::to_vec(event) else {
            return;
        };
        line.push(b'\n');
        if self.print_audit {
            use std::io::Write;
            let _ = std::io::stdout().lock().write_all(&line);
        }
        let _ = self.audit.send(Bytes::from(line));
    }

    /// Records an error event: a one-line message with no secrets in it.
    pub fn error(&self, message: &str) {
        let text = format!("time={} level=ERROR msg={message:?}", now_rfc3339());
        if self.print_error {
            eprintln!("{text}");
        }
        #[derive(Serialize)]
        struct Line<'a> {
            message: &'a str,
        }
        if let Ok(mut line) = serde_json::to_vec(&Line { message: &text }) {
            line.push(b'\n');
            let _ = self.error.send(Bytes::from(line));
        }
    }

    /// A new subscriber to the audit stream.
    pub fn subscribe_audit(&self) -> broadcast::Receiver<Bytes> {
        self.audit.subscribe()
    }

    /// A new subscriber to the error stream.
    pub fn subscribe_error(&self) -> broadcast::Receiver<Bytes> {
        self.error.subscribe()
    }
}

/// The current time in RFC 3339 (UTC, seconds).
pub fn now_rfc3339() -> String {
    kes_proto::stored::Timestamp::now().to_rfc3339()
}
