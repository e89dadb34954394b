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
        /// Where it was written: a group's messages are answered only when addressed.
        chat: ChatInfo,
    },
    /// A press on an inline button: answered at once with `answerCallbackQuery` (the
    /// webhook's response), and queued as a message whose text is the button's data.
    Callback {
        update_id: u64,
        query_id: String,
        /// `None` for a press without data or outside a chat (inline mode).
        message: Option<Box<InboundMessage>>,
    },
    /// A valid update Sauda does not act on (edits, member changes, ...): answered 200
    /// so that Telegram stops retrying, and logged with its kind.
    Ignored { update_id: u64, kind: String },
}

/// Where a message was written, and whether it is a service message (joins, leaves,
/// pins, topic creation...) that no one should be answered for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChatInfo {
    /// A group or supergroup (not a private chat or a channel).
    pub group: bool,
    pub service: bool,
    /// The username of the bot the message replies to (empty when unknown), if it
    /// replies to a bot.
    pub replies_to_bot: Option<String>,
    /// The forum topic it was written in.
    pub thread_id: Option<i32>,
}

impl ChatInfo {
    /// Whether the bot (`bot_username`) should answer this message.
    pub fn answerable(&self, text: Option<&str>, bot_username: Option<&str>) -> bool {
        if self.service {
            return false;
        }
        if !self.group {
            return true;
        }
        let ours = |replied: &str| match bot_username {
            Some(bot) => {
                replied.is_empty() || replied.eq_ignore_ascii_case(bot.trim_start_matches('@'))
            }
            None => true,
        };
        crate::chat::addressed_in_group(
            text.unwrap_or_default(),
            bot_username,
            self.replies_to_bot.as_deref().is_some_and(ours),
        )
    }
}

/// Message fields that only service messages carry.
const SERVICE_FIELDS: &[&str] = &[
    "new_chat_members",
    "left_chat_member",
    "new_chat_title",
    "new_chat_photo",
    "delete_chat_photo",
    "group_chat_created",
    "supergroup_chat_created",
    "channel_chat_created",
    "message_auto_delete_timer_changed",
    "migrate_to_chat_id",
    "migrate_from_chat_id",
    "pinned_message",
    "forum_topic_created",
    "forum_topic_edited",
    "forum_topic_closed",
    "forum_topic_reopened",
    "general_forum_topic_hidden",
    "general_forum_topic_unhidden",
    "video_chat_scheduled",
    "video_chat_started",
    "video_chat_ended",
    "video_chat_participants_invited",
    "write_access_allowed",
    "boost_added",
    "chat_background_set",
    "users_shared",
    "chat_shared",
    "proximity_alert_triggered",
];

/// Parses one webhook body. Only `message` and `callback_query` updates are acted on; an update of any
/// other kind, including kinds newer than this code, is `Ignored` rather than rejected,
/// because a rejected update would block the rest of that chat for 24 h.
pub fn parse_update(tenant: &TenantId, body: &[u8]) -> Result<TelegramUpdate, ParseError> {
    // One parse into a JSON value: service messages (joins, pins, topics...) are told
    // apart by their raw fields, which the typed message would drop.
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
    if let Some(query) = object.get("callback_query") {
        return callback(tenant, update_id, query);
    }
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
    let chat = ChatInfo {
        group: matches!(
            message.chat.type_field,
            frankenstein::types::ChatType::Group | frankenstein::types::ChatType::Supergroup
        ),
        service: raw_message
            .as_object()
            .is_some_and(|m| SERVICE_FIELDS.iter().any(|f| m.contains_key(*f))),
        replies_to_bot: message
            .reply_to_message
            .as_ref()
            .and_then(|r| r.from.as_ref())
            .filter(|u| u.is_bot)
            .map(|u| u.username.clone().unwrap_or_default()),
        thread_id: message
            .message_thread_id
            .filter(|_| message.is_topic_message == Some(true)),
    };
    Ok(TelegramUpdate::Message {
        update_id,
        chat,
        replying_to: message
            .reply_to_message
            .as_ref()
            .map(|r| i64::from(r.message_id)),
        message: Box::new(normalise(tenant, &message)?),
    })
}

