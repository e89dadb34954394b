//! One inbound message, start to finish: read the conversation (one Query), decide,
//! answer (model or fallback), send, store the outcome (one transaction), count.
//!
//! Idempotency: the outcome is stored on the inbound message (`reply_state`) in the
//! same transaction as the reply, conditionally, so a redelivered job reads it in the
//! history it already fetched and stops. The crash window is between the channel send
//! and that transaction (tens of milliseconds): a crash exactly there makes the retry
//! answer again. We accept that at-least-once window rather than pay an extra
//! "claim" write on every reply; tool side effects are idempotent anyway (the lead's
//! idempotency key and the notices' ids derive from the inbound message).

use crate::agent::{Effects, Turn, TurnError};
use crate::catalog::{CatalogIndex, CatalogItem};
use crate::conversation::{
    self, n, Conversation, JobWrite, OutboundRecord, ProfileUpdate, RateWindow, ReplyState,
    WriteOutcome,
};
use crate::llm::{ChatMessage, Endpoint, LlmError, Usage};
use crate::prompt;
use crate::usage::{cost_micros, Tally};
use crate::Deps;
use aws_sdk_dynamodb::types::AttributeValue;
use sauda_shared::contact;
use sauda_shared::envelope::{Envelope, Job};
use sauda_shared::funnel::Stage;
use sauda_shared::lead::{LeadSource, LeadSubmission};
use sauda_shared::message::{Attachment, Channel, Direction, InboundMessage, OutboundMessage};
use sauda_shared::notify::{self, Notice, Recipients};
use sauda_shared::ports::QueueError;
use sauda_shared::stats::{self, metric, CounterBatch, FirstOf};
use sauda_shared::telegram_api::{escape_html, Format, TelegramError};
use sauda_shared::tenant::TenantConfig;
use sauda_shared::whatsapp_api::{self, WhatsappError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Why a job failed, and how SQS should retry it.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{0}")]
    Transient(String),
    /// The channel asked us to wait this long (Telegram `retry_after`).
    #[error("{1} (retry after {0:?})")]
    RetryAfter(Duration, String),
    #[error("{0}")]
    Poison(String),
}

fn transient(what: &str, e: impl std::fmt::Display) -> JobError {
    JobError::Transient(format!("{what}: {e}"))
}

/// Shared by the jobs of one batch.
pub struct BatchState {
    pub counters: Mutex<CounterBatch>,
    /// When the invocation must have returned; `None` without a Lambda deadline.
    pub deadline: Option<Instant>,
}

impl BatchState {
    fn count(
        &self,
        tenant: &sauda_shared::TenantId,
        day: &str,
        f: impl FnOnce(&mut stats::CounterDelta),
    ) {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        f(counters.day(tenant, day));
    }
}

/// Time a job needs at least, so that it never starts just before the invocation ends.
const MIN_JOB_TIME: Duration = Duration::from_secs(3);

pub async fn handle_body(deps: &Deps, body: &str, batch: &BatchState) -> Result<(), JobError> {
    let envelope = Envelope::from_json(body).map_err(|e| JobError::Poison(e.to_string()))?;
    let Job::InboundMessage { message } = envelope.job else {
        return Err(JobError::Poison(format!(
            "inbound queue got a {} job",
            envelope.kind()
        )));
    };
    if let Some(deadline) = batch.deadline {
        if deadline.saturating_duration_since(Instant::now()) < MIN_JOB_TIME {
            return Err(JobError::Transient(
                "too little time left in this invocation".into(),
            ));
        }
    }
    process(deps, &message, batch).await
}

enum Decision {
    Reply,
    Silent(ReplyState),
    RateLimitNotice,
}

