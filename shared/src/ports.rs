//! Ports: the small traits handlers depend on. `crate::aws` implements them on AWS;
//! tests may implement them in memory.

use crate::envelope::Envelope;
use crate::message::{DeliveryStatus, InboundMessage, MessageItem, OutboundMessage};
use crate::secrets::{PlatformSecrets, TenantSecrets};
use crate::tenant::{TenantConfig, TenantId};
use async_trait::async_trait;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or failed: a retry may succeed (503).
    #[error("store: {0}")]
    Unavailable(String),
    /// The store refused the request itself (an item over 400 KB, a key over 1 KB):
    /// retrying cannot help, so callers answer 4xx or drop the input.
    #[error("store refused: {0}")]
    Rejected(String),
}

impl StoreError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, StoreError::Rejected(_))
    }

    pub fn message(&self) -> &str {
        match self {
            StoreError::Unavailable(m) | StoreError::Rejected(m) => m,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("queue: {0}")]
pub struct QueueError(pub String);

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secrets: {0}")]
    Unavailable(String),
    #[error("secret {name} is not valid JSON of the expected shape")]
    Malformed { name: String },
}

#[async_trait]
pub trait TenantDirectory: Send + Sync {
    /// The tenant's config, or `None` when no such tenant exists.
    async fn tenant(&self, tenant: &TenantId) -> Result<Option<Arc<TenantConfig>>, StoreError>;
}

#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The tenant's channel secrets, or `None` when none were ever stored.
    async fn tenant_secrets(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<Arc<TenantSecrets>>, SecretError>;

    /// The tenant's secrets read again, bypassing the cache (rate-limited by the
    /// adapter): after a signature fails against a cached secret that may be stale.
    async fn refresh_tenant_secrets(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<Arc<TenantSecrets>>, SecretError> {
        self.tenant_secrets(tenant).await
    }

    /// The platform secret (`sauda/{stage}/platform`); empty when none was stored.
    async fn platform_secrets(&self) -> Result<Arc<PlatformSecrets>, SecretError>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    Stored,
    /// The same platform message was stored before: a redelivery.
    Duplicate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusOutcome {
    Applied,
    /// The message already has this or a later state.
    Stale,
    /// No outbound message with that platform id was sent by this tenant.
    UnknownMessage,
}

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Stores the message unless its key exists: deduplication and storage in one write.
    async fn put_inbound(&self, message: &InboundMessage) -> Result<PutOutcome, StoreError>;
    async fn put_outbound(&self, message: &OutboundMessage) -> Result<(), StoreError>;
    async fn apply_delivery_status(
        &self,
        status: &DeliveryStatus,
    ) -> Result<StatusOutcome, StoreError>;
    /// The newest `limit` messages of a conversation, newest first.
    async fn recent_messages(
        &self,
        tenant: &TenantId,
        contact: &str,
        limit: i32,
    ) -> Result<Vec<MessageItem>, StoreError>;
}

#[async_trait]
pub trait JobQueue: Send + Sync {
    async fn enqueue(
        &self,
        envelope: &Envelope,
        group_id: &str,
        deduplication_id: &str,
    ) -> Result<(), QueueError>;
}

/// A standard (unordered) queue.
#[async_trait]
pub trait MessageQueue: Send + Sync {
    /// Sends one envelope, visible after `delay_seconds` (0-900).
    async fn send(&self, envelope: &Envelope, delay_seconds: i32) -> Result<(), QueueError>;
}
