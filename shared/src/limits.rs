//! Plans and their limits: a typed registry (free, start, business) with per-tenant
//! overrides stored in the tenant's config (`plan`), usage counters per tenant and month,
//! hard limits refused with 402 `plan_limit_exceeded`, soft limits that only flag, and
//! the 80 % / 100 % warnings, once per period each.
//!
//! Usage of a month lives in the partition `T#{t}#USAGE#{yyyy-mm}` next to the AI spend
//! (`USAGE`): the counters item `PLAN` (orders, conversations, the over-plan flags and
//! warning markers), so one Query reads everything a month used.

use crate::api::ApiError;
use crate::notify::{self, Notice, Recipients};
use crate::plan::{Cond, Update};
use crate::ports::{MessageQueue, StoreError};
use crate::tenant::{TenantConfig, TenantId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The plans a tenant can be on. A tenant without one is on `start`: the plan of every
/// tenant onboarded before plans existed, so none of them is cut down by an upgrade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PlanId {
    Free,
    #[default]
    Start,
    Business,
}

impl PlanId {
    pub const ALL: [PlanId; 3] = [PlanId::Free, PlanId::Start, PlanId::Business];

    pub fn as_str(self) -> &'static str {
        match self {
            PlanId::Free => "free",
            PlanId::Start => "start",
            PlanId::Business => "business",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == raw)
    }

    /// The registry: what each plan includes. `None` is unlimited.
    pub fn limits(self) -> Limits {
        match self {
            PlanId::Free => Limits {
                channels: Some(1),
                catalog_items: Some(100),
                orders_per_month: Some(1_000),
                conversations_per_month: Some(1_000),
                ai_budget_micros: Some(5_000_000),
                api_rate_per_key: Some(60),
            },
            PlanId::Start => Limits {
                channels: Some(5),
                catalog_items: Some(1_000),
                orders_per_month: Some(10_000),
                conversations_per_month: Some(10_000),
                ai_budget_micros: Some(50_000_000),
                api_rate_per_key: Some(600),
            },
            PlanId::Business => Limits {
                channels: Some(20),
                catalog_items: Some(50_000),
                orders_per_month: None,
                conversations_per_month: None,
                ai_budget_micros: Some(500_000_000),
                api_rate_per_key: Some(3_000),
            },
        }
    }
}

/// What a plan allows; `None` is unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Limits {
    /// Telegram bots and WhatsApp numbers connected.
    pub channels: Option<u64>,
    /// Items of the active catalog.
    pub catalog_items: Option<u64>,
    pub orders_per_month: Option<u64>,
    /// Conversations with at least one customer message in the month.
    pub conversations_per_month: Option<u64>,
    /// AI spend per month, USD micros.
    pub ai_budget_micros: Option<i64>,
    /// Requests per API key and minute.
    pub api_rate_per_key: Option<u32>,
}

/// The tenant's plan as stored in its config: the plan and the limits it overrides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PlanSettings {
    pub id: PlanId,
    /// Per-tenant overrides: a field set here replaces the plan's limit.
    pub overrides: Limits,
}

impl PlanSettings {
    /// The limits in force: the plan's, with the tenant's overrides on top.
    pub fn limits(&self) -> Limits {
        let base = self.id.limits();
        let o = &self.overrides;
        Limits {
            channels: o.channels.or(base.channels),
            catalog_items: o.catalog_items.or(base.catalog_items),
            orders_per_month: o.orders_per_month.or(base.orders_per_month),
            conversations_per_month: o.conversations_per_month.or(base.conversations_per_month),
            ai_budget_micros: o.ai_budget_micros.or(base.ai_budget_micros),
            api_rate_per_key: o.api_rate_per_key.or(base.api_rate_per_key),
        }
    }
}

/// What is limited, as named in errors, usage and warnings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Channels,
    CatalogItems,
    OrdersPerMonth,
    ConversationsPerMonth,
}

impl Metric {
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Channels => "channels",
            Metric::CatalogItems => "catalog_items",
            Metric::OrdersPerMonth => "orders_per_month",
            Metric::ConversationsPerMonth => "conversations_per_month",
        }
    }

    /// The counter attribute of the month's `PLAN` item (monthly metrics only).
    pub fn counter(self) -> Option<&'static str> {
        match self {
            Metric::OrdersPerMonth => Some("orders"),
            Metric::ConversationsPerMonth => Some("conversations"),
            _ => None,
        }
    }

    pub fn limit(self, limits: &Limits) -> Option<u64> {
        match self {
            Metric::Channels => limits.channels,
            Metric::CatalogItems => limits.catalog_items,
            Metric::OrdersPerMonth => limits.orders_per_month,
            Metric::ConversationsPerMonth => limits.conversations_per_month,
        }
    }
}

