//! Stage 4: what goes out. Notices to the managers first (a failure there retries the
//! job before the customer got anything), then the reply on the customer's channel
//! through the [`Outbox`] port.

use super::compose::Reply;
use super::load::Context;
use super::{transient, JobError};
use crate::conversation::ReplyState;
use crate::notices::OnceNotice;
use crate::usage::UsageTracker;
use async_trait::async_trait;
use sauda_shared::i18n::{chat as chat_texts, Lang};
use sauda_shared::message::{Channel, InboundMessage};
use sauda_shared::notify::{self, Notice};
use sauda_shared::ports::{MessageQueue, SecretSource};
use sauda_shared::telegram_api::{
    Extras, Format, PartialSend, TelegramApi, TelegramError, MAX_CAPTION_CHARS,
};
use sauda_shared::tenant::TenantConfig;
use sauda_shared::whatsapp_api::{Payload, WhatsappApi, WhatsappError};
use std::sync::Arc;
use std::time::Duration;

/// The outcome of a send the job can live with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sent {
    /// The platform's ids of the parts sent.
    Ids(Vec<String>),
    /// Nothing was sent, for good: why.
    Not(ReplyState),
}

/// The customer's channel.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Sends a reply: its photo (if any), its text of any length and its buttons;
    /// waits out a rate limit of at most `max_wait`.
    async fn send(
        &self,
        config: &TenantConfig,
        message: &InboundMessage,
        reply: &Reply,
        max_wait: Duration,
    ) -> Result<Sent, JobError>;
}

/// Telegram and WhatsApp with the tenant's credentials.
pub struct Channels {
    pub telegram: TelegramApi,
    pub whatsapp: WhatsappApi,
    pub secrets: Arc<dyn SecretSource>,
}

/// A long `retry_after` fails the job and delays its redelivery by that much.
pub fn telegram_outcome(result: Result<Vec<i32>, PartialSend>) -> Result<Sent, JobError> {
    match result {
        Ok(ids) => Ok(Sent::Ids(ids.into_iter().map(|i| i.to_string()).collect())),
        Err(partial) => match partial.error {
            TelegramError::RetryAfter(d) => {
                Err(JobError::RetryAfter(d, "Telegram rate limit".into()))
            }
            e if e.is_permanent() => {
                tracing::warn!(error = %e, "Telegram refused the reply for good");
                Ok(Sent::Not(ReplyState::Undeliverable))
            }
            e => Err(transient("telegram", e)),
        },
    }
}

/// The closed 24-hour window (131047) is final; throttling retries in a minute.
pub fn whatsapp_outcome(
    result: Result<Vec<String>, (Vec<String>, WhatsappError)>,
) -> Result<Sent, JobError> {
    match result {
        Ok(ids) => Ok(Sent::Ids(ids)),
        Err((_, WhatsappError::OutsideWindow)) => Ok(Sent::Not(ReplyState::OutsideWindow)),
        Err((_, WhatsappError::RateLimited { .. })) => Err(JobError::RetryAfter(
            Duration::from_secs(60),
            "WhatsApp rate limit".into(),
        )),
        Err((_, e)) if e.is_permanent() => {
            tracing::warn!(error = %e, "WhatsApp refused the reply for good");
            Ok(Sent::Not(ReplyState::Undeliverable))
        }
        Err((_, e)) => Err(transient("whatsapp", e)),
    }
}

