//! WhatsApp Cloud API client for outbound text: `POST {base}/{phone_number_id}/messages`
//! with the tenant's access token. The base URL (which includes the Graph API version)
//! comes from config, so tests and the local stack point it at a fake server.

use crate::secrets::Secret;
use serde::Deserialize;
use std::time::Duration;

/// WhatsApp's limit for one text message body.
pub const MAX_TEXT_CHARS: usize = 4096;
/// The most of a Graph API answer read (a `/messages` answer is under 1 KB).
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Free-form messages are allowed only this long after the customer's last message.
pub const SERVICE_WINDOW_MS: i64 = 24 * 3600 * 1000;
/// "Re-engagement message": more than 24 hours since the customer last wrote.
pub const CODE_OUTSIDE_WINDOW: i64 = 131_047;
const THROTTLING_CODES: [i64; 5] = [4, 80_007, 130_429, 131_048, 131_056];
const TRANSIENT_CODES: [i64; 3] = [1, 2, 131_000];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WhatsappError {
    /// The 24-hour customer service window is closed: only templates may be sent.
    #[error("outside the 24-hour customer service window")]
    OutsideWindow,
    /// Throughput or pair rate limit: retry later.
    #[error("rate limited by WhatsApp ({code}): {message}")]
    RateLimited { code: i64, message: String },
    /// A refusal that retrying cannot fix (bad token, bad number, policy).
    #[error("WhatsApp refused the message ({code}): {message}")]
    Rejected { code: i64, message: String },
    /// Network failure, 5xx or a temporary Graph API error: retry later.
    #[error("WhatsApp unavailable: {0}")]
    Unavailable(String),
}

impl WhatsappError {
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            WhatsappError::Rejected { .. } | WhatsappError::OutsideWindow
        )
    }
}

#[derive(Deserialize)]
struct SendResponse {
    #[serde(default)]
    messages: Vec<SentMessage>,
}

#[derive(Deserialize)]
struct SentMessage {
    id: String,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    error_data: Option<serde_json::Value>,
}

#[derive(Clone, Debug)]
pub struct WhatsappApi {
    http: reqwest::Client,
    base_url: String,
}

impl WhatsappApi {
    pub fn new(base_url: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self::with_client(http, base_url)
    }

    pub fn with_client(http: reqwest::Client, base_url: impl Into<String>) -> Self {
        Self {
            http,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
        }
    }

    /// Sends one text message of at most [`MAX_TEXT_CHARS`]; returns its `wamid`.
    pub async fn send_message(
        &self,
        access_token: &Secret,
        phone_number_id: &str,
        to: &str,
        text: &str,
    ) -> Result<String, WhatsappError> {
        self.send(
            access_token,
            phone_number_id,
            to,
            &Payload::Text(text.to_owned()),
        )
        .await
    }

    /// Sends one message of any kind; returns its `wamid`.
    pub async fn send(
        &self,
        access_token: &Secret,
        phone_number_id: &str,
        to: &str,
        payload: &Payload,
    ) -> Result<String, WhatsappError> {
        let url = format!("{}/{phone_number_id}/messages", self.base_url);
        let mut body = payload.to_json();
        body["messaging_product"] = "whatsapp".into();
        body["recipient_type"] = "individual".into();
        body["to"] = to.into();
        let response = self
            .http
            .post(url)
            .bearer_auth(access_token.expose())
            .json(&body)
            .send()
            .await
            .map_err(|e| WhatsappError::Unavailable(e.without_url().to_string()))?;
        let parsed: SendResponse = answer(response, "/messages").await?;
        parsed
            .messages
            .into_iter()
            .next()
            .map(|m| m.id)
            .ok_or_else(|| WhatsappError::Unavailable("answer without a message id".into()))
    }

