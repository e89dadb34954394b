//! Tenant identity and configuration.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A validated tenant id: 2-40 chars of `[a-z0-9-]`, starting with a letter or digit.
///
/// The alphabet excludes `#`, so a tenant id can never forge another key's prefix.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TenantId(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("tenant id must be 2-40 characters of a-z, 0-9 and '-', starting with a letter or digit")]
pub struct InvalidTenantId;

impl TenantId {
    pub fn parse(raw: &str) -> Result<Self, InvalidTenantId> {
        let bytes = raw.as_bytes();
        let valid_len = (2..=40).contains(&bytes.len());
        let valid_first = bytes
            .first()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let valid_chars = bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if valid_len && valid_first && valid_chars {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidTenantId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        TenantId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    #[default]
    Active,
    Suspended,
}

/// Per-tenant settings stored at `T#{t}#CONFIG` / `CONFIG`.
///
/// Every field has a default so that older items still load and an operator only
/// writes what differs from the defaults. Each capability owns one section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TenantConfig {
    pub tenant: TenantId,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: TenantStatus,
    /// IANA zone, e.g. `Asia/Almaty`; reports and day counters follow it.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Language used when the customer's is unknown (`ru`, `en`, `kk`, ...).
    #[serde(default = "default_language")]
    pub default_language: String,
    /// WhatsApp Cloud API phone number id; payloads for other numbers are ignored.
    #[serde(default)]
    pub whatsapp_phone_number_id: Option<String>,
    #[serde(default)]
    pub telegram_bot_username: Option<String>,
    /// Telegram chats of the business's managers: lead cards, handoffs, reports.
    #[serde(default)]
    pub managers: Vec<Manager>,
    #[serde(default)]
    pub agent: AgentSettings,
    #[serde(default)]
    pub catalog: CatalogSettings,
    #[serde(default)]
    pub leads: LeadSettings,
    #[serde(default)]
    pub loyalty: LoyaltySettings,
    #[serde(default)]
    pub reports: ReportSettings,
    #[serde(default)]
    pub api: ApiSettings,
    /// WhatsApp message templates Meta approved for the business's number: the only
    /// messages WhatsApp delivers 24 hours after the customer last wrote.
    #[serde(default)]
    pub whatsapp_templates: Vec<WhatsappTemplate>,
    #[serde(default)]
    pub inbox: InboxSettings,
    #[serde(default)]
    pub orders: OrderSettings,
    /// The plan and the tenant's overrides of its limits (`crate::limits`).
    #[serde(default)]
    pub plan: crate::limits::PlanSettings,
    #[serde(default)]
    pub created_at_ms: i64,
}

/// Orders and payments (`functions/orders`). Provider credentials are in the tenant
/// secret (`telegram_provider_token`, `stripe_secret_key`, `kaspi_api_key`, …).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrderSettings {
    /// An unpaid placed order expires after this many hours (1-720).
    pub expiry_hours: u32,
    /// ISO 4217 code of every order (`XTR` for Telegram Stars); catalog prices in
    /// another currency are refused.
    pub currency: String,
    /// Providers customers may pay with, in order of preference.
    pub providers: Vec<crate::order::Provider>,
    /// Where Stripe Checkout sends the customer after paying or giving up (https).
    pub stripe_success_url: Option<String>,
    pub stripe_cancel_url: Option<String>,
    /// The loyalty partner paid orders are booked to for cashback (with `loyalty.enabled`).
    pub loyalty_partner_id: Option<String>,
    /// Registered WhatsApp templates sent instead of a message once the customer's 24-hour
    /// window has closed (without one, the managers are told the message did not go).
    pub whatsapp_templates: OrderTemplates,
}

/// Names of registered WhatsApp templates (`whatsapp_templates`) for order messages, and
/// the parameters each gets, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrderTemplates {
    /// A payment link: order number, total, the link.
    pub payment_link: Option<String>,
    /// The receipt: order number, total.
    pub receipt: Option<String>,
    /// A refund: order number, the amount refunded.
    pub refund: Option<String>,
}

