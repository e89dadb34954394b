//! Stripe: Checkout Sessions (a payment link that works on Telegram and WhatsApp),
//! refunds, and the webhook's events. The API version is pinned per request, so the
//! shapes read here do not move with the account's default.

use super::{exchange, ProviderError};
use crate::confirm::PaymentEvent;
use crate::domain::{valid_order_id, valid_reference};
use sauda_shared::order::{Order, Payment, Provider};
use sauda_shared::secrets::Secret;
use serde::Deserialize;
use serde_json::Value;

/// The API version every request and the webhook endpoint use.
pub const API_VERSION: &str = "2024-06-20";
/// Stripe's replay window for webhook signatures.
pub const SIGNATURE_TOLERANCE_S: i64 = 300;
pub const SIGNATURE_HEADER: &str = "stripe-signature";

#[derive(Clone, Debug)]
pub struct StripeApi {
    http: reqwest::Client,
    base_url: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    pub url: String,
}

#[derive(Deserialize)]
struct StripeErrorBody {
    error: StripeErrorDetail,
}

#[derive(Deserialize)]
struct StripeErrorDetail {
    #[serde(default)]
    message: String,
}

/// Where Checkout sends the customer back to.
pub struct Return<'a> {
    pub success_url: &'a str,
    pub cancel_url: &'a str,
}

impl StripeApi {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            http: super::http_client(),
            base_url: base_url.into().trim_end_matches('/').to_owned(),
        }
    }

    async fn post(
        &self,
        key: &Secret,
        path: &str,
        form: &[(String, String)],
        idempotency_key: &str,
    ) -> Result<Value, ProviderError> {
        let body = serde_urlencoded::to_string(form).map_err(|e| ProviderError::Refused {
            provider: Provider::Stripe,
            status: 0,
            message: format!("request not encodable: {e}"),
        })?;
        let request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(key.expose())
            .header("Stripe-Version", API_VERSION)
            .header("Idempotency-Key", idempotency_key)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        let (status, body) = exchange(Provider::Stripe, request).await?;
        if !(200..300).contains(&status) {
            let message = serde_json::from_slice::<StripeErrorBody>(&body)
                .map(|b| b.error.message)
                .unwrap_or_else(|_| format!("HTTP {status}"));
            return Err(ProviderError::Refused {
                provider: Provider::Stripe,
                status,
                message,
            });
        }
        serde_json::from_slice(&body).map_err(|e| ProviderError::Unavailable {
            provider: Provider::Stripe,
            message: format!("unexpected answer: {e}"),
        })
    }

    /// A Checkout Session for the order: `client_reference_id` and metadata carry the
    /// order id (on the session and its payment intent), the idempotency key names the
    /// order and the attempt, so a retried call returns the same session.
    pub async fn create_checkout_session(
        &self,
        key: &Secret,
        order: &Order,
        back: &Return<'_>,
        attempt: i64,
        now_ms: i64,
    ) -> Result<CheckoutSession, ProviderError> {
        let mut form: Vec<(String, String)> = vec![
            ("mode".into(), "payment".into()),
            ("client_reference_id".into(), order.order_id.clone()),
            ("metadata[order_id]".into(), order.order_id.clone()),
            ("metadata[tenant]".into(), order.tenant.to_string()),
            (
                "payment_intent_data[metadata][order_id]".into(),
                order.order_id.clone(),
            ),
            (
                "payment_intent_data[metadata][tenant]".into(),
                order.tenant.to_string(),
            ),
            ("success_url".into(), back.success_url.to_owned()),
            ("cancel_url".into(), back.cancel_url.to_owned()),
        ];
        // Stripe takes 30 minutes to 24 hours; an order expiring sooner is refused at
        // confirmation anyway (paid late → managers decide).
        if let Some(at) = order.expires_at_ms {
            let seconds = (at / 1000).clamp(now_ms / 1000 + 1_800, now_ms / 1000 + 86_400);
            form.push(("expires_at".into(), seconds.to_string()));
        }
        let currency = order.currency.to_ascii_lowercase();
        let lines: Vec<(String, i64, u32)> = if order.discount_points == 0 {
            order
                .lines
                .iter()
                .map(|l| (l.name.clone(), l.unit_price_minor, l.quantity))
                .collect()
        } else {
            vec![(format!("Order {}", order.order_id), order.total_minor, 1)]
        };
        for (i, (name, unit, quantity)) in lines.into_iter().enumerate() {
            let p = format!("line_items[{i}]");
            form.push((format!("{p}[quantity]"), quantity.to_string()));
            form.push((format!("{p}[price_data][currency]"), currency.clone()));
            form.push((format!("{p}[price_data][unit_amount]"), unit.to_string()));
            form.push((
                format!("{p}[price_data][product_data][name]"),
                name.chars().take(250).collect(),
            ));
        }
        let answer = self
            .post(
                key,
                "/v1/checkout/sessions",
                &form,
                &format!("checkout:{}:{attempt}", order.order_id),
            )
            .await?;
        serde_json::from_value(answer).map_err(|e| ProviderError::Unavailable {
            provider: Provider::Stripe,
            message: format!("unexpected Checkout Session: {e}"),
        })
    }

    /// Refunds `amount_minor` of a payment intent; returns the refund's id.
    pub async fn refund(
        &self,
        key: &Secret,
        payment_intent: &str,
        amount_minor: i64,
        order_id: &str,
        idempotency_key: &str,
    ) -> Result<String, ProviderError> {
        let form = vec![
            ("payment_intent".to_owned(), payment_intent.to_owned()),
            ("amount".to_owned(), amount_minor.to_string()),
            ("metadata[order_id]".to_owned(), order_id.to_owned()),
        ];
        let answer = self
            .post(key, "/v1/refunds", &form, idempotency_key)
            .await?;
        answer
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ProviderError::Unavailable {
                provider: Provider::Stripe,
                message: "a refund without an id".into(),
            })
    }
}

