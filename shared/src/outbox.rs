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
use crate::tenant::TenantId;
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
    /// An image by URL, with an optional caption.
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

#[cfg(test)]
mod tests {
    use super::*;

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
