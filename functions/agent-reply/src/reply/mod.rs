//! One inbound message, start to finish, as five stages with narrow inputs and outputs:
//!
//! 1. [`load`]: the tenant and the conversation (one Query: profile + last 20 messages);
//! 2. [`decide`]: redelivery, disabled, paused, WhatsApp window, superseded, rate
//!    limit; for an answer, the budget and which model (and key) may be used;
//! 3. [`compose`]: the model with tools, or the retrieval fallback;
//! 4. [`deliver`]: notices to managers, then the reply on the customer's channel;
//! 5. [`record`]: one transaction (reply, inbound `reply_state`, profile), then the
//!    batch's counters and AI usage.
//!
//! Idempotency: the outcome is stored on the inbound message (`reply_state`) in the
//! same transaction as the reply, conditionally, so a redelivered job reads it in the
//! history it already fetched and stops. The crash window is between the channel send
//! and that transaction (tens of milliseconds): a crash exactly there makes the retry
//! answer again. We accept that at-least-once window rather than pay an extra "claim"
//! write on every reply; tool side effects are idempotent anyway (the lead's
//! idempotency key and the notices' ids derive from the inbound message).

pub mod commands;
pub mod compose;
pub mod decide;
pub mod deliver;
pub mod index;
pub mod load;
pub mod nps;
pub mod partner_chat;
pub mod record;
pub mod shop;

use crate::catalog::CatalogIndex;
use crate::Deps;
use decide::Action;
use deliver::Outgoing;
use sauda_shared::envelope::{Envelope, Job};
use sauda_shared::message::InboundMessage;
use sauda_shared::redact;
use sauda_shared::stats::{CounterBatch, CounterDelta};
use sauda_shared::tenant::TenantConfig;
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

pub(crate) fn transient(what: &str, e: impl std::fmt::Display) -> JobError {
    JobError::Transient(format!("{what}: {e}"))
}

/// Shared by the jobs of one batch.
pub struct BatchState {
    pub counters: Mutex<CounterBatch>,
    /// When the invocation must have returned; `None` without a Lambda deadline.
    pub deadline: Option<Instant>,
}

impl BatchState {
    pub fn new(deadline: Option<Instant>) -> Self {
        Self {
            counters: Mutex::new(CounterBatch::default()),
            deadline,
        }
    }

    pub(crate) fn count(
        &self,
        tenant: &sauda_shared::TenantId,
        day: &str,
        f: impl FnOnce(&mut CounterDelta),
    ) {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        f(counters.day(tenant, day));
    }

    /// When the model must have answered: the turn's budget, and never later than
    /// [`MIN_JOB_TIME`] before the invocation ends.
    pub fn model_deadline(&self, turn_budget: Duration) -> Instant {
        let turn = Instant::now() + turn_budget;
        match self.deadline {
            Some(invocation) => {
                turn.min(invocation.checked_sub(MIN_JOB_TIME).unwrap_or(invocation))
            }
            None => turn,
        }
    }
}

/// Time a job needs at least, so that it never starts just before the invocation ends.
pub const MIN_JOB_TIME: Duration = Duration::from_secs(3);

pub async fn handle_body(deps: &Deps, body: &str, batch: &BatchState) -> Result<(), JobError> {
    let envelope = Envelope::from_json(body).map_err(|e| JobError::Poison(e.to_string()))?;
    let message = match envelope.job {
        Job::InboundMessage { message } => message,
        Job::NpsDue { due } => return nps_due(deps, &due).await,
        _ => {
            return Err(JobError::Poison(format!(
                "inbound queue got a {} job",
                envelope.kind()
            )))
        }
    };
    if let Some(deadline) = batch.deadline {
        if deadline.saturating_duration_since(Instant::now()) < MIN_JOB_TIME {
            return Err(JobError::Transient(
                "too little time left in this invocation".into(),
            ));
        }
    }
    process(deps, message, batch).await
}