// ---- Webhook events -----------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StripeEvent {
    pub id: String,
    pub event_type: String,
    pub object: Value,
}

/// What an event asks of an order, once its order is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// An event about the order named (Checkout Session events).
    Order {
        order_id: String,
        event: PaymentEvent,
    },
    /// A refund of a payment intent: the order comes from the metadata when present,
    /// else from the payment pointer.
    Refund {
        order_id: Option<String>,
        payment_intent: String,
        cumulative_minor: i64,
    },
    /// An event type Sauda does not act on (answered 200).
    Ignore(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct Malformed(pub String);

fn malformed(what: impl Into<String>) -> Malformed {
    Malformed(what.into())
}

pub fn parse_event(body: &[u8]) -> Result<StripeEvent, Malformed> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| malformed(format!("not JSON: {e}")))?;
    let id = value
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| valid_reference(id))
        .ok_or_else(|| malformed("event id missing or invalid"))?
        .to_owned();
    let event_type = value
        .get("type")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty() && t.len() <= 100)
        .ok_or_else(|| malformed("event type missing"))?
        .to_owned();
    let object = value
        .get("data")
        .and_then(|d| d.get("object"))
        .filter(|o| o.is_object())
        .cloned()
        .ok_or_else(|| malformed("data.object missing"))?;
    Ok(StripeEvent {
        id,
        event_type,
        object,
    })
}

fn str_field<'a>(object: &'a Value, name: &str) -> Option<&'a str> {
    object
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn metadata_order(object: &Value) -> Option<String> {
    object
        .get("metadata")
        .and_then(|m| m.get("order_id"))
        .and_then(Value::as_str)
        .filter(|id| valid_order_id(id))
        .map(str::to_owned)
}

/// The order a Checkout Session is for: `client_reference_id`, else its metadata.
fn session_order(session: &Value) -> Result<String, Malformed> {
    str_field(session, "client_reference_id")
        .filter(|id| valid_order_id(id))
        .map(str::to_owned)
        .or_else(|| metadata_order(session))
        .ok_or_else(|| malformed("the session names no order"))
}

/// The payment a paid session represents: its payment intent (what refunds name).
fn session_payment(session: &Value) -> Result<Payment, Malformed> {
    let reference = str_field(session, "payment_intent")
        .or_else(|| str_field(session, "id"))
        .filter(|r| valid_reference(r))
        .ok_or_else(|| malformed("the session has no payment intent"))?;
    let amount = session
        .get("amount_total")
        .and_then(Value::as_i64)
        .filter(|a| *a >= 0)
        .ok_or_else(|| malformed("amount_total missing"))?;
    let currency = str_field(session, "currency")
        .filter(|c| c.len() == 3)
        .ok_or_else(|| malformed("currency missing"))?;
    Ok(Payment {
        provider: Provider::Stripe,
        reference: reference.to_owned(),
        amount_minor: amount,
        currency: currency.to_ascii_uppercase(),
        payer_id: None,
    })
}

