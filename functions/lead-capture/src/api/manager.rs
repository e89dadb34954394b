//! The manager API under `/t/{tenant}/leads/…`: the shared `Caller<Managers>` checks
//! the tenant (exists, active), the API key inside that tenant only (`Authorization:
//! Bearer sk_…` or `X-Api-Key`; another tenant's key is unknown here), the role
//! (manager, admin or tenant admin) and the per-key rate limit.

use crate::domain::{Assignment, StageChange, StageMove};
use crate::model::Actor;
use crate::service;
use crate::store::ListPosition;
use crate::validate::{self, valid_contact_id, NOTE_MAX, REASON_MAX};
use crate::Deps;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use sauda_shared::api::{ApiPath, ApiQuery, Caller, JsonBody, Managers};
use sauda_shared::funnel::Stage;
use sauda_shared::partner::valid_partner_id;
use sauda_shared::ApiError;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

use super::MAX_MANAGER_BYTES;

pub const DEFAULT_PAGE: usize = 25;
pub const MAX_PAGE: usize = 100;

type Reply = Result<Response, ApiError>;
type Manager = Caller<Managers>;
type Body<T> = JsonBody<T, MAX_MANAGER_BYTES>;

/// Who did it, in the lead's history: `manager:{key_id}`.
fn actor(caller: &Manager) -> Actor {
    Actor::Manager {
        key_id: caller.key_id().to_owned(),
    }
}

fn contact(raw: &str) -> Result<&str, ApiError> {
    if valid_contact_id(raw) {
        Ok(raw)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "lead_not_found",
            format!("no lead for contact {}", validate::truncate(raw, 60)),
        ))
    }
}

fn parse_stage(field: &'static str, raw: &str) -> Result<Stage, ApiError> {
    Stage::parse(raw).ok_or_else(|| {
        let names: Vec<&str> = Stage::ALL.iter().map(|s| s.as_str()).collect();
        ApiError::field(
            field,
            "invalid_stage",
            format!("unknown stage; one of: {}", names.join(", ")),
        )
    })
}

