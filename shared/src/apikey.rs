//! Per-tenant API keys for managers, admins and partners.
//!
//! A key is shown once, as `sk_{key_id}_{secret}`, and stored only as the SHA-256 of
//! its 256-bit random secret under the tenant's own partition. A key of tenant A
//! therefore does not exist on tenant B: the lookup itself is tenant-scoped. (A plain
//! hash suffices for high-entropy secrets; slow hashes guard low-entropy passwords.)

use crate::cache::TtlCache;
use crate::keys;
use crate::ports::StoreError;
use crate::secrets::Secret;
use crate::tenant::TenantId;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_types::error::display::DisplayErrorContext;
use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

const PREFIX: &str = "sk_";
const SECRET_LEN: usize = 43; // 43 base62 characters carry 256 bits.

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Role {
    /// Runs the tenant: approves partners, manages keys.
    Admin,
    /// Works leads.
    Manager,
    /// A loyalty partner's POS or bot.
    Partner { partner_id: String },
    /// The business itself: settings, managers, keys, catalog (the tenant admin API).
    TenantAdmin,
}

impl Role {
    pub fn name(&self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Partner { .. } => "partner",
            Role::TenantAdmin => "tenant_admin",
        }
    }

    /// `partner:{id}` for partners, the role's name otherwise (listings, histories).
    pub fn label(&self) -> String {
        match self {
            Role::Partner { partner_id } => format!("partner:{partner_id}"),
            other => other.name().to_owned(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    Revoked,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub key_id: String,
    /// Hex SHA-256 of the secret part.
    pub hash: String,
    #[serde(flatten)]
    pub role: Role,
    #[serde(default)]
    pub label: String,
    pub status: KeyStatus,
    pub created_ms: i64,
    /// After a rotation the old key keeps working until then (epoch ms).
    #[serde(default)]
    pub valid_until_ms: Option<i64>,
}

impl ApiKeyRecord {
    fn usable_at(&self, now_ms: i64) -> bool {
        self.status == KeyStatus::Active && self.valid_until_ms.is_none_or(|until| now_ms < until)
    }
}

/// Who a request acts as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub tenant: TenantId,
    pub key_id: String,
    pub role: Role,
    /// The key's label (a manager's name, say), as the operator issued it.
    pub label: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("an API key is required (Authorization: Bearer sk_…)")]
    Missing,
    /// Unknown, wrong, revoked and expired keys look the same to the caller.
    #[error("the API key is not valid for this tenant")]
    Invalid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A freshly issued key: `presented` is shown to the operator once and never stored.
#[derive(Debug)]
pub struct IssuedKey {
    pub presented: Secret,
    pub record: ApiKeyRecord,
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Splits `sk_{key_id}_{secret}`; `None` if it cannot be a key.
pub fn parse(presented: &str) -> Option<(&str, &str)> {
    let rest = presented.strip_prefix(PREFIX)?;
    let (key_id, secret) = rest.split_once('_')?;
    let id_ok =
        (10..=40).contains(&key_id.len()) && key_id.bytes().all(|b| b.is_ascii_alphanumeric());
    let secret_ok = secret.len() == SECRET_LEN && secret.bytes().all(|b| b.is_ascii_alphanumeric());
    (id_ok && secret_ok).then_some((key_id, secret))
}

/// The key from `Authorization: Bearer …` or `X-Api-Key`.
pub fn from_headers(headers: &http::HeaderMap) -> Option<&str> {
    if let Some(value) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, token) = value.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

pub struct ApiKeyStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    cache: TtlCache<(TenantId, String), Arc<ApiKeyRecord>>,
}

impl ApiKeyStore {
    /// Verified records are reused this long, so revocation takes effect within it.
    pub const CACHE_TTL: Duration = Duration::from_secs(60);

    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            cache: TtlCache::new(Self::CACHE_TTL, 10_000),
        }
    }

    /// Creates a key. The caller shows `presented` once.
    pub async fn issue(
        &self,
        tenant: &TenantId,
        role: Role,
        label: &str,
    ) -> Result<IssuedKey, StoreError> {
        let key_id = ulid::Ulid::new().to_string().to_ascii_lowercase();
        let secret = Alphanumeric.sample_string(&mut rand::rng(), SECRET_LEN);
        let (pk, sk) = keys::api_key(tenant, &key_id);
        let record = ApiKeyRecord {
            pk,
            sk,
            key_id: key_id.clone(),
            hash: hash(&secret),
            role,
            label: label.to_owned(),
            status: KeyStatus::Active,
            created_ms: crate::now_ms(),
            valid_until_ms: None,
        };
        let item = serde_dynamo::to_item(&record)
            .map_err(|e| StoreError::Unavailable(format!("api key item: {e}")))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!("issue api key: {}", DisplayErrorContext(&e)))
            })?;
        Ok(IssuedKey {
            presented: Secret::new(format!("{PREFIX}{key_id}_{secret}")),
            record,
        })
    }

    async fn record(
        &self,
        tenant: &TenantId,
        key_id: &str,
    ) -> Result<Option<Arc<ApiKeyRecord>>, StoreError> {
        let cache_key = (tenant.clone(), key_id.to_owned());
        if let Some(hit) = self.cache.get(&cache_key) {
            return Ok(Some(hit));
        }
        let (pk, sk) = keys::api_key(tenant, key_id);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(pk))
            .key("SK", AttributeValue::S(sk))
            .send()
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!("read api key: {}", DisplayErrorContext(&e)))
            })?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let record: ApiKeyRecord = serde_dynamo::from_item(item)
            .map_err(|e| StoreError::Unavailable(format!("api key item: {e}")))?;
        let record = Arc::new(record);
        self.cache.insert(cache_key, record.clone());
        Ok(Some(record))
    }

    /// Checks a presented key against the tenant of the URL, in constant time.
    pub async fn authenticate(
        &self,
        tenant: &TenantId,
        presented: Option<&str>,
    ) -> Result<Principal, AuthError> {
        let presented = presented
            .filter(|p| !p.is_empty())
            .ok_or(AuthError::Missing)?;
        let (key_id, secret) = parse(presented).ok_or(AuthError::Invalid)?;
        let record = self
            .record(tenant, key_id)
            .await?
            .ok_or(AuthError::Invalid)?;
        let matches: bool = hash(secret).as_bytes().ct_eq(record.hash.as_bytes()).into();
        if !matches || !record.usable_at(crate::now_ms()) {
            return Err(AuthError::Invalid);
        }
        Ok(Principal {
            tenant: tenant.clone(),
            key_id: record.key_id.clone(),
            role: record.role.clone(),
            label: record.label.clone(),
        })
    }

    /// Every key of a tenant (hashes included; never the secrets), oldest first.
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let (pk, _) = keys::api_key(tenant, "");
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| {
                    StoreError::Unavailable(format!("list api keys: {}", DisplayErrorContext(&e)))
                })?;
            for item in out.items.unwrap_or_default() {
                records.push(
                    serde_dynamo::from_item(item)
                        .map_err(|e| StoreError::Unavailable(format!("api key item: {e}")))?,
                );
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(records);
            }
        }
    }

    /// Revokes a key now. Returns false if the tenant has no such key.
    pub async fn revoke(&self, tenant: &TenantId, key_id: &str) -> Result<bool, StoreError> {
        self.update_validity(tenant, key_id, "SET #s = :revoked", None)
            .await
    }

    /// Issues a replacement with the same role and label; the old key keeps working for
    /// `grace`, so that clients can switch without downtime.
    pub async fn rotate(
        &self,
        tenant: &TenantId,
        key_id: &str,
        grace: Duration,
    ) -> Result<Option<IssuedKey>, StoreError> {
        let Some(old) = self.record(tenant, key_id).await? else {
            return Ok(None);
        };
        let issued = self.issue(tenant, old.role.clone(), &old.label).await?;
        let until = crate::now_ms() + i64::try_from(grace.as_millis()).unwrap_or(i64::MAX / 2);
        self.update_validity(tenant, key_id, "SET valid_until_ms = :until", Some(until))
            .await?;
        Ok(Some(issued))
    }

    async fn update_validity(
        &self,
        tenant: &TenantId,
        key_id: &str,
        expression: &str,
        until_ms: Option<i64>,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = keys::api_key(tenant, key_id);
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(pk))
            .key("SK", AttributeValue::S(sk))
            .update_expression(expression)
            .condition_expression("attribute_exists(PK)");
        if let Some(until) = until_ms {
            request =
                request.expression_attribute_values(":until", AttributeValue::N(until.to_string()));
        } else {
            request = request
                .expression_attribute_names("#s", "status")
                .expression_attribute_values(":revoked", AttributeValue::S("revoked".into()));
        }
        let result = request.send().await;
        self.cache.invalidate(&(tenant.clone(), key_id.to_owned()));
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(StoreError::Unavailable(format!(
                "update api key: {}",
                DisplayErrorContext(&e)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_well_formed_keys() {
        let secret = "a".repeat(SECRET_LEN);
        let key = format!("sk_01jdabcdefghjkmnpqrstvwxyz_{secret}");
        assert_eq!(
            parse(&key),
            Some(("01jdabcdefghjkmnpqrstvwxyz", secret.as_str()))
        );
        for bad in [
            "",
            "sk_",
            "pk_01jdabcdefgh_x",
            &format!("sk_short_{secret}"),
            &format!("sk_01jdabcdefghjkmnpqrstvwxyz_{}", "a".repeat(42)),
            &format!("sk_01jdabcdefghjkmnpqrstvwxyz_{}!", "a".repeat(42)),
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn reads_bearer_or_x_api_key() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(from_headers(&headers), None);
        headers.insert("x-api-key", "sk_x".parse().unwrap());
        assert_eq!(from_headers(&headers), Some("sk_x"));
        headers.insert(http::header::AUTHORIZATION, "Bearer sk_y".parse().unwrap());
        assert_eq!(from_headers(&headers), Some("sk_y"));
        headers.insert(http::header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(from_headers(&headers), None);
    }

    #[test]
    fn role_is_stored_flat() {
        let record = ApiKeyRecord {
            pk: "p".into(),
            sk: "s".into(),
            key_id: "k".into(),
            hash: "h".into(),
            role: Role::Partner {
                partner_id: "cafe-1".into(),
            },
            label: String::new(),
            status: KeyStatus::Active,
            created_ms: 0,
            valid_until_ms: Some(10),
        };
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["role"], "partner");
        assert_eq!(json["partner_id"], "cafe-1");
        assert!(record.usable_at(9) && !record.usable_at(10));
    }
}
