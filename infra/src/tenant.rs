//! Tenant onboarding, shared by the operator CLI and the tests.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_smithy_types::error::display::DisplayErrorContext;
use rand::distr::{Alphanumeric, SampleString};
use sauda_shared::keys;
use sauda_shared::outbound::{UrlError, UrlPolicy};
use sauda_shared::secrets::{Secret, TenantSecrets};
use sauda_shared::settings::{self, FieldError, PatchError, Scope};
use sauda_shared::tenant::{ConfigItem, RegistryEntry, TenantConfig, TenantStatus};
use sauda_shared::TenantId;
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum OnboardingError {
    #[error("tenant {0} already exists")]
    AlreadyExists(TenantId),
    #[error("tenant {0} does not exist")]
    NotFound(TenantId),
    #[error("{0}")]
    Aws(String),
    #[error("telegram: {0}")]
    Telegram(String),
    #[error("{0}")]
    Invalid(String),
    /// A URL in the config that the outbound URL policy refuses.
    #[error("{field}: {error} ({code})", code = error.code())]
    Url { field: String, error: UrlError },
}

fn aws<E: std::error::Error>(e: E) -> OnboardingError {
    OnboardingError::Aws(DisplayErrorContext(&e).to_string())
}

fn put(
    table: &str,
    item: HashMap<String, AttributeValue>,
) -> Result<TransactWriteItem, OnboardingError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(PK)")
        .build()
        .map_err(aws)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

fn items(config: &TenantConfig) -> Result<[HashMap<String, AttributeValue>; 2], OnboardingError> {
    let invalid = |e: serde_dynamo::Error| OnboardingError::Invalid(e.to_string());
    Ok([
        serde_dynamo::to_item(ConfigItem::new(config.clone())).map_err(invalid)?,
        serde_dynamo::to_item(RegistryEntry::from_config(config)).map_err(invalid)?,
    ])
}

/// Writes the tenant's config and its registry entry atomically; fails if it exists.
pub async fn create_tenant(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    config: &TenantConfig,
) -> Result<(), OnboardingError> {
    let [config_item, registry_item] = items(config)?;
    let result = dynamo
        .transact_write_items()
        .transact_items(put(table, config_item)?)
        .transact_items(put(table, registry_item)?)
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_transaction_canceled_exception()) =>
        {
            Err(OnboardingError::AlreadyExists(config.tenant.clone()))
        }
        Err(e) => Err(aws(e)),
    }
}

/// Reads a tenant's config (uncached: the operator's view).
pub async fn read_config(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    tenant: &TenantId,
) -> Result<TenantConfig, OnboardingError> {
    let (pk, sk) = keys::tenant_config(tenant);
    let out = dynamo
        .get_item()
        .table_name(table)
        .key("PK", AttributeValue::S(pk))
        .key("SK", AttributeValue::S(sk))
        .consistent_read(true)
        .send()
        .await
        .map_err(aws)?;
    let item = out
        .item
        .ok_or_else(|| OnboardingError::NotFound(tenant.clone()))?;
    let stored: ConfigItem = serde_dynamo::from_item(item)
        .map_err(|e| OnboardingError::Invalid(format!("config of {tenant}: {e}")))?;
    Ok(stored.config)
}

/// Replaces an existing tenant's config and keeps its registry entry in step, atomically.
/// Functions pick the change up when their config cache expires (about a minute).
pub async fn put_config(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    config: &TenantConfig,
) -> Result<(), OnboardingError> {
    let [config_item, registry_item] = items(config)?;
    let replace = |item| -> Result<TransactWriteItem, OnboardingError> {
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_exists(PK)")
            .build()
            .map_err(aws)?;
        Ok(TransactWriteItem::builder().put(put).build())
    };
    let result = dynamo
        .transact_write_items()
        .transact_items(replace(config_item)?)
        .transact_items(replace(registry_item)?)
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_transaction_canceled_exception()) =>
        {
            Err(OnboardingError::NotFound(config.tenant.clone()))
        }
        Err(e) => Err(aws(e)),
    }
}

pub use sauda_shared::settings::configured_urls;

/// The first configured URL the policy refuses, as the CLI reports it.
pub fn check_urls(config: &TenantConfig, policy: UrlPolicy) -> Result<(), OnboardingError> {
    match sauda_shared::settings::url_errors(config, policy)
        .into_iter()
        .next()
    {
        Some(FieldError {
            field,
            url: Some(error),
            ..
        }) => Err(OnboardingError::Url { field, error }),
        _ => Ok(()),
    }
}