impl Default for OrderSettings {
    fn default() -> Self {
        Self {
            expiry_hours: 24,
            currency: "KZT".to_owned(),
            providers: Vec::new(),
            stripe_success_url: None,
            stripe_cancel_url: None,
            loyalty_partner_id: None,
            whatsapp_templates: OrderTemplates::default(),
        }
    }
}

/// An approved WhatsApp template as registered with Meta: its name, language and the
/// body's parameters in order (`{{1}}`, `{{2}}`, ...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhatsappTemplate {
    pub name: String,
    /// Meta's language code of the approved translation (`ru`, `kk`, `en_US`, ...).
    pub language: String,
    /// `marketing`, `utility` or `authentication`, as Meta categorised it.
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub params: Vec<TemplateParamSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateParamSpec {
    pub name: String,
    #[serde(default)]
    pub example: String,
}

impl TenantConfig {
    /// The registered template `name`, in `language` when given (else the first one).
    pub fn whatsapp_template(
        &self,
        name: &str,
        language: Option<&str>,
    ) -> Option<&WhatsappTemplate> {
        self.whatsapp_templates
            .iter()
            .filter(|t| t.name == name)
            .find(|t| language.is_none_or(|l| t.language == l))
    }
}

/// The managers' inbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InboxSettings {
    /// A manager's message pauses the agent for that conversation until resumed.
    pub pause_agent_on_reply: bool,
}

impl Default for InboxSettings {
    fn default() -> Self {
        Self {
            pause_agent_on_reply: true,
        }
    }
}

impl OrderSettings {
    /// The expiry window, clamped to 1 hour..30 days whatever was stored.
    pub fn expiry_ms(&self) -> i64 {
        i64::from(self.expiry_hours.clamp(1, 720)) * 3_600_000
    }
}

/// The tenant's HTTP APIs (manager, partner and admin keys).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiSettings {
    /// Requests per API key and minute; over it the answer is 429 `rate_limited`.
    pub rate_limit_per_minute: u32,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            rate_limit_per_minute: 600,
        }
    }
}

/// A manager's Telegram chat. The manager must have started the tenant's bot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manager {
    pub chat_id: i64,
    #[serde(default)]
    pub name: String,
}

/// Price of one model in USD micros (millionths of a dollar) per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ModelPrice {
    pub prompt_per_mtok_micros: i64,
    pub completion_per_mtok_micros: i64,
}

/// The AI consultant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentSettings {
    pub enabled: bool,
    /// Who the agent is, e.g. "Aigerim, a sales consultant of Demo Equipment Supply".
    pub persona: String,
    /// Extra instructions appended to the built-in system prompt.
    pub system_prompt: String,
    /// Overrides of the built-in prompt per funnel stage (`qualification`, `offer`, ...).
    pub stage_prompts: BTreeMap<String, String>,
    /// Model name; `None` uses the platform default.
    pub model: Option<String>,
    /// OpenAI-compatible base URL; `None` uses the platform default.
    pub llm_base_url: Option<String>,
    pub temperature: f32,
    pub max_tool_steps: u8,
    /// Per customer; over it the customer gets one polite notice and no LLM call.
    pub rate_limit_per_minute: u32,
    /// Monthly AI budget in USD micros; `None` means unlimited.
    pub monthly_budget_micros: Option<i64>,
    /// Per-model prices; models not listed use the platform's price list.
    pub prices: BTreeMap<String, ModelPrice>,
    /// Catalog items given to the model per search.
    pub top_k: usize,
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            persona: String::new(),
            system_prompt: String::new(),
            stage_prompts: BTreeMap::new(),
            model: None,
            llm_base_url: None,
            temperature: 0.3,
            max_tool_steps: 4,
            rate_limit_per_minute: 30,
            monthly_budget_micros: None,
            prices: BTreeMap::new(),
            top_k: 5,
        }
    }
}

