//! The normalised message model every channel parses into.

use crate::keys;
use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Telegram,
    Whatsapp,
}

impl Channel {
    /// The prefix of contact ids on this channel (`tg-123`, `wa-7701...`).
    pub fn prefix(self) -> &'static str {
        match self {
            Channel::Telegram => "tg",
            Channel::Whatsapp => "wa",
        }
    }

    pub fn contact_id(self, external_id: &str) -> String {
        format!("{}-{external_id}", self.prefix())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Text,
    Voice,
    Photo,
    Contact,
    Location,
    Other,
}

/// Non-text content, kept by reference (platform file ids), never downloaded here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Attachment {
    Voice {
        file_id: String,
        duration_s: Option<u32>,
    },
    Photo {
        file_id: String,
    },
    Contact {
        phone: String,
        name: Option<String>,
        /// Telegram: the user the shared contact belongs to (their own phone when it is
        /// the sender's id).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
    },
    Location {
        latitude: f64,
        longitude: f64,
    },
}

/// Inbound text longer than this is cut (and marked): the platforms send at most 4,096
/// characters, so more is not a person writing, and DynamoDB items stop at 400 KB.
pub const MAX_TEXT_CHARS: usize = 16_384;
/// Platform ids (message ids, chat ids) longer than this are refused: real ones are far
/// shorter, and a key may not exceed 1 KB.
pub const MAX_ID_LEN: usize = 256;
/// The latest instant a message sort key can hold (13 digits of epoch milliseconds).
pub const MAX_TIMESTAMP_MS: i64 = 9_999_999_999_999;
/// How far into the future a platform timestamp may be and still order a conversation.
pub const FUTURE_TOLERANCE_MS: i64 = 5 * 60 * 1000;

/// Cuts `text` to [`MAX_TEXT_CHARS`], marking the cut.
pub fn bounded_text(text: String) -> String {
    if text.chars().count() <= MAX_TEXT_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_TEXT_CHARS).collect();
    cut.push_str(" […]");
    cut
}

/// Whether a platform id can be part of a key.
pub fn valid_platform_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN && !id.chars().any(char::is_control)
}

/// Epoch seconds from a platform to milliseconds, if they fit a message key.
pub fn timestamp_ms_from_seconds(seconds: i64) -> Option<i64> {
    seconds
        .checked_mul(1000)
        .filter(|ms| (0..=MAX_TIMESTAMP_MS).contains(ms))
}

/// One customer message, whatever the channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    pub tenant: TenantId,
    pub channel: Channel,
    /// `{channel}-{external id}`, e.g. `tg-123456` or `wa-77011234567`.
    pub contact: String,
    /// The platform's own id: Telegram `message_id` (unique per chat), WhatsApp `wamid`.
    pub platform_message_id: String,
    /// When the platform says the message was sent, in epoch milliseconds.
    pub timestamp_ms: i64,
    pub kind: MessageKind,
    /// Text, or the caption of a photo.
    pub text: Option<String>,
    pub attachment: Option<Attachment>,
    pub display_name: Option<String>,
    /// IETF language tag as the platform reports it (`ru`, `en`, ...).
    pub language: Option<String>,
    /// Where replies go: Telegram chat id, WhatsApp `wa_id`.
    pub reply_to: String,
    /// The Telegram forum topic it was written in: replies go to the same topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<i32>,
}

impl InboundMessage {
    pub fn pk(&self) -> String {
        keys::contact_pk(&self.tenant, &self.contact)
    }

    /// Derived only from platform ids, so a redelivery maps to the same key.
    pub fn sk(&self) -> String {
        keys::message_sk(self.timestamp_ms, Direction::In, &self.platform_message_id)
    }

    /// FIFO ordering scope: one conversation.
    pub fn message_group_id(&self) -> String {
        format!("{}#{}", self.tenant, self.contact)
    }

    /// FIFO deduplication id: a digest of the message key (SQS allows 128 chars).
    pub fn deduplication_id(&self) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(format!("{}|{}", self.pk(), self.sk())))
    }
}

/// Outbound delivery state, in the order a message normally moves through it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Sent,
    Delivered,
    Read,
    Failed,
}

impl DeliveryState {
    /// Higher ranks win, so late or duplicated statuses never move a message back.
    pub fn rank(self) -> u8 {
        match self {
            DeliveryState::Sent => 1,
            DeliveryState::Delivered => 2,
            DeliveryState::Read => 3,
            DeliveryState::Failed => 4,
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "sent" => Some(Self::Sent),
            "delivered" => Some(Self::Delivered),
            "read" => Some(Self::Read),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Sent => "sent",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Read => "read",
            DeliveryState::Failed => "failed",
        }
    }
}

/// A platform's report on one outbound message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryStatus {
    pub tenant: TenantId,
    pub platform_message_id: String,
    pub state: DeliveryState,
    pub timestamp_ms: i64,
    pub error_code: Option<i64>,
    pub error_title: Option<String>,
}

