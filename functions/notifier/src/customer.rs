//! Customer messages (`outbox::CustomerMessage`): each goes out once per id on the
//! customer's own channel and is stored in the conversation, with its author and
//! delivery state, in one transaction that also updates the conversation's inbox row.
//!
//! Per message: one `BatchGetItem` (the id's marker and the profile: the WhatsApp
//! window and the customer's name), the channel send, one `TransactWriteItems` (marker,
//! message, `OUT#` pointer, inbox row, and for a relay the paused profile). A channel
//! that is down or rate-limits fails the record, which the queue redelivers after a
//! delay: nothing sent is lost. A message split into several Telegram parts that
//! fails half-way is sent whole again on the retry (Telegram has no idempotent send).

use crate::cards::{self, NotSent};
use crate::store::{AlreadyRecorded, Finished};
use crate::{transient, Deps};
use sauda_shared::consumer::JobFailure;
use sauda_shared::contact::ContactProfile;
use sauda_shared::inbox::{self, Activity, Said};
use sauda_shared::keys;
use sauda_shared::message::{
    Channel, DeliveryState, DeliveryStatus, Direction, MessageItem, MessageKind,
};
use sauda_shared::notify::{self, Notice, Recipients};
use sauda_shared::outbox::{Body, Button, CustomerMessage, OutsideWindow, TELEGRAM_FILE};
use sauda_shared::plan::{Cond, Op, WritePlan};
use sauda_shared::redact::Contact;
use sauda_shared::stats::{self, metric, CounterBatch};
use sauda_shared::telegram_api::{self, Extras, Format, TelegramError};
use sauda_shared::tenant::TenantConfig;
use sauda_shared::whatsapp_api::{self, Payload, WhatsappError};
use serde::Serialize;
use std::sync::Mutex;
use std::time::Duration;
use tracing::{info, warn};

/// Markers live 30 days: far longer than any redelivery of the message.
const MARKER_TTL_S: i64 = 30 * 24 * 3600;
/// The largest photo passed on from Telegram to WhatsApp (WhatsApp takes 5 MB).
pub const MAX_PHOTO_BYTES: usize = 5 * 1024 * 1024;
/// How long WhatsApp's throughput limits are waited out before the next try.
const WHATSAPP_BACKOFF: Duration = Duration::from_secs(60);

/// What became of a customer message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent(Vec<String>),
    /// Not sent, for good: why, in the managers' words (HTML).
    Failed(String),
}

/// A manager's reply from their Telegram chat: it pauses the agent (tenant setting) and
/// assigns the conversation to them when nobody has it.
#[derive(Clone, Debug)]
pub struct Relay {
    pub chat_id: i64,
    pub name: String,
}

/// The consumer of a queued customer message: sends it once, and tells the managers
/// in plain words when it cannot go out.
pub async fn handle(
    deps: &Deps,
    message: &CustomerMessage,
    counters: &Mutex<CounterBatch>,
) -> Result<(), JobFailure> {
    let tenant = &message.tenant;
    let Some(config) = deps.config(tenant, "customer message").await? else {
        return Ok(());
    };
    let (outcome, profile) = send_once(deps, &config, message, None, counters).await?;
    if let Outcome::Failed(reason) = outcome {
        let lang = cards::lang(&config);
        let html = cards::not_sent(
            lang,
            &cards::customer(lang, profile.as_ref(), &message.contact),
            &reason,
            &message.body.preview(),
        );
        // Its own id, delivered once per chat, also when this record is redelivered.
        let notice = Notice {
            tenant: tenant.clone(),
            id: notify::notice_id(&["not_sent", &message.id]),
            kind: "message_not_sent".into(),
            to: Recipients::thread(&message.contact),
            html,
        };
        crate::deliver::deliver(deps, &notice, counters).await?;
    }
    Ok(())
}

