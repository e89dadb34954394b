//! A lead submission as it travels on the `leads` queue (from the agent's
//! `capture_lead` tool and the sweep) or arrives from the web form.

use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadSource {
    /// The AI agent's `capture_lead` tool.
    Agent,
    /// The web form or widget.
    Form,
    /// A contact who showed intent and went quiet.
    Sweep,
    /// Created by a manager or the operator.
    Manual,
}

impl LeadSource {
    pub fn as_str(self) -> &'static str {
        match self {
            LeadSource::Agent => "agent",
            LeadSource::Form => "form",
            LeadSource::Sweep => "sweep",
            LeadSource::Manual => "manual",
        }
    }
}

/// Unvalidated: lead-capture validates and normalises phone and email on receipt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeadSubmission {
    pub tenant: TenantId,
    pub source: LeadSource,
    /// Stable across retries of the producer; a resubmission with the same key is a no-op.
    pub idempotency_key: String,
    /// The conversation's contact id (`tg-…`, `wa-…`) when the lead comes from a chat.
    #[serde(default)]
    pub contact: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// What the customer wants, in a few words.
    #[serde(default)]
    pub interest: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    /// Consent to be contacted (required on the web form).
    #[serde(default)]
    pub consent: bool,
    pub submitted_at_ms: i64,
}