/// Text shown to the model (and searched) for a message, whatever its kind.
fn message_text(text: Option<&str>, attachment: Option<&Attachment>) -> String {
    let text = text.map(str::trim).filter(|t| !t.is_empty());
    let note = attachment.map(|a| match a {
        Attachment::Voice { duration_s, .. } => format!(
            "[voice message{} that cannot be listened to: ask the customer to write in text]",
            duration_s.map(|d| format!(", {d} s")).unwrap_or_default()
        ),
        Attachment::Photo { .. } => "[photo that cannot be viewed]".to_owned(),
        Attachment::Contact { phone, name } => format!(
            "[shared a contact: {}{phone}]",
            name.as_deref()
                .map(|n| format!("{n}, "))
                .unwrap_or_default()
        ),
        Attachment::Location {
            latitude,
            longitude,
        } => format!("[shared a location: {latitude}, {longitude}]"),
    });
    match (text, note) {
        (Some(t), Some(n)) => format!("{n} {t}"),
        (Some(t), None) => t.to_owned(),
        (None, Some(n)) => n,
        (None, None) => "[an unsupported message]".to_owned(),
    }
}

/// What the customer wrote since our last reply, oldest first: messages superseded by a
/// newer one in the same burst are answered together with it (a question, then a voice
/// note, is still a question).
fn unanswered_words(conv: &Conversation, inbound_sk: &str, current: Option<&str>) -> String {
    let mut words: Vec<&str> = conv
        .messages
        .iter()
        .filter(|m| m.sk.as_str() < inbound_sk)
        .take_while(|m| m.direction == Direction::In)
        .filter_map(|m| m.text.as_deref())
        .collect();
    words.reverse();
    words.extend(current);
    let joined = words
        .iter()
        .map(|w| w.trim())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    joined.chars().take(4_000).collect()
}

