//! Stage 5: what the job leaves behind. One transaction (the reply with its usage, its
//! `OUT#` pointer for WhatsApp, the inbound message's `reply_state` as the
//! idempotency guard, the profile's agent attributes), built here as a write plan;
//! then the batch's counters. AI usage is [`spend`]: recorded as soon as it is spent.
//!
//! A conversation (contact, month) counts once towards the plan's conversations per
//! month: the profile remembers the month it was last counted in (`usage_month`), and
//! when that changes the same transaction moves it, guarded by its old value, and adds
//! one to the month's usage counter. No call is added to a reply.

use super::compose::Reply;
use super::deliver::Delivered;
use super::load::Context;
use super::{transient, BatchState, JobError};
use crate::conversation::ReplyState;
use crate::prompt;
use crate::store::{AlreadyHandled, ConversationStore, WriteOutcome};
use crate::usage::{month_of, Tally, UsageTracker};
use sauda_shared::contact::{self, ContactProfile};
use sauda_shared::keys;
use sauda_shared::limits::{self, Metric};
use sauda_shared::message::{Channel, MessageItem, OutboundMessage};
use sauda_shared::plan::{Cond, Op, Update, WritePlan};
use sauda_shared::stats::{metric, CounterDelta, FirstOf};
use serde::Serialize;

/// What a job decided and what came of it.
pub struct Outcome<'a> {
    /// As decided (before sending).
    pub state: ReplyState,
    pub reply: Option<&'a Reply>,
    pub delivered: Delivered,
}

impl Outcome<'_> {
    /// The state stored: the decided one, unless the reply could not be sent.
    pub fn state(&self) -> ReplyState {
        self.delivered.not_sent.unwrap_or(self.state)
    }
}

/// The stored reply: the outbound message with what it cost and did.
#[derive(Serialize)]
struct ReplyItem {
    #[serde(flatten)]
    message: MessageItem,
    reply_kind: &'static str,
    language: String,
    latency_ms: u64,
    prompt_tokens: i64,
    completion_tokens: i64,
    cost_micros: i64,
    llm_calls: u32,
    platform_message_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fallback_reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<String>,
}

fn channel_name(channel: Channel) -> &'static str {
    // The serde names `ContactProfile::channel` reads.
    match channel {
        Channel::Telegram => "telegram",
        Channel::Whatsapp => "whatsapp",
    }
}

/// The profile attributes the agent owns: who the customer is, when they last wrote,
/// the rate window, the lead sweep's index keys (with purchase intent), a handoff.
pub fn profile_update(ctx: &Context, outcome: &Outcome) -> Update {
    let m = &ctx.message;
    let ts = m.timestamp_ms;
    let profile = ctx.conv.profile.as_ref();
    let last_inbound = profile
        .and_then(|p| p.last_inbound_ms)
        .unwrap_or(ts)
        .max(ts);
    let mut u = Update::new(ContactProfile::key(&m.tenant, &m.contact))
        .set("contact", &m.contact)
        .set("channel", channel_name(m.channel))
        .set("reply_to", &m.reply_to)
        .set("last_inbound_ms", last_inbound)
        .set(
            "language",
            outcome
                .reply
                .and_then(|r| r.language)
                .map_or(ctx.language.as_str(), |l| l.code()),
        )
        .set("rl_window", ctx.rate.window)
        .set("rl_count", ctx.rate.count)
        .set("rl_prev", ctx.rate.previous)
        .set_if_absent("first_seen_ms", ts)
        .set_opt("display_name", m.display_name.as_ref());
    let no_lead = profile.and_then(|p| p.lead_created_ms).is_none();
    let intent_now = m.text.as_deref().is_some_and(prompt::shows_intent);
    if no_lead && intent_now {
        u = u.set("intent_at_ms", ts);
    }
    if no_lead && (intent_now || profile.and_then(|p| p.intent_at_ms).is_some()) {
        u = u
            .set("GSI1PK", contact::intent_gsi(&m.tenant))
            .set("GSI1SK", contact::intent_gsi_sk(last_inbound, &m.contact));
    }
    if outcome.state == ReplyState::RateLimitNotice {
        u = u.set("rl_notice_window", ctx.rate.window);
    }
    if let Some(reason) = outcome.reply.and_then(|r| r.handoff.as_ref()) {
        u = u
            .set("agent_paused", true)
            .set("agent_paused_reason", reason)
            .set("agent_paused_at_ms", ctx.now_ms);
    }
    if let Some(chosen) = outcome.reply.and_then(|r| r.language) {
        u = u.set("language_chosen", chosen.code());
    }
    if let Some(sent) = &outcome.delivered.sent {
        u = u.set("last_reply_ms", sent.sent_ms);
    }
    u
}

