//! WhatsApp Cloud API webhook payloads (`entry[].changes[].value`), normalised.

use crate::message::{
    bounded_text, timestamp_ms_from_seconds, valid_platform_id, Attachment, Channel, DeliveryState,
    DeliveryStatus, InboundMessage, MessageKind, MAX_ID_LEN,
};
use crate::telegram::ParseError;
use crate::tenant::TenantId;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Payload {
    object: String,
    entry: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Debug, Deserialize)]
struct Change {
    field: String,
    value: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct MessagesValue {
    metadata: Metadata,
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    messages: Vec<WaMessage>,
    #[serde(default)]
    statuses: Vec<WaStatus>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    phone_number_id: String,
}

#[derive(Debug, Deserialize)]
struct Contact {
    wa_id: String,
    #[serde(default)]
    profile: Option<Profile>,
}

#[derive(Debug, Deserialize)]
struct Profile {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WaMessage {
    from: String,
    id: String,
    timestamp: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<TextBody>,
    #[serde(default)]
    audio: Option<Media>,
    #[serde(default)]
    image: Option<Media>,
    #[serde(default)]
    video: Option<Media>,
    #[serde(default)]
    document: Option<Media>,
    #[serde(default)]
    sticker: Option<Media>,
    #[serde(default)]
    location: Option<Location>,
    #[serde(default)]
    contacts: Option<Vec<SharedContact>>,
    /// A tap on an interactive reply button or list row.
    #[serde(default)]
    interactive: Option<Interactive>,
    /// A tap on a template's quick-reply button.
    #[serde(default)]
    button: Option<QuickReply>,
}

#[derive(Debug, Deserialize)]
struct Interactive {
    #[serde(default)]
    button_reply: Option<Choice>,
    #[serde(default)]
    list_reply: Option<Choice>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    id: String,
    #[serde(default)]
    title: Option<String>,
}

#[derive(Debug, Deserialize)]
struct QuickReply {
    #[serde(default)]
    payload: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TextBody {
    body: String,
}

#[derive(Debug, Deserialize)]
struct Media {
    id: String,
    #[serde(default)]
    caption: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Location {
    latitude: f64,
    longitude: f64,
}

#[derive(Debug, Deserialize)]
struct SharedContact {
    #[serde(default)]
    name: Option<SharedName>,
    #[serde(default)]
    phones: Vec<SharedPhone>,
}

#[derive(Debug, Deserialize)]
struct SharedName {
    #[serde(default)]
    formatted_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SharedPhone {
    #[serde(default)]
    phone: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WaStatus {
    id: String,
    status: String,
    timestamp: String,
    #[serde(default)]
    errors: Vec<WaError>,
}

#[derive(Debug, Deserialize)]
struct WaError {
    code: i64,
    #[serde(default)]
    title: Option<String>,
}

/// What one webhook body carries for one business phone number.
#[derive(Debug, Default, PartialEq)]
pub struct WhatsappBatch {
    pub phone_number_id: String,
    pub messages: Vec<InboundMessage>,
    pub statuses: Vec<DeliveryStatus>,
    /// Changes of other fields, or statuses of unknown kinds: logged and acknowledged.
    pub ignored: usize,
}

/// Parses a webhook body into one batch per business phone number, in payload order.
pub fn parse_webhook(tenant: &TenantId, body: &[u8]) -> Result<Vec<WhatsappBatch>, ParseError> {
    let payload: Payload = serde_json::from_slice(body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ParseError::MalformedJson(e.to_string())
        } else {
            ParseError::InvalidShape(e.to_string())
        }
    })?;
    if payload.object != "whatsapp_business_account" {
        return Err(ParseError::InvalidShape(format!(
            "object must be whatsapp_business_account, got {}",
            payload.object
        )));
    }
    let mut batches = Vec::new();
    for change in payload.entry.into_iter().flat_map(|e| e.changes) {
        if change.field != "messages" {
            batches.push(WhatsappBatch {
                ignored: 1,
                ..Default::default()
            });
            continue;
        }
        let value = MessagesValue::deserialize(&change.value)
            .map_err(|e| ParseError::InvalidShape(format!("changes[].value: {e}")))?;
        batches.push(normalise(tenant, value)?);
    }
    Ok(batches)
}

fn parse_timestamp_ms(raw: &str) -> Result<i64, ParseError> {
    raw.parse::<i64>()
        .ok()
        .and_then(timestamp_ms_from_seconds)
        .ok_or_else(|| {
            ParseError::InvalidShape(format!(
                "timestamp {:?} is not epoch seconds in range",
                raw.chars().take(40).collect::<String>()
            ))
        })
}

fn platform_id(what: &str, id: String) -> Result<String, ParseError> {
    if valid_platform_id(&id) {
        Ok(id)
    } else {
        Err(ParseError::InvalidShape(format!(
            "{what} must be 1-{MAX_ID_LEN} characters"
        )))
    }
}

fn normalise(tenant: &TenantId, value: MessagesValue) -> Result<WhatsappBatch, ParseError> {
    let mut batch = WhatsappBatch {
        phone_number_id: value.metadata.phone_number_id,
        ..Default::default()
    };
    for m in value.messages {
        let display_name = value
            .contacts
            .iter()
            .find(|c| c.wa_id == m.from)
            .and_then(|c| c.profile.as_ref())
            .and_then(|p| p.name.clone());
        let timestamp_ms = parse_timestamp_ms(&m.timestamp)?;
        let (kind, text, attachment) = classify(&m);
        let from = platform_id("messages[].from", m.from)?;
        batch.messages.push(InboundMessage {
            tenant: tenant.clone(),
            channel: Channel::Whatsapp,
            contact: Channel::Whatsapp.contact_id(&from),
            platform_message_id: platform_id("messages[].id", m.id)?,
            timestamp_ms,
            kind,
            text: text.map(bounded_text),
            attachment,
            display_name: display_name.map(|n| n.chars().take(256).collect()),
            language: None,
            reply_to: from,
            thread_id: None,
        });
    }
    for s in value.statuses {
        let Some(state) = DeliveryState::parse(&s.status) else {
            batch.ignored += 1;
            continue;
        };
        let first_error = s.errors.into_iter().next();
        batch.statuses.push(DeliveryStatus {
            tenant: tenant.clone(),
            platform_message_id: platform_id("statuses[].id", s.id)?,
            state,
            timestamp_ms: parse_timestamp_ms(&s.timestamp)?,
            error_code: first_error.as_ref().map(|e| e.code),
            error_title: first_error.and_then(|e| e.title),
        });
    }
    Ok(batch)
}

fn classify(m: &WaMessage) -> (MessageKind, Option<String>, Option<Attachment>) {
    match m.kind.as_str() {
        "text" => (
            MessageKind::Text,
            m.text.as_ref().map(|t| t.body.clone()),
            None,
        ),
        "audio" => match &m.audio {
            Some(a) => (
                MessageKind::Voice,
                None,
                Some(Attachment::Voice {
                    file_id: a.id.clone(),
                    duration_s: None,
                }),
            ),
            None => (MessageKind::Other, None, None),
        },
        "image" => match &m.image {
            Some(i) => (
                MessageKind::Photo,
                i.caption.clone(),
                Some(Attachment::Photo {
                    file_id: i.id.clone(),
                }),
            ),
            None => (MessageKind::Other, None, None),
        },
        // Media whose only words are a caption: the caption is the message's text.
        "video" | "document" | "sticker" => {
            let media = match m.kind.as_str() {
                "video" => &m.video,
                "document" => &m.document,
                _ => &m.sticker,
            };
            (
                MessageKind::Other,
                media.as_ref().and_then(|v| v.caption.clone()),
                None,
            )
        }
        "location" => match &m.location {
            Some(l) => (
                MessageKind::Location,
                None,
                Some(Attachment::Location {
                    latitude: l.latitude,
                    longitude: l.longitude,
                }),
            ),
            None => (MessageKind::Other, None, None),
        },
        "contacts" => {
            let first = m.contacts.as_ref().and_then(|c| c.first());
            let phone = first.and_then(|c| c.phones.iter().find_map(|p| p.phone.clone()));
            match phone {
                Some(phone) => (
                    MessageKind::Contact,
                    None,
                    Some(Attachment::Contact {
                        phone,
                        name: first
                            .and_then(|c| c.name.as_ref())
                            .and_then(|n| n.formatted_name.clone()),
                        user_id: None,
                    }),
                ),
                None => (MessageKind::Other, None, None),
            }
        }
        // What was chosen becomes the text: the reply id Sauda set (signed button data,
        // see `crate::chat`), else the title the customer saw.
        "interactive" => {
            let choice = m
                .interactive
                .as_ref()
                .and_then(|i| i.button_reply.as_ref().or(i.list_reply.as_ref()));
            match choice {
                Some(c) if !c.id.is_empty() => (MessageKind::Text, Some(c.id.clone()), None),
                Some(c) => (MessageKind::Text, c.title.clone(), None),
                None => (MessageKind::Other, None, None),
            }
        }
        "button" => {
            let text = m.button.as_ref().and_then(|b| {
                b.payload
                    .clone()
                    .filter(|p| !p.is_empty())
                    .or(b.text.clone())
            });
            match text {
                Some(text) => (MessageKind::Text, Some(text), None),
                None => (MessageKind::Other, None, None),
            }
        }
        _ => (MessageKind::Other, None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::parse("demo").unwrap()
    }

    const TEXT: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{
        "messaging_product":"whatsapp",
        "metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
        "contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],
        "messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color?"}}]}}]}]}"#;

    const STATUS: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
        "messaging_product":"whatsapp",
        "metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
        "statuses":[{"id":"wamid.OUT1","status":"failed","timestamp":"1750263773","recipient_id":"16505551234",
          "errors":[{"code":131047,"title":"Re-engagement message","message":"Re-engagement message"}]},
          {"id":"wamid.OUT2","status":"delivered","timestamp":"1750263774","recipient_id":"16505551234"},
          {"id":"wamid.OUT3","status":"deleted","timestamp":"1750263775","recipient_id":"16505551234"}]}}]}]}"#;

    #[test]
    fn text_message_is_normalised() {
        let batches = parse_webhook(&tenant(), TEXT.as_bytes()).unwrap();
        assert_eq!(batches.len(), 1);
        let batch = &batches[0];
        assert_eq!(batch.phone_number_id, "106540352242922");
        let m = &batch.messages[0];
        assert_eq!(m.contact, "wa-16505551234");
        assert_eq!(m.kind, MessageKind::Text);
        assert_eq!(m.text.as_deref(), Some("Does it come in another color?"));
        assert_eq!(m.display_name.as_deref(), Some("Sheena Nelson"));
        assert_eq!(m.timestamp_ms, 1_749_416_383_000);
        assert!(m.platform_message_id.starts_with("wamid."));
    }

    #[test]
    fn statuses_carry_state_and_error() {
        let batch = parse_webhook(&tenant(), STATUS.as_bytes())
            .unwrap()
            .remove(0);
        assert_eq!(batch.statuses.len(), 2);
        assert_eq!(
            batch.ignored, 1,
            "unknown status kinds are counted, not rejected"
        );
        assert_eq!(batch.statuses[0].state, DeliveryState::Failed);
        assert_eq!(batch.statuses[0].error_code, Some(131047));
        assert_eq!(
            batch.statuses[0].error_title.as_deref(),
            Some("Re-engagement message")
        );
        assert_eq!(batch.statuses[1].state, DeliveryState::Delivered);
    }

    #[test]
    fn media_kinds() {
        for (fragment, expected) in [
            (
                r#""type":"audio","audio":{"id":"a1","mime_type":"audio/ogg; codecs=opus","voice":true}"#,
                MessageKind::Voice,
            ),
            (
                r#""type":"image","image":{"id":"i1","caption":"this","mime_type":"image/jpeg"}"#,
                MessageKind::Photo,
            ),
            (
                r#""type":"location","location":{"latitude":42.87,"longitude":74.59}"#,
                MessageKind::Location,
            ),
            (
                r#""type":"contacts","contacts":[{"name":{"formatted_name":"Bek"},"phones":[{"phone":"+996700123456"}]}]"#,
                MessageKind::Contact,
            ),
            (
                r#""type":"reaction","reaction":{"message_id":"wamid.x","emoji":"👍"}"#,
                MessageKind::Other,
            ),
        ] {
            let body = format!(
                r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"metadata":{{"phone_number_id":"1"}},"messages":[{{"from":"7701","id":"wamid.m","timestamp":"1",{fragment}}}]}}}}]}}]}}"#
            );
            let batch = parse_webhook(&tenant(), body.as_bytes())
                .unwrap_or_else(|e| panic!("{fragment}: {e}"))
                .remove(0);
            assert_eq!(batch.messages[0].kind, expected, "{fragment}");
        }
    }

    fn one_message(fragment: &str) -> Result<Vec<WhatsappBatch>, ParseError> {
        let body = format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"metadata":{{"phone_number_id":"1"}},"messages":[{{"from":"7701","timestamp":"1",{fragment}}}]}}}}]}}]}}"#
        );
        parse_webhook(&tenant(), body.as_bytes())
    }

    #[test]
    fn every_media_caption_is_the_text() {
        for kind in ["image", "video", "document", "sticker"] {
            let fragment = format!(
                r#""id":"wamid.m","type":"{kind}","{kind}":{{"id":"x1","caption":"is this in stock?"}}"#
            );
            let batch = one_message(&fragment).unwrap().remove(0);
            assert_eq!(
                batch.messages[0].text.as_deref(),
                Some("is this in stock?"),
                "{kind}"
            );
        }
    }

    #[test]
    fn ids_and_timestamps_out_of_range_are_refused() {
        let long_id = format!(
            r#""id":"{}","type":"text","text":{{"body":"x"}}"#,
            "w".repeat(2000)
        );
        assert!(matches!(
            one_message(&long_id),
            Err(ParseError::InvalidShape(_))
        ));
        let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"1"},"messages":[{"from":"7701","id":"wamid.m","timestamp":"99999999999999999","type":"text","text":{"body":"x"}}]}}]}]}"#;
        assert!(matches!(
            parse_webhook(&tenant(), body.as_bytes()),
            Err(ParseError::InvalidShape(_))
        ));
        let huge = format!(
            r#""id":"wamid.m","type":"text","text":{{"body":"{}"}}"#,
            "a".repeat(600_000)
        );
        let batch = one_message(&huge).unwrap().remove(0);
        let text = batch.messages[0].text.as_deref().unwrap();
        assert!(text.len() < 20_000, "an oversized text is cut, not refused");
    }

    #[test]
    fn bad_bodies() {
        assert!(matches!(
            parse_webhook(&tenant(), b"{"),
            Err(ParseError::MalformedJson(_))
        ));
        assert!(matches!(
            parse_webhook(&tenant(), br#"{"object":"page","entry":[]}"#),
            Err(ParseError::InvalidShape(_))
        ));
        assert!(matches!(
            parse_webhook(&tenant(), br#"{"entry":[]}"#),
            Err(ParseError::InvalidShape(_))
        ));
        let bad_ts = TEXT.replace("\"1749416383\"", "\"soon\"");
        assert!(matches!(
            parse_webhook(&tenant(), bad_ts.as_bytes()),
            Err(ParseError::InvalidShape(_))
        ));
        let other_field = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"account_update","value":{}}]}]}"#;
        assert_eq!(
            parse_webhook(&tenant(), other_field.as_bytes()).unwrap()[0].ignored,
            1
        );
    }

    #[test]
    fn taps_on_buttons_lists_and_quick_replies_carry_what_was_chosen() {
        let cases = [
            (
                r#""type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"s1|balance||x","title":"Balance"}}"#,
                Some("s1|balance||x"),
            ),
            (
                r#""type":"interactive","interactive":{"type":"list_reply","list_reply":{"id":"s1|lang|kk|y","title":"Қазақша","description":"d"}}"#,
                Some("s1|lang|kk|y"),
            ),
            (
                r#""type":"button","button":{"payload":"STOP","text":"Stop promotions"}"#,
                Some("STOP"),
            ),
            (r#""type":"button","button":{"text":"Yes"}"#, Some("Yes")),
            (
                r#""type":"interactive","interactive":{"type":"nfm_reply"}"#,
                None,
            ),
        ];
        for (fragment, expected) in cases {
            let body = format!(
                r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"1","phone_number_id":"PN"}},"messages":[{{"from":"77011234567","id":"wamid.b","timestamp":"1732460000",{fragment}}}]}}}}]}}]}}"#
            );
            let batches = parse_webhook(&tenant(), body.as_bytes())
                .unwrap_or_else(|e| panic!("{fragment}: {e}"));
            let m = &batches[0].messages[0];
            assert_eq!(m.text.as_deref(), expected, "{fragment}");
            let kind = if expected.is_some() {
                MessageKind::Text
            } else {
                MessageKind::Other
            };
            assert_eq!(m.kind, kind, "{fragment}");
        }
    }
}