fn month_of(config: &TenantConfig, ts_ms: i64) -> String {
    let ts = jiff::Timestamp::from_millisecond(ts_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    ts.to_zoned(config.zone()).strftime("%Y-%m").to_string()
}

pub async fn process(
    deps: &Deps,
    message: &InboundMessage,
    batch: &BatchState,
) -> Result<(), JobError> {
    let tenant = &message.tenant;
    let Some(config) = deps
        .tenants
        .tenant(tenant)
        .await
        .map_err(|e| transient("tenant", e))?
    else {
        warn!(%tenant, "inbound message of an unknown tenant dropped");
        return Ok(());
    };
    let conv = conversation::read(&deps.dynamo, &deps.table, tenant, &message.contact)
        .await
        .map_err(|e| transient("conversation", e))?;
    let inbound_sk = message.sk();
    let current = conv.messages.iter().find(|m| m.sk == inbound_sk);
    if let Some(state) = current.and_then(|m| m.reply_state.as_deref()) {
        info!(%tenant, contact = %message.contact, state, "inbound message already handled; skipped");
        return Ok(());
    }
    let newer_inbound = conv
        .messages
        .iter()
        .any(|m| m.direction == Direction::In && m.sk > inbound_sk);
    if current.is_none() && !newer_inbound {
        // The webhook stores every message before queueing it.
        return Err(JobError::Poison(format!(
            "inbound message {inbound_sk} is not stored"
        )));
    }

    let now = sauda_shared::now_ms();
    let profile = conv.profile.as_ref();
    let ts = message.timestamp_ms;
    let rate = RateWindow::after(profile, ts);
    let limit = f64::from(config.agent.rate_limit_per_minute.max(1));
    let last_customer_ms = conv
        .messages
        .iter()
        .filter(|m| m.direction == Direction::In)
        .map(|m| m.timestamp_ms)
        .chain([ts])
        .max()
        .unwrap_or(ts);
    let decision = if !config.is_active() || !config.agent.enabled {
        Decision::Silent(ReplyState::AgentDisabled)
    } else if profile.is_some_and(|p| p.agent_paused) {
        Decision::Silent(ReplyState::Paused)
    } else if message.channel == Channel::Whatsapp
        && !whatsapp_api::within_service_window(last_customer_ms, now)
    {
        Decision::Silent(ReplyState::OutsideWindow)
    } else if newer_inbound {
        Decision::Silent(ReplyState::Superseded)
    } else if rate.rate(ts) > limit {
        if profile.and_then(|p| p.rl_notice_window) == Some(rate.window) {
            Decision::Silent(ReplyState::RateLimited)
        } else {
            Decision::RateLimitNotice
        }
    } else {
        Decision::Reply
    };

    let text = message_text(message.text.as_deref(), message.attachment.as_ref());
    let unanswered = unanswered_words(&conv, &inbound_sk, message.text.as_deref());
    // The customer's own words decide the language, never our notes about attachments.
    let language = prompt::detect_language(
        &unanswered,
        profile
            .and_then(|p| p.language.as_deref())
            .or(message.language.as_deref()),
        &config.default_language,
    );
    let mut profile_update = base_profile_update(message, &conv, &config, &rate, &language, ts);
    let day = stats::local_day(&config.timezone, now);
    let mut job = JobOutcome::default();

    let state = match decision {
        Decision::Silent(state) => {
            match state {
                ReplyState::Paused => {
                    notify_managers(
                        deps,
                        message,
                        "paused",
                        &format!(
                            "<b>{}</b> wrote while the agent is paused for them:\n{}",
                            customer_label(message),
                            escape_html(&text)
                        ),
                    )
                    .await
                    .map_err(|e| transient("notify", e))?;
                }
                ReplyState::OutsideWindow => {
                    notify_managers(deps, message, "window", &format!(
                        "<b>{}</b> is waiting for an answer, but WhatsApp's 24-hour window has closed: contact them with a template message.\nLast message: {}",
                        customer_label(message),
                        escape_html(&text)
                    ))
                    .await
                    .map_err(|e| transient("notify", e))?;
                }
                _ => {}
            }
            state
        }
        Decision::RateLimitNotice => {
            let notice = prompt::texts(&language).rate_limited.to_owned();
            job.reply = Some(Reply {
                text: notice,
                kind: "rate_limit_notice",
                fallback_reason: None,
                model: None,
                usage: Usage::default(),
                calls: 0,
                cost_micros: 0,
                tools: Vec::new(),
            });
            profile_update.set("rl_notice_window", n(rate.window));
            ReplyState::RateLimitNotice
        }
        Decision::Reply => {
            let reply = answer(
                deps,
                &config,
                message,
                &conv,
                &text,
                &unanswered,
                &language,
                &mut profile_update,
                now,
                batch,
                &day,
            )
            .await?;
            let state = if reply.fallback_reason.is_some() {
                ReplyState::Fallback
            } else {
                ReplyState::Replied
            };
            job.reply = Some(reply);
            state
        }
    };

    // Send, then store what was sent.
    let mut state = state;
    let mut outbound = None;
    if let Some(reply) = &job.reply {
        match send(deps, &config, message, &reply.text).await? {
            Sent::Ids(ids) => {
                let sent_ms = sauda_shared::now_ms();
                let received_ms = current.and_then(|c| c.stored_at_ms).unwrap_or(ts);
                job.latency_ms = Some((sent_ms - received_ms).max(0) as u64);
                outbound = Some(outbound_record(
                    message,
                    reply,
                    &ids,
                    &language,
                    sent_ms,
                    job.latency_ms.unwrap_or(0),
                ));
                profile_update.set("last_reply_ms", n(sent_ms));
            }
            Sent::Not(why) => {
                warn!(%tenant, contact = %message.contact, state = why.as_str(), "reply not sent");
                state = why;
            }
        }
    }
    let outcome = conversation::write(
        &deps.dynamo,
        &deps.table,
        JobWrite {
            tenant,
            contact: &message.contact,
            inbound_sk: &inbound_sk,
            state,
            now_ms: sauda_shared::now_ms(),
            outbound,
            profile: profile_update,
        },
    )
    .await
    .map_err(|e| transient("store", e))?;
    if outcome == WriteOutcome::AlreadyHandled {
        warn!(%tenant, contact = %message.contact, "another delivery handled this message concurrently");
        return Ok(());
    }

    // Counted once the outcome is stored, so a redelivery never counts twice.
    let previous_inbound = profile
        .and_then(|p| p.last_inbound_ms)
        .filter(|p| *p < ts)
        .or_else(|| {
            conv.messages
                .iter()
                .filter(|m| m.direction == Direction::In && m.sk < inbound_sk)
                .map(|m| m.timestamp_ms)
                .max()
        });
    batch.count(tenant, &day, |d| {
        d.add(metric::MESSAGES_IN, 1);
        if profile.and_then(|p| p.first_seen_ms).is_none() {
            d.add(metric::CONTACTS_NEW, 1);
        }
        FirstOf::between(&config.timezone, previous_inbound, ts).count(
            d,
            metric::CONVERSATIONS_DAY,
            metric::CONVERSATIONS_WEEK,
            metric::CONVERSATIONS_MONTH,
        );
        match state {
            ReplyState::Replied => {
                d.add(metric::REPLIES_LLM, 1);
            }
            ReplyState::Fallback => {
                d.add(metric::REPLIES_FALLBACK, 1);
                if let Some(reason) = job.reply.as_ref().and_then(|r| r.fallback_reason) {
                    d.add(&metric::fallback_reason(reason), 1);
                }
            }
            ReplyState::RateLimitNotice | ReplyState::RateLimited => {
                d.add(metric::RATE_LIMITED, 1);
            }
            ReplyState::Superseded => {
                d.add(metric::REPLIES_SUPERSEDED, 1);
            }
            ReplyState::Paused => {
                d.add(metric::REPLIES_PAUSED, 1);
            }
            ReplyState::OutsideWindow
            | ReplyState::Undeliverable
            | ReplyState::ChannelNotConfigured => {
                d.add(metric::REPLIES_NOT_SENT, 1);
            }
            ReplyState::AgentDisabled => {}
        }
        if let Some(latency) = job.latency_ms {
            d.add(metric::MESSAGES_OUT, 1);
            d.add(&metric::latency_bucket(latency), 1);
        }
        if job
            .reply
            .as_ref()
            .is_some_and(|r| r.tools.iter().any(|t| t == "handoff_to_manager"))
        {
            d.add(metric::HANDOFFS, 1);
        }
    });
    info!(%tenant, contact = %message.contact, state = state.as_str(), latency_ms = job.latency_ms, "inbound message handled");
    Ok(())
}

#[derive(Default)]
struct JobOutcome {
    reply: Option<Reply>,
    latency_ms: Option<u64>,
}

pub struct Reply {
    pub text: String,
    /// `llm`, `fallback`, `rate_limit_notice`.
    pub kind: &'static str,
    pub fallback_reason: Option<&'static str>,
    pub model: Option<String>,
    pub usage: Usage,
    pub calls: u32,
    pub cost_micros: i64,
    pub tools: Vec<String>,
}

fn customer_label(message: &InboundMessage) -> String {
    let name = message.display_name.as_deref().unwrap_or("Customer");
    match contact::conversation_link(&message.contact) {
        Some(link) => format!(
            "{} (<a href=\"{}\">{}</a>)",
            escape_html(name),
            escape_html(&link),
            escape_html(&message.contact)
        ),
        None => format!("{} ({})", escape_html(name), escape_html(&message.contact)),
    }
}

async fn notify_managers(
    deps: &Deps,
    message: &InboundMessage,
    kind: &str,
    html: &str,
) -> Result<(), QueueError> {
    notify::send(
        deps.notify.as_ref(),
        Notice {
            tenant: message.tenant.clone(),
            id: notify::notice_id(&[kind, &message.contact, &message.platform_message_id]),
            kind: kind.to_owned(),
            to: Recipients::Managers,
            html: html.to_owned(),
        },
    )
    .await
}

/// Tells the managers a customer wants a person (id stable per inbound message).
pub async fn notify_handoff(
    deps: &Deps,
    _config: &TenantConfig,
    message: &InboundMessage,
    reason: &str,
) -> Result<(), QueueError> {
    let text = message_text(message.text.as_deref(), message.attachment.as_ref());
    notify_managers(
        deps,
        message,
        "handoff",
        &format!(
            "<b>Handoff</b>: {} needs a manager. The agent is paused for this customer until you resume it.\nReason: {}\nLast message: {}",
            customer_label(message),
            escape_html(reason),
            escape_html(&text)
        ),
    )
    .await
}

/// What every job sets on the profile: who the customer is, when they last wrote,
/// the rate-limit window and, with purchase intent, the lead sweep's index keys.
fn base_profile_update(
    message: &InboundMessage,
    conv: &Conversation,
    config: &TenantConfig,
    rate: &RateWindow,
    language: &str,
    ts: i64,
) -> ProfileUpdate {
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let profile = conv.profile.as_ref();
    let last_inbound = profile
        .and_then(|p| p.last_inbound_ms)
        .unwrap_or(ts)
        .max(ts);
    let mut u = ProfileUpdate::default();
    u.set("contact", s(&message.contact))
        .set("channel", s(message.channel.prefix_name()))
        .set("reply_to", s(&message.reply_to))
        .set("last_inbound_ms", n(last_inbound))
        .set("language", s(language))
        .set("rl_window", n(rate.window))
        .set("rl_count", n(rate.count))
        .set("rl_prev", n(rate.previous))
        .set_if_absent("first_seen_ms", n(ts));
    if let Some(name) = &message.display_name {
        u.set("display_name", s(name));
    }
    let no_lead = profile.and_then(|p| p.lead_created_ms).is_none();
    let intent_now = message.text.as_deref().is_some_and(prompt::shows_intent);
    if no_lead && intent_now {
        u.set("intent_at_ms", n(ts));
    }
    if no_lead && (intent_now || profile.and_then(|p| p.intent_at_ms).is_some()) {
        u.set("GSI1PK", s(&contact::intent_gsi(&config.tenant)))
            .set(
                "GSI1SK",
                s(&contact::intent_gsi_sk(last_inbound, &message.contact)),
            );
    }
    u
}

trait ChannelName {
    fn prefix_name(self) -> &'static str;
}

impl ChannelName for Channel {
    /// The serde name of the channel (`telegram`, `whatsapp`), as `ContactProfile` reads it.
    fn prefix_name(self) -> &'static str {
        match self {
            Channel::Telegram => "telegram",
            Channel::Whatsapp => "whatsapp",
        }
    }
}

