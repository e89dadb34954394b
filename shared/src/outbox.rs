//! Messages to customers on their own channel (Telegram or WhatsApp) that are not an
//! agent's reply: order receipts, invoices, a manager's answer, a template, a follow-up.
//!
//! Producers never call a channel: they queue a [`CustomerMessage`] on the notify queue
//! and the `notifier` sends it, with retries, stores it in the conversation with its
//! author and delivery state, and sends it once per `id` however often it is queued.
//! A Telegram or WhatsApp outage therefore delays such a message, never loses it.

use crate::envelope::Envelope;
use crate::message::Channel;
use crate::ports::{MessageQueue, QueueError};
use crate::tenant::{TenantConfig, TenantId};
use serde::{Deserialize, Serialize};

/// Who wrote an outbound message, as the transcript shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Author {
    /// The AI agent's answer.
    Agent,
    /// The retrieval-only answer when no model answered.
    Fallback,
    /// A manager, through the inbox API (`key_id`) or their Telegram chat (`chat_id`).
    Manager {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chat_id: Option<i64>,
    },
    /// Sauda itself: receipts, invoices, reminders (`kind` says which).
    System { kind: String },
}

/// A button under a message. On Telegram an inline keyboard button; on WhatsApp an
/// interactive reply button (at most 3, titles of at most 20 characters) or a list row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub title: String,
    /// Sent back when pressed (Telegram `callback_data`, at most 64 bytes; WhatsApp reply id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Opens a link instead (Telegram only; WhatsApp shows it in the text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Telegram: a reply-keyboard button that shares the user's own phone number
    /// (`request_contact`); a message with one shows a reply keyboard, not an inline one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub request_contact: bool,
}

/// One parameter of a WhatsApp template's body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateParam {
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Body {
    /// Plain text (split on Telegram above 4,096 characters), with optional buttons.
    Text {
        text: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        buttons: Vec<Button>,
    },
    /// An image by URL, with an optional caption. The URL may also name a photo the
    /// tenant's Telegram bot received, as `telegram-file:{file_id}` ([`TELEGRAM_FILE`]):
    /// Telegram sends it by id, WhatsApp gets it uploaded. The inbox API only accepts
    /// https URLs, so only Sauda itself writes that form.
    Image {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        buttons: Vec<Button>,
    },
    /// An approved WhatsApp template (the only thing WhatsApp delivers outside the
    /// 24-hour window).
    Template {
        name: String,
        language: String,
        #[serde(default)]
        params: Vec<TemplateParam>,
    },
}

impl Body {
    pub fn text(text: impl Into<String>) -> Self {
        Body::Text {
            text: text.into(),
            buttons: Vec::new(),
        }
    }

    /// What the transcript shows for it.
    pub fn preview(&self) -> String {
        match self {
            Body::Text { text, .. } => text.clone(),
            Body::Image { url, caption, .. } => caption.clone().unwrap_or_else(|| url.clone()),
            Body::Template { name, params, .. } => {
                let params: Vec<&str> = params.iter().map(|p| p.text.as_str()).collect();
                format!("[template {name}] {}", params.join(" | "))
            }
        }
    }
}

/// The URL scheme of a photo the tenant's Telegram bot received (see [`Body::Image`]).
pub const TELEGRAM_FILE: &str = "telegram-file:";

