use sauda_shared::config::{optional, required, ConfigError, CoreConfig};

#[derive(Clone, Debug)]
pub struct LoyaltyConfig {
    pub core: CoreConfig,
    pub notify_queue_url: String,
    /// `inbound.fifo`: a partner's accrual queues the customer's NPS survey there.
    /// Without it no survey follows an API accrual.
    pub inbound_queue_url: Option<String>,
}

impl LoyaltyConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            core: CoreConfig::from_env()?,
            notify_queue_url: required("NOTIFY_QUEUE_URL")?,
            inbound_queue_url: optional("INBOUND_QUEUE_URL"),
        })
    }
}