/// `sauda tenant configure`: applies a JSON merge patch (RFC 7386) to the stored config,
/// validates the result (tenant id unchanged, known time zone, every URL allowed by
/// `policy`) and stores it with its registry entry. Nothing is written when it is refused.
pub async fn configure(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    tenant: &TenantId,
    patch: &serde_json::Value,
    policy: UrlPolicy,
) -> Result<TenantConfig, OnboardingError> {
    let current = read_config(dynamo, table, tenant).await?;
    let config =
        settings::apply(&current, patch, policy, Scope::Operator).map_err(|e| match e {
            // A refused URL keeps its typed reason for the operator.
            PatchError::Fields(fields) => match fields.iter().find(|f| f.url.is_some()) {
                Some(FieldError {
                    field,
                    url: Some(error),
                    ..
                }) => OnboardingError::Url {
                    field: field.clone(),
                    error: error.clone(),
                },
                _ => OnboardingError::Invalid(PatchError::Fields(fields).to_string()),
            },
            PatchError::Limit(e) => OnboardingError::Invalid(e.to_string()),
        })?;
    put_config(dynamo, table, &config).await?;
    Ok(config)
}

/// Read-modify-write of a tenant's config.
pub async fn update_config(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    tenant: &TenantId,
    change: impl FnOnce(&mut TenantConfig),
) -> Result<TenantConfig, OnboardingError> {
    let mut config = read_config(dynamo, table, tenant).await?;
    change(&mut config);
    if config.tenant != *tenant {
        return Err(OnboardingError::Invalid(
            "a config cannot change its tenant id".into(),
        ));
    }
    put_config(dynamo, table, &config).await?;
    Ok(config)
}

/// Suspends or re-activates a tenant (config and registry together).
pub async fn set_tenant_status(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    tenant: &TenantId,
    status: TenantStatus,
) -> Result<(), OnboardingError> {
    let value = AttributeValue::S(
        serde_json::to_value(status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
    );
    for (pk, sk) in [keys::tenant_config(tenant), keys::tenant_registry(tenant)] {
        let result = dynamo
            .update_item()
            .table_name(table)
            .key("PK", AttributeValue::S(pk))
            .key("SK", AttributeValue::S(sk))
            .update_expression("SET #s = :s")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":s", value.clone())
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                return Err(OnboardingError::NotFound(tenant.clone()))
            }
            Err(e) => return Err(aws(e)),
        }
    }
    Ok(())
}

pub fn tenant_secret_name(stage: &str, tenant: &TenantId) -> String {
    sauda_shared::aws::SecretsManagerSource::tenant_secret_name(stage, tenant)
}

/// Reads the tenant's secret, if any.
pub async fn read_tenant_secrets(
    secrets: &aws_sdk_secretsmanager::Client,
    stage: &str,
    tenant: &TenantId,
) -> Result<Option<TenantSecrets>, OnboardingError> {
    let name = tenant_secret_name(stage, tenant);
    match secrets.get_secret_value().secret_id(&name).send().await {
        Ok(out) => serde_json::from_str(out.secret_string().unwrap_or("{}"))
            .map(Some)
            .map_err(|_| OnboardingError::Invalid(format!("secret {name} is not valid JSON"))),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws(e)),
    }
}

