//! The one validation of a tenant's settings: an RFC 7386 merge patch applied to the
//! stored config and checked strictly (known fields and types, time zone, languages,
//! prompt sizes, every tenant-configured URL through the outbound-URL policy, the
//! plan's channel limit). The operator CLI (`sauda tenant configure`) and the tenant
//! admin API both apply patches through [`apply`]; a refused patch changes nothing.

use crate::api::ApiError;
use crate::i18n::Lang;
use crate::limits::{self, LimitExceeded};
use crate::outbound::{UrlError, UrlPolicy};
use crate::tenant::{TenantConfig, MAX_LOYALTY_ADMINS};
use serde::Serialize;
use serde_json::Value;

/// Who patches: the operator may change everything but the tenant id; a tenant admin
/// may not change what the platform decides (status, plan) or what other routes manage
/// (the catalog's versions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Operator,
    TenantAdmin,
}

/// Fields a tenant admin may not patch.
pub const OPERATOR_ONLY: &[&str] = &["status", "plan", "catalog", "created_at_ms"];

pub const MAX_PERSONA: usize = 2_000;
pub const MAX_SYSTEM_PROMPT: usize = 8_000;
pub const MAX_STAGE_PROMPT: usize = 4_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
    #[serde(skip)]
    pub url: Option<UrlError>,
}