#[async_trait]
impl Outbox for Channels {
    async fn send(
        &self,
        config: &TenantConfig,
        message: &InboundMessage,
        reply: &Reply,
        max_wait: Duration,
    ) -> Result<Sent, JobError> {
        let (text, buttons) = (reply.text.as_str(), reply.buttons.as_slice());
        let secrets = self
            .secrets
            .tenant_secrets(&message.tenant)
            .await
            .map_err(|e| transient("secrets", e))?
            .unwrap_or_default();
        match message.channel {
            Channel::Telegram => {
                let Some(token) = secrets.telegram_bot_token.as_ref() else {
                    return Ok(Sent::Not(ReplyState::ChannelNotConfigured));
                };
                let extras = Extras {
                    buttons: buttons.to_vec(),
                    // In a forum the answer goes to the message's topic, not General.
                    thread_id: message.thread_id,
                    ..Extras::default()
                };
                if let Some(photo) = &reply.photo {
                    // A card fits a caption: one sendPhoto with the text and buttons.
                    if text.chars().count() <= MAX_CAPTION_CHARS {
                        return telegram_outcome(
                            self.telegram
                                .send_photo(token, &message.reply_to, photo, Some(text), &extras)
                                .await
                                .map(|id| vec![id])
                                .map_err(|error| PartialSend {
                                    sent: Vec::new(),
                                    error,
                                }),
                        );
                    }
                }
                telegram_outcome(
                    self.telegram
                        .send_text_with(
                            token,
                            &message.reply_to,
                            text,
                            Format::Plain,
                            max_wait,
                            &extras,
                        )
                        .await,
                )
            }
            Channel::Whatsapp => {
                let (Some(token), Some(phone_number_id)) = (
                    secrets.whatsapp_access_token.as_ref(),
                    config.whatsapp_phone_number_id.as_deref(),
                ) else {
                    return Ok(Sent::Not(ReplyState::ChannelNotConfigured));
                };
                let mut ids = Vec::new();
                if let Some(photo) = &reply.photo {
                    // An image message carries no buttons: the image, then the text.
                    let image = Payload::Image {
                        link: Some(photo.clone()),
                        id: None,
                        caption: None,
                    };
                    match self
                        .whatsapp
                        .send(token, phone_number_id, &message.reply_to, &image)
                        .await
                    {
                        Ok(id) => ids.push(id),
                        Err(e) => return whatsapp_outcome(Err((Vec::new(), e))),
                    }
                }
                let with_image = |sent: Result<Sent, JobError>| match sent {
                    Ok(Sent::Ids(more)) => Ok(Sent::Ids(ids.iter().cloned().chain(more).collect())),
                    other => other,
                };
                if buttons.is_empty() {
                    return with_image(whatsapp_outcome(
                        self.whatsapp
                            .send_text(token, phone_number_id, &message.reply_to, text)
                            .await,
                    ));
                }
                let lang = Lang::pick(message.language.as_deref(), &config.default_language);
                let payload =
                    Payload::with_buttons(text, buttons, Some(chat_texts::MENU.get(lang)));
                with_image(whatsapp_outcome(
                    self.whatsapp
                        .send(token, phone_number_id, &message.reply_to, &payload)
                        .await
                        .map(|id| vec![id])
                        .map_err(|e| (Vec::new(), e)),
                ))
            }
        }
    }
}

/// Everything a job sends.
#[derive(Default)]
pub struct Outgoing {
    pub notices: Vec<Notice>,
    pub once: Vec<OnceNotice>,
    pub reply: Option<Reply>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentReply {
    pub ids: Vec<String>,
    pub sent_ms: i64,
    /// From the inbound message being stored to the reply being sent.
    pub latency_ms: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    pub sent: Option<SentReply>,
    /// Why a reply was not sent, when it was not.
    pub not_sent: Option<ReplyState>,
}

#[derive(Clone, Copy)]
pub struct Ports<'a> {
    pub outbox: &'a dyn Outbox,
    pub notify: &'a dyn MessageQueue,
    pub usage: &'a UsageTracker,
    pub max_wait: Duration,
}

