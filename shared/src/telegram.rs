//! Telegram Bot API updates, parsed with `frankenstein`'s types and normalised.

use crate::message::{
    bounded_text, timestamp_ms_from_seconds, Attachment, Channel, InboundMessage, MessageKind,
};
use crate::tenant::TenantId;
use frankenstein::types::Message;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("body does not have the expected shape: {0}")]
    InvalidShape(String),
}

#[derive(Debug, PartialEq)]
pub enum TelegramUpdate {
    Message {
        update_id: u64,
        message: Box<InboundMessage>,
        /// The message of the same chat this one replies to (a manager answering a card).
        replying_to: Option<i64>,
    },
    /// A valid update Sauda does not act on (edits, member changes, ...): answered 200
    /// so that Telegram stops retrying, and logged with its kind.
    Ignored { update_id: u64, kind: String },
}

/// Parses one webhook body. Only `message` updates are acted on; an update of any
/// other kind, including kinds newer than this code, is `Ignored` rather than rejected,
/// because a rejected update would block the rest of that chat for 24 h.
pub fn parse_update(tenant: &TenantId, body: &[u8]) -> Result<TelegramUpdate, ParseError> {
    // Nearly every update is a well-formed message: parse it once, straight into its
    // type. Anything else takes the slower path below, which names what is wrong.
    #[derive(Deserialize)]
    struct MessageUpdate {
        update_id: u64,
        message: Message,
    }
    if let Ok(update) = serde_json::from_slice::<MessageUpdate>(body) {
        let message = update.message;
        return Ok(TelegramUpdate::Message {
            update_id: update.update_id,
            replying_to: message
                .reply_to_message
                .as_ref()
                .map(|r| i64::from(r.message_id)),
            message: Box::new(normalise(tenant, &message)?),
        });
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ParseError::MalformedJson(e.to_string()))?;
    let object = value
        .as_object()
        .ok_or_else(|| ParseError::InvalidShape("update must be a JSON object".into()))?;
    let update_id = object
        .get("update_id")
        .and_then(Value::as_u64)
        .ok_or_else(|| {
            ParseError::InvalidShape("update_id must be a non-negative integer".into())
        })?;
    let Some(raw_message) = object.get("message") else {
        let kind = object
            .keys()
            .find(|k| k.as_str() != "update_id")
            .cloned()
            .unwrap_or_else(|| "empty".to_owned());
        return Ok(TelegramUpdate::Ignored { update_id, kind });
    };
    let message = Message::deserialize(raw_message)
        .map_err(|e| ParseError::InvalidShape(format!("message: {e}")))?;
    Ok(TelegramUpdate::Message {
        update_id,
        replying_to: message
            .reply_to_message
            .as_ref()
            .map(|r| i64::from(r.message_id)),
        message: Box::new(normalise(tenant, &message)?),
    })
}

fn normalise(tenant: &TenantId, m: &Message) -> Result<InboundMessage, ParseError> {
    let timestamp_ms = i64::try_from(m.date)
        .ok()
        .and_then(timestamp_ms_from_seconds)
        .ok_or_else(|| {
            ParseError::InvalidShape(format!("message.date {} is out of range", m.date))
        })?;
    let (kind, attachment) = classify(m);
    let text = m
        .text
        .clone()
        .or_else(|| m.caption.clone())
        .map(bounded_text);
    let display_name = m.from.as_ref().map(|u| match &u.last_name {
        Some(last) => format!("{} {last}", u.first_name),
        None => u.first_name.clone(),
    });
    let language = m.from.as_ref().and_then(|u| u.language_code.clone());
    let chat_id = m.chat.id.to_string();
    Ok(InboundMessage {
        tenant: tenant.clone(),
        channel: Channel::Telegram,
        contact: Channel::Telegram.contact_id(&chat_id),
        platform_message_id: m.message_id.to_string(),
        timestamp_ms,
        kind,
        text,
        attachment,
        display_name: display_name.map(|n| n.chars().take(256).collect()),
        language: language.filter(|l| l.len() <= 35),
        reply_to: chat_id,
    })
}

