//! Orders and payments: a sale closes in chat.
//!
//! - [`create::create_order`]: the one entry point that makes an order (manager API,
//!   the agent's `create_order` tool through the payments queue, a "Buy" button), priced
//!   from the catalog.
//! - [`confirm::Payments::apply`]: the one idempotent confirmation of every provider's
//!   payment events (used by the webhook, the worker and the manager API).
//! - [`invoice`]: Telegram invoices, Stripe Checkout links, Kaspi payment links.
//! - [`routes`]: the manager API (`orders-api`); [`worker`]: the payments queue and
//!   the hourly expiry sweep (`payments-worker`); [`webhooks`]: what the webhook
//!   function calls for Telegram's payment updates, Stripe and Kaspi.
//!
//! Domain code names no AWS type: the ports are `store::OrderStore`,
//! `catalog::PriceBook` and `cashback::Cashback`; their adapters are `dynamo.rs`,
//! `catalog::CatalogPrices` and `adapter_loyalty.rs`. See README.md.

pub mod adapter_loyalty;
pub mod cashback;
pub mod catalog;
pub mod confirm;
pub mod create;
pub mod domain;
pub mod dynamo;
pub mod effects;
pub mod invoice;
pub mod providers;
pub mod refund;
pub mod routes;
pub mod store;
pub mod webhooks;
pub mod worker;

pub use confirm::Payments;
pub use create::create_order;

use agent_reply::catalog::{CatalogCache, CatalogStore};
use providers::{kaspi::KaspiApi, stripe::StripeApi};
use sauda_shared::api::{ApiDeps, HasApi};
use sauda_shared::aws::{AwsClients, SecretsManagerSource, SqsQueue, SqsQueueControl};
use sauda_shared::config::{optional, parse_or, required, ConfigError, CoreConfig};
use sauda_shared::consumer::QueueControl;
use sauda_shared::ports::{MessageQueue, SecretSource};
use sauda_shared::registry::{DynamoTenantRegistry, TenantRegistry};
use sauda_shared::stats::DynamoCounters;
use sauda_shared::telegram_api::TelegramApi;
use std::sync::Arc;

/// A source of "now" in epoch milliseconds (tests move it past expiries).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

pub fn wall_clock() -> Clock {
    Arc::new(sauda_shared::now_ms)
}

/// Both binaries read the same settings (queue URLs named by queue).
#[derive(Clone, Debug)]
pub struct OrdersConfig {
    pub core: CoreConfig,
    pub payments_queue_url: String,
    pub notify_queue_url: String,
    /// `inbound.fifo`: a paid order with cashback queues the customer's NPS survey there.
    pub inbound_queue_url: Option<String>,
    pub telegram_api_base: String,
    pub stripe_api_base: String,
    pub kaspi_api_base: String,
    /// Catalog bucket; without it orders cannot be priced (the API answers `no_catalog`).
    pub bucket: Option<String>,
    pub catalog_cache_bytes: usize,
    /// The platform operator's Telegram chat, told when a tenant passes its plan's orders.
    pub operator_chat_id: Option<i64>,
}

impl OrdersConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            core: CoreConfig::from_env()?,
            payments_queue_url: required("PAYMENTS_QUEUE_URL")?,
            notify_queue_url: required("NOTIFY_QUEUE_URL")?,
            inbound_queue_url: optional("INBOUND_QUEUE_URL"),
            telegram_api_base: required("TELEGRAM_API_BASE")?,
            stripe_api_base: required("STRIPE_API_BASE")?,
            kaspi_api_base: required("KASPI_API_BASE")?,
            bucket: optional("BUCKET_NAME"),
            catalog_cache_bytes: parse_or::<usize>("PRICE_BOOK_CACHE_MB", 128)? * 1024 * 1024,
            operator_chat_id: optional("OPERATOR_CHAT_ID").and_then(|c| c.parse().ok()),
        })
    }
}

/// The providers' HTTP clients.
#[derive(Clone, Debug)]
pub struct Providers {
    pub telegram: TelegramApi,
    pub stripe: StripeApi,
    pub kaspi: KaspiApi,
}

impl Providers {
    pub fn new(config: &OrdersConfig) -> Self {
        Self {
            telegram: TelegramApi::new(&config.telegram_api_base),
            stripe: StripeApi::new(&config.stripe_api_base),
            kaspi: KaspiApi::new(&config.kaspi_api_base),
        }
    }
}

