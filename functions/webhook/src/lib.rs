//! Webhook ingress for Telegram and WhatsApp, and for payment providers (Telegram
//! Payments' updates, Stripe, a Kaspi aggregator).
//!
//! Each inbound message costs exactly one conditional PutItem (store + deduplicate) and
//! one SQS SendMessage. A pre-checkout query costs one GetItem; a payment event at most
//! a GetItem, a TransactWriteItems and a SendMessage (see `orders::confirm`). Tenant
//! config and secrets come from warm caches.
//!
//! A Telegram message from one of the tenant's managers' chats never reaches the agent:
//! it is queued for the notifier (one SendMessage, nothing stored here), which relays a
//! reply to a thread card to the customer. A failed WhatsApp delivery status is applied
//! as before and also queued for the notifier, which tells the managers why.

mod config;
mod payments;
mod routes;

pub use config::WebhookConfig;
pub use routes::{router, MAX_BODY_BYTES, TELEGRAM_SECRET_HEADER, WHATSAPP_SIGNATURE_HEADER};

use sauda_shared::api::{ApiDeps, HasApi};
use sauda_shared::aws::{
    AwsClients, DynamoMessageStore, SecretsManagerSource, SqsJobQueue, SqsQueue,
};
use sauda_shared::ports::{JobQueue, MessageQueue, MessageStore, SecretSource};
use std::sync::Arc;

/// Everything a request needs, built once per process in `main`.
#[derive(Clone)]
pub struct Deps {
    /// Tenant lookups for the shared extractors (webhooks carry no API keys).
    pub api: ApiDeps,
    pub secrets: Arc<dyn SecretSource>,
    pub store: Arc<dyn MessageStore>,
    pub queue: Arc<dyn JobQueue>,
    /// The one confirmation of payment events (orders crate).
    pub payments: orders::Payments,
    /// The notifier's queue: managers' updates, failed deliveries.
    pub notify: Arc<dyn MessageQueue>,
}

impl HasApi for Deps {
    fn api(&self) -> &ApiDeps {
        &self.api
    }
}

impl Deps {
    pub fn from_aws(clients: &AwsClients, config: &WebhookConfig) -> Self {
        let table = &config.core.table_name;
        Self {
            api: ApiDeps::on_dynamo(&clients.dynamo, table),
            secrets: Arc::new(SecretsManagerSource::new(
                clients.secrets.clone(),
                &config.core.stage,
            )),
            store: Arc::new(DynamoMessageStore::new(clients.dynamo.clone(), table)),
            queue: Arc::new(SqsJobQueue::new(
                clients.sqs.clone(),
                &config.inbound_queue_url,
            )),
            payments: orders::Payments::from_aws(clients, table, &config.payments_queue_url),
            notify: Arc::new(SqsQueue::new(clients.sqs.clone(), &config.notify_queue_url)),
        }
    }
}
