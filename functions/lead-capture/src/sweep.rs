//! The quiet-contact sweep: a customer who showed purchase intent (asked for a price or
//! availability) and then went silent for the tenant's `leads.quiet_hours` becomes a lead,
//! so that a manager follows up.
//!
//! Runs on a schedule (`{"kind":"sweep"}`). For each active tenant in the registry, one
//! GSI Query finds the contacts whose intent index entry is older than the cut-off; each
//! becomes a `sweep` submission on the `leads` queue, whose consumer creates the lead and
//! takes the contact out of the index. The idempotency key is the contact plus its intent
//! time, so a contact swept twice before its lead exists still makes one lead.

use crate::error::LeadError;
use crate::service;
use crate::store::QuietContact;
use crate::Deps;
use sauda_shared::envelope::Envelope;
use sauda_shared::funnel::Stage;
use sauda_shared::lead::{LeadSource, LeadSubmission};
use sauda_shared::message::Direction;
use sauda_shared::redact::Contact;
use sauda_shared::TenantId;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tracing::{info, warn};

/// Contacts handled per tenant and run; the rest wait for the next run.
pub const MAX_PER_TENANT: usize = 200;

/// The schedule's input: `{"kind":"sweep"}`, optionally for one tenant.
#[derive(Clone, Debug, Deserialize)]
pub struct SweepInput {
    pub kind: String,
    #[serde(default)]
    pub tenant: Option<TenantId>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct SweepReport {
    pub tenants: usize,
    /// Sweep submissions put on the leads queue.
    pub queued: usize,
    /// Contacts taken out of the index because their lead already exists and is live.
    pub cleared: usize,
    /// The time budget ran out; the next run continues.
    pub unfinished: bool,
}

pub async fn run(
    deps: &Deps,
    only: Option<&TenantId>,
    now_ms: i64,
) -> Result<SweepReport, LeadError> {
    let started = Instant::now();
    let tenants: Vec<TenantId> = match only {
        Some(t) => vec![t.clone()],
        None => deps.store.active_tenants().await?,
    };
    let mut report = SweepReport::default();
    for tenant in tenants {
        if started.elapsed() > deps.sweep_budget {
            report.unfinished = true;
            warn!(
                done = report.tenants,
                "sweep out of time; the next run continues"
            );
            break;
        }
        let Some(config) = deps.tenants.tenant(&tenant).await? else {
            continue;
        };
        if !config.is_active() || config.leads.quiet_hours == 0 {
            continue;
        }
        report.tenants += 1;
        let cutoff = now_ms - i64::from(config.leads.quiet_hours) * 3_600_000;
        let quiet = deps
            .store
            .quiet_contacts(&tenant, cutoff, MAX_PER_TENANT)
            .await?;
        for contact in quiet {
            if contact.has_lead {
                // Only a lost lead is news (the customer is back); a live one just
                // leaves the index.
                let lost = deps
                    .store
                    .lead(&tenant, &contact.contact)
                    .await?
                    .is_some_and(|l| l.stage == Stage::Lost);
                if !lost {
                    service::clear_intent(deps, &tenant, &contact.contact).await?;
                    report.cleared += 1;
                    continue;
                }
            }
            let submission = submission(deps, &tenant, &contact, now_ms).await;
            deps.leads_queue
                .send(&Envelope::capture_lead(submission), 0)
                .await?;
            report.queued += 1;
        }
    }
    info!(?report, "sweep finished");
    Ok(report)
}

async fn submission(
    deps: &Deps,
    tenant: &TenantId,
    contact: &QuietContact,
    now_ms: i64,
) -> LeadSubmission {
    // The customer's last words give the manager context; without them the lead is
    // still worth having, so a failed read only costs the context.
    let last_words = match deps
        .messages
        .recent_messages(tenant, &contact.contact, 10)
        .await
    {
        Ok(messages) => messages
            .into_iter()
            .find(|m| m.direction == Direction::In && m.text.is_some())
            .and_then(|m| m.text),
        Err(e) => {
            warn!(%tenant, contact = %Contact(tenant, &contact.contact), error = %e, "last message not read");
            None
        }
    };
    let moment = contact
        .intent_at_ms
        .or(contact.last_inbound_ms)
        .unwrap_or_default();
    LeadSubmission {
        tenant: tenant.clone(),
        source: LeadSource::Sweep,
        idempotency_key: format!("sweep:{}:{moment}", contact.contact),
        contact: Some(contact.contact.clone()),
        name: contact.display_name.clone(),
        phone: None,
        email: None,
        interest: None,
        message: last_words,
        language: contact.language.clone(),
        consent: false,
        submitted_at_ms: now_ms,
    }
}
