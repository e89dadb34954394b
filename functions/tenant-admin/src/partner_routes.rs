//! Partners through the admin API, with the loyalty library's own planners (the ones the
//! loyalty API and `sauda loyalty partner` run), but without the loyalty API's gate on
//! the programme being switched on: a business signs its partners up before it launches.
//! Each change is then recorded in the admin history with its actor.

use crate::routes::{store_failure, Admin, Reply};
use crate::Deps;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use loyalty::partners::{self, Moderation};
use loyalty::store as ledger;
use sauda_shared::api::{ApiPath, ApiQuery, JsonBody};
use sauda_shared::changes::Change;
use sauda_shared::ApiError;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use tracing::info;

pub fn routes() -> Router<Arc<Deps>> {
    Router::new()
        .route(
            "/t/{tenant}/admin/partners",
            get(list_partners).post(create_partner),
        )
        .route(
            "/t/{tenant}/admin/partners/{partner}/{action}",
            post(moderate_partner),
        )
}

#[derive(Deserialize)]
pub struct StatusQuery {
    status: Option<String>,
}

async fn list_partners(
    caller: Admin,
    State(deps): State<Arc<Deps>>,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> Reply {
    let status = partners::status_filter(q.status.as_deref())?;
    let list = partners::list(deps.loyalty.as_ref(), caller.tenant(), status).await?;
    Ok(Json(json!({
        "partners": list.iter().map(loyalty::views::partner_view).collect::<Vec<_>>(),
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePartnerBody {
    partner_id: String,
    name: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    telegram_chat_id: Option<i64>,
    #[serde(default)]
    cashback_bp: Option<u32>,
}

async fn record(
    deps: &Deps,
    caller: &Admin,
    action: &str,
    target: &str,
    detail: Value,
) -> Result<(), ApiError> {
    let tenant = caller.tenant();
    let change = Change::new(&caller.actor(), action, target, sauda_shared::now_ms()).with(detail);
    deps.store
        .record(tenant, &change)
        .await
        .map_err(|e| store_failure(tenant, e))?;
    info!(%tenant, action, actor = %caller.actor(), "partner changed");
    Ok(())
}

async fn create_partner(
    caller: Admin,
    State(deps): State<Arc<Deps>>,
    JsonBody(b): JsonBody<CreatePartnerBody>,
) -> Reply {
    let new = loyalty::routes::new_partner(
        &b.partner_id,
        &b.name,
        b.kind.as_deref(),
        b.telegram_chat_id,
        b.cashback_bp,
    )?;
    let planner = partners::CreatePartner {
        tenant: caller.tenant(),
        new: &new,
    };
    let outcome =
        ledger::execute(deps.loyalty.as_ref(), None, None, caller.tenant(), &planner).await?;
    record(
        &deps,
        &caller,
        "partner.create",
        &new.partner_id,
        json!({"name": new.name}),
    )
    .await?;
    Ok((outcome.status, Json(outcome.body)).into_response())
}

async fn moderate_partner(
    caller: Admin,
    State(deps): State<Arc<Deps>>,
    ApiPath((_, partner, action)): ApiPath<(String, String, String)>,
) -> Reply {
    let partner_id = loyalty::ops::partner_id_valid(&partner)?;
    let moderation = Moderation::parse(&action)
        .ok_or_else(|| ApiError::field("action", "invalid_action", "approve, reject or suspend"))?;
    let planner = partners::ModeratePartner {
        tenant: caller.tenant(),
        partner_id: &partner_id,
        action: moderation,
    };
    let outcome =
        ledger::execute(deps.loyalty.as_ref(), None, None, caller.tenant(), &planner).await?;
    let view = &outcome.body;
    if view["changed"] == json!(true) {
        record(
            &deps,
            &caller,
            &format!("partner.{action}"),
            &partner_id,
            json!({"status": view["status"]}),
        )
        .await?;
        partners::notify_status(
            deps.notify.as_ref(),
            &caller.config,
            &partner_id,
            view["name"].as_str().unwrap_or_default(),
            view["telegram_chat_id"].as_i64(),
            view["status"].as_str().unwrap_or_default(),
            view["updated"].as_str().unwrap_or_default(),
        )
        .await?;
    }
    Ok((outcome.status, Json(outcome.body)).into_response())
}
