//! Use cases: read, let the rules (`crate::domain`) plan, write through the store port,
//! re-read and re-plan a plan that lost a race; then tell others, in that order.
//!
//! Notices go on the notify queue and CRM events on the CRM queue; nothing here waits
//! on Telegram or the CRM. A capture whose announcements fail to queue reports an error,
//! so its producer retries; the retry is recognised as a duplicate and announces again
//! with the same notice and delivery ids, which the notifier and the CRM deduplicate.

use crate::crm;
use crate::domain::{
    self, capture, changes, Applied, Assignment, Captured, Ctx, Decision, Planned, StageChange,
    StageMove, MAX_ATTEMPTS,
};
use crate::error::LeadError;
use crate::model::{Actor, HistoryEntry, Lead};
use crate::notices;
use crate::validate::ValidLead;
use crate::Deps;
use sauda_shared::envelope::Envelope;
use sauda_shared::notify::{self, Notice};
use sauda_shared::partner::Partner;
use sauda_shared::plan::{CancelReason, PlanError};
use sauda_shared::redact::Contact;
use sauda_shared::retry::Backoff;
use sauda_shared::tenant::TenantConfig;
use sauda_shared::TenantId;
use serde_json::{json, Value};

fn ctx(config: &TenantConfig, now_ms: i64) -> Ctx<'_> {
    Ctx {
        tenant: &config.tenant,
        timezone: &config.timezone,
        now_ms,
        seed: rand::random(),
    }
}

/// Whether a lost race was a conflict with another transaction (worth a pause) rather
/// than a condition that the re-read will explain.
fn conflicted(reasons: &[CancelReason]) -> bool {
    reasons
        .iter()
        .any(|r| matches!(r, CancelReason::Conflict | CancelReason::Throttled))
}

async fn announce(
    deps: &Deps,
    config: &TenantConfig,
    notice: Option<Notice>,
    crm_event: Option<(&str, &Lead, &str, i64, Value)>,
) -> Result<(), LeadError> {
    let notify = async {
        match notice {
            Some(n) => notify::send(deps.notify_queue.as_ref(), n).await,
            None => Ok(()),
        }
    };
    let webhook = async {
        let (Some(_), Some((kind, lead, history_id, at_ms, change))) =
            (&config.leads.crm_webhook_url, crm_event)
        else {
            return Ok(());
        };
        let event = crm::event(kind, &config.tenant, lead, history_id, at_ms, change);
        let envelope =
            Envelope::crm_webhook(config.tenant.clone(), crm::delivery_id(history_id), event);
        deps.crm_queue.send(&envelope, 0).await
    };
    let (a, b) = tokio::join!(notify, webhook);
    a?;
    b?;
    Ok(())
}

fn crm_kind(applied: Applied) -> &'static str {
    match applied {
        Applied::Created => "lead.created",
        Applied::Merged => "lead.merged",
        Applied::Reopened => "lead.reopened",
    }
}

/// Creates the lead, or merges the submission into the customer's existing lead,
/// exactly once. The first attempt writes a new lead optimistically (one write call);
/// if anything it claims exists, the plan fails whole, and the state is read and the
/// capture decided again. 20 concurrent submissions of one phone leave one lead with
/// 19 merges in its history.
pub async fn store_capture(
    deps: &Deps,
    config: &TenantConfig,
    lead: &ValidLead,
    now_ms: i64,
) -> Result<Captured, LeadError> {
    let tenant = &config.tenant;
    let lookup = capture::lookup(tenant, lead);
    let mut decision = capture::first_attempt(lead);
    for attempt in 1..=MAX_ATTEMPTS {
        let ctx = ctx(config, now_ms);
        let Some((plan, captured)) = capture::plan(&ctx, lead, decision.clone()) else {
            let Decision::Duplicate(record) = decision else {
                unreachable!("only a duplicate has no plan");
            };
            let lead = deps
                .store
                .lead(tenant, &record.contact)
                .await?
                .ok_or_else(|| LeadError::NotFound(record.contact.clone()))?;
            return Ok(Captured {
                applied: record.applied,
                duplicate: true,
                lead,
                history_id: record.history_id,
                at_ms: record.at_ms,
            });
        };
        match deps.store.apply(&plan).await {
            Ok(()) => return Ok(captured),
            Err(PlanError::Stale(reasons)) => {
                let home = lookup.home.as_deref().unwrap_or_default();
                tracing::debug!(%tenant, contact = %Contact(tenant, home), attempt, ?reasons, "lead capture lost a race; re-reading");
                if conflicted(&reasons) {
                    Backoff::STORE.sleep(attempt).await;
                }
            }
            Err(e) => return Err(LeadError::from_plan(&captured.lead.contact, e)),
        }
        let state = deps.store.capture_state(tenant, &lookup).await?;
        decision = capture::decide(lead, state, now_ms);
    }
    Err(LeadError::Contention(lookup.home.unwrap_or_default()))
}