async fn load_catalog(deps: &Deps, config: &TenantConfig) -> Option<Arc<CatalogIndex>> {
    let version = config.catalog.active_version.as_deref()?;
    let cache = deps.catalogs.as_ref()?;
    match cache.get(&config.tenant, version).await {
        Ok(index) => Some(index),
        Err(e) => {
            // Answer without the catalog rather than leave the customer waiting.
            warn!(tenant = %config.tenant, version, error = %e, "catalog unavailable; answering without it");
            None
        }
    }
}

/// The conversation as chat messages, oldest first, ending with the current message.
fn history(conv: &Conversation, inbound_sk: &str, current_text: &str) -> Vec<ChatMessage> {
    let mut out: Vec<ChatMessage> = conv
        .messages
        .iter()
        .rev()
        .filter(|m| m.sk.as_str() < inbound_sk)
        .filter_map(|m| {
            let text: String = match m.direction {
                Direction::In => message_text(m.text.as_deref(), m.attachment.as_ref()),
                Direction::Out => m.text.clone()?,
            }
            .chars()
            .take(2_000)
            .collect();
            Some(match m.direction {
                Direction::In => ChatMessage::user(text),
                Direction::Out => ChatMessage::assistant(text),
            })
        })
        .collect();
    out.push(ChatMessage::user(
        current_text.chars().take(4_000).collect::<String>(),
    ));
    out
}

