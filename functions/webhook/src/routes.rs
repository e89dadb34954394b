//! HTTP routes. All error answers share the `{"error":{"code","message"}}` contract;
//! only a failing dependency yields a 5xx, so that the platform retries exactly then.

use crate::Deps;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use sauda_shared::api::{json_fallbacks, ApiQuery, Tenant};
use sauda_shared::inbox::ManagerUpdate;
use sauda_shared::message::{Attachment, DeliveryState, InboundMessage};
use sauda_shared::metrics::{self, Metric};
use sauda_shared::ports::{PutOutcome, StatusOutcome, StoreError};
use sauda_shared::redact::Contact;
use sauda_shared::secrets::{Secret, TenantSecrets};
use sauda_shared::signature::{self, SignatureError};
use sauda_shared::telegram::{self, ParseError, TelegramUpdate};
use sauda_shared::{envelope::Envelope, whatsapp, ApiError, TenantId};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use tracing::{info, warn};

/// WhatsApp allows payloads up to 3 MB; 4 MiB leaves headroom and stays under
/// Lambda's 6 MB synchronous limit.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
pub const TELEGRAM_SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
pub const WHATSAPP_SIGNATURE_HEADER: &str = "x-hub-signature-256";

pub fn router(deps: Arc<Deps>) -> Router {
    json_fallbacks(
        Router::new()
            .route("/t/{tenant}/telegram", post(telegram))
            .route(
                "/t/{tenant}/whatsapp",
                get(whatsapp_verify).post(whatsapp_events),
            )
            .route("/t/{tenant}/stripe", post(crate::payments::stripe))
            .route("/t/{tenant}/kaspi", post(crate::payments::kaspi))
            // The size limit is enforced in the handlers, so the 413 carries our JSON body.
            .layer(DefaultBodyLimit::disable()),
    )
    .with_state(deps)
}

type Reply = Result<Json<Value>, ApiError>;

async fn telegram(
    State(deps): State<Arc<Deps>>,
    Tenant(config): Tenant,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    within_limit(body.len())?;
    let tenant = &config.tenant;
    let presented = headers.get(TELEGRAM_SECRET_HEADER).map(|v| v.as_bytes());
    verified(&deps, tenant, "telegram", |secrets| {
        let expected = configured(&secrets.telegram_webhook_secret, "telegram")?;
        Ok(signature::verify_telegram_secret(
            expected.expose(),
            presented,
        ))
    })
    .await?;

    // Payment updates (pre-checkout queries, payment messages) go to the orders
    // crate; a pre-checkout answer is this response's body.
    if let Some(answer) = crate::payments::telegram_update(&deps, &config, &body).await? {
        return Ok(Json(answer));
    }
    match telegram::parse_update(tenant, &body).map_err(invalid_body)? {
        TelegramUpdate::Ignored { update_id, kind } => {
            info!(%tenant, update_id, kind, "telegram update ignored: unsupported kind");
            Ok(Json(json!({"ok": true, "ignored": kind})))
        }
        TelegramUpdate::Callback {
            update_id,
            query_id,
            message,
        } => {
            // Answered in this response, so the button's spinner stops at once; what the
            // press does arrives as the agent's next message.
            if let Some(message) = message {
                let outcome = ingest(&deps, &message).await?;
                info!(%tenant, update_id, contact = %Contact(tenant, &message.contact), ?outcome, "telegram button press accepted");
            }
            Ok(Json(
                json!({"method": "answerCallbackQuery", "callback_query_id": query_id}),
            ))
        }
        TelegramUpdate::Message {
            update_id,
            message,
            replying_to,
            chat,
        } => {
            if config
                .managers
                .iter()
                .any(|m| m.chat_id.to_string() == message.reply_to)
            {
                relay(&deps, &message, replying_to).await?;
                info!(%tenant, update_id, "manager update routed to the inbox");
                return Ok(Json(json!({"ok": true, "manager": true})));
            }
            if !chat.answerable(
                message.text.as_deref(),
                config.telegram_bot_username.as_deref(),
            ) {
                // Service messages and group chatter not addressed to the bot are
                // neither stored nor answered.
                let kind = if chat.service {
                    "service"
                } else {
                    "not_addressed"
                };
                info!(%tenant, update_id, kind, "telegram message ignored");
                return Ok(Json(json!({"ok": true, "ignored": kind})));
            }
            let outcome = ingest(&deps, &message).await?;
            info!(%tenant, update_id, contact = %Contact(tenant, &message.contact), ?outcome, "telegram message accepted");
            Ok(Json(
                json!({"ok": true, "duplicate": outcome == PutOutcome::Duplicate}),
            ))
        }
    }
}