/// A failed WhatsApp status (reported by the webhook): the managers are told why.
pub async fn delivery_failed(
    deps: &Deps,
    status: &DeliveryStatus,
    counters: &Mutex<CounterBatch>,
) -> Result<(), JobFailure> {
    let tenant = &status.tenant;
    let Some(config) = deps.config(tenant, "failed delivery").await? else {
        return Ok(());
    };
    let Some(sent) = deps
        .inbox
        .sent_message(tenant, &status.platform_message_id)
        .await
        .map_err(|e| transient("store", e))?
    else {
        info!(%tenant, "a failed status for a message Sauda did not store");
        return Ok(());
    };
    let lang = cards::lang(&config);
    let reason = NotSent::from_whatsapp(
        status.error_code.unwrap_or_default(),
        status.error_title.as_deref().unwrap_or_default(),
    )
    .reason(lang);
    let html = cards::not_sent(
        lang,
        &cards::customer(lang, None, &sent.contact),
        &reason,
        sent.item.text.as_deref().unwrap_or_default(),
    );
    let notice = Notice {
        tenant: tenant.clone(),
        id: notify::notice_id(&["failed", &status.platform_message_id]),
        kind: "message_failed".into(),
        to: Recipients::thread(&sent.contact),
        html,
    };
    crate::deliver::deliver(deps, &notice, counters).await
}

/// Sends `message` unless an earlier delivery finished it, and records the result.
/// Returns the outcome and the customer's profile (as read before sending).
pub async fn send_once(
    deps: &Deps,
    config: &TenantConfig,
    message: &CustomerMessage,
    relay: Option<&Relay>,
    counters: &Mutex<CounterBatch>,
) -> Result<(Outcome, Option<ContactProfile>), JobFailure> {
    let tenant = &message.tenant;
    let (finished, profile) = deps
        .inbox
        .before_send(tenant, &message.id, &message.contact)
        .await
        .map_err(|e| transient("store", e))?;
    if let Some(done) = finished {
        return Ok((earlier(done), profile));
    }
    let now = sauda_shared::now_ms();
    let lang = cards::lang(config);
    let result = match prepare(message, profile.as_ref(), now) {
        Ok(body) => transmit(deps, config, message, &body)
            .await?
            .map(|ids| (ids, body)),
        Err(why) => Err(why),
    };
    let outcome = match &result {
        Ok((ids, _)) => Outcome::Sent(ids.clone()),
        Err(why) => Outcome::Failed(why.reason(lang)),
    };
    let plan = record_plan(
        config,
        message,
        profile.as_ref(),
        relay,
        &result,
        &outcome,
        now,
    );
    let written = deps
        .inbox
        .commit(&plan)
        .await
        .map_err(|e| transient("store", e))?;
    let who = Contact(tenant, &message.contact);
    match &result {
        Ok(_) => {
            if written {
                counters
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .day(tenant, &stats::local_day(&config.timezone, now))
                    .add(metric::MESSAGES_OUT, 1);
            }
            info!(%tenant, contact = %who, id = %message.id, "customer message sent");
        }
        Err(why) => {
            warn!(%tenant, contact = %who, id = %message.id, reason = why.name(), "customer message not sent")
        }
    }
    Ok((outcome, profile))
}

fn earlier(done: Finished) -> Outcome {
    if done.state == "sent" {
        Outcome::Sent(done.platform_message_ids)
    } else {
        Outcome::Failed(done.reason.unwrap_or_default())
    }
}

/// What may go out now: the body, the template that stands in for it outside
/// WhatsApp's window, or why nothing may.
pub fn prepare(
    message: &CustomerMessage,
    profile: Option<&ContactProfile>,
    now_ms: i64,
) -> Result<Body, NotSent> {
    match (message.channel, &message.body) {
        (Channel::Telegram, Body::Template { .. }) => Err(NotSent::TemplateOnTelegram),
        (Channel::Telegram, body) => Ok(body.clone()),
        (Channel::Whatsapp, body @ Body::Template { .. }) => Ok(body.clone()),
        (Channel::Whatsapp, body) => {
            let open = profile
                .and_then(|p| p.last_inbound_ms)
                .is_some_and(|last| whatsapp_api::within_service_window(last, now_ms));
            if open {
                match body {
                    Body::Text { text, .. }
                        if text.chars().count() > whatsapp_api::MAX_TEXT_CHARS =>
                    {
                        Err(NotSent::TooLong)
                    }
                    _ => Ok(body.clone()),
                }
            } else {
                match &message.outside_window {
                    OutsideWindow::Template {
                        name,
                        language,
                        params,
                    } => Ok(Body::Template {
                        name: name.clone(),
                        language: language.clone(),
                        params: params.clone(),
                    }),
                    OutsideWindow::NotifyManagers => Err(NotSent::Window),
                }
            }
        }
    }
}