#[allow(clippy::too_many_arguments)]
async fn answer(
    deps: &Deps,
    config: &TenantConfig,
    message: &InboundMessage,
    conv: &Conversation,
    text: &str,
    unanswered: &str,
    language: &str,
    profile_update: &mut ProfileUpdate,
    now: i64,
    batch: &BatchState,
    day: &str,
) -> Result<Reply, JobError> {
    let tenant = &message.tenant;
    let catalog = load_catalog(deps, config).await;
    let top_k = config.agent.top_k.clamp(1, 20);
    let matches: Vec<CatalogItem> = catalog
        .as_ref()
        .filter(|_| !unanswered.trim().is_empty())
        .map(|c| {
            c.search(unanswered, top_k)
                .into_iter()
                .map(|h| h.item)
                .collect()
        })
        .unwrap_or_default();

    // Budget: when spent, fall back and tell the managers once.
    let month = month_of(config, now);
    let mut budget_spent = false;
    if let Some(budget) = config.agent.monthly_budget_micros {
        let (spent, notified) = deps
            .usage
            .spent(tenant, &month)
            .await
            .map_err(|e| transient("usage", e))?;
        if spent >= budget {
            budget_spent = true;
            if !notified {
                notify::send(
                    deps.notify.as_ref(),
                    Notice {
                        tenant: tenant.clone(),
                        id: notify::notice_id(&["budget", &month]),
                        kind: "budget_spent".into(),
                        to: Recipients::Managers,
                        html: format!(
                            "<b>AI budget spent</b> for {month}: {:.2} of {:.2} USD. The assistant now answers from the catalog only, until the budget is raised or the month ends.",
                            spent as f64 / 1e6,
                            budget as f64 / 1e6
                        ),
                    },
                )
                .await
                .map_err(|e| transient("notify", e))?;
                deps.usage
                    .mark_budget_notified(tenant, &month)
                    .await
                    .map_err(|e| transient("usage", e))?;
            }
        }
    }

    let endpoint = if budget_spent {
        None
    } else {
        endpoint(deps, config).await?
    };
    let mut effects = Effects::default();
    let mut fallback_reason: Option<&'static str> = if budget_spent {
        Some("budget")
    } else if endpoint.is_none() {
        Some("no_llm")
    } else {
        None
    };
    let mut model_text = None;
    let mut usage = Usage::default();
    let mut calls = 0;
    let mut model = None;
    if let Some(endpoint) = &endpoint {
        let stage = conv
            .profile
            .as_ref()
            .and_then(|p| p.stage)
            .unwrap_or(Stage::New);
        let today = stats::local_day(&config.timezone, now);
        let system = prompt::system_prompt(&prompt::PromptContext {
            config,
            stage,
            language,
            loyalty: config.loyalty.enabled,
            matches: &matches,
            has_catalog: catalog.is_some(),
            customer_name: message.display_name.as_deref(),
            today: &today,
        });
        let mut messages = vec![ChatMessage::system(system)];
        messages.extend(history(conv, &message.sk(), text));
        let mut deadline = Instant::now() + deps.settings.llm_turn_budget;
        if let Some(invocation) = batch.deadline {
            deadline = deadline.min(invocation.checked_sub(MIN_JOB_TIME).unwrap_or(invocation));
        }
        let mut turn = Turn {
            deps,
            config,
            message,
            catalog: catalog.as_deref(),
            effects: Effects::default(),
            usage: Usage::default(),
            calls: 0,
        };
        let result = turn.run(endpoint, messages, deadline).await;
        usage = turn.usage;
        calls = turn.calls;
        effects = turn.effects;
        match result {
            Ok(out) => {
                model = Some(out.model);
                model_text = Some(out.text);
            }
            Err(TurnError::Infra(e)) => return Err(transient("tool", e)),
            Err(TurnError::Llm(e)) => {
                let reason = if matches!(e, LlmError::Quota(_)) {
                    "quota"
                } else {
                    "llm_error"
                };
                warn!(%tenant, error = %e, reason, "LLM failed; answering from the catalog");
                fallback_reason = Some(reason);
                model = Some(endpoint.model.clone());
            }
        }
    }

    // Usage is recorded whatever happens next: it was spent.
    let cost = model
        .as_deref()
        .map(|m| {
            cost_micros(
                &price_of(deps, config, m),
                usage.prompt_tokens,
                usage.completion_tokens,
            )
        })
        .unwrap_or(0);
    if calls > 0 {
        deps.usage.record(
            tenant,
            &month,
            Tally {
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
                cost_micros: cost,
                calls: i64::from(calls),
            },
        );
        batch.count(tenant, day, |d| {
            d.add(metric::AI_CALLS, i64::from(calls))
                .add(metric::AI_PROMPT_TOKENS, usage.prompt_tokens)
                .add(metric::AI_COMPLETION_TOKENS, usage.completion_tokens)
                .add(metric::AI_COST_MICROS, cost);
        });
    }

    let text_out = match model_text {
        Some(t) => t,
        None => {
            fallback_text(
                deps,
                config,
                message,
                text,
                language,
                &matches,
                &mut effects,
            )
            .await?
        }
    };
    if let Some(reason) = &effects.handoff {
        profile_update
            .set("agent_paused", AttributeValue::Bool(true))
            .set("agent_paused_reason", AttributeValue::S(reason.clone()))
            .set("agent_paused_at_ms", n(now));
    }
    Ok(Reply {
        text: text_out,
        kind: if fallback_reason.is_some() {
            "fallback"
        } else {
            "llm"
        },
        fallback_reason,
        model,
        usage,
        calls,
        cost_micros: cost,
        tools: effects.tools,
    })
}

