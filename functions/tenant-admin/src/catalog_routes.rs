//! The catalog routes of the admin API: upload URL, import jobs, activate, roll back.

use crate::catalog::{self, ImportJob, ImportRequest, UploadRequest};
use crate::routes::{change_config, store_failure, Admin, Reply};
use crate::Deps;
use agent_reply::catalog::publish;
use agent_reply::catalog::store::valid_version;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use sauda_shared::api::{ApiPath, JsonBody};
use sauda_shared::changes::Change;
use sauda_shared::ApiError;
use serde_json::json;
use std::sync::Arc;
use tracing::info;

pub fn routes() -> Router<Arc<Deps>> {
    Router::new()
        .route("/t/{tenant}/admin/catalog/uploads", post(upload))
        .route("/t/{tenant}/admin/catalog/imports", post(import))
        .route("/t/{tenant}/admin/catalog/imports/{job_id}", get(job))
        .route(
            "/t/{tenant}/admin/catalog/versions/{version}/activate",
            post(activate),
        )
        .route("/t/{tenant}/admin/catalog/rollback", post(rollback))
}

async fn upload(
    caller: Admin,
    State(deps): State<Arc<Deps>>,
    JsonBody(request): JsonBody<UploadRequest>,
) -> Reply {
    let tenant = caller.tenant();
    let upload_id = catalog::new_upload(&request)?;
    let url = deps
        .files
        .presign_upload(
            &catalog::upload_key(tenant, &upload_id),
            &request.content_type,
            request.size_bytes,
            catalog::UPLOAD_TTL,
        )
        .await
        .map_err(|e| store_failure(tenant, e))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "upload_id": upload_id,
            "url": url,
            "method": "PUT",
            "headers": {
                "content-type": request.content_type,
                "content-length": request.size_bytes.to_string(),
            },
            "expires_in_s": catalog::UPLOAD_TTL.as_secs(),
            "max_bytes": catalog::MAX_UPLOAD_BYTES,
        })),
    )
        .into_response())
}

async fn import(
    caller: Admin,
    State(deps): State<Arc<Deps>>,
    JsonBody(request): JsonBody<ImportRequest>,
) -> Reply {
    let tenant = caller.tenant();
    catalog::check_import(&request)?;
    let now = sauda_shared::now_ms();
    let job = ImportJob::new(tenant, request, caller.actor(), now);
    let change = Change::new(&caller.actor(), "catalog.import", job.id.clone(), now)
        .with(json!({"upload_id": job.upload_id}));
    deps.jobs
        .create(&job, &change)
        .await
        .map_err(|e| store_failure(tenant, e))?;
    deps.jobs
        .enqueue(tenant, &job.id)
        .await
        .map_err(|e| store_failure(tenant, e))?;
    info!(%tenant, job = %job.id, "catalog import queued");
    Ok((StatusCode::ACCEPTED, Json(job.view())).into_response())
}

async fn job(
    caller: Admin,
    State(deps): State<Arc<Deps>>,
    ApiPath((_, job_id)): ApiPath<(String, String)>,
) -> Reply {
    let tenant = caller.tenant();
    // The key is rebuilt from the caller's tenant: another tenant's job id finds nothing.
    let job = deps
        .jobs
        .get(tenant, &job_id)
        .await
        .map_err(|e| store_failure(tenant, e))?
        .ok_or_else(|| ApiError::not_found("import_not_found", "no such import job"))?;
    Ok(Json(job.view()).into_response())
}

fn catalog_view(c: &sauda_shared::tenant::TenantConfig) -> serde_json::Value {
    json!({
        "active_version": c.catalog.active_version,
        "previous_versions": c.catalog.previous_versions,
    })
}

async fn activate(
    caller: Admin,
    State(deps): State<Arc<Deps>>,
    ApiPath((_, version)): ApiPath<(String, String)>,
) -> Reply {
    let tenant = caller.tenant();
    let not_found = || ApiError::not_found("version_not_found", "no such catalog version");
    if !valid_version(&version) {
        return Err(not_found());
    }
    // Only complete versions of this tenant's own catalog.
    let manifest = deps
        .files
        .manifest(tenant, &version)
        .await
        .map_err(|e| store_failure(tenant, e))?
        .ok_or_else(not_found)?;
    let config = change_config(
        &deps,
        &caller,
        "catalog.activate",
        version.clone(),
        json!({"items": manifest.items}),
        |c| {
            catalog::check_activation(c, manifest.items)?;
            let mut next = c.clone();
            publish::activate(&mut next.catalog, &version);
            Ok(next)
        },
    )
    .await?;
    Ok(Json(catalog_view(&config)).into_response())
}

async fn rollback(caller: Admin, State(deps): State<Arc<Deps>>) -> Reply {
    let config = change_config(
        &deps,
        &caller,
        "catalog.rollback",
        String::new(),
        serde_json::Value::Null,
        |c| {
            let mut next = c.clone();
            publish::rollback(&mut next.catalog).ok_or_else(|| {
                ApiError::conflict(
                    "no_previous_version",
                    "there is no earlier catalog version to roll back to",
                )
            })?;
            Ok(next)
        },
    )
    .await?;
    Ok(Json(catalog_view(&config)).into_response())
}
