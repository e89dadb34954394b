//! The consumer of the `notify` queue: each record to its job (a notice, a customer
//! message, a manager's update, a failed delivery); a notice to every recipient that
//! does not have it yet, with failed chats retried after a growing delay. A notice to
//! a conversation's thread becomes a card: the latest messages, and a record of which
//! Telegram message it is, so that a manager's reply to it finds the conversation.

use crate::cards;
use crate::store::DeliveryState;
use crate::Deps;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use sauda_shared::consumer::{self, JobFailure, Ordering};
use sauda_shared::envelope::{Envelope, Job};
use sauda_shared::inbox::{self, CardItem};
use sauda_shared::notify::{Notice, Recipients};
use sauda_shared::retry::Backoff;
use sauda_shared::stats::{self, metric, CounterBatch};
use sauda_shared::telegram_api::Extras;
use sauda_shared::telegram_api::{Format, TelegramError};
use std::sync::Mutex;
use std::time::Duration;
use tracing::{info, warn};

/// The kind of the notice that forwards a customer's message while the agent is paused
/// (agent-reply's `paused`): its card carries that one message, not the history.
pub const FORWARD_KIND: &str = "paused";

/// Delay before the next delivery after a failed one: 1 min, 4 min, 16 min, then
/// 1 h, so a Telegram outage is waited out within the queue's five receives.
pub const REDELIVERY: Backoff =
    Backoff::new(Duration::from_secs(60), 4, Duration::from_secs(3600)).exact();

pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let counters = Mutex::new(CounterBatch::default());
    let response = consumer::process(
        deps.queue.as_ref(),
        event.payload.records,
        Ordering::Standard,
        |record| deliver_record(deps, record, &counters),
    )
    .await;
    let counters = counters.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Err(e) = deps
        .counters
        .flush(&counters, sauda_shared::now_ms() as u64)
        .await
    {
        // Counters are reporting aids; a lost increment must not resend notices.
        warn!(error = %e, "notice counters not written");
    }
    Ok(response)
}

async fn deliver_record(
    deps: &Deps,
    record: SqsMessage,
    counters: &Mutex<CounterBatch>,
) -> Result<(), JobFailure> {
    let body = record.body.as_deref().unwrap_or_default();
    let envelope = Envelope::from_json(body).map_err(|e| JobFailure::Poison(e.to_string()))?;
    let kind = envelope.kind();
    let outcome = match envelope.job {
        Job::Notify { notice } => deliver(deps, &notice, counters).await,
        Job::CustomerMessage { message } => crate::customer::handle(deps, &message, counters).await,
        Job::ManagerUpdate { update } => crate::relay::handle(deps, &update, counters).await,
        Job::DeliveryFailed { status } => {
            crate::customer::delivery_failed(deps, &status, counters).await
        }
        _ => return Err(JobFailure::Poison(format!("notify queue got a {kind} job"))),
    };
    match outcome {
        Err(JobFailure::Transient(reason)) => Err(JobFailure::RetryAfter(
            REDELIVERY.delay(consumer::receive_count(&record)),
            reason,
        )),
        other => other,
    }
}

/// Sends one notice to every recipient that does not have it yet.
pub async fn deliver(
    deps: &Deps,
    notice: &Notice,
    counters: &Mutex<CounterBatch>,
) -> Result<(), JobFailure> {
    deliver_with(deps, notice, counters, &Extras::default()).await
}