/// Captures a validated lead and announces it.
pub async fn capture(
    deps: &Deps,
    config: &TenantConfig,
    lead: &ValidLead,
) -> Result<Captured, LeadError> {
    let captured = store_capture(deps, config, lead, sauda_shared::now_ms()).await?;
    let notice = notices::captured(
        &config.tenant,
        &config.default_language,
        &captured.lead,
        captured.applied,
        lead.source,
        &captured.history_id,
        captured.at_ms,
    );
    let change = json!({"source": lead.source, "submission": {
        "name": lead.name, "phone": lead.phone, "email": lead.email,
        "interest": lead.interest, "message": lead.message, "form_source": lead.form_source,
    }});
    announce(
        deps,
        config,
        notice,
        Some((
            crm_kind(captured.applied),
            &captured.lead,
            &captured.history_id,
            captured.at_ms,
            change,
        )),
    )
    .await?;
    tracing::info!(
        tenant = %config.tenant,
        contact = %Contact(&config.tenant, &captured.lead.contact),
        source = lead.source.as_str(),
        applied = ?captured.applied,
        duplicate = captured.duplicate,
        "lead captured"
    );
    Ok(captured)
}

/// Whether the change's announcements were queued: the change itself is saved either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Announced(pub bool);

async fn announce_after_change(
    deps: &Deps,
    config: &TenantConfig,
    notice: Option<Notice>,
    crm_event: Option<(&str, &Lead, &str, i64, Value)>,
) -> Announced {
    match announce(deps, config, notice, crm_event).await {
        Ok(()) => Announced(true),
        Err(e) => {
            // The manager sees `notified: false` and the change stays saved.
            tracing::error!(tenant = %config.tenant, error = %e, "change saved but not announced");
            Announced(false)
        }
    }
}

async fn existing_lead(deps: &Deps, tenant: &TenantId, cid: &str) -> Result<Lead, LeadError> {
    deps.store
        .lead(tenant, cid)
        .await?
        .ok_or_else(|| LeadError::NotFound(cid.to_owned()))
}

/// Moves a lead to another stage if the funnel allows it. A move that raced another
/// one is re-read: with `expected` the caller learns where the lead is now; without,
/// the move is checked again from there.
pub async fn store_stage_change(
    deps: &Deps,
    config: &TenantConfig,
    cid: &str,
    change: &StageMove,
    actor: &Actor,
    now_ms: i64,
) -> Result<StageChange, LeadError> {
    let tenant = &config.tenant;
    for attempt in 1..=MAX_ATTEMPTS {
        let lead = existing_lead(deps, tenant, cid).await?;
        let from = lead.stage;
        let (plan, done) = match changes::move_stage(&ctx(config, now_ms), lead, change, actor)? {
            Planned::Unchanged(unchanged) => return Ok(unchanged),
            Planned::Write(plan, done) => (plan, done),
        };
        match deps.store.apply(&plan).await {
            Ok(()) => return Ok(done),
            Err(PlanError::Stale(reasons)) => {
                tracing::debug!(%tenant, contact = %Contact(tenant, cid), attempt, ?reasons, "stage change raced; re-reading");
                if change.expected.is_some() {
                    let current = deps
                        .store
                        .lead(tenant, cid)
                        .await?
                        .map_or(from, |l| l.stage);
                    return Err(LeadError::StageConflict {
                        current,
                        expected: from,
                    });
                }
                Backoff::STORE.sleep(attempt).await;
            }
            Err(e) => return Err(LeadError::from_plan(cid, e)),
        }
    }
    Err(LeadError::Contention(cid.to_owned()))
}

pub async fn change_stage(
    deps: &Deps,
    config: &TenantConfig,
    cid: &str,
    change: StageMove,
    actor: &Actor,
) -> Result<(StageChange, Announced), LeadError> {
    let now = sauda_shared::now_ms();
    let change = store_stage_change(deps, config, cid, &change, actor, now).await?;
    let announced = match &change {
        StageChange::Unchanged(_) => Announced(true),
        StageChange::Changed {
            lead,
            from,
            history,
        } => {
            let notice = notices::stage_changed(
                &config.tenant,
                &config.default_language,
                lead,
                *from,
                &history.actor,
                history.reason.as_deref(),
                &history.history_id,
            );
            let detail = json!({"from": from, "to": lead.stage, "actor": history.actor, "reason": history.reason});
            announce_after_change(
                deps,
                config,
                Some(notice),
                Some((
                    "lead.stage_changed",
                    lead,
                    &history.history_id,
                    history.at_ms,
                    detail,
                )),
            )
            .await
        }
    };
    Ok((change, announced))
}

