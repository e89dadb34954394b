//! The DynamoDB adapter of [`LoyaltyStore`]: consistent `BatchGetItem` reads and write
//! plans executed by `sauda_shared::dynamo::execute` (one `TransactWriteItems`, or a
//! single write for a one-step plan), plus the few queries the ledger lists with.

use crate::model::{credits_gsi, partners_gsi, Account, Key};
use crate::store::{Fail, LedgerPage, LoyaltyStore};
use async_trait::async_trait;
use sauda_shared::dynamo::{self, from_item, item_s, key_attrs, s, store_err, Item, Reads};
use sauda_shared::keys;
use sauda_shared::partner::Partner;
use sauda_shared::plan::{PlanError, WritePlan};
use sauda_shared::ports::StoreError;
use sauda_shared::registry::{self, DynamoTenantRegistry};
use sauda_shared::tenant::RegistryEntry;
use sauda_shared::TenantId;
use std::sync::Arc;

/// A source of "now" in epoch milliseconds.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

#[derive(Clone)]
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// Wall clock unless replaced (tests move time to cross days and expiry dates).
    clock: Option<Clock>,
}

impl DynamoStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            clock: None,
        }
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Every item of a Query, following pages.
    async fn query_all(
        &self,
        what: &str,
        build: impl Fn(
            aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = build(self.client.query().table_name(&self.table))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_err(what, e))?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }
}

#[async_trait]
impl LoyaltyStore for DynamoStore {
    fn now_ms(&self) -> i64 {
        self.clock
            .as_ref()
            .map_or_else(sauda_shared::now_ms, |clock| clock())
    }

    async fn read(&self, keys: &[Key]) -> Result<Reads, StoreError> {
        dynamo::batch_get(&self.client, &self.table, keys, true).await
    }

    async fn write(&self, plan: &WritePlan<Fail>) -> Result<(), PlanError<Fail>> {
        dynamo::execute(&self.client, &self.table, plan).await
    }

    async fn ledger_page(
        &self,
        tenant: &TenantId,
        contact: &str,
        limit: u32,
        after_sk: Option<&str>,
    ) -> Result<LedgerPage, StoreError> {
        let pk = keys::contact_pk(tenant, contact);
        let start = after_sk.map(|sk| key_attrs(&(pk.clone(), sk.to_owned())));
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(keys::LEDGER_SK_PREFIX))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| store_err("history", e))?;
        let entries = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<_, _>>()?;
        let last_sk = out
            .last_evaluated_key
            .map(|k| item_s(&k, "SK").to_owned())
            .filter(|sk| !sk.is_empty());
        Ok(LedgerPage { entries, last_sk })
    }

    async fn ledger_points(
        &self,
        tenant: &TenantId,
        contact: &str,
    ) -> Result<Vec<i64>, StoreError> {
        let pk = keys::contact_pk(tenant, contact);
        let items = self
            .query_all("ledger", |q| {
                q.key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                    .expression_attribute_values(":pk", s(pk.clone()))
                    .expression_attribute_values(":prefix", s(keys::LEDGER_SK_PREFIX))
                    .projection_expression("points")
                    .consistent_read(true)
            })
            .await?;
        // A number that is no i64 is reported, never read as 0: this is the audit.
        items
            .iter()
            .map(|item| {
                item.get("points")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse::<i64>().ok())
                    .ok_or_else(|| {
                        StoreError::Unavailable(format!(
                            "ledger entry {} has no integer points",
                            item_s(item, "SK")
                        ))
                    })
            })
            .collect()
    }

    async fn partners(
        &self,
        tenant: &TenantId,
        status: Option<&str>,
    ) -> Result<Vec<Partner>, StoreError> {
        let items = self
            .query_all("list partners", |q| {
                let q = q
                    .index_name("GSI1")
                    .expression_attribute_values(":pk", s(partners_gsi(tenant)));
                // DynamoDB refuses an empty key-condition value, so no `begins_with ""`.
                match status {
                    Some(st) => q
                        .key_condition_expression("GSI1PK = :pk AND begins_with(GSI1SK, :prefix)")
                        .expression_attribute_values(":prefix", s(format!("{st}#"))),
                    None => q.key_condition_expression("GSI1PK = :pk"),
                }
            })
            .await?;
        items.into_iter().map(from_item).collect()
    }

    async fn accounts_due(
        &self,
        tenant: &TenantId,
        before_day: &str,
    ) -> Result<Vec<String>, StoreError> {
        let items = self
            .query_all("expiry index", |q| {
                q.index_name("GSI1")
                    .key_condition_expression("GSI1PK = :pk AND GSI1SK < :bound")
                    .expression_attribute_values(":pk", s(credits_gsi(tenant)))
                    .expression_attribute_values(":bound", s(before_day))
                    .projection_expression("contact")
            })
            .await?;
        Ok(items
            .iter()
            .map(|item| item_s(item, "contact").to_owned())
            .filter(|contact| !contact.is_empty())
            .collect())
    }

    async fn expiry_tenants(&self) -> Result<Vec<RegistryEntry>, StoreError> {
        let registry = DynamoTenantRegistry::new(self.client.clone(), &self.table);
        Ok(registry::all(&registry)
            .await?
            .into_iter()
            .filter(|entry| entry.loyalty_expiry)
            .collect())
    }

    async fn accounts(&self, tenant: &TenantId) -> Result<Vec<Account>, StoreError> {
        let mut start = None;
        let mut accounts = Vec::new();
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(PK, :p) AND SK = :sk")
                .expression_attribute_values(":p", s(format!("{}C#", keys::tenant_prefix(tenant))))
                .expression_attribute_values(":sk", s(keys::LOYALTY_SK))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_err("audit scan", e))?;
            for item in out.items.unwrap_or_default() {
                accounts.push(from_item::<Account>(item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(accounts);
            }
        }
    }
}
