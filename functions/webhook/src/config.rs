use sauda_shared::config::{required, ConfigError, CoreConfig};

#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub core: CoreConfig,
    pub inbound_queue_url: String,
    /// Follow-ups of payment events (receipts, cards, cashback) for payments-worker.
    pub payments_queue_url: String,
    /// Managers' updates and failed WhatsApp deliveries go to the notifier.
    pub notify_queue_url: String,
}

impl WebhookConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            core: CoreConfig::from_env()?,
            inbound_queue_url: required("INBOUND_QUEUE_URL")?,
            payments_queue_url: required("PAYMENTS_QUEUE_URL")?,
            notify_queue_url: required("NOTIFY_QUEUE_URL")?,
        })
    }
}