/// The answer without a model: a manager when asked for, a lead when contact details
/// were given, otherwise the best catalog matches and the way to a manager.
async fn fallback_text(
    deps: &Deps,
    config: &TenantConfig,
    message: &InboundMessage,
    text: &str,
    language: &str,
    matches: &[CatalogItem],
    effects: &mut Effects,
) -> Result<String, JobError> {
    let t = prompt::texts(language);
    if effects.handoff.is_some() {
        return Ok(t.handoff_done.to_owned());
    }
    if prompt::asks_for_manager(text) {
        let reason = "the customer asked for a manager".to_owned();
        notify_handoff(deps, config, message, &reason)
            .await
            .map_err(|e| transient("notify", e))?;
        effects.handoff = Some(reason);
        effects.tools.push("handoff_to_manager".into());
        return Ok(t.handoff_done.to_owned());
    }
    let (mut phone, email) = prompt::contact_details(text, &config.leads.default_region);
    if let Some(Attachment::Contact { phone: shared, .. }) = &message.attachment {
        phone = phone.or_else(|| Some(shared.clone()));
    }
    if effects.leads == 0 && (phone.is_some() || email.is_some()) {
        let lead = LeadSubmission {
            tenant: message.tenant.clone(),
            source: LeadSource::Agent,
            idempotency_key: format!(
                "agent:{}:{}:contact",
                message.contact, message.platform_message_id
            ),
            contact: Some(message.contact.clone()),
            name: message.display_name.clone(),
            phone,
            email,
            interest: None,
            message: message.text.clone(),
            language: Some(language.to_owned()),
            consent: true,
            submitted_at_ms: sauda_shared::now_ms(),
        };
        deps.leads
            .send(&Envelope::capture_lead(lead), 0)
            .await
            .map_err(|e| transient("leads", e))?;
        effects.leads += 1;
        effects.tools.push("capture_lead".into());
        return Ok(t.lead_thanks.to_owned());
    }
    let reply = prompt::fallback_reply(language, matches);
    let words = message.text.as_deref().map(str::trim).unwrap_or_default();
    if words.is_empty() && matches!(message.attachment, Some(Attachment::Voice { .. })) {
        return Ok(format!("{}\n{reply}", t.voice_unsupported));
    }
    Ok(reply)
}