/// What to do when WhatsApp's 24-hour window has closed and the body is not a template.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutsideWindow {
    /// Tell the managers it could not be sent (the default).
    #[default]
    NotifyManagers,
    /// Send this template instead.
    Template {
        name: String,
        language: String,
        #[serde(default)]
        params: Vec<TemplateParam>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerMessage {
    pub tenant: TenantId,
    /// Stable across producer retries: the customer gets one message per id.
    /// Up to 200 characters of `[A-Za-z0-9:_.-]` (see [`crate::notify::notice_id`]).
    pub id: String,
    /// `{channel}-{external id}`.
    pub contact: String,
    pub channel: Channel,
    /// Telegram chat id or WhatsApp `wa_id`.
    pub reply_to: String,
    pub author: Author,
    pub body: Body,
    /// Telegram forum topic to answer in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<i64>,
    #[serde(default)]
    pub outside_window: OutsideWindow,
}

/// Queues a customer message for the notifier.
pub async fn send(queue: &dyn MessageQueue, message: CustomerMessage) -> Result<(), QueueError> {
    queue.send(&Envelope::customer_message(message), 0).await
}

/// The longest template parameter Sauda sends (Meta caps a body at 1,024 characters).
pub const MAX_TEMPLATE_PARAM_CHARS: usize = 1024;

/// Why a template cannot be sent as asked; `code` is the API's stable code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("no WhatsApp template {0} is registered for this tenant")]
    NotRegistered(String),
    #[error("template {name} takes {expected} parameters, {got} given")]
    ParamCount {
        name: String,
        expected: usize,
        got: usize,
    },
    #[error("parameter {name} {why}")]
    BadParam { name: String, why: &'static str },
}

impl TemplateError {
    pub fn code(&self) -> &'static str {
        match self {
            TemplateError::NotRegistered(_) => "template_not_found",
            TemplateError::ParamCount { .. } => "template_params_mismatch",
            TemplateError::BadParam { .. } => "template_param_invalid",
        }
    }
}

/// Meta refuses parameters with new lines, tabs or more than four spaces in a row
/// (error 132018), and empty ones (132000).
fn param_problem(text: &str) -> Option<&'static str> {
    if text.trim().is_empty() {
        Some("is empty")
    } else if text.contains(['\n', '\r', '\t']) {
        Some("may not contain new lines or tabs")
    } else if text.contains("     ") {
        Some("may not contain more than 4 spaces in a row")
    } else if text.chars().count() > MAX_TEMPLATE_PARAM_CHARS {
        Some("is longer than 1024 characters")
    } else {
        None
    }
}

/// The body of the registered template `name` (in `language` when given) with
/// `params` checked against its registration.
pub fn template_body(
    config: &TenantConfig,
    name: &str,
    language: Option<&str>,
    params: Vec<String>,
) -> Result<Body, TemplateError> {
    let template = config
        .whatsapp_template(name, language)
        .ok_or_else(|| TemplateError::NotRegistered(name.to_owned()))?;
    if params.len() != template.params.len() {
        return Err(TemplateError::ParamCount {
            name: name.to_owned(),
            expected: template.params.len(),
            got: params.len(),
        });
    }
    for (spec, text) in template.params.iter().zip(&params) {
        if let Some(why) = param_problem(text) {
            return Err(TemplateError::BadParam {
                name: spec.name.clone(),
                why,
            });
        }
    }
    Ok(Body::Template {
        name: template.name.clone(),
        language: template.language.clone(),
        params: params
            .into_iter()
            .map(|text| TemplateParam { text })
            .collect(),
    })
}

impl CustomerMessage {
    /// A message to the customer behind a contact id (`tg-…` or `wa-…`); `None` for a
    /// contact that is not a chat (a web-form lead, say).
    pub fn to_contact(
        tenant: &TenantId,
        id: impl Into<String>,
        contact: &str,
        author: Author,
        body: Body,
    ) -> Option<Self> {
        let (channel, reply_to) = if let Some(chat) = contact.strip_prefix("tg-") {
            (Channel::Telegram, chat)
        } else {
            (Channel::Whatsapp, contact.strip_prefix("wa-")?)
        };
        (!reply_to.is_empty()).then(|| Self {
            tenant: tenant.clone(),
            id: id.into(),
            contact: contact.to_owned(),
            channel,
            reply_to: reply_to.to_owned(),
            author,
            body,
            thread_id: None,
            outside_window: OutsideWindow::NotifyManagers,
        })
    }