pub async fn deliver(
    ports: &Ports<'_>,
    ctx: &Context,
    out: &Outgoing,
) -> Result<Delivered, JobError> {
    for notice in &out.notices {
        notify::send(ports.notify, notice.clone())
            .await
            .map_err(|e| transient("notify", e))?;
    }
    for once in &out.once {
        let tenant = &once.notice.tenant;
        let told = ports
            .usage
            .notified(tenant, &once.month, once.marker)
            .await
            .map_err(|e| transient("usage", e))?;
        if !told {
            // Sent, then marked: a crash between the two repeats a notice whose id
            // the notifier delivers once.
            notify::send(ports.notify, once.notice.clone())
                .await
                .map_err(|e| transient("notify", e))?;
            ports
                .usage
                .mark(tenant, &once.month, once.marker)
                .await
                .map_err(|e| transient("usage", e))?;
        }
    }
    let Some(reply) = &out.reply else {
        return Ok(Delivered::default());
    };
    match ports
        .outbox
        .send(&ctx.config, &ctx.message, reply, ports.max_wait)
        .await?
    {
        Sent::Ids(ids) => {
            let sent_ms = sauda_shared::now_ms();
            let received_ms = ctx
                .current
                .as_ref()
                .and_then(|c| c.stored_at_ms)
                .unwrap_or(ctx.message.timestamp_ms);
            Ok(Delivered {
                sent: Some(SentReply {
                    ids,
                    sent_ms,
                    latency_ms: (sent_ms - received_ms).max(0) as u64,
                }),
                not_sent: None,
            })
        }
        Sent::Not(why) => {
            tracing::warn!(tenant = %ctx.message.tenant, contact = %ctx.who(), state = why.as_str(), "reply not sent");
            Ok(Delivered {
                sent: None,
                not_sent: Some(why),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::compose;
    use crate::testing::{self, MemoryQueue, MemoryUsage};
    use std::sync::Mutex;

    /// Records what it was asked to send, and what the notify queue held by then.
    struct Recorder<'a> {
        notify: &'a MemoryQueue,
        sent: Mutex<Vec<(String, usize)>>,
        answer: Sent,
    }

    #[async_trait]
    impl Outbox for Recorder<'_> {
        async fn send(
            &self,
            _: &TenantConfig,
            _: &InboundMessage,
            reply: &Reply,
            _: Duration,
        ) -> Result<Sent, JobError> {
            let notices = self.notify.sent().len();
            self.sent
                .lock()
                .unwrap()
                .push((reply.text.clone(), notices));
            Ok(self.answer.clone())
        }
    }

    #[tokio::test]
    async fn notices_go_first_and_monthly_ones_once() {
        let notify = MemoryQueue::default();
        let usage = UsageTracker::new(Arc::new(MemoryUsage::default()));
        let outbox = Recorder {
            notify: &notify,
            sent: Mutex::default(),
            answer: Sent::Ids(vec!["100".into()]),
        };
        let ports = Ports {
            outbox: &outbox,
            notify: &notify,
            usage: &usage,
            max_wait: Duration::from_secs(1),
        };
        let ctx = testing::ctx(|_| {}, |_| {});
        let once = crate::notices::budget_spent(&ctx.config, "2026-11", 2, 1);
        let out = Outgoing {
            notices: vec![crate::notices::paused(&ctx.config, &ctx.message)],
            once: vec![once.clone()],
            reply: Some(compose::rate_limit_notice(Lang::Ky)),
        };
        let delivered = deliver(&ports, &ctx, &out).await.unwrap();
        assert_eq!(delivered.sent.unwrap().ids, ["100"]);
        assert_eq!(
            *outbox.sent.lock().unwrap(),
            [(sauda_shared::i18n::agent::RATE_LIMITED.ky.to_owned(), 2)],
            "both notices were queued before the customer's reply"
        );
        deliver(&ports, &ctx, &out).await.unwrap();
        let kinds: Vec<String> = notify
            .sent()
            .into_iter()
            .filter_map(|e| match e.job {
                sauda_shared::envelope::Job::Notify { notice } => Some(notice.kind),
                _ => None,
            })
            .collect();
        assert_eq!(
            kinds,
            ["paused", "budget_spent", "paused"],
            "the budget notice once"
        );
    }

    #[test]
    fn channel_failures_map_to_states_or_retries() {
        let refused = PartialSend {
            sent: vec![],
            error: TelegramError::Rejected {
                code: 403,
                description: "bot was blocked by the user".into(),
            },
        };
        assert_eq!(
            telegram_outcome(Err(refused)).unwrap(),
            Sent::Not(ReplyState::Undeliverable)
        );
        let later = PartialSend {
            sent: vec![1],
            error: TelegramError::RetryAfter(Duration::from_secs(120)),
        };
        assert!(matches!(
            telegram_outcome(Err(later)),
            Err(JobError::RetryAfter(d, _)) if d == Duration::from_secs(120)
        ));
        assert_eq!(
            whatsapp_outcome(Err((vec![], WhatsappError::OutsideWindow))).unwrap(),
            Sent::Not(ReplyState::OutsideWindow)
        );
        assert!(matches!(
            whatsapp_outcome(Err((vec![], WhatsappError::Unavailable("5xx".into())))),
            Err(JobError::Transient(_))
        ));
    }
}