#[derive(Deserialize)]
struct VerifyQuery {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// Meta's subscription handshake: echo `hub.challenge` only for the right verify token.
async fn whatsapp_verify(
    State(deps): State<Arc<Deps>>,
    Tenant(config): Tenant,
    ApiQuery(query): ApiQuery<VerifyQuery>,
) -> Result<Response, ApiError> {
    let tenant = &config.tenant;
    let forbidden = || {
        ApiError::forbidden(
            "verification_failed",
            "hub.mode or hub.verify_token is wrong",
        )
    };
    let (Some(mode), Some(token), Some(challenge)) =
        (query.mode, query.verify_token, query.challenge)
    else {
        return Err(forbidden());
    };
    if challenge.len() > 1024 {
        return Err(ApiError::bad_request(
            "invalid_challenge",
            "hub.challenge is too long",
        ));
    }
    if mode != "subscribe" {
        return Err(forbidden());
    }
    let token_ok = verified(&deps, tenant, "whatsapp", |secrets| {
        let expected = configured(&secrets.whatsapp_verify_token, "whatsapp")?;
        Ok(signature::verify_telegram_secret(
            expected.expose(),
            Some(token.as_bytes()),
        ))
    })
    .await;
    match token_ok {
        Ok(_) => {}
        Err(e) if e.status == http::StatusCode::UNAUTHORIZED => {
            warn!(%tenant, "whatsapp verification rejected");
            return Err(forbidden());
        }
        Err(e) => return Err(e),
    }
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        challenge,
    )
        .into_response())
}

async fn whatsapp_events(
    State(deps): State<Arc<Deps>>,
    Tenant(config): Tenant,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    within_limit(body.len())?;
    let tenant = &config.tenant;
    let presented = headers.get(WHATSAPP_SIGNATURE_HEADER).map(|v| v.as_bytes());
    verified(&deps, tenant, "whatsapp", |secrets| {
        let app_secret = configured(&secrets.whatsapp_app_secret, "whatsapp")?;
        Ok(signature::verify_whatsapp_signature(
            app_secret.expose(),
            &body,
            presented,
        ))
    })
    .await?;

    let batches = whatsapp::parse_webhook(tenant, &body).map_err(invalid_body)?;
    let (mut stored, mut duplicates, mut statuses, mut ignored) = (0, 0, 0, 0);
    for batch in batches {
        ignored += batch.ignored;
        let foreign_number = config
            .whatsapp_phone_number_id
            .as_deref()
            .is_some_and(|own| !batch.phone_number_id.is_empty() && own != batch.phone_number_id);
        if foreign_number {
            // One Meta app may serve several numbers; never file another number's
            // customers under this tenant.
            warn!(%tenant, phone_number_id = %batch.phone_number_id, "whatsapp change for another number ignored");
            ignored += batch.messages.len() + batch.statuses.len();
            continue;
        }
        // In payload order, so a conversation's order survives into the FIFO queue.
        for message in &batch.messages {
            match ingest(&deps, message).await? {
                PutOutcome::Stored => stored += 1,
                PutOutcome::Duplicate => duplicates += 1,
            }
        }
        for status in &batch.statuses {
            let outcome = deps
                .store
                .apply_delivery_status(status)
                .await
                .map_err(|e| store_failure(tenant, "delivery status not applied", e))?;
            match outcome {
                StatusOutcome::Applied if status.state == DeliveryState::Failed => {
                    statuses += 1;
                    // The managers hear why (a template error, the closed window).
                    deps.notify
                        .send(&Envelope::delivery_failed(status.clone()), 0)
                        .await
                        .map_err(|e| {
                            warn!(%tenant, error = %e, "failed status applied but not queued for the managers");
                            ApiError::dependency("queue unavailable")
                        })?;
                }
                StatusOutcome::Applied => statuses += 1,
                StatusOutcome::Stale => ignored += 1,
                StatusOutcome::UnknownMessage => {
                    info!(%tenant, id = %status.platform_message_id, "status for a message Sauda did not send");
                    ignored += 1
                }
            }
        }
    }
    info!(%tenant, stored, duplicates, statuses, ignored, "whatsapp webhook accepted");
    Ok(Json(json!({
        "ok": true, "stored": stored, "duplicates": duplicates, "statuses": statuses, "ignored": ignored
    })))
}

/// Store once, then queue. A duplicate is queued again: if an earlier attempt stored
/// the message but failed to queue it, the platform's retry must still queue it.
/// The FIFO deduplication id suppresses the repeat within 5 minutes, and consumers
/// skip messages they already answered.
async fn ingest(deps: &Deps, message: &InboundMessage) -> Result<PutOutcome, ApiError> {
    let tenant = &message.tenant;
    let outcome = deps
        .store
        .put_inbound(message)
        .await
        .map_err(|e| store_failure(tenant, "inbound message not stored", e))?;
    if outcome == PutOutcome::Stored {
        metrics::emit(Metric::MessagesReceived, 1);
    }
    let envelope = Envelope::inbound(message.clone());
    deps.queue
        .enqueue(&envelope, &message.message_group_id(), &message.deduplication_id())
        .await
        .map_err(|e| {
            warn!(%tenant, contact = %Contact(tenant, &message.contact), error = %e, "inbound message stored but not queued; platform will retry");
            ApiError::dependency("queue unavailable")
        })?;
    Ok(outcome)
}

