//! The inbox's rules, free of AWS: what a listing asks for, what a manager may send
//! and when, and the writes a request makes (as write plans the adapter executes).

use sauda_shared::api::ApiError;
use sauda_shared::contact::ContactProfile;
use sauda_shared::funnel::Stage;
use sauda_shared::inbox::{self, Activity, ConversationItem};
use sauda_shared::keys;
use sauda_shared::message::{Channel, DeliveryState, Direction};
use sauda_shared::outbound::UrlPolicy;
use sauda_shared::outbox::{self, Author, Body, CustomerMessage, TemplateError};
use sauda_shared::plan::{Cond, Op, Update, WritePlan};
use sauda_shared::tenant::TenantConfig;
use sauda_shared::{telegram_api, whatsapp_api, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub const DEFAULT_PAGE: usize = 25;
pub const MAX_PAGE: usize = 100;
/// The longest text a manager may send: Telegram gets it in parts of 4,096.
pub const MAX_TEXT_CHARS: usize = 4 * telegram_api::MAX_MESSAGE_UNITS;
/// An idempotency record outlives any client's retries.
pub const IDEMPOTENCY_TTL_S: i64 = 7 * 24 * 3600;

/// A contact id in a path: `tg-…` or `wa-…`, as the channels make them.
pub fn contact_id(raw: &str) -> Result<&str, ApiError> {
    let ok = (raw.starts_with("tg-") || raw.starts_with("wa-"))
        && (4..=80).contains(&raw.len())
        && raw[3..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(raw)
    } else {
        Err(not_found())
    }
}

pub fn not_found() -> ApiError {
    ApiError::not_found("conversation_not_found", "no such conversation")
}

/// The listing's filters; every one optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub needs_reply: Option<bool>,
    pub handed_off: Option<bool>,
    pub agent_paused: Option<bool>,
    pub unread: Option<bool>,
    pub stage: Option<Stage>,
    pub channel: Option<Channel>,
}

impl Filter {
    /// The filters as the cursor's route names them: a cursor works only with them.
    pub fn route(&self) -> String {
        format!(
            "conversations:{:?}:{:?}:{:?}:{:?}:{}:{}",
            self.needs_reply,
            self.handed_off,
            self.agent_paused,
            self.unread,
            self.stage.map(|s| s.as_str()).unwrap_or("-"),
            self.channel.map(|c| c.prefix()).unwrap_or("-"),
        )
    }

    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// The store-side condition on the row (DynamoDB filter expression).
    pub fn condition(&self) -> Option<Cond> {
        let mut all = Vec::new();
        let flag = |attr: &str, want: bool| {
            if want {
                Cond::eq(attr, true)
            } else {
                Cond::absent(attr).or(Cond::eq(attr, false))
            }
        };
        if let Some(v) = self.needs_reply {
            all.push(flag("needs_reply", v));
        }
        if let Some(v) = self.handed_off {
            all.push(flag("handed_off", v));
        }
        if let Some(v) = self.agent_paused {
            all.push(flag("agent_paused", v));
        }
        if let Some(v) = self.unread {
            all.push(if v {
                Cond::gt("unread", 0i64)
            } else {
                Cond::absent("unread").or(Cond::le("unread", 0i64))
            });
        }
        if let Some(stage) = self.stage {
            all.push(Cond::eq("stage", stage.as_str()));
        }
        if let Some(channel) = self.channel {
            all.push(Cond::eq(
                "channel",
                match channel {
                    Channel::Telegram => "telegram",
                    Channel::Whatsapp => "whatsapp",
                },
            ));
        }
        match all.len() {
            0 => None,
            1 => all.pop(),
            _ => Some(Cond::And(all)),
        }
    }

    /// Whether the row, with the profile's current values (the truth for the agent's
    /// pause and the stage, which lead-capture may change without a message), still
    /// matches.
    pub fn still_matches(&self, row: &Row) -> bool {
        self.agent_paused.is_none_or(|v| row.agent_paused == v)
            && self.handed_off.is_none_or(|v| row.handed_off == v)
            && self.stage.is_none_or(|s| row.stage == Some(s))
    }
}

/// A position in the listing: the row's GSI sort key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub activity: String,
    pub contact: String,
}

