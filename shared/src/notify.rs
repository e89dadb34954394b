//! Notices to people who run the business (managers, partners), delivered in Telegram
//! by the `notifier` function through the `notify` queue. The queue is what makes a
//! Telegram outage delay a notice instead of losing it; producers never call Telegram.

use crate::envelope::Envelope;
use crate::ports::{MessageQueue, QueueError};
use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RecipientsWire", into = "RecipientsWire")]
pub enum Recipients {
    /// The tenant's managers as configured when the notice is delivered.
    Managers,
    /// Specific Telegram chats (a partner's, say).
    Chats(Vec<i64>),
    /// The managers, as a card of this conversation's thread (`crate::inbox`): the
    /// conversation's assignee, else every manager. The card shows the conversation's
    /// last messages, and a manager who replies to it answers the customer.
    Thread { contact: String },
}

impl Recipients {
    pub fn thread(contact: &str) -> Self {
        Recipients::Thread {
            contact: contact.to_owned(),
        }
    }
}

/// The JSON of [`Recipients`]: `{"type":"managers"}`, `{"type":"chats","chat_ids":[…]}`,
/// `{"type":"thread","contact":"tg-1"}`.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum RecipientsWire {
    Managers,
    Chats { chat_ids: Vec<i64> },
    Thread { contact: String },
}

impl From<RecipientsWire> for Recipients {
    fn from(w: RecipientsWire) -> Self {
        match w {
            RecipientsWire::Managers => Recipients::Managers,
            RecipientsWire::Chats { chat_ids } => Recipients::Chats(chat_ids),
            RecipientsWire::Thread { contact } => Recipients::Thread { contact },
        }
    }
}

impl From<Recipients> for RecipientsWire {
    fn from(r: Recipients) -> Self {
        match r {
            Recipients::Managers => RecipientsWire::Managers,
            Recipients::Chats(chat_ids) => RecipientsWire::Chats { chat_ids },
            Recipients::Thread { contact } => RecipientsWire::Thread { contact },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub tenant: TenantId,
    /// Stable across producer retries: one recipient gets one notice per id.
    /// Up to 200 characters of `[A-Za-z0-9:_.-]`.
    pub id: String,
    /// What it is about (`lead_new`, `handoff`, `budget_spent`, `report`, ...), for logs.
    pub kind: String,
    pub to: Recipients,
    /// Telegram HTML (`parse_mode=HTML`); escape user text with `telegram_api::escape_html`.
    pub html: String,
}

/// Builds a notice id from parts, replacing characters outside the allowed alphabet.
pub fn notice_id(parts: &[&str]) -> String {
    let raw = parts.join(":");
    let cleaned: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.len() <= 200 {
        cleaned
    } else {
        use sha2::{Digest, Sha256};
        format!("h:{}", hex::encode(Sha256::digest(raw.as_bytes())))
    }
}

/// Enqueues a notice on the notify queue.
pub async fn send(queue: &dyn MessageQueue, notice: Notice) -> Result<(), QueueError> {
    queue.send(&Envelope::notice(notice), 0).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_safe_and_bounded() {
        assert_eq!(notice_id(&["lead", "tg-1", "new"]), "lead:tg-1:new");
        assert_eq!(notice_id(&["a b/c"]), "a_b_c");
        let long = "x".repeat(300);
        let id = notice_id(&[&long]);
        assert!(id.starts_with("h:") && id.len() == 66, "{id}");
    }

    #[test]
    fn recipients_serialise_readably() {
        let json = serde_json::to_value(Recipients::Chats(vec![1, 2])).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "chats", "chat_ids": [1, 2]})
        );
        let json = serde_json::to_value(Recipients::Managers).unwrap();
        assert_eq!(json, serde_json::json!({"type": "managers"}));
        let thread = Recipients::thread("tg-1");
        let json = serde_json::to_value(&thread).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "thread", "contact": "tg-1"})
        );
        assert_eq!(serde_json::from_value::<Recipients>(json).unwrap(), thread);
    }
}
