//! The manager API under `/t/{tenant}/leads/…`, authenticated with the tenant's API
//! keys (`Authorization: Bearer sk_…` or `X-Api-Key`), role manager or admin. A key is
//! looked up inside the URL's tenant only, so another tenant's key is simply unknown.

use super::{json_body, MAX_MANAGER_BYTES};
use crate::cursor;
use crate::model::Actor;
use crate::service;
use crate::store::{Assignment, StageChange, StageMove};
use crate::validate::{self, valid_contact_id, NOTE_MAX, REASON_MAX};
use crate::Deps;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use sauda_shared::api::extract::auth_error;
use sauda_shared::apikey::{self, Role};
use sauda_shared::funnel::Stage;
use sauda_shared::partner::valid_partner_id;
use sauda_shared::tenant::TenantConfig;
use sauda_shared::{ApiError, TenantId};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

pub const DEFAULT_PAGE: usize = 25;
pub const MAX_PAGE: usize = 100;

type Reply = Result<Response, ApiError>;

/// Authenticates the key against the URL's tenant and loads the tenant.
async fn manager(
    deps: &Deps,
    raw_tenant: &str,
    headers: &HeaderMap,
) -> Result<(Arc<TenantConfig>, Actor), ApiError> {
    let presented = apikey::from_headers(headers);
    if presented.is_none_or(str::is_empty) {
        return Err(auth_error(apikey::AuthError::Missing));
    }
    // An id that cannot be a tenant has no keys: the same answer as a wrong key.
    let tenant = TenantId::parse(raw_tenant).map_err(|_| auth_error(apikey::AuthError::Invalid))?;
    let principal = deps
        .api_keys
        .authenticate(&tenant, presented)
        .await
        .map_err(auth_error)?;
    if !matches!(principal.role, Role::Manager | Role::Admin) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "role_not_allowed",
            "this key may not work with leads; use a manager or admin key",
        ));
    }
    let config = deps
        .tenants
        .tenant(&tenant)
        .await
        .map_err(|e| {
            tracing::warn!(%tenant, error = %e, "tenant lookup failed");
            ApiError::dependency("tenant directory unavailable")
        })?
        .ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, "tenant_not_found", "no such tenant")
        })?;
    if !config.is_active() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "tenant_suspended",
            "tenant is suspended",
        ));
    }
    Ok((
        config,
        Actor::Manager {
            key_id: principal.key_id,
        },
    ))
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
    State(deps): State<Arc<Deps>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Reply {
    let (config, _) = manager(&deps, &tenant, &headers).await?;
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
    let after = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(raw) => Some(cursor::decode(raw, stage).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_cursor",
                "the cursor is not one this listing returned",
            )
        })?),
    };
    let (leads, next) = deps
        .store
        .list(&config.tenant, stage, limit, after)
        .await
        .map_err(crate::LeadError::from)?;
    Ok(Json(json!({
        "stage": stage,
        "leads": leads.iter().map(|l| l.to_json()).collect::<Vec<Value>>(),
        "next_cursor": next.map(|(gsi1sk, _)| cursor::encode(stage, &gsi1sk)),
    }))
    .into_response())
}

pub async fn get(
    State(deps): State<Arc<Deps>>,
    Path((tenant, cid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Reply {
    let (config, _) = manager(&deps, &tenant, &headers).await?;
    let cid = contact(&cid)?;
    let view = deps
        .store
        .view(&config.tenant, cid)
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
struct StageBody {
    stage: Option<String>,
    /// Apply only if the lead is still in this stage (guards a stale screen).
    expected_stage: Option<String>,
    reason: Option<String>,
}

async fn stage_change(
    deps: &Deps,
    config: &TenantConfig,
    actor: &Actor,
    cid: &str,
    body: StageBody,
) -> Reply {
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
        deps,
        config,
        cid,
        StageMove {
            to,
            expected,
            reason,
        },
        actor,
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

pub async fn stage(
    State(deps): State<Arc<Deps>>,
    Path((tenant, cid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let (config, actor) = manager(&deps, &tenant, &headers).await?;
    let cid = contact(&cid)?;
    let body: StageBody = json_body(&body, MAX_MANAGER_BYTES)?;
    stage_change(&deps, &config, &actor, cid, body).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    partner_id: Option<String>,
    note: Option<String>,
}

pub async fn assign(
    State(deps): State<Arc<Deps>>,
    Path((tenant, cid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let (config, actor) = manager(&deps, &tenant, &headers).await?;
    let cid = contact(&cid)?;
    let body: AssignBody = json_body(&body, MAX_MANAGER_BYTES)?;
    let partner_id = bounded_text("partner_id", body.partner_id, 40, true)?.unwrap_or_default();
    if !valid_partner_id(&partner_id) {
        return Err(crate::LeadError::PartnerNotFound(partner_id).into());
    }
    let note = bounded_text("note", body.note, NOTE_MAX, false)?;
    let (assignment, partner, announced) =
        service::assign(&deps, &config, cid, &partner_id, note, &actor).await?;
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
struct NoteBody {
    text: Option<String>,
}

pub async fn note(
    State(deps): State<Arc<Deps>>,
    Path((tenant, cid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let (config, actor) = manager(&deps, &tenant, &headers).await?;
    let cid = contact(&cid)?;
    let body: NoteBody = json_body(&body, MAX_MANAGER_BYTES)?;
    let text = bounded_text("text", body.text, NOTE_MAX, true)?.unwrap_or_default();
    let entry = service::add_note(&deps, &config, cid, text, &actor).await?;
    Ok((StatusCode::CREATED, Json(json!({"note": entry.to_json()}))).into_response())
}

pub async fn resume_agent(
    State(deps): State<Arc<Deps>>,
    Path((tenant, cid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Reply {
    let (config, actor) = manager(&deps, &tenant, &headers).await?;
    let cid = contact(&cid)?;
    let resumed = deps
        .store
        .resume_agent(&config.tenant, cid, &actor, sauda_shared::now_ms())
        .await?;
    tracing::info!(tenant = %config.tenant, contact = cid, ?resumed, "agent resumed by a manager");
    Ok(Json(json!({"resumed": resumed})).into_response())
}