/// Maps an event to what it asks of an order.
pub fn action(event: &StripeEvent) -> Result<Action, Malformed> {
    let object = &event.object;
    let order = |event: PaymentEvent| -> Result<Action, Malformed> {
        Ok(Action::Order {
            order_id: session_order(object)?,
            event,
        })
    };
    match event.event_type.as_str() {
        "checkout.session.completed" => {
            match str_field(object, "payment_status") {
                // Card payments: the money is there.
                Some("paid") | Some("no_payment_required") => {
                    order(PaymentEvent::Paid(session_payment(object)?))
                }
                // Bank transfers and similar settle later (async_payment_*).
                Some("unpaid") => order(PaymentEvent::Pending {
                    provider: Provider::Stripe,
                }),
                _ => Err(malformed("unknown payment_status")),
            }
        }
        "checkout.session.async_payment_succeeded" => {
            order(PaymentEvent::Paid(session_payment(object)?))
        }
        "checkout.session.async_payment_failed" => order(PaymentEvent::Failed {
            provider: Provider::Stripe,
            reason: "the payment failed".into(),
        }),
        "checkout.session.expired" => order(PaymentEvent::Failed {
            provider: Provider::Stripe,
            reason: "the checkout session expired".into(),
        }),
        "charge.refunded" => {
            let payment_intent = str_field(object, "payment_intent")
                .filter(|r| valid_reference(r))
                .ok_or_else(|| malformed("the charge has no payment intent"))?;
            let cumulative = object
                .get("amount_refunded")
                .and_then(Value::as_i64)
                .filter(|a| *a >= 0)
                .ok_or_else(|| malformed("amount_refunded missing"))?;
            Ok(Action::Refund {
                order_id: metadata_order(object),
                payment_intent: payment_intent.to_owned(),
                cumulative_minor: cumulative,
            })
        }
        other => Ok(Action::Ignore(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(event_type: &str, object: Value) -> StripeEvent {
        let body = json!({"id": "evt_1", "object": "event", "type": event_type, "data": {"object": object}});
        parse_event(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn checkout_events_name_the_order_and_the_payment_intent() {
        let session = json!({"id": "cs_1", "object": "checkout.session", "client_reference_id": "01JORD",
            "payment_status": "paid", "payment_intent": "pi_1", "amount_total": 4500, "currency": "kzt"});
        let Action::Order {
            order_id,
            event: paid,
        } = action(&event("checkout.session.completed", session.clone())).unwrap()
        else {
            panic!()
        };
        assert_eq!(order_id, "01JORD");
        assert_eq!(
            paid,
            PaymentEvent::Paid(Payment {
                provider: Provider::Stripe,
                reference: "pi_1".into(),
                amount_minor: 4500,
                currency: "KZT".into(),
                payer_id: None
            })
        );
        let mut unpaid = session.clone();
        unpaid["payment_status"] = json!("unpaid");
        assert!(matches!(
            action(&event("checkout.session.completed", unpaid)).unwrap(),
            Action::Order {
                event: PaymentEvent::Pending { .. },
                ..
            }
        ));
        assert!(matches!(
            action(&event("checkout.session.expired", session.clone())).unwrap(),
            Action::Order {
                event: PaymentEvent::Failed { .. },
                ..
            }
        ));
        let mut by_metadata = session;
        by_metadata["client_reference_id"] = Value::Null;
        by_metadata["metadata"] = json!({"order_id": "01JMETA"});
        assert!(matches!(
            action(&event("checkout.session.async_payment_succeeded", by_metadata)).unwrap(),
            Action::Order { order_id, .. } if order_id == "01JMETA"
        ));
    }

    #[test]
    fn refunds_carry_the_cumulative_amount_and_other_events_are_ignored() {
        let charge = json!({"id": "ch_1", "payment_intent": "pi_1", "amount_refunded": 1000, "metadata": {}});
        assert_eq!(
            action(&event("charge.refunded", charge)).unwrap(),
            Action::Refund {
                order_id: None,
                payment_intent: "pi_1".into(),
                cumulative_minor: 1000
            }
        );
        assert_eq!(
            action(&event("customer.created", json!({}))).unwrap(),
            Action::Ignore("customer.created".into())
        );
    }

    #[test]
    fn malformed_events_are_refused() {
        for body in [
            "not json".to_owned(),
            json!({"type": "x", "data": {"object": {}}}).to_string(),
            json!({"id": "evt 1", "type": "x", "data": {"object": {}}}).to_string(),
            json!({"id": "evt_1", "type": "x"}).to_string(),
        ] {
            assert!(parse_event(body.as_bytes()).is_err(), "{body}");
        }
        let no_order = json!({"payment_status": "paid", "payment_intent": "pi", "amount_total": 1, "currency": "kzt"});
        assert!(action(&event("checkout.session.completed", no_order)).is_err());
    }
}
