//! agent-reply: the AI consultant that answers customers on Telegram and WhatsApp.
//!
//! Consumes `inbound.fifo`. Per message: one Query reads the contact's profile and last
//! 20 messages (idempotency, rate limit, context); the tenant's catalog index (S3,
//! cached per warm instance) supplies matching items; an OpenAI-compatible model with
//! tools writes the answer, or a templated fallback when no model is configured, the
//! model fails or the monthly budget is spent; the reply goes out on the customer's
//! channel; one transaction stores it with the inbound message's reply state and the
//! profile. Counters and AI usage are written once per batch.
//!
//! The turn is a pipeline of stages (`reply::{load, decide, compose, deliver,
//! record}`) over ports (`store`, `llm::ChatModel`, `reply::deliver::Outbox`);
//! `dynamo` holds the DynamoDB adapters.

pub mod agent;
pub mod catalog;
pub mod config;
pub mod conversation;
pub mod dynamo;
pub mod llm;
pub mod notices;
pub mod prompt;
pub mod reply;
pub mod store;
pub mod usage;

#[cfg(test)]
mod testing;

pub use config::AgentConfig;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use reply::decide::PlatformModel;
use reply::deliver::Channels;
use sauda_shared::aws::{AwsClients, DynamoTenantDirectory, SecretsManagerSource, SqsQueue};
use sauda_shared::consumer::{self, JobFailure, Ordering, QueueControl};
use sauda_shared::ports::{MessageQueue, SecretSource, TenantDirectory};
use sauda_shared::stats::{CounterSink, DynamoCounters};
use sauda_shared::telegram_api::TelegramApi;
use sauda_shared::tenant::ModelPrice;
use sauda_shared::whatsapp_api::WhatsappApi;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::warn;

/// Platform defaults and limits.
#[derive(Clone, Debug)]
pub struct Settings {
    pub platform_model: PlatformModel,
    pub prices: BTreeMap<String, ModelPrice>,
    pub llm_turn_budget: Duration,
    /// How long one send may wait out a channel's rate limit before failing the job.
    pub max_channel_wait: Duration,
}

/// Everything a job needs, built once per process in `main`: ports, and the adapters
/// behind them.
pub struct Deps {
    pub tenants: Arc<dyn TenantDirectory>,
    pub secrets: Arc<dyn SecretSource>,
    pub store: Arc<dyn store::ConversationStore>,
    pub usage: usage::UsageTracker,
    /// The month's plan usage (conversations), for the plan's warnings.
    pub plan_usage: Arc<dyn sauda_shared::limits::UsageStore>,
    /// The platform operator's chat, told when a tenant passes a soft limit.
    pub operator_chat_id: Option<i64>,
    pub counters: Arc<dyn CounterSink>,
    pub leads: Arc<dyn MessageQueue>,
    pub notify: Arc<dyn MessageQueue>,
    /// The payments queue (`create_order`); `None` without one.
    pub orders: Option<Arc<dyn MessageQueue>>,
    pub queue: Arc<dyn QueueControl>,
    /// `inbound.fifo` itself: NPS surveys due later wait there as `NpsDue` jobs.
    pub inbound: Option<Arc<dyn sauda_shared::ports::JobQueue>>,
    /// `None` without a bucket: the agent answers without a catalog.
    pub catalogs: Option<Arc<catalog::CatalogCache>>,
    pub outbox: Arc<dyn reply::deliver::Outbox>,
    /// The loyalty ledger (commands: join, balance, referral link).
    pub ledger: Option<Arc<dyn loyalty::LoyaltyStore>>,
    /// The customer's orders ("my orders", an order's deep link, a repeated Buy).
    pub order_reads: Option<Arc<dyn sauda_shared::order_reads::OrderReads>>,
    pub llm: llm::LlmClient,
    pub settings: Settings,
}

impl Deps {
    pub fn from_aws(clients: &AwsClients, config: &AgentConfig) -> Self {
        let table = &config.core.table_name;
        let retry = llm::RetryPolicy {
            attempt_timeout: config.llm_attempt_timeout,
            ..Default::default()
        };
        let secrets: Arc<dyn SecretSource> = Arc::new(SecretsManagerSource::new(
            clients.secrets.clone(),
            &config.core.stage,
        ));
        Self {
            tenants: Arc::new(DynamoTenantDirectory::new(clients.dynamo.clone(), table)),
            secrets: secrets.clone(),
            store: Arc::new(dynamo::DynamoConversations::new(
                clients.dynamo.clone(),
                table,
            )),
            usage: usage::UsageTracker::new(Arc::new(dynamo::DynamoUsage::new(
                clients.dynamo.clone(),
                table,
            ))),
            plan_usage: Arc::new(sauda_shared::limits_dynamo::DynamoUsage::new(
                clients.dynamo.clone(),
                table,
            )),
            operator_chat_id: config.operator_chat_id,
            counters: Arc::new(DynamoCounters::new(clients.dynamo.clone(), table)),
            leads: Arc::new(SqsQueue::new(clients.sqs.clone(), &config.leads_queue_url)),
            notify: Arc::new(SqsQueue::new(clients.sqs.clone(), &config.notify_queue_url)),
            orders: config.payments_queue_url.as_ref().map(|url| {
                Arc::new(SqsQueue::new(clients.sqs.clone(), url)) as Arc<dyn MessageQueue>
            }),
            queue: Arc::new(sauda_shared::aws::SqsQueueControl::new(clients.sqs.clone())),
            inbound: Some(Arc::new(sauda_shared::aws::SqsJobQueue::new(
                clients.sqs.clone(),
                &config.inbound_queue_url,
            ))),
            catalogs: config.bucket.as_ref().map(|bucket| {
                Arc::new(catalog::CatalogCache::new(
                    catalog::CatalogStore::new(clients.s3.clone(), bucket),
                    config.catalog_cache_bytes,
                ))
            }),
            outbox: Arc::new(Channels {
                telegram: TelegramApi::new(&config.telegram_api_base),
                whatsapp: WhatsappApi::new(&config.whatsapp_api_base),
                secrets,
            }),
            ledger: Some(Arc::new(loyalty::DynamoStore::new(
                clients.dynamo.clone(),
                table,
            ))),
            order_reads: Some(Arc::new(sauda_shared::order_reads::DynamoOrderReads::new(
                clients.dynamo.clone(),
                table,
            ))),
            llm: llm::LlmClient::new(retry, config.url_policy),
            settings: Settings {
                platform_model: PlatformModel {
                    base_url: config.llm_base_url.clone(),
                    model: config.llm_model.clone(),
                },
                prices: config.llm_prices.clone(),
                llm_turn_budget: config.llm_turn_budget,
                max_channel_wait: Duration::from_secs(5),
            },
        }
    }