impl FieldError {
    fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
            url: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    #[error("{}", .0.iter().map(|f| format!("{}: {} ({})", f.field, f.message, f.code)).collect::<Vec<_>>().join("; "))]
    Fields(Vec<FieldError>),
    #[error(transparent)]
    Limit(#[from] LimitExceeded),
}

impl From<PatchError> for ApiError {
    fn from(e: PatchError) -> Self {
        match e {
            PatchError::Fields(fields) => ApiError::validation(fields),
            PatchError::Limit(e) => e.into(),
        }
    }
}

/// Every URL a tenant's config names, with its place in the config (`agent.llm_base_url`,
/// `leads.crm_webhook_url`): the value of any field whose name ends in `_url` (or each
/// of a `_urls` list), wherever a capability puts it, so a new setting is covered too.
pub fn configured_urls(config: &TenantConfig) -> Vec<(String, String)> {
    fn walk(value: &Value, path: &str, out: &mut Vec<(String, String)>) {
        let Value::Object(fields) = value else {
            return;
        };
        for (name, value) in fields {
            let here = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            match value {
                Value::String(url) if name.ends_with("_url") => out.push((here, url.clone())),
                Value::Array(urls) if name.ends_with("_urls") => {
                    for (i, url) in urls.iter().enumerate() {
                        if let Some(url) = url.as_str() {
                            out.push((format!("{here}[{i}]"), url.to_owned()));
                        }
                    }
                }
                _ => walk(value, &here, out),
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &serde_json::to_value(config).unwrap_or_default(),
        "",
        &mut out,
    );
    out
}

/// Every configured URL the policy refuses, with its field.
pub fn url_errors(config: &TenantConfig, policy: UrlPolicy) -> Vec<FieldError> {
    configured_urls(config)
        .into_iter()
        .filter_map(|(field, url)| {
            policy.check(&url).err().map(|error| FieldError {
                field,
                code: error.code(),
                message: error.to_string(),
                url: Some(error),
            })
        })
        .collect()
}

fn merged(current: &Value, patch: &Value) -> Value {
    let mut value = current.clone();
    json_patch::merge(&mut value, patch);
    value
}

/// Applies `patch` to `current` and validates the result; every problem is reported
/// with its field, and nothing is returned unless all of it is valid.
pub fn apply(
    current: &TenantConfig,
    patch: &Value,
    policy: UrlPolicy,
    scope: Scope,
) -> Result<TenantConfig, PatchError> {
    let Value::Object(fields) = patch else {
        return Err(PatchError::Fields(vec![FieldError::new(
            "",
            "patch_not_an_object",
            "a merge patch is a JSON object",
        )]));
    };
    let mut errors = Vec::new();
    for name in fields.keys() {
        let read_only = name == "tenant"
            || (scope == Scope::TenantAdmin && OPERATOR_ONLY.contains(&name.as_str()));
        if read_only {
            errors.push(FieldError::new(
                name.as_str(),
                "field_read_only",
                "this setting cannot be changed here",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(PatchError::Fields(errors));
    }
    let base = serde_json::to_value(current).unwrap_or_default();
    let config = match serde_json::from_value::<TenantConfig>(merged(&base, patch)) {
        Ok(config) => config,
        Err(whole) => {
            // Which sections are wrong: each one merged alone.
            for (name, value) in fields {
                let one = serde_json::json!({ name.as_str(): value });
                if let Err(e) = serde_json::from_value::<TenantConfig>(merged(&base, &one)) {
                    errors.push(FieldError::new(
                        name.as_str(),
                        "invalid_value",
                        e.to_string(),
                    ));
                }
            }
            if errors.is_empty() {
                errors.push(FieldError::new("", "invalid_value", whole.to_string()));
            }
            return Err(PatchError::Fields(errors));
        }
    };
    if let Err(e) = jiff::tz::TimeZone::get(&config.timezone) {
        errors.push(FieldError::new(
            "timezone",
            "unknown_time_zone",
            format!("{:?}: {e}", config.timezone),
        ));
    }
    let language = |field: &str, code: &str, errors: &mut Vec<FieldError>| {
        if Lang::parse(code).is_none() {
            errors.push(FieldError::new(
                field,
                "unsupported_language",
                format!("{code:?} is not one of ru, en, kk, ky"),
            ));
        }
    };
    if config.default_language != current.default_language {
        language("default_language", &config.default_language, &mut errors);
    }
    if let Some(code) = config.reports.language.as_deref() {
        if config.reports.language != current.reports.language {
            language("reports.language", code, &mut errors);
        }
    }
    let too_long = |field: String, text: &str, max: usize, errors: &mut Vec<FieldError>| {
        if text.chars().count() > max {
            errors.push(FieldError::new(
                field,
                "prompt_too_long",
                format!("at most {max} characters"),
            ));
        }
    };
    too_long(
        "agent.persona".into(),
        &config.agent.persona,
        MAX_PERSONA,
        &mut errors,
    );
    too_long(
        "agent.system_prompt".into(),
        &config.agent.system_prompt,
        MAX_SYSTEM_PROMPT,
        &mut errors,
    );
    for (stage, prompt) in &config.agent.stage_prompts {
        if crate::funnel::Stage::parse(stage).is_none() {
            errors.push(FieldError::new(
                format!("agent.stage_prompts.{stage}"),
                "unknown_stage",
                "not a funnel stage",
            ));
        }
        too_long(
            format!("agent.stage_prompts.{stage}"),
            prompt,
            MAX_STAGE_PROMPT,
            &mut errors,
        );
    }
    errors.extend(admin_chat_errors(&config));
    let window = config.loyalty.nps_window;
    if window.from_hour >= window.to_hour || window.to_hour > 24 {
        errors.push(FieldError::new(
            "loyalty.nps_window",
            "invalid_window",
            "from_hour < to_hour <= 24",
        ));
    }
    errors.extend(url_errors(&config, policy));
    if !errors.is_empty() {
        return Err(PatchError::Fields(errors));
    }
    limits::check_channels(current, &config)?;
    Ok(config)
}

/// The loyalty admins' chats: at most [`MAX_LOYALTY_ADMINS`], none zero, none twice.
fn admin_chat_errors(config: &TenantConfig) -> Vec<FieldError> {
    let chats = &config.loyalty.admin_chats;
    let field = "loyalty.admin_chats";
    let mut errors = Vec::new();
    if chats.len() > MAX_LOYALTY_ADMINS {
        errors.push(FieldError::new(
            field,
            "too_many_admins",
            format!("at most {MAX_LOYALTY_ADMINS} chats"),
        ));
    }
    if chats.contains(&0) {
        errors.push(FieldError::new(
            field,
            "invalid_chat_id",
            "0 is not a Telegram chat",
        ));
    }
    let distinct: std::collections::BTreeSet<_> = chats.iter().collect();
    if distinct.len() != chats.len() {
        errors.push(FieldError::new(
            field,
            "duplicate_chat_id",
            "each chat once",
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::TenantId;
    use serde_json::json;

    const PRODUCTION: UrlPolicy = UrlPolicy {
        allow_loopback: false,
    };

    fn current() -> TenantConfig {
        TenantConfig::new(TenantId::parse("acme").unwrap(), "Acme")
    }

    fn fields(e: PatchError) -> Vec<(String, &'static str)> {
        match e {
            PatchError::Fields(f) => f.into_iter().map(|f| (f.field, f.code)).collect(),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn a_valid_patch_changes_what_it_names() {
        let patched = apply(
            &current(),
            &json!({"timezone": "Asia/Almaty", "agent": {"persona": "Aigerim"}}),
            PRODUCTION,
            Scope::TenantAdmin,
        )
        .unwrap();
        assert_eq!(patched.timezone, "Asia/Almaty");
        assert_eq!(patched.agent.persona, "Aigerim");
        assert_eq!(patched.agent.top_k, 5, "untouched");
    }

    #[test]
    fn every_bad_field_is_reported_and_nothing_applies() {
        let refused = apply(
            &current(),
            &json!({
                "timezone": "Mars/Olympus",
                "default_language": "fr",
                "agent": {"llm_base_url": "http://llm.example.com", "system_prompt": "x".repeat(MAX_SYSTEM_PROMPT + 1)},
                "leads": {"crm_webhook_url": "https://10.0.0.1/hook"}
            }),
            PRODUCTION,
            Scope::TenantAdmin,
        )
        .unwrap_err();
        let mut got = fields(refused);
        got.sort();
        assert_eq!(
            got,
            vec![
                ("agent.llm_base_url".into(), "url_not_https"),
                ("agent.system_prompt".into(), "prompt_too_long"),
                ("default_language".into(), "unsupported_language"),
                ("leads.crm_webhook_url".into(), "url_forbidden_address"),
                ("timezone".into(), "unknown_time_zone"),
            ]
        );
    }

    #[test]
    fn wrong_types_are_reported_per_section() {
        let refused = apply(
            &current(),
            &json!({"agent": {"temperature": "hot"}, "name": "Ok", "orders": {"expiry_hours": -1}}),
            PRODUCTION,
            Scope::TenantAdmin,
        )
        .unwrap_err();
        let got: Vec<_> = fields(refused).into_iter().map(|(f, _)| f).collect();
        assert_eq!(got, vec!["agent".to_owned(), "orders".to_owned()]);
    }

    #[test]
    fn a_tenant_admin_cannot_touch_the_platforms_fields() {
        for field in ["plan", "status", "catalog", "tenant"] {
            let refused = apply(
                &current(),
                &json!({ field: null }),
                PRODUCTION,
                Scope::TenantAdmin,
            )
            .unwrap_err();
            assert_eq!(fields(refused), vec![(field.to_owned(), "field_read_only")]);
        }
        let operator = apply(
            &current(),
            &json!({"plan": {"id": "business"}}),
            PRODUCTION,
            Scope::Operator,
        )
        .unwrap();
        assert_eq!(operator.plan.id, limits::PlanId::Business);
        assert!(apply(&current(), &json!([]), PRODUCTION, Scope::Operator).is_err());
    }

    #[test]
    fn loyalty_admin_chats_are_checked() {
        let ok = apply(
            &current(),
            &json!({"loyalty": {"admin_chats": [9001, -100200]}}),
            PRODUCTION,
            Scope::TenantAdmin,
        )
        .unwrap();
        assert_eq!(ok.loyalty.admin_chats, vec![9001, -100200]);
        for (chats, code) in [
            (json!([0]), "invalid_chat_id"),
            (json!([5, 5]), "duplicate_chat_id"),
            (json!((1..=21).collect::<Vec<i64>>()), "too_many_admins"),
        ] {
            let refused = apply(
                &current(),
                &json!({"loyalty": {"admin_chats": chats}}),
                PRODUCTION,
                Scope::TenantAdmin,
            )
            .unwrap_err();
            assert_eq!(
                fields(refused),
                vec![("loyalty.admin_chats".to_owned(), code)]
            );
        }
        let refused = apply(
            &current(),
            &json!({"loyalty": {"admin_chats": ["x"]}}),
            PRODUCTION,
            Scope::TenantAdmin,
        )
        .unwrap_err();
        assert_eq!(
            fields(refused),
            vec![("loyalty".to_owned(), "invalid_value")]
        );
    }

    #[test]
    fn the_nps_window_is_checked() {
        let ok = apply(
            &current(),
            &json!({"loyalty": {"nps_window": {"from_hour": 10, "to_hour": 24}}}),
            PRODUCTION,
            Scope::TenantAdmin,
        )
        .unwrap();
        assert_eq!(ok.loyalty.nps_window.from_hour, 10);
        for (from, to) in [(21, 9), (9, 9), (0, 25)] {
            let refused = apply(
                &current(),
                &json!({"loyalty": {"nps_window": {"from_hour": from, "to_hour": to}}}),
                PRODUCTION,
                Scope::TenantAdmin,
            )
            .unwrap_err();
            assert_eq!(
                fields(refused),
                vec![("loyalty.nps_window".to_owned(), "invalid_window")],
                "{from}-{to}"
            );
        }
    }
}
