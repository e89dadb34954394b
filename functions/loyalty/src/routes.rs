//! HTTP routes under `/t/{tenant}/loyalty/…` (API Gateway HTTP API, payload v2).
//!
//! Order of checks: API key (tenant-scoped lookup, so a key never works on another
//! tenant) → tenant and programme state → role → Idempotency-Key → body → rules. Every
//! failure answers `{"error":{"code","message"}}` with a stable code; only a failing
//! dependency answers 5xx.

use crate::error::LoyaltyError;
use crate::input::{self, CustomerRef};
use crate::model::{partner_client_key, PartnerClient};
use crate::ops::{self, Actor, Scope};
use crate::partners::{self, Moderation, NewPartner, PartnerPatch};
use crate::store::{Idempotency, Outcome, Planner, RateLimit};
use crate::views;
use crate::Deps;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use sauda_shared::api::json_fallbacks;
use sauda_shared::apikey::{self, AuthError, Role};
use sauda_shared::partner::{Partner, PartnerStatus};
use sauda_shared::tenant::TenantConfig;
use sauda_shared::{keys, TenantId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Number, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

/// Requests are small JSON documents.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

pub fn router(deps: Arc<Deps>) -> Router {
    let base = "/t/{tenant}/loyalty";
    json_fallbacks(
        Router::new()
            .route(&format!("{base}/join"), post(join))
            .route(&format!("{base}/accrue"), post(accrue))
            .route(&format!("{base}/redeem"), post(redeem))
            .route(&format!("{base}/refund"), post(refund))
            .route(&format!("{base}/nps"), post(nps))
            .route(&format!("{base}/referral-code"), post(referral_code))
            .route(&format!("{base}/balance"), get(balance))
            .route(&format!("{base}/history"), get(history))
            .route(&format!("{base}/customers/lookup"), get(lookup))
            .route(&format!("{base}/partner"), get(own_partner))
            .route(&format!("{base}/partner/services"), post(propose_service))
            .route(
                &format!("{base}/partners/{{partner}}/stats"),
                get(partner_stats),
            )
            .route(
                &format!("{base}/admin/partners"),
                get(list_partners).post(create_partner),
            )
            .route(
                &format!("{base}/admin/partners/{{partner}}"),
                axum::routing::patch(update_partner),
            )
            .route(
                &format!("{base}/admin/partners/{{partner}}/{{action}}"),
                post(moderate_partner),
            )
            .route(
                &format!("{base}/admin/partners/{{partner}}/services/{{service}}/{{action}}"),
                post(moderate_service),
            )
            .route(&format!("{base}/admin/adjust"), post(adjust))
            // Enforced in `body()`, so the 413 carries the JSON error contract.
            .layer(DefaultBodyLimit::disable()),
    )
    .with_state(deps)
}

type Reply = Result<Response, LoyaltyError>;
type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

/// The authenticated caller and its tenant.
struct Caller {
    tenant: TenantId,
    config: Arc<TenantConfig>,
    key_id: String,
    actor: Actor,
}

impl Caller {
    fn scope(&self) -> Scope<'_> {
        Scope {
            tenant: &self.tenant,
            config: &self.config,
        }
    }

    fn partner(&self) -> Result<&str, LoyaltyError> {
        self.actor
            .partner_id()
            .ok_or(LoyaltyError::Forbidden("do this: it needs a partner key"))
    }

    fn admin(&self) -> Result<(), LoyaltyError> {
        match self.actor {
            Actor::Admin => Ok(()),
            _ => Err(LoyaltyError::Forbidden("do this: it needs an admin key")),
        }
    }

    /// Partners and admins change the ledger; managers only read.
    fn writer(&self) -> Result<(), LoyaltyError> {
        match self.actor {
            Actor::Manager => Err(LoyaltyError::Forbidden(
                "change the ledger: manager keys are read-only",
            )),
            _ => Ok(()),
        }
    }

    fn region(&self) -> &str {
        &self.config.leads.default_region
    }
}

