//! Tenant → status → API key and role → per-key rate limit, as axum extractors.

use super::ApiError;
use crate::apikey::{self, ApiKeyStore, AuthError, Principal, Role};
use crate::ports::{StoreError, TenantDirectory};
use crate::ratelimit::{Decision, RateLimiter};
use crate::tenant::{TenantConfig, TenantId};
use async_trait::async_trait;
use axum::extract::{FromRequestParts, RawPathParams};
use http::request::Parts;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

/// Checks presented API keys inside one tenant.
#[async_trait]
pub trait KeyCheck: Send + Sync {
    async fn authenticate(
        &self,
        tenant: &TenantId,
        presented: Option<&str>,
    ) -> Result<Principal, AuthError>;
}

#[async_trait]
impl KeyCheck for ApiKeyStore {
    async fn authenticate(
        &self,
        tenant: &TenantId,
        presented: Option<&str>,
    ) -> Result<Principal, AuthError> {
        ApiKeyStore::authenticate(self, tenant, presented).await
    }
}

/// Counts hits in fixed windows.
#[async_trait]
pub trait RateCheck: Send + Sync {
    async fn hit(
        &self,
        tenant: &TenantId,
        scope: &str,
        limit: u32,
        window: Duration,
        now_ms: i64,
    ) -> Result<Decision, StoreError>;
}

#[async_trait]
impl RateCheck for RateLimiter {
    async fn hit(
        &self,
        tenant: &TenantId,
        scope: &str,
        limit: u32,
        window: Duration,
        now_ms: i64,
    ) -> Result<Decision, StoreError> {
        RateLimiter::hit(self, tenant, scope, limit, window, now_ms).await
    }
}

/// What the extractors need; each HTTP function's `Deps` holds one.
#[derive(Clone)]
pub struct ApiDeps {
    pub tenants: Arc<dyn TenantDirectory>,
    pub keys: Arc<dyn KeyCheck>,
    pub limiter: Arc<dyn RateCheck>,
}

pub trait HasApi: Send + Sync {
    fn api(&self) -> &ApiDeps;
}

impl<T: HasApi> HasApi for Arc<T> {
    fn api(&self) -> &ApiDeps {
        (**self).api()
    }
}

fn tenant_not_found() -> ApiError {
    ApiError::not_found("tenant_not_found", "no such tenant")
}

/// Loads an active tenant by its raw id: the same answers on every route.
pub async fn active_tenant(
    tenants: &dyn TenantDirectory,
    raw: &str,
) -> Result<Arc<TenantConfig>, ApiError> {
    let tenant = TenantId::parse(raw).map_err(|_| tenant_not_found())?;
    let config = tenants.tenant(&tenant).await.map_err(|e| {
        tracing::warn!(%tenant, error = %e, "tenant lookup failed");
        ApiError::dependency("tenant directory unavailable")
    })?;
    let config = config.ok_or_else(tenant_not_found)?;
    if !config.is_active() {
        return Err(ApiError::not_found(
            "tenant_suspended",
            "tenant is suspended",
        ));
    }
    Ok(config)
}

/// The `{tenant}` of the route, existing and active.
#[derive(Clone, Debug)]
pub struct Tenant(pub Arc<TenantConfig>);

impl Tenant {
    pub fn id(&self) -> &TenantId {
        &self.0.tenant
    }
}

impl<S: HasApi> FromRequestParts<S> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if let Some(found) = parts.extensions.get::<Tenant>() {
            return Ok(found.clone());
        }
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| tenant_not_found())?;
        let raw = params
            .iter()
            .find(|(name, _)| *name == "tenant")
            .map(|(_, value)| value.to_owned())
            .ok_or_else(tenant_not_found)?;
        let tenant = Tenant(active_tenant(state.api().tenants.as_ref(), &raw).await?);
        parts.extensions.insert(tenant.clone());
        Ok(tenant)
    }
}

/// Which roles a route admits, and whether the per-key rate limit applies there.
pub trait Roles: Send + Sync + 'static {
    /// For the 403 message: "this route needs {WHO}".
    const WHO: &'static str;
    /// Routes that count requests themselves (inside their own transaction) opt out.
    const RATE_LIMITED: bool = true;
    fn allows(role: &Role) -> bool;
}