/// A conversation as the listing shows it: the row with the profile's current values.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub item: ConversationItem,
    pub agent_paused: bool,
    /// Handed off and not resumed since (a resume through lead-capture's API clears
    /// only the profile).
    pub handed_off: bool,
    pub stage: Option<Stage>,
    pub assignee: Option<(i64, String)>,
    pub display_name: Option<String>,
    pub last_inbound_ms: Option<i64>,
}

impl Row {
    pub fn new(item: ConversationItem, profile: Option<&ContactProfile>) -> Self {
        let agent_paused = profile.map(|p| p.agent_paused).unwrap_or(item.agent_paused);
        Self {
            agent_paused,
            handed_off: item.handed_off && agent_paused,
            stage: profile.and_then(|p| p.stage).or(item.stage),
            assignee: profile
                .and_then(|p| {
                    p.assignee_chat_id
                        .map(|c| (c, p.assignee_name.clone().unwrap_or_default()))
                })
                .or_else(|| {
                    item.assignee_chat_id
                        .map(|c| (c, item.assignee_name.clone().unwrap_or_default()))
                }),
            display_name: profile
                .and_then(|p| p.display_name.clone())
                .or_else(|| item.display_name.clone()),
            last_inbound_ms: profile
                .and_then(|p| p.last_inbound_ms)
                .max(item.last_inbound_ms),
            item,
        }
    }

    pub fn to_json(&self, now_ms: i64) -> Value {
        let i = &self.item;
        let window_open = match i.channel {
            Some(Channel::Whatsapp) => Some(
                self.last_inbound_ms
                    .is_some_and(|t| whatsapp_api::within_service_window(t, now_ms)),
            ),
            _ => None,
        };
        json!({
            "contact": i.contact,
            "channel": i.channel,
            "display_name": self.display_name,
            "link": sauda_shared::contact::conversation_link(&i.contact),
            "last_message": {
                "preview": i.last_preview,
                "direction": i.last_direction,
                "author": i.last_author,
                "author_name": i.last_author_name.as_deref().filter(|n| !n.is_empty()),
                "at_ms": i.last_activity_ms,
            },
            "needs_reply": i.needs_reply,
            "unread": i.unread.max(0),
            "handed_off": self.handed_off,
            "agent_paused": self.agent_paused,
            "assignee": self.assignee.as_ref().map(|(chat, name)| json!({"chat_id": chat, "name": name})),
            "stage": self.stage,
            "whatsapp_window_open": window_open,
        })
    }
}

/// A stored message as the transcript reads it (`message::MessageItem`, the agent's
/// reply fields and the notifier's body fields).
#[derive(Clone, Debug, Deserialize)]
pub struct Stored {
    #[serde(rename = "SK")]
    pub sk: String,
    pub direction: Direction,
    pub platform_message_id: String,
    pub timestamp_ms: i64,
    #[serde(default)]
    pub kind: Option<sauda_shared::message::MessageKind>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub attachment: Option<sauda_shared::message::Attachment>,
    #[serde(default)]
    pub author: Option<Author>,
    #[serde(default)]
    pub reply_kind: Option<String>,
    #[serde(default)]
    pub reply_state: Option<String>,
    #[serde(default)]
    pub delivery_state: Option<DeliveryState>,
    #[serde(default)]
    pub delivery_error_code: Option<i64>,
    #[serde(default)]
    pub delivery_error_title: Option<String>,
    #[serde(default)]
    pub body_type: Option<String>,
    #[serde(default)]
    pub template_name: Option<String>,
    #[serde(default)]
    pub image_url: Option<String>,
    #[serde(default)]
    pub platform_message_ids: Vec<String>,
}

