//! lead-capture: leads from the web form, the agent and quiet conversations; the sales
//! funnel with history; the manager API; notices to managers and partners; the CRM webhook.
//!
//! Two binaries share this library:
//! - `lead-api` (HTTP): the public form `POST /t/{tenant}/leads` (with its CORS
//!   preflight) and the manager API under `/t/{tenant}/leads/…`;
//! - `lead-worker`: the `leads` and `crm` queues, and the scheduled sweep.
//!
//! See README.md for the data model, routes, settings and CLI.

pub mod api;
pub mod cors;
pub mod crm;
pub mod domain;
pub mod dynamo;
pub mod error;
pub mod model;
pub mod notices;
pub mod service;
pub mod store;
pub mod sweep;
pub mod validate;
pub mod worker;

pub use error::LeadError;
pub use store::LeadStore;

use sauda_shared::api::{ApiDeps, HasApi};
use sauda_shared::aws::{
    AwsClients, DynamoMessageStore, SecretsManagerSource, SqsQueue, SqsQueueControl,
};
use sauda_shared::config::{required, ConfigError, CoreConfig};
use sauda_shared::consumer::QueueControl;
use sauda_shared::outbound::UrlPolicy;
use sauda_shared::ports::{MessageQueue, MessageStore, SecretSource, TenantDirectory};
use sauda_shared::stats::{CounterSink, DynamoCounters};
use std::sync::Arc;
use std::time::Duration;

/// Both binaries read the same settings: queue URLs are named by queue, so one local
/// env file serves every function.
#[derive(Clone, Debug)]
pub struct LeadsConfig {
    pub core: CoreConfig,
    pub notify_queue_url: String,
    pub crm_queue_url: String,
    pub leads_queue_url: String,
}

impl LeadsConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            core: CoreConfig::from_env()?,
            notify_queue_url: required("NOTIFY_QUEUE_URL")?,
            crm_queue_url: required("CRM_QUEUE_URL")?,
            leads_queue_url: required("LEADS_QUEUE_URL")?,
        })
    }
}

/// Everything a handler needs, built once per process in `main`.
pub struct Deps {
    /// Tenants, API keys and rate limits, for the shared extractors and the form.
    pub api: ApiDeps,
    pub tenants: Arc<dyn TenantDirectory>,
    pub secrets: Arc<dyn SecretSource>,
    pub store: Arc<dyn LeadStore>,
    pub messages: Arc<dyn MessageStore>,
    pub notify_queue: Arc<dyn MessageQueue>,
    pub crm_queue: Arc<dyn MessageQueue>,
    pub leads_queue: Arc<dyn MessageQueue>,
    pub queue: Arc<dyn QueueControl>,
    pub counters: Arc<dyn CounterSink>,
    /// Tenant CRM URLs are called under this client's outbound policy.
    pub crm: crm::CrmClient,
    /// The sweep stops starting new tenants after this much of an invocation.
    pub sweep_budget: Duration,
}

impl HasApi for Deps {
    fn api(&self) -> &ApiDeps {
        &self.api
    }
}

impl Deps {
    pub fn from_aws(clients: &AwsClients, config: &LeadsConfig) -> Self {
        let table = &config.core.table_name;
        let api = ApiDeps::on_dynamo(&clients.dynamo, table);
        Self {
            tenants: api.tenants.clone(),
            api,
            secrets: Arc::new(SecretsManagerSource::new(
                clients.secrets.clone(),
                &config.core.stage,
            )),
            store: Arc::new(dynamo::DynamoLeadStore::new(clients.dynamo.clone(), table)),
            messages: Arc::new(DynamoMessageStore::new(clients.dynamo.clone(), table)),
            notify_queue: Arc::new(SqsQueue::new(clients.sqs.clone(), &config.notify_queue_url)),
            crm_queue: Arc::new(SqsQueue::new(clients.sqs.clone(), &config.crm_queue_url)),
            leads_queue: Arc::new(SqsQueue::new(clients.sqs.clone(), &config.leads_queue_url)),
            queue: Arc::new(SqsQueueControl::new(clients.sqs.clone())),
            counters: Arc::new(DynamoCounters::new(clients.dynamo.clone(), table)),
            crm: crm::CrmClient::new(UrlPolicy::from_env()),
            sweep_budget: Duration::from_secs(20),
        }
    }
}
