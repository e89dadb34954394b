//! Which recipients already have a notice: `T#{t}#NOTICE#{id}` / `TO#{chat}`.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_types::error::display::DisplayErrorContext;
use sauda_shared::keys;
use sauda_shared::ports::StoreError;
use sauda_shared::TenantId;
use std::collections::HashSet;

/// Markers live 30 days: far longer than any redelivery of the notice.
const MARKER_TTL_S: i64 = 30 * 24 * 3600;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    Sent,
    /// Telegram refused for good (bot blocked, chat not found): never retried.
    Undeliverable,
}

impl DeliveryState {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Sent => "sent",
            DeliveryState::Undeliverable => "undeliverable",
        }
    }
}

#[async_trait]
pub trait DeliveryLog: Send + Sync {
    /// Chats this notice is finished for (sent or undeliverable).
    async fn finished(
        &self,
        tenant: &TenantId,
        notice_id: &str,
    ) -> Result<HashSet<i64>, StoreError>;
    async fn record(
        &self,
        tenant: &TenantId,
        notice_id: &str,
        chat_id: i64,
        state: DeliveryState,
    ) -> Result<(), StoreError>;
}

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

#[async_trait]
impl DeliveryLog for DynamoDeliveryLog {
    async fn finished(
        &self,
        tenant: &TenantId,
        notice_id: &str,
    ) -> Result<HashSet<i64>, StoreError> {
        let (pk, _) = keys::notice_delivery(tenant, notice_id, 0);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .projection_expression("chat_id")
            .send()
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!(
                    "read notice deliveries: {}",
                    DisplayErrorContext(&e)
                ))
            })?;
        Ok(out
            .items()
            .iter()
            .filter_map(|item| item.get("chat_id")?.as_n().ok()?.parse().ok())
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
        self.client
            .put_item()
            .table_name(&self.table)
            .item("PK", AttributeValue::S(pk))
            .item("SK", AttributeValue::S(sk))
            .item("chat_id", AttributeValue::N(chat_id.to_string()))
            .item("state", AttributeValue::S(state.as_str().to_owned()))
            .item("at_ms", AttributeValue::N(now.to_string()))
            .item(
                "expires_at",
                AttributeValue::N((now / 1000 + MARKER_TTL_S).to_string()),
            )
            .send()
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!(
                    "record notice delivery: {}",
                    DisplayErrorContext(&e)
                ))
            })?;
        Ok(())
    }
}