/// A hard limit a creation would pass: nothing of it is done.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the {plan} plan allows {limit} {}; this would make {usage}", metric.as_str())]
pub struct LimitExceeded {
    pub plan: &'static str,
    pub metric: Metric,
    pub limit: u64,
    /// What the tenant would have after the refused change.
    pub usage: u64,
}

impl From<LimitExceeded> for ApiError {
    fn from(e: LimitExceeded) -> Self {
        ApiError::new(
            http::StatusCode::PAYMENT_REQUIRED,
            "plan_limit_exceeded",
            e.to_string(),
        )
        .with("plan", json!(e.plan))
        .with("limit_name", json!(e.metric.as_str()))
        .with("limit", json!(e.limit))
        .with("usage", json!(e.usage))
    }
}

/// A hard limit: `usage` (after the change) may equal the limit, never pass it.
pub fn check(config: &TenantConfig, metric: Metric, usage: u64) -> Result<(), LimitExceeded> {
    match metric.limit(&config.plan.limits()) {
        Some(limit) if usage > limit => Err(LimitExceeded {
            plan: config.plan.id.as_str(),
            metric,
            limit,
            usage,
        }),
        _ => Ok(()),
    }
}

/// The month's AI budget in force (USD micros): the plan's, or the tenant's own
/// `agent.monthly_budget_micros` when that is lower. `None`: unlimited.
pub fn ai_budget(config: &TenantConfig) -> Option<i64> {
    let plan = config.plan.limits().ai_budget_micros;
    match (plan, config.agent.monthly_budget_micros) {
        (Some(p), Some(own)) => Some(p.min(own)),
        (p, own) => p.or(own),
    }
}

/// Channels a config connects: its Telegram bot and its WhatsApp number.
pub fn channels(config: &TenantConfig) -> u64 {
    u64::from(config.telegram_bot_username.is_some())
        + u64::from(config.whatsapp_phone_number_id.is_some())
}

/// A config change may keep an existing excess (a downgraded plan never cuts a channel
/// off) but never add a channel over the limit.
pub fn check_channels(before: &TenantConfig, after: &TenantConfig) -> Result<(), LimitExceeded> {
    let (was, now) = (channels(before), channels(after));
    if now > was {
        check(after, Metric::Channels, now)
    } else {
        Ok(())
    }
}

/// The warning thresholds, in percent of a limit.
pub const THRESHOLDS: [u8; 2] = [80, 100];

/// The tenant-local month (`yyyy-mm`) of `now_ms`: the period of monthly limits.
pub fn month_of(config: &TenantConfig, now_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(now_ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(config.zone())
        .strftime("%Y-%m")
        .to_string()
}

pub const PLAN_USAGE_SK: &str = "PLAN";

pub fn usage_key(tenant: &TenantId, month: &str) -> (String, String) {
    (
        crate::keys::ai_usage(tenant, month).0,
        PLAN_USAGE_SK.to_owned(),
    )
}

/// Counts `n` more of a monthly metric: an update to put inside the consuming write.
pub fn count(tenant: &TenantId, month: &str, metric: Metric, n: i64) -> Option<Update> {
    let attr = metric.counter()?;
    Some(
        Update::new(usage_key(tenant, month))
            .add(attr, n)
            .set("tenant", tenant.as_str())
            .set("month", month),
    )
}

fn marker_attr(metric: Metric, pct: u8) -> String {
    format!("warned_{}_{pct}", metric.as_str())
}

fn over_attr(metric: Metric) -> String {
    format!("over_{}", metric.as_str())
}

/// Marks a warning as sent for the month; refused when it already was (once per period).
pub fn warning_marker(
    tenant: &TenantId,
    month: &str,
    metric: Metric,
    pct: u8,
    at_ms: i64,
) -> Update {
    let attr = marker_attr(metric, pct);
    let mut update = Update::new(usage_key(tenant, month))
        .set(&attr, at_ms)
        .when(Cond::absent(&attr));
    if pct >= 100 {
        update = update.set(&over_attr(metric), true);
    }
    update
}

/// A month's usage item, as stored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MonthUsage {
    #[serde(default)]
    pub orders: u64,
    #[serde(default)]
    pub conversations: u64,
    /// AI spend of the month (the agent's `USAGE` item), USD micros.
    #[serde(default)]
    pub ai_cost_micros: i64,
    /// Every other attribute: warning markers and over-plan flags.
    #[serde(flatten)]
    pub marks: serde_json::Map<String, serde_json::Value>,
}

