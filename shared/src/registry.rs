//! The platform's tenant registry (`PLATFORM` / `TENANT#{t}`), read page by page by
//! fan-out jobs (the report planner, sweeps): one page is one Query of up to 1 MB.

use crate::dynamo::{s, Item};
use crate::keys;
use crate::ports::StoreError;
use crate::tenant::RegistryEntry;
use async_trait::async_trait;
use std::collections::HashMap;

/// One page of the registry.
#[derive(Clone, Debug, Default)]
pub struct RegistryPage {
    pub entries: Vec<RegistryEntry>,
    /// Entries that did not parse (logged by the adapter and left out).
    pub skipped: usize,
    /// Where the next page starts (the last sort key read); `None` after the last page.
    pub next: Option<String>,
}

#[async_trait]
pub trait TenantRegistry: Send + Sync {
    /// The page after `after` (a [`RegistryPage::next`]), or the first page.
    async fn page(&self, after: Option<&str>) -> Result<RegistryPage, StoreError>;
}

/// Every entry of the registry, following pages.
pub async fn all(registry: &dyn TenantRegistry) -> Result<Vec<RegistryEntry>, StoreError> {
    let mut entries = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = registry.page(after.as_deref()).await?;
        entries.extend(page.entries);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(entries),
        }
    }
}

pub struct DynamoTenantRegistry {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoTenantRegistry {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl TenantRegistry for DynamoTenantRegistry {
    async fn page(&self, after: Option<&str>) -> Result<RegistryPage, StoreError> {
        let start: Option<Item> = after.map(|sk| {
            HashMap::from([
                ("PK".to_owned(), s(keys::PLATFORM_PK)),
                ("SK".to_owned(), s(sk)),
            ])
        });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :sk)")
            .expression_attribute_values(":pk", s(keys::PLATFORM_PK))
            .expression_attribute_values(":sk", s("TENANT#"))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| crate::dynamo::store_err("read tenant registry", e))?;
        let mut page = RegistryPage {
            next: out
                .last_evaluated_key
                .as_ref()
                .map(|key| crate::dynamo::item_s(key, "SK").to_owned())
                .filter(|sk| !sk.is_empty()),
            ..Default::default()
        };
        for item in out.items.unwrap_or_default() {
            let sk = crate::dynamo::item_s(&item, "SK").to_owned();
            match serde_dynamo::from_item::<_, RegistryEntry>(item) {
                Ok(entry) => page.entries.push(entry),
                Err(error) => {
                    tracing::warn!(%sk, %error, "malformed registry entry skipped");
                    page.skipped += 1;
                }
            }
        }
        Ok(page)
    }
}
