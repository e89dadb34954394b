//! Stage 2: what to do with the message. [`gate`] is a pure rule over the loaded
//! context; for an answer, [`route`] picks the model (and the key it may see) or the
//! fallback, reading the month's spend and the secrets through their ports.

use super::load::Context;
use super::{transient, JobError};
use crate::conversation::ReplyState;
use crate::llm::Endpoint;
use crate::notices::{self, OnceNotice};
use crate::usage::{month_of, UsageTracker};
use sauda_shared::limits;
use sauda_shared::message::Channel;
use sauda_shared::notify::Notice;
use sauda_shared::ports::SecretSource;
use sauda_shared::secrets::Secret;
use sauda_shared::tenant::AgentSettings;
use sauda_shared::whatsapp_api;

/// The outcome of the rules that need no I/O.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Handled by an earlier delivery (its stored state): nothing to do.
    Handled(String),
    /// Stored, not answered.
    Silent(ReplyState),
    /// Over the rate limit, first time this minute: one polite notice, no model.
    RateLimitNotice,
    Answer,
}

/// In order: redelivery, not stored (poison), agent off, paused by a handoff,
/// WhatsApp's 24-hour window, superseded by a newer message, the rate limit.
pub fn gate(ctx: &Context) -> Result<Gate, JobError> {
    if let Some(state) = ctx.current.as_ref().and_then(|m| m.reply_state.clone()) {
        return Ok(Gate::Handled(state));
    }
    if ctx.current.is_none() && !ctx.newer_inbound {
        // The webhook stores every message before queueing it.
        return Err(JobError::Poison(format!(
            "inbound message {} is not stored",
            ctx.inbound_sk
        )));
    }
    let config = &ctx.config;
    let profile = ctx.conv.profile.as_ref();
    let ts = ctx.message.timestamp_ms;
    let limit = f64::from(config.agent.rate_limit_per_minute.max(1));
    Ok(if !config.is_active() || !config.agent.enabled {
        Gate::Silent(ReplyState::AgentDisabled)
    } else if profile.is_some_and(|p| p.agent_paused) {
        Gate::Silent(ReplyState::Paused)
    } else if ctx.message.channel == Channel::Whatsapp
        && !whatsapp_api::within_service_window(ctx.conv.last_customer_ms(ts), ctx.now_ms)
    {
        Gate::Silent(ReplyState::OutsideWindow)
    } else if ctx.newer_inbound {
        Gate::Silent(ReplyState::Superseded)
    } else if ctx.rate.rate(ts) > limit {
        if profile.and_then(|p| p.rl_notice_window) == Some(ctx.rate.window) {
            Gate::Silent(ReplyState::RateLimited)
        } else {
            Gate::RateLimitNotice
        }
    } else {
        Gate::Answer
    })
}

/// Why the retrieval fallback answers (the `fallback_{reason}` counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FallbackReason {
    /// No model may be called: no key, or a tenant URL without the tenant's own key.
    NoLlm,
    LlmError,
    Quota,
    Budget,
}

impl FallbackReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoLlm => "no_llm",
            Self::LlmError => "llm_error",
            Self::Quota => "quota",
            Self::Budget => "budget",
        }
    }
}

#[derive(Clone, Debug)]
pub enum Route {
    Model(Endpoint),
    Fallback(FallbackReason),
}

/// The platform's model (env): its URL is trusted.
#[derive(Clone, Debug)]
pub struct PlatformModel {
    pub base_url: String,
    pub model: String,
}

/// Which model a tenant's replies may use, with which key.
#[derive(Clone, Debug)]
pub enum Access {
    Model(Endpoint),
    /// No key anywhere.
    NoKey,
    /// The tenant chose a model URL (this one) but stored no key of its own.
    TenantUrlWithoutKey(String),
}