    /// Outside WhatsApp's 24-hour window, the registered template `name` goes instead
    /// of the body (order and payment notices, follow-ups); inside it, and on Telegram,
    /// the body itself. Checked against the registration now, so a producer learns of
    /// a wrong name or parameter count at once, not from Meta days later.
    pub fn or_template(
        mut self,
        config: &TenantConfig,
        name: &str,
        params: Vec<String>,
    ) -> Result<Self, TemplateError> {
        let Body::Template {
            name,
            language,
            params,
        } = template_body(config, name, None, params)?
        else {
            unreachable!("template_body builds a template")
        };
        self.outside_window = OutsideWindow::Template {
            name,
            language,
            params,
        };
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> TenantConfig {
        let mut c = TenantConfig::new(TenantId::parse("acme").unwrap(), "Acme");
        c.whatsapp_templates = vec![crate::tenant::WhatsappTemplate {
            name: "order_paid".into(),
            language: "ru".into(),
            category: "utility".into(),
            params: vec![
                crate::tenant::TemplateParamSpec {
                    name: "order".into(),
                    example: "A-12".into(),
                },
                crate::tenant::TemplateParamSpec {
                    name: "amount".into(),
                    example: "4 500 ₸".into(),
                },
            ],
        }];
        c
    }

    #[test]
    fn text_inside_the_window_and_the_registered_template_outside_it() {
        let c = config();
        let m = CustomerMessage::to_contact(
            &c.tenant,
            "receipt:o1",
            "wa-77011234567",
            Author::System {
                kind: "receipt".into(),
            },
            Body::text("Заказ A-12 оплачен: 4 500 ₸"),
        )
        .unwrap();
        assert_eq!(
            (m.channel, m.reply_to.as_str()),
            (Channel::Whatsapp, "77011234567")
        );
        let m = m
            .or_template(&c, "order_paid", vec!["A-12".into(), "4 500 ₸".into()])
            .unwrap();
        assert!(
            matches!(m.outside_window, OutsideWindow::Template { ref name, .. } if name == "order_paid")
        );
        assert!(CustomerMessage::to_contact(
            &c.tenant,
            "x",
            "web-1",
            Author::Agent,
            Body::text("x")
        )
        .is_none());
        let tg =
            CustomerMessage::to_contact(&c.tenant, "x", "tg-42", Author::Agent, Body::text("x"))
                .unwrap();
        assert_eq!(
            (tg.channel, tg.reply_to.as_str()),
            (Channel::Telegram, "42")
        );
    }

    #[test]
    fn template_params_are_checked_against_the_registration() {
        let c = config();
        let codes = |name: &str, params: &[&str]| {
            template_body(
                &c,
                name,
                None,
                params.iter().map(|p| p.to_string()).collect(),
            )
            .map(|_| "ok")
            .unwrap_or_else(|e| e.code())
        };
        assert_eq!(codes("order_paid", &["A-12", "4 500 ₸"]), "ok");
        assert_eq!(codes("nope", &[]), "template_not_found");
        assert_eq!(codes("order_paid", &["A-12"]), "template_params_mismatch");
        assert_eq!(
            codes("order_paid", &["A-12", "two\nlines"]),
            "template_param_invalid"
        );
        assert_eq!(
            codes("order_paid", &["A-12", " "]),
            "template_param_invalid"
        );
        assert_eq!(
            codes("order_paid", &["A-12", "a      b"]),
            "template_param_invalid"
        );
        assert!(
            template_body(&c, "order_paid", Some("kk"), vec!["a".into(), "b".into()]).is_err(),
            "no kk translation"
        );
    }

    #[test]
    fn round_trips_through_the_envelope() {
        let m = CustomerMessage {
            tenant: TenantId::parse("acme").unwrap(),
            id: "receipt:o1".into(),
            contact: "wa-7701".into(),
            channel: Channel::Whatsapp,
            reply_to: "7701".into(),
            author: Author::System {
                kind: "receipt".into(),
            },
            body: Body::Text {
                text: "Paid".into(),
                buttons: vec![Button {
                    title: "My orders".into(),
                    data: Some("orders".into()),
                    url: None,
                    request_contact: false,
                }],
            },
            thread_id: None,
            outside_window: OutsideWindow::default(),
        };
        let json = Envelope::customer_message(m.clone()).to_json();
        let back = Envelope::from_json(&json).unwrap();
        assert_eq!(back.kind(), "customer_message");
        assert!(
            matches!(back.job, crate::envelope::Job::CustomerMessage { message } if message == m)
        );
        assert_eq!(
            Body::Template {
                name: "order_paid".into(),
                language: "ru".into(),
                params: vec![TemplateParam {
                    text: "4 500 ₸".into()
                }]
            }
            .preview(),
            "[template order_paid] 4 500 ₸"
        );
    }
}
