//! A tenant's catalog, published as the import does (index bundle and manifest in S3)
//! and activated through the operator CLI's code.

use crate::TestEnv;
use agent_reply::catalog::index::INDEX_FORMAT;
use agent_reply::catalog::store::{new_version, version_prefix};
use agent_reply::catalog::{CatalogIndex, CatalogItem, CatalogStore, Manifest};
use sauda_shared::TenantId;

impl TestEnv {
    /// Builds, uploads and activates a catalog of `items`; returns its version.
    pub async fn install_catalog_items(&self, tenant: &TenantId, items: &[CatalogItem]) -> String {
        let bucket = self
            .stack
            .bucket
            .clone()
            .expect("the template has a bucket");
        let index = CatalogIndex::build(items, |_, _| {}).expect("index builds");
        let bundle = index.to_bundle().expect("bundle");
        let version = new_version(sauda_shared::now_ms());
        let prefix = version_prefix(tenant, &version);
        let manifest = Manifest {
            tenant: tenant.clone(),
            version: version.clone(),
            created_at_ms: sauda_shared::now_ms(),
            source_file: "test.csv".into(),
            source_key: format!("{prefix}source.csv"),
            index_key: format!("{prefix}index.tar"),
            index_bytes: bundle.len() as u64,
            items: items.len() as u64,
            data_rows: items.len() as u64,
            blank_rows: 0,
            rejected_rows: 0,
            rejected_sample: Vec::new(),
            index_format: INDEX_FORMAT,
        };
        CatalogStore::new(self.clients.s3.clone(), &bucket)
            .put_version(&manifest, b"sku,name\n".to_vec(), bundle)
            .await
            .expect("upload");
        sauda_infra::catalog_cli::activate_version(
            &self.clients,
            &self.stack.table,
            &bucket,
            tenant,
            &version,
        )
        .await
        .expect("activate");
        version
    }
}
