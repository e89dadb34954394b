//! Stand-ins for Telegram, WhatsApp Cloud API, Stripe and a CRM endpoint on the local
//! stack. They answer the way the real APIs do, print what Sauda sent, and append every
//! request to a JSON-lines log that the demo reads back. Local-stack only: production code
//! reaches them solely through the configurable base URLs (`TelegramApiBase`,
//! `WhatsappApiBase`, `StripeApiBase`).
//!
//! The fake Stripe creates Checkout Sessions whose `url` is served here: opening it is the
//! customer paying, and the fake then posts the signed `checkout.session.completed` event
//! to the tenant's webhook, as Stripe does.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::io::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

struct Outbox {
    log: Mutex<std::fs::File>,
    next_id: AtomicI64,
    stripe: FakeStripe,
}

/// Where the fake Stripe delivers its events, and what it signs them with.
#[derive(Clone, Debug, Default)]
pub struct StripeEndpoint {
    /// The tenant's webhook, e.g. `http://127.0.0.1:9000/lambda-url/webhook/t/demo/stripe`.
    pub webhook_url: Option<String>,
    /// The endpoint's signing secret (`whsec_…`), the tenant's `stripe_webhook_secret`.
    pub webhook_secret: Option<String>,
    /// This server's own base URL, for the sessions' payment pages.
    pub public_base: String,
}

#[derive(Default)]
struct FakeStripe {
    endpoint: StripeEndpoint,
    /// Checkout Sessions by id, and the answer per Idempotency-Key (Stripe replays it).
    sessions: Mutex<std::collections::HashMap<String, Value>>,
    answers: Mutex<std::collections::HashMap<String, Value>>,
}

impl Outbox {
    /// Appends one request; `message_id` is what the fake answered, so the demo can reply
    /// to a message the bot sent (a manager answering a thread card).
    fn record(&self, channel: &str, to: &str, body: &Value, message_id: Option<i64>) {
        let line = json!({"at_ms": jiff::Timestamp::now().as_millisecond(), "channel": channel, "to": to, "body": body, "message_id": message_id});
        if let Ok(mut file) = self.log.lock() {
            let _ = writeln!(file, "{line}");
        }
    }
}

pub fn router(log_path: &std::path::Path, stripe: StripeEndpoint) -> std::io::Result<Router> {
    if let Some(parent) = log_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)?;
    let state = Arc::new(Outbox {
        log: Mutex::new(log),
        next_id: AtomicI64::new(1),
        stripe: FakeStripe {
            endpoint: stripe,
            ..Default::default()
        },
    });
    Ok(Router::new()
        .route("/telegram/{bot}/{method}", post(telegram))
        .route("/whatsapp/{phone_number_id}/messages", post(whatsapp))
        .route("/crm", post(crm))
        .route("/stripe/v1/checkout/sessions", post(stripe_session))
        .route("/stripe/v1/{object}", post(stripe_api))
        .route("/stripe/pay/{session}", get(stripe_pay))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                Json(json!({"ok": false, "description": "Not Found"})),
            )
        })
        .with_state(state))
}

