//! The managers' orders API (`orders-api`), on the shared API layer: every route is
//! `Caller<Managers>` (tenant → key → role → rate limit), bodies are `JsonBody`,
//! listings page with signed cursors, and every action is recorded in the order's
//! history with its actor (`manager:{key_id}`).

use crate::create::{create_order, customer_of, CreateError};
use crate::domain::{self, valid_order_id, Conflict, Transition};
use crate::invoice::{self, InvoiceError};
use crate::providers::ProviderError;
use crate::refund::{self, RefundError, RefundRequest, Route};
use crate::store::OrderDetail;
use crate::Deps;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use sauda_shared::api::{
    cursor, json_fallbacks, ApiPath, ApiQuery, Caller, IdempotencyKey, JsonBody, Managers,
};
use sauda_shared::order::{
    Change, FulfillmentStatus, LineRequest, Order, OrderError, OrderRequest, OrderSource,
    OrderStatus, Provider,
};
use sauda_shared::plan::PlanError;
use sauda_shared::ports::StoreError;
use sauda_shared::retry::Backoff;
use sauda_shared::stats::{metric, CounterDelta};
use sauda_shared::tenant::TenantConfig;
use sauda_shared::ApiError;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

type Reply = Result<(StatusCode, Json<Value>), ApiError>;

pub fn router(deps: Arc<Deps>) -> Router {
    json_fallbacks(
        Router::new()
            .route("/t/{tenant}/orders", post(create).get(list))
            .route("/t/{tenant}/orders/{order_id}", get(show))
            .route("/t/{tenant}/orders/{order_id}/cancel", post(cancel))
            .route("/t/{tenant}/orders/{order_id}/refund", post(refund_route))
            .route("/t/{tenant}/orders/{order_id}/fulfil", post(fulfil))
            .route("/t/{tenant}/orders/{order_id}/invoice", post(send_invoice)),
    )
    .with_state(deps)
}

// ---- Errors -----------------------------------------------------------------------------

fn store_failure(e: StoreError) -> ApiError {
    tracing::warn!(error = %e, "order store failed");
    match e {
        StoreError::Rejected(_) => {
            ApiError::unprocessable("order_rejected", "the order cannot be stored")
        }
        StoreError::Unavailable(_) => ApiError::dependency("order store unavailable"),
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("order_not_found", "no such order")
}

pub fn order_error(e: OrderError) -> ApiError {
    let code = e.code();
    match e {
        OrderError::Transition { .. } | OrderError::Expired | OrderError::AlreadyPaid => {
            ApiError::conflict(code, e.to_string())
        }
        OrderError::UnknownPayment(_) => ApiError::not_found(code, e.to_string()),
        OrderError::RefundTooLarge { remaining } => {
            ApiError::unprocessable(code, e.to_string()).with("remaining_minor", json!(remaining))
        }
        other => ApiError::unprocessable(code, other.to_string()),
    }
}

fn provider_error(e: ProviderError) -> ApiError {
    match &e {
        ProviderError::NotConfigured { missing, .. } => {
            ApiError::unprocessable("provider_not_configured", e.to_string())
                .with("missing", json!(missing))
        }
        ProviderError::Refused { .. } => {
            ApiError::new(StatusCode::BAD_GATEWAY, "provider_refused", e.to_string())
        }
        ProviderError::Unavailable { .. } => {
            tracing::warn!(error = %e, "payment provider unavailable");
            ApiError::dependency("payment provider unavailable")
        }
    }
}

fn invoice_error(e: InvoiceError) -> ApiError {
    match e {
        InvoiceError::NotFound => not_found(),
        InvoiceError::Order(e) => order_error(e),
        InvoiceError::NoProvider(m) => ApiError::unprocessable("no_payment_provider", m),
        InvoiceError::Provider(e) => provider_error(e),
        InvoiceError::Unavailable(m) => {
            tracing::warn!(error = %m, "invoice dependency failed");
            ApiError::dependency("dependency unavailable")
        }
    }
}

fn check_id(order_id: &str) -> Result<(), ApiError> {
    if valid_order_id(order_id) {
        Ok(())
    } else {
        Err(not_found())
    }
}

// ---- Views -----------------------------------------------------------------------------

pub fn order_view(order: &Order) -> Value {
    let mut v = serde_json::to_value(order).unwrap_or_default();
    v["number"] = json!(domain::display_number(&order.order_id));
    v
}

fn detail_view(detail: &OrderDetail) -> Value {
    let mut v = order_view(&detail.order);
    v["history"] = json!(detail
        .history
        .iter()
        .map(|h| json!({
            "at_ms": h.event.at_ms, "actor": h.event.actor, "action": h.event.action,
            "reason": h.event.reason, "status": h.event.status,
            "payment_status": h.event.payment_status,
            "fulfillment_status": h.event.fulfillment_status, "revision": h.revision,
        }))
        .collect::<Vec<_>>());
    v["payment_events"] = json!(detail
        .payments
        .iter()
        .map(|p| json!({
            "provider": p.provider, "reference": p.reference, "event": p.event,
            "amount_minor": p.amount_minor, "currency": p.currency, "actor": p.actor,
            "at_ms": p.at_ms,
        }))
        .collect::<Vec<_>>());
    v
}

// ---- Create ------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemBody {
    sku: String,
    quantity: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    contact_id: String,
    items: Vec<ItemBody>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    delivery: Option<String>,
    /// Send the invoice or payment link right away.
    #[serde(default)]
    invoice: bool,
    #[serde(default)]
    provider: Option<Provider>,
}

