//! A fake Stripe API: Checkout Sessions and refunds (replayed per `Idempotency-Key`, as
//! Stripe does), and webhook events signed exactly as Stripe's libraries compute
//! `Stripe-Signature` (stripe-python `generate_header`: `"t=%d,v1=%s"`, the signature
//! the hex HMAC-SHA256 of `"%d.%s" % (t, payload)` under the endpoint secret).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::fake::Recorded;

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

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    /// Idempotency-Key → the answer given.
    answers: HashMap<String, Value>,
    next: u32,
    /// Answered instead, once, to the next POST (status, body).
    fail_next: Option<(u16, Value)>,
}

#[derive(Clone)]
pub struct FakeStripe {
    pub base_url: String,
    inner: Arc<Mutex<Inner>>,
}

fn form(body: &[u8]) -> HashMap<String, String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .unwrap_or_default()
        .into_iter()
        .collect()
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = inner.lock().unwrap();
    inner.requests.push(Recorded {
        method: method.clone(),
        path: uri.path().to_owned(),
        headers: headers.clone(),
        body: body.clone(),
    });
    if let Some((status, body)) = inner.fail_next.take() {
        return (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if let Some(answer) = inner.answers.get(&key) {
        return axum::Json(answer.clone()).into_response();
    }
    let fields = form(&body);
    inner.next += 1;
    let n = inner.next;
    let answer = match uri.path() {
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
        _ => {
            return (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"error": {"message": "no such route"}})),
            )
                .into_response()
        }
    };
    if !key.is_empty() {
        inner.answers.insert(key, answer.clone());
    }
    axum::Json(answer).into_response()
}

impl FakeStripe {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Self {
            base_url: format!("http://{addr}"),
            inner,
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().requests.clone()
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
        self.inner.lock().unwrap().fail_next = Some((status, body));
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
