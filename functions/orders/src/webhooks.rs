//! What the webhook function does with payment updates once it has verified them:
//! Telegram's pre-checkout queries (answered from one read, inside the webhook's own
//! response), Telegram payment messages, Stripe events and Kaspi notifications, all
//! through the one confirmation. Answers: 200 for anything applied, repeated, ignored
//! or naming an unknown order (so the provider stops retrying); 409 for a refund
//! whose charge is not recorded yet (so it retries); 503 only for a dependency.

use crate::confirm::{ConfirmError, Incoming, Outcome, PaymentEvent, Payments};
use crate::domain::{valid_order_id, ProviderEvent};
use crate::providers::stripe::{self, Action, StripeEvent};
use crate::providers::telegram::{self, PreCheckout};
use crate::store::OrderStore;
use sauda_shared::i18n::{orders as t, Lang};
use sauda_shared::order::{OrderError, Provider};
use sauda_shared::ports::StoreError;
use sauda_shared::tenant::TenantConfig;
use sauda_shared::ApiError;
use serde_json::{json, Value};

/// The answer to a pre-checkout query: accept only an order that exists, is unpaid,
/// unexpired and asks for exactly this amount and currency. One GetItem.
pub async fn pre_checkout(
    store: &dyn OrderStore,
    config: &TenantConfig,
    query: &PreCheckout,
    now_ms: i64,
) -> Result<Value, StoreError> {
    let order = if valid_order_id(&query.order_id) {
        store.get(&config.tenant, &query.order_id).await?
    } else {
        None
    };
    let language = query
        .language
        .as_deref()
        .or(order.as_ref().and_then(|o| o.language.as_deref()));
    let lang = Lang::pick(language, &config.default_language);
    let refusal = match &order {
        None => Some(&t::CHECKOUT_UNAVAILABLE),
        Some(order) => match order.payable_at(now_ms) {
            Err(OrderError::Expired) => Some(&t::CHECKOUT_EXPIRED),
            Err(OrderError::AlreadyPaid) => Some(&t::CHECKOUT_PAID),
            Err(_) => Some(&t::CHECKOUT_UNAVAILABLE),
            Ok(()) => {
                let same = order.currency.eq_ignore_ascii_case(&query.currency)
                    && order.total_minor == query.total_minor;
                (!same).then_some(&t::CHECKOUT_CHANGED)
            }
        },
    };
    if let Some(text) = refusal {
        tracing::info!(tenant = %config.tenant, order = %query.order_id, reason = text.key, "pre-checkout refused");
    }
    Ok(telegram::answer(
        &query.query_id,
        refusal.map(|t| t.get(lang)),
    ))
}

pub fn confirm_failure(tenant: &sauda_shared::TenantId, e: ConfirmError) -> ApiError {
    tracing::warn!(%tenant, error = %e, "payment event not applied");
    match e {
        ConfirmError::Store(StoreError::Rejected(_)) => {
            ApiError::unprocessable("payment_rejected", "the payment event cannot be stored")
        }
        _ => ApiError::dependency("payments unavailable"),
    }
}

/// The webhook's answer for an outcome.
pub fn answer(outcome: &Outcome) -> Result<Value, ApiError> {
    let result = match outcome {
        Outcome::Applied { .. } => "applied",
        Outcome::Duplicate { .. } => "duplicate",
        Outcome::Ignored { .. } => "ignored",
        Outcome::UnknownOrder => "unknown_order",
        Outcome::NotYet => {
            return Err(ApiError::conflict(
                "payment_not_recorded",
                "the refunded payment is not recorded yet; deliver this event again later",
            ))
        }
    };
    let mut body = json!({"ok": true, "result": result});
    if let Outcome::Applied { order, .. }
    | Outcome::Duplicate { order }
    | Outcome::Ignored { order, .. } = outcome
    {
        body["payment_status"] = json!(order.payment_status);
    }
    Ok(body)
}

/// A verified payment event about one order (Telegram's `successful_payment` and
/// `refunded_payment`, a Kaspi aggregator's notification, a Stripe event with its id
/// to deduplicate on), through the one confirmation.
pub async fn payment_event(
    payments: &Payments,
    config: &TenantConfig,
    order_id: String,
    event: PaymentEvent,
    provider_event: Option<ProviderEvent>,
) -> Result<Value, ApiError> {
    let incoming = Incoming {
        order_id,
        event,
        provider_event,
    };
    let outcome = payments
        .apply(config, &incoming)
        .await
        .map_err(|e| confirm_failure(&config.tenant, e))?;
    answer(&outcome)
}

/// A verified Stripe event.
pub async fn stripe_event(
    payments: &Payments,
    config: &TenantConfig,
    event: &StripeEvent,
) -> Result<Value, ApiError> {
    let action =
        stripe::action(event).map_err(|e| ApiError::bad_request("invalid_payload", e.0))?;
    let mark = Some(ProviderEvent {
        provider: Provider::Stripe,
        id: event.id.clone(),
        event_type: event.event_type.clone(),
    });
    let (order_id, event) = match action {
        Action::Ignore(kind) => return Ok(json!({"ok": true, "result": "ignored", "type": kind})),
        Action::Order { order_id, event } => (order_id, event),
        Action::Refund {
            order_id,
            payment_intent,
            cumulative_minor,
        } => {
            let order_id = match order_id {
                Some(id) => Some(id),
                None => payments
                    .store
                    .order_of_payment(&config.tenant, Provider::Stripe, &payment_intent)
                    .await
                    .map_err(|e| confirm_failure(&config.tenant, e.into()))?,
            };
            let Some(order_id) = order_id else {
                // A refund of a payment no order knows (not an order's, or its
                // completion event never came): logged, counted, acknowledged.
                payments
                    .count_unknown(config, &format!("payment {payment_intent}"))
                    .await;
                return answer(&Outcome::UnknownOrder);
            };
            (
                order_id,
                PaymentEvent::Refunded {
                    provider: Provider::Stripe,
                    reference: payment_intent,
                    cumulative_minor,
                    actor: "provider:stripe".into(),
                },
            )
        }
    };
    payment_event(payments, config, order_id, event, mark).await
}