/// A purchase's survey: sent inside the tenant's window; outside it the job comes back
/// when the window opens (at most SQS's 12 hours later, then again if still early).
async fn nps_due(deps: &Deps, due: &sauda_shared::nps::NpsDue) -> Result<(), JobError> {
    let Some(config) = deps
        .tenants
        .tenant(&due.tenant)
        .await
        .map_err(|e| transient("tenant", e))?
    else {
        warn!(tenant = %due.tenant, "NPS survey of an unknown tenant dropped");
        return Ok(());
    };
    match nps::due(&deps.partner_chat_ports(), &config, due).await? {
        nps::Survey::Deferred(wait) => Err(JobError::RetryAfter(
            wait,
            "NPS survey waits for the tenant's window".into(),
        )),
        nps::Survey::Sent | nps::Survey::Skipped => Ok(()),
    }
}

/// The pipeline: load → decide → compose → deliver → record.
pub async fn process(
    deps: &Deps,
    message: InboundMessage,
    batch: &BatchState,
) -> Result<(), JobError> {
    let now = sauda_shared::now_ms();
    let Some(ctx) = load::load(deps.tenants.as_ref(), deps.store.as_ref(), message, now).await?
    else {
        return Ok(());
    };
    let verdict = decide::decide(&deps.decide_ports(), &ctx).await?;
    let mut out = Outgoing {
        notices: verdict.notices,
        once: verdict.once,
        reply: None,
    };
    let state = match verdict.action {
        Action::Handled(state) => {
            info!(tenant = %ctx.message.tenant, contact = %ctx.who(), state, "inbound message already handled; skipped");
            return Ok(());
        }
        Action::Silent(state) => state,
        Action::RateLimitNotice => {
            out.reply = Some(compose::rate_limit_notice(ctx.lang));
            crate::conversation::ReplyState::RateLimitNotice
        }
        Action::Answer(_)
            if partner_chat::asked(&ctx).is_some() || commands::asked(&ctx).is_some() =>
        {
            // Commands and buttons never reach the model, with or without one: partners,
            // admins and NPS answers first, then the customer's commands.
            let reply = match partner_chat::answer(&deps.partner_chat_ports(), &ctx).await? {
                Some(reply) => Some(reply),
                None => {
                    let catalog = match commands::asked(&ctx) {
                        Some(asked) if asked.needs_catalog() => {
                            load_catalog(deps, &ctx.config).await
                        }
                        _ => None,
                    };
                    commands::answer(&deps.commands_ports(), &ctx, catalog.as_deref()).await?
                }
            }
            .ok_or_else(|| JobError::Transient("command without an answer".into()))?;
            let state = reply.state();
            out.reply = Some(reply);
            state
        }
        Action::Answer(route) => {
            let catalog = load_catalog(deps, &ctx.config).await;
            let composed = compose::compose(
                &deps.compose_ports(),
                compose::Input {
                    ctx: &ctx,
                    route,
                    catalog: catalog.as_deref(),
                    deadline: batch.model_deadline(deps.settings.llm_turn_budget),
                },
            )
            .await?;
            // Spent whatever happens next, so recorded now.
            record::spend(&deps.usage, batch, &ctx, &composed.reply);
            out.once.extend(composed.once);
            let state = composed.reply.state();
            out.reply = Some(composed.reply);
            state
        }
    };
    let delivered = deliver::deliver(&deps.deliver_ports(), &ctx, &out).await?;
    let outcome = record::Outcome {
        state,
        reply: out.reply.as_ref(),
        delivered,
    };
    record::record(
        deps.store.as_ref(),
        &deps.plan_watch(),
        batch,
        &ctx,
        outcome,
    )
    .await
}

/// The tenant's active catalog; a catalog that cannot be loaded is logged and the
/// reply goes out without it rather than leave the customer waiting.
async fn load_catalog(deps: &Deps, config: &TenantConfig) -> Option<Arc<CatalogIndex>> {
    let version = config.catalog.active_version.as_deref()?;
    let cache = deps.catalogs.as_ref()?;
    match cache.get(&config.tenant, version).await {
        Ok(index) => Some(index),
        Err(e) => {
            warn!(tenant = %config.tenant, version, error = %e, "catalog unavailable; answering without it");
            None
        }
    }
}

impl load::Context {
    /// The customer as logs may name them: a keyed digest, never the number.
    pub fn who(&self) -> redact::Contact<'_> {
        redact::Contact(&self.message.tenant, &self.message.contact)
    }
}
