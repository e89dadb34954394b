//! The demo tenant and signed sample updates, used by `make local`, `events/` and tests.

use sauda_shared::secrets::TenantSecrets;
use sauda_shared::signature::whatsapp_signature;
use sauda_shared::tenant::TenantConfig;
use sauda_shared::TenantId;
use serde::Deserialize;
use serde_json::{json, Value};

/// The demo tenant's definition (`infra/demo/tenant.json`). Its secrets are local-only values.
#[derive(Clone, Debug, Deserialize)]
pub struct DemoTenant {
    pub tenant: TenantId,
    pub name: String,
    pub timezone: String,
    pub default_language: String,
    pub whatsapp_phone_number_id: Option<String>,
    /// A JSON merge patch over the default settings (managers, agent, loyalty, ...).
    #[serde(default)]
    pub settings: serde_json::Value,
    pub secrets: TenantSecrets,
}

impl DemoTenant {
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let raw = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&raw).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn config(&self) -> TenantConfig {
        let mut config = TenantConfig::new(self.tenant.clone(), &self.name);
        config.timezone = self.timezone.clone();
        config.default_language = self.default_language.clone();
        config.whatsapp_phone_number_id = self.whatsapp_phone_number_id.clone();
        if self.settings.is_object() {
            let mut merged = serde_json::to_value(&config).expect("a config serialises");
            json_patch::merge(&mut merged, &self.settings);
            match serde_json::from_value(merged) {
                Ok(patched) => config = patched,
                Err(e) => {
                    tracing::warn!(error = %e, "demo settings ignored: they do not fit the config")
                }
            }
        }
        config
    }
}

/// A Telegram `message` update with text.
pub fn telegram_text(
    update_id: u64,
    message_id: i64,
    chat_id: i64,
    date: i64,
    text: &str,
) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": message_id, "date": date,
            "chat": {"id": chat_id, "type": "private", "first_name": "Aida"},
            "from": {"id": chat_id, "is_bot": false, "first_name": "Aida", "language_code": "ru"},
            "text": text
        }
    })
}

/// A Telegram message from `chat_id` that replies to the bot's message `reply_to`
/// (how a manager answers a thread card).
pub fn telegram_reply(
    update_id: u64,
    message_id: i64,
    chat_id: i64,
    date: i64,
    text: &str,
    reply_to: i64,
) -> Value {
    let mut update = telegram_text(update_id, message_id, chat_id, date, text);
    update["message"]["reply_to_message"] = json!({
        "message_id": reply_to, "date": date,
        "chat": {"id": chat_id, "type": "private"},
        "from": {"id": 1, "is_bot": true, "first_name": "Sauda"},
        "text": "…"
    });
    update
}

/// Telegram asking whether to take the money for `order_id` (answered in the response).
pub fn telegram_pre_checkout(
    update_id: u64,
    query_id: &str,
    chat_id: i64,
    currency: &str,
    total_amount: i64,
    order_id: &str,
) -> Value {
    json!({
        "update_id": update_id,
        "pre_checkout_query": {
            "id": query_id,
            "from": {"id": chat_id, "is_bot": false, "first_name": "Aida", "language_code": "ru"},
            "currency": currency, "total_amount": total_amount, "invoice_payload": order_id
        }
    })
}

/// The service message Telegram sends once the customer paid an invoice.
pub fn telegram_successful_payment(
    update_id: u64,
    message_id: i64,
    chat_id: i64,
    date: i64,
    (currency, total_amount, order_id): (&str, i64, &str),
    charge_id: &str,
) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": message_id, "date": date,
            "chat": {"id": chat_id, "type": "private", "first_name": "Aida"},
            "from": {"id": chat_id, "is_bot": false, "first_name": "Aida", "language_code": "ru"},
            "successful_payment": {
                "currency": currency, "total_amount": total_amount, "invoice_payload": order_id,
                "telegram_payment_charge_id": charge_id,
                "provider_payment_charge_id": format!("prov-{charge_id}")
            }
        }
    })
}

pub fn telegram_voice(update_id: u64, message_id: i64, chat_id: i64, date: i64) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": message_id, "date": date,
            "chat": {"id": chat_id, "type": "private", "first_name": "Aida"},
            "from": {"id": chat_id, "is_bot": false, "first_name": "Aida", "language_code": "ru"},
            "voice": {"file_id": "AwACAgIAAxkBAAIB", "file_unique_id": "AgADdemo", "duration": 3, "mime_type": "audio/ogg"}
        }
    })
}

pub fn telegram_edited(update_id: u64, message_id: i64, chat_id: i64, date: i64) -> Value {
    json!({
        "update_id": update_id,
        "edited_message": {
            "message_id": message_id, "date": date, "edit_date": date + 5,
            "chat": {"id": chat_id, "type": "private", "first_name": "Aida"},
            "from": {"id": chat_id, "is_bot": false, "first_name": "Aida"},
            "text": "edited text"
        }
    })
}

fn whatsapp_envelope(value: Value) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]
    })
}

pub fn whatsapp_text(
    phone_number_id: &str,
    from: &str,
    wamid: &str,
    timestamp: i64,
    text: &str,
) -> Value {
    whatsapp_envelope(json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
        "contacts": [{"profile": {"name": "Bekzat"}, "wa_id": from}],
        "messages": [{"from": from, "id": wamid, "timestamp": timestamp.to_string(), "type": "text", "text": {"body": text}}]
    }))
}