    /// Where plan warnings of the agent go.
    pub fn plan_watch(&self) -> sauda_shared::limits::Watch<'_> {
        sauda_shared::limits::Watch {
            usage: self.plan_usage.as_ref(),
            notify: self.notify.as_ref(),
            operator_chat: self.operator_chat_id,
        }
    }

    fn decide_ports(&self) -> reply::decide::Ports<'_> {
        reply::decide::Ports {
            usage: &self.usage,
            secrets: self.secrets.as_ref(),
            platform: &self.settings.platform_model,
        }
    }

    fn tool_ports(&self) -> agent::ToolPorts<'_> {
        agent::ToolPorts {
            leads: self.leads.as_ref(),
            notify: self.notify.as_ref(),
            store: self.store.as_ref(),
            orders: self.orders.as_deref(),
        }
    }

    fn commands_ports(&self) -> reply::commands::Ports<'_> {
        reply::commands::Ports {
            ledger: self.ledger.as_deref(),
            tools: self.tool_ports(),
            shop: reply::shop::Ports {
                orders: self.order_reads.as_deref(),
                payments: self.orders.as_deref(),
            },
        }
    }

    fn partner_chat_ports(&self) -> reply::partner_chat::Ports<'_> {
        reply::partner_chat::Ports {
            ledger: self.ledger.as_deref(),
            outbox: self.outbox.as_ref(),
            notify: self.notify.as_ref(),
            inbound: self.inbound.as_deref(),
            max_wait: self.settings.max_channel_wait,
        }
    }

    fn compose_ports(&self) -> reply::compose::Ports<'_> {
        reply::compose::Ports {
            model: &self.llm,
            tools: self.tool_ports(),
            prices: &self.settings.prices,
        }
    }

    fn deliver_ports(&self) -> reply::deliver::Ports<'_> {
        reply::deliver::Ports {
            outbox: self.outbox.as_ref(),
            notify: self.notify.as_ref(),
            usage: &self.usage,
            max_wait: self.settings.max_channel_wait,
        }
    }
}

/// The invocation's deadline as an `Instant`. Lambda sends epoch milliseconds in the
/// future; a value already in the past is not a real deadline (`cargo lambda watch` sends
/// the timeout's length, 600000), so it is ignored rather than failing every job.
fn invocation_deadline(deadline_ms: u64, now_ms: i64) -> Option<Instant> {
    let left = i64::try_from(deadline_ms).unwrap_or(i64::MAX) - now_ms;
    (left > 0).then(|| Instant::now() + Duration::from_millis(left as u64))
}

/// Handles a batch. Conversations (FIFO message groups) run concurrently; within one,
/// messages run in order and the first failure fails it and every later message of
/// that conversation, so their order survives the retry. Counters and AI usage are
/// written once for the whole batch.
pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let deadline = invocation_deadline(event.context.deadline, sauda_shared::now_ms());
    let state = reply::BatchState::new(deadline);
    let response = consumer::process(
        deps.queue.as_ref(),
        event.payload.records,
        Ordering::Fifo,
        |record| handle_record(deps, record, &state),
    )
    .await;
    let counters = state
        .counters
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    if let Err(e) = deps
        .counters
        .flush(&counters, sauda_shared::now_ms() as u64)
        .await
    {
        // Counters are reporting aids; a lost increment must not resend replies.
        warn!(error = %e, "reply counters not written");
    }
    if let Err(e) = deps.usage.flush().await {
        warn!(error = %e, "AI usage not written; kept for the next batch");
    }
    Ok(response)
}

async fn handle_record(
    deps: &Deps,
    record: SqsMessage,
    state: &reply::BatchState,
) -> Result<(), JobFailure> {
    let body = record.body.as_deref().unwrap_or_default();
    match reply::handle_body(deps, body, state).await {
        Ok(()) => Ok(()),
        Err(reply::JobError::Poison(e)) => Err(JobFailure::Poison(e)),
        Err(reply::JobError::Transient(e)) => Err(JobFailure::Transient(e)),
        Err(reply::JobError::RetryAfter(wait, e)) => Err(JobFailure::RetryAfter(wait, e)),
    }
}

#[cfg(test)]
mod deadline_tests {
    use super::invocation_deadline;
    use std::time::{Duration, Instant};

    #[test]
    fn only_future_epoch_deadlines_count() {
        let now = 1_795_604_460_000;
        let soon = invocation_deadline(1_795_604_470_000, now).expect("10 s left");
        let left = soon.saturating_duration_since(Instant::now());
        assert!(left > Duration::from_secs(9) && left <= Duration::from_secs(10));
        assert!(invocation_deadline(0, now).is_none());
        assert!(
            invocation_deadline(600_000, now).is_none(),
            "a duration, not an instant"
        );
    }
}
