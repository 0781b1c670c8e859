//! The in-memory key cache (spec §5.3): stored keys by name, loaded once per miss with
//! single-flight, evicted by the `any`/`unused`/`offline` sweeps.
//!
//! Entries are keyed strictly by name and never reused across names: a cache that hands
//! out the wrong key destroys data. Failures are never cached. A delete holds the name's
//! load lock, so a load racing with it cannot resurrect the deleted key.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use kes_proto::stored::StoredKey;
use keystore::{Error as StoreError, KeyStore};

struct Entry {
    key: Arc<StoredKey>,
    used: AtomicBool,
}

/// Cached keys in front of a keystore.
pub struct KeyCache {
    store: Arc<dyn KeyStore>,
    entries: RwLock<HashMap<String, Arc<Entry>>>,
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// Why a key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The keystore failed (not found, unreachable, …).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored value is not a key record.
    #[error("stored key {name} is not a valid key record: {reason}")]
    Corrupt {
        /// Key name.
        name: String,
        /// Decoder message.
        reason: String,
    },
}

impl KeyCache {
    /// An empty cache over `store`.
    pub fn new(store: Arc<dyn KeyStore>) -> Self {
        Self {
            store,
            entries: RwLock::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
        }
    }

    /// The keystore behind the cache.
    pub fn store(&self) -> &Arc<dyn KeyStore> {
        &self.store
    }

    /// Number of cached keys.
    pub fn len(&self) -> usize {
        self.entries.read().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether no key is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn cached(&self, name: &str) -> Option<Arc<StoredKey>> {
        let entries = self.entries.read().ok()?;
        let e = entries.get(name)?;
        e.used.store(true, Ordering::Relaxed);
        Some(e.key.clone())
    }

    fn flight(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        flights.entry(name.to_string()).or_default().clone()
    }

    fn land(&self, name: &str, flight: Arc<tokio::sync::Mutex<()>>) {
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        // The map and `flight` hold two references; more means someone else waits.
        if Arc::strong_count(&flight) <= 2 {
            flights.remove(name);
        }
    }

    /// The key `name`, from the cache or loaded from the keystore.
    pub async fn get(&self, name: &str) -> Result<Arc<StoredKey>, CacheError> {
        if let Some(k) = self.cached(name) {
            return Ok(k);
        }
        let flight = self.flight(name);
        let result = {
            let _guard = flight.lock().await;
            match self.cached(name) {
                Some(k) => Ok(k),
                None => self.load(name).await,
            }
        };
        self.land(name, flight);
        result
    }

    async fn load(&self, name: &str) -> Result<Arc<StoredKey>, CacheError> {
        let value = self.store.get(name).await?;
        let key = StoredKey::decode(&value).map_err(|e| CacheError::Corrupt {
            name: name.to_string(),
            reason: e.to_string(),
        })?;
        let key = Arc::new(key);
        let entry = Arc::new(Entry {
            key: key.clone(),
            used: AtomicBool::new(true),
        });
        if let Ok(mut entries) = self.entries.write() {
            entries.insert(name.to_string(), entry);
        }
        Ok(key)
    }

    /// Deletes `name` from the keystore, then from the cache.
    pub async fn delete(&self, name: &str) -> Result<(), StoreError> {
        let flight = self.flight(name);
        let result = {
            let _guard = flight.lock().await;
            let r = self.store.delete(name).await;
            self.evict(name);
            r
        };
        self.land(name, flight);
        result
    }

    /// Drops `name` from the cache.
    pub fn evict(&self, name: &str) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(name);
        }
    }

    /// Drops every cached key.
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }

    /// Drops keys not used since the previous sweep and marks the rest unused.
    pub fn sweep_unused(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.retain(|_, e| e.used.swap(false, Ordering::Relaxed));
        }
    }
}