async fn create(
    State(deps): State<Arc<Deps>>,
    caller: Caller<Managers>,
    idempotency: IdempotencyKey,
    JsonBody(body): JsonBody<CreateBody>,
) -> Reply {
    let config = &caller.config;
    let Some((channel, reply_to)) = customer_of(&body.contact_id) else {
        return Err(ApiError::field(
            "contact_id",
            "invalid_contact_id",
            "contact_id must look like tg-123456 or wa-77011234567",
        ));
    };
    let Some(prices) = deps.prices.as_deref() else {
        return Err(ApiError::unprocessable(
            "no_catalog",
            "orders are priced from the catalog; none is configured",
        ));
    };
    // A retried request with the same Idempotency-Key makes no second order.
    let order_id = idempotency.0.as_ref().map(|key| {
        domain::stable_order_id(0, &format!("{}:{}:{key}", caller.tenant(), caller.key_id()))
    });
    let request = OrderRequest {
        order_id,
        customer: sauda_shared::order::Customer {
            contact: body.contact_id.clone(),
            channel,
            reply_to,
            language: body.language.filter(|l| l.len() <= 35),
        },
        items: body
            .items
            .into_iter()
            .map(|i| LineRequest {
                sku: i.sku,
                quantity: i.quantity,
            })
            .collect(),
        source: OrderSource::Manager,
        actor: caller.actor(),
        catalog_version: None,
        delivery: body.delivery,
    };
    let created = create_order(
        deps.payments.store.as_ref(),
        prices,
        &deps.plan_watch(),
        config,
        &request,
        deps.now_ms(),
    )
    .await
    .map_err(|e| match e {
        CreateError::Invalid { code, message } => ApiError::unprocessable(code, message),
        CreateError::Order(e) => order_error(e),
        CreateError::NoCatalog => ApiError::unprocessable("no_catalog", e.to_string()),
        CreateError::IdTaken(_) => ApiError::conflict("idempotency_key_reused", e.to_string()),
        CreateError::Unavailable(m) => {
            tracing::warn!(error = %m, "order creation dependency failed");
            ApiError::dependency("dependency unavailable")
        }
    })?;
    let status = if created.new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut view = order_view(&created.order);
    if body.invoice {
        match invoice::send_invoice(
            &deps,
            config,
            &created.order.order_id,
            body.provider,
            &caller.actor(),
        )
        .await
        {
            Ok(invoiced) => {
                view = order_view(&invoiced.order);
                view["invoice"] = json!({"provider": invoiced.provider, "url": invoiced.url});
            }
            // The order stands; the manager may invoice again.
            Err(e) => view["invoice"] = json!({"error": invoice_error(e).code}),
        }
    }
    Ok((status, Json(view)))
}