/// Blue-green catalog: the active version's index is in S3 under `catalogs/{t}/{version}/`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct CatalogSettings {
    pub active_version: Option<String>,
    /// Earlier active versions, newest first, for one-command rollback.
    pub previous_versions: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LeadSettings {
    /// ISO 3166 region used to read phone numbers written without a country code.
    pub default_region: String,
    /// Origins allowed to POST the web form (CORS). Empty: no browser origin allowed.
    pub allowed_origins: Vec<String>,
    /// A contact who showed purchase intent and stayed silent this long becomes a lead.
    pub quiet_hours: u32,
    /// Web-form submissions allowed per client IP and hour.
    pub form_rate_limit_per_hour: u32,
    /// Optional outbound CRM webhook; its signing secret is `crm_webhook_secret`.
    pub crm_webhook_url: Option<String>,
}

impl Default for LeadSettings {
    fn default() -> Self {
        Self {
            default_region: "KZ".to_owned(),
            allowed_origins: Vec::new(),
            quiet_hours: 24,
            form_rate_limit_per_hour: 10,
            crm_webhook_url: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Never give away a fraction of a point.
    #[default]
    Floor,
    Nearest,
    Ceil,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoyaltySettings {
    pub enabled: bool,
    /// ISO 4217 code; purchases in other currencies are rejected.
    pub currency: String,
    /// Cashback in basis points of the purchase amount (500 = 5 %), unless the partner overrides it.
    pub cashback_bp: u32,
    pub rounding: Rounding,
    /// At most this percentage of a purchase may be paid with points.
    pub max_redeem_percent: u32,
    pub welcome_bonus: i64,
    /// Paid to the referrer when the newcomer makes a first purchase.
    pub referral_bonus: i64,
    /// Points expire after this many days; `None` disables expiry.
    pub expiry_days: Option<u32>,
    /// Mutating requests per partner key and minute.
    pub rate_limit_per_minute: u32,
    /// Telegram chats of the program's admins: new partner applications and services
    /// arrive there with Approve / Reject buttons (at most [`MAX_LOYALTY_ADMINS`]).
    pub admin_chats: Vec<i64>,
    /// Local hours (tenant time zone) when NPS surveys go out; a survey due outside
    /// them waits for the window's start.
    pub nps_window: NpsWindow,
}

/// `[from_hour, to_hour)` in the tenant's time zone, `0 <= from < to <= 24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NpsWindow {
    pub from_hour: u8,
    pub to_hour: u8,
}

impl Default for NpsWindow {
    fn default() -> Self {
        Self {
            from_hour: 9,
            to_hour: 21,
        }
    }
}

/// How many admin chats a tenant's loyalty program may list.
pub const MAX_LOYALTY_ADMINS: usize = 20;

impl Default for LoyaltySettings {
    fn default() -> Self {
        Self {
            enabled: false,
            currency: "KZT".to_owned(),
            cashback_bp: 500,
            rounding: Rounding::Floor,
            max_redeem_percent: 50,
            welcome_bonus: 0,
            referral_bonus: 0,
            expiry_days: None,
            rate_limit_per_minute: 120,
            admin_chats: Vec::new(),
            nps_window: NpsWindow::default(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportPeriodKind {
    Daily,
    Weekly,
    Monthly,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReportSettings {
    pub periods: Vec<ReportPeriodKind>,
    /// Language of the managers' summary; `None` uses `default_language`.
    pub language: Option<String>,
}

impl Default for ReportSettings {
    fn default() -> Self {
        Self {
            periods: vec![ReportPeriodKind::Weekly, ReportPeriodKind::Monthly],
            language: None,
        }
    }
}

/// The tenant's entry in the platform registry (`PLATFORM` / `TENANT#{t}`): just what
/// fan-out jobs need (the report planner, sweeps), so one Query lists every tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryEntry {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub tenant: TenantId,
    #[serde(default)]
    pub status: TenantStatus,
    #[serde(default = "default_timezone")]
    pub timezone: String,
    #[serde(default)]
    pub report_periods: Vec<ReportPeriodKind>,
    #[serde(default)]
    pub loyalty_expiry: bool,
    #[serde(default)]
    pub created_at_ms: i64,
}

impl RegistryEntry {
    pub fn from_config(config: &TenantConfig) -> Self {
        let (pk, sk) = crate::keys::tenant_registry(&config.tenant);
        Self {
            pk,
            sk,
            tenant: config.tenant.clone(),
            status: config.status,
            timezone: config.timezone.clone(),
            report_periods: config.reports.periods.clone(),
            loyalty_expiry: config.loyalty.enabled && config.loyalty.expiry_days.is_some(),
            created_at_ms: config.created_at_ms,
        }
    }
}

/// The stored config item: the config with its keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(flatten)]
    pub config: TenantConfig,
}

impl ConfigItem {
    pub fn new(config: TenantConfig) -> Self {
        let (pk, sk) = crate::keys::tenant_config(&config.tenant);
        Self { pk, sk, config }
    }
}

fn default_timezone() -> String {
    "UTC".to_owned()
}

fn default_language() -> String {
    "en".to_owned()
}

impl TenantConfig {
    pub fn new(tenant: TenantId, name: impl Into<String>) -> Self {
        Self {
            tenant,
            name: name.into(),
            status: TenantStatus::Active,
            timezone: default_timezone(),
            default_language: default_language(),
            whatsapp_phone_number_id: None,
            telegram_bot_username: None,
            managers: Vec::new(),
            agent: AgentSettings::default(),
            catalog: CatalogSettings::default(),
            leads: LeadSettings::default(),
            loyalty: LoyaltySettings::default(),
            reports: ReportSettings::default(),
            api: ApiSettings::default(),
            orders: OrderSettings::default(),
            whatsapp_templates: Vec::new(),
            inbox: InboxSettings::default(),
            plan: crate::limits::PlanSettings::default(),
            created_at_ms: crate::now_ms(),
        }
    }

    /// Requests per API key and minute: the tenant's setting within its plan's limit.
    pub fn api_rate_limit(&self) -> u32 {
        match self.plan.limits().api_rate_per_key {
            Some(cap) if self.api.rate_limit_per_minute == 0 => cap,
            Some(cap) => self.api.rate_limit_per_minute.min(cap),
            None => self.api.rate_limit_per_minute,
        }
    }

    /// The monthly AI budget: the tenant's own within its plan's (USD micros).
    pub fn ai_budget_micros(&self) -> Option<i64> {
        match (
            self.agent.monthly_budget_micros,
            self.plan.limits().ai_budget_micros,
        ) {
            (Some(own), Some(cap)) => Some(own.min(cap)),
            (own, cap) => own.or(cap),
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == TenantStatus::Active
    }

    /// The tenant's zone; an unknown name falls back to UTC rather than failing a request.
    pub fn zone(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.timezone).unwrap_or(jiff::tz::TimeZone::UTC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_ids() {
        for ok in ["demo", "acme-shop", "t1", "0x"] {
            assert_eq!(TenantId::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_ids_that_could_forge_keys() {
        for bad in [
            "",
            "a",
            "-lead",
            "Demo",
            "a#b",
            "a/b",
            "x".repeat(41).as_str(),
            "tenant#C#x",
        ] {
            assert_eq!(TenantId::parse(bad), Err(InvalidTenantId), "{bad}");
        }
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<TenantId>("\"ok-1\"").is_ok());
        assert!(serde_json::from_str::<TenantId>("\"BAD#\"").is_err());
    }

    #[test]
    fn a_minimal_item_loads_with_defaults() {
        let config: TenantConfig = serde_json::from_str(r#"{"tenant":"acme"}"#).unwrap();
        assert_eq!(config.agent.rate_limit_per_minute, 30);
        assert_eq!(config.loyalty.cashback_bp, 500);
        assert_eq!(config.leads.default_region, "KZ");
        assert!(config.managers.is_empty());
        let partial: TenantConfig =
            serde_json::from_str(r#"{"tenant":"acme","loyalty":{"enabled":true}}"#).unwrap();
        assert!(partial.loyalty.enabled);
        assert_eq!(partial.loyalty.max_redeem_percent, 50);
        assert_eq!(partial.orders.expiry_hours, 24);
        assert_eq!(partial.orders.currency, "KZT");
        let orders: TenantConfig = serde_json::from_str(
            r#"{"tenant":"acme","orders":{"expiry_hours":0,"providers":["stripe","kaspi"]}}"#,
        )
        .unwrap();
        assert_eq!(orders.orders.expiry_ms(), 3_600_000, "at least an hour");
        assert_eq!(orders.orders.providers.len(), 2);
    }
}
