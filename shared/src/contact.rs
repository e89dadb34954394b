//! The contact profile (`T#{t}#C#{cid}` / `PROFILE`): what every capability knows of
//! one customer. Several writers share the item, so each writes only its own
//! attributes with `UpdateItem ... SET`, never a whole-item put.
//!
//! - agent-reply: identity fields, `last_inbound_ms`, `last_reply_ms`, `intent_at_ms`,
//!   `agent_paused*` and its per-customer rate window (`rl_*`);
//! - lead-capture: `stage` (mirror of the lead's stage, read by the agent), `phone`,
//!   `email`, `lead_created_ms`, and clears `agent_paused` when a manager resumes;
//! - the inbox (inbox API, the notifier's relays): `agent_paused*` when a manager takes
//!   over or hands back, `assignee_*` (whose Telegram chat gets the thread);
//! - the sweep finds silent contacts with intent through GSI1 (`INTENT` partition).

use crate::funnel::Stage;
use crate::keys;
use crate::message::Channel;
use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContactProfile {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    /// Absent while only another capability has written the item (a lead's stage, say).
    #[serde(default)]
    pub contact: String,
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    /// The language the customer chose in chat (`/language`): it wins over detection.
    #[serde(default)]
    pub language_chosen: Option<String>,
    /// Where replies go: Telegram chat id or WhatsApp `wa_id`.
    #[serde(default)]
    pub reply_to: Option<String>,
    #[serde(default)]
    pub first_seen_ms: Option<i64>,
    #[serde(default)]
    pub last_inbound_ms: Option<i64>,
    /// When the customer last showed purchase intent (asked for a price, availability...).
    #[serde(default)]
    pub intent_at_ms: Option<i64>,
    #[serde(default)]
    pub stage: Option<Stage>,
    #[serde(default)]
    pub lead_created_ms: Option<i64>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Set by a handoff to a manager; the agent stays silent until a manager resumes it.
    #[serde(default)]
    pub agent_paused: bool,
    #[serde(default)]
    pub agent_paused_reason: Option<String>,
    #[serde(default)]
    pub agent_paused_at_ms: Option<i64>,
    #[serde(default)]
    pub last_reply_ms: Option<i64>,
    /// The manager the conversation is assigned to (the inbox): their chat gets its
    /// thread cards instead of every manager.
    #[serde(default)]
    pub assignee_chat_id: Option<i64>,
    #[serde(default)]
    pub assignee_name: Option<String>,
    /// The agent's sliding-window rate limit: the current minute, its count, and the
    /// previous minute's count.
    #[serde(default)]
    pub rl_window: Option<i64>,
    #[serde(default)]
    pub rl_count: Option<i64>,
    #[serde(default)]
    pub rl_prev: Option<i64>,
    /// The minute in which the customer was last told to slow down.
    #[serde(default)]
    pub rl_notice_window: Option<i64>,
    /// The last month (`yyyy-mm`) this conversation was counted in the plan's usage.
    #[serde(default)]
    pub usage_month: Option<String>,
}

impl ContactProfile {
    pub fn key(tenant: &TenantId, contact: &str) -> (String, String) {
        (
            keys::contact_pk(tenant, contact),
            keys::CONTACT_PROFILE_SK.to_owned(),
        )
    }
}

/// GSI1 partition of contacts who showed intent and have no lead yet; the sort key is
/// `{last_inbound_ms:013}#{cid}`, so "silent for N hours" is one range query.
pub fn intent_gsi(tenant: &TenantId) -> String {
    format!("T#{tenant}#INTENT")
}

pub fn intent_gsi_sk(last_inbound_ms: i64, contact: &str) -> String {
    format!("{last_inbound_ms:013}#{contact}")
}

/// A link a manager can open to write to the customer directly.
pub fn conversation_link(contact: &str) -> Option<String> {
    if let Some(id) = contact.strip_prefix("tg-") {
        Some(format!("tg://user?id={id}"))
    } else {
        contact
            .strip_prefix("wa-")
            .map(|number| format!("https://wa.me/{number}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_per_channel() {
        assert_eq!(
            conversation_link("tg-42").as_deref(),
            Some("tg://user?id=42")
        );
        assert_eq!(
            conversation_link("wa-77011234567").as_deref(),
            Some("https://wa.me/77011234567")
        );
        assert_eq!(conversation_link("web-1"), None);
    }
}