// ---- Read --------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<i32>,
}

async fn list(
    State(deps): State<Arc<Deps>>,
    caller: Caller<Managers>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Reply {
    let status = match query.status.as_deref() {
        None | Some("") => OrderStatus::Placed,
        Some(raw) => OrderStatus::parse(raw).ok_or_else(|| {
            ApiError::field(
                "status",
                "invalid_status",
                "status must be draft, placed, completed, canceled or expired",
            )
        })?,
    };
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::field(
            "limit",
            "invalid_limit",
            "limit must be 1-100",
        ));
    }
    let route = format!("orders:{status}");
    let after: Option<String> =
        cursor::decode_opt(caller.tenant(), &route, query.cursor.as_deref())?;
    let page = deps
        .payments
        .store
        .list(caller.tenant(), status, after.as_deref(), limit)
        .await
        .map_err(store_failure)?;
    let next = page
        .next
        .map(|p| cursor::encode(caller.tenant(), &route, &p));
    Ok((
        StatusCode::OK,
        Json(json!({
            "orders": page.orders.iter().map(order_view).collect::<Vec<_>>(),
            "next_cursor": next,
        })),
    ))
}

async fn show(
    State(deps): State<Arc<Deps>>,
    caller: Caller<Managers>,
    ApiPath((_, order_id)): ApiPath<(String, String)>,
) -> Reply {
    check_id(&order_id)?;
    let detail = deps
        .payments
        .store
        .detail(caller.tenant(), &order_id)
        .await
        .map_err(store_failure)?
        .ok_or_else(not_found)?;
    Ok((StatusCode::OK, Json(detail_view(&detail))))
}

// ---- Actions -----------------------------------------------------------------------------

/// Applies a manager's change to an order: read, rule, one transaction conditioned on
/// the revision read, again on a concurrent change.
async fn transition(
    deps: &Deps,
    config: &TenantConfig,
    order_id: &str,
    rule: impl Fn(Order, i64) -> Result<(Change, CounterDelta), OrderError>,
) -> Result<Order, ApiError> {
    let store = deps.payments.store.as_ref();
    for attempt in 1..=5 {
        let order = store
            .get(&config.tenant, order_id)
            .await
            .map_err(store_failure)?
            .ok_or_else(not_found)?;
        let (change, counters) = rule(order.clone(), deps.now_ms()).map_err(order_error)?;
        let plan = Transition {
            tenant: &config.tenant,
            timezone: &config.timezone,
            before: Some(&order),
            change: &change,
            counters,
            payment: None,
            event: None,
        }
        .plan();
        match store.commit(&plan).await {
            Ok(()) => return Ok(change.order),
            Err(PlanError::Store(e)) => return Err(store_failure(e)),
            Err(PlanError::Rejected(Conflict::OrderExists))
            | Err(PlanError::Rejected(_))
            | Err(PlanError::Stale(_)) => Backoff::STORE.sleep(attempt).await,
        }
    }
    Err(ApiError::dependency("the order kept changing; try again"))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    #[serde(default)]
    reason: Option<String>,
}

fn reason_of(raw: Option<String>) -> Result<Option<String>, ApiError> {
    match raw {
        Some(r) if r.chars().count() > 500 => Err(ApiError::field(
            "reason",
            "reason_too_long",
            "reason is at most 500 characters",
        )),
        other => Ok(other.filter(|r| !r.trim().is_empty())),
    }
}