impl Stored {
    /// Who wrote it: the customer, or the author of an outbound message (older agent
    /// replies say it in `reply_kind`).
    pub fn author(&self) -> Value {
        if self.direction == Direction::In {
            return json!({"type": "customer"});
        }
        match &self.author {
            Some(Author::Manager {
                name,
                key_id,
                chat_id,
            }) => json!({
                "type": "manager", "name": name, "key_id": key_id, "chat_id": chat_id,
            }),
            Some(Author::System { kind }) => json!({"type": "system", "kind": kind}),
            Some(Author::Fallback) => json!({"type": "fallback"}),
            Some(Author::Agent) => json!({"type": "agent"}),
            None => match self.reply_kind.as_deref() {
                Some("fallback") => json!({"type": "fallback"}),
                _ => json!({"type": "agent"}),
            },
        }
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.platform_message_id,
            "direction": self.direction,
            "at_ms": self.timestamp_ms,
            "kind": self.body_type.clone().or_else(|| self.kind.map(|k| serde_json::to_value(k).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default())),
            "text": self.text,
            "author": self.author(),
        });
        if let Some(a) = &self.attachment {
            v["attachment"] = json!(a);
        }
        if let Some(name) = &self.template_name {
            v["template"] = json!(name);
        }
        if let Some(url) = &self.image_url {
            v["image_url"] = json!(url);
        }
        if self.direction == Direction::Out {
            v["delivery"] = json!({
                "state": self.delivery_state.unwrap_or(DeliveryState::Sent),
                "error_code": self.delivery_error_code,
                "error": self.delivery_error_title,
            });
            if self.platform_message_ids.len() > 1 {
                v["parts"] = json!(self.platform_message_ids.len());
            }
        } else if let Some(state) = &self.reply_state {
            v["handled"] = json!(state);
        }
        v
    }
}

/// What a manager sends: text, or an image by URL with a caption.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendText {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub image_url: Option<String>,
    #[serde(default)]
    pub caption: Option<String>,
    /// The client's idempotency id, when not sent as the `Idempotency-Key` header.
    #[serde(default)]
    pub client_id: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendTemplate {
    pub name: String,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub params: Vec<String>,
    #[serde(default)]
    pub client_id: Option<String>,
}

fn too_long(field: &str, code: &'static str, max: usize) -> ApiError {
    ApiError::field(field, code, format!("at most {max} characters")).with("limit", json!(max))
}

/// The body of a manager's message, checked against the customer's channel.
pub fn text_body(req: &SendText, channel: Channel, urls: UrlPolicy) -> Result<Body, ApiError> {
    let text = req.text.as_deref().map(str::trim).filter(|t| !t.is_empty());
    match (text, req.image_url.as_deref()) {
        (Some(_), Some(_)) | (None, None) => Err(ApiError::field(
            "text",
            "text_or_image_required",
            "send either `text` or `image_url` (with an optional `caption`)",
        )),
        (Some(text), None) => {
            let chars = text.chars().count();
            if channel == Channel::Whatsapp && chars > whatsapp_api::MAX_TEXT_CHARS {
                return Err(too_long(
                    "text",
                    "text_too_long",
                    whatsapp_api::MAX_TEXT_CHARS,
                ));
            }
            if chars > MAX_TEXT_CHARS {
                return Err(too_long("text", "text_too_long", MAX_TEXT_CHARS));
            }
            Ok(Body::text(text))
        }
        (None, Some(url)) => {
            let url = urls
                .check(url)
                .map_err(|e| ApiError::field("image_url", e.code(), e.to_string()))?;
            let caption = req
                .caption
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty());
            if caption.is_some_and(|c| c.chars().count() > telegram_api::MAX_CAPTION_CHARS) {
                return Err(too_long(
                    "caption",
                    "caption_too_long",
                    telegram_api::MAX_CAPTION_CHARS,
                ));
            }
            Ok(Body::Image {
                url: url.to_string(),
                caption: caption.map(str::to_owned),
                buttons: Vec::new(),
            })
        }
    }
}

/// A registered template with checked parameters; WhatsApp only.
pub fn template_body(
    config: &TenantConfig,
    req: &SendTemplate,
    channel: Channel,
) -> Result<Body, ApiError> {
    if channel != Channel::Whatsapp {
        return Err(ApiError::unprocessable(
            "template_whatsapp_only",
            "templates exist only on WhatsApp; send text to a Telegram customer",
        ));
    }
    outbox::template_body(
        config,
        &req.name,
        req.language.as_deref(),
        req.params.clone(),
    )
    .map_err(|e: TemplateError| {
        let field = match e {
            TemplateError::NotRegistered(_) => "name",
            _ => "params",
        };
        ApiError::field(field, e.code(), e.to_string()).with("templates", templates_json(config))
    })
}

