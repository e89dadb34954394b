//! Prices come from the tenant's catalog, never from a caller's text: the port an
//! order is priced through, and its adapter over the agent's catalog indexes (S3,
//! cached per warm instance, immutable per version).

use agent_reply::catalog::{CatalogCache, CatalogError, CatalogItem};
use async_trait::async_trait;
use sauda_shared::tenant::TenantConfig;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    /// The tenant has no active catalog (or not the version asked for).
    #[error("the tenant has no catalog to price from")]
    NoCatalog,
    #[error("catalog unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait PriceBook: Send + Sync {
    /// The items of `skus` found in catalog `version` (the active one when `None`), by
    /// exact SKU; SKUs not in the catalog are simply absent.
    async fn items(
        &self,
        config: &TenantConfig,
        version: Option<&str>,
        skus: &[String],
    ) -> Result<Vec<CatalogItem>, PriceError>;
}

/// The catalog indexes the agent searches, looked up by SKU.
pub struct CatalogPrices {
    pub cache: Arc<CatalogCache>,
}

#[async_trait]
impl PriceBook for CatalogPrices {
    async fn items(
        &self,
        config: &TenantConfig,
        version: Option<&str>,
        skus: &[String],
    ) -> Result<Vec<CatalogItem>, PriceError> {
        let known = |v: &str| {
            config.catalog.active_version.as_deref() == Some(v)
                || config.catalog.previous_versions.iter().any(|p| p == v)
        };
        let version = match version {
            // Only versions this tenant published: a stale caller gets the active one.
            Some(v) if known(v) => v.to_owned(),
            _ => config
                .catalog
                .active_version
                .clone()
                .ok_or(PriceError::NoCatalog)?,
        };
        let index = match self.cache.get(&config.tenant, &version).await {
            Ok(index) => index,
            Err(CatalogError::VersionNotFound(_)) => return Err(PriceError::NoCatalog),
            Err(e) => return Err(PriceError::Unavailable(e.to_string())),
        };
        Ok(skus.iter().filter_map(|sku| index.by_sku(sku)).collect())
    }
}