/// A manager's message goes to the notifier, never to the agent: nothing is stored here,
/// and a queue failure answers 503 so that Telegram delivers the update again.
async fn relay(
    deps: &Deps,
    message: &InboundMessage,
    replying_to: Option<i64>,
) -> Result<(), ApiError> {
    let tenant = &message.tenant;
    let (Ok(chat_id), Ok(message_id)) = (
        message.reply_to.parse::<i64>(),
        message.platform_message_id.parse::<i64>(),
    ) else {
        return Err(ApiError::bad_request(
            "invalid_payload",
            "chat and message ids must be integers",
        ));
    };
    let update = ManagerUpdate {
        tenant: tenant.clone(),
        chat_id,
        message_id,
        replying_to,
        text: message.text.clone(),
        photo_file_id: match &message.attachment {
            Some(Attachment::Photo { file_id }) => Some(file_id.clone()),
            _ => None,
        },
        sender_name: message.display_name.clone(),
        at_ms: message.timestamp_ms,
    };
    deps.notify
        .send(&Envelope::manager_update(update), 0)
        .await
        .map_err(|e| {
            warn!(%tenant, error = %e, "manager update not queued; Telegram will retry");
            ApiError::dependency("queue unavailable")
        })
}

/// 503 only for what a retry can fix; a request the store refuses for good (an item or
/// key over its limits) is 422, so the platform does not retry it for days.
fn store_failure(tenant: &TenantId, what: &str, e: StoreError) -> ApiError {
    warn!(%tenant, error = %e, "{what}");
    if e.is_permanent() {
        ApiError::unprocessable("message_rejected", "the message cannot be stored")
    } else {
        ApiError::dependency("message store unavailable")
    }
}

pub(crate) fn within_limit(body_len: usize) -> Result<(), ApiError> {
    if body_len > MAX_BODY_BYTES {
        return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
    }
    Ok(())
}

async fn tenant_secrets(
    deps: &Deps,
    tenant: &TenantId,
    fresh: bool,
) -> Result<Arc<TenantSecrets>, ApiError> {
    let secrets = if fresh {
        deps.secrets.refresh_tenant_secrets(tenant).await
    } else {
        deps.secrets.tenant_secrets(tenant).await
    };
    let secrets = secrets.map_err(|e| {
        warn!(%tenant, error = %e, "tenant secrets unavailable");
        ApiError::dependency("secrets unavailable")
    })?;
    Ok(secrets.unwrap_or_default())
}

/// Runs `check` against the cached secrets; if it fails, once more against a fresh read
/// (the adapter allows one per tenant every few seconds), so a rotated secret works at
/// once and the old one stops working as soon as the new one has been read.
pub(crate) async fn verified<F>(
    deps: &Deps,
    tenant: &TenantId,
    channel: &str,
    check: F,
) -> Result<Arc<TenantSecrets>, ApiError>
where
    F: Fn(&TenantSecrets) -> Result<Result<(), SignatureError>, ApiError>,
{
    let cached = tenant_secrets(deps, tenant, false).await?;
    let first = match check(&cached) {
        Ok(Ok(())) => return Ok(cached),
        // Nothing presented: no fresher secret can match it.
        Ok(Err(SignatureError::Missing)) => {
            return Err(rejected(tenant, channel, SignatureError::Missing))
        }
        Ok(Err(e)) => e,
        // Not configured in the cache: a fresh read may know better too.
        Err(_) => SignatureError::Mismatch,
    };
    let fresh = tenant_secrets(deps, tenant, true).await?;
    match check(&fresh)? {
        Ok(()) => Ok(fresh),
        Err(_) => Err(rejected(tenant, channel, first)),
    }
}

pub(crate) fn configured<'a>(
    secret: &'a Option<Secret>,
    channel: &str,
) -> Result<&'a Secret, ApiError> {
    secret.as_ref().ok_or_else(|| {
        ApiError::not_found(
            "channel_not_configured",
            format!("{channel} is not configured for this tenant"),
        )
    })
}

pub(crate) fn rejected(tenant: &TenantId, channel: &str, error: SignatureError) -> ApiError {
    warn!(%tenant, channel, %error, "webhook authentication failed");
    let code = match channel {
        "telegram" => "invalid_secret_token",
        _ => "invalid_signature",
    };
    ApiError::unauthorized(code, error.to_string())
}

pub(crate) fn invalid_payload(detail: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_payload", detail)
}

fn invalid_body(error: ParseError) -> ApiError {
    match error {
        ParseError::MalformedJson(detail) => ApiError::bad_request("malformed_json", detail),
        ParseError::InvalidShape(detail) => ApiError::bad_request("invalid_payload", detail),
    }
}
