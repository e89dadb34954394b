//! The lead store port: the reads the rules need and one way to write, executing a
//! [`Plan`]. `crate::dynamo` implements it on the single table; the contract suite in
//! `tests/leads_store.rs` runs against it on the local emulator.

use crate::domain::{CaptureLookup, CaptureState, Plan, Refusal};
use crate::model::{HistoryEntry, Lead, LeadSlot};
use async_trait::async_trait;
use sauda_shared::api::{cursor, ApiError};
use sauda_shared::funnel::Stage;
use sauda_shared::partner::Partner;
use sauda_shared::plan::PlanError;
use sauda_shared::ports::StoreError;
use sauda_shared::TenantId;
use serde::{Deserialize, Serialize};

/// A lead with its history and the state of its conversations.
#[derive(Clone, Debug)]
pub struct LeadView {
    pub lead: Lead,
    /// Oldest first.
    pub history: Vec<HistoryEntry>,
    /// `(contact, agent_paused)` of each conversation that has a profile, sorted.
    pub conversations: Vec<(String, bool)>,
}

/// A contact who showed intent and went quiet (from the intent index).
#[derive(Clone, Debug, PartialEq)]
pub struct QuietContact {
    pub contact: String,
    pub intent_at_ms: Option<i64>,
    pub last_inbound_ms: Option<i64>,
    pub display_name: Option<String>,
    pub language: Option<String>,
    pub has_lead: bool,
}

/// Where a page of a stage ends: the last lead's `GSI1SK` and contact. Handed out only
/// as an opaque cursor signed over the tenant and the stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListPosition {
    pub gsi1sk: String,
    pub contact: String,
}

impl ListPosition {
    fn route(stage: Stage) -> String {
        format!("leads:{stage}")
    }

    pub fn cursor(&self, tenant: &TenantId, stage: Stage) -> String {
        cursor::encode(tenant, &Self::route(stage), self)
    }

    /// The position of a cursor this listing returned for `tenant` and `stage`, or
    /// 400 `invalid_cursor`; none or empty is the first page.
    pub fn from_cursor(
        tenant: &TenantId,
        stage: Stage,
        raw: Option<&str>,
    ) -> Result<Option<Self>, ApiError> {
        cursor::decode_opt(tenant, &Self::route(stage), raw)
    }
}

#[async_trait]
pub trait LeadStore: Send + Sync {
    /// The contact's `LEAD` item (the lead itself or a link to it), read consistently.
    async fn slot(&self, tenant: &TenantId, cid: &str) -> Result<Option<LeadSlot>, StoreError>;

    /// What a capture that lost a race must know, read consistently: the idempotency
    /// record, the home slot, the identities' owners and the leads they point at.
    async fn capture_state(
        &self,
        tenant: &TenantId,
        lookup: &CaptureLookup,
    ) -> Result<CaptureState, StoreError>;

    /// The contact's `LEAD` item and the history stored under it, oldest first.
    async fn slot_and_history(
        &self,
        tenant: &TenantId,
        cid: &str,
    ) -> Result<(Option<LeadSlot>, Vec<HistoryEntry>), StoreError>;

    /// `(contact, agent_paused)` of those contacts that have a profile.
    async fn agent_states(
        &self,
        tenant: &TenantId,
        contacts: &[String],
    ) -> Result<Vec<(String, bool)>, StoreError>;

    /// One page of a stage, most recently active first, after `after`; and where the
    /// next page starts, if there is one.
    async fn list(
        &self,
        tenant: &TenantId,
        stage: Stage,
        limit: usize,
        after: Option<ListPosition>,
    ) -> Result<(Vec<Lead>, Option<ListPosition>), StoreError>;

    async fn partner(
        &self,
        tenant: &TenantId,
        partner_id: &str,
    ) -> Result<Option<Partner>, StoreError>;

    /// Active tenants of the platform registry.
    async fn active_tenants(&self) -> Result<Vec<TenantId>, StoreError>;

    /// Contacts in the intent index whose last message is older than `cutoff_ms`,
    /// oldest first, at most `limit`.
    async fn quiet_contacts(
        &self,
        tenant: &TenantId,
        cutoff_ms: i64,
        limit: usize,
    ) -> Result<Vec<QuietContact>, StoreError>;

    /// Writes a plan atomically.
    async fn apply(&self, plan: &Plan) -> Result<(), PlanError<Refusal>>;

    /// The lead of a contact, following a link from a secondary conversation.
    async fn lead(&self, tenant: &TenantId, cid: &str) -> Result<Option<Lead>, StoreError> {
        match self.slot(tenant, cid).await? {
            None => Ok(None),
            Some(LeadSlot::Lead(lead)) => Ok(Some(*lead)),
            Some(LeadSlot::Link { to }) => match self.slot(tenant, &to).await? {
                Some(LeadSlot::Lead(lead)) => Ok(Some(*lead)),
                _ => Ok(None),
            },
        }
    }

    /// The lead with its whole history and its conversations' agent state; any linked
    /// conversation finds it.
    async fn view(&self, tenant: &TenantId, cid: &str) -> Result<Option<LeadView>, StoreError> {
        let (lead, history) = match self.slot_and_history(tenant, cid).await? {
            (Some(LeadSlot::Lead(lead)), history) => (*lead, history),
            (Some(LeadSlot::Link { to }), _) => match self.slot_and_history(tenant, &to).await? {
                (Some(LeadSlot::Lead(lead)), history) => (*lead, history),
                _ => return Ok(None),
            },
            (None, _) => return Ok(None),
        };
        let mut conversations = self.agent_states(tenant, &lead.contacts()).await?;
        conversations.sort();
        Ok(Some(LeadView {
            lead,
            history,
            conversations,
        }))
    }
}
