//! DynamoDB adapters of the admin API's ports: a config change is one transaction (the
//! config, its registry entry and the history item); the history is one Query of
//! `T#{t}#CHANGES`, newest first.

use crate::store::{AdminStore, KeyAdmin};
use async_trait::async_trait;
use sauda_shared::apikey::{ApiKeyRecord, ApiKeyStore, IssuedKey, Role};
use sauda_shared::changes::{self, Change, ChangeLog};
use sauda_shared::dynamo::{self, s, store_err};
use sauda_shared::plan::{Cond, Op, PlanError, Record, WritePlan};
use sauda_shared::ports::StoreError;
use sauda_shared::tenant::{ConfigItem, RegistryEntry, TenantConfig};
use sauda_shared::TenantId;
use std::collections::HashMap;

pub struct DynamoAdmin {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoAdmin {
    pub fn new(client: aws_sdk_dynamodb::Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_owned(),
        }
    }

    async fn run(&self, plan: &WritePlan<()>) -> Result<(), StoreError> {
        dynamo::execute(&self.client, &self.table, plan)
            .await
            .map_err(|e| match e {
                PlanError::Store(e) => e,
                // The tenant vanished (or a history id collided): nothing was written.
                PlanError::Rejected(()) | PlanError::Stale(_) => {
                    StoreError::Rejected("the tenant's config changed under the request".into())
                }
            })
    }
}

#[async_trait]
impl AdminStore for DynamoAdmin {
    async fn config(&self, tenant: &TenantId) -> Result<Option<TenantConfig>, StoreError> {
        sauda_shared::aws::read_tenant_config(&self.client, &self.table, tenant, true).await
    }

    async fn save(&self, config: &TenantConfig, change: &Change) -> Result<(), StoreError> {
        let mut plan = WritePlan::new();
        plan.push_or(
            Op::Put {
                record: Record::new(ConfigItem::new(config.clone())),
                cond: Some(Cond::item_exists()),
            },
            (),
        );
        plan.push_or(
            Op::Put {
                record: Record::new(RegistryEntry::from_config(config)),
                cond: Some(Cond::item_exists()),
            },
            (),
        );
        plan.push_or(changes::history_put(&config.tenant, change), ());
        self.run(&plan).await
    }

    async fn record(&self, tenant: &TenantId, change: &Change) -> Result<(), StoreError> {
        let mut plan = WritePlan::new();
        plan.push_or(changes::history_put(tenant, change), ());
        self.run(&plan).await
    }
}

#[async_trait]
impl ChangeLog for DynamoAdmin {
    async fn list(
        &self,
        tenant: &TenantId,
        limit: usize,
        after: Option<&str>,
    ) -> Result<(Vec<Change>, Option<String>), StoreError> {
        let pk = changes::history_pk(tenant);
        let start = after
            .map(|sk| HashMap::from([("PK".to_owned(), s(pk.clone())), ("SK".to_owned(), s(sk))]));
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(pk.clone()))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| store_err("list changes", e))?;
        let next = out
            .last_evaluated_key
            .as_ref()
            .map(|k| dynamo::item_s(k, "SK").to_owned());
        let changes = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(dynamo::from_item::<Change>)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((changes, next))
    }
}

#[async_trait]
impl KeyAdmin for ApiKeyStore {
    async fn issue(
        &self,
        tenant: &TenantId,
        role: Role,
        label: &str,
    ) -> Result<IssuedKey, StoreError> {
        ApiKeyStore::issue(self, tenant, role, label).await
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        ApiKeyStore::list(self, tenant).await
    }

    async fn revoke(&self, tenant: &TenantId, key_id: &str) -> Result<bool, StoreError> {
        ApiKeyStore::revoke(self, tenant, key_id).await
    }
}
