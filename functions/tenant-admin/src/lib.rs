//! The tenant admin API (`tenant-admin-api`): a business runs itself with its
//! tenant-admin key (`sauda tenant admin-key issue`): its settings through the same
//! validated merge patch as the operator's CLI, its managers, WhatsApp templates and
//! API keys, its usage against its plan, and the history of every change with its actor.
//!
//! Its own function, not routes in an existing one: it is the only HTTP function that
//! writes tenant configs and issues keys, so its IAM grant to do so stays its own, and
//! no customer- or manager-facing function gains it.
//!
//! - `domain`: the rules (managers, templates, keys, the usage view);
//! - `store`: the ports; `dynamo`: their DynamoDB adapters;
//! - `routes`, `catalog_routes`: thin handlers on the shared API layer;
//! - `catalog`: uploads and import jobs; `adapter_catalog`: their S3/DynamoDB/SQS adapters;
//! - `worker`: `catalog-import-worker`, the import jobs' queue consumer (its own function:
//!   building an index needs the memory and minutes an API request must not hold);
//! - this file: configuration, wiring.

pub mod adapter_catalog;
pub mod catalog;
mod catalog_routes;
pub mod domain;
pub mod dynamo;
mod partner_routes;
pub mod routes;
pub mod store;
pub mod worker;

pub use routes::router;

use sauda_shared::api::{ApiDeps, HasApi};
use sauda_shared::aws::{AwsClients, SecretsManagerSource};
use sauda_shared::changes::ChangeLog;
use sauda_shared::config::{ConfigError, CoreConfig};
use sauda_shared::consumer::QueueControl;
use sauda_shared::limits::UsageStore;
use sauda_shared::outbound::UrlPolicy;
use sauda_shared::ports::{MessageQueue, SecretSource};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct AdminConfig {
    pub core: CoreConfig,
    /// Tenant-configured URLs in patched settings: https, public addresses only.
    pub url_policy: UrlPolicy,
    /// Catalog uploads and versions.
    pub bucket: String,
    /// Import jobs, for `catalog-import-worker`.
    pub catalog_jobs_queue_url: String,
    pub notify_queue_url: String,
}

impl AdminConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            core: CoreConfig::from_env()?,
            url_policy: UrlPolicy::from_env(),
            bucket: sauda_shared::config::required("BUCKET_NAME")?,
            catalog_jobs_queue_url: sauda_shared::config::required("CATALOG_JOBS_QUEUE_URL")?,
            notify_queue_url: sauda_shared::config::required("NOTIFY_QUEUE_URL")?,
        })
    }
}

pub struct Deps {
    pub api: ApiDeps,
    pub store: Arc<dyn store::AdminStore>,
    pub keys: Arc<dyn store::KeyAdmin>,
    pub usage: Arc<dyn UsageStore>,
    pub history: Arc<dyn ChangeLog>,
    /// The deployment key behind cursors and log digests.
    pub secrets: Arc<dyn SecretSource>,
    pub urls: UrlPolicy,
    pub files: Arc<dyn store::CatalogFiles>,
    pub jobs: Arc<dyn store::ImportJobs>,
    /// Redelivery and dead-lettering of the worker's records.
    pub queue: Arc<dyn QueueControl>,
    /// The loyalty ledger, for partners.
    pub loyalty: Arc<dyn loyalty::store::LoyaltyStore>,
    /// Notices to partners whose status changed.
    pub notify: Arc<dyn MessageQueue>,
}

impl HasApi for Deps {
    fn api(&self) -> &ApiDeps {
        &self.api
    }
}

impl Deps {
    pub fn from_aws(clients: &AwsClients, config: &AdminConfig) -> Self {
        let table = &config.core.table_name;
        let store = Arc::new(dynamo::DynamoAdmin::new(clients.dynamo.clone(), table));
        Self {
            api: ApiDeps::on_dynamo(&clients.dynamo, table),
            store: store.clone(),
            keys: Arc::new(sauda_shared::apikey::ApiKeyStore::new(
                clients.dynamo.clone(),
                table.clone(),
            )),
            usage: Arc::new(sauda_shared::limits_dynamo::DynamoUsage::new(
                clients.dynamo.clone(),
                table,
            )),
            history: store,
            secrets: Arc::new(SecretsManagerSource::new(
                clients.secrets.clone(),
                &config.core.stage,
            )),
            urls: config.url_policy,
            files: Arc::new(adapter_catalog::S3CatalogFiles::new(
                clients.s3.clone(),
                &config.bucket,
            )),
            jobs: Arc::new(adapter_catalog::DynamoImportJobs::new(
                clients.dynamo.clone(),
                table,
                clients.sqs.clone(),
                &config.catalog_jobs_queue_url,
            )),
            queue: Arc::new(sauda_shared::aws::SqsQueueControl::new(clients.sqs.clone())),
            loyalty: Arc::new(loyalty::DynamoStore::new(clients.dynamo.clone(), table)),
            notify: Arc::new(sauda_shared::aws::SqsQueue::new(
                clients.sqs.clone(),
                &config.notify_queue_url,
            )),
        }
    }
}
