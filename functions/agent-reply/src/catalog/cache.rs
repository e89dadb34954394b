//! Opened catalog indexes per warm instance: least recently used first out, bounded by
//! total size so one instance serving many tenants keeps its memory in check.

use super::{CatalogError, CatalogIndex, CatalogStore};
use sauda_shared::TenantId;
use std::sync::{Arc, Mutex};
use tokio::sync::Mutex as AsyncMutex;

type Key = (TenantId, String);

pub struct CatalogCache {
    store: CatalogStore,
    max_bytes: usize,
    entries: Mutex<lru::LruCache<Key, Arc<CatalogIndex>>>,
    /// Serialises loads, so a cold instance downloads a version once.
    loading: AsyncMutex<()>,
}

impl CatalogCache {
    pub fn new(store: CatalogStore, max_bytes: usize) -> Self {
        Self {
            store,
            max_bytes,
            entries: Mutex::new(lru::LruCache::unbounded()),
            loading: AsyncMutex::new(()),
        }
    }

    fn cached(&self, key: &Key) -> Option<Arc<CatalogIndex>> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    /// The index of a tenant's catalog version; versions are immutable, so a cached
    /// one never goes stale (activating another version changes the key).
    pub async fn get(
        &self,
        tenant: &TenantId,
        version: &str,
    ) -> Result<Arc<CatalogIndex>, CatalogError> {
        let key = (tenant.clone(), version.to_owned());
        if let Some(hit) = self.cached(&key) {
            return Ok(hit);
        }
        let _guard = self.loading.lock().await;
        if let Some(hit) = self.cached(&key) {
            return Ok(hit);
        }
        let started = std::time::Instant::now();
        let index = Arc::new(self.store.load_index(tenant, version).await?);
        tracing::info!(%tenant, version, bytes = index.bytes, items = index.items, ms = started.elapsed().as_millis() as u64, "catalog index loaded");
        self.insert(key, index.clone());
        Ok(index)
    }

    fn insert(&self, key: Key, index: Arc<CatalogIndex>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.put(key, index);
        let mut total: usize = entries.iter().map(|(_, v)| v.bytes).sum();
        // Keep at least the newest entry even when it alone exceeds the budget.
        while total > self.max_bytes && entries.len() > 1 {
            match entries.pop_lru() {
                Some((evicted, v)) => {
                    total -= v.bytes;
                    tracing::info!(tenant = %evicted.0, version = %evicted.1, "catalog index evicted");
                }
                None => break,
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn store(&self) -> &CatalogStore {
        &self.store
    }
}
