//! The loyalty ledger: points for purchases (cashback), points as payment, welcome and
//! referral bonuses, NPS per partner, partner moderation and points expiry.
//!
//! Money-like data, ledger standards: every change is an append-only entry with a
//! reason, written in ONE atomic write plan together with the account (conditioned on
//! the revision it was computed from), the idempotency record and the day's counters.
//! Balances never go negative, a retried request never applies twice, concurrent
//! requests never lose an update, and no arithmetic wraps.
//!
//! - `domain`: pure arithmetic; `ops`, `partners`, `expiry`: planners (rules → plans);
//!   `views`: what reads answer. None of them knows AWS.
//! - `store`: the port and the executor; `dynamo`: its DynamoDB adapter.
//! - `routes`: the HTTP API on `sauda_shared::api`.

pub mod config;
pub mod domain;
pub mod dynamo;
pub mod error;
pub mod expiry;
pub mod input;
pub mod merge;
pub mod model;
pub mod ops;
pub mod partners;
pub mod routes;
pub mod store;
pub mod views;

pub use config::LoyaltyConfig;
pub use dynamo::DynamoStore;
pub use error::LoyaltyError;
pub use routes::router;
pub use store::LoyaltyStore;

use expiry::ExpiryDeps;
use sauda_shared::api::{ApiDeps, HasApi};
use sauda_shared::aws::{AwsClients, DynamoTenantDirectory, SqsQueue};
use sauda_shared::ports::MessageQueue;
use std::sync::Arc;

/// Everything a request needs, built once per process in `main`.
#[derive(Clone)]
pub struct Deps {
    /// Tenants, API keys and the shared limiter (which loyalty's routes do not use: the
    /// ledger counts its own window inside its transactions).
    pub api: ApiDeps,
    pub store: Arc<dyn LoyaltyStore>,
    /// The notify queue: partners hear about moderation in Telegram.
    pub notify: Arc<dyn MessageQueue>,
    /// `inbound.fifo`: NPS surveys due after partner accruals (`None`: no surveys).
    pub surveys: Option<Arc<dyn sauda_shared::ports::JobQueue>>,
}

impl HasApi for Deps {
    fn api(&self) -> &ApiDeps {
        &self.api
    }
}

impl Deps {
    pub fn from_aws(clients: &AwsClients, config: &LoyaltyConfig) -> Self {
        let table = &config.core.table_name;
        Self {
            api: ApiDeps::on_dynamo(&clients.dynamo, table),
            store: Arc::new(DynamoStore::new(clients.dynamo.clone(), table)),
            notify: Arc::new(SqsQueue::new(clients.sqs.clone(), &config.notify_queue_url)),
            surveys: config.inbound_queue_url.as_ref().map(|url| {
                Arc::new(sauda_shared::aws::SqsJobQueue::new(
                    clients.sqs.clone(),
                    url,
                )) as Arc<dyn sauda_shared::ports::JobQueue>
            }),
        }
    }
}

impl ExpiryDeps {
    pub fn from_aws(clients: &AwsClients, config: &LoyaltyConfig) -> Self {
        let table = &config.core.table_name;
        Self {
            store: Arc::new(DynamoStore::new(clients.dynamo.clone(), table)),
            tenants: Arc::new(DynamoTenantDirectory::new(clients.dynamo.clone(), table)),
        }
    }
}