fn configured(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

fn usable(key: Option<&Secret>) -> Option<Secret> {
    key.filter(|k| !k.expose().trim().is_empty()).cloned()
}

/// Whether [`access`] may need the platform's key: only without a tenant URL and
/// without a tenant key.
pub fn needs_platform_key(agent: &AgentSettings, tenant_key: Option<&Secret>) -> bool {
    configured(agent.llm_base_url.as_deref()).is_none() && usable(tenant_key).is_none()
}

/// The rule: a tenant-chosen model URL gets only that tenant's key (none: no model
/// call at all); without a tenant URL the platform's URL is used, with the tenant's
/// key if it has one, else the platform's.
pub fn access(
    agent: &AgentSettings,
    tenant_key: Option<&Secret>,
    platform: &PlatformModel,
    platform_key: Option<&Secret>,
) -> Access {
    let model = configured(agent.model.as_deref())
        .unwrap_or(&platform.model)
        .to_owned();
    match configured(agent.llm_base_url.as_deref()) {
        Some(url) => match usable(tenant_key) {
            Some(api_key) => Access::Model(Endpoint {
                base_url: url.to_owned(),
                api_key,
                model,
                tenant_chosen: true,
            }),
            None => Access::TenantUrlWithoutKey(url.to_owned()),
        },
        None => match usable(tenant_key).or_else(|| usable(platform_key)) {
            Some(api_key) => Access::Model(Endpoint {
                base_url: platform.base_url.clone(),
                api_key,
                model,
                tenant_chosen: false,
            }),
            None => Access::NoKey,
        },
    }
}

/// What the stages that follow need.
#[derive(Clone, Copy)]
pub struct Ports<'a> {
    pub usage: &'a UsageTracker,
    pub secrets: &'a dyn SecretSource,
    pub platform: &'a PlatformModel,
}

pub enum Action {
    Handled(String),
    Silent(ReplyState),
    RateLimitNotice,
    Answer(Route),
}

pub struct Verdict {
    pub action: Action,
    /// To the managers, about this message.
    pub notices: Vec<Notice>,
    /// To the managers, at most once a month.
    pub once: Vec<OnceNotice>,
}

pub async fn decide(ports: &Ports<'_>, ctx: &Context) -> Result<Verdict, JobError> {
    let mut notices = Vec::new();
    let mut once = Vec::new();
    let action = match gate(ctx)? {
        Gate::Handled(state) => Action::Handled(state),
        Gate::Silent(state) => {
            match state {
                ReplyState::Paused => notices.push(notices::paused(&ctx.config, &ctx.message)),
                ReplyState::OutsideWindow => {
                    notices.push(notices::window_closed(&ctx.config, &ctx.message))
                }
                _ => {}
            }
            Action::Silent(state)
        }
        Gate::RateLimitNotice => Action::RateLimitNotice,
        Gate::Answer => Action::Answer(route(ports, ctx, &mut once).await?),
    };
    Ok(Verdict {
        action,
        notices,
        once,
    })
}

