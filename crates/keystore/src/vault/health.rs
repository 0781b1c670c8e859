//! The connection to Vault with its health: every request goes through [`Conn`], which
//! keeps a sealed flag. A background task polls `sys/health` every `ping` and sets or
//! clears the flag; a request answered "Vault is sealed" sets it too. While it is set,
//! requests fail at once with [`SEALED`] instead of waiting on Vault, and the key server
//! answers 502 with a message that says so.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Weak;
use std::time::{Duration, Instant};

use hyper::Method;

use super::client::{Response, Transport};
use super::REQUEST_TIMEOUT;
use crate::{Error, Result, Status};

/// The error text of every operation while Vault is sealed.
pub const SEALED: &str = "vault: key store is sealed";

/// Transport, namespace and sealed flag, shared with the poller.
pub(super) struct Conn {
    http: Transport,
    /// The store's namespace (`X-Vault-Namespace`), if any.
    pub namespace: Option<String>,
    ping: Duration,
    sealed: AtomicBool,
}

impl Conn {
    pub fn new(http: Transport, namespace: Option<String>, ping: Duration) -> Self {
        Self {
            http,
            namespace,
            ping,
            sealed: AtomicBool::new(false),
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.http.endpoint
    }

    /// Fails fast while Vault is known to be sealed.
    pub fn check_sealed(&self) -> Result<()> {
        if self.sealed.load(Ordering::Relaxed) {
            Err(Error::Unreachable(SEALED.into()))
        } else {
            Ok(())
        }
    }

    /// `method /v1/<path>` in the store's namespace.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<Response> {
        self.send_in(method, path, token, self.namespace.as_deref(), body)
            .await
    }

    /// `method /v1/<path>` in namespace `ns`; notes a "sealed" answer.
    pub async fn send_in(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        ns: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<Response> {
        let r = self
            .http
            .send(method, path, token, ns, body, REQUEST_TIMEOUT)
            .await?;
        if r.status == 503 && r.errors().contains("sealed") {
            self.sealed.store(true, Ordering::Relaxed);
        }
        Ok(r)
    }

    /// Deadline of the health probe: `ping`, kept between 1 and 10 s.
    fn probe_timeout(&self) -> Duration {
        self.ping
            .clamp(Duration::from_secs(1), Duration::from_secs(10))
    }

    /// Asks `sys/health` and updates the sealed flag. Sealed, uninitialised, an error
    /// status or no answer are all "unreachable"; only a sealed answer sets the flag (for
    /// a Vault that does not answer, requests report their own transport error).
    pub async fn probe(&self) -> Result<Status> {
        let start = Instant::now();
        let r = self
            .http
            .send(
                Method::GET,
                "sys/health?standbyok=true&perfstandbyok=true",
                None,
                self.namespace.as_deref(),
                None,
                self.probe_timeout(),
            )
            .await;
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                self.sealed.store(false, Ordering::Relaxed);
                return Err(e);
            }
        };
        let latency = start.elapsed().max(Duration::from_nanos(1));
        let v = r.json();
        let sealed = v["sealed"].as_bool() == Some(true) || r.status == 503;
        self.sealed.store(sealed, Ordering::Relaxed);
        if sealed {
            return Err(Error::Unreachable(SEALED.into()));
        }
        if v["initialized"].as_bool() == Some(false) || r.status == 501 {
            return Err(Error::Unreachable("vault: not initialized".into()));
        }
        if r.status != 200 {
            return Err(Error::Unreachable(format!(
                "vault sys/health: HTTP {}",
                r.status
            )));
        }
        Ok(Status { latency })
    }
}

/// Polls `sys/health` every `every` until the store (the only strong owner of `conn`)
/// is dropped.
pub(super) fn spawn_poller(conn: Weak<Conn>, every: Duration) -> tokio::task::JoinHandle<()> {
    let every = every.max(Duration::from_millis(100));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(c) = conn.upgrade() else { return };
            let _ = c.probe().await;
        }
    })
}