impl MonthUsage {
    pub fn of(&self, metric: Metric) -> u64 {
        match metric {
            Metric::OrdersPerMonth => self.orders,
            Metric::ConversationsPerMonth => self.conversations,
            _ => 0,
        }
    }

    pub fn warned(&self, metric: Metric, pct: u8) -> bool {
        self.marks.contains_key(&marker_attr(metric, pct))
    }

    pub fn over(&self, metric: Metric) -> bool {
        self.marks.get(&over_attr(metric)) == Some(&serde_json::Value::Bool(true))
    }
}

/// The thresholds `usage` has reached and no warning was sent for yet.
pub fn due_warnings(limit: Option<u64>, usage: &MonthUsage, metric: Metric) -> Vec<u8> {
    let Some(limit) = limit else {
        return Vec::new();
    };
    let used = usage.of(metric);
    THRESHOLDS
        .into_iter()
        .filter(|pct| used * 100 >= u64::from(*pct) * limit.max(1))
        .filter(|pct| !usage.warned(metric, *pct))
        .collect()
}

/// Port: the month's usage counters.
#[async_trait]
pub trait UsageStore: Send + Sync {
    /// The month's counters, markers and AI spend: one Query.
    async fn month(&self, tenant: &TenantId, month: &str) -> Result<MonthUsage, StoreError>;
    /// Applies a conditional update; `Ok(false)` when its condition failed.
    async fn mark(&self, update: Update) -> Result<bool, StoreError>;
}

/// Where warnings go: the tenant's managers, and the operator for soft limits passed.
pub struct Watch<'a> {
    pub usage: &'a dyn UsageStore,
    pub notify: &'a dyn MessageQueue,
    /// The platform operator's Telegram chat (`OPERATOR_CHAT_ID`), told of tenants over their plan.
    pub operator_chat: Option<i64>,
}

/// After something of a monthly metric was consumed (its counter already counted in the
/// consuming write): sends the 80 % and 100 % warnings due, each once per month (the
/// marker's condition decides), and at 100 % flags the tenant as over its plan and tells
/// the operator. Never fails the caller: a buyer is never blocked by a limit.
pub async fn after_consumption(
    watch: &Watch<'_>,
    config: &TenantConfig,
    metric: Metric,
    now_ms: i64,
) {
    let tenant = &config.tenant;
    let month = month_of(config, now_ms);
    let limit = metric.limit(&config.plan.limits());
    if limit.is_none() {
        return;
    }
    let usage = match watch.usage.month(tenant, &month).await {
        Ok(usage) => usage,
        Err(e) => {
            tracing::warn!(%tenant, error = %e, "plan usage unavailable; warnings wait for the next one");
            return;
        }
    };
    for pct in due_warnings(limit, &usage, metric) {
        match watch
            .usage
            .mark(warning_marker(tenant, &month, metric, pct, now_ms))
            .await
        {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "plan warning marker failed");
                continue;
            }
        }
        let used = usage.of(metric);
        let limit = limit.unwrap_or_default();
        let html = warning_html(config, metric, pct, used, limit);
        let id = notify::notice_id(&["plan", metric.as_str(), &month, &pct.to_string()]);
        let mut notices = vec![Notice {
            tenant: tenant.clone(),
            id: id.clone(),
            kind: "plan_limit".into(),
            to: Recipients::Managers,
            html: html.clone(),
        }];
        if pct >= 100 {
            if let Some(chat) = watch.operator_chat {
                notices.push(Notice {
                    tenant: tenant.clone(),
                    id: format!("{id}:operator"),
                    kind: "plan_over".into(),
                    to: Recipients::Chats(vec![chat]),
                    html: format!(
                        "Tenant <b>{tenant}</b> is over its {} plan: {} {used} of {limit} in {month}.",
                        config.plan.id.as_str(),
                        metric.as_str()
                    ),
                });
            }
            tracing::warn!(%tenant, metric = metric.as_str(), used, limit, "tenant over its plan");
        }
        for notice in notices {
            if let Err(e) = notify::send(watch.notify, notice).await {
                tracing::warn!(%tenant, error = %e, "plan warning not queued");
            }
        }
    }
}