/// A button press: its data becomes the text of a message in the chat the button is in,
/// dated now (a press has no date of its own), under an id of its own (`cb-{query id}`)
/// so that a redelivered update is stored once.
fn callback(
    tenant: &TenantId,
    update_id: u64,
    query: &Value,
) -> Result<TelegramUpdate, ParseError> {
    let query_id = query
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| crate::message::valid_platform_id(id) && id.len() <= 64)
        .ok_or_else(|| ParseError::InvalidShape("callback_query.id must be a string".into()))?
        .to_owned();
    let data = query.get("data").and_then(Value::as_str);
    let chat_id = query
        .pointer("/message/chat/id")
        .and_then(Value::as_i64)
        .map(|id| id.to_string());
    let from = query.get("from");
    let message = match (data, chat_id) {
        (Some(data), Some(chat_id)) if !data.is_empty() => {
            let name = from
                .and_then(|f| f.get("first_name"))
                .and_then(Value::as_str);
            let last = from
                .and_then(|f| f.get("last_name"))
                .and_then(Value::as_str);
            Some(Box::new(InboundMessage {
                tenant: tenant.clone(),
                channel: Channel::Telegram,
                contact: Channel::Telegram.contact_id(&chat_id),
                platform_message_id: format!("cb-{query_id}"),
                timestamp_ms: crate::now_ms(),
                kind: MessageKind::Text,
                text: Some(data.chars().take(256).collect()),
                attachment: None,
                display_name: name.map(|n| {
                    match last {
                        Some(last) => format!("{n} {last}"),
                        None => n.to_owned(),
                    }
                    .chars()
                    .take(256)
                    .collect()
                }),
                language: from
                    .and_then(|f| f.get("language_code"))
                    .and_then(Value::as_str)
                    .filter(|l| l.len() <= 35)
                    .map(str::to_owned),
                reply_to: chat_id,
                // A button under a message in a forum topic answers in that topic.
                thread_id: query
                    .pointer("/message/message_thread_id")
                    .and_then(Value::as_i64)
                    .filter(|_| {
                        query
                            .pointer("/message/is_topic_message")
                            .and_then(Value::as_bool)
                            == Some(true)
                    })
                    .and_then(|id| i32::try_from(id).ok()),
            }))
        }
        _ => None,
    };
    Ok(TelegramUpdate::Callback {
        update_id,
        query_id,
        message,
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
        thread_id: m
            .message_thread_id
            .filter(|_| m.is_topic_message == Some(true)),
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
            user_id: contact.user_id.map(|id| id.to_string()),
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
            chat,
        } = parse_update(&tenant(), TEXT.as_bytes()).unwrap()
        else {
            panic!("expected a message");
        };
        assert_eq!(replying_to, None);
        assert_eq!(chat, ChatInfo::default());
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

    #[test]
    fn a_button_press_becomes_a_message_of_its_chat() {
        let body = r#"{"update_id":5,"callback_query":{"id":"4382","chat_instance":"x",
            "from":{"id":77,"is_bot":false,"first_name":"Aida","language_code":"kk"},
            "message":{"message_id":12,"date":1732460000,"chat":{"id":77,"type":"private"},"text":"menu"},
            "data":"s1|balance||AAAA"}}"#;
        let TelegramUpdate::Callback {
            update_id,
            query_id,
            message,
        } = parse_update(&tenant(), body.as_bytes()).unwrap()
        else {
            panic!("expected a callback");
        };
        assert_eq!((update_id, query_id.as_str()), (5, "4382"));
        let message = message.expect("a press in a chat");
        assert_eq!(message.contact, "tg-77");
        assert_eq!(message.platform_message_id, "cb-4382");
        assert_eq!(message.text.as_deref(), Some("s1|balance||AAAA"));
        assert_eq!(message.language.as_deref(), Some("kk"));
        let no_data = r#"{"update_id":6,"callback_query":{"id":"9","chat_instance":"x","from":{"id":1,"is_bot":false,"first_name":"A"},"game_short_name":"g"}}"#;
        assert!(matches!(
            parse_update(&tenant(), no_data.as_bytes()).unwrap(),
            TelegramUpdate::Callback { message: None, .. }
        ));
        assert!(parse_update(
            &tenant(),
            br#"{"update_id":7,"callback_query":{"data":"x"}}"#
        )
        .is_err());
    }

    fn chat_of(body: &str) -> ChatInfo {
        match parse_update(&tenant(), body.as_bytes()).unwrap() {
            TelegramUpdate::Message { chat, .. } => chat,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn groups_are_answered_only_when_addressed_and_never_for_service_messages() {
        let group = |extra: &str| {
            format!(
                r#"{{"update_id":1,"message":{{"message_id":3,"date":1732460000,"chat":{{"id":-100,"type":"supergroup","title":"G"}},"from":{{"id":5,"is_bot":false,"first_name":"A"}},{extra}}}}}"#
            )
        };
        let bot = Some("shop_bot");
        let plain = chat_of(&group(r#""text":"всем привет""#));
        assert!(plain.group && !plain.answerable(Some("всем привет"), bot));
        assert!(plain.answerable(Some("@shop_bot цена?"), bot));
        assert!(plain.answerable(Some("/balance"), bot));
        let reply = chat_of(&group(
            r#""text":"а доставка?","reply_to_message":{"message_id":2,"date":1,"chat":{"id":-100,"type":"supergroup"},"from":{"id":9,"is_bot":true,"first_name":"Shop","username":"shop_bot"},"text":"x"}"#,
        ));
        assert!(reply.answerable(Some("а доставка?"), bot));
        for service in [
            r#""new_chat_members":[{"id":6,"is_bot":false,"first_name":"B"}]"#,
            r#""left_chat_member":{"id":6,"is_bot":false,"first_name":"B"}"#,
            r#""pinned_message":{"message_id":2,"date":1,"chat":{"id":-100,"type":"supergroup"},"text":"x"}"#,
            r#""forum_topic_created":{"name":"T","icon_color":1}"#,
        ] {
            let info = chat_of(&group(service));
            assert!(info.service, "{service}");
            assert!(!info.answerable(None, bot), "{service}");
        }
        let topic = chat_of(&group(
            r#""text":"/help","message_thread_id":44,"is_topic_message":true"#,
        ));
        assert_eq!(topic.thread_id, Some(44));
        assert!(
            chat_of(TEXT).answerable(Some("привет"), bot),
            "private chats are always answered"
        );
    }
}