fn telegram_failure(e: TelegramError) -> Result<NotSent, JobFailure> {
    match e {
        TelegramError::RetryAfter(wait) => {
            Err(JobFailure::RetryAfter(wait, "Telegram rate limit".into()))
        }
        TelegramError::Unavailable(e) => Err(transient("telegram", e)),
        TelegramError::Rejected { code, description } => {
            Ok(if code == 403 || description.contains("chat not found") {
                NotSent::Blocked {
                    platform: "Telegram",
                    detail: description,
                }
            } else {
                NotSent::Refused {
                    platform: "Telegram",
                    code: i64::from(code),
                    detail: description,
                }
            })
        }
    }
}

fn whatsapp_failure(e: WhatsappError) -> Result<NotSent, JobFailure> {
    match e {
        WhatsappError::OutsideWindow => Ok(NotSent::Window),
        WhatsappError::RateLimited { message, .. } => {
            Err(JobFailure::RetryAfter(WHATSAPP_BACKOFF, message))
        }
        WhatsappError::Unavailable(e) => Err(transient("whatsapp", e)),
        WhatsappError::Rejected { code, message } => Ok(NotSent::from_whatsapp(code, &message)),
    }
}

/// A text with buttons on WhatsApp: up to three reply buttons; link buttons (and any
/// beyond three) are written out under the text.
fn whatsapp_text(text: &str, buttons: &[Button]) -> Payload {
    Payload::with_buttons(text, buttons, None)
}

/// Sends `body`: the platform's message ids, or why it cannot go, or a job failure
/// for what a retry may fix.
async fn transmit(
    deps: &Deps,
    config: &TenantConfig,
    message: &CustomerMessage,
    body: &Body,
) -> Result<Result<Vec<String>, NotSent>, JobFailure> {
    let secrets = deps
        .secrets
        .tenant_secrets(&message.tenant)
        .await
        .map_err(|e| transient("secrets", e))?
        .unwrap_or_default();
    let to = message.reply_to.as_str();
    match message.channel {
        Channel::Telegram => {
            let Some(token) = secrets.telegram_bot_token.as_ref() else {
                return Ok(Err(NotSent::NotConfigured));
            };
            let thread_id = message.thread_id.and_then(|t| i32::try_from(t).ok());
            let sent = match body {
                Body::Text { text, buttons } => deps
                    .telegram
                    .send_text_with(
                        token,
                        to,
                        text,
                        Format::Plain,
                        deps.max_rate_limit_wait,
                        &Extras {
                            buttons: buttons.clone(),
                            thread_id,
                            reply_to_message_id: None,
                        },
                    )
                    .await
                    .map_err(|p| p.error),
                Body::Image {
                    url,
                    caption,
                    buttons,
                } => deps
                    .telegram
                    .send_photo(
                        token,
                        to,
                        url.strip_prefix(TELEGRAM_FILE).unwrap_or(url),
                        caption.as_deref(),
                        &Extras {
                            buttons: buttons.clone(),
                            thread_id,
                            reply_to_message_id: None,
                        },
                    )
                    .await
                    .map(|id| vec![id]),
                Body::Template { .. } => return Ok(Err(NotSent::TemplateOnTelegram)),
            };
            match sent {
                Ok(ids) => Ok(Ok(ids.iter().map(i32::to_string).collect())),
                Err(e) => telegram_failure(e).map(Err),
            }
        }
        Channel::Whatsapp => {
            let (Some(token), Some(number)) = (
                secrets.whatsapp_access_token.as_ref(),
                config.whatsapp_phone_number_id.as_deref(),
            ) else {
                return Ok(Err(NotSent::NotConfigured));
            };
            let payload = match body {
                Body::Text { text, buttons } => whatsapp_text(text, buttons),
                Body::Template {
                    name,
                    language,
                    params,
                } => Payload::Template {
                    name: name.clone(),
                    language: language.clone(),
                    params: params.iter().map(|p| p.text.clone()).collect(),
                },
                Body::Image { url, caption, .. } => match url.strip_prefix(TELEGRAM_FILE) {
                    None => Payload::Image {
                        link: Some(url.clone()),
                        id: None,
                        caption: caption.clone(),
                    },
                    Some(file_id) => {
                        let Some(bot) = secrets.telegram_bot_token.as_ref() else {
                            return Ok(Err(NotSent::Photo));
                        };
                        match upload_telegram_photo(deps, bot, token, number, file_id).await? {
                            Some(id) => Payload::Image {
                                link: None,
                                id: Some(id),
                                caption: caption.clone(),
                            },
                            None => return Ok(Err(NotSent::Photo)),
                        }
                    }
                },
            };
            match deps.whatsapp.send(token, number, to, &payload).await {
                Ok(id) => Ok(Ok(vec![id])),
                Err(e) => whatsapp_failure(e).map(Err),
            }
        }
    }
}

