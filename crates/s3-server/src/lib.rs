//! The Coffer object server: the S3 API (via s3s: routing, SigV4 header, presigned and
//! streaming auth, XML) over a pluggable storage backend, with MinIO's health endpoints,
//! Prometheus metrics and a JSON access log.
//!
//! Users: the first configured user is root and may do everything; every other user owns
//! the buckets it creates and reaches other buckets only through their bucket policies.
//!
//! Objects are encrypted on request or always (SSE-S3, SSE-KMS with keys from a KMS,
//! SSE-C with the client's keys; bucket defaults and auto-encryption), see [`sse`].
//!
//! Buckets can keep versions, lock them (object lock) and expire them (lifecycle).
//!
//! What it does not do yet: IAM policies attached to users.

pub mod admin;
pub mod cors;
pub mod http;
pub mod lifecycle;
pub mod precheck;
pub mod recover;
pub mod s3;
pub mod sse;
pub mod store;

use std::sync::Arc;

/// The region this server reports.
pub const REGION: &str = "us-east-1";

/// Everything needed to run an object server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `host:port` to listen on.
    pub address: String,
    /// Access key / secret key pairs; the first is the root user.
    pub users: Vec<(String, String)>,
    /// Virtual-host-style base domain(s) (`MINIO_DOMAIN`), if any.
    pub domains: Vec<String>,
    /// TLS certificate chain and key (PEM files), if HTTPS.
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Print one JSON line per request to stdout.
    pub access_log: bool,
    /// Origins allowed by buckets without a CORS configuration
    /// (`MINIO_API_CORS_ALLOW_ORIGIN`; empty means `*`).
    pub cors_allow_origin: Vec<String>,
    /// The KMS for SSE-S3 and SSE-KMS (`None`: those answer `NotImplemented`).
    pub kms: Option<Arc<dyn kms::Kms>>,
    /// `MINIO_KMS_AUTO_ENCRYPTION=on`: SSE-S3 for writes that ask for no encryption.
    pub auto_encryption: bool,
    /// Accept SSE-C over plain HTTP (test rigs only; the key then crosses the network
    /// in clear).
    pub insecure_sse_c: bool,
    /// The length of a lifecycle day ([`lifecycle::DAY`]; shorter only to test rules).
    pub lifecycle_day: std::time::Duration,
    /// Bounds on what clients may hold.
    pub limits: Limits,
}

pub use net::Limits;

/// Builds the s3s service over a store.
pub fn service(
    store: Arc<dyn store::ObjectStore>,
    config: &ServerConfig,
) -> Result<s3s::service::S3Service, String> {
    let root = config
        .users
        .first()
        .map(|(access, _)| access.as_str())
        .ok_or("no users configured")?;
    let sse = Arc::new(
        sse::Sse::new(config.kms.clone(), config.auto_encryption)
            .with_insecure_customer_keys(config.insecure_sse_c),
    );
    let mut builder =
        s3s::service::S3ServiceBuilder::new(s3::CofferS3::new(store.clone(), sse, root));
    builder.set_access(s3::PolicyAccess::new(store, root));
    builder.set_route(admin::KmsAdmin::new(config.kms.clone(), root));
    builder.set_auth(http::Users::new(&config.users));
    builder.set_host(http::Host::new(&config.domains));
    Ok(builder.build())
}

/// A running object server.
#[derive(Debug)]
pub struct Running {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    /// Whether it serves HTTPS.
    pub https: bool,
    task: tokio::task::JoinHandle<()>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Running {
    /// Serves until the process ends.
    pub async fn wait(self) {
        let _ = (&mut { self }.task).await;
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully: no new connections,
    /// requests in flight finish (for at most `bound`). Returns whether they all did.
    pub async fn serve_until_signal(mut self, bound: std::time::Duration) -> bool {
        let signalled = async {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{signal, SignalKind};
                match signal(SignalKind::terminate()) {
                    Ok(mut term) => {
                        tokio::select! {
                            _ = term.recv() => "SIGTERM",
                            _ = tokio::signal::ctrl_c() => "SIGINT",
                        }
                    }
                    Err(_) => {
                        let _ = tokio::signal::ctrl_c().await;
                        "SIGINT"
                    }
                }
            }
            #[cfg(not(unix))]
            {
                let _ = tokio::signal::ctrl_c().await;
                "Ctrl-C"
            }
        };
        tokio::select! {
            _ = &mut self.task => return true,
            which = signalled => {
                tracing::warn!(
                    "{which}: finishing requests in flight (at most {} s)",
                    bound.as_secs()
                );
            }
        }
        let _ = self.stop.send(true);
        let finished = tokio::time::timeout(bound, &mut self.task).await.is_ok();
        if !finished {
            tracing::warn!(
                "requests still in flight after {} s; stopping anyway",
                bound.as_secs()
            );
        }
        finished
    }
}

/// Opens the filesystem store in `dir` and starts serving.
pub async fn start(dir: &std::path::Path, config: ServerConfig) -> Result<Running, String> {
    let store = store::fs::FsStore::open(dir)
        .map_err(|e| format!("data directory {}: {e}", dir.display()))?;
    start_with_store(Arc::new(store), config).await
}

/// Starts serving over any store (the S3 gateway's, for one).
pub async fn start_with_store(
    store: Arc<dyn store::ObjectStore>,
    config: ServerConfig,
) -> Result<Running, String> {
    let service = service(store.clone(), &config)?;
    tokio::spawn(lifecycle::run(store.clone(), config.lifecycle_day));
    http::serve(service, store, config).await
}