fn price_of(deps: &Deps, config: &TenantConfig, model: &str) -> sauda_shared::tenant::ModelPrice {
    // Providers such as OpenRouter prefix the vendor (`openai/gpt-4o-mini`).
    let bare = model.rsplit('/').next().unwrap_or(model);
    for name in [model, bare] {
        if let Some(p) = config
            .agent
            .prices
            .get(name)
            .or_else(|| deps.settings.prices.get(name))
        {
            return *p;
        }
    }
    // Dated snapshots (`gpt-4o-mini-2024-07-18`) cost what their family costs.
    if let Some((_, p)) = deps
        .settings
        .prices
        .iter()
        .filter(|(k, _)| bare.starts_with(k.as_str()))
        .max_by_key(|(k, _)| k.len())
    {
        return *p;
    }
    warn!(
        model,
        "no price for this model: usage is recorded at zero cost"
    );
    Default::default()
}

/// The tenant's model endpoint, or `None` when no key is configured.
async fn endpoint(deps: &Deps, config: &TenantConfig) -> Result<Option<Endpoint>, JobError> {
    let tenant_key = deps
        .secrets
        .tenant_secrets(&config.tenant)
        .await
        .map_err(|e| transient("secrets", e))?
        .and_then(|s| s.llm_api_key.clone());
    let key = match tenant_key {
        Some(k) => Some(k),
        None => deps
            .secrets
            .platform_secrets()
            .await
            .map_err(|e| transient("secrets", e))?
            .llm_api_key
            .clone(),
    };
    Ok(key
        .filter(|k| !k.expose().is_empty())
        .map(|api_key| Endpoint {
            base_url: config
                .agent
                .llm_base_url
                .clone()
                .unwrap_or_else(|| deps.settings.llm_base_url.clone()),
            api_key,
            model: config
                .agent
                .model
                .clone()
                .unwrap_or_else(|| deps.settings.llm_model.clone()),
        }))
}