pub fn templates_json(config: &TenantConfig) -> Value {
    json!(config
        .whatsapp_templates
        .iter()
        .map(|t| json!({
            "name": t.name,
            "language": t.language,
            "category": t.category,
            "params": t.params.iter().map(|p| json!({"name": p.name, "example": p.example})).collect::<Vec<_>>(),
        }))
        .collect::<Vec<_>>())
}

/// What the send needs to know of the conversation.
pub struct Target {
    pub channel: Channel,
    pub reply_to: String,
    pub last_inbound_ms: Option<i64>,
}

/// The customer to send to, from the profile agent-reply keeps; 404 when there is none.
pub fn target(
    contact: &str,
    profile: Option<&ContactProfile>,
    row: Option<&ConversationItem>,
) -> Result<Target, ApiError> {
    let channel = profile
        .and_then(|p| p.channel)
        .or_else(|| row.and_then(|r| r.channel))
        .ok_or_else(not_found)?;
    let reply_to = profile
        .and_then(|p| p.reply_to.clone())
        .or_else(|| row.and_then(|r| r.reply_to.clone()))
        .or_else(|| contact.split_once('-').map(|(_, id)| id.to_owned()))
        .ok_or_else(not_found)?;
    Ok(Target {
        channel,
        reply_to,
        last_inbound_ms: profile
            .and_then(|p| p.last_inbound_ms)
            .max(row.and_then(|r| r.last_inbound_ms)),
    })
}

/// 409 `window_closed` for free text to a WhatsApp customer who last wrote more than
/// 24 hours ago, listing the templates that may go instead.
pub fn check_window(
    config: &TenantConfig,
    target: &Target,
    body: &Body,
    now_ms: i64,
) -> Result<(), ApiError> {
    let template = matches!(body, Body::Template { .. });
    let open = target
        .last_inbound_ms
        .is_some_and(|t| whatsapp_api::within_service_window(t, now_ms));
    if target.channel == Channel::Whatsapp && !template && !open {
        return Err(ApiError::conflict(
            "window_closed",
            "the customer last wrote more than 24 hours ago: WhatsApp delivers only an approved template now",
        )
        .with("templates", templates_json(config))
        .with("last_inbound_ms", json!(target.last_inbound_ms)));
    }
    Ok(())
}

/// The idempotency record of one send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdemRecord {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub request_hash: String,
    pub message_id: String,
    pub contact: String,
    pub created_ms: i64,
    pub expires_at: i64,
}

/// The record key: scoped to the caller's API key, so two managers' ids never collide.
pub fn idem_key(tenant: &TenantId, key_id: &str, client_id: &str) -> (String, String) {
    keys::idempotency(tenant, &format!("inbox:{key_id}:{client_id}"))
}

/// The customer message id of a send (stable across the client's retries).
pub fn message_id(key_id: &str, client_id: &str) -> String {
    sauda_shared::notify::notice_id(&["api", key_id, client_id])
}

pub fn request_hash(contact: &str, body: &Body) -> String {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_string(&(contact, body)).unwrap_or_default();
    hex::encode(&Sha256::digest(json.as_bytes())[..16])
}

/// Why a write was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No conversation row (a read/assign/pause of an unknown conversation).
    NotFound,
    /// The idempotency record appeared meanwhile (a concurrent retry).
    InFlight,
}

/// The send's writes: the idempotency record (guard), and the agent's pause on the
/// profile and the row (tenant setting).
pub fn send_plan(
    config: &TenantConfig,
    contact: &str,
    target: &Target,
    record: IdemRecord,
    now_ms: i64,
) -> WritePlan<Refusal> {
    let mut plan = WritePlan::new();
    plan.push_or(
        Op::Put {
            record: sauda_shared::plan::Record::new(record),
            cond: Some(Cond::item_absent()),
        },
        Refusal::InFlight,
    );
    if config.inbox.pause_agent_on_reply {
        plan.update(inbox::profile_pause(
            &config.tenant,
            contact,
            true,
            "manager_reply",
            now_ms,
        ));
        plan.update(pause_row(&config.tenant, contact, target, true));
    }
    plan
}