/// The month this message's conversation is first counted in, when it was not yet:
/// the tenant-local month of the job, the period the plan's warnings read.
pub fn new_conversation(ctx: &Context) -> Option<String> {
    let month = limits::month_of(&ctx.config, ctx.now_ms);
    let counted = ctx
        .conv
        .profile
        .as_ref()
        .and_then(|p| p.usage_month.as_deref());
    (counted != Some(month.as_str())).then_some(month)
}

/// The job's one transaction. `now_ms` makes the request token unique per attempt, so
/// the SDK's own retries are idempotent and a later attempt never collides.
pub fn plan(ctx: &Context, outcome: &Outcome, now_ms: i64) -> WritePlan<AlreadyHandled> {
    let m = &ctx.message;
    let mut plan = WritePlan::new();
    let mut reply_sk = None;
    if let (Some(reply), Some(sent)) = (outcome.reply, &outcome.delivered.sent) {
        let outbound = OutboundMessage {
            tenant: m.tenant.clone(),
            channel: m.channel,
            contact: m.contact.clone(),
            platform_message_id: sent.ids.first().cloned().unwrap_or_default(),
            timestamp_ms: sent.sent_ms,
            text: reply.text.clone(),
            in_reply_to: Some(m.platform_message_id.clone()),
        };
        let message = MessageItem::outbound(&outbound, now_ms);
        reply_sk = Some(message.sk.clone());
        let pointer = (m.channel == Channel::Whatsapp).then(|| {
            // The shape `aws::DynamoMessageStore::put_outbound` writes: statuses find it.
            let (pk, sk) = keys::outbound_pointer(&m.tenant, &outbound.platform_message_id);
            serde_json::json!({"PK": pk, "SK": sk, "message_pk": message.pk, "message_sk": message.sk})
        });
        plan.put(
            ReplyItem {
                message,
                reply_kind: reply.kind.as_str(),
                language: ctx.language.clone(),
                latency_ms: sent.latency_ms,
                prompt_tokens: reply.usage.prompt_tokens,
                completion_tokens: reply.usage.completion_tokens,
                cost_micros: reply.cost_micros,
                llm_calls: reply.calls,
                platform_message_ids: sent.ids.clone(),
                model: reply.model.clone(),
                fallback_reason: reply.fallback_reason.map(|r| r.as_str()),
                tools: reply.tools.clone(),
            },
            Some(Cond::item_absent()),
        );
        if let Some(pointer) = pointer {
            plan.put(pointer, Some(Cond::item_absent()));
        }
    }
    let inbound = Update::new((m.pk(), ctx.inbound_sk.clone()))
        .set("reply_state", outcome.state().as_str())
        .set("reply_at_ms", now_ms)
        .set_opt("reply_sk", reply_sk.as_ref())
        .when(Cond::item_exists().and(Cond::absent("reply_state")));
    plan.push_or(Op::Update(inbound), AlreadyHandled);
    let mut profile = profile_update(ctx, outcome);
    let month = new_conversation(ctx);
    if let Some(month) = &month {
        // The guard makes the count exact: a concurrent job that counted the month
        // first cancels this transaction, and its retry sees the month counted.
        profile = profile
            .set("usage_month", month.as_str())
            .when(Cond::absent("usage_month").or(Cond::ne("usage_month", month.as_str())));
    }
    plan.update(profile);
    plan.update(super::index::row(ctx, outcome));
    if let Some(count) =
        month.and_then(|month| limits::count(&m.tenant, &month, Metric::ConversationsPerMonth, 1))
    {
        plan.update(count);
    }
    plan.token = Some({
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!(
            "{}|{}|{now_ms}",
            ctx.inbound_sk,
            reply_sk.as_deref().unwrap_or("")
        ));
        hex::encode(&digest[..18])
    });
    plan
}

