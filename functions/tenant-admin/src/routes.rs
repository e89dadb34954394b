//! The admin API under `/t/{tenant}/admin/…`, for tenant-admin keys only
//! (`Caller<TenantAdmins>`: the tenant exists and is active, the key belongs to that
//! tenant and is its admin's, the per-key rate limit holds). Every store key is rebuilt
//! from the authenticated tenant, so no request reaches another tenant's items.

use crate::domain::{self, KeyInput, ManagerInput};
use crate::Deps;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use sauda_shared::api::{
    cursor, json_fallbacks, ApiPath, ApiQuery, Caller, JsonBody, TenantAdmins,
};
use sauda_shared::changes::Change;
use sauda_shared::limits;
use sauda_shared::ports::StoreError;
use sauda_shared::settings::{self, Scope};
use sauda_shared::tenant::{TenantConfig, WhatsappTemplate};
use sauda_shared::{ApiError, TenantId};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use tracing::{info, warn};

pub(crate) type Admin = Caller<TenantAdmins>;
pub(crate) type Reply = Result<Response, ApiError>;

pub fn router(deps: Arc<Deps>) -> Router {
    json_fallbacks(
        Router::new()
            .route(
                "/t/{tenant}/admin/settings",
                get(read_settings).patch(patch_settings),
            )
            .route(
                "/t/{tenant}/admin/managers",
                get(managers).post(add_manager),
            )
            .route(
                "/t/{tenant}/admin/managers/{chat_id}",
                delete(remove_manager),
            )
            .route(
                "/t/{tenant}/admin/templates",
                get(templates).put(put_template),
            )
            .route(
                "/t/{tenant}/admin/templates/{name}/{language}",
                delete(remove_template),
            )
            .route("/t/{tenant}/admin/keys", get(list_keys).post(issue_key))
            .route("/t/{tenant}/admin/keys/{key_id}", delete(revoke_key))
            .route("/t/{tenant}/admin/usage", get(usage))
            .route("/t/{tenant}/admin/history", get(history))
            .merge(crate::catalog_routes::routes())
            .merge(crate::partner_routes::routes()),
    )
    .with_state(deps)
}

pub(crate) fn store_failure(tenant: &TenantId, e: StoreError) -> ApiError {
    warn!(%tenant, error = %e, "admin store failed");
    if e.is_permanent() {
        ApiError::conflict(
            "concurrent_change",
            "the settings changed meanwhile; read them and retry",
        )
    } else {
        ApiError::dependency("tenant store unavailable")
    }
}

async fn fresh_config(deps: &Deps, tenant: &TenantId) -> Result<TenantConfig, ApiError> {
    deps.store
        .config(tenant)
        .await
        .map_err(|e| store_failure(tenant, e))?
        .ok_or_else(|| ApiError::not_found("tenant_not_found", "no such tenant"))
}

/// Reads the config, applies `change` and stores the result with its history item.
pub(crate) async fn change_config(
    deps: &Deps,
    caller: &Admin,
    action: &str,
    target: String,
    detail: Value,
    change: impl FnOnce(&TenantConfig) -> Result<TenantConfig, ApiError>,
) -> Result<TenantConfig, ApiError> {
    let tenant = caller.tenant();
    let current = fresh_config(deps, tenant).await?;
    let next = change(&current)?;
    let record = Change::new(&caller.actor(), action, target, sauda_shared::now_ms()).with(detail);
    deps.store
        .save(&next, &record)
        .await
        .map_err(|e| store_failure(tenant, e))?;
    info!(%tenant, action, actor = %caller.actor(), "tenant settings changed");
    Ok(next)
}

async fn read_settings(caller: Admin, State(deps): State<Arc<Deps>>) -> Reply {
    let config = fresh_config(&deps, caller.tenant()).await?;
    Ok(Json(config).into_response())
}

async fn patch_settings(
    caller: Admin,
    State(deps): State<Arc<Deps>>,
    JsonBody(patch): JsonBody<Value>,
) -> Reply {
    let fields = domain::patched_fields(&patch);
    let urls = deps.urls;
    let config = change_config(
        &deps,
        &caller,
        "settings.patch",
        fields,
        patch.clone(),
        |c| settings::apply(c, &patch, urls, Scope::TenantAdmin).map_err(ApiError::from),
    )
    .await?;
    Ok(Json(config).into_response())
}

async fn managers(caller: Admin, State(deps): State<Arc<Deps>>) -> Reply {
    let config = fresh_config(&deps, caller.tenant()).await?;
    Ok(Json(json!({"managers": config.managers})).into_response())
}

async fn add_manager(
    caller: Admin,
    State(deps): State<Arc<Deps>>,
    JsonBody(input): JsonBody<ManagerInput>,
) -> Reply {
    let target = input.chat_id.to_string();
    let config = change_config(&deps, &caller, "manager.add", target, Value::Null, |c| {
        domain::add_manager(c, input)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"managers": config.managers})),
    )
        .into_response())
}

async fn remove_manager(
    caller: Admin,
    State(deps): State<Arc<Deps>>,
    ApiPath((_, chat_id)): ApiPath<(String, i64)>,
) -> Reply {
    let config = change_config(
        &deps,
        &caller,
        "manager.remove",
        chat_id.to_string(),
        Value::Null,
        |c| domain::remove_manager(c, chat_id),
    )
    .await?;
    Ok(Json(json!({"managers": config.managers})).into_response())
}

