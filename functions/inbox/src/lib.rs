//! The managers' inbox API (`inbox-api`): conversations listed most recent first with
//! filters, transcripts with who wrote what and its delivery state, mark read, assign,
//! pause and resume the agent, and replies (text, an image by URL, a registered
//! WhatsApp template) that go through the notify queue to the notifier, which sends
//! them on the customer's channel once per id.
//!
//! Its own function (not routes in `lead-api`): the inbox reads conversations and
//! queues customer messages, lead-api owns leads and the funnel; separate functions
//! keep each one's IAM to its own items and queues, and their deploys apart.
//!
//! - `domain`: the rules (filters, limits, the WhatsApp window, write plans);
//! - `store`: the port; `dynamo`: its DynamoDB adapter;
//! - `routes`: thin handlers on the shared API layer; this file: configuration, wiring.

pub mod domain;
pub mod dynamo;
pub mod routes;
pub mod store;

pub use routes::router;

use sauda_shared::api::{ApiDeps, HasApi};
use sauda_shared::aws::{AwsClients, SecretsManagerSource, SqsQueue};
use sauda_shared::config::{required, ConfigError, CoreConfig};
use sauda_shared::outbound::UrlPolicy;
use sauda_shared::ports::{MessageQueue, SecretSource};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct InboxConfig {
    pub core: CoreConfig,
    pub notify_queue_url: String,
    /// Image URLs managers send: https, public addresses only (loopback for local use).
    pub url_policy: UrlPolicy,
}

impl InboxConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            core: CoreConfig::from_env()?,
            notify_queue_url: required("NOTIFY_QUEUE_URL")?,
            url_policy: UrlPolicy::from_env(),
        })
    }
}

pub struct Deps {
    pub api: ApiDeps,
    pub store: Arc<dyn store::InboxStore>,
    pub notify: Arc<dyn MessageQueue>,
    /// The deployment key behind cursors and log digests.
    pub secrets: Arc<dyn SecretSource>,
    pub urls: UrlPolicy,
}

impl HasApi for Deps {
    fn api(&self) -> &ApiDeps {
        &self.api
    }
}

impl Deps {
    pub fn from_aws(clients: &AwsClients, config: &InboxConfig) -> Self {
        let table = &config.core.table_name;
        Self {
            api: ApiDeps::on_dynamo(&clients.dynamo, table),
            store: Arc::new(dynamo::DynamoInbox::new(clients.dynamo.clone(), table)),
            notify: Arc::new(SqsQueue::new(clients.sqs.clone(), &config.notify_queue_url)),
            secrets: Arc::new(SecretsManagerSource::new(
                clients.secrets.clone(),
                &config.core.stage,
            )),
            urls: config.url_policy,
        }
    }
}
