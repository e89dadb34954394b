//! The inbox's port on storage; `dynamo.rs` implements it on DynamoDB.

use crate::domain::{IdemRecord, Position, Refusal, Stored};
use async_trait::async_trait;
use sauda_shared::contact::ContactProfile;
use sauda_shared::inbox::ConversationItem;
use sauda_shared::plan::{Cond, PlanError, Update, WritePlan};
use sauda_shared::ports::StoreError;
use sauda_shared::TenantId;
use std::collections::HashMap;

/// A page of rows and where the next one starts.
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Position>,
}

/// What a send reads first, in one round trip.
pub struct SendContext {
    pub row: Option<ConversationItem>,
    pub profile: Option<ContactProfile>,
    pub earlier: Option<IdemRecord>,
}

#[async_trait]
pub trait InboxStore: Send + Sync {
    /// Rows by last activity, newest first, from `after`; `filter` applied by the store.
    /// Reads up to `scan` rows and returns the first `limit` that match.
    async fn list(
        &self,
        tenant: &TenantId,
        filter: Option<&Cond>,
        limit: usize,
        scan: usize,
        after: Option<&Position>,
    ) -> Result<Page<ConversationItem>, StoreError>;

    /// The profiles of some contacts, in one read.
    async fn profiles(
        &self,
        tenant: &TenantId,
        contacts: &[String],
    ) -> Result<HashMap<String, ContactProfile>, StoreError>;

    /// A conversation's messages, newest first, before the sort key `before`.
    async fn transcript(
        &self,
        tenant: &TenantId,
        contact: &str,
        limit: usize,
        before: Option<&str>,
    ) -> Result<(Vec<Stored>, Option<String>), StoreError>;

    /// The row, the profile and an earlier send with the same idempotency key.
    async fn send_context(
        &self,
        tenant: &TenantId,
        contact: &str,
        idem: &(String, String),
    ) -> Result<SendContext, StoreError>;

    /// Executes a plan (one item: a single write; more: one transaction).
    async fn apply(&self, plan: &WritePlan<Refusal>) -> Result<(), PlanError<Refusal>>;

    /// One update whose failed condition is `refusal`.
    async fn update(&self, update: Update, refusal: Refusal) -> Result<(), PlanError<Refusal>> {
        let mut plan = WritePlan::new();
        plan.push_or(sauda_shared::plan::Op::Update(update), refusal);
        self.apply(&plan).await
    }
}