/// Everything a request or job needs, built once per process in `main`.
pub struct Deps {
    pub api: ApiDeps,
    pub secrets: Arc<dyn SecretSource>,
    pub payments: Payments,
    /// The notify queue: managers' cards and customer messages.
    pub notify: Arc<dyn MessageQueue>,
    /// `inbound.fifo`: NPS surveys due after paid orders (`None`: no surveys).
    pub surveys: Option<Arc<dyn sauda_shared::ports::JobQueue>>,
    /// `None` without a catalog bucket.
    pub prices: Option<Arc<dyn catalog::PriceBook>>,
    pub cashback: Arc<dyn cashback::Cashback>,
    pub providers: Providers,
    pub registry: Arc<dyn TenantRegistry>,
    pub queue: Arc<dyn QueueControl>,
    /// The month's plan usage: orders over the plan are flagged, never refused.
    pub usage: Arc<dyn sauda_shared::limits::UsageStore>,
    pub operator_chat_id: Option<i64>,
}

impl HasApi for Deps {
    fn api(&self) -> &ApiDeps {
        &self.api
    }
}

impl Payments {
    /// The confirmation as the webhook and both binaries wire it.
    pub fn from_aws(clients: &AwsClients, table: &str, payments_queue_url: &str) -> Self {
        Self {
            store: Arc::new(dynamo::DynamoOrders::new(clients.dynamo.clone(), table)),
            jobs: Arc::new(SqsQueue::new(clients.sqs.clone(), payments_queue_url)),
            counters: Arc::new(DynamoCounters::new(clients.dynamo.clone(), table)),
            clock: wall_clock(),
        }
    }
}

impl Deps {
    pub fn from_aws(clients: &AwsClients, config: &OrdersConfig) -> Self {
        let table = &config.core.table_name;
        let prices: Option<Arc<dyn catalog::PriceBook>> = config.bucket.as_ref().map(|bucket| {
            Arc::new(catalog::CatalogPrices {
                cache: Arc::new(CatalogCache::new(
                    CatalogStore::new(clients.s3.clone(), bucket),
                    config.catalog_cache_bytes,
                )),
            }) as Arc<dyn catalog::PriceBook>
        });
        Self {
            api: ApiDeps::on_dynamo(&clients.dynamo, table),
            secrets: Arc::new(SecretsManagerSource::new(
                clients.secrets.clone(),
                &config.core.stage,
            )),
            payments: Payments::from_aws(clients, table, &config.payments_queue_url),
            notify: Arc::new(SqsQueue::new(clients.sqs.clone(), &config.notify_queue_url)),
            surveys: config.inbound_queue_url.as_ref().map(|url| {
                Arc::new(sauda_shared::aws::SqsJobQueue::new(
                    clients.sqs.clone(),
                    url,
                )) as Arc<dyn sauda_shared::ports::JobQueue>
            }),
            prices,
            cashback: Arc::new(adapter_loyalty::LoyaltyCashback::new(
                clients.dynamo.clone(),
                table,
            )),
            providers: Providers::new(config),
            registry: Arc::new(DynamoTenantRegistry::new(clients.dynamo.clone(), table)),
            queue: Arc::new(SqsQueueControl::new(clients.sqs.clone())),
            usage: Arc::new(sauda_shared::limits_dynamo::DynamoUsage::new(
                clients.dynamo.clone(),
                table,
            )),
            operator_chat_id: config.operator_chat_id,
        }
    }

    /// Where plan warnings of this function go.
    pub fn plan_watch(&self) -> sauda_shared::limits::Watch<'_> {
        sauda_shared::limits::Watch {
            usage: self.usage.as_ref(),
            notify: self.notify.as_ref(),
            operator_chat: self.operator_chat_id,
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.payments.now_ms()
    }

    /// An order, read consistently.
    pub async fn order(
        &self,
        tenant: &sauda_shared::TenantId,
        order_id: &str,
    ) -> Result<Option<sauda_shared::order::Order>, sauda_shared::ports::StoreError> {
        self.payments.store.get(tenant, order_id).await
    }

    /// The tenant's provider credentials (cached); none stored reads as empty.
    pub async fn tenant_secrets(
        &self,
        tenant: &sauda_shared::TenantId,
    ) -> Result<Arc<sauda_shared::secrets::TenantSecrets>, sauda_shared::ports::SecretError> {
        Ok(self
            .secrets
            .tenant_secrets(tenant)
            .await?
            .unwrap_or_default())
    }
}
