//! The versioned JSON envelope on every queue: `{"v":1,"kind":…,"tenant":…,…}`.

use crate::lead::LeadSubmission;
use crate::message::InboundMessage;
use crate::notify::Notice;
use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};

pub const ENVELOPE_VERSION: u8 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u8,
    pub tenant: TenantId,
    #[serde(flatten)]
    pub job: Job,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// `inbound.fifo` → agent-reply.
    InboundMessage { message: InboundMessage },
    /// `leads` → lead-capture.
    CaptureLead { lead: LeadSubmission },
    /// `notify` → notifier.
    Notify { notice: Notice },
    /// `crm` → lead-capture's CRM delivery. `delivery_id` is reused on every retry so
    /// that the receiver can deduplicate; `event` is POSTed as is.
    CrmWebhook {
        delivery_id: String,
        event: serde_json::Value,
    },
    /// `reports` → reports worker. `period`: `2026-11-24`, `2026-W48` or `2026-11`.
    Report { period: String },
    /// `notify` → notifier: a message to a customer (see `crate::outbox`).
    CustomerMessage {
        message: crate::outbox::CustomerMessage,
    },
    /// `payments` → payments-worker (orders).
    Order { job: crate::order::OrderJob },
    /// `notify` → notifier: a manager wrote in their Telegram chat with the bot.
    ManagerUpdate { update: crate::inbox::ManagerUpdate },
    /// `notify` → notifier: WhatsApp reported that an outbound message failed; the
    /// managers are told why in plain words.
    DeliveryFailed {
        status: crate::message::DeliveryStatus,
    },
    /// `inbound.fifo` → agent-reply: a purchase's NPS survey is due (see `crate::nps`).
    NpsDue { due: crate::nps::NpsDue },
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Only the error's kind and place: serde's own message may quote the value it choked
    /// on (a phone number), and this text goes to logs and dead-letter reasons.
    #[error(
        "envelope is not valid JSON of a known kind ({:?} error at line {}, column {})",
        .0.classify(),
        .0.line(),
        .0.column()
    )]
    Malformed(#[from] serde_json::Error),
    #[error("envelope version {0} is not supported (expected {ENVELOPE_VERSION})")]
    UnsupportedVersion(u8),
    #[error("envelope tenant {envelope} does not match its payload's tenant {payload}")]
    TenantMismatch { envelope: String, payload: String },
}

impl Envelope {
    fn new(tenant: TenantId, job: Job) -> Self {
        Self {
            v: ENVELOPE_VERSION,
            tenant,
            job,
        }
    }

    pub fn nps_due(due: crate::nps::NpsDue) -> Self {
        Self::new(due.tenant.clone(), Job::NpsDue { due })
    }

    pub fn inbound(message: InboundMessage) -> Self {
        Self::new(message.tenant.clone(), Job::InboundMessage { message })
    }

    pub fn capture_lead(lead: LeadSubmission) -> Self {
        Self::new(lead.tenant.clone(), Job::CaptureLead { lead })
    }

    pub fn notice(notice: Notice) -> Self {
        Self::new(notice.tenant.clone(), Job::Notify { notice })
    }

    pub fn crm_webhook(tenant: TenantId, delivery_id: String, event: serde_json::Value) -> Self {
        Self::new(tenant, Job::CrmWebhook { delivery_id, event })
    }

    pub fn report(tenant: TenantId, period: impl Into<String>) -> Self {
        Self::new(
            tenant,
            Job::Report {
                period: period.into(),
            },
        )
    }

    pub fn customer_message(message: crate::outbox::CustomerMessage) -> Self {
        Self::new(message.tenant.clone(), Job::CustomerMessage { message })
    }

    pub fn order(tenant: TenantId, job: crate::order::OrderJob) -> Self {
        Self::new(tenant, Job::Order { job })
    }

    pub fn manager_update(update: crate::inbox::ManagerUpdate) -> Self {
        Self::new(update.tenant.clone(), Job::ManagerUpdate { update })
    }

