//! The inbox API under `/t/{tenant}/conversations…`, for manager keys
//! (`Caller<Managers>`: the tenant exists and is active, the key belongs to that tenant,
//! its role is manager, admin or tenant admin, the per-key rate limit holds). Every
//! store key is rebuilt from the authenticated tenant, so no request reaches another
//! tenant's items.

use crate::domain::{self, Filter, Position, Refusal, Row, SendTemplate, SendText};
use crate::Deps;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use sauda_shared::api::{
    cursor, json_fallbacks, ApiPath, ApiQuery, Caller, IdempotencyKey, JsonBody, Managers,
};
use sauda_shared::funnel::Stage;
use sauda_shared::message::Channel;
use sauda_shared::outbox::{Author, Body};
use sauda_shared::plan::PlanError;
use sauda_shared::ports::StoreError;
use sauda_shared::{ApiError, TenantId};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use tracing::{info, warn};

type Manager = Caller<Managers>;
type Reply = Result<Response, ApiError>;

pub fn router(deps: Arc<Deps>) -> Router {
    json_fallbacks(
        Router::new()
            .route("/t/{tenant}/conversations", get(list))
            .route(
                "/t/{tenant}/conversations/{contact}/messages",
                get(transcript).post(send_text),
            )
            .route(
                "/t/{tenant}/conversations/{contact}/template",
                post(send_template),
            )
            .route("/t/{tenant}/conversations/{contact}/read", post(read))
            .route("/t/{tenant}/conversations/{contact}/assign", post(assign))
            .route("/t/{tenant}/conversations/{contact}/pause", post(pause))
            .route("/t/{tenant}/conversations/{contact}/resume", post(resume))
            .route("/t/{tenant}/templates", get(templates)),
    )
    .with_state(deps)
}

fn store_failure(tenant: &TenantId, e: StoreError) -> ApiError {
    warn!(%tenant, error = %e, "inbox store failed");
    if e.is_permanent() {
        ApiError::unprocessable("request_rejected", "the store refused this request")
    } else {
        ApiError::dependency("conversation store unavailable")
    }
}

fn plan_failure(tenant: &TenantId, e: PlanError<Refusal>) -> ApiError {
    match e {
        PlanError::Rejected(Refusal::NotFound) => domain::not_found(),
        PlanError::Rejected(Refusal::InFlight) | PlanError::Stale(_) => ApiError::conflict(
            "request_in_progress",
            "the same request is being handled; retry it in a moment",
        )
        .with_retry_after(1),
        PlanError::Store(e) => store_failure(tenant, e),
    }
}

fn flag(field: &'static str, raw: Option<&str>) -> Result<Option<bool>, ApiError> {
    match raw {
        None | Some("") => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::field(field, "invalid_filter", "true or false")),
    }
}

fn limit(raw: Option<&str>) -> Result<usize, ApiError> {
    match raw {
        None | Some("") => Ok(domain::DEFAULT_PAGE),
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=domain::MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::field(
                    "limit",
                    "invalid_limit",
                    format!("a number from 1 to {}", domain::MAX_PAGE),
                )
            }),
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    needs_reply: Option<String>,
    handed_off: Option<String>,
    agent_paused: Option<String>,
    unread: Option<String>,
    stage: Option<String>,
    channel: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

async fn list(
    caller: Manager,
    State(deps): State<Arc<Deps>>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Reply {
    let tenant = caller.tenant();
    let filter = Filter {
        needs_reply: flag("needs_reply", q.needs_reply.as_deref())?,
        handed_off: flag("handed_off", q.handed_off.as_deref())?,
        agent_paused: flag("agent_paused", q.agent_paused.as_deref())?,
        unread: flag("unread", q.unread.as_deref())?,
        stage: match q.stage.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(raw) => Some(Stage::parse(raw).ok_or_else(|| {
                let names: Vec<&str> = Stage::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::field(
                    "stage",
                    "invalid_stage",
                    format!("one of: {}", names.join(", ")),
                )
            })?),
        },
        channel: match q.channel.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some("telegram") => Some(Channel::Telegram),
            Some("whatsapp") => Some(Channel::Whatsapp),
            Some(_) => {
                return Err(ApiError::field(
                    "channel",
                    "invalid_channel",
                    "telegram or whatsapp",
                ))
            }
        },
    };
    let limit = limit(q.limit.as_deref())?;
    let route = filter.route();
    let after: Option<Position> = cursor::decode_opt(tenant, &route, q.cursor.as_deref())?;
    let condition = filter.condition();
    let page = deps
        .store
        .list(tenant, condition.as_ref(), limit, limit * 4, after.as_ref())
        .await
        .map_err(|e| store_failure(tenant, e))?;
    let contacts: Vec<String> = page.items.iter().map(|i| i.contact.clone()).collect();
    let mut profiles = deps
        .store
        .profiles(tenant, &contacts)
        .await
        .map_err(|e| store_failure(tenant, e))?;
    let now = sauda_shared::now_ms();
    let rows: Vec<Value> = page
        .items
        .into_iter()
        .map(|item| {
            let profile = profiles.remove(&item.contact);
            Row::new(item, profile.as_ref())
        })
        .filter(|row| filter.still_matches(row))
        .map(|row| row.to_json(now))
        .collect();
    Ok(Json(json!({
        "conversations": rows,
        "next_cursor": page.next.map(|p| cursor::encode(tenant, &route, &p)),
    }))
    .into_response())
}

