//! The admin API's rules: what a manager, a template and a key request must be, and the
//! usage view against the plan. Pure functions on the tenant's config.

use sauda_shared::apikey::{ApiKeyRecord, Role};
use sauda_shared::limits::{self, Metric, MonthUsage};
use sauda_shared::tenant::{Manager, TemplateParamSpec, TenantConfig, WhatsappTemplate};
use sauda_shared::ApiError;
use serde::Deserialize;
use serde_json::{json, Value};

pub const MAX_NAME: usize = 100;
pub const MAX_MANAGERS: usize = 50;
pub const MAX_TEMPLATES: usize = 200;
pub const MAX_TEMPLATE_PARAMS: usize = 20;
pub const TEMPLATE_CATEGORIES: [&str; 3] = ["marketing", "utility", "authentication"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagerInput {
    pub chat_id: i64,
    #[serde(default)]
    pub name: String,
}

/// Adds a manager's Telegram chat; a chat is a manager once.
pub fn add_manager(config: &TenantConfig, input: ManagerInput) -> Result<TenantConfig, ApiError> {
    if input.chat_id == 0 {
        return Err(ApiError::field(
            "chat_id",
            "invalid_chat_id",
            "a Telegram chat id, not 0",
        ));
    }
    let name = input.name.trim().to_owned();
    if name.chars().count() > MAX_NAME {
        return Err(ApiError::field(
            "name",
            "name_too_long",
            format!("at most {MAX_NAME} characters"),
        ));
    }
    if config.managers.iter().any(|m| m.chat_id == input.chat_id) {
        return Err(ApiError::conflict(
            "manager_exists",
            "this chat is already a manager",
        ));
    }
    if config.managers.len() >= MAX_MANAGERS {
        return Err(ApiError::field(
            "chat_id",
            "too_many_managers",
            format!("at most {MAX_MANAGERS} managers"),
        ));
    }
    let mut next = config.clone();
    next.managers.push(Manager {
        chat_id: input.chat_id,
        name,
    });
    Ok(next)
}

pub fn remove_manager(config: &TenantConfig, chat_id: i64) -> Result<TenantConfig, ApiError> {
    let mut next = config.clone();
    next.managers.retain(|m| m.chat_id != chat_id);
    if next.managers.len() == config.managers.len() {
        return Err(ApiError::not_found(
            "manager_not_found",
            "no manager with this chat id",
        ));
    }
    Ok(next)
}

fn template_name_ok(name: &str) -> bool {
    (1..=512).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn language_ok(language: &str) -> bool {
    (2..=15).contains(&language.len())
        && language
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || b == b'_')
}

/// Registers a template Meta approved, or replaces the same name and language.
pub fn put_template(
    config: &TenantConfig,
    input: WhatsappTemplate,
) -> Result<TenantConfig, ApiError> {
    let mut fields = Vec::new();
    if !template_name_ok(&input.name) {
        fields.push(json!({"field": "name", "code": "invalid_template_name", "message": "1-512 characters of a-z, 0-9 and _ (as Meta names it)"}));
    }
    if !language_ok(&input.language) {
        fields.push(json!({"field": "language", "code": "invalid_language", "message": "Meta's language code, e.g. ru, kk, en_US"}));
    }
    if !TEMPLATE_CATEGORIES.contains(&input.category.as_str()) {
        fields.push(json!({"field": "category", "code": "invalid_category", "message": "marketing, utility or authentication"}));
    }
    if input.params.len() > MAX_TEMPLATE_PARAMS
        || input.params.iter().any(|p: &TemplateParamSpec| {
            p.name.trim().is_empty() || p.name.chars().count() > MAX_NAME
        })
    {
        fields.push(json!({"field": "params", "code": "invalid_params", "message": format!("at most {MAX_TEMPLATE_PARAMS} parameters, each with a name")}));
    }
    if !fields.is_empty() {
        return Err(ApiError::validation(fields));
    }
    let mut next = config.clone();
    let count = next.whatsapp_templates.len();
    match next
        .whatsapp_templates
        .iter_mut()
        .find(|t| t.name == input.name && t.language == input.language)
    {
        Some(existing) => *existing = input,
        None if count >= MAX_TEMPLATES => {
            return Err(ApiError::field(
                "name",
                "too_many_templates",
                format!("at most {MAX_TEMPLATES} templates"),
            ))
        }
        None => next.whatsapp_templates.push(input),
    }
    Ok(next)
}

pub fn remove_template(
    config: &TenantConfig,
    name: &str,
    language: &str,
) -> Result<TenantConfig, ApiError> {
    let mut next = config.clone();
    next.whatsapp_templates
        .retain(|t| !(t.name == name && t.language == language));
    if next.whatsapp_templates.len() == config.whatsapp_templates.len() {
        return Err(ApiError::not_found(
            "template_not_found",
            "no template with this name and language",
        ));
    }
    Ok(next)
}

/// A key the tenant admin may issue: for a manager or a partner.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyInput {
    pub role: String,
    #[serde(default)]
    pub partner_id: Option<String>,
    #[serde(default)]
    pub label: String,
}

