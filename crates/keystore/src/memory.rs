//! An in-memory keystore: for tests and `coffer kes server --dev`. Everything is lost
//! when the process exits.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::sync::RwLock;
use zeroize::Zeroizing;

use crate::{Error, KeyStore, Result, Status};

/// Keys in a map guarded by a lock.
#[derive(Default)]
pub struct MemoryKeyStore {
    keys: RwLock<BTreeMap<String, Zeroizing<Vec<u8>>>>,
}

impl std::fmt::Debug for MemoryKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryKeyStore")
    }
}

impl MemoryKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait::async_trait]
impl KeyStore for MemoryKeyStore {
    async fn create(&self, name: &str, value: &[u8]) -> Result<()> {
        let mut keys = self.keys.write().await;
        if keys.contains_key(name) {
            return Err(Error::AlreadyExists);
        }
        keys.insert(name.to_string(), Zeroizing::new(value.to_vec()));
        Ok(())
    }

    async fn get(&self, name: &str) -> Result<Zeroizing<Vec<u8>>> {
        self.keys
            .read()
            .await
            .get(name)
            .cloned()
            .ok_or(Error::NotFound)
    }

    async fn delete(&self, name: &str) -> Result<()> {
        self.keys
            .write()
            .await
            .remove(name)
            .map(|_| ())
            .ok_or(Error::NotFound)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let keys = self.keys.read().await;
        Ok(keys
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }

    async fn status(&self) -> Result<Status> {
        let start = Instant::now();
        drop(self.keys.read().await);
        Ok(Status {
            latency: start.elapsed().max(Duration::from_nanos(1)),
        })
    }
}
