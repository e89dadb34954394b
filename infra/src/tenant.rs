//! Tenant onboarding, shared by the operator CLI and the tests.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_smithy_types::error::display::DisplayErrorContext;
use rand::distr::{Alphanumeric, SampleString};
use sauda_shared::keys;
use sauda_shared::secrets::{Secret, TenantSecrets};
use sauda_shared::tenant::{TenantConfig, TenantStatus};
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
}

fn aws<E: std::error::Error>(e: E) -> OnboardingError {
    OnboardingError::Aws(DisplayErrorContext(&e).to_string())
}

#[derive(serde::Serialize)]
struct ConfigItem<'a> {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(flatten)]
    config: &'a TenantConfig,
}

#[derive(serde::Serialize)]
struct RegistryItem<'a> {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    tenant: &'a TenantId,
    status: TenantStatus,
    timezone: &'a str,
    created_at_ms: i64,
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

/// Writes the tenant's config and its registry entry atomically; fails if it exists.
pub async fn create_tenant(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    config: &TenantConfig,
) -> Result<(), OnboardingError> {
    let (pk, sk) = keys::tenant_config(&config.tenant);
    let (rpk, rsk) = keys::tenant_registry(&config.tenant);
    let config_item = serde_dynamo::to_item(ConfigItem { pk, sk, config })
        .map_err(|e| OnboardingError::Invalid(e.to_string()))?;
    let registry_item = serde_dynamo::to_item(RegistryItem {
        pk: rpk,
        sk: rsk,
        tenant: &config.tenant,
        status: config.status,
        timezone: &config.timezone,
        created_at_ms: config.created_at_ms,
    })
    .map_err(|e| OnboardingError::Invalid(e.to_string()))?;
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
/// others are kept. Creates the secret on first use.
pub async fn merge_tenant_secrets(
    secrets: &aws_sdk_secretsmanager::Client,
    stage: &str,
    tenant: &TenantId,
    update: TenantSecrets,
) -> Result<TenantSecrets, OnboardingError> {
    let name = tenant_secret_name(stage, tenant);
    let existing = read_tenant_secrets(secrets, stage, tenant).await?;
    let mut merged = existing.clone().unwrap_or_default();
    macro_rules! take {
        ($($field:ident),*) => { $( if update.$field.is_some() { merged.$field = update.$field.clone(); } )* };
    }
    take!(
        telegram_bot_token,
        telegram_webhook_secret,
        whatsapp_app_secret,
        whatsapp_verify_token,
        whatsapp_access_token,
        stripe_webhook_secret
    );
    let body =
        serde_json::to_string(&merged).map_err(|e| OnboardingError::Invalid(e.to_string()))?;
    if existing.is_some() {
        secrets
            .put_secret_value()
            .secret_id(&name)
            .secret_string(body)
            .send()
            .await
            .map_err(aws)?;
    } else {
        secrets
            .create_secret()
            .name(&name)
            .description(format!("Sauda channel secrets of tenant {tenant}"))
            .secret_string(body)
            .send()
            .await
            .map_err(aws)?;
    }
    Ok(merged)
}

/// A random Telegram `secret_token`: 48 characters from `[A-Za-z0-9]` (Telegram allows 1-256 of `[A-Za-z0-9_-]`).
pub fn generate_secret_token() -> Secret {
    Secret::new(Alphanumeric.sample_string(&mut rand::rng(), 48))
}

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
            "allowed_updates": ["message"],
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