#[derive(Deserialize)]
pub struct PageQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

async fn transcript(
    caller: Manager,
    State(deps): State<Arc<Deps>>,
    ApiPath((_, contact)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Reply {
    let tenant = caller.tenant();
    let contact = domain::contact_id(&contact)?;
    let route = format!("transcript:{contact}");
    let before: Option<String> = cursor::decode_opt(tenant, &route, q.cursor.as_deref())?;
    let (messages, next) = deps
        .store
        .transcript(
            tenant,
            contact,
            limit(q.limit.as_deref())?,
            before.as_deref(),
        )
        .await
        .map_err(|e| store_failure(tenant, e))?;
    if messages.is_empty() && before.is_none() {
        return Err(domain::not_found());
    }
    Ok(Json(json!({
        "contact": contact,
        "messages": messages.iter().map(|m| m.to_json()).collect::<Vec<Value>>(),
        "next_cursor": next.map(|sk| cursor::encode(tenant, &route, &sk)),
    }))
    .into_response())
}

async fn read(
    caller: Manager,
    State(deps): State<Arc<Deps>>,
    ApiPath((_, contact)): ApiPath<(String, String)>,
) -> Reply {
    let tenant = caller.tenant();
    let contact = domain::contact_id(&contact)?;
    let now = sauda_shared::now_ms();
    deps.store
        .update(domain::read_update(tenant, contact, now), Refusal::NotFound)
        .await
        .map_err(|e| plan_failure(tenant, e))?;
    Ok(Json(json!({"contact": contact, "unread": 0, "read_at_ms": now})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// A manager's Telegram chat from the tenant's `managers`; `null` unassigns.
    chat_id: Option<i64>,
}

async fn assign(
    caller: Manager,
    State(deps): State<Arc<Deps>>,
    ApiPath((_, contact)): ApiPath<(String, String)>,
    JsonBody(body): JsonBody<AssignBody>,
) -> Reply {
    let tenant = caller.tenant();
    let contact = domain::contact_id(&contact)?;
    let manager = match body.chat_id {
        None => None,
        Some(chat) => Some(
            caller
                .config
                .managers
                .iter()
                .find(|m| m.chat_id == chat)
                .ok_or_else(|| {
                    ApiError::field(
                        "chat_id",
                        "unknown_manager",
                        "not one of the tenant's managers",
                    )
                })?,
        ),
    };
    deps.store
        .apply(&domain::assign_plan(
            tenant,
            contact,
            manager.map(|m| (m.chat_id, m.name.as_str())),
        ))
        .await
        .map_err(|e| plan_failure(tenant, e))?;
    info!(%tenant, assigned = manager.is_some(), "conversation assignment changed");
    Ok(Json(json!({
        "contact": contact,
        "assignee": manager.map(|m| json!({"chat_id": m.chat_id, "name": m.name})),
    }))
    .into_response())
}

async fn set_paused(caller: &Manager, deps: &Deps, contact: &str, paused: bool) -> Reply {
    let tenant = caller.tenant();
    let contact = domain::contact_id(contact)?;
    deps.store
        .apply(&domain::pause_plan(
            tenant,
            contact,
            paused,
            sauda_shared::now_ms(),
        ))
        .await
        .map_err(|e| plan_failure(tenant, e))?;
    Ok(Json(json!({"contact": contact, "agent_paused": paused})).into_response())
}

async fn pause(
    caller: Manager,
    State(deps): State<Arc<Deps>>,
    ApiPath((_, contact)): ApiPath<(String, String)>,
) -> Reply {
    set_paused(&caller, &deps, &contact, true).await
}

async fn resume(
    caller: Manager,
    State(deps): State<Arc<Deps>>,
    ApiPath((_, contact)): ApiPath<(String, String)>,
) -> Reply {
    set_paused(&caller, &deps, &contact, false).await
}

async fn templates(caller: Manager) -> Reply {
    Ok(Json(json!({"templates": domain::templates_json(&caller.config)})).into_response())
}

/// The client's idempotency id: the header, else the body's `client_id` (required).
fn client_id(header: IdempotencyKey, body: Option<&str>) -> Result<String, ApiError> {
    if header.0.is_some() {
        return header.required();
    }
    let raw = body.map(|b| http::HeaderValue::from_str(b).map_err(|_| ()));
    match raw {
        Some(Ok(value)) => IdempotencyKey::parse(Some(&value))?.required(),
        Some(Err(())) => Err(ApiError::bad_request(
            "invalid_idempotency_key",
            "client_id must be 1-128 characters of A-Z a-z 0-9 . _ : -",
        )),
        None => Err(ApiError::bad_request(
            "idempotency_key_required",
            "send an Idempotency-Key header (or `client_id` in the body), so that a retry never sends twice",
        )),
    }
}

enum What {
    Text(SendText),
    Template(SendTemplate),
}

async fn send_text(
    caller: Manager,
    State(deps): State<Arc<Deps>>,
    ApiPath((_, contact)): ApiPath<(String, String)>,
    key: IdempotencyKey,
    JsonBody(body): JsonBody<SendText>,
) -> Reply {
    send(caller, deps, contact, key, What::Text(body)).await
}

async fn send_template(
    caller: Manager,
    State(deps): State<Arc<Deps>>,
    ApiPath((_, contact)): ApiPath<(String, String)>,
    key: IdempotencyKey,
    JsonBody(body): JsonBody<SendTemplate>,
) -> Reply {
    send(caller, deps, contact, key, What::Template(body)).await
}

/// A manager's message, through the notify queue: 202 once queued. Checks, then one
/// read (row, profile, an earlier send with this key), one transaction (the key's
/// record, the agent's pause), one queue send. A retry with the same key and body is
/// queued again (the notifier sends each id once) and answered the same.
async fn send(
    caller: Manager,
    deps: Arc<Deps>,
    contact: String,
    key: IdempotencyKey,
    what: What,
) -> Reply {
    let tenant = caller.tenant().clone();
    let contact = domain::contact_id(&contact)?.to_owned();
    let client = client_id(
        key,
        match &what {
            What::Text(b) => b.client_id.as_deref(),
            What::Template(b) => b.client_id.as_deref(),
        },
    )?;
    let idem = domain::idem_key(&tenant, caller.key_id(), &client);
    let context = deps
        .store
        .send_context(&tenant, &contact, &idem)
        .await
        .map_err(|e| store_failure(&tenant, e))?;
    let target = domain::target(&contact, context.profile.as_ref(), context.row.as_ref())?;
    let body: Body = match &what {
        What::Text(b) => domain::text_body(b, target.channel, deps.urls)?,
        What::Template(b) => domain::template_body(&caller.config, b, target.channel)?,
    };
    let now = sauda_shared::now_ms();
    let hash = domain::request_hash(&contact, &body);
    let message_id = domain::message_id(caller.key_id(), &client);
    let replayed = match &context.earlier {
        Some(earlier) if earlier.request_hash != hash || earlier.contact != contact => {
            return Err(ApiError::conflict(
                "idempotency_key_reused",
                "this idempotency key was used for another message",
            ))
        }
        Some(_) => true,
        None => {
            domain::check_window(&caller.config, &target, &body, now)?;
            let record = domain::IdemRecord {
                pk: idem.0.clone(),
                sk: idem.1.clone(),
                request_hash: hash,
                message_id: message_id.clone(),
                contact: contact.clone(),
                created_ms: now,
                expires_at: now / 1000 + domain::IDEMPOTENCY_TTL_S,
            };
            deps.store
                .apply(&domain::send_plan(
                    &caller.config,
                    &contact,
                    &target,
                    record,
                    now,
                ))
                .await
                .map_err(|e| plan_failure(&tenant, e))?;
            false
        }
    };
    let parts = match &body {
        Body::Text { text, .. } if target.channel == Channel::Telegram => {
            sauda_shared::telegram_api::split_message(
                text,
                sauda_shared::telegram_api::MAX_MESSAGE_UNITS,
            )
            .len()
        }
        _ => 1,
    };
    let name = caller_name(&caller);
    let message = domain::customer_message(
        &tenant,
        message_id.clone(),
        &contact,
        &target,
        Author::Manager {
            name,
            key_id: Some(caller.key_id().to_owned()),
            chat_id: None,
        },
        body,
    );
    sauda_shared::outbox::send(deps.notify.as_ref(), message)
        .await
        .map_err(|e| {
            warn!(%tenant, error = %e, "manager message not queued");
            ApiError::dependency("queue unavailable")
        })?;
    info!(%tenant, replayed, "manager message queued");
    let mut headers = HeaderMap::new();
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok((
        StatusCode::ACCEPTED,
        headers,
        Json(json!({
            "id": message_id,
            "contact": contact,
            "status": "queued",
            "parts": parts,
            "agent_paused": caller.config.inbox.pause_agent_on_reply,
        })),
    )
        .into_response())
}

/// The manager's name on the transcript: the key's label, else its role.
fn caller_name(caller: &Manager) -> String {
    let label = caller.principal.label.trim();
    if label.is_empty() {
        caller.principal.role.name().to_owned()
    } else {
        label.to_owned()
    }
}