    /// Uploads media (`POST /{phone_number_id}/media`, multipart); returns its id, which
    /// a message sends for 30 days. For files Meta cannot fetch by link (a photo a
    /// manager sent the tenant's Telegram bot).
    pub async fn upload_media(
        &self,
        access_token: &Secret,
        phone_number_id: &str,
        bytes: Vec<u8>,
        mime: &str,
    ) -> Result<String, WhatsappError> {
        let url = format!("{}/{phone_number_id}/media", self.base_url);
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name("photo")
            .mime_str(mime)
            .map_err(|e| WhatsappError::Rejected {
                code: 0,
                message: format!("media type: {e}"),
            })?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime.to_owned())
            .part("file", part);
        let response = self
            .http
            .post(url)
            .bearer_auth(access_token.expose())
            .multipart(form)
            .send()
            .await
            .map_err(|e| WhatsappError::Unavailable(e.without_url().to_string()))?;
        #[derive(Deserialize)]
        struct Uploaded {
            id: String,
        }
        let uploaded: Uploaded = answer(response, "/media").await?;
        Ok(uploaded.id)
    }

    /// Sends a text of any length as consecutive messages; returns their `wamid`s.
    /// On a failure, the ids of the parts already sent come with the error.
    pub async fn send_text(
        &self,
        access_token: &Secret,
        phone_number_id: &str,
        to: &str,
        text: &str,
    ) -> Result<Vec<String>, (Vec<String>, WhatsappError)> {
        let mut sent = Vec::new();
        for part in crate::telegram_api::split_message(text, MAX_TEXT_CHARS) {
            match self
                .send_message(access_token, phone_number_id, to, &part)
                .await
            {
                Ok(id) => sent.push(id),
                Err(e) => return Err((sent, e)),
            }
        }
        Ok(sent)
    }
}

/// A Graph API answer read under a cap: the parsed success, or its error.
async fn answer<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    what: &str,
) -> Result<T, WhatsappError> {
    let status = response.status();
    let bytes = crate::outbound::read_capped(response, MAX_RESPONSE_BYTES)
        .await
        .map_err(|e| WhatsappError::Unavailable(e.to_string()))?;
    if !status.is_success() {
        return Err(graph_error(status, &bytes));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| WhatsappError::Unavailable(format!("unexpected {what} answer: {e}")))
}

/// The error of a Graph API answer, sorted into retry-later and refused-for-good.
fn graph_error(status: reqwest::StatusCode, bytes: &[u8]) -> WhatsappError {
    let error = serde_json::from_slice::<ErrorEnvelope>(bytes)
        .ok()
        .map(|e| e.error);
    let code = error.as_ref().map(|e| e.code).unwrap_or_default();
    let message = error
        .as_ref()
        .map(|e| {
            let details = e
                .error_data
                .as_ref()
                .and_then(|d| d.get("details"))
                .and_then(|d| d.as_str())
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            format!("{}{details}", e.message)
        })
        .unwrap_or_else(|| format!("HTTP {status}"));
    if code == CODE_OUTSIDE_WINDOW {
        WhatsappError::OutsideWindow
    } else if status.as_u16() == 429 || THROTTLING_CODES.contains(&code) {
        WhatsappError::RateLimited { code, message }
    } else if status.is_server_error() || TRANSIENT_CODES.contains(&code) {
        WhatsappError::Unavailable(message)
    } else {
        WhatsappError::Rejected { code, message }
    }
}

/// Meta's template errors (132000 parameter count, 132001 no such template, 132005
/// translated text too long, 132007 policy, 132012 parameter format, 132015 paused,
/// 132016 disabled, …): the template must be fixed in Meta's manager, never retried.
pub fn is_template_error(code: i64) -> bool {
    (132_000..133_000).contains(&code)
}

/// WhatsApp's limits on interactive reply buttons.
pub const MAX_REPLY_BUTTONS: usize = 3;
pub const MAX_BUTTON_TITLE_CHARS: usize = 20;
/// Captions of images (and the body of an interactive message) stop at 1,024.
pub const MAX_CAPTION_CHARS: usize = 1024;

/// One outbound message's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    Text(String),
    /// An image Meta fetches from `link` (public https), or an uploaded media `id`.
    Image {
        link: Option<String>,
        id: Option<String>,
        caption: Option<String>,
    },
    /// Text with up to three reply buttons `(id, title)`.
    Buttons {
        text: String,
        buttons: Vec<(String, String)>,
    },
    /// Text with a list of up to ten rows `(id, title)` behind a button labelled `button`.
    List {
        text: String,
        button: String,
        rows: Vec<(String, String)>,
    },
    /// An approved template with its body's parameters in order.
    Template {
        name: String,
        language: String,
        params: Vec<String>,
    },
}