async fn telegram(
    State(outbox): State<Arc<Outbox>>,
    Path((bot, method)): Path<(String, String)>,
    body: Bytes,
) -> impl IntoResponse {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if !bot.starts_with("bot") {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"ok": false, "error_code": 404, "description": "Not Found"})),
        );
    }
    let chat = body
        .get("chat_id")
        .map(|c| c.to_string())
        .unwrap_or_default();
    match method.as_str() {
        "sendMessage" | "sendPhoto" | "sendInvoice" => {
            let id = outbox.next_id.fetch_add(1, Ordering::Relaxed);
            outbox.record("telegram", &chat, &body, Some(id));
            let text = body
                .get("text")
                .or_else(|| body.get("caption"))
                .or_else(|| body.get("description"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            println!("\n  ── telegram → chat {chat} ──\n{}\n", indent(text));
            let chat_id = body.get("chat_id").and_then(Value::as_i64).unwrap_or(0);
            (
                StatusCode::OK,
                Json(json!({"ok": true, "result": {
                    "message_id": id, "date": jiff::Timestamp::now().as_second(),
                    "chat": {"id": chat_id, "type": "private"}, "text": text
                }})),
            )
        }
        "setWebhook" => {
            outbox.record("telegram", &chat, &body, None);
            (
                StatusCode::OK,
                Json(json!({"ok": true, "result": true, "description": "Webhook was set"})),
            )
        }
        _ => {
            outbox.record("telegram", &chat, &body, None);
            (StatusCode::OK, Json(json!({"ok": true, "result": true})))
        }
    }
}

async fn whatsapp(
    State(outbox): State<Arc<Outbox>>,
    Path(phone_number_id): Path<String>,
    body: Bytes,
) -> impl IntoResponse {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let to = body
        .get("to")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let id = outbox.next_id.fetch_add(1, Ordering::Relaxed);
    outbox.record("whatsapp", &to, &body, Some(id));
    let text = body
        .pointer("/text/body")
        .and_then(Value::as_str)
        .unwrap_or_default();
    println!(
        "\n  ── whatsapp {phone_number_id} → {to} ──\n{}\n",
        indent(text)
    );
    Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": to}],
        "messages": [{"id": format!("wamid.LOCAL{id:08}")}]
    }))
}

async fn crm(State(outbox): State<Arc<Outbox>>, body: Bytes) -> impl IntoResponse {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    outbox.record("crm", "crm", &body, None);
    println!("\n  ── CRM webhook ──\n{}\n", indent(&body.to_string()));
    Json(json!({"received": true}))
}

/// `POST /v1/checkout/sessions` and `POST /v1/refunds`, replayed per `Idempotency-Key`.
async fn stripe_api(
    State(outbox): State<Arc<Outbox>>,
    Path(object): Path<String>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let form: std::collections::HashMap<String, String> =
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
            .unwrap_or_default()
            .into_iter()
            .collect();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if let Some(answer) = outbox
        .stripe
        .answers
        .lock()
        .ok()
        .and_then(|a| a.get(&key).cloned())
    {
        return (StatusCode::OK, Json(answer));
    }
    let id = outbox.next_id.fetch_add(1, Ordering::Relaxed);
    outbox.record("stripe", &object, &json!(form), Some(id));
    let answer = match object.as_str() {
        "refunds" => json!({
            "id": format!("re_local_{id}"), "object": "refund", "status": "succeeded",
            "payment_intent": form.get("payment_intent"),
            "amount": form.get("amount").and_then(|a| a.parse::<i64>().ok()),
        }),
        _ => {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"error": {"message": format!("no fake for /v1/{object}")}})),
            )
        }
    };
    if !key.is_empty() {
        if let Ok(mut answers) = outbox.stripe.answers.lock() {
            answers.insert(key, answer.clone());
        }
    }
    (StatusCode::OK, Json(answer))
}