/// The job's counters, once its outcome is stored (so a redelivery never counts twice).
pub fn count(ctx: &Context, outcome: &Outcome, d: &mut CounterDelta) {
    let ts = ctx.message.timestamp_ms;
    let profile = ctx.conv.profile.as_ref();
    d.add(metric::MESSAGES_IN, 1);
    if profile.and_then(|p| p.first_seen_ms).is_none() {
        d.add(metric::CONTACTS_NEW, 1);
    }
    FirstOf::between(
        &ctx.config.timezone,
        ctx.conv.previous_inbound_ms(&ctx.inbound_sk, ts),
        ts,
    )
    .count(
        d,
        metric::CONVERSATIONS_DAY,
        metric::CONVERSATIONS_WEEK,
        metric::CONVERSATIONS_MONTH,
    );
    match outcome.state() {
        ReplyState::Replied => {
            sauda_shared::metrics::emit(sauda_shared::metrics::Metric::MessagesAnswered, 1);
            d.add(metric::REPLIES_LLM, 1);
        }
        ReplyState::Fallback => {
            sauda_shared::metrics::emit(sauda_shared::metrics::Metric::MessagesFallenBack, 1);
            d.add(metric::REPLIES_FALLBACK, 1);
            if let Some(reason) = outcome.reply.and_then(|r| r.fallback_reason) {
                d.add(&metric::fallback_reason(reason.as_str()), 1);
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
        ReplyState::Command => {
            d.add(metric::REPLIES_COMMAND, 1);
        }
    }
    if let Some(sent) = &outcome.delivered.sent {
        d.add(metric::MESSAGES_OUT, 1);
        d.add(&metric::latency_bucket(sent.latency_ms), 1);
    }
    if outcome.reply.is_some_and(|r| r.handoff.is_some()) {
        d.add(metric::HANDOFFS, 1);
    }
}

/// Model usage, recorded as soon as the turn is over: it was spent whatever happens next.
pub fn spend(usage: &UsageTracker, batch: &BatchState, ctx: &Context, reply: &Reply) {
    if reply.calls == 0 {
        return;
    }
    let tenant = &ctx.message.tenant;
    usage.record(
        tenant,
        &month_of(&ctx.config, ctx.now_ms),
        Tally {
            prompt_tokens: reply.usage.prompt_tokens,
            completion_tokens: reply.usage.completion_tokens,
            cost_micros: reply.cost_micros,
            calls: i64::from(reply.calls),
        },
    );
    batch.count(tenant, &ctx.day, |d| {
        d.add(metric::AI_CALLS, i64::from(reply.calls))
            .add(metric::AI_PROMPT_TOKENS, reply.usage.prompt_tokens)
            .add(metric::AI_COMPLETION_TOKENS, reply.usage.completion_tokens)
            .add(metric::AI_COST_MICROS, reply.cost_micros);
    });
}

pub async fn record(
    store: &dyn ConversationStore,
    watch: &limits::Watch<'_>,
    batch: &BatchState,
    ctx: &Context,
    outcome: Outcome<'_>,
) -> Result<(), JobError> {
    let counted = new_conversation(ctx).is_some();
    let written = store
        .commit(&plan(ctx, &outcome, sauda_shared::now_ms()))
        .await
        .map_err(|e| transient("store", e))?;
    let (tenant, who) = (&ctx.message.tenant, ctx.who());
    if written == WriteOutcome::AlreadyHandled {
        tracing::warn!(%tenant, contact = %who, "another delivery handled this message concurrently");
        return Ok(());
    }
    batch.count(tenant, &ctx.day, |d| count(ctx, &outcome, d));
    let latency_ms = outcome.delivered.sent.as_ref().map(|s| s.latency_ms);
    tracing::info!(%tenant, contact = %who, state = outcome.state().as_str(), latency_ms, "inbound message handled");
    if counted {
        // A soft limit: the customer was answered; managers hear of 80 % and 100 %.
        limits::after_consumption(
            watch,
            &ctx.config,
            Metric::ConversationsPerMonth,
            ctx.now_ms,
        )
        .await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::compose;
    use crate::reply::deliver::SentReply;
    use crate::testing;
    use sauda_shared::i18n::Lang;
    use sauda_shared::plan::{SetValue, Val};

    fn sets(u: &Update, attr: &str) -> Option<Val> {
        u.set.iter().find(|(a, _)| a == attr).map(|(_, v)| match v {
            SetValue::Always(v) | SetValue::IfAbsent(v) => v.clone(),
        })
    }

    fn sent() -> Delivered {
        Delivered {
            sent: Some(SentReply {
                ids: vec!["wamid.OUT".into()],
                sent_ms: testing::NOW,
                latency_ms: 900,
            }),
            not_sent: None,
        }
    }

    #[test]
    fn a_sent_whatsapp_reply_is_one_transaction_guarded_by_the_inbound_message() {
        let ctx = testing::whatsapp_ctx(testing::TS);
        let reply = compose::rate_limit_notice(Lang::Ru);
        let outcome = Outcome {
            state: ReplyState::RateLimitNotice,
            reply: Some(&reply),
            delivered: sent(),
        };
        let plan = plan(&ctx, &outcome, testing::NOW);
        assert_eq!(
            plan.len(),
            6,
            "reply, pointer, inbound, profile, inbox row, the month's new conversation"
        );
        assert!(plan.token.is_some());
        let guarded: Vec<bool> = plan.steps.iter().map(|s| s.on_fail.is_some()).collect();
        assert_eq!(
            guarded,
            [false, false, true, false, false, false],
            "only the inbound guard answers"
        );
        let Op::Update(inbound) = &plan.steps[2].op else {
            panic!()
        };
        assert_eq!(
            sets(inbound, "reply_state"),
            Some(Val::from("rate_limit_notice"))
        );
        let Op::Update(profile) = &plan.steps[3].op else {
            panic!()
        };
        assert_eq!(
            profile.key,
            ContactProfile::key(&testing::tenant(), "wa-77011234567")
        );
        assert_eq!(
            sets(profile, "rl_notice_window"),
            Some(Val::N(ctx.rate.window))
        );
        assert_eq!(sets(profile, "last_reply_ms"), Some(Val::N(testing::NOW)));
        assert_eq!(sets(profile, "channel"), Some(Val::from("whatsapp")));
    }

    #[test]
    fn an_unsent_reply_stores_why_and_counts_as_not_sent() {
        let ctx = testing::ctx(|_| {}, |_| {});
        let reply = compose::rate_limit_notice(Lang::Ru);
        let outcome = Outcome {
            state: ReplyState::RateLimitNotice,
            reply: Some(&reply),
            delivered: Delivered {
                sent: None,
                not_sent: Some(ReplyState::Undeliverable),
            },
        };
        let plan = plan(&ctx, &outcome, testing::NOW);
        assert_eq!(
            plan.len(),
            4,
            "inbound, profile, the inbox row and the month's new conversation only"
        );
        let mut d = CounterDelta::default();
        count(&ctx, &outcome, &mut d);
        assert_eq!(d.metrics.get(metric::REPLIES_NOT_SENT), Some(&1));
        assert_eq!(d.metrics.get(metric::MESSAGES_OUT), None);
        assert_eq!(d.metrics.get(metric::CONTACTS_NEW), Some(&1));
        // A price question without a lead: the sweep's index keys.
        let Op::Update(profile) = &plan.steps[1].op else {
            panic!()
        };
        assert_eq!(sets(profile, "GSI1PK"), Some(Val::from("T#acme#INTENT")));
    }

    #[test]
    fn a_conversation_counts_once_a_month_guarded_by_the_profile() {
        let mut ctx = testing::ctx(|_| {}, |_| {});
        let month = limits::month_of(&ctx.config, ctx.now_ms);
        let reply = compose::rate_limit_notice(Lang::Ru);
        let outcome = Outcome {
            state: ReplyState::RateLimitNotice,
            reply: Some(&reply),
            delivered: Delivered::default(),
        };
        // Last counted in an earlier month: counted again, the profile guarded by it.
        testing::profile(&mut ctx.conv).usage_month = Some("2020-01".into());
        assert_eq!(new_conversation(&ctx), Some(month.clone()));
        let counted = plan(&ctx, &outcome, testing::NOW);
        let Op::Update(profile) = &counted.steps[1].op else {
            panic!()
        };
        assert_eq!(
            sets(profile, "usage_month"),
            Some(Val::from(month.as_str()))
        );
        assert_eq!(
            profile.cond,
            Some(Cond::absent("usage_month").or(Cond::ne("usage_month", month.as_str())))
        );
        let Op::Update(count) = &counted.steps[3].op else {
            panic!()
        };
        assert_eq!(
            count.key,
            limits::usage_key(&testing::tenant(), &month),
            "the month's plan usage, next to the AI spend"
        );
        assert_eq!(count.add, vec![("conversations".to_owned(), Val::N(1))]);
        // Already counted this month: no count, no guard, one write fewer.
        testing::profile(&mut ctx.conv).usage_month = Some(month);
        assert_eq!(new_conversation(&ctx), None);
        let again = plan(&ctx, &outcome, testing::NOW);
        assert_eq!(again.len(), counted.len() - 1);
        let Op::Update(profile) = &again.steps[1].op else {
            panic!()
        };
        assert_eq!(profile.cond, None);
        assert_eq!(sets(profile, "usage_month"), None);
    }
}