/// Merges `update` into the tenant's secret: fields set in `update` replace stored ones,
/// a `null` removes one, others are kept (even fields this build does not know).
/// Creates the secret on first use. Returns the names of the fields now stored.
pub async fn merge_tenant_secrets_json(
    secrets: &aws_sdk_secretsmanager::Client,
    stage: &str,
    tenant: &TenantId,
    update: serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<String>, OnboardingError> {
    let description = format!("Sauda channel secrets of tenant {tenant}");
    merge_secret_document::<TenantSecrets>(
        secrets,
        &tenant_secret_name(stage, tenant),
        &description,
        TenantSecrets::KEYS,
        update,
    )
    .await
}

/// Merges `update` into the platform secret (`sauda/{stage}/platform`), as
/// [`merge_tenant_secrets_json`] does for a tenant's.
pub async fn merge_platform_secrets_json(
    secrets: &aws_sdk_secretsmanager::Client,
    stage: &str,
    update: serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<String>, OnboardingError> {
    let name = sauda_shared::aws::SecretsManagerSource::platform_secret_name(stage);
    merge_secret_document::<sauda_shared::secrets::PlatformSecrets>(
        secrets,
        &name,
        "Sauda platform secrets",
        sauda_shared::secrets::PlatformSecrets::KEYS,
        update,
    )
    .await
}

/// Read-merge-write of a JSON secret document; `T` is the shape the functions read, and a
/// document that does not fit it is refused before anything is stored.
async fn merge_secret_document<T: serde::de::DeserializeOwned>(
    secrets: &aws_sdk_secretsmanager::Client,
    name: &str,
    description: &str,
    known_keys: &[&str],
    update: serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<String>, OnboardingError> {
    if let Some(unknown) = update.keys().find(|k| !known_keys.contains(&k.as_str())) {
        return Err(OnboardingError::Invalid(format!(
            "unknown secret key {unknown:?}; known keys: {}",
            known_keys.join(", ")
        )));
    }
    let existing = match secrets.get_secret_value().secret_id(name).send().await {
        Ok(out) => Some(
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(
                out.secret_string().unwrap_or("{}"),
            )
            .map_err(|_| OnboardingError::Invalid(format!("secret {name} is not a JSON object")))?,
        ),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(e) => return Err(aws(e)),
    };
    let mut merged = existing.clone().unwrap_or_default();
    sauda_shared::secrets::merge_json(&mut merged, update);
    serde_json::from_value::<T>(serde_json::Value::Object(merged.clone()))
        .map_err(|e| OnboardingError::Invalid(format!("secrets: {e}")))?;
    let body = serde_json::Value::Object(merged.clone()).to_string();
    if existing.is_some() {
        secrets
            .put_secret_value()
            .secret_id(name)
            .secret_string(body)
            .send()
            .await
            .map_err(aws)?;
    } else {
        secrets
            .create_secret()
            .name(name)
            .description(description)
            .secret_string(body)
            .send()
            .await
            .map_err(aws)?;
    }
    Ok(merged.keys().cloned().collect())
}

/// The digest that stands for `contact` in the functions' logs (`redact::Contact`), under
/// the deployment's signing key (`signing_key` of `sauda/{stage}/platform`). Without
/// that key there is nothing to compute: a digest under any other key matches no log.
pub async fn log_id(
    secrets: &aws_sdk_secretsmanager::Client,
    stage: &str,
    tenant: &TenantId,
    contact: &str,
) -> Result<String, OnboardingError> {
    let name = sauda_shared::aws::SecretsManagerSource::platform_secret_name(stage);
    let out = secrets
        .get_secret_value()
        .secret_id(&name)
        .send()
        .await
        .map_err(aws)?;
    let platform: sauda_shared::secrets::PlatformSecrets =
        serde_json::from_str(out.secret_string().unwrap_or("{}"))
            .map_err(|_| OnboardingError::Invalid(format!("secret {name} is not valid JSON")))?;
    let key = platform.signing_key.ok_or_else(|| {
        OnboardingError::Invalid(format!(
            "{name} has no signing_key: the functions log with a per-instance key, which no one can reproduce"
        ))
    })?;
    if !sauda_shared::signing::install(key.expose()) {
        return Err(OnboardingError::Invalid(
            "another signing key is already in use in this process".into(),
        ));
    }
    Ok(sauda_shared::redact::contact(tenant, contact))
}

/// Typed form of [`merge_tenant_secrets_json`]: every field set in `update` is stored.
pub async fn merge_tenant_secrets(
    secrets: &aws_sdk_secretsmanager::Client,
    stage: &str,
    tenant: &TenantId,
    update: TenantSecrets,
) -> Result<TenantSecrets, OnboardingError> {
    let update = match serde_json::to_value(&update) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => {
            return Err(OnboardingError::Invalid(
                "secrets must serialise to an object".into(),
            ))
        }
    };
    merge_tenant_secrets_json(secrets, stage, tenant, update).await?;
    read_tenant_secrets(secrets, stage, tenant)
        .await?
        .ok_or_else(|| OnboardingError::Invalid("secret vanished after writing".into()))
}

/// A random Telegram `secret_token`: 48 characters from `[A-Za-z0-9]` (Telegram allows 1-256 of `[A-Za-z0-9_-]`).
pub fn generate_secret_token() -> Secret {
    Secret::new(Alphanumeric.sample_string(&mut rand::rng(), 48))
}

/// The updates Sauda acts on: messages (payment receipts arrive as messages too),
/// edits, button presses and Telegram Payments' pre-checkout queries, which must be
/// answered within 10 s and only reach a bot that subscribed to them.
pub const ALLOWED_UPDATES: [&str; 4] = [
    "message",
    "edited_message",
    "callback_query",
    "pre_checkout_query",
];

/// Calls Telegram's `setWebhook` with a secret token. `api_base` is configurable so
/// tests and local runs can point it at a fake server.
pub async fn set_telegram_webhook(
    http: &reqwest::Client,
    api_base: &str,
    bot_token: &Secret,
    url: &str,
    secret_token: &Secret,
) -> Result<(), OnboardingError> {
    let endpoint = format!(
        "{}/bot{}/setWebhook",
        api_base.trim_end_matches('/'),
        bot_token.expose()
    );
    let response = http
        .post(endpoint)
        .json(&serde_json::json!({
            "url": url,
            "secret_token": secret_token.expose(),
            "allowed_updates": ALLOWED_UPDATES,
            "max_connections": 40,
        }))
        .send()
        .await
        // reqwest errors can embed the URL, which holds the bot token: never show it.
        .map_err(|e| OnboardingError::Telegram(format!("request failed: {}", e.without_url())))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if status.is_success() && body.get("ok").and_then(serde_json::Value::as_bool) == Some(true) {
        Ok(())
    } else {
        let description = body
            .get("description")
            .and_then(|d| d.as_str())
            .unwrap_or("no description");
        Err(OnboardingError::Telegram(format!(
            "setWebhook answered {status}: {description}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(patch: serde_json::Value) -> TenantConfig {
        let mut value =
            serde_json::to_value(TenantConfig::new(TenantId::parse("acme").unwrap(), "Acme"))
                .unwrap();
        json_patch::merge(&mut value, &patch);
        serde_json::from_value(value).unwrap()
    }

    const PRODUCTION: UrlPolicy = UrlPolicy {
        allow_loopback: false,
    };
    const LOCAL: UrlPolicy = UrlPolicy {
        allow_loopback: true,
    };

    #[test]
    fn every_url_setting_is_found() {
        let c = config(serde_json::json!({
            "agent": {"llm_base_url": "https://llm.example.com/v1"},
            "leads": {"crm_webhook_url": "https://crm.example.kz/hook"}
        }));
        let mut found = configured_urls(&c);
        found.sort();
        assert_eq!(
            found,
            vec![
                (
                    "agent.llm_base_url".into(),
                    "https://llm.example.com/v1".into()
                ),
                (
                    "leads.crm_webhook_url".into(),
                    "https://crm.example.kz/hook".into()
                ),
            ]
        );
        assert!(configured_urls(&config(serde_json::json!({}))).is_empty());
        assert!(check_urls(&c, PRODUCTION).is_ok());
    }

    #[test]
    fn urls_the_outbound_policy_refuses_are_refused_with_its_reason() {
        for (patch, field, error) in [
            (
                serde_json::json!({"agent": {"llm_base_url": "http://llm.example.com/v1"}}),
                "agent.llm_base_url",
                UrlError::NotHttps,
            ),
            (
                serde_json::json!({"leads": {"crm_webhook_url": "https://169.254.169.254/latest"}}),
                "leads.crm_webhook_url",
                UrlError::ForbiddenAddress,
            ),
            (
                serde_json::json!({"leads": {"crm_webhook_url": "https://user:pw@crm.example.kz/"}}),
                "leads.crm_webhook_url",
                UrlError::Credentials,
            ),
            (
                serde_json::json!({"agent": {"llm_base_url": "https://10.0.0.7/v1"}}),
                "agent.llm_base_url",
                UrlError::ForbiddenAddress,
            ),
        ] {
            let refused = check_urls(&config(patch.clone()), LOCAL).unwrap_err();
            let OnboardingError::Url { field: f, error: e } = &refused else {
                panic!("{patch}: {refused}");
            };
            assert_eq!((f.as_str(), e), (field, &error), "{patch}");
            assert!(refused.to_string().contains(error.code()), "{refused}");
        }
    }

    #[test]
    fn loopback_urls_pass_only_when_the_stage_allows_them() {
        let local = config(serde_json::json!({
            "agent": {"llm_base_url": "http://127.0.0.1:9100/llm"},
            "leads": {"crm_webhook_url": "http://localhost:9100/crm"}
        }));
        assert!(check_urls(&local, LOCAL).is_ok());
        let refused = check_urls(&local, PRODUCTION).unwrap_err();
        assert!(
            matches!(refused, OnboardingError::Url { ref field, error: UrlError::NotHttps } if field == "agent.llm_base_url"),
            "{refused}"
        );
    }
}