async fn templates(caller: Admin, State(deps): State<Arc<Deps>>) -> Reply {
    let config = fresh_config(&deps, caller.tenant()).await?;
    Ok(Json(json!({"templates": config.whatsapp_templates})).into_response())
}

async fn put_template(
    caller: Admin,
    State(deps): State<Arc<Deps>>,
    JsonBody(input): JsonBody<WhatsappTemplate>,
) -> Reply {
    let target = format!("{}/{}", input.name, input.language);
    let config = change_config(&deps, &caller, "template.put", target, Value::Null, |c| {
        domain::put_template(c, input)
    })
    .await?;
    Ok(Json(json!({"templates": config.whatsapp_templates})).into_response())
}

async fn remove_template(
    caller: Admin,
    State(deps): State<Arc<Deps>>,
    ApiPath((_, name, language)): ApiPath<(String, String, String)>,
) -> Reply {
    let config = change_config(
        &deps,
        &caller,
        "template.remove",
        format!("{name}/{language}"),
        Value::Null,
        |c| domain::remove_template(c, &name, &language),
    )
    .await?;
    Ok(Json(json!({"templates": config.whatsapp_templates})).into_response())
}

async fn list_keys(caller: Admin, State(deps): State<Arc<Deps>>) -> Reply {
    let tenant = caller.tenant();
    let keys = deps
        .keys
        .list(tenant)
        .await
        .map_err(|e| store_failure(tenant, e))?;
    let keys: Vec<Value> = keys.iter().map(domain::key_view).collect();
    Ok(Json(json!({"keys": keys})).into_response())
}

async fn issue_key(
    caller: Admin,
    State(deps): State<Arc<Deps>>,
    JsonBody(input): JsonBody<KeyInput>,
) -> Reply {
    let tenant = caller.tenant();
    let role = domain::key_role(&input)?;
    let issued = deps
        .keys
        .issue(tenant, role, &input.label)
        .await
        .map_err(|e| store_failure(tenant, e))?;
    let change = Change::new(
        &caller.actor(),
        "key.issue",
        issued.record.key_id.clone(),
        sauda_shared::now_ms(),
    )
    .with(json!({"role": issued.record.role.label()}));
    deps.store
        .record(tenant, &change)
        .await
        .map_err(|e| store_failure(tenant, e))?;
    let mut view = domain::key_view(&issued.record);
    // Shown once: only its hash is stored.
    view["key"] = json!(issued.presented.expose());
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn revoke_key(
    caller: Admin,
    State(deps): State<Arc<Deps>>,
    ApiPath((_, key_id)): ApiPath<(String, String)>,
) -> Reply {
    let tenant = caller.tenant();
    let keys = deps
        .keys
        .list(tenant)
        .await
        .map_err(|e| store_failure(tenant, e))?;
    let record = keys
        .iter()
        .find(|k| k.key_id == key_id)
        .ok_or_else(|| ApiError::not_found("key_not_found", "no such key"))?;
    if !domain::revocable(record) {
        return Err(ApiError::forbidden(
            "key_not_revocable",
            "only manager and partner keys are revoked here",
        ));
    }
    deps.keys
        .revoke(tenant, &key_id)
        .await
        .map_err(|e| store_failure(tenant, e))?;
    let change = Change::new(
        &caller.actor(),
        "key.revoke",
        key_id,
        sauda_shared::now_ms(),
    )
    .with(json!({"role": record.role.label()}));
    deps.store
        .record(tenant, &change)
        .await
        .map_err(|e| store_failure(tenant, e))?;
    let mut view = domain::key_view(record);
    view["status"] = json!("revoked");
    Ok(Json(view).into_response())
}

async fn usage(caller: Admin, State(deps): State<Arc<Deps>>) -> Reply {
    let tenant = caller.tenant();
    // Read fresh: the channels counted are those of the admin's last change.
    let config = &fresh_config(&deps, tenant).await?;
    let month = limits::month_of(config, sauda_shared::now_ms());
    let used = deps
        .usage
        .month(tenant, &month)
        .await
        .map_err(|e| store_failure(tenant, e))?;
    Ok(Json(domain::usage_view(config, &month, &used)).into_response())
}

#[derive(Deserialize)]
pub struct PageQuery {
    limit: Option<usize>,
    cursor: Option<String>,
}

pub const MAX_PAGE: usize = 100;

async fn history(
    caller: Admin,
    State(deps): State<Arc<Deps>>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Reply {
    let tenant = caller.tenant();
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::field(
            "limit",
            "invalid_limit",
            format!("a number from 1 to {MAX_PAGE}"),
        ));
    }
    let after: Option<String> = cursor::decode_opt(tenant, "admin.history", q.cursor.as_deref())?;
    let (changes, next) = deps
        .history
        .list(tenant, limit, after.as_deref())
        .await
        .map_err(|e| store_failure(tenant, e))?;
    let next = next.map(|sk| cursor::encode(tenant, "admin.history", &sk));
    Ok(Json(json!({"changes": changes, "next_cursor": next})).into_response())
}
