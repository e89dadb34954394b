//! The notifier: consumes the `notify` queue and sends each notice to its Telegram
//! chats, once per recipient.
//!
//! A delivery marker per (notice, chat) makes redeliveries skip chats already served;
//! a failed chat makes the record fail, and its visibility is pushed back with an
//! exponential backoff so a Telegram outage is waited out instead of burning the
//! queue's five receives in minutes. After those, the DLQ keeps the notice for redrive.
//!
//! It also sends customer messages (`outbox::CustomerMessage`: a manager's reply, an
//! order receipt, a template) on the customer's own channel, once per id, and handles
//! managers' messages in their Telegram chat with the bot (replies to thread cards).
//!
//! - `deliver`: the consumer (one record → its job), notices and thread cards;
//! - `customer`: customer messages, the WhatsApp window, stored with author and state;
//! - `relay`: a manager's reply, `/resume`, `/who` from Telegram;
//! - `cards`: what managers read (thread cards, `/who`, reasons in plain words);
//! - `store`: the ports; `dynamo`: their DynamoDB adapters;
//! - this file: configuration and wiring.

pub mod cards;
pub mod customer;
mod deliver;
mod dynamo;
pub mod relay;
mod store;

pub use deliver::{deliver, handle, FORWARD_KIND, REDELIVERY};
pub use dynamo::{DynamoDeliveryLog, DynamoInbox};
pub use store::{
    AlreadyRecorded, DeliveryLog, DeliveryState, Finished, InboxStore, LeadSummary, SentMessage,
};

use sauda_shared::aws::{AwsClients, DynamoTenantDirectory, SecretsManagerSource, SqsQueueControl};
use sauda_shared::config::{required, ConfigError, CoreConfig};
use sauda_shared::consumer::QueueControl;
use sauda_shared::ports::{SecretSource, TenantDirectory};
use sauda_shared::stats::{CounterSink, DynamoCounters};
use sauda_shared::telegram_api::TelegramApi;
use sauda_shared::whatsapp_api::WhatsappApi;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct NotifierConfig {
    pub core: CoreConfig,
    pub telegram_api_base: String,
    pub whatsapp_api_base: String,
}

impl NotifierConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            core: CoreConfig::from_env()?,
            telegram_api_base: required("TELEGRAM_API_BASE")?,
            whatsapp_api_base: required("WHATSAPP_API_BASE")?,
        })
    }
}

pub struct Deps {
    pub tenants: Arc<dyn TenantDirectory>,
    pub secrets: Arc<dyn SecretSource>,
    pub deliveries: Arc<dyn DeliveryLog>,
    pub inbox: Arc<dyn InboxStore>,
    pub queue: Arc<dyn QueueControl>,
    pub counters: Arc<dyn CounterSink>,
    pub telegram: TelegramApi,
    pub whatsapp: WhatsappApi,
    /// How long one send may wait out Telegram's `retry_after` before giving up for now.
    pub max_rate_limit_wait: Duration,
}

/// A failure a retry may fix.
pub(crate) fn transient(
    what: &str,
    e: impl std::fmt::Display,
) -> sauda_shared::consumer::JobFailure {
    sauda_shared::consumer::JobFailure::Transient(format!("{what}: {e}"))
}

impl Deps {
    /// The tenant's config; `None` for a tenant that no longer exists, whose jobs are
    /// dropped (logged).
    pub(crate) async fn config(
        &self,
        tenant: &sauda_shared::TenantId,
        job: &str,
    ) -> Result<Option<Arc<sauda_shared::tenant::TenantConfig>>, sauda_shared::consumer::JobFailure>
    {
        let config = self
            .tenants
            .tenant(tenant)
            .await
            .map_err(|e| transient("tenant", e))?;
        if config.is_none() {
            tracing::warn!(%tenant, job, "job for an unknown tenant dropped");
        }
        Ok(config)
    }

    pub fn from_aws(clients: &AwsClients, config: &NotifierConfig) -> Self {
        let table = &config.core.table_name;
        Self {
            tenants: Arc::new(DynamoTenantDirectory::new(clients.dynamo.clone(), table)),
            secrets: Arc::new(SecretsManagerSource::new(
                clients.secrets.clone(),
                &config.core.stage,
            )),
            deliveries: Arc::new(DynamoDeliveryLog::new(clients.dynamo.clone(), table)),
            inbox: Arc::new(DynamoInbox::new(clients.dynamo.clone(), table)),
            queue: Arc::new(SqsQueueControl::new(clients.sqs.clone())),
            counters: Arc::new(DynamoCounters::new(clients.dynamo.clone(), table)),
            telegram: TelegramApi::new(&config.telegram_api_base),
            whatsapp: WhatsappApi::new(&config.whatsapp_api_base),
            max_rate_limit_wait: Duration::from_secs(5),
        }
    }
}