/// The model, unless the month's budget (the plan's, or the tenant's own when lower) is
/// spent or no model may be called.
pub async fn route(
    ports: &Ports<'_>,
    ctx: &Context,
    once: &mut Vec<OnceNotice>,
) -> Result<Route, JobError> {
    let config = &ctx.config;
    let month = month_of(config, ctx.now_ms);
    // The plan's AI budget, or the tenant's own when lower.
    if let Some(budget) = limits::ai_budget(config) {
        let spent = ports
            .usage
            .spent(&config.tenant, &month)
            .await
            .map_err(|e| transient("usage", e))?;
        if spent >= budget {
            once.push(notices::budget_spent(config, &month, spent, budget));
            return Ok(Route::Fallback(FallbackReason::Budget));
        }
        if i128::from(spent) * 100 >= i128::from(budget) * i128::from(limits::THRESHOLDS[0]) {
            once.push(notices::budget_nearly(config, &month, spent, budget));
        }
    }
    let tenant_key = ports
        .secrets
        .tenant_secrets(&config.tenant)
        .await
        .map_err(|e| transient("secrets", e))?
        .and_then(|s| s.llm_api_key.clone());
    let platform_key = if needs_platform_key(&config.agent, tenant_key.as_ref()) {
        ports
            .secrets
            .platform_secrets()
            .await
            .map_err(|e| transient("secrets", e))?
            .llm_api_key
            .clone()
    } else {
        None
    };
    Ok(
        match access(
            &config.agent,
            tenant_key.as_ref(),
            ports.platform,
            platform_key.as_ref(),
        ) {
            Access::Model(endpoint) => Route::Model(endpoint),
            Access::NoKey => Route::Fallback(FallbackReason::NoLlm),
            Access::TenantUrlWithoutKey(url) => {
                once.push(notices::llm_key_missing(config, &month, &url));
                Route::Fallback(FallbackReason::NoLlm)
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, MemorySecrets, MemoryUsage};
    use crate::usage::Marker;
    use sauda_shared::tenant::TenantStatus;
    use std::sync::Arc;

    fn platform() -> PlatformModel {
        PlatformModel {
            base_url: "https://api.openai.com/v1".into(),
            model: "gpt-4o-mini".into(),
        }
    }

    fn agent(url: Option<&str>) -> AgentSettings {
        AgentSettings {
            llm_base_url: url.map(str::to_owned),
            ..Default::default()
        }
    }

    /// Where a reply's model call goes and with which key (`None`: no call).
    fn call(url: Option<&str>, tenant_key: Option<&str>) -> Option<(String, String, bool)> {
        let tenant_key = tenant_key.map(Secret::new);
        let platform_key = Secret::new("sk-platform");
        match access(
            &agent(url),
            tenant_key.as_ref(),
            &platform(),
            Some(&platform_key),
        ) {
            Access::Model(e) => Some((e.base_url, e.api_key.expose().to_owned(), e.tenant_chosen)),
            Access::NoKey | Access::TenantUrlWithoutKey(_) => None,
        }
    }

    #[test]
    fn the_platform_key_never_goes_to_a_tenant_url() {
        let theirs = "https://llm.tenant.example/v1";
        let ours = "https://api.openai.com/v1";
        let to = |url: &str, key: &str, chosen| Some((url.to_owned(), key.to_owned(), chosen));
        assert_eq!(
            call(Some(theirs), None),
            None,
            "no tenant key: no call at all"
        );
        assert_eq!(
            call(Some(theirs), Some("sk-tenant")),
            to(theirs, "sk-tenant", true)
        );
        assert_eq!(call(None, Some("sk-tenant")), to(ours, "sk-tenant", false));
        assert_eq!(call(None, None), to(ours, "sk-platform", false));
        assert_eq!(
            call(Some("  "), Some(" ")),
            to(ours, "sk-platform", false),
            "blank is unset"
        );
        assert!(matches!(
            access(&agent(Some(theirs)), None, &platform(), None),
            Access::TenantUrlWithoutKey(url) if url == theirs
        ));
        assert!(matches!(
            access(&agent(None), None, &platform(), None),
            Access::NoKey
        ));
        assert!(
            !needs_platform_key(&agent(Some(theirs)), None),
            "not even read for a tenant URL"
        );
        assert!(needs_platform_key(&agent(None), None));
        assert!(!needs_platform_key(
            &agent(None),
            Some(&Secret::new("sk-tenant"))
        ));
    }

    #[test]
    fn gate_rules_in_order() {
        let now = testing::NOW;
        // Handled before: skipped whatever else holds.
        let mut c = testing::ctx(
            |_| {},
            |conv| conv.messages[0].reply_state = Some("replied".into()),
        );
        assert_eq!(gate(&c).unwrap(), Gate::Handled("replied".into()));
        // Not stored and nothing newer: poison.
        c = testing::ctx(|_| {}, |conv| conv.messages.clear());
        assert!(matches!(gate(&c), Err(JobError::Poison(_))));
        c = testing::ctx(|t| t.agent.enabled = false, |_| {});
        assert_eq!(gate(&c).unwrap(), Gate::Silent(ReplyState::AgentDisabled));
        c = testing::ctx(|t| t.status = TenantStatus::Suspended, |_| {});
        assert_eq!(gate(&c).unwrap(), Gate::Silent(ReplyState::AgentDisabled));
        c = testing::ctx(|_| {}, |conv| testing::profile(conv).agent_paused = true);
        assert_eq!(gate(&c).unwrap(), Gate::Silent(ReplyState::Paused));
        c = testing::ctx(
            |_| {},
            |conv| {
                conv.messages
                    .insert(0, testing::stored_in("MSG#9999999999999#in#later", now))
            },
        );
        assert_eq!(gate(&c).unwrap(), Gate::Silent(ReplyState::Superseded));
        // A message dated in the future but received earlier (the webhook clamped its
        // order to arrival) never silences the customer's current message.
        c = testing::ctx(
            |_| {},
            |conv| {
                let mut future =
                    testing::stored_in("MSG#9999999999999#in#forged", 9_999_999_999_999);
                future.order_ms = Some(testing::TS - 60_000);
                conv.messages.insert(0, future)
            },
        );
        assert_eq!(gate(&c).unwrap(), Gate::Answer);
        c = testing::whatsapp_ctx(now - 25 * 3_600_000);
        assert_eq!(gate(&c).unwrap(), Gate::Silent(ReplyState::OutsideWindow));
        c = testing::whatsapp_ctx(now - 3_600_000);
        assert_eq!(gate(&c).unwrap(), Gate::Answer);
        // Over the limit: the notice once per minute, then silence.
        let window = testing::TS.div_euclid(60_000);
        let over_limit = |noticed: Option<i64>| {
            testing::ctx(
                |t| t.agent.rate_limit_per_minute = 2,
                |conv| {
                    let p = testing::profile(conv);
                    (p.rl_window, p.rl_count, p.rl_notice_window) =
                        (Some(window), Some(2), noticed);
                },
            )
        };
        assert_eq!(gate(&over_limit(None)).unwrap(), Gate::RateLimitNotice);
        c = over_limit(Some(window));
        assert_eq!(gate(&c).unwrap(), Gate::Silent(ReplyState::RateLimited));
        assert_eq!(gate(&testing::ctx(|_| {}, |_| {})).unwrap(), Gate::Answer);
    }

    async fn verdict(ctx: &Context, usage: &UsageTracker, secrets: &MemorySecrets) -> Verdict {
        let platform = platform();
        let ports = Ports {
            usage,
            secrets,
            platform: &platform,
        };
        decide(&ports, ctx).await.unwrap()
    }

    #[tokio::test]
    async fn a_tenant_url_without_a_tenant_key_falls_back_and_tells_the_managers() {
        let usage = UsageTracker::new(Arc::new(MemoryUsage::default()));
        let secrets = MemorySecrets::with_platform_key("sk-platform");
        let ctx = testing::ctx(
            |t| {
                t.default_language = "kk".into();
                t.agent.llm_base_url = Some("https://llm.tenant.example/v1".into());
            },
            |_| {},
        );
        let v = verdict(&ctx, &usage, &secrets).await;
        assert!(matches!(
            v.action,
            Action::Answer(Route::Fallback(FallbackReason::NoLlm))
        ));
        assert_eq!(v.once.len(), 1);
        assert_eq!(v.once[0].marker, Marker::LlmKeyMissing);
        assert!(v.once[0].notice.html.contains("llm.tenant.example"));
        assert!(
            v.once[0].notice.html.contains("кілтіңіз"),
            "in the tenant's language"
        );
        assert_eq!(
            secrets.platform_reads(),
            0,
            "the platform key is not even read"
        );
    }

    #[tokio::test]
    async fn a_spent_budget_falls_back_before_any_key_is_read() {
        let store = Arc::new(MemoryUsage::default());
        store.set_cost(1_000);
        let usage = UsageTracker::new(store);
        let secrets = MemorySecrets::with_platform_key("sk-platform");
        let ctx = testing::ctx(|t| t.agent.monthly_budget_micros = Some(1_000), |_| {});
        let v = verdict(&ctx, &usage, &secrets).await;
        assert!(matches!(
            v.action,
            Action::Answer(Route::Fallback(FallbackReason::Budget))
        ));
        assert_eq!(v.once[0].marker, Marker::Budget);
        assert_eq!(secrets.tenant_reads(), 0);
        // Under budget: the platform's model with the platform key.
        let ctx = testing::ctx(|t| t.agent.monthly_budget_micros = Some(1_001), |_| {});
        let v = verdict(&ctx, &usage, &secrets).await;
        let Action::Answer(Route::Model(e)) = v.action else {
            panic!()
        };
        assert_eq!(e.api_key.expose(), "sk-platform");
        // 1,000 of 1,001 is past 80 %: the managers are warned, the model still answers.
        assert_eq!(v.once.len(), 1);
        assert_eq!(v.once[0].marker, Marker::BudgetNearly);
    }

    #[tokio::test]
    async fn eighty_percent_of_the_ai_budget_warns_and_the_model_still_answers() {
        let store = Arc::new(MemoryUsage::default());
        let secrets = MemorySecrets::with_platform_key("sk-platform");
        let ctx = testing::ctx(|t| t.agent.monthly_budget_micros = Some(1_000), |_| {});
        store.set_cost(799);
        let v = verdict(&ctx, &UsageTracker::new(store.clone()), &secrets).await;
        assert!(matches!(v.action, Action::Answer(Route::Model(_))));
        assert!(v.once.is_empty(), "under 80 %");
        store.set_cost(800);
        let v = verdict(&ctx, &UsageTracker::new(store), &secrets).await;
        assert!(matches!(v.action, Action::Answer(Route::Model(_))));
        assert_eq!(v.once.len(), 1);
        assert_eq!(v.once[0].marker, Marker::BudgetNearly);
        assert_eq!(
            v.once[0].notice.id,
            sauda_shared::notify::notice_id(&["budget_80", &v.once[0].month])
        );
        assert_eq!(v.once[0].notice.kind, "budget_nearly");
    }

    #[tokio::test]
    async fn the_plans_ai_budget_is_enforced_without_a_budget_of_the_tenants_own() {
        let store = Arc::new(MemoryUsage::default());
        // The free plan's $5 a month, spent to the micro.
        store.set_cost(5_000_000);
        let usage = UsageTracker::new(store.clone());
        let secrets = MemorySecrets::with_platform_key("sk-platform");
        let on_free = |t: &mut sauda_shared::tenant::TenantConfig| {
            t.plan.id = sauda_shared::limits::PlanId::Free;
            t.agent.monthly_budget_micros = None;
        };
        let v = verdict(&testing::ctx(on_free, |_| {}), &usage, &secrets).await;
        assert!(matches!(
            v.action,
            Action::Answer(Route::Fallback(FallbackReason::Budget))
        ));
        assert_eq!(v.once[0].marker, Marker::Budget);
        // A plan override raising the budget lets the model answer again.
        let raised = |t: &mut sauda_shared::tenant::TenantConfig| {
            on_free(t);
            t.plan.overrides.ai_budget_micros = Some(5_000_001);
        };
        let usage = UsageTracker::new(store);
        let v = verdict(&testing::ctx(raised, |_| {}), &usage, &secrets).await;
        assert!(matches!(v.action, Action::Answer(Route::Model(_))));
    }

    #[tokio::test]
    async fn silent_states_tell_the_managers_what_they_must_do() {
        let usage = UsageTracker::new(Arc::new(MemoryUsage::default()));
        let secrets = MemorySecrets::default();
        let ctx = testing::ctx(|_| {}, |conv| testing::profile(conv).agent_paused = true);
        let v = verdict(&ctx, &usage, &secrets).await;
        assert!(matches!(v.action, Action::Silent(ReplyState::Paused)));
        assert_eq!(v.notices.len(), 1);
        assert_eq!(v.notices[0].kind, "paused");
        let v = verdict(
            &testing::whatsapp_ctx(testing::NOW - 25 * 3_600_000),
            &usage,
            &secrets,
        )
        .await;
        assert_eq!(v.notices[0].kind, "window");
    }
}