/// Hands a lead to an active partner and tells the partner in Telegram.
/// Returns whether the partner could be notified (it has a Telegram chat).
pub async fn assign(
    deps: &Deps,
    config: &TenantConfig,
    cid: &str,
    partner_id: &str,
    note: Option<String>,
    actor: &Actor,
) -> Result<(Assignment, Partner, Announced), LeadError> {
    let partner = deps
        .store
        .partner(&config.tenant, partner_id)
        .await?
        .ok_or_else(|| LeadError::PartnerNotFound(partner_id.to_owned()))?;
    if !partner.is_active() {
        return Err(LeadError::PartnerNotActive(partner_id.to_owned()));
    }
    let now = sauda_shared::now_ms();
    let lead = existing_lead(deps, &config.tenant, cid).await?;
    let assignment = match changes::assign(&ctx(config, now), lead, &partner, note, actor) {
        Planned::Unchanged(unchanged) => unchanged,
        Planned::Write(plan, assigned) => {
            deps.store
                .apply(&plan)
                .await
                .map_err(|e| LeadError::from_plan(cid, e))?;
            assigned
        }
    };
    let announced = match &assignment {
        Assignment::Unchanged(_) => Announced(true),
        Assignment::Assigned {
            lead,
            previous,
            history,
        } => {
            let notice = partner.telegram_chat_id.map(|chat| {
                notices::handed_to_partner(
                    &config.tenant,
                    &config.default_language,
                    lead,
                    &partner.name,
                    chat,
                    history.note.as_deref(),
                    &history.history_id,
                )
            });
            let detail = json!({"partner_id": partner.partner_id, "partner_name": partner.name, "previous_partner_id": previous});
            let queued = announce_after_change(
                deps,
                config,
                notice,
                Some((
                    "lead.assigned",
                    lead,
                    &history.history_id,
                    history.at_ms,
                    detail,
                )),
            )
            .await;
            Announced(queued.0 && partner.telegram_chat_id.is_some())
        }
    };
    Ok((assignment, partner, announced))
}

pub async fn add_note(
    deps: &Deps,
    config: &TenantConfig,
    cid: &str,
    text: String,
    actor: &Actor,
) -> Result<HistoryEntry, LeadError> {
    let now = sauda_shared::now_ms();
    let lead = existing_lead(deps, &config.tenant, cid).await?;
    let (plan, history) = changes::note(&ctx(config, now), &lead, text, actor);
    deps.store
        .apply(&plan)
        .await
        .map_err(|e| LeadError::from_plan(cid, e))?;
    let detail = json!({"note": history.note, "actor": history.actor});
    announce_after_change(
        deps,
        config,
        None,
        Some((
            "lead.note_added",
            &lead,
            &history.history_id,
            history.at_ms,
            detail,
        )),
    )
    .await;
    Ok(history)
}

/// Lets the agent answer again in every conversation of the lead (or of the contact,
/// when it has no lead). Returns the conversations resumed.
pub async fn resume_agent(
    deps: &Deps,
    config: &TenantConfig,
    cid: &str,
    actor: &Actor,
) -> Result<Vec<String>, LeadError> {
    let tenant = &config.tenant;
    let lead = deps.store.lead(tenant, cid).await?;
    let (plan, resumed) = changes::resume_agent(
        &ctx(config, sauda_shared::now_ms()),
        lead.as_ref(),
        cid,
        actor,
    );
    deps.store
        .apply(&plan)
        .await
        .map_err(|e| LeadError::from_plan(cid, e))?;
    tracing::info!(%tenant, contact = %Contact(tenant, cid), conversations = resumed.len(), "agent resumed");
    Ok(resumed)
}

/// Takes a contact whose lead is live out of the intent index.
pub async fn clear_intent(deps: &Deps, tenant: &TenantId, cid: &str) -> Result<(), LeadError> {
    match deps.store.apply(&changes::clear_intent(tenant, cid)).await {
        Ok(()) | Err(PlanError::Rejected(domain::Refusal::NotFound)) => Ok(()),
        Err(e) => Err(LeadError::from_plan(cid, e)),
    }
}
