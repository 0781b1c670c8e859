//! The Coffer key server: a KES-compatible HTTPS API (spec `kes-api.md` §2) between
//! object servers and a central keystore.
//!
//! It is stateless apart from an in-memory key cache: every key lives in the keystore.
//! Clients are identified by the SHA-256 of their certificate's public key and
//! authorized by the admin identity or by policies from the configuration file.
//!
//! What it does not do: store policies or identities at runtime (they come from the
//! configuration, as in current KES), or serve plain HTTP.

pub mod cache;
pub mod config;
pub mod handlers;
pub mod logs;
pub mod metrics;
pub mod policy;
pub mod routes;
pub mod server;
pub mod tls;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use config::{Config, KeystoreConfig};
use keystore::KeyStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use server::State;

/// Opens the keystore a configuration names. Does not contact remote keystores: a
/// Vault that is down shows as unreachable once the server runs.
pub fn open_keystore(config: &KeystoreConfig) -> Result<Arc<dyn KeyStore>, String> {
    match config {
        KeystoreConfig::Memory => Ok(Arc::new(keystore::MemoryKeyStore::new())),
        KeystoreConfig::Fs { path } => keystore::FsKeyStore::open(path)
            .map(|s| Arc::new(s) as Arc<dyn KeyStore>)
            .map_err(|e| format!("keystore.fs.path {}: {e}", path.display())),
        KeystoreConfig::Vault(v) => keystore::VaultKeyStore::new((**v).clone())
            .map(|s| Arc::new(s) as Arc<dyn KeyStore>)
            .map_err(|e| format!("keystore.vault: {e}")),
        KeystoreConfig::Aws(a) => keystore::AwsSecretsManagerKeyStore::new((**a).clone())
            .map(|s| Arc::new(s) as Arc<dyn KeyStore>)
            .map_err(|e| format!("keystore.aws.secretsmanager: {e}")),
    }
}

/// A running key server.
#[derive(Debug)]
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state (for tests and metrics).
    pub state: Arc<State>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Waits until the server stops (it runs until the process ends).
    pub async fn wait(mut self) {
        if let Some(t) = self.tasks.pop() {
            let _ = t.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// TLS material of the server: certificate chain and key.
#[derive(Debug)]
pub struct ServerIdentity {
    /// Certificate chain, leaf first.
    pub certs: Vec<CertificateDer<'static>>,
    /// Private key.
    pub key: PrivateKeyDer<'static>,
}

/// Starts a key server: binds, creates the configured keys, starts cache maintenance
/// and serves until dropped.
pub async fn start(
    config: Config,
    store: Arc<dyn KeyStore>,
    identity: ServerIdentity,
) -> Result<Running, String> {
    tls::install_provider();
    let addr = config.address.clone();
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let state = Arc::new(State::new(config, store));
    let tls = tls::server_config(
        identity.certs,
        identity.key,
        state.config.tls.client_ca.as_deref(),
        state.any_skip_auth(),
    )?;
    for name in &state.config.keys {
        let key = kes_proto::stored::StoredKey::generate(
            kes_proto::crypto::Algorithm::Aes256,
            state.config.admin.as_deref().unwrap_or(""),
            kes_proto::stored::Timestamp::now(),
        )
        .map_err(|e| format!("keys: {e}"))?;
        match state
            .cache
            .store()
            .create(name, key.encode().as_bytes())
            .await
        {
            Ok(()) | Err(keystore::Error::AlreadyExists) => {}
            Err(e) => return Err(format!("keys: cannot create key {name}: {e}")),
        }
    }
    let tasks = vec![
        tokio::spawn(maintain_cache(state.clone())),
        tokio::spawn(server::serve(
            state.clone(),
            listener,
            tls,
            net::Limits::default(),
        )),
    ];
    Ok(Running {
        addr: local,
        state,
        tasks,
    })
}

/// How often the keystore health probe runs.
const PROBE_INTERVAL: Duration = Duration::from_secs(10);

/// The cache sweeps of spec §5.3: `any` clears everything, `unused/2` drops keys not
/// used since the last sweep, a health probe marks the keystore offline; while offline
/// with `offline` expiry set, the normal sweeps pause and everything is cleared every
/// `offline` instead, so cached keys keep serving through an outage.
async fn maintain_cache(state: Arc<State>) {
    let c = state.config.cache;
    let tick = Duration::from_millis(250);
    let (mut last_any, mut last_unused, mut last_probe, mut last_offline) = {
        let now = tokio::time::Instant::now();
        (now, now, now, now)
    };
    loop {
        tokio::time::sleep(tick).await;
        let now = tokio::time::Instant::now();
        if now - last_probe >= PROBE_INTERVAL {
            last_probe = now;
            let down = state.cache.store().status().await.is_err();
            let was = state.offline.swap(down, Ordering::Relaxed);
            if down && !was {
                state.log_error("key store is not reachable");
                last_offline = now;
            }
        }
        let offline_mode = state.offline.load(Ordering::Relaxed) && !c.offline.is_zero();
        if offline_mode {
            if now - last_offline >= c.offline {
                last_offline = now;
                state.cache.clear();
            }
            continue;
        }
        if !c.any.is_zero() && now - last_any >= c.any {
            last_any = now;
            state.cache.clear();
        }
        if !c.unused.is_zero() && now - last_unused >= c.unused / 2 {
            last_unused = now;
            state.cache.sweep_unused();
        }
    }
}