fn bounded_text(
    field: &'static str,
    raw: Option<String>,
    max: usize,
    required: bool,
) -> Result<Option<String>, ApiError> {
    let text = raw.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    match text {
        None if required => Err(ApiError::field(
            field,
            "required",
            format!("{field} is required"),
        )),
        Some(t) if t.chars().count() > max => Err(ApiError::field(
            field,
            "too_long",
            format!("at most {max} characters"),
        )),
        other => Ok(other),
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    stage: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

pub async fn list(
    caller: Manager,
    State(deps): State<Arc<Deps>>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Reply {
    let tenant = caller.tenant();
    let stage = parse_stage("stage", query.stage.as_deref().unwrap_or("new"))?;
    let limit = match query.limit.as_deref() {
        None => DEFAULT_PAGE,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::field(
                    "limit",
                    "invalid_limit",
                    format!("a number from 1 to {MAX_PAGE}"),
                )
            })?,
    };
    let after = ListPosition::from_cursor(tenant, stage, query.cursor.as_deref())?;
    let (leads, next) = deps
        .store
        .list(tenant, stage, limit, after)
        .await
        .map_err(crate::LeadError::from)?;
    Ok(Json(json!({
        "stage": stage,
        "leads": leads.iter().map(|l| l.to_json()).collect::<Vec<Value>>(),
        "next_cursor": next.map(|p| p.cursor(tenant, stage)),
    }))
    .into_response())
}

pub async fn get(
    caller: Manager,
    State(deps): State<Arc<Deps>>,
    ApiPath((_, cid)): ApiPath<(String, String)>,
) -> Reply {
    let cid = contact(&cid)?;
    let view = deps
        .store
        .view(caller.tenant(), cid)
        .await
        .map_err(crate::LeadError::from)?
        .ok_or_else(|| crate::LeadError::NotFound(cid.to_owned()))?;
    Ok(Json(json!({
        "lead": view.lead.to_json(),
        "history": view.history.iter().map(|h| h.to_json()).collect::<Vec<Value>>(),
        "conversations": view.conversations.iter().map(|(c, paused)| json!({
            "contact": c,
            "agent_paused": paused,
            "link": sauda_shared::contact::conversation_link(c),
        })).collect::<Vec<Value>>(),
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageBody {
    stage: Option<String>,
    /// Apply only if the lead is still in this stage (guards a stale screen).
    expected_stage: Option<String>,
    reason: Option<String>,
}

pub async fn stage(
    caller: Manager,
    State(deps): State<Arc<Deps>>,
    ApiPath((_, cid)): ApiPath<(String, String)>,
    JsonBody(body): Body<StageBody>,
) -> Reply {
    let cid = contact(&cid)?;
    let to = match body
        .stage
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(raw) => parse_stage("stage", raw)?,
        None => return Err(ApiError::field("stage", "required", "stage is required")),
    };
    let expected = body
        .expected_stage
        .as_deref()
        .map(|raw| parse_stage("expected_stage", raw))
        .transpose()?;
    let reason = bounded_text("reason", body.reason, REASON_MAX, false)?;
    let (change, announced) = service::change_stage(
        &deps,
        &caller.config,
        cid,
        StageMove {
            to,
            expected,
            reason,
        },
        &actor(&caller),
    )
    .await?;
    let (lead, changed) = match change {
        StageChange::Unchanged(lead) => (lead, false),
        StageChange::Changed { lead, .. } => (lead, true),
    };
    Ok(Json(
        json!({"lead": lead.to_json(), "changed": changed, "notified": changed && announced.0}),
    )
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    partner_id: Option<String>,
    note: Option<String>,
}

pub async fn assign(
    caller: Manager,
    State(deps): State<Arc<Deps>>,
    ApiPath((_, cid)): ApiPath<(String, String)>,
    JsonBody(body): Body<AssignBody>,
) -> Reply {
    let cid = contact(&cid)?;
    let partner_id = bounded_text("partner_id", body.partner_id, 40, true)?.unwrap_or_default();
    if !valid_partner_id(&partner_id) {
        return Err(crate::LeadError::PartnerNotFound(partner_id).into());
    }
    let note = bounded_text("note", body.note, NOTE_MAX, false)?;
    let (assignment, partner, announced) = service::assign(
        &deps,
        &caller.config,
        cid,
        &partner_id,
        note,
        &actor(&caller),
    )
    .await?;
    let (lead, changed) = match assignment {
        Assignment::Unchanged(lead) => (lead, false),
        Assignment::Assigned { lead, .. } => (lead, true),
    };
    Ok(Json(json!({
        "lead": lead.to_json(),
        "changed": changed,
        "partner_notified": changed && announced.0,
        "partner_has_telegram": partner.telegram_chat_id.is_some(),
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    text: Option<String>,
}

pub async fn note(
    caller: Manager,
    State(deps): State<Arc<Deps>>,
    ApiPath((_, cid)): ApiPath<(String, String)>,
    JsonBody(body): Body<NoteBody>,
) -> Reply {
    let cid = contact(&cid)?;
    let text = bounded_text("text", body.text, NOTE_MAX, true)?.unwrap_or_default();
    let entry = service::add_note(&deps, &caller.config, cid, text, &actor(&caller)).await?;
    Ok((StatusCode::CREATED, Json(json!({"note": entry.to_json()}))).into_response())
}

pub async fn resume_agent(
    caller: Manager,
    State(deps): State<Arc<Deps>>,
    ApiPath((_, cid)): ApiPath<(String, String)>,
) -> Reply {
    let cid = contact(&cid)?;
    let resumed = service::resume_agent(&deps, &caller.config, cid, &actor(&caller)).await?;
    Ok(Json(json!({"resumed": resumed})).into_response())
}