async fn authenticate(
    deps: &Deps,
    tenant: &str,
    headers: &HeaderMap,
) -> Result<Caller, LoyaltyError> {
    let tenant = TenantId::parse(tenant).map_err(|_| LoyaltyError::UnknownTenant)?;
    let presented = apikey::from_headers(headers)
        .filter(|k| !k.is_empty())
        .ok_or(LoyaltyError::ApiKeyRequired)?;
    if apikey::parse(presented).is_none() {
        return Err(LoyaltyError::MalformedApiKey);
    }
    // The lookup is under the URL's tenant: another tenant's key simply does not exist here.
    let principal = deps
        .keys
        .authenticate(&tenant, Some(presented))
        .await
        .map_err(|e| match e {
            AuthError::Missing => LoyaltyError::ApiKeyRequired,
            AuthError::Invalid => LoyaltyError::InvalidApiKey,
            AuthError::Store(e) => e.into(),
        })?;
    let config = deps
        .tenants
        .tenant(&tenant)
        .await?
        .ok_or(LoyaltyError::UnknownTenant)?;
    if !config.is_active() {
        return Err(LoyaltyError::TenantSuspended);
    }
    if !config.loyalty.enabled {
        return Err(LoyaltyError::LoyaltyDisabled);
    }
    let actor = match principal.role {
        Role::Admin | Role::TenantAdmin => Actor::Admin,
        Role::Manager => Actor::Manager,
        Role::Partner { partner_id } => Actor::Partner { partner_id },
    };
    Ok(Caller {
        tenant,
        config,
        key_id: principal.key_id,
        actor,
    })
}

fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, LoyaltyError> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(LoyaltyError::PayloadTooLarge(MAX_BODY_BYTES));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(LoyaltyError::InvalidBody(
            "the body is empty; send a JSON object".into(),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| LoyaltyError::InvalidBody(e.to_string()))
}

fn params(query: Params) -> Result<HashMap<String, String>, LoyaltyError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| LoyaltyError::InvalidBody(format!("query string: {e}")))
}

fn respond(outcome: Outcome) -> Response {
    let mut response = (outcome.status, Json(outcome.body)).into_response();
    if outcome.replayed {
        response
            .headers_mut()
            .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    response
}

/// Runs a mutation with the caller's Idempotency-Key and rate limit.
async fn mutate(
    deps: &Deps,
    caller: &Caller,
    headers: &HeaderMap,
    operation: &str,
    request: &impl Serialize,
    planner: &dyn Planner,
) -> Result<Outcome, LoyaltyError> {
    caller.writer()?;
    let key = input::idempotency_key_valid(
        headers
            .get(IDEMPOTENCY_HEADER)
            .and_then(|v| v.to_str().ok()),
    )?;
    let normalised = serde_json::to_string(request)
        .map_err(|e| LoyaltyError::Internal(format!("request hash: {e}")))?;
    let hash = hex::encode(Sha256::digest(
        format!("{operation}\n{normalised}").as_bytes(),
    ));
    // One partner's "order-1" is not another's; admin keys share the tenant's admin scope.
    let scope = match &caller.actor {
        Actor::Partner { partner_id } => format!("p:{partner_id}"),
        _ => "admin".to_owned(),
    };
    let idempotency = Idempotency::new(&caller.tenant, &scope, &key, hash);
    let rate = RateLimit {
        scope: format!("loyalty#{}", caller.key_id),
        per_minute: caller.config.loyalty.rate_limit_per_minute.max(1),
    };
    deps.store
        .execute(Some(&idempotency), Some(&rate), &caller.tenant, planner)
        .await
}

fn customer(
    caller: &Caller,
    contact_id: Option<&str>,
    phone: Option<&str>,
) -> Result<CustomerRef, LoyaltyError> {
    CustomerRef::parse(contact_id, phone, caller.region())
}

// ---------------------------------------------------------------------------- ledger

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccrueBody {
    contact_id: Option<String>,
    phone: Option<String>,
    purchase_ref: String,
    amount_minor: Number,
    currency: String,
}

#[derive(Serialize)]
struct AccrueKey<'a> {
    customer: &'a CustomerRef,
    purchase_ref: &'a str,
    amount_minor: i64,
    currency: &'a str,
}