pub fn key_role(input: &KeyInput) -> Result<Role, ApiError> {
    if input.label.chars().count() > MAX_NAME {
        return Err(ApiError::field(
            "label",
            "label_too_long",
            format!("at most {MAX_NAME} characters"),
        ));
    }
    match (input.role.as_str(), input.partner_id.as_deref()) {
        ("manager", None) => Ok(Role::Manager),
        ("partner", Some(id)) if sauda_shared::partner::valid_partner_id(id) => Ok(Role::Partner {
            partner_id: id.to_owned(),
        }),
        ("partner", _) => Err(ApiError::field(
            "partner_id",
            "invalid_partner_id",
            "a partner key names its partner's id",
        )),
        ("manager", Some(_)) => Err(ApiError::field(
            "partner_id",
            "unexpected_partner_id",
            "only partner keys name a partner",
        )),
        _ => Err(ApiError::field(
            "role",
            "role_not_issuable",
            "manager or partner",
        )),
    }
}

/// Only the keys a tenant admin issues can be revoked through the API: its own key
/// (and the loyalty admin's) stay with the operator's CLI.
pub fn revocable(record: &ApiKeyRecord) -> bool {
    matches!(record.role, Role::Manager | Role::Partner { .. })
}

/// A key as listed: never its hash.
pub fn key_view(record: &ApiKeyRecord) -> Value {
    json!({
        "key_id": record.key_id,
        "role": record.role.name(),
        "partner_id": match &record.role { Role::Partner { partner_id } => Some(partner_id.clone()), _ => None },
        "label": record.label,
        "status": record.status,
        "created_ms": record.created_ms,
        "valid_until_ms": record.valid_until_ms,
    })
}

/// The usage of the month against the plan's limits.
pub fn usage_view(config: &TenantConfig, month: &str, usage: &MonthUsage) -> Value {
    let limits = config.plan.limits();
    let metric = |m: Metric, used: u64| json!({"used": used, "limit": m.limit(&limits), "over": usage.over(m)});
    json!({
        "plan": config.plan.id,
        "overrides": config.plan.overrides,
        "limits": limits,
        "month": month,
        "usage": {
            "channels": metric(Metric::Channels, limits::channels(config)),
            "orders_per_month": metric(Metric::OrdersPerMonth, usage.orders),
            "conversations_per_month": metric(Metric::ConversationsPerMonth, usage.conversations),
            "ai_budget_micros": {"used": usage.ai_cost_micros, "limit": config.ai_budget_micros()},
        },
    })
}

/// The top-level settings a patch names, for the history.
pub fn patched_fields(patch: &Value) -> String {
    patch
        .as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>().join(","))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sauda_shared::TenantId;

    fn config() -> TenantConfig {
        TenantConfig::new(TenantId::parse("acme").unwrap(), "Acme")
    }

    fn template(name: &str, language: &str) -> WhatsappTemplate {
        WhatsappTemplate {
            name: name.into(),
            language: language.into(),
            category: "utility".into(),
            params: Vec::new(),
        }
    }

    #[test]
    fn a_template_is_replaced_by_name_and_language() {
        let one = put_template(&config(), template("ready", "ru")).unwrap();
        let two = put_template(&one, template("ready", "kk")).unwrap();
        let mut changed = template("ready", "ru");
        changed.category = "marketing".into();
        let replaced = put_template(&two, changed).unwrap();
        assert_eq!(replaced.whatsapp_templates.len(), 2);
        assert_eq!(replaced.whatsapp_templates[0].category, "marketing");
        let removed = remove_template(&replaced, "ready", "kk").unwrap();
        assert_eq!(removed.whatsapp_templates.len(), 1);
        assert_eq!(
            remove_template(&removed, "ready", "kk").unwrap_err().code,
            "template_not_found"
        );
    }

    #[test]
    fn managers_are_unique_and_named_briefly() {
        let one = add_manager(
            &config(),
            ManagerInput {
                chat_id: 5,
                name: " Dana ".into(),
            },
        )
        .unwrap();
        assert_eq!(one.managers[0].name, "Dana");
        let again = add_manager(
            &one,
            ManagerInput {
                chat_id: 5,
                name: String::new(),
            },
        );
        assert_eq!(again.unwrap_err().code, "manager_exists");
        let zero = add_manager(
            &one,
            ManagerInput {
                chat_id: 0,
                name: String::new(),
            },
        );
        assert_eq!(zero.unwrap_err().code, "invalid_chat_id");
        let long = add_manager(
            &one,
            ManagerInput {
                chat_id: 6,
                name: "x".repeat(MAX_NAME + 1),
            },
        );
        assert_eq!(long.unwrap_err().code, "name_too_long");
    }

    #[test]
    fn only_manager_and_partner_keys_are_issued() {
        let input = |role: &str, partner: Option<&str>| KeyInput {
            role: role.into(),
            partner_id: partner.map(str::to_owned),
            label: String::new(),
        };
        assert_eq!(key_role(&input("manager", None)).unwrap(), Role::Manager);
        assert_eq!(
            key_role(&input("partner", Some("shop-1"))).unwrap(),
            Role::Partner {
                partner_id: "shop-1".into()
            }
        );
        for (role, partner) in [
            ("tenant_admin", None),
            ("admin", None),
            ("partner", None),
            ("partner", Some("a#b")),
        ] {
            assert!(
                key_role(&input(role, partner)).is_err(),
                "{role} {partner:?}"
            );
        }
    }
}
