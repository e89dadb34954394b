//! Typed configuration from the environment (fail fast). Secrets never come from here.

use sauda_shared::config::{optional, parse_or, required, ConfigError, CoreConfig};
use sauda_shared::outbound::UrlPolicy;
use sauda_shared::tenant::ModelPrice;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub core: CoreConfig,
    pub leads_queue_url: String,
    pub notify_queue_url: String,
    pub inbound_queue_url: String,
    /// The payments queue: the `create_order` tool is offered only with it.
    pub payments_queue_url: Option<String>,
    /// Catalog bucket; without it the agent runs without a catalog.
    pub bucket: Option<String>,
    pub telegram_api_base: String,
    pub whatsapp_api_base: String,
    /// Platform default OpenAI-compatible endpoint and model; tenants may override both.
    pub llm_base_url: String,
    pub llm_model: String,
    /// Platform price list (USD micros per million tokens), over the built-in one.
    pub llm_prices: BTreeMap<String, ModelPrice>,
    /// Memory for opened catalog indexes in one warm instance.
    pub catalog_cache_bytes: usize,
    /// Longest single LLM request, and the LLM's whole budget for one reply.
    pub llm_attempt_timeout: Duration,
    pub llm_turn_budget: Duration,
    /// For tenant-chosen model URLs (`OUTBOUND_ALLOW_LOOPBACK` opens loopback locally).
    pub url_policy: UrlPolicy,
    /// The platform operator's Telegram chat (`OPERATOR_CHAT_ID`): tenants over their plan.
    pub operator_chat_id: Option<i64>,
}

/// Prices of common models (USD micros per million tokens), used when neither the
/// tenant nor `LLM_PRICES` names the model. Keep in step with the providers' lists.
pub fn builtin_prices() -> BTreeMap<String, ModelPrice> {
    let p = |prompt: i64, completion: i64| ModelPrice {
        prompt_per_mtok_micros: prompt,
        completion_per_mtok_micros: completion,
    };
    [
        ("gpt-4o-mini", p(150_000, 600_000)),
        ("gpt-4o", p(2_500_000, 10_000_000)),
        ("gpt-4.1", p(2_000_000, 8_000_000)),
        ("gpt-4.1-mini", p(400_000, 1_600_000)),
        ("gpt-4.1-nano", p(100_000, 400_000)),
        ("gpt-5-mini", p(250_000, 2_000_000)),
        ("gpt-5-nano", p(50_000, 400_000)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

impl AgentConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut prices = builtin_prices();
        if let Some(raw) = optional("LLM_PRICES") {
            let extra: BTreeMap<String, ModelPrice> =
                serde_json::from_str(&raw).map_err(|e| ConfigError::Invalid {
                    name: "LLM_PRICES",
                    reason: format!("expected {{\"model\":{{\"prompt_per_mtok_micros\":…,\"completion_per_mtok_micros\":…}}}}: {e}"),
                })?;
            prices.extend(extra);
        }
        Ok(Self {
            core: CoreConfig::from_env()?,
            leads_queue_url: required("LEADS_QUEUE_URL")?,
            notify_queue_url: required("NOTIFY_QUEUE_URL")?,
            inbound_queue_url: required("INBOUND_QUEUE_URL")?,
            payments_queue_url: optional("PAYMENTS_QUEUE_URL"),
            bucket: optional("BUCKET_NAME"),
            telegram_api_base: required("TELEGRAM_API_BASE")?,
            whatsapp_api_base: required("WHATSAPP_API_BASE")?,
            llm_base_url: required("LLM_BASE_URL")?,
            llm_model: required("LLM_MODEL")?,
            llm_prices: prices,
            catalog_cache_bytes: parse_or::<usize>("CATALOG_CACHE_MB", 256)? * 1024 * 1024,
            llm_attempt_timeout: Duration::from_millis(parse_or("LLM_ATTEMPT_TIMEOUT_MS", 12_000)?),
            llm_turn_budget: Duration::from_millis(parse_or("LLM_TURN_BUDGET_MS", 18_000)?),
            url_policy: UrlPolicy::from_env(),
            operator_chat_id: optional("OPERATOR_CHAT_ID").and_then(|c| c.parse().ok()),
        })
    }
}
