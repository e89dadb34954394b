//! The loyalty ledger: points for purchases (cashback), points as payment, welcome and
//! referral bonuses, NPS per partner, partner moderation and points expiry.
//!
//! Money-like data, ledger standards: every change is an append-only entry with a
//! reason, written in ONE `TransactWriteItems` together with the account (conditioned on
//! the revision it was computed from), the idempotency record and the day's counters.
//! Balances never go negative, a retried request never applies twice, and concurrent
//! requests never lose an update. See `store` for the executor and `domain` for the
//! arithmetic.

pub mod config;
pub mod domain;
pub mod error;
pub mod expiry;
pub mod input;
pub mod model;
pub mod ops;
pub mod partners;
pub mod routes;
pub mod store;
pub mod views;

pub use config::LoyaltyConfig;
pub use error::LoyaltyError;
pub use routes::router;
pub use store::Store;

use sauda_shared::apikey::ApiKeyStore;
use sauda_shared::aws::{AwsClients, DynamoTenantDirectory, SqsQueue};
use sauda_shared::ports::{MessageQueue, TenantDirectory};
use std::sync::Arc;

/// Everything a request needs, built once per process in `main`.
#[derive(Clone)]
pub struct Deps {
    pub store: Store,
    pub tenants: Arc<dyn TenantDirectory>,
    pub keys: Arc<ApiKeyStore>,
    /// The notify queue: partners hear about moderation in Telegram.
    pub notify: Arc<dyn MessageQueue>,
}

impl Deps {
    pub fn from_aws(clients: &AwsClients, config: &LoyaltyConfig) -> Self {
        let table = &config.core.table_name;
        Self {
            store: Store::new(clients.dynamo.clone(), table),
            tenants: Arc::new(DynamoTenantDirectory::new(clients.dynamo.clone(), table)),
            keys: Arc::new(ApiKeyStore::new(clients.dynamo.clone(), table)),
            notify: Arc::new(SqsQueue::new(clients.sqs.clone(), &config.notify_queue_url)),
        }
    }
}
