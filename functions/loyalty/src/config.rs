use sauda_shared::config::{required, ConfigError, CoreConfig};

#[derive(Clone, Debug)]
pub struct LoyaltyConfig {
    pub core: CoreConfig,
    pub notify_queue_url: String,
}

impl LoyaltyConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            core: CoreConfig::from_env()?,
            notify_queue_url: required("NOTIFY_QUEUE_URL")?,
        })
    }
}