async fn cancel(
    State(deps): State<Arc<Deps>>,
    caller: Caller<Managers>,
    ApiPath((_, order_id)): ApiPath<(String, String)>,
    JsonBody(body): JsonBody<ReasonBody>,
) -> Reply {
    check_id(&order_id)?;
    let reason = reason_of(body.reason)?;
    let actor = caller.actor();
    let order = transition(&deps, &caller.config, &order_id, |order, now| {
        let mut d = CounterDelta::default();
        d.add(metric::ORDERS_CANCELED, 1);
        order.cancel(now, &actor, reason.clone()).map(|c| (c, d))
    })
    .await?;
    Ok((StatusCode::OK, Json(order_view(&order))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FulfilBody {
    status: String,
}

async fn fulfil(
    State(deps): State<Arc<Deps>>,
    caller: Caller<Managers>,
    ApiPath((_, order_id)): ApiPath<(String, String)>,
    JsonBody(body): JsonBody<FulfilBody>,
) -> Reply {
    check_id(&order_id)?;
    let to = match FulfillmentStatus::parse(&body.status) {
        Some(s @ (FulfillmentStatus::Fulfilled | FulfillmentStatus::Delivered)) => s,
        _ => {
            return Err(ApiError::field(
                "status",
                "invalid_status",
                "status must be fulfilled or delivered",
            ))
        }
    };
    let actor = caller.actor();
    let order = transition(&deps, &caller.config, &order_id, |order, now| {
        order
            .fulfil(to, now, &actor)
            .map(|c| (c, domain::fulfil_counters(to)))
    })
    .await?;
    Ok((StatusCode::OK, Json(order_view(&order))))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RefundBody {
    #[serde(default)]
    amount_minor: Option<i64>,
    #[serde(default)]
    payment_ref: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

async fn refund_route(
    State(deps): State<Arc<Deps>>,
    caller: Caller<Managers>,
    ApiPath((_, order_id)): ApiPath<(String, String)>,
    JsonBody(body): JsonBody<RefundBody>,
) -> Reply {
    check_id(&order_id)?;
    let request = RefundRequest {
        amount_minor: body.amount_minor,
        payment_ref: body.payment_ref,
        reason: reason_of(body.reason)?,
    };
    let (outcome, route) =
        refund::refund(&deps, &caller.config, &order_id, &request, &caller.actor())
            .await
            .map_err(|e| match e {
                RefundError::NotFound => not_found(),
                RefundError::Order(e) => order_error(e),
                RefundError::PartialNotSupported => {
                    ApiError::unprocessable("partial_refund_not_supported", e.to_string())
                }
                RefundError::Provider(e) => provider_error(e),
                RefundError::Confirm(e) => crate::webhooks::confirm_failure(caller.tenant(), e),
                RefundError::Unavailable(m) => {
                    tracing::warn!(error = %m, "refund dependency failed");
                    ApiError::dependency("dependency unavailable")
                }
            })?;
    let mut body = crate::webhooks::answer(&outcome)?;
    body["route"] = json!(match route {
        Route::Provider => "provider",
        Route::Manual => "manual",
    });
    let order = deps
        .order(caller.tenant(), &order_id)
        .await
        .map_err(store_failure)?
        .ok_or_else(not_found)?;
    body["order"] = order_view(&order);
    Ok((StatusCode::OK, Json(body)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct InvoiceBody {
    #[serde(default)]
    provider: Option<Provider>,
}

async fn send_invoice(
    State(deps): State<Arc<Deps>>,
    caller: Caller<Managers>,
    ApiPath((_, order_id)): ApiPath<(String, String)>,
    JsonBody(body): JsonBody<InvoiceBody>,
) -> Reply {
    check_id(&order_id)?;
    let invoiced = invoice::send_invoice(
        &deps,
        &caller.config,
        &order_id,
        body.provider,
        &caller.actor(),
    )
    .await
    .map_err(invoice_error)?;
    let mut view = order_view(&invoiced.order);
    view["invoice"] = json!({"provider": invoiced.provider, "url": invoiced.url});
    Ok((StatusCode::OK, Json(view)))
}
