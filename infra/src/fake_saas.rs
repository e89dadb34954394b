//! Stand-ins for Telegram, WhatsApp Cloud API and a CRM endpoint on the local stack.
//! They answer the way the real APIs do, print what Sauda sent, and append every request
//! to a JSON-lines log that the demo reads back. Local-stack only: production code reaches
//! them solely through the configurable base URLs (`TelegramApiBase`, `WhatsappApiBase`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::io::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

struct Outbox {
    log: Mutex<std::fs::File>,
    next_id: AtomicI64,
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

pub fn router(log_path: &std::path::Path) -> std::io::Result<Router> {
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
    });
    Ok(Router::new()
        .route("/telegram/{bot}/{method}", post(telegram))
        .route("/whatsapp/{phone_number_id}/messages", post(whatsapp))
        .route("/crm", post(crm))
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
        "sendMessage" | "sendPhoto" => {
            let id = outbox.next_id.fetch_add(1, Ordering::Relaxed);
            outbox.record("telegram", &chat, &body, Some(id));
            let text = body
                .get("text")
                .or_else(|| body.get("caption"))
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

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  │ {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Serves the fakes until the process is stopped.
pub async fn serve(port: u16, log_path: &std::path::Path) -> std::io::Result<()> {
    let app = router(log_path)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "fake Telegram/WhatsApp/CRM on http://127.0.0.1:{port} (log {})",
        log_path.display()
    );
    axum::serve(listener, app).await
}