fn pause_row(tenant: &TenantId, contact: &str, target: &Target, paused: bool) -> Update {
    inbox::index_update(&Activity {
        tenant,
        contact,
        channel: target.channel,
        reply_to: &target.reply_to,
        display_name: None,
        stage: None,
        inbound: None,
        outbound: None,
        handoff: false,
        pause: Some(paused),
    })
}

/// Pause or resume: the profile (which the agent reads) and the row, together; 404
/// when the conversation has no row.
pub fn pause_plan(
    tenant: &TenantId,
    contact: &str,
    paused: bool,
    now_ms: i64,
) -> WritePlan<Refusal> {
    let mut plan = WritePlan::new();
    let row = Update::new(inbox::key(tenant, contact))
        .set("agent_paused", paused)
        .when(Cond::item_exists());
    let row = if paused {
        row
    } else {
        row.set("handed_off", false)
    };
    plan.push_or(Op::Update(row), Refusal::NotFound);
    plan.update(inbox::profile_pause(
        tenant, contact, paused, "manager", now_ms,
    ));
    plan
}

/// Assign to a manager (or nobody): the row and the profile (the notifier routes the
/// thread by it).
pub fn assign_plan(
    tenant: &TenantId,
    contact: &str,
    assignee: Option<(i64, &str)>,
) -> WritePlan<Refusal> {
    let mut plan = WritePlan::new();
    let profile = Update::new(ContactProfile::key(tenant, contact));
    let row = Update::new(inbox::key(tenant, contact)).when(Cond::item_exists());
    let (row, profile) = match assignee {
        Some((chat, name)) => (
            row.set("assignee_chat_id", chat).set("assignee_name", name),
            profile
                .set("assignee_chat_id", chat)
                .set("assignee_name", name),
        ),
        None => (
            row.remove("assignee_chat_id").remove("assignee_name"),
            profile.remove("assignee_chat_id").remove("assignee_name"),
        ),
    };
    plan.push_or(Op::Update(row), Refusal::NotFound);
    plan.update(profile);
    plan
}

/// Mark read: no unread messages from now.
pub fn read_update(tenant: &TenantId, contact: &str, now_ms: i64) -> Update {
    Update::new(inbox::key(tenant, contact))
        .set("unread", 0i64)
        .set("read_at_ms", now_ms)
        .when(Cond::item_exists())
}

