//! A fake Stripe API: Checkout Sessions and refunds (replayed per `Idempotency-Key`, as
//! Stripe does), and webhook events signed exactly as Stripe's libraries compute
//! `Stripe-Signature` (stripe-python `generate_header`: `"t=%d,v1=%s"`, the signature
//! the hex HMAC-SHA256 of `"%d.%s" % (t, payload)` under the endpoint secret).

use crate::fake::{Fake, Recorded, Scripted};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashMap;

/// `Stripe-Signature` for `payload` signed at `t` with `secret`.
pub fn signature_header(secret: &str, t: i64, payload: &str) -> String {
    format!("t={t},v1={}", v1(secret, t, payload))
}

/// One `v1` value.
pub fn v1(secret: &str, t: i64, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{payload}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A header as Stripe sends it while an endpoint secret is rolled: two `v1` values.
pub fn rotation_header(new_secret: &str, old_secret: &str, t: i64, payload: &str) -> String {
    format!(
        "t={t},v1={},v1={}",
        v1(new_secret, t, payload),
        v1(old_secret, t, payload)
    )
}

/// What the fake remembers between requests.
#[derive(Default)]
pub struct StripeState {
    /// Idempotency-Key → the answer given.
    answers: HashMap<String, Value>,
    next: u32,
    /// Answered instead, once, to the next request.
    fail_next: Option<Scripted>,
}

fn form(body: &[u8]) -> HashMap<String, String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .unwrap_or_default()
        .into_iter()
        .collect()
}

fn answer(state: &mut StripeState, request: &Recorded) -> Scripted {
    if let Some(failure) = state.fail_next.take() {
        return failure;
    }
    let key = request
        .headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if let Some(answer) = state.answers.get(&key) {
        return Scripted::json(200, answer.clone());
    }
    let fields = form(&request.body);
    state.next += 1;
    let n = state.next;
    let answer = match request.path.as_str() {
        "/v1/checkout/sessions" => json!({
            "id": format!("cs_test_{n}"),
            "object": "checkout.session",
            "url": format!("https://checkout.stripe.test/c/pay/cs_test_{n}"),
            "client_reference_id": fields.get("client_reference_id"),
            "payment_status": "unpaid",
        }),
        "/v1/refunds" => json!({
            "id": format!("re_{n}"),
            "object": "refund",
            "status": "succeeded",
            "payment_intent": fields.get("payment_intent"),
            "amount": fields.get("amount").and_then(|a| a.parse::<i64>().ok()),
        }),
        _ => return Scripted::json(404, json!({"error": {"message": "no such route"}})),
    };
    if !key.is_empty() {
        state.answers.insert(key, answer.clone());
    }
    Scripted::json(200, answer)
}

/// The fake Stripe API.
#[derive(Clone)]
pub struct FakeStripe {
    pub base_url: String,
    fake: Fake<StripeState>,
}

impl FakeStripe {
    pub async fn start() -> Self {
        let fake = Fake::start(StripeState::default(), answer).await;
        Self {
            base_url: fake.base_url.clone(),
            fake,
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.fake.requests()
    }

    /// The form fields of every request to `path`.
    pub fn forms(&self, path: &str) -> Vec<HashMap<String, String>> {
        self.requests()
            .iter()
            .filter(|r| r.path == path)
            .map(|r| form(&r.body))
            .collect()
    }

    pub fn fail_next(&self, status: u16, body: Value) {
        self.fake
            .state(|s| s.fail_next = Some(Scripted::json(status, body)));
    }

    /// An event as Stripe delivers it (`data.object` is the object it is about).
    pub fn event(id: &str, event_type: &str, object: Value) -> String {
        json!({
            "id": id,
            "object": "event",
            "api_version": "2024-06-20",
            "created": 1_795_000_000,
            "type": event_type,
            "livemode": false,
            "data": {"object": object},
        })
        .to_string()
    }

    /// A Checkout Session in the state an event reports.
    pub fn session(
        order_id: &str,
        payment_status: &str,
        payment_intent: &str,
        amount: i64,
        currency: &str,
    ) -> Value {
        json!({
            "id": format!("cs_for_{order_id}"),
            "object": "checkout.session",
            "client_reference_id": order_id,
            "metadata": {"order_id": order_id},
            "payment_status": payment_status,
            "payment_intent": payment_intent,
            "amount_total": amount,
            "currency": currency.to_ascii_lowercase(),
        })
    }

    /// A charge as `charge.refunded` reports it (`amount_refunded` is cumulative).
    pub fn charge(
        payment_intent: &str,
        amount: i64,
        amount_refunded: i64,
        order_id: Option<&str>,
    ) -> Value {
        let metadata = match order_id {
            Some(id) => json!({"order_id": id}),
            None => json!({}),
        };
        json!({
            "id": format!("ch_for_{payment_intent}"),
            "object": "charge",
            "payment_intent": payment_intent,
            "amount": amount,
            "amount_refunded": amount_refunded,
            "refunded": amount_refunded >= amount,
            "metadata": metadata,
        })
    }
}