enum Sent {
    Ids(Vec<String>),
    Not(ReplyState),
}

async fn send(
    deps: &Deps,
    config: &TenantConfig,
    message: &InboundMessage,
    text: &str,
) -> Result<Sent, JobError> {
    let secrets = deps
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
            match deps
                .telegram
                .send_text(
                    token,
                    &message.reply_to,
                    text,
                    Format::Plain,
                    deps.settings.max_channel_wait,
                )
                .await
            {
                Ok(ids) => Ok(Sent::Ids(ids.into_iter().map(|i| i.to_string()).collect())),
                Err(partial) => match partial.error {
                    TelegramError::RetryAfter(d) => {
                        Err(JobError::RetryAfter(d, "Telegram rate limit".into()))
                    }
                    e if e.is_permanent() => {
                        warn!(tenant = %message.tenant, error = %e, "Telegram refused the reply for good");
                        Ok(Sent::Not(ReplyState::Undeliverable))
                    }
                    e => Err(transient("telegram", e)),
                },
            }
        }
        Channel::Whatsapp => {
            let (Some(token), Some(phone_number_id)) = (
                secrets.whatsapp_access_token.as_ref(),
                config.whatsapp_phone_number_id.as_deref(),
            ) else {
                return Ok(Sent::Not(ReplyState::ChannelNotConfigured));
            };
            match deps
                .whatsapp
                .send_text(token, phone_number_id, &message.reply_to, text)
                .await
            {
                Ok(ids) => Ok(Sent::Ids(ids)),
                Err((_, WhatsappError::OutsideWindow)) => Ok(Sent::Not(ReplyState::OutsideWindow)),
                Err((_, WhatsappError::RateLimited { .. })) => Err(JobError::RetryAfter(
                    Duration::from_secs(60),
                    "WhatsApp rate limit".into(),
                )),
                Err((_, e)) if e.is_permanent() => {
                    warn!(tenant = %message.tenant, error = %e, "WhatsApp refused the reply for good");
                    Ok(Sent::Not(ReplyState::Undeliverable))
                }
                Err((_, e)) => Err(transient("whatsapp", e)),
            }
        }
    }
}

fn outbound_record(
    message: &InboundMessage,
    reply: &Reply,
    ids: &[String],
    language: &str,
    sent_ms: i64,
    latency_ms: u64,
) -> OutboundRecord {
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let mut extra = HashMap::from([
        ("reply_kind".to_owned(), s(reply.kind)),
        ("language".to_owned(), s(language)),
        ("latency_ms".to_owned(), n(latency_ms)),
        ("prompt_tokens".to_owned(), n(reply.usage.prompt_tokens)),
        (
            "completion_tokens".to_owned(),
            n(reply.usage.completion_tokens),
        ),
        ("cost_micros".to_owned(), n(reply.cost_micros)),
        ("llm_calls".to_owned(), n(reply.calls)),
        (
            "platform_message_ids".to_owned(),
            AttributeValue::L(ids.iter().map(|i| s(i)).collect()),
        ),
    ]);
    if let Some(m) = &reply.model {
        extra.insert("model".into(), s(m));
    }
    if let Some(r) = reply.fallback_reason {
        extra.insert("fallback_reason".into(), s(r));
    }
    if !reply.tools.is_empty() {
        extra.insert(
            "tools".into(),
            AttributeValue::L(reply.tools.iter().map(|t| s(t)).collect()),
        );
    }
    OutboundRecord {
        message: OutboundMessage {
            tenant: message.tenant.clone(),
            channel: message.channel,
            contact: message.contact.clone(),
            platform_message_id: ids.first().cloned().unwrap_or_default(),
            timestamp_ms: sent_ms,
            text: reply.text.clone(),
            in_reply_to: Some(message.platform_message_id.clone()),
        },
        extra,
        // Only WhatsApp reports delivery statuses that need the pointer.
        pointer: message.channel == Channel::Whatsapp,
    }
}