    pub fn delivery_failed(status: crate::message::DeliveryStatus) -> Self {
        Self::new(status.tenant.clone(), Job::DeliveryFailed { status })
    }

    pub fn kind(&self) -> &'static str {
        match self.job {
            Job::ManagerUpdate { .. } => "manager_update",
            Job::DeliveryFailed { .. } => "delivery_failed",
            Job::CustomerMessage { .. } => "customer_message",
            Job::InboundMessage { .. } => "inbound_message",
            Job::CaptureLead { .. } => "capture_lead",
            Job::Notify { .. } => "notify",
            Job::CrmWebhook { .. } => "crm_webhook",
            Job::Report { .. } => "report",
            Job::Order { .. } => "order",
            Job::NpsDue { .. } => "nps_due",
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("envelope fields always serialise")
    }

    /// Decodes and checks the version and that the payload belongs to the envelope's tenant.
    pub fn from_json(raw: &str) -> Result<Self, EnvelopeError> {
        let envelope: Envelope = serde_json::from_str(raw)?;
        if envelope.v != ENVELOPE_VERSION {
            return Err(EnvelopeError::UnsupportedVersion(envelope.v));
        }
        let payload_tenant = match &envelope.job {
            Job::InboundMessage { message } => Some(&message.tenant),
            Job::CaptureLead { lead } => Some(&lead.tenant),
            Job::Notify { notice } => Some(&notice.tenant),
            Job::CustomerMessage { message } => Some(&message.tenant),
            Job::ManagerUpdate { update } => Some(&update.tenant),
            Job::DeliveryFailed { status } => Some(&status.tenant),
            Job::NpsDue { due } => Some(&due.tenant),
            Job::CrmWebhook { .. } | Job::Report { .. } | Job::Order { .. } => None,
        };
        if let Some(payload) = payload_tenant.filter(|p| **p != envelope.tenant) {
            return Err(EnvelopeError::TenantMismatch {
                envelope: envelope.tenant.to_string(),
                payload: payload.to_string(),
            });
        }
        Ok(envelope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Recipients;

    fn tenant(id: &str) -> TenantId {
        TenantId::parse(id).unwrap()
    }

    #[test]
    fn round_trips_with_kind_tag() {
        let envelope = Envelope::report(tenant("acme"), "2026-11");
        let json = envelope.to_json();
        assert_eq!(
            json,
            r#"{"v":1,"tenant":"acme","kind":"report","period":"2026-11"}"#
        );
        assert_eq!(Envelope::from_json(&json).unwrap(), envelope);
    }

    #[test]
    fn rejects_other_versions_and_foreign_payloads() {
        let raw = r#"{"v":2,"tenant":"acme","kind":"report","period":"2026-11"}"#;
        assert!(matches!(
            Envelope::from_json(raw),
            Err(EnvelopeError::UnsupportedVersion(2))
        ));
        let mut envelope = Envelope::notice(Notice {
            tenant: tenant("other"),
            id: "n".into(),
            kind: "test".into(),
            to: Recipients::Managers,
            html: "hi".into(),
        });
        envelope.tenant = tenant("acme");
        assert!(matches!(
            Envelope::from_json(&envelope.to_json()),
            Err(EnvelopeError::TenantMismatch { .. })
        ));
        assert!(matches!(
            Envelope::from_json(r#"{"v":1,"tenant":"acme","kind":"nope"}"#),
            Err(EnvelopeError::Malformed(_))
        ));
    }

    #[test]
    fn a_malformed_envelope_is_described_without_its_values() {
        let raw = r#"{"v":1,"tenant":"acme","kind":"notify","notice":{"tenant":"acme","id":"n","kind":"k","to":"managers","html":77015550040}}"#;
        let error = Envelope::from_json(raw).unwrap_err().to_string();
        assert!(error.contains("line 1"), "{error}");
        assert!(!error.contains("77015550040"), "{error}");
    }
}