/// A photo the tenant's Telegram bot received, downloaded (under a cap) and uploaded
/// to WhatsApp: its media id, `None` when it cannot be passed on.
async fn upload_telegram_photo(
    deps: &Deps,
    bot: &sauda_shared::secrets::Secret,
    access_token: &sauda_shared::secrets::Secret,
    number: &str,
    file_id: &str,
) -> Result<Option<String>, JobFailure> {
    let downloaded = match deps.telegram.file_path(bot, file_id).await {
        Ok(path) => deps.telegram.download(bot, &path, MAX_PHOTO_BYTES).await,
        Err(e) => Err(e),
    };
    let bytes = match downloaded {
        Ok(bytes) => bytes,
        Err(TelegramError::Rejected { description, .. }) => {
            warn!(reason = %description, "a photo could not be fetched from Telegram");
            return Ok(None);
        }
        Err(e) => {
            return Err(telegram_failure(e)
                .err()
                .unwrap_or_else(|| transient("telegram", "file")))
        }
    };
    match deps
        .whatsapp
        .upload_media(access_token, number, bytes.to_vec(), "image/jpeg")
        .await
    {
        Ok(id) => Ok(Some(id)),
        Err(e) => {
            // Throttling and outages retry the record; a refusal is final.
            let why = whatsapp_failure(e)?;
            warn!(
                reason = why.name(),
                "a photo could not be uploaded to WhatsApp"
            );
            Ok(None)
        }
    }
}

/// The stored message: the shared item with what the transcript shows of its body.
#[derive(Serialize)]
struct Outbound {
    #[serde(flatten)]
    message: MessageItem,
    customer_message_id: String,
    /// `text`, `image` or `template`.
    body_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    template_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_url: Option<String>,
    platform_message_ids: Vec<String>,
}

fn body_type(body: &Body) -> &'static str {
    match body {
        Body::Text { .. } => "text",
        Body::Image { .. } => "image",
        Body::Template { .. } => "template",
    }
}

