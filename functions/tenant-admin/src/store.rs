//! The ports of the admin API.

use crate::catalog::ImportJob;
use agent_reply::catalog::Manifest;
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

/// The catalog's files in S3: uploads and versions.
#[async_trait]
pub trait CatalogFiles: Send + Sync {
    /// A URL the client PUTs exactly `size` bytes of `content_type` to, valid for `ttl`
    /// (signed locally: no AWS call).
    async fn presign_upload(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        ttl: std::time::Duration,
    ) -> Result<String, StoreError>;
    /// The uploaded file; `None` if absent (an error if larger than `max`).
    async fn read_upload(&self, key: &str, max: u64) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores a version (source, index, then its manifest).
    async fn put_version(
        &self,
        manifest: &Manifest,
        source: Vec<u8>,
        bundle: Vec<u8>,
    ) -> Result<(), StoreError>;
    /// A complete version of this tenant's catalog, `None` if there is none.
    async fn manifest(
        &self,
        tenant: &TenantId,
        version: &str,
    ) -> Result<Option<Manifest>, StoreError>;
}

/// Import jobs and their queue.
#[async_trait]
pub trait ImportJobs: Send + Sync {
    /// Stores a new job with the change recording it, in one transaction.
    async fn create(&self, job: &ImportJob, change: &Change) -> Result<(), StoreError>;
    async fn get(&self, tenant: &TenantId, id: &str) -> Result<Option<ImportJob>, StoreError>;
    /// Replaces a job's state.
    async fn put(&self, job: &ImportJob) -> Result<(), StoreError>;
    /// Hands a job to the worker.
    async fn enqueue(&self, tenant: &TenantId, id: &str) -> Result<(), StoreError>;
}