/// The customer message the notifier sends.
pub fn customer_message(
    tenant: &TenantId,
    id: String,
    contact: &str,
    target: &Target,
    author: Author,
    body: Body,
) -> CustomerMessage {
    CustomerMessage {
        tenant: tenant.clone(),
        id,
        contact: contact.to_owned(),
        channel: target.channel,
        reply_to: target.reply_to.clone(),
        author,
        body,
        thread_id: None,
        outside_window: outbox::OutsideWindow::NotifyManagers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_552_200_000;

    fn config() -> TenantConfig {
        TenantConfig::new(TenantId::parse("acme").unwrap(), "Acme")
    }

    #[test]
    fn contact_ids_are_channel_ids_only() {
        assert!(contact_id("tg-42").is_ok());
        assert!(contact_id("wa-77011234567").is_ok());
        for bad in [
            "web-1",
            "tg-",
            "tg-1#PROFILE",
            "T#x#C#tg-1",
            "wa-1/2",
            &"tg-9".repeat(40),
        ] {
            assert_eq!(
                contact_id(bad).unwrap_err().code,
                "conversation_not_found",
                "{bad}"
            );
        }
    }

    #[test]
    fn texts_and_images_by_channel() {
        let urls = UrlPolicy::default();
        let text = |t: &str| SendText {
            text: Some(t.into()),
            ..Default::default()
        };
        assert!(
            text_body(&text(&"я".repeat(4097)), Channel::Telegram, urls).is_ok(),
            "split"
        );
        let e = text_body(&text(&"я".repeat(4097)), Channel::Whatsapp, urls).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (422, "text_too_long"));
        let e = text_body(
            &text(&"я".repeat(MAX_TEXT_CHARS + 1)),
            Channel::Telegram,
            urls,
        )
        .unwrap_err();
        assert_eq!(e.code, "text_too_long");
        assert_eq!(
            text_body(&text("  "), Channel::Telegram, urls)
                .unwrap_err()
                .code,
            "text_or_image_required"
        );
        let image = |u: &str| SendText {
            image_url: Some(u.into()),
            caption: Some("Вот он".into()),
            ..Default::default()
        };
        assert!(matches!(
            text_body(&image("https://shop.kz/p.jpg"), Channel::Whatsapp, urls),
            Ok(Body::Image {
                caption: Some(_),
                ..
            })
        ));
        for (url, code) in [
            ("http://shop.kz/p.jpg", "url_not_https"),
            ("https://127.0.0.1/p.jpg", "url_forbidden_address"),
            ("https://u:p@shop.kz/p.jpg", "url_has_credentials"),
            ("telegram-file:AgAD", "url_invalid"),
        ] {
            let e = text_body(&image(url), Channel::Telegram, urls).unwrap_err();
            assert_eq!(e.code, code, "{url}");
        }
    }

    #[test]
    fn whatsapp_text_needs_the_window_and_templates_do_not() {
        let config = config();
        let target = |last: Option<i64>| Target {
            channel: Channel::Whatsapp,
            reply_to: "7701".into(),
            last_inbound_ms: last,
        };
        let text = Body::text("Здравствуйте");
        assert!(check_window(&config, &target(Some(NOW - 3_600_000)), &text, NOW).is_ok());
        let e = check_window(
            &config,
            &target(Some(NOW - whatsapp_api::SERVICE_WINDOW_MS)),
            &text,
            NOW,
        )
        .unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (409, "window_closed"));
        assert!(e.body()["error"]["templates"].is_array());
        let template = Body::Template {
            name: "follow_up".into(),
            language: "ru".into(),
            params: vec![],
        };
        assert!(check_window(&config, &target(None), &template, NOW).is_ok());
        let tg = Target {
            channel: Channel::Telegram,
            reply_to: "1".into(),
            last_inbound_ms: None,
        };
        assert!(
            check_window(&config, &tg, &text, NOW).is_ok(),
            "no window on Telegram"
        );
    }

    #[test]
    fn filters_become_one_condition_and_name_the_cursor() {
        let f = Filter {
            needs_reply: Some(true),
            stage: Some(Stage::Offer),
            ..Default::default()
        };
        assert!(matches!(f.condition(), Some(Cond::And(ref all)) if all.len() == 2));
        assert_ne!(f.route(), Filter::default().route());
        assert!(Filter::default().condition().is_none());
    }

    #[test]
    fn the_profile_is_the_truth_for_a_resume_made_elsewhere() {
        // lead-capture's resume clears the profile only; the row still says paused.
        let row = ConversationItem {
            contact: "tg-1".into(),
            handed_off: true,
            agent_paused: true,
            stage: Some(Stage::New),
            ..Default::default()
        };
        let profile = ContactProfile {
            agent_paused: false,
            stage: Some(Stage::Offer),
            ..Default::default()
        };
        let fresh = Row::new(row.clone(), Some(&profile));
        assert!(!fresh.agent_paused && !fresh.handed_off);
        assert_eq!(fresh.stage, Some(Stage::Offer));
        let paused = Filter {
            handed_off: Some(true),
            ..Default::default()
        };
        assert!(!paused.still_matches(&fresh));
        assert!(paused.still_matches(&Row::new(row, None)));
        let offer = Filter {
            stage: Some(Stage::Offer),
            ..Default::default()
        };
        assert!(offer.still_matches(&fresh));
    }

    #[test]
    fn a_send_pauses_the_agent_unless_the_tenant_says_not() {
        let mut config = config();
        let target = Target {
            channel: Channel::Telegram,
            reply_to: "1".into(),
            last_inbound_ms: None,
        };
        let record = || IdemRecord {
            pk: "p".into(),
            sk: "s".into(),
            request_hash: "h".into(),
            message_id: "m".into(),
            contact: "tg-1".into(),
            created_ms: NOW,
            expires_at: 0,
        };
        assert_eq!(send_plan(&config, "tg-1", &target, record(), NOW).len(), 3);
        config.inbox.pause_agent_on_reply = false;
        assert_eq!(send_plan(&config, "tg-1", &target, record(), NOW).len(), 1);
        assert_eq!(message_id("k1", "c-1"), "api:k1:c-1");
    }
}