impl Payload {
    fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Payload::Text(text) => {
                json!({"type": "text", "text": {"preview_url": false, "body": text}})
            }
            Payload::Image { link, id, caption } => {
                let mut image = serde_json::Map::new();
                if let Some(link) = link {
                    image.insert("link".into(), link.clone().into());
                }
                if let Some(id) = id {
                    image.insert("id".into(), id.clone().into());
                }
                if let Some(caption) = caption {
                    image.insert("caption".into(), caption.clone().into());
                }
                json!({"type": "image", "image": image})
            }
            Payload::Buttons { text, buttons } => json!({
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": {"text": text},
                    "action": {"buttons": buttons.iter().map(|(id, title)| json!({
                        "type": "reply", "reply": {"id": id, "title": title}
                    })).collect::<Vec<_>>()}
                }
            }),
            Payload::List { text, button, rows } => json!({
                "type": "interactive",
                "interactive": {
                    "type": "list",
                    "body": {"text": text},
                    "action": {"button": button, "sections": [{"rows": rows.iter().map(|(id, title)| json!({
                        "id": id, "title": title
                    })).collect::<Vec<_>>()}]}
                }
            }),
            Payload::Template {
                name,
                language,
                params,
            } => {
                let mut template = json!({"name": name, "language": {"code": language}});
                if !params.is_empty() {
                    template["components"] = json!([{
                        "type": "body",
                        "parameters": params.iter().map(|p| json!({"type": "text", "text": p})).collect::<Vec<_>>()
                    }]);
                }
                json!({"type": "template", "template": template})
            }
        }
    }
}

/// WhatsApp's limits on list messages.
pub const MAX_LIST_ROWS: usize = 10;
pub const MAX_ROW_TITLE_CHARS: usize = 24;

impl Payload {
    /// A text with buttons: up to three reply buttons; more (up to ten) as a list
    /// behind `list_label` when one is given, else the text alone. Link buttons are
    /// written out under the text.
    pub fn with_buttons(
        text: &str,
        buttons: &[crate::outbox::Button],
        list_label: Option<&str>,
    ) -> Self {
        let replies = |max: usize| -> Vec<(String, String)> {
            buttons
                .iter()
                .filter(|b| b.url.is_none())
                .filter_map(|b| {
                    b.data
                        .as_ref()
                        .map(|d| (d.clone(), b.title.chars().take(max).collect()))
                })
                .collect()
        };
        let mut body = text.to_owned();
        for b in buttons {
            if let Some(url) = &b.url {
                body.push('\n');
                body.push_str(&format!("{}: {url}", b.title));
            }
        }
        let buttons = replies(MAX_BUTTON_TITLE_CHARS);
        if buttons.is_empty() || body.chars().count() > MAX_CAPTION_CHARS {
            return Payload::Text(body);
        }
        if buttons.len() <= MAX_REPLY_BUTTONS {
            return Payload::Buttons {
                text: body,
                buttons,
            };
        }
        match list_label {
            Some(label) if buttons.len() <= MAX_LIST_ROWS => Payload::List {
                text: body,
                button: label.chars().take(MAX_BUTTON_TITLE_CHARS).collect(),
                rows: replies(MAX_ROW_TITLE_CHARS),
            },
            _ => Payload::Text(body),
        }
    }
}

/// Whether a free-form message may still be sent, given the customer's last message.
pub fn within_service_window(last_customer_message_ms: i64, now_ms: i64) -> bool {
    now_ms - last_customer_message_ms < SERVICE_WINDOW_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_24_hours_from_the_last_customer_message() {
        let t = 1_795_552_200_000;
        assert!(within_service_window(t, t + SERVICE_WINDOW_MS - 1));
        assert!(!within_service_window(t, t + SERVICE_WINDOW_MS));
    }

    #[test]
    fn payloads_in_the_cloud_api_shape() {
        let t = Payload::Template {
            name: "order_paid".into(),
            language: "ru".into(),
            params: vec!["A-12".into()],
        }
        .to_json();
        assert_eq!(t["template"]["language"]["code"], "ru");
        assert_eq!(
            t["template"]["components"][0]["parameters"][0]["text"],
            "A-12"
        );
        let b = Payload::Buttons {
            text: "Оплатить?".into(),
            buttons: vec![("pay".into(), "Да".into())],
        }
        .to_json();
        assert_eq!(
            b["interactive"]["action"]["buttons"][0]["reply"]["id"],
            "pay"
        );
        let i = Payload::Image {
            link: Some("https://x/y.jpg".into()),
            id: None,
            caption: None,
        }
        .to_json();
        assert_eq!(i["image"]["link"], "https://x/y.jpg");
        assert!(is_template_error(132_001) && !is_template_error(131_047));
    }

    #[test]
    fn permanent_errors() {
        assert!(WhatsappError::OutsideWindow.is_permanent());
        assert!(!WhatsappError::Unavailable("x".into()).is_permanent());
        assert!(!WhatsappError::RateLimited {
            code: 130_429,
            message: String::new()
        }
        .is_permanent());
    }
}
