//! The DynamoDB adapters of the agent's ports, executed with `sauda_shared::dynamo`.
//!
//! The conversation is one Query, descending with `SK >= "MSG#"` and `Limit 21`:
//! `PROFILE` sorts after every `MSG#…` key and is the only contact key that does (see
//! `keys`), so it comes first, then the newest 20 messages: profile, history,
//! idempotency (the inbound message's `reply_state`) and the rate-limit window in one
//! read. A job's outcome is one `TransactWriteItems` built from its write plan.

use crate::conversation::{Conversation, HISTORY};
use crate::store::{AlreadyHandled, ConversationStore, MonthUsage, UsageStore, WriteOutcome};
use crate::usage::{self, Marker, Tally};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use sauda_shared::dynamo::{self, item_n, item_s, key_attrs, s, store_err, Expr, Item};
use sauda_shared::keys;
use sauda_shared::plan::{PlanError, WritePlan};
use sauda_shared::ports::StoreError;
use sauda_shared::TenantId;

pub struct DynamoConversations {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoConversations {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl ConversationStore for DynamoConversations {
    async fn read(&self, tenant: &TenantId, contact: &str) -> Result<Conversation, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK >= :msg")
            .expression_attribute_values(":pk", s(keys::contact_pk(tenant, contact)))
            .expression_attribute_values(":msg", s(keys::MESSAGE_SK_PREFIX))
            .scan_index_forward(false)
            .limit(HISTORY as i32 + 1)
            .send()
            .await
            .map_err(|e| store_err("read conversation", e))?;
        let mut conversation = Conversation::default();
        for item in out.items.unwrap_or_default() {
            let sk = item_s(&item, "SK");
            if sk == keys::CONTACT_PROFILE_SK {
                conversation.profile = Some(dynamo::from_item(item)?);
            } else if sk.starts_with(keys::MESSAGE_SK_PREFIX) {
                conversation.messages.push(dynamo::from_item(item)?);
            }
        }
        conversation.messages.truncate(HISTORY);
        Ok(conversation)
    }

    async fn commit(&self, plan: &WritePlan<AlreadyHandled>) -> Result<WriteOutcome, StoreError> {
        match dynamo::execute(&self.client, &self.table, plan).await {
            Ok(()) => Ok(WriteOutcome::Written),
            Err(PlanError::Rejected(AlreadyHandled)) => Ok(WriteOutcome::AlreadyHandled),
            Err(PlanError::Stale(reasons)) => Err(StoreError::Unavailable(format!(
                "reply write cancelled: {reasons:?}"
            ))),
            Err(PlanError::Store(e)) => Err(e),
        }
    }

    async fn loyalty_balance(
        &self,
        tenant: &TenantId,
        contact: &str,
    ) -> Result<Option<i64>, StoreError> {
        // An account absorbed by a phone link points at the survivor (one hop: a
        // survivor is never itself merged), whose balance is the customer's.
        let mut contact = contact.to_owned();
        for _ in 0..2 {
            let key = (
                keys::contact_pk(tenant, &contact),
                keys::LOYALTY_SK.to_owned(),
            );
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(key_attrs(&key)))
                .projection_expression("balance, merged_into")
                .send()
                .await
                .map_err(|e| store_err("read loyalty balance", e))?;
            let Some(item) = out.item else {
                return Ok(None);
            };
            match item_s(&item, "merged_into") {
                "" => return Ok(Some(item_n(&item, "balance"))),
                survivor if survivor == contact => return Ok(Some(item_n(&item, "balance"))),
                survivor => contact = survivor.to_owned(),
            }
        }
        Err(StoreError::Rejected(
            "loyalty merge chain longer than one hop".into(),
        ))
    }
}

pub struct DynamoUsage {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoUsage {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

fn month_usage(item: &Item) -> MonthUsage {
    MonthUsage {
        cost_micros: item_n(item, "cost_micros"),
        notified: Marker::ALL
            .into_iter()
            .filter(|m| item.contains_key(m.attribute()))
            .collect(),
    }
}

#[async_trait]
impl UsageStore for DynamoUsage {
    async fn read(&self, tenant: &TenantId, month: &str) -> Result<MonthUsage, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(&keys::ai_usage(tenant, month))))
            .send()
            .await
            .map_err(|e| store_err("read AI usage", e))?;
        Ok(month_usage(&out.item.unwrap_or_default()))
    }

    async fn add(
        &self,
        tenant: &TenantId,
        month: &str,
        tally: &Tally,
        now_ms: i64,
    ) -> Result<MonthUsage, StoreError> {
        // A plan step has no return values: the expression is built by the same
        // builder, and `ALL_NEW` brings the month's total back with the write.
        let update = usage::add_update(tenant, month, tally, now_ms);
        let mut e = Expr::default();
        let expression = e.update(&update);
        let (names, values) = e.into_maps();
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(&update.key)))
            .update_expression(expression)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| store_err("write AI usage", e))?;
        Ok(month_usage(&out.attributes.unwrap_or_default()))
    }

    async fn mark(
        &self,
        tenant: &TenantId,
        month: &str,
        marker: Marker,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut plan = WritePlan::new();
        plan.push_or(
            sauda_shared::plan::Op::Update(usage::mark_update(tenant, month, marker, now_ms)),
            (),
        );
        match dynamo::execute(&self.client, &self.table, &plan).await {
            Ok(()) => Ok(true),
            Err(PlanError::Rejected(())) => Ok(false),
            Err(PlanError::Stale(reasons)) => Err(StoreError::Unavailable(format!(
                "notice marker: {reasons:?}"
            ))),
            Err(PlanError::Store(e)) => Err(e),
        }
    }
}