/// Any valid key of the tenant.
pub struct AnyKey;
impl Roles for AnyKey {
    const WHO: &'static str = "an API key";
    fn allows(_: &Role) -> bool {
        true
    }
}

/// Managers, and the admins above them.
pub struct Managers;
impl Roles for Managers {
    const WHO: &'static str = "a manager, admin or tenant-admin key";
    fn allows(role: &Role) -> bool {
        matches!(role, Role::Manager | Role::Admin | Role::TenantAdmin)
    }
}

/// The loyalty programme's admins (and the tenant admin).
pub struct Admins;
impl Roles for Admins {
    const WHO: &'static str = "an admin or tenant-admin key";
    fn allows(role: &Role) -> bool {
        matches!(role, Role::Admin | Role::TenantAdmin)
    }
}

pub struct Partners;
impl Roles for Partners {
    const WHO: &'static str = "a partner key";
    fn allows(role: &Role) -> bool {
        matches!(role, Role::Partner { .. })
    }
}

/// The business's own admin key (the tenant admin API).
pub struct TenantAdmins;
impl Roles for TenantAdmins {
    const WHO: &'static str = "a tenant-admin key";
    fn allows(role: &Role) -> bool {
        matches!(role, Role::TenantAdmin)
    }
}

/// An authenticated caller of the route's tenant, with a role the route admits.
pub struct Caller<R: Roles = AnyKey> {
    pub config: Arc<TenantConfig>,
    pub principal: Principal,
    roles: PhantomData<R>,
}

impl<R: Roles> Caller<R> {
    pub fn tenant(&self) -> &TenantId {
        &self.config.tenant
    }

    pub fn key_id(&self) -> &str {
        &self.principal.key_id
    }

    pub fn role(&self) -> &Role {
        &self.principal.role
    }

    pub fn partner_id(&self) -> Option<&str> {
        match &self.principal.role {
            Role::Partner { partner_id } => Some(partner_id),
            _ => None,
        }
    }

    /// Who did it, for histories and audit records: `manager:{key_id}`.
    pub fn actor(&self) -> String {
        format!("{}:{}", self.principal.role.name(), self.principal.key_id)
    }
}

pub fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::Missing => ApiError::unauthorized(
            "api_key_required",
            "send the tenant's API key as `Authorization: Bearer sk_…`",
        ),
        AuthError::Invalid => ApiError::unauthorized(
            "invalid_api_key",
            "the API key is not valid for this tenant",
        ),
        AuthError::Store(err) => {
            tracing::warn!(error = %err, "api key store unavailable");
            ApiError::dependency("api key store unavailable")
        }
    }
}

impl<S: HasApi, R: Roles> FromRequestParts<S> for Caller<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Tenant(config) = Tenant::from_request_parts(parts, state).await?;
        let api = state.api();
        let presented = apikey::from_headers(&parts.headers).filter(|k| !k.is_empty());
        let principal = api
            .keys
            .authenticate(&config.tenant, presented)
            .await
            .map_err(auth_error)?;
        if !R::allows(&principal.role) {
            return Err(ApiError::forbidden(
                "role_not_allowed",
                format!("this route needs {}", R::WHO),
            ));
        }
        if R::RATE_LIMITED {
            let limit = config.api_rate_limit();
            if limit > 0 {
                let scope = format!("key#{}", principal.key_id);
                let decision = api
                    .limiter
                    .hit(
                        &config.tenant,
                        &scope,
                        limit,
                        Duration::from_secs(60),
                        crate::now_ms(),
                    )
                    .await
                    .map_err(|e| {
                        tracing::warn!(tenant = %config.tenant, error = %e, "rate limiter unavailable");
                        ApiError::dependency("rate limiter unavailable")
                    })?;
                if !decision.allowed {
                    return Err(ApiError::too_many_requests(
                        format!("at most {limit} requests per minute with one API key"),
                        decision.retry_after_s,
                    ));
                }
            }
        }
        Ok(Caller {
            config,
            principal,
            roles: PhantomData,
        })
    }
}