/// A message Sauda sent, as stored next to the conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboundMessage {
    pub tenant: TenantId,
    pub channel: Channel,
    pub contact: String,
    pub platform_message_id: String,
    pub timestamp_ms: i64,
    pub text: String,
    /// The inbound message this answers, when it answers one.
    pub in_reply_to: Option<String>,
}

impl OutboundMessage {
    pub fn pk(&self) -> String {
        keys::contact_pk(&self.tenant, &self.contact)
    }

    pub fn sk(&self) -> String {
        keys::message_sk(self.timestamp_ms, Direction::Out, &self.platform_message_id)
    }
}

/// The stored shape of a message item (both directions), mapped with `serde_dynamo`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub direction: Direction,
    pub channel: Channel,
    pub contact: String,
    pub platform_message_id: String,
    pub timestamp_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<MessageKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<Attachment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_state: Option<DeliveryState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_rank: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_error_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_error_title: Option<String>,
    /// Who wrote an outbound message (agent replies older than this field say it in
    /// `reply_kind` instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<crate::outbox::Author>,
    pub stored_at_ms: i64,
    /// When the message counts as written for ordering a conversation: the platform's
    /// time, but never later than a few minutes after it was received, so a message
    /// dated in the future cannot pass for newer than the customer's later messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_ms: Option<i64>,
}

impl MessageItem {
    pub fn inbound(m: &InboundMessage, stored_at_ms: i64) -> Self {
        Self {
            pk: m.pk(),
            sk: m.sk(),
            direction: Direction::In,
            channel: m.channel,
            contact: m.contact.clone(),
            platform_message_id: m.platform_message_id.clone(),
            timestamp_ms: m.timestamp_ms,
            kind: Some(m.kind),
            text: m.text.clone(),
            attachment: m.attachment.clone(),
            display_name: m.display_name.clone(),
            language: m.language.clone(),
            in_reply_to: None,
            delivery_state: None,
            delivery_rank: None,
            delivery_error_code: None,
            delivery_error_title: None,
            author: None,
            stored_at_ms,
            order_ms: Some(
                m.timestamp_ms
                    .min(stored_at_ms.saturating_add(FUTURE_TOLERANCE_MS)),
            ),
        }
    }

    /// The conversation order of this message (older items have no `order_ms`).
    pub fn ordered_at_ms(&self) -> i64 {
        self.order_ms.unwrap_or(self.timestamp_ms)
    }

    pub fn outbound(m: &OutboundMessage, stored_at_ms: i64) -> Self {
        Self {
            pk: m.pk(),
            sk: m.sk(),
            direction: Direction::Out,
            channel: m.channel,
            contact: m.contact.clone(),
            platform_message_id: m.platform_message_id.clone(),
            timestamp_ms: m.timestamp_ms,
            kind: Some(MessageKind::Text),
            text: Some(m.text.clone()),
            attachment: None,
            display_name: None,
            language: None,
            in_reply_to: m.in_reply_to.clone(),
            delivery_state: Some(DeliveryState::Sent),
            delivery_rank: Some(DeliveryState::Sent.rank()),
            delivery_error_code: None,
            delivery_error_title: None,
            author: None,
            stored_at_ms,
            order_ms: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn future_dates_are_clamped_for_ordering_only() {
        let m = InboundMessage {
            tenant: TenantId::parse("acme").unwrap(),
            channel: Channel::Telegram,
            contact: "tg-1".into(),
            platform_message_id: "7".into(),
            timestamp_ms: 9_000_000_000_000,
            kind: MessageKind::Text,
            text: Some("hi".into()),
            attachment: None,
            display_name: None,
            language: None,
            reply_to: "1".into(),
            thread_id: None,
        };
        let item = MessageItem::inbound(&m, 1_800_000_000_000);
        assert_eq!(
            item.sk,
            m.sk(),
            "the key keeps the platform's time: redeliveries dedupe"
        );
        assert_eq!(
            item.ordered_at_ms(),
            1_800_000_000_000 + FUTURE_TOLERANCE_MS
        );
        let past = MessageItem::inbound(
            &InboundMessage {
                timestamp_ms: 1_700_000_000_000,
                ..m
            },
            1_800_000_000_000,
        );
        assert_eq!(
            past.ordered_at_ms(),
            1_700_000_000_000,
            "late deliveries keep their time"
        );
    }

    #[test]
    fn limits() {
        assert_eq!(
            timestamp_ms_from_seconds(1_732_460_000),
            Some(1_732_460_000_000)
        );
        assert_eq!(
            timestamp_ms_from_seconds(10_000_000_000_000_000),
            None,
            "no overflow"
        );
        assert_eq!(
            timestamp_ms_from_seconds(10_000_000_000),
            None,
            "beyond the key's 13 digits"
        );
        assert_eq!(timestamp_ms_from_seconds(-1), None);
        assert!(valid_platform_id("wamid.HBgL"));
        assert!(!valid_platform_id(&"x".repeat(2000)));
        assert!(!valid_platform_id(""));
        let long = bounded_text("я".repeat(500_000));
        assert_eq!(long.chars().count(), MAX_TEXT_CHARS + 4);
    }
}