/// The transaction that records what became of a customer message.
pub fn record_plan(
    config: &TenantConfig,
    message: &CustomerMessage,
    profile: Option<&ContactProfile>,
    relay: Option<&Relay>,
    result: &Result<(Vec<String>, Body), NotSent>,
    outcome: &Outcome,
    now_ms: i64,
) -> WritePlan<AlreadyRecorded> {
    let tenant = &message.tenant;
    let (sent_body, ids) = match result {
        Ok((ids, body)) => (body, ids.clone()),
        Err(_) => (&message.body, Vec::new()),
    };
    let platform_id = ids.first().cloned().unwrap_or_else(|| {
        // Failed messages get a key of their own, derived from the customer message id.
        use sha2::{Digest, Sha256};
        format!(
            "failed.{}",
            hex::encode(&Sha256::digest(message.id.as_bytes())[..12])
        )
    });
    let (state, error) = match result {
        Ok(_) => (DeliveryState::Sent, None),
        Err(why) => (DeliveryState::Failed, Some(why)),
    };
    let preview = sent_body.preview();
    let mut item = MessageItem {
        pk: keys::contact_pk(tenant, &message.contact),
        sk: keys::message_sk(now_ms, Direction::Out, &platform_id),
        direction: Direction::Out,
        channel: message.channel,
        contact: message.contact.clone(),
        platform_message_id: platform_id,
        timestamp_ms: now_ms,
        kind: Some(match sent_body {
            Body::Image { .. } => MessageKind::Photo,
            _ => MessageKind::Text,
        }),
        text: Some(preview.clone()),
        attachment: None,
        display_name: None,
        language: None,
        in_reply_to: None,
        delivery_state: Some(state),
        delivery_rank: Some(state.rank()),
        delivery_error_code: error.map(NotSent::code),
        delivery_error_title: error.map(|e| e.name().to_owned()),
        author: Some(message.author.clone()),
        stored_at_ms: now_ms,
        order_ms: None,
    };
    if let Body::Image { url, .. } = sent_body {
        // A Telegram file id is the bot's, not something to show.
        if url.starts_with(TELEGRAM_FILE) {
            item.text = Some(preview.replace(url.as_str(), "📷"));
        }
    }
    let message_pk = item.pk.clone();
    let message_sk = item.sk.clone();
    let (pk, sk) = keys::customer_message(tenant, &message.id);
    let mut plan = WritePlan::new();
    plan.push_or(
        Op::Put {
            record: sauda_shared::plan::Record::new(Marker {
                pk,
                sk,
                contact: message.contact.clone(),
                state: if ids.is_empty() { "failed" } else { "sent" },
                platform_message_ids: ids.clone(),
                reason: match outcome {
                    Outcome::Failed(reason) => Some(reason.clone()),
                    Outcome::Sent(_) => None,
                },
                message_sk: message_sk.clone(),
                at_ms: now_ms,
                expires_at: now_ms / 1000 + MARKER_TTL_S,
            }),
            cond: Some(Cond::item_absent()),
        },
        AlreadyRecorded,
    );
    plan.put(
        Outbound {
            message: item,
            customer_message_id: message.id.clone(),
            body_type: body_type(sent_body),
            template_name: match sent_body {
                Body::Template { name, .. } => Some(name.clone()),
                _ => None,
            },
            image_url: match sent_body {
                Body::Image { url, .. } if !url.starts_with(TELEGRAM_FILE) => Some(url.clone()),
                _ => None,
            },
            platform_message_ids: ids.clone(),
        },
        Some(Cond::item_absent()),
    );
    if ids.is_empty() {
        return plan;
    }
    if message.channel == Channel::Whatsapp {
        for id in &ids {
            // The shape `aws::DynamoMessageStore::put_outbound` writes: statuses find it.
            let (pk, sk) = keys::outbound_pointer(tenant, id);
            plan.put(
                serde_json::json!({"PK": pk, "SK": sk, "message_pk": message_pk, "message_sk": message_sk}),
                None,
            );
        }
    }
    let pause = relay.is_some() && config.inbox.pause_agent_on_reply;
    let mut row = inbox::index_update(&Activity {
        tenant,
        contact: &message.contact,
        channel: message.channel,
        reply_to: &message.reply_to,
        display_name: profile.and_then(|p| p.display_name.as_deref()),
        stage: profile.and_then(|p| p.stage),
        inbound: None,
        outbound: Some(Said {
            at_ms: now_ms,
            preview: &preview,
            author: &message.author,
        }),
        handoff: false,
        pause: pause.then_some(true),
    });
    if let Some(relay) = relay {
        row = row
            .set_if_absent("assignee_chat_id", relay.chat_id)
            .set_if_absent("assignee_name", relay.name.as_str());
        let mut profile_update = if pause {
            inbox::profile_pause(tenant, &message.contact, true, "manager_reply", now_ms)
        } else {
            sauda_shared::plan::Update::new(ContactProfile::key(tenant, &message.contact))
        };
        profile_update = profile_update
            .set_if_absent("assignee_chat_id", relay.chat_id)
            .set_if_absent("assignee_name", relay.name.as_str());
        plan.update(profile_update);
    }
    plan.update(row);
    plan
}

/// The marker of a finished customer message.
#[derive(Serialize)]
struct Marker {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    contact: String,
    state: &'static str,
    platform_message_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    message_sk: String,
    at_ms: i64,
    expires_at: i64,
}