async fn stripe_session(
    State(outbox): State<Arc<Outbox>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let form: std::collections::HashMap<String, String> =
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
            .unwrap_or_default()
            .into_iter()
            .collect();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if let Some(answer) = outbox
        .stripe
        .answers
        .lock()
        .ok()
        .and_then(|a| a.get(&key).cloned())
    {
        return Json(answer);
    }
    let n = outbox.next_id.fetch_add(1, Ordering::Relaxed);
    outbox.record("stripe", "checkout.sessions", &json!(form), Some(n));
    // Σ unit_amount × quantity over line_items[i], as Stripe computes amount_total.
    let amount_total: i64 = (0..)
        .map_while(|i| {
            let unit = form.get(&format!("line_items[{i}][price_data][unit_amount]"))?;
            let quantity = form
                .get(&format!("line_items[{i}][quantity]"))
                .map_or("1", String::as_str);
            Some(unit.parse::<i64>().unwrap_or(0) * quantity.parse::<i64>().unwrap_or(1))
        })
        .sum();
    let currency = form
        .get("line_items[0][price_data][currency]")
        .cloned()
        .unwrap_or_default();
    let id = format!("cs_local_{n}");
    let session = json!({
        "id": id, "object": "checkout.session", "mode": "payment",
        "url": format!("{}/stripe/pay/{id}", outbox.stripe.endpoint.public_base),
        "client_reference_id": form.get("client_reference_id"),
        "metadata": {"order_id": form.get("metadata[order_id]"), "tenant": form.get("metadata[tenant]")},
        "amount_total": amount_total, "currency": currency,
        "payment_status": "unpaid", "status": "open",
        "payment_intent": null,
    });
    if let Ok(mut sessions) = outbox.stripe.sessions.lock() {
        sessions.insert(id, session.clone());
    }
    if !key.is_empty() {
        if let Ok(mut answers) = outbox.stripe.answers.lock() {
            answers.insert(key, session.clone());
        }
    }
    Json(session)
}

/// The Checkout page: opening it pays. The fake posts `checkout.session.completed`,
/// signed as Stripe's libraries sign (`t=…,v1=` hex HMAC-SHA256 of `"{t}.{body}"`).
async fn stripe_pay(
    State(outbox): State<Arc<Outbox>>,
    Path(session_id): Path<String>,
) -> impl IntoResponse {
    let session = outbox
        .stripe
        .sessions
        .lock()
        .ok()
        .and_then(|s| s.get(&session_id).cloned());
    let Some(mut session) = session else {
        return (StatusCode::NOT_FOUND, "no such Checkout Session".to_owned());
    };
    let endpoint = &outbox.stripe.endpoint;
    let (Some(url), Some(secret)) = (&endpoint.webhook_url, &endpoint.webhook_secret) else {
        return (
            StatusCode::OK,
            "paid (no webhook endpoint configured)".to_owned(),
        );
    };
    let n = outbox.next_id.fetch_add(1, Ordering::Relaxed);
    session["payment_status"] = json!("paid");
    session["status"] = json!("complete");
    session["payment_intent"] = json!(format!("pi_local_{n}"));
    let now = jiff::Timestamp::now().as_second();
    let event = json!({
        "id": format!("evt_local_{n}"), "object": "event", "api_version": "2024-06-20",
        "created": now, "livemode": false, "type": "checkout.session.completed",
        "data": {"object": session},
    })
    .to_string();
    let signed = sauda_shared::signature::hmac_sha256(
        secret.as_bytes(),
        &[format!("{now}.").as_bytes(), event.as_bytes()],
    );
    let header = format!("t={now},v1={}", hex::encode(signed));
    outbox.record(
        "stripe",
        "webhook",
        &json!({"type": "checkout.session.completed", "session": session_id}),
        Some(n),
    );
    println!("\n  ── stripe: {session_id} paid → checkout.session.completed ──\n");
    let delivered = reqwest::Client::new()
        .post(url)
        .header("stripe-signature", header)
        .header("content-type", "application/json")
        .body(event)
        .send()
        .await;
    match delivered {
        Ok(response) => (
            StatusCode::OK,
            format!("paid; the webhook answered {}", response.status().as_u16()),
        ),
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            format!("paid, but the webhook was not reached: {e}"),
        ),
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  │ {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Serves the fakes until the process is stopped.
pub async fn serve(
    port: u16,
    log_path: &std::path::Path,
    mut stripe: StripeEndpoint,
) -> std::io::Result<()> {
    stripe.public_base = format!("http://127.0.0.1:{port}");
    let app = router(log_path, stripe)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "fake Telegram/WhatsApp/Stripe/CRM on http://127.0.0.1:{port} (log {})",
        log_path.display()
    );
    axum::serve(listener, app).await
}
