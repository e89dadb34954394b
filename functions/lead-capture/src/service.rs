//! Use cases: the store's change, then what others must hear of it, in that order.
//!
//! Notices go on the notify queue and CRM events on the CRM queue; nothing here waits
//! on Telegram or the CRM. A capture whose announcements fail to queue reports an error,
//! so its producer retries; the retry is recognised as a duplicate and announces again
//! with the same notice and delivery ids, which the notifier and the CRM deduplicate.

use crate::crm;
use crate::error::LeadError;
use crate::model::{Actor, Lead};
use crate::notices;
use crate::store::{Applied, Assignment, Captured, StageChange, StageMove};
use crate::validate::ValidLead;
use crate::Deps;
use sauda_shared::envelope::Envelope;
use sauda_shared::notify::{self, Notice};
use sauda_shared::partner::Partner;
use sauda_shared::tenant::TenantConfig;
use serde_json::{json, Value};

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

/// Captures a validated lead and announces it.
pub async fn capture(
    deps: &Deps,
    config: &TenantConfig,
    lead: &ValidLead,
) -> Result<Captured, LeadError> {
    let now = sauda_shared::now_ms();
    let captured = deps.store.capture(config, lead, now).await?;
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
        contact = %captured.lead.contact,
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

pub async fn change_stage(
    deps: &Deps,
    config: &TenantConfig,
    cid: &str,
    change: StageMove,
    actor: &Actor,
) -> Result<(StageChange, Announced), LeadError> {
    let now = sauda_shared::now_ms();
    let change = deps
        .store
        .change_stage(config, cid, change, actor, now)
        .await?;
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
    let assignment = deps
        .store
        .assign(config, cid, &partner, note, actor, now)
        .await?;
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
) -> Result<crate::model::HistoryEntry, LeadError> {
    let now = sauda_shared::now_ms();
    let (lead, history) = deps
        .store
        .add_note(&config.tenant, cid, text, actor, now)
        .await?;
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