fn classify(m: &Message) -> (MessageKind, Option<Attachment>) {
    if let Some(voice) = &m.voice {
        let attachment = Attachment::Voice {
            file_id: voice.file_id.clone(),
            duration_s: Some(voice.duration),
        };
        return (MessageKind::Voice, Some(attachment));
    }
    if let Some(photo) = m.photo.as_ref().and_then(|sizes| sizes.last()) {
        let attachment = Attachment::Photo {
            file_id: photo.file_id.clone(),
        };
        return (MessageKind::Photo, Some(attachment));
    }
    if let Some(contact) = &m.contact {
        let attachment = Attachment::Contact {
            phone: contact.phone_number.clone(),
            name: Some(contact.first_name.clone()),
        };
        return (MessageKind::Contact, Some(attachment));
    }
    if let Some(location) = &m.location {
        let attachment = Attachment::Location {
            latitude: location.latitude,
            longitude: location.longitude,
        };
        return (MessageKind::Location, Some(attachment));
    }
    if m.text.is_some() {
        return (MessageKind::Text, None);
    }
    (MessageKind::Other, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::parse("demo").unwrap()
    }

    const TEXT: &str = r#"{"update_id":10000,"message":{"message_id":1365,"date":1732460000,
        "chat":{"id":123456,"type":"private","first_name":"Aida","last_name":"K","username":"aida"},
        "from":{"id":123456,"is_bot":false,"first_name":"Aida","last_name":"K","language_code":"ru"},
        "text":"Сколько стоит насос?"}}"#;

    #[test]
    fn text_message_is_normalised() {
        let TelegramUpdate::Message {
            update_id,
            message,
            replying_to,
        } = parse_update(&tenant(), TEXT.as_bytes()).unwrap()
        else {
            panic!("expected a message");
        };
        assert_eq!(replying_to, None);
        assert_eq!(update_id, 10000);
        assert_eq!(message.contact, "tg-123456");
        assert_eq!(message.platform_message_id, "1365");
        assert_eq!(message.timestamp_ms, 1_732_460_000_000);
        assert_eq!(message.kind, MessageKind::Text);
        assert_eq!(message.text.as_deref(), Some("Сколько стоит насос?"));
        assert_eq!(message.display_name.as_deref(), Some("Aida K"));
        assert_eq!(message.language.as_deref(), Some("ru"));
        assert_eq!(message.reply_to, "123456");
        assert_eq!(message.sk(), "MSG#1732460000000#in#1365");
    }

    #[test]
    fn voice_photo_contact_location() {
        let cases = [
            (
                r#""voice":{"file_id":"AwAC","file_unique_id":"u","duration":4,"mime_type":"audio/ogg"}"#,
                MessageKind::Voice,
            ),
            (
                r#""photo":[{"file_id":"small","file_unique_id":"a","width":90,"height":90},{"file_id":"big","file_unique_id":"b","width":800,"height":800}],"caption":"this one""#,
                MessageKind::Photo,
            ),
            (
                r#""contact":{"phone_number":"+77011234567","first_name":"Aida"}"#,
                MessageKind::Contact,
            ),
            (
                r#""location":{"latitude":43.25,"longitude":76.95}"#,
                MessageKind::Location,
            ),
            (
                r#""sticker":{"file_id":"s","file_unique_id":"s","type":"regular","width":512,"height":512,"is_animated":false,"is_video":false}"#,
                MessageKind::Other,
            ),
        ];
        for (fragment, expected) in cases {
            let body = format!(
                r#"{{"update_id":1,"message":{{"message_id":7,"date":1732460000,"chat":{{"id":5,"type":"private"}},{fragment}}}}}"#
            );
            let update = parse_update(&tenant(), body.as_bytes())
                .unwrap_or_else(|e| panic!("{fragment}: {e}"));
            let TelegramUpdate::Message { message, .. } = update else {
                panic!("{fragment}")
            };
            assert_eq!(message.kind, expected, "{fragment}");
            if expected == MessageKind::Photo {
                assert_eq!(message.text.as_deref(), Some("this one"));
                assert_eq!(
                    message.attachment,
                    Some(Attachment::Photo {
                        file_id: "big".into()
                    })
                );
            }
        }
    }

    #[test]
    fn a_reply_names_the_message_it_answers() {
        let body = r#"{"update_id":4,"message":{"message_id":9,"date":1732460000,
            "chat":{"id":-100,"type":"group","title":"Sales"},
            "reply_to_message":{"message_id":5,"date":1732450000,"chat":{"id":-100,"type":"group","title":"Sales"},"text":"card"},
            "text":"Добрый день!"}}"#;
        let TelegramUpdate::Message { replying_to, .. } =
            parse_update(&tenant(), body.as_bytes()).unwrap()
        else {
            panic!("expected a message");
        };
        assert_eq!(replying_to, Some(5));
    }

    #[test]
    fn other_update_kinds_are_ignored_not_rejected() {
        let edited = r#"{"update_id":2,"edited_message":{"message_id":7,"date":1,"edit_date":2,"chat":{"id":5,"type":"private"},"text":"x"}}"#;
        assert_eq!(
            parse_update(&tenant(), edited.as_bytes()).unwrap(),
            TelegramUpdate::Ignored {
                update_id: 2,
                kind: "edited_message".into()
            }
        );
        let future = r#"{"update_id":3,"some_future_kind":{"x":1}}"#;
        assert!(matches!(
            parse_update(&tenant(), future.as_bytes()).unwrap(),
            TelegramUpdate::Ignored { .. }
        ));
    }

    #[test]
    fn malformed_and_misshapen_bodies_are_errors() {
        assert!(matches!(
            parse_update(&tenant(), b"{not json"),
            Err(ParseError::MalformedJson(_))
        ));
        assert!(matches!(
            parse_update(&tenant(), b"[]"),
            Err(ParseError::InvalidShape(_))
        ));
        assert!(matches!(
            parse_update(&tenant(), br#"{"message":{}}"#),
            Err(ParseError::InvalidShape(_))
        ));
        assert!(matches!(
            parse_update(
                &tenant(),
                br#"{"update_id":1,"message":{"text":"no chat"}}"#
            ),
            Err(ParseError::InvalidShape(_))
        ));
        assert!(matches!(
            parse_update(&tenant(), br#"{"update_id":-5}"#),
            Err(ParseError::InvalidShape(_))
        ));
    }

    #[test]
    fn a_date_out_of_range_is_refused_not_a_panic() {
        for date in ["10000000000000000", "10000000000", "18446744073709551615"] {
            let body = format!(
                r#"{{"update_id":1,"message":{{"message_id":1,"date":{date},"chat":{{"id":1,"type":"private"}},"text":"x"}}}}"#
            );
            assert!(
                matches!(
                    parse_update(&tenant(), body.as_bytes()),
                    Err(ParseError::InvalidShape(_))
                ),
                "{date}"
            );
        }
    }
}