fn warning_html(config: &TenantConfig, metric: Metric, pct: u8, used: u64, limit: u64) -> String {
    use crate::i18n::{limits as texts, Lang};
    let lang = Lang::pick(None, &config.default_language);
    let what = match metric {
        Metric::OrdersPerMonth => texts::ORDERS.render(lang, &[]),
        Metric::ConversationsPerMonth => texts::CONVERSATIONS.render(lang, &[]),
        Metric::Channels => texts::CHANNELS.render(lang, &[]),
        Metric::CatalogItems => texts::CATALOG_ITEMS.render(lang, &[]),
    };
    let text = if pct >= 100 {
        &texts::REACHED
    } else {
        &texts::NEARLY
    };
    text.render(
        lang,
        &[
            ("what", &what),
            ("used", &used),
            ("limit", &limit),
            ("plan", &config.plan.id.as_str()),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ai_budget_is_the_plans_or_the_tenants_own_when_lower() {
        let mut c = TenantConfig::new(TenantId::parse("shop").unwrap(), "Shop");
        c.plan.id = PlanId::Free;
        c.agent.monthly_budget_micros = None;
        assert_eq!(ai_budget(&c), Some(5_000_000));
        c.agent.monthly_budget_micros = Some(1_000);
        assert_eq!(ai_budget(&c), Some(1_000));
        c.agent.monthly_budget_micros = Some(9_000_000);
        assert_eq!(ai_budget(&c), Some(5_000_000));
        c.plan.overrides.ai_budget_micros = Some(10_000_000);
        assert_eq!(ai_budget(&c), Some(9_000_000));
    }

    fn config(plan: PlanId) -> TenantConfig {
        let mut c = TenantConfig::new(TenantId::parse("acme").unwrap(), "Acme");
        c.plan.id = plan;
        c
    }

    #[test]
    fn overrides_replace_only_what_they_set() {
        let mut c = config(PlanId::Free);
        c.plan.overrides.catalog_items = Some(250);
        let limits = c.plan.limits();
        assert_eq!(limits.catalog_items, Some(250));
        assert_eq!(limits.channels, Some(1));
        assert_eq!(PlanId::Business.limits().orders_per_month, None);
    }

    #[test]
    fn a_hard_limit_admits_exactly_the_limit() {
        let c = config(PlanId::Free);
        assert!(check(&c, Metric::CatalogItems, 100).is_ok());
        let refused = check(&c, Metric::CatalogItems, 101).unwrap_err();
        assert_eq!((refused.limit, refused.usage), (100, 101));
        let api = ApiError::from(refused);
        assert_eq!(api.status.as_u16(), 402);
        assert_eq!(api.body()["error"]["code"], "plan_limit_exceeded");
        assert_eq!(api.body()["error"]["limit"], 100);
        assert_eq!(api.body()["error"]["usage"], 101);
    }

    #[test]
    fn a_downgrade_keeps_channels_but_adds_none() {
        let mut two = config(PlanId::Free);
        two.telegram_bot_username = Some("shop_bot".into());
        two.whatsapp_phone_number_id = Some("123".into());
        let mut one = two.clone();
        one.whatsapp_phone_number_id = None;
        assert!(check_channels(&two, &two).is_ok(), "kept");
        assert!(check_channels(&two, &one).is_ok(), "removed");
        assert_eq!(check_channels(&one, &two).unwrap_err().usage, 2);
    }

    #[test]
    fn warnings_are_due_once_per_threshold() {
        let mut usage = MonthUsage {
            orders: 799,
            ..Default::default()
        };
        assert!(due_warnings(Some(1000), &usage, Metric::OrdersPerMonth).is_empty());
        usage.orders = 800;
        assert_eq!(
            due_warnings(Some(1000), &usage, Metric::OrdersPerMonth),
            vec![80]
        );
        usage
            .marks
            .insert(marker_attr(Metric::OrdersPerMonth, 80), json!(1));
        assert!(due_warnings(Some(1000), &usage, Metric::OrdersPerMonth).is_empty());
        usage.orders = 1000;
        assert_eq!(
            due_warnings(Some(1000), &usage, Metric::OrdersPerMonth),
            vec![100]
        );
        assert!(due_warnings(None, &usage, Metric::OrdersPerMonth).is_empty());
    }
}
