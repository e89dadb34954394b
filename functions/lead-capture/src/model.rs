//! Stored shapes: the lead, its history, links and identity lookups (DESIGN.md §3).
//!
//! - Lead: `(T#{t}#C#{cid}, LEAD)`, listed by stage through GSI1
//!   (`T#{t}#LEADS#{stage}` / `{updated_ms:013}#{cid}`).
//! - Link: `(T#{t}#C#{other}, LEAD)` with `link_to = cid` when a second conversation
//!   (say the customer's Telegram after a web form) belongs to the same lead. A contact
//!   partition thus has one `LEAD` item at most, and one GetItem finds a contact's lead.
//! - History: `(T#{t}#C#{cid}, LEADHIST#{ts:013}#{id})`, one per event; `begins_with(SK,
//!   "LEAD")` reads the lead and its whole history in one Query.
//! - Identity: `(T#{t}#ID#{phone|email}#{value}, ID)` → `contact`.
//! - Idempotency: `(T#{t}#IDEM#lead:{digest}, IDEM)`, what a submission did, with a TTL.

use crate::domain::Applied;
use sauda_shared::funnel::Stage;
use sauda_shared::keys;
use sauda_shared::lead::LeadSource;
use sauda_shared::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    /// The contact the lead lives at; also the lead's id in the API.
    pub contact: String,
    pub stage: Stage,
    /// Where the lead first came from.
    pub source: LeadSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_source: Option<LeadSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The first phone and email; every known one is in `phones` / `emails`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(
        default,
        with = "serde_dynamo::string_set",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub phones: Vec<String>,
    #[serde(
        default,
        with = "serde_dynamo::string_set",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub emails: Vec<String>,
    /// The latest stated interest and message; earlier ones are in the history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_source: Option<String>,
    #[serde(default)]
    pub consent: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_at_ms: Option<i64>,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub stage_changed_ms: i64,
    /// First time the lead reached `sale`: counted as won once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub won_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_ms: Option<i64>,
    /// Submissions merged into this lead, the first included.
    #[serde(default)]
    pub submissions: i64,
    /// Other conversations of the same customer (their `LEAD` items link here).
    #[serde(
        default,
        with = "serde_dynamo::string_set",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub linked_contacts: Vec<String>,
    #[serde(rename = "GSI1PK")]
    pub gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    pub gsi1sk: String,
}

impl Lead {
    /// Every conversation of this lead's customer: its own contact first.
    pub fn contacts(&self) -> Vec<String> {
        let mut all = vec![self.contact.clone()];
        all.extend(
            self.linked_contacts
                .iter()
                .filter(|c| **c != self.contact)
                .cloned(),
        );
        all
    }

    /// The contact a manager can open a chat with: a Telegram or WhatsApp conversation.
    pub fn conversation_link(&self) -> Option<String> {
        self.contacts()
            .iter()
            .find_map(|c| sauda_shared::contact::conversation_link(c))
    }

    /// The API's view of a lead.
    pub fn to_json(&self) -> Value {
        json!({
            "contact": self.contact,
            "stage": self.stage,
            "source": self.source,
            "last_source": self.last_source,
            "name": self.name,
            "phone": self.phone,
            "email": self.email,
            "phones": self.phones,
            "emails": self.emails,
            "interest": self.interest,
            "message": self.message,
            "language": self.language,
            "form_source": self.form_source,
            "consent": self.consent,
            "partner": self.partner_id.as_ref().map(|id| json!({"id": id, "name": self.partner_name})),
            "assigned_at_ms": self.assigned_ms,
            "created_at_ms": self.created_ms,
            "updated_at_ms": self.updated_ms,
            "stage_changed_at_ms": self.stage_changed_ms,
            "won_at_ms": self.won_ms,
            "submissions": self.submissions,
            "linked_contacts": self.linked_contacts,
            "conversation_link": self.conversation_link(),
        })
    }
}

/// The `LEAD` item of a contact partition: the lead itself or a link to it.
#[derive(Clone, Debug, PartialEq)]
pub enum LeadSlot {
    Lead(Box<Lead>),
    Link { to: String },
}

/// A second conversation of a lead's customer: its `LEAD` slot points at the lead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub contact: String,
    pub link_to: String,
    pub linked_ms: i64,
}

/// Which lead a phone number or email belongs to, per tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub contact: String,
    pub kind: String,
    pub created_ms: i64,
}

/// What one submission did, so that its retries change nothing and answer the same.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdemRecord {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub contact: String,
    pub history_id: String,
    pub applied: Applied,
    pub at_ms: i64,
    /// Epoch seconds; DynamoDB's TTL removes the record some time after.
    pub expires_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryKind {
    Created,
    /// A repeat submission (same phone, email or conversation) merged into the lead.
    Merged,
    StageChanged,
    Assigned,
    Note,
    AgentResumed,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub history_id: String,
    pub kind: HistoryKind,
    /// `form`, `agent`, `sweep`, `manual`, `system`, `operator` or `manager:{key_id}`.
    pub actor: String,
    pub at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_stage: Option<Stage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_stage: Option<Stage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<LeadSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
    /// What was submitted, what was dropped as invalid, which conversation it came from.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub details: Value,
}

impl HistoryEntry {
    pub fn new(
        tenant: &TenantId,
        contact: &str,
        kind: HistoryKind,
        actor: &str,
        at_ms: i64,
    ) -> Self {
        let history_id = ulid::Ulid::new().to_string();
        Self {
            pk: keys::contact_pk(tenant, contact),
            sk: keys::lead_history_sk(at_ms, &history_id),
            history_id,
            kind,
            actor: actor.to_owned(),
            at_ms,
            from_stage: None,
            to_stage: None,
            reason: None,
            note: None,
            source: None,
            partner_id: None,
            details: Value::Null,
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.history_id,
            "kind": self.kind,
            "actor": self.actor,
            "at_ms": self.at_ms,
            "from_stage": self.from_stage,
            "to_stage": self.to_stage,
            "reason": self.reason,
            "note": self.note,
            "source": self.source,
            "partner_id": self.partner_id,
            "details": self.details,
        })
    }
}

/// Who did something, as recorded in history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    Source(LeadSource),
    Manager { key_id: String },
    Operator,
    System,
}

impl Actor {
    pub fn label(&self) -> String {
        match self {
            Actor::Source(s) => s.as_str().to_owned(),
            Actor::Manager { key_id } => format!("manager:{key_id}"),
            Actor::Operator => "operator".to_owned(),
            Actor::System => "system".to_owned(),
        }
    }
}