/// Whether a telegram text would be split (for tests and the API's answer).
pub fn telegram_parts(text: &str) -> usize {
    telegram_api::split_message(text, telegram_api::MAX_MESSAGE_UNITS).len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sauda_shared::outbox::Author;
    use sauda_shared::TenantId;

    const NOW: i64 = 1_795_552_200_000;

    fn message(channel: Channel, body: Body) -> CustomerMessage {
        CustomerMessage::to_contact(
            &TenantId::parse("acme").unwrap(),
            "api:k1",
            match channel {
                Channel::Telegram => "tg-42",
                Channel::Whatsapp => "wa-77011234567",
            },
            Author::Manager {
                name: "Aigerim".into(),
                key_id: Some("k".into()),
                chat_id: None,
            },
            body,
        )
        .unwrap()
    }

    fn profile(last_inbound_ms: i64) -> ContactProfile {
        ContactProfile {
            last_inbound_ms: Some(last_inbound_ms),
            ..Default::default()
        }
    }

    #[test]
    fn the_whatsapp_window_decides_what_may_go() {
        let text = message(Channel::Whatsapp, Body::text("Здравствуйте"));
        assert!(prepare(&text, Some(&profile(NOW - 3_600_000)), NOW).is_ok());
        let day = whatsapp_api::SERVICE_WINDOW_MS;
        assert_eq!(
            prepare(&text, Some(&profile(NOW - day)), NOW),
            Err(NotSent::Window)
        );
        assert_eq!(
            prepare(&text, None, NOW),
            Err(NotSent::Window),
            "never wrote"
        );
        let mut with_template = text.clone();
        with_template.outside_window = OutsideWindow::Template {
            name: "follow_up".into(),
            language: "ru".into(),
            params: vec![],
        };
        assert!(matches!(
            prepare(&with_template, Some(&profile(NOW - day)), NOW),
            Ok(Body::Template { name, .. }) if name == "follow_up"
        ));
        let long = message(Channel::Whatsapp, Body::text("я".repeat(4097)));
        assert_eq!(
            prepare(&long, Some(&profile(NOW)), NOW),
            Err(NotSent::TooLong)
        );
        let tg_long = message(Channel::Telegram, Body::text("я".repeat(9000)));
        assert!(
            prepare(&tg_long, None, NOW).is_ok(),
            "Telegram splits instead"
        );
        assert_eq!(telegram_parts(&"я".repeat(9000)), 3);
        let template = Body::Template {
            name: "x".into(),
            language: "ru".into(),
            params: vec![],
        };
        assert_eq!(
            prepare(&message(Channel::Telegram, template), None, NOW),
            Err(NotSent::TemplateOnTelegram)
        );
    }

    #[test]
    fn whatsapp_buttons_become_reply_buttons_or_text() {
        let b = |title: &str, data: Option<&str>, url: Option<&str>| Button {
            title: title.into(),
            data: data.map(Into::into),
            url: url.map(Into::into),
            request_contact: false,
        };
        assert!(matches!(
            whatsapp_text("Оплатить?", &[b("Да, оплатить заказ сейчас же", Some("pay"), None)]),
            Payload::Buttons { ref buttons, .. } if buttons[0].1.chars().count() == 20
        ));
        let four: Vec<Button> = (0..4).map(|i| b("x", Some(&i.to_string()), None)).collect();
        assert!(matches!(whatsapp_text("?", &four), Payload::Text(_)));
        assert_eq!(
            whatsapp_text("Заказ", &[b("Открыть", None, Some("https://shop.kz/o/1"))]),
            Payload::Text("Заказ\nОткрыть: https://shop.kz/o/1".into())
        );
    }

    #[test]
    fn a_sent_relay_pauses_the_agent_and_a_failure_is_only_stored() {
        let config = TenantConfig::new(TenantId::parse("acme").unwrap(), "Acme");
        let m = message(Channel::Whatsapp, Body::text("Добрый день"));
        let relay = Relay {
            chat_id: 5,
            name: "Aigerim".into(),
        };
        let sent = Ok((vec!["wamid.1".to_owned()], m.body.clone()));
        let plan = record_plan(
            &config,
            &m,
            None,
            Some(&relay),
            &sent,
            &Outcome::Sent(vec!["wamid.1".into()]),
            NOW,
        );
        assert_eq!(
            plan.len(),
            5,
            "marker, message, pointer, profile, inbox row"
        );
        assert!(plan.steps[0].on_fail.is_some(), "the marker guards");
        let failed = Err(NotSent::Window);
        let plan = record_plan(
            &config,
            &m,
            None,
            None,
            &failed,
            &Outcome::Failed("closed".into()),
            NOW,
        );
        assert_eq!(plan.len(), 2, "marker and the failed message");
    }
}
