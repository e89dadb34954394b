//! Payment webhooks: Telegram's payment updates (inside `/telegram`), Stripe
//! (`/stripe`) and a Kaspi aggregator (`/kaspi`). Each is verified first (401 and
//! nothing stored otherwise), then handed to the orders crate's one confirmation.

use crate::routes::{configured, invalid_payload, rejected, verified, within_limit};
use crate::Deps;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use orders::providers::kaspi::{self, Notification};
use orders::providers::stripe;
use orders::providers::telegram::{self as tg_pay, PaymentUpdate};
use orders::webhooks;
use sauda_shared::api::Tenant;
use sauda_shared::signature::{self, SignatureError};
use sauda_shared::tenant::TenantConfig;
use sauda_shared::ApiError;
use serde_json::Value;
use std::sync::Arc;

type Reply = Result<Json<Value>, ApiError>;

/// A signature header as text (an unreadable one is empty, so it fails to match).
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap_or_default())
}

fn now_s(deps: &Deps) -> i64 {
    deps.payments.now_ms() / 1000
}

/// A Telegram update that is about a payment, answered here; `None` for the rest.
/// A pre-checkout query costs one read, and its answer is this response's body.
pub async fn telegram_update(
    deps: &Deps,
    config: &TenantConfig,
    body: &[u8],
) -> Result<Option<Value>, ApiError> {
    let update = tg_pay::parse_update(body).map_err(|e| invalid_payload(e.0))?;
    match update {
        None => Ok(None),
        Some(PaymentUpdate::PreCheckout(query)) => {
            let answer = webhooks::pre_checkout(
                deps.payments.store.as_ref(),
                config,
                &query,
                deps.payments.now_ms(),
            )
            .await
            .map_err(|e| webhooks::confirm_failure(&config.tenant, e.into()))?;
            Ok(Some(answer))
        }
        Some(PaymentUpdate::Event { order_id, event }) => {
            webhooks::payment_event(&deps.payments, config, order_id, event, None)
                .await
                .map(Some)
        }
    }
}

/// `POST /t/{tenant}/stripe`: `Stripe-Signature` against every `v1`, under the
/// current and the previous endpoint secret, 300 s tolerance; deduplicated on `event.id`.
pub async fn stripe(
    State(deps): State<Arc<Deps>>,
    Tenant(config): Tenant,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    within_limit(body.len())?;
    let tenant = &config.tenant;
    let header = header(&headers, stripe::SIGNATURE_HEADER);
    let now = now_s(&deps);
    verified(&deps, tenant, "stripe", |secrets| {
        let current = configured(&secrets.stripe_webhook_secret, "stripe")?;
        let mut candidates = vec![current.expose()];
        candidates.extend(
            secrets
                .stripe_webhook_secret_previous
                .as_ref()
                .map(|s| s.expose()),
        );
        Ok(signature::verify_stripe_signature_any(
            &candidates,
            &body,
            header,
            now,
            stripe::SIGNATURE_TOLERANCE_S,
        ))
    })
    .await?;
    let event = stripe::parse_event(&body).map_err(|e| invalid_payload(e.0))?;
    webhooks::stripe_event(&deps.payments, &config, &event)
        .await
        .map(Json)
}

fn verify_kaspi(secret: &str, body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    if signature::hmac_hex_matches(secret, &[body], header) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// `POST /t/{tenant}/kaspi`: an aggregator's notification, HMAC-SHA256 of the raw body
/// under the tenant's `kaspi_webhook_secret`, its signed `timestamp` within 300 s.
pub async fn kaspi(
    State(deps): State<Arc<Deps>>,
    Tenant(config): Tenant,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    within_limit(body.len())?;
    let tenant = &config.tenant;
    let header = header(&headers, kaspi::SIGNATURE_HEADER);
    verified(&deps, tenant, "kaspi", |secrets| {
        let secret = configured(&secrets.kaspi_webhook_secret, "kaspi")?;
        Ok(verify_kaspi(secret.expose(), &body, header))
    })
    .await?;
    let Notification {
        order_id,
        event,
        timestamp_s,
    } = kaspi::parse_notification(&body).map_err(|e| invalid_payload(e.0))?;
    // `abs_diff`: the signed body may carry any i64; a subtraction could overflow.
    if now_s(&deps).abs_diff(timestamp_s) > kaspi::TIMESTAMP_TOLERANCE_S.unsigned_abs() {
        return Err(rejected(tenant, "kaspi", SignatureError::Expired));
    }
    webhooks::payment_event(&deps.payments, &config, order_id, event, None)
        .await
        .map(Json)
}