async fn accrue(
    State(deps): State<Arc<Deps>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Reply {
    let caller = authenticate(&deps, &tenant, &headers).await?;
    let partner_id = caller.partner()?.to_owned();
    let b: AccrueBody = body(&bytes)?;
    let input = ops::AccrueInput {
        customer: customer(&caller, b.contact_id.as_deref(), b.phone.as_deref())?,
        purchase_ref: input::purchase_ref_valid(&b.purchase_ref)?,
        amount_minor: input::amount_valid(&b.amount_minor)?,
        currency: input::currency_valid(&b.currency, &caller.config.loyalty.currency)?,
    };
    let key = AccrueKey {
        customer: &input.customer,
        purchase_ref: &input.purchase_ref,
        amount_minor: input.amount_minor,
        currency: &input.currency,
    };
    let planner = ops::Accrue {
        scope: caller.scope(),
        partner_id: &partner_id,
        input: &input,
        table: &deps.store.table,
    };
    Ok(respond(
        mutate(&deps, &caller, &headers, "accrue", &key, &planner).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedeemBody {
    contact_id: Option<String>,
    phone: Option<String>,
    purchase_ref: String,
    amount_minor: Number,
    currency: String,
    points: Number,
}

#[derive(Serialize)]
struct RedeemKey<'a> {
    customer: &'a CustomerRef,
    purchase_ref: &'a str,
    amount_minor: i64,
    currency: &'a str,
    points: i64,
}

async fn redeem(
    State(deps): State<Arc<Deps>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Reply {
    let caller = authenticate(&deps, &tenant, &headers).await?;
    let partner_id = caller.partner()?.to_owned();
    let b: RedeemBody = body(&bytes)?;
    let input = ops::RedeemInput {
        customer: customer(&caller, b.contact_id.as_deref(), b.phone.as_deref())?,
        purchase_ref: input::purchase_ref_valid(&b.purchase_ref)?,
        amount_minor: input::amount_valid(&b.amount_minor)?,
        currency: input::currency_valid(&b.currency, &caller.config.loyalty.currency)?,
        points: input::points_valid(&b.points)?,
    };
    ops::check_redeem_cap(&caller.config.loyalty, &input)?;
    let key = RedeemKey {
        customer: &input.customer,
        purchase_ref: &input.purchase_ref,
        amount_minor: input.amount_minor,
        currency: &input.currency,
        points: input.points,
    };
    let planner = ops::Redeem {
        scope: caller.scope(),
        partner_id: &partner_id,
        input: &input,
        table: &deps.store.table,
    };
    Ok(respond(
        mutate(&deps, &caller, &headers, "redeem", &key, &planner).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundBody {
    contact_id: Option<String>,
    phone: Option<String>,
    purchase_ref: String,
    amount_minor: Option<Number>,
    reason: Option<String>,
}

#[derive(Serialize)]
struct RefundKey<'a> {
    customer: &'a CustomerRef,
    purchase_ref: &'a str,
    amount_minor: Option<i64>,
    reason: Option<&'a str>,
}

/// A returned purchase, wholly or in part, booked by the partner that sold it.
async fn refund(
    State(deps): State<Arc<Deps>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Reply {
    let caller = authenticate(&deps, &tenant, &headers).await?;
    let partner_id = caller.partner()?.to_owned();
    let b: RefundBody = body(&bytes)?;
    let input = ops::RefundInput {
        customer: customer(&caller, b.contact_id.as_deref(), b.phone.as_deref())?,
        purchase_ref: input::purchase_ref_valid(&b.purchase_ref)?,
        amount_minor: b
            .amount_minor
            .as_ref()
            .map(input::amount_valid)
            .transpose()?,
        reason: b
            .reason
            .as_deref()
            .map(|r| input::text_valid(r, 500, "invalid_reason"))
            .transpose()?,
    };
    let key = RefundKey {
        customer: &input.customer,
        purchase_ref: &input.purchase_ref,
        amount_minor: input.amount_minor,
        reason: input.reason.as_deref(),
    };
    let planner = ops::Refund {
        scope: caller.scope(),
        partner_id: &partner_id,
        input: &input,
        table: &deps.store.table,
    };
    Ok(respond(
        mutate(&deps, &caller, &headers, "refund", &key, &planner).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinBody {
    contact_id: Option<String>,
    phone: Option<String>,
    referral_code: Option<String>,
}

#[derive(Serialize)]
struct JoinKey<'a> {
    contact_id: Option<&'a str>,
    phone: Option<&'a str>,
    referral_code: Option<&'a str>,
}

async fn join(
    State(deps): State<Arc<Deps>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Reply {
    let caller = authenticate(&deps, &tenant, &headers).await?;
    let b: JoinBody = body(&bytes)?;
    if b.contact_id.is_none() && b.phone.is_none() {
        return Err(LoyaltyError::field(
            "customer_required",
            "contact_id or phone is required",
        ));
    }
    let input = ops::JoinInput {
        contact_id: b
            .contact_id
            .as_deref()
            .map(input::contact_id_valid)
            .transpose()?,
        phone: b
            .phone
            .as_deref()
            .map(|p| input::normalise_phone(p, caller.region()))
            .transpose()?,
        referral_code: b
            .referral_code
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .map(input::referral_code_valid)
            .transpose()?,
    };
    let key = JoinKey {
        contact_id: input.contact_id.as_deref(),
        phone: input.phone.as_deref(),
        referral_code: input.referral_code.as_deref(),
    };
    let planner = ops::Join {
        scope: caller.scope(),
        actor: &caller.actor,
        input: &input,
        table: &deps.store.table,
    };
    Ok(respond(
        mutate(&deps, &caller, &headers, "join", &key, &planner).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerBody {
    contact_id: Option<String>,
    phone: Option<String>,
}

async fn referral_code(
    State(deps): State<Arc<Deps>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Reply {
    let caller = authenticate(&deps, &tenant, &headers).await?;
    let b: CustomerBody = body(&bytes)?;
    let who = customer(&caller, b.contact_id.as_deref(), b.phone.as_deref())?;
    let planner = ops::ReferralCodeFor {
        scope: caller.scope(),
        actor: &caller.actor,
        customer: &who,
        table: &deps.store.table,
    };
    Ok(respond(
        mutate(&deps, &caller, &headers, "referral_code", &who, &planner).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NpsBody {
    contact_id: Option<String>,
    phone: Option<String>,
    purchase_ref: String,
    score: Number,
    comment: Option<String>,
    /// Only with an admin key (the tenant's customer bot rating a partner).
    partner_id: Option<String>,
}

#[derive(Serialize)]
struct NpsKey<'a> {
    partner_id: &'a str,
    customer: &'a CustomerRef,
    purchase_ref: &'a str,
    score: u8,
    comment: Option<&'a str>,
}

async fn nps(
    State(deps): State<Arc<Deps>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Reply {
    let caller = authenticate(&deps, &tenant, &headers).await?;
    let b: NpsBody = body(&bytes)?;
    let (partner_id, require_active) = match (&caller.actor, &b.partner_id) {
        (Actor::Partner { partner_id }, None) => (partner_id.clone(), true),
        (Actor::Partner { partner_id }, Some(named)) if named == partner_id => {
            (partner_id.clone(), true)
        }
        (Actor::Partner { .. }, Some(_)) => {
            return Err(LoyaltyError::Forbidden("rate another partner"))
        }
        (Actor::Admin, Some(named)) => (ops::partner_id_valid(named)?, false),
        (Actor::Admin, None) => {
            return Err(LoyaltyError::field(
                "partner_required",
                "partner_id is required with an admin key",
            ))
        }
        _ => {
            return Err(LoyaltyError::Forbidden(
                "change the ledger: manager keys are read-only",
            ))
        }
    };
    let score = b
        .score
        .as_u64()
        .filter(|s| *s <= 10)
        .and_then(|s| u8::try_from(s).ok())
        .ok_or_else(|| {
            LoyaltyError::field("invalid_score", "score must be a whole number from 0 to 10")
        })?;
    let input = ops::NpsInput {
        customer: customer(&caller, b.contact_id.as_deref(), b.phone.as_deref())?,
        purchase_ref: input::purchase_ref_valid(&b.purchase_ref)?,
        score,
        comment: b
            .comment
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .map(|c| input::text_valid(c, 1000, "invalid_comment"))
            .transpose()?,
    };
    let key = NpsKey {
        partner_id: &partner_id,
        customer: &input.customer,
        purchase_ref: &input.purchase_ref,
        score,
        comment: input.comment.as_deref(),
    };
    let planner = ops::Nps {
        scope: caller.scope(),
        partner_id: &partner_id,
        require_active,
        input: &input,
        table: &deps.store.table,
    };
    Ok(respond(
        mutate(&deps, &caller, &headers, "nps", &key, &planner).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdjustBody {
    contact_id: Option<String>,
    phone: Option<String>,
    points: Number,
    reason: String,
}

#[derive(Serialize)]
struct AdjustKey<'a> {
    customer: &'a CustomerRef,
    points: i64,
    reason: &'a str,
}

async fn adjust(
    State(deps): State<Arc<Deps>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Reply {
    let caller = authenticate(&deps, &tenant, &headers).await?;
    caller.admin()?;
    let b: AdjustBody = body(&bytes)?;
    let input = ops::AdjustInput {
        customer: customer(&caller, b.contact_id.as_deref(), b.phone.as_deref())?,
        points: input::adjustment_valid(&b.points)?,
        reason: input::text_valid(&b.reason, 500, "invalid_reason")?,
    };
    let key = AdjustKey {
        customer: &input.customer,
        points: input.points,
        reason: &input.reason,
    };
    let planner = ops::Adjust {
        scope: caller.scope(),
        input: &input,
        table: &deps.store.table,
    };
    Ok(respond(
        mutate(&deps, &caller, &headers, "adjust", &key, &planner).await?,
    ))
}

// ---------------------------------------------------------------------------- reads

fn query_customer(
    caller: &Caller,
    q: &HashMap<String, String>,
) -> Result<CustomerRef, LoyaltyError> {
    customer(
        caller,
        q.get("contact_id").map(String::as_str),
        q.get("phone").map(String::as_str),
    )
}

/// Keys a partner's read needs beside the account (its own profile, to check it is active).
fn partner_keys(caller: &Caller) -> Vec<crate::model::Key> {
    caller
        .actor
        .partner_id()
        .map(|p| vec![keys::partner(&caller.tenant, p)])
        .unwrap_or_default()
}

fn check_partner(caller: &Caller, reads: &crate::store::Reads) -> Result<(), LoyaltyError> {
    if let Some(pid) = caller.actor.partner_id() {
        ops::active_partner(reads, &caller.tenant, pid)?;
    }
    Ok(())
}

async fn balance(
    State(deps): State<Arc<Deps>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    query: Params,
) -> Reply {
    let caller = authenticate(&deps, &tenant, &headers).await?;
    let who = query_customer(&caller, &params(query)?)?;
    let (_, account, reads) =
        views::account_of(&deps.store, &caller.tenant, &who, &partner_keys(&caller)).await?;
    check_partner(&caller, &reads)?;
    Ok(Json(views::balance_view(&caller.config, &account)).into_response())
}

async fn history(
    State(deps): State<Arc<Deps>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    query: Params,
) -> Reply {
    let caller = authenticate(&deps, &tenant, &headers).await?;
    let q = params(query)?;
    let who = query_customer(&caller, &q)?;
    let limit = match q.get("limit") {
        None => views::HISTORY_DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<i32>()
            .ok()
            .filter(|l| (1..=views::HISTORY_MAX_LIMIT).contains(l))
            .ok_or_else(|| {
                LoyaltyError::field(
                    "invalid_limit",
                    format!("limit must be 1-{}", views::HISTORY_MAX_LIMIT),
                )
            })?,
    };
    let (contact, _, reads) =
        views::account_of(&deps.store, &caller.tenant, &who, &partner_keys(&caller)).await?;
    check_partner(&caller, &reads)?;
    let page = views::history(
        &deps.store,
        &caller.tenant,
        &contact,
        limit,
        q.get("cursor")
            .map(String::as_str)
            .filter(|c| !c.is_empty()),
    )
    .await?;
    Ok(Json(page).into_response())
}

/// A partner finds a client by phone: balance plus the client's record at this partner.
async fn lookup(
    State(deps): State<Arc<Deps>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    query: Params,
) -> Reply {
    let caller = authenticate(&deps, &tenant, &headers).await?;
    let q = params(query)?;
    let who = query_customer(&caller, &q)?;
    let mut extra = partner_keys(&caller);
    if let Some(pid) = caller.actor.partner_id() {
        extra.push(partner_client_key(&caller.tenant, pid, &who.candidate()));
    }
    let (contact, account, mut reads) =
        views::account_of(&deps.store, &caller.tenant, &who, &extra).await?;
    check_partner(&caller, &reads)?;
    let mut view = views::balance_view(&caller.config, &account);
    if let Some(pid) = caller.actor.partner_id() {
        let key = partner_client_key(&caller.tenant, pid, &contact);
        deps.store
            .read_more(&mut reads, std::slice::from_ref(&key))
            .await?;
        let client: Option<PartnerClient> = reads.get(&key)?;
        view["at_partner"] = views::client_view(client.as_ref());
    }
    view["phone"] = json!(account.phone);
    Ok(Json(view).into_response())
}

async fn own_partner(
    State(deps): State<Arc<Deps>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Reply {
    let caller = authenticate(&deps, &tenant, &headers).await?;
    let pid = caller.partner()?;
    let partner: Partner = deps
        .store
        .get(&keys::partner(&caller.tenant, pid))
        .await?
        .ok_or(LoyaltyError::PartnerMissing)?;
    Ok(Json(views::partner_view(&partner)).into_response())
}

async fn partner_stats(
    State(deps): State<Arc<Deps>>,
    Path((tenant, partner)): Path<(String, String)>,
    headers: HeaderMap,
) -> Reply {
    let caller = authenticate(&deps, &tenant, &headers).await?;
    let partner_id = ops::partner_id_valid(&partner)?;
    if let Some(own) = caller.actor.partner_id() {
        if own != partner_id {
            return Err(LoyaltyError::Forbidden("read another partner's statistics"));
        }
    }
    let stats_key = crate::model::partner_stats_key(&caller.tenant, &partner_id);
    let reads = deps
        .store
        .read(&[
            keys::partner(&caller.tenant, &partner_id),
            stats_key.clone(),
        ])
        .await?;
    match caller.actor {
        Actor::Partner { .. } => check_partner(&caller, &reads)?,
        _ if reads
            .raw(&keys::partner(&caller.tenant, &partner_id))
            .is_none() =>
        {
            return Err(LoyaltyError::UnknownPartner)
        }
        _ => {}
    }
    let stats = reads.get(&stats_key)?.unwrap_or_default();
    Ok(Json(views::stats_view(&caller.config, &partner_id, &stats)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceBody {
    name: String,
}

async fn propose_service(
    State(deps): State<Arc<Deps>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Reply {
    let caller = authenticate(&deps, &tenant, &headers).await?;
    let partner_id = caller.partner()?.to_owned();
    let b: ServiceBody = body(&bytes)?;
    let name = input::text_valid(&b.name, 100, "invalid_name")?;
    let planner = partners::ProposeService {
        tenant: &caller.tenant,
        partner_id: &partner_id,
        name: &name,
        table: &deps.store.table,
    };
    Ok(respond(
        mutate(&deps, &caller, &headers, "propose_service", &name, &planner).await?,
    ))
}

// ---------------------------------------------------------------------------- admin

async fn list_partners(
    State(deps): State<Arc<Deps>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    query: Params,
) -> Reply {
    let caller = authenticate(&deps, &tenant, &headers).await?;
    caller.admin()?;
    let q = params(query)?;
    let status = match q.get("status").map(String::as_str) {
        None | Some("") => None,
        Some(raw) => Some(
            serde_json::from_value::<PartnerStatus>(json!(raw)).map_err(|_| {
                LoyaltyError::field(
                    "invalid_status",
                    "status must be pending, active, rejected or suspended",
                )
            })?,
        ),
    };
    let partners = partners::list(&deps.store, &caller.tenant, status).await?;
    Ok(Json(json!({
        "partners": partners.iter().map(views::partner_view).collect::<Vec<_>>(),
    }))
    .into_response())
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct CreatePartnerBody {
    partner_id: String,
    name: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    telegram_chat_id: Option<i64>,
    #[serde(default)]
    cashback_bp: Option<u32>,
}

pub fn new_partner(
    partner_id: &str,
    name: &str,
    kind: Option<&str>,
    telegram_chat_id: Option<i64>,
    cashback_bp: Option<u32>,
) -> Result<NewPartner, LoyaltyError> {
    partners::check_cashback(cashback_bp)?;
    Ok(NewPartner {
        partner_id: ops::partner_id_valid(partner_id)?,
        name: input::text_valid(name, 200, "invalid_name")?,
        kind: kind
            .map(|k| input::text_valid(k, 40, "invalid_kind"))
            .transpose()?
            .unwrap_or_default(),
        telegram_chat_id,
        cashback_bp,
    })
}

async fn create_partner(
    State(deps): State<Arc<Deps>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Reply {
    let caller = authenticate(&deps, &tenant, &headers).await?;
    caller.admin()?;
    let b: CreatePartnerBody = body(&bytes)?;
    let new = new_partner(
        &b.partner_id,
        &b.name,
        b.kind.as_deref(),
        b.telegram_chat_id,
        b.cashback_bp,
    )?;
    let planner = partners::CreatePartner {
        tenant: &caller.tenant,
        new: &new,
        table: &deps.store.table,
    };
    Ok(respond(
        mutate(&deps, &caller, &headers, "create_partner", &b, &planner).await?,
    ))
}

/// A JSON merge patch of the partner's settings: `null` clears an optional one.
pub fn partner_patch(raw: &serde_json::Map<String, Value>) -> Result<PartnerPatch, LoyaltyError> {
    let mut patch = PartnerPatch::default();
    for (field, value) in raw {
        let invalid = |what: &str| LoyaltyError::field("invalid_patch", format!("{field}: {what}"));
        match field.as_str() {
            "name" => {
                let name = value.as_str().ok_or_else(|| invalid("must be a string"))?;
                patch.name = Some(input::text_valid(name, 200, "invalid_name")?);
            }
            "kind" => {
                let kind = value.as_str().ok_or_else(|| invalid("must be a string"))?;
                patch.kind = Some(kind.trim().to_owned());
            }
            "telegram_chat_id" => {
                patch.telegram_chat_id = Some(match value {
                    Value::Null => None,
                    v => Some(
                        v.as_i64()
                            .ok_or_else(|| invalid("must be an integer or null"))?,
                    ),
                })
            }
            "cashback_bp" => {
                let bp = match value {
                    Value::Null => None,
                    v => Some(
                        v.as_u64()
                            .and_then(|b| u32::try_from(b).ok())
                            .ok_or_else(|| invalid("must be 0-10000 or null"))?,
                    ),
                };
                partners::check_cashback(bp)?;
                patch.cashback_bp = Some(bp);
            }
            _ => {
                return Err(invalid(
                    "unknown field (name, kind, telegram_chat_id, cashback_bp)",
                ))
            }
        }
    }
    Ok(patch)
}

async fn update_partner(
    State(deps): State<Arc<Deps>>,
    Path((tenant, partner)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Reply {
    let caller = authenticate(&deps, &tenant, &headers).await?;
    caller.admin()?;
    let partner_id = ops::partner_id_valid(&partner)?;
    let raw: serde_json::Map<String, Value> = body(&bytes)?;
    let patch = partner_patch(&raw)?;
    let planner = partners::UpdatePartner {
        tenant: &caller.tenant,
        partner_id: &partner_id,
        patch: &patch,
        table: &deps.store.table,
    };
    let key = json!({"partner_id": partner_id, "patch": raw});
    Ok(respond(
        mutate(&deps, &caller, &headers, "update_partner", &key, &planner).await?,
    ))
}

async fn moderate_partner(
    State(deps): State<Arc<Deps>>,
    Path((tenant, partner, action)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Reply {
    let caller = authenticate(&deps, &tenant, &headers).await?;
    caller.admin()?;
    let partner_id = ops::partner_id_valid(&partner)?;
    let action = Moderation::parse(&action).ok_or_else(|| {
        LoyaltyError::field(
            "invalid_action",
            "action must be approve, reject or suspend",
        )
    })?;
    let planner = partners::ModeratePartner {
        tenant: &caller.tenant,
        partner_id: &partner_id,
        action,
        table: &deps.store.table,
    };
    let key = json!({"partner_id": partner_id, "action": format!("{action:?}")});
    let outcome = mutate(&deps, &caller, &headers, "moderate_partner", &key, &planner).await?;
    // Sent again on a replay: the notice id is stable, so the partner hears it once.
    if outcome.body["changed"] == json!(true) {
        let view = &outcome.body;
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
    Ok(respond(outcome))
}

async fn moderate_service(
    State(deps): State<Arc<Deps>>,
    Path((tenant, partner, service, action)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Reply {
    let caller = authenticate(&deps, &tenant, &headers).await?;
    caller.admin()?;
    let partner_id = ops::partner_id_valid(&partner)?;
    let approve = match action.as_str() {
        "approve" => true,
        "reject" => false,
        _ => {
            return Err(LoyaltyError::field(
                "invalid_action",
                "action must be approve or reject",
            ))
        }
    };
    let planner = partners::ModerateService {
        tenant: &caller.tenant,
        partner_id: &partner_id,
        service_id: &service,
        approve,
        table: &deps.store.table,
    };
    let key = json!({"partner_id": partner_id, "service_id": service, "approve": approve});
    Ok(respond(
        mutate(&deps, &caller, &headers, "moderate_service", &key, &planner).await?,
    ))
}