/// [`deliver`], as a reply to a message of the chat or in a forum topic.
pub async fn deliver_with(
    deps: &Deps,
    notice: &Notice,
    counters: &Mutex<CounterBatch>,
    extras: &Extras,
) -> Result<(), JobFailure> {
    let tenant = &notice.tenant;
    let transient =
        |what: &str, e: &dyn std::fmt::Display| JobFailure::Transient(format!("{what}: {e}"));
    let Some(config) = deps
        .tenants
        .tenant(tenant)
        .await
        .map_err(|e| transient("tenant", &e))?
    else {
        warn!(%tenant, id = %notice.id, "notice for an unknown tenant dropped");
        return Ok(());
    };
    let managers = || {
        config
            .managers
            .iter()
            .map(|m| m.chat_id)
            .collect::<Vec<i64>>()
    };
    let mut thread = None;
    let chats: Vec<i64> = match &notice.to {
        Recipients::Managers => managers(),
        Recipients::Chats(chats) => chats.clone(),
        Recipients::Thread { contact } => {
            let (profile, messages) = deps
                .inbox
                .thread(tenant, contact, inbox::THREAD_MESSAGES)
                .await
                .map_err(|e| transient("thread", &e))?;
            // The assignee, while they are still one of the managers; else everyone.
            let assignee = profile
                .as_ref()
                .and_then(|p| p.assignee_chat_id)
                .filter(|chat| config.managers.iter().any(|m| m.chat_id == *chat));
            let history = notice.kind != FORWARD_KIND;
            thread = Some((
                contact.clone(),
                cards::thread_card(cards::lang(&config), &notice.html, &messages, history),
            ));
            assignee.map(|chat| vec![chat]).unwrap_or_else(managers)
        }
    };
    if chats.is_empty() {
        info!(%tenant, id = %notice.id, kind = %notice.kind, "notice has no recipients");
        return Ok(());
    }
    let done = deps
        .deliveries
        .finished(tenant, &notice.id)
        .await
        .map_err(|e| transient("delivery log", &e))?;
    let pending: Vec<i64> = chats.into_iter().filter(|c| !done.contains(c)).collect();
    if pending.is_empty() {
        return Ok(());
    }
    let secrets = deps
        .secrets
        .tenant_secrets(tenant)
        .await
        .map_err(|e| transient("secrets", &e))?;
    let Some(token) = secrets.as_ref().and_then(|s| s.telegram_bot_token.clone()) else {
        // Kept for redrive once the tenant configures its bot, rather than dropped.
        return Err(JobFailure::Transient(
            "tenant has no telegram_bot_token".into(),
        ));
    };

    let day = stats::local_day(&config.timezone, sauda_shared::now_ms());
    let mut failure = None;
    let html = thread
        .as_ref()
        .map(|(_, card)| card.as_str())
        .unwrap_or(&notice.html);
    let mut cards_of = Vec::new();
    for chat in pending {
        let sent = deps
            .telegram
            .send_text_with(
                &token,
                &chat.to_string(),
                html,
                Format::Html,
                deps.max_rate_limit_wait,
                extras,
            )
            .await;
        let (state, metric_name) = match sent {
            Ok(ids) => {
                if let Some((contact, _)) = &thread {
                    let now = sauda_shared::now_ms();
                    cards_of = ids
                        .iter()
                        .map(|id| {
                            CardItem::new(tenant, chat, i64::from(*id), contact, &notice.id, now)
                        })
                        .collect();
                }
                (DeliveryState::Sent, metric::NOTICES_SENT)
            }
            Err(partial) if partial.error.is_permanent() => {
                warn!(%tenant, id = %notice.id, chat, error = %partial.error, "recipient refused the notice for good");
                (DeliveryState::Undeliverable, metric::NOTICES_UNDELIVERABLE)
            }
            Err(partial) => {
                warn!(%tenant, id = %notice.id, chat, error = %partial.error, "notice not delivered; will retry");
                failure = Some(match partial.error {
                    TelegramError::RetryAfter(d) => format!("rate limited for {d:?}"),
                    other => other.to_string(),
                });
                continue;
            }
        };
        counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .day(tenant, &day)
            .add(metric_name, 1);
        let recorded = if cards_of.is_empty() {
            deps.deliveries
                .record(tenant, &notice.id, chat, state)
                .await
        } else {
            let cards = std::mem::take(&mut cards_of);
            deps.deliveries
                .record_card(tenant, &notice.id, chat, cards)
                .await
        };
        recorded.map_err(|e| transient("delivery log", &e))?;
    }
    match failure {
        None => {
            info!(%tenant, id = %notice.id, kind = %notice.kind, "notice delivered");
            Ok(())
        }
        Some(reason) => Err(JobFailure::Transient(reason)),
    }
}
