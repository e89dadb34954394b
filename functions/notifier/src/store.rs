//! The delivery log port: which recipients already have a notice, so a redelivered
//! notice reaches each chat once. `dynamo::DynamoDeliveryLog` implements it.

use async_trait::async_trait;
use sauda_shared::ports::StoreError;
use sauda_shared::TenantId;
use std::collections::HashSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    Sent,
    /// Telegram refused for good (bot blocked, chat not found): never retried.
    Undeliverable,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
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
