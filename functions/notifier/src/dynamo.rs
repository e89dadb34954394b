//! The delivery log in the single table: `T#{t}#NOTICE#{id}` / `TO#{chat}`, one marker
//! per recipient, kept 30 days.

use crate::store::{DeliveryLog, DeliveryState};
use async_trait::async_trait;
use sauda_shared::dynamo::{self, item_n};
use sauda_shared::keys;
use sauda_shared::plan::{PlanError, WritePlan};
use sauda_shared::ports::StoreError;
use sauda_shared::TenantId;
use serde::Serialize;
use std::collections::HashSet;

/// Markers live 30 days: far longer than any redelivery of the notice.
const MARKER_TTL_S: i64 = 30 * 24 * 3600;

pub struct DynamoDeliveryLog {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoDeliveryLog {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

#[derive(Serialize)]
struct Marker {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    chat_id: i64,
    state: &'static str,
    at_ms: i64,
    expires_at: i64,
}

#[async_trait]
impl DeliveryLog for DynamoDeliveryLog {
    async fn finished(
        &self,
        tenant: &TenantId,
        notice_id: &str,
    ) -> Result<HashSet<i64>, StoreError> {
        let (pk, _) = keys::notice_delivery(tenant, notice_id, 0);
        let items = dynamo::query_partition(&self.client, &self.table, &pk, None).await?;
        Ok(items
            .iter()
            .filter(|item| item.contains_key("chat_id"))
            .map(|item| item_n(item, "chat_id"))
            .collect())
    }

    async fn record(
        &self,
        tenant: &TenantId,
        notice_id: &str,
        chat_id: i64,
        state: DeliveryState,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::notice_delivery(tenant, notice_id, chat_id);
        let now = sauda_shared::now_ms();
        let mut plan = WritePlan::<()>::new();
        let marker = Marker {
            pk,
            sk,
            chat_id,
            state: state.as_str(),
            at_ms: now,
            expires_at: now / 1000 + MARKER_TTL_S,
        };
        plan.put(marker, None);
        dynamo::execute(&self.client, &self.table, &plan)
            .await
            .map_err(|e| match e {
                PlanError::Store(e) => e,
                other => StoreError::Unavailable(format!("record notice delivery: {other:?}")),
            })
    }
}
