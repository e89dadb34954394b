//! The ports of the admin API.

use async_trait::async_trait;
use sauda_shared::apikey::{ApiKeyRecord, IssuedKey, Role};
use sauda_shared::changes::Change;
use sauda_shared::ports::StoreError;
use sauda_shared::tenant::TenantConfig;
use sauda_shared::TenantId;

#[async_trait]
pub trait AdminStore: Send + Sync {
    /// The stored config (consistent read: the admin's own last change is seen).
    async fn config(&self, tenant: &TenantId) -> Result<Option<TenantConfig>, StoreError>;
    /// Replaces the config and its registry entry and records `change`, in one transaction.
    async fn save(&self, config: &TenantConfig, change: &Change) -> Result<(), StoreError>;
    /// Records a change made elsewhere (a key issued or revoked).
    async fn record(&self, tenant: &TenantId, change: &Change) -> Result<(), StoreError>;
}

/// The tenant's API keys (`sauda_shared::apikey`).
#[async_trait]
pub trait KeyAdmin: Send + Sync {
    async fn issue(
        &self,
        tenant: &TenantId,
        role: Role,
        label: &str,
    ) -> Result<IssuedKey, StoreError>;
    async fn list(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError>;
    async fn revoke(&self, tenant: &TenantId, key_id: &str) -> Result<bool, StoreError>;
}
