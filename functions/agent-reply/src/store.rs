//! The ports the reply pipeline needs from storage. `dynamo.rs` implements them on
//! DynamoDB; the stages and their unit tests see only these traits.

use crate::conversation::Conversation;
use crate::usage::{Marker, Tally};
use async_trait::async_trait;
use sauda_shared::plan::WritePlan;
use sauda_shared::ports::StoreError;
use sauda_shared::TenantId;
use std::collections::BTreeSet;

/// The idempotency guard of a job's transaction failed: another delivery of the same
/// inbound message stored its outcome first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlreadyHandled;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    AlreadyHandled,
}

/// The contact partition: profile, messages, the loyalty account the tools read.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// The profile and the newest [`HISTORY`](crate::conversation::HISTORY) messages,
    /// newest first, in one read.
    async fn read(&self, tenant: &TenantId, contact: &str) -> Result<Conversation, StoreError>;

    /// Commits a job's writes together; a failed idempotency guard is
    /// [`WriteOutcome::AlreadyHandled`], not an error.
    async fn commit(&self, plan: &WritePlan<AlreadyHandled>) -> Result<WriteOutcome, StoreError>;

    /// The customer's loyalty balance in points; `None` when they are not a member.
    async fn loyalty_balance(
        &self,
        tenant: &TenantId,
        contact: &str,
    ) -> Result<Option<i64>, StoreError>;
}

/// A tenant-month's AI usage as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MonthUsage {
    pub cost_micros: i64,
    /// The notices to managers already sent this month.
    pub notified: BTreeSet<Marker>,
}

/// The tenant-month usage item (`keys::ai_usage`), shared by every instance.
#[async_trait]
pub trait UsageStore: Send + Sync {
    async fn read(&self, tenant: &TenantId, month: &str) -> Result<MonthUsage, StoreError>;

    /// Adds a tally and answers with the month's new total (one write, no read).
    async fn add(
        &self,
        tenant: &TenantId,
        month: &str,
        tally: &Tally,
        now_ms: i64,
    ) -> Result<MonthUsage, StoreError>;

    /// Records that a notice was sent; `true` only for the first caller.
    async fn mark(
        &self,
        tenant: &TenantId,
        month: &str,
        marker: Marker,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
}
