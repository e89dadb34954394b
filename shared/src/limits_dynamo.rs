//! DynamoDB adapter of [`crate::limits::UsageStore`]: the month's usage partition.

use crate::dynamo::{self, item_n, item_s, Item};
use crate::limits::{MonthUsage, UsageStore, PLAN_USAGE_SK};
use crate::plan::{Op, PlanError, Update, WritePlan};
use crate::ports::StoreError;
use crate::tenant::TenantId;
use async_trait::async_trait;

pub struct DynamoUsage {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoUsage {
    pub fn new(client: aws_sdk_dynamodb::Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_owned(),
        }
    }
}

/// Folds the month's items: the plan counters (`PLAN`) and the AI spend (`USAGE`).
pub fn fold(items: Vec<Item>) -> Result<MonthUsage, StoreError> {
    let mut usage = MonthUsage::default();
    for item in items {
        match item_s(&item, "SK") {
            PLAN_USAGE_SK => {
                let cost = usage.ai_cost_micros;
                usage = dynamo::from_item(item)?;
                usage.ai_cost_micros = cost;
                for key in ["PK", "SK", "tenant", "month"] {
                    usage.marks.remove(key);
                }
            }
            "USAGE" => usage.ai_cost_micros = item_n(&item, "cost_micros"),
            _ => {}
        }
    }
    Ok(usage)
}

#[async_trait]
impl UsageStore for DynamoUsage {
    async fn month(&self, tenant: &TenantId, month: &str) -> Result<MonthUsage, StoreError> {
        let pk = crate::keys::ai_usage(tenant, month).0;
        fold(dynamo::query_partition(&self.client, &self.table, &pk, None).await?)
    }

    async fn mark(&self, update: Update) -> Result<bool, StoreError> {
        let mut plan = WritePlan::new();
        plan.push_or(Op::Update(update), ());
        match dynamo::execute(&self.client, &self.table, &plan).await {
            Ok(()) => Ok(true),
            Err(PlanError::Rejected(())) | Err(PlanError::Stale(_)) => Ok(false),
            Err(PlanError::Store(e)) => Err(e),
        }
    }
}