pub fn whatsapp_status(
    phone_number_id: &str,
    recipient: &str,
    wamid: &str,
    timestamp: i64,
    status: &str,
) -> Value {
    let mut entry = json!({"id": wamid, "status": status, "timestamp": timestamp.to_string(), "recipient_id": recipient});
    if status == "failed" {
        entry["errors"] = json!([{"code": 131047, "title": "Re-engagement message"}]);
    }
    whatsapp_envelope(json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
        "statuses": [entry]
    }))
}

/// `X-Hub-Signature-256` for a body, with the tenant's app secret.
pub fn sign_whatsapp(app_secret: &str, body: &str) -> String {
    whatsapp_signature(app_secret, body.as_bytes())
}

/// An API Gateway HTTP API (payload v2) event, as Lambda hands it to the function.
pub fn http_api_event(
    method: &str,
    route: &str,
    tenant: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Value {
    let mut header_map = serde_json::Map::new();
    header_map.insert(
        "host".into(),
        json!("abc123.execute-api.eu-central-1.amazonaws.com"),
    );
    header_map.insert("content-type".into(), json!("application/json"));
    for (k, v) in headers {
        header_map.insert(k.to_ascii_lowercase(), json!(v));
    }
    let query_params: serde_json::Map<String, Value> = url_pairs(query)
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    json!({
        "version": "2.0",
        "routeKey": format!("{method} {route}"),
        "rawPath": path,
        "rawQueryString": query,
        "headers": header_map,
        "queryStringParameters": if query_params.is_empty() { Value::Null } else { Value::Object(query_params) },
        "pathParameters": {"tenant": tenant},
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123", "domainName": "abc123.execute-api.eu-central-1.amazonaws.com",
            "domainPrefix": "abc123", "requestId": "demo-request", "routeKey": format!("{method} {route}"),
            "stage": "$default", "time": "24/Nov/2026:10:00:00 +0000", "timeEpoch": 1795860000000_i64,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "149.154.167.220", "userAgent": "demo"}
        },
        "body": body,
        "isBase64Encoded": false
    })
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (p.to_owned(), String::new()),
        })
        .collect()
}

/// The sample events under `events/`, signed for the demo tenant: (file name, event).
/// Webhook events, a web-form lead for `lead-api` and a schedule for `report-planner`.
pub fn sample_events(demo: &DemoTenant) -> Vec<(&'static str, Value)> {
    let t = demo.tenant.as_str();
    let tg_path = format!("/t/{t}/telegram");
    let wa_path = format!("/t/{t}/whatsapp");
    let tg_secret = demo
        .secrets
        .telegram_webhook_secret
        .as_ref()
        .map(|s| s.expose().to_owned())
        .unwrap_or_default();
    let app_secret = demo
        .secrets
        .whatsapp_app_secret
        .as_ref()
        .map(|s| s.expose().to_owned())
        .unwrap_or_default();
    let verify = demo
        .secrets
        .whatsapp_verify_token
        .as_ref()
        .map(|s| s.expose().to_owned())
        .unwrap_or_default();
    let phone_id = demo.whatsapp_phone_number_id.clone().unwrap_or_default();
    let date = 1_795_860_000;
    let tg = |value: Value| {
        let body = value.to_string();
        http_api_event(
            "POST",
            "/t/{tenant}/telegram",
            t,
            &tg_path,
            "",
            &[("x-telegram-bot-api-secret-token", &tg_secret)],
            Some(&body),
        )
    };
    let wa = |value: Value| {
        let body = value.to_string();
        let sig = sign_whatsapp(&app_secret, &body);
        http_api_event(
            "POST",
            "/t/{tenant}/whatsapp",
            t,
            &wa_path,
            "",
            &[("x-hub-signature-256", &sig)],
            Some(&body),
        )
    };
    vec![
        (
            "telegram-text.json",
            tg(telegram_text(
                900_001,
                101,
                123456789,
                date,
                "Здравствуйте! Сколько стоит насос Grundfos?",
            )),
        ),
        (
            "telegram-voice.json",
            tg(telegram_voice(900_002, 102, 123456789, date + 10)),
        ),
        (
            "telegram-edited.json",
            tg(telegram_edited(900_003, 101, 123456789, date)),
        ),
        (
            "whatsapp-text.json",
            wa(whatsapp_text(
                &phone_id,
                "77011234567",
                "wamid.DEMO0001",
                date,
                "Hello, do you deliver to Bishkek?",
            )),
        ),
        (
            "whatsapp-status.json",
            wa(whatsapp_status(
                &phone_id,
                "77011234567",
                "wamid.DEMOOUT1",
                date + 20,
                "delivered",
            )),
        ),
        (
            "lead-form.json",
            http_api_event(
                "POST",
                "/t/{tenant}/leads",
                t,
                &format!("/t/{t}/leads"),
                "",
                &[("origin", "http://localhost:8080")],
                Some(
                    &json!({
                        "name": "Aigerim Sadykova",
                        "phone": "+7 701 555 12 34",
                        "email": "aigerim@example.kz",
                        "interest": "Grundfos CR 10 pump",
                        "message": "Please call me back after 14:00",
                        "source": "site/contact",
                        "consent": true
                    })
                    .to_string(),
                ),
            ),
        ),
        (
            "report-planner.json",
            json!({"scheduled_time": "2026-12-01T00:05:00Z"}),
        ),
        (
            "whatsapp-verify.json",
            http_api_event(
                "GET",
                "/t/{tenant}/whatsapp",
                t,
                &wa_path,
                &format!("hub.mode=subscribe&hub.verify_token={verify}&hub.challenge=1158201444"),
                &[],
                None,
            ),
        ),
    ]
}
