//! HTTP routes under `/t/{tenant}/loyalty/…` (API Gateway HTTP API, payload v2), on the
//! shared API layer: the tenant (404 `tenant_not_found` / `tenant_suspended`), the API
//! key looked up inside it, the role (403 `role_not_allowed`), then the programme's own
//! state, the Idempotency-Key and the JSON body. Every failure answers
//! `{"error":{"code","message"}}` with a stable code; only a failing dependency answers 5xx.

use crate::error::LoyaltyError;
use crate::input::{self, CustomerRef};
use crate::model::{partner_client_key, partner_stats_key, PartnerClient};
use crate::ops::{self, Actor, Scope};
use crate::partners::{self, Moderation, NewPartner, PartnerPatch};
use crate::store::{self, Idempotency, Outcome, Planner, RateLimit};
use crate::views;
use crate::Deps;
use axum::extract::{FromRequestParts, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use http::request::Parts;
use sauda_shared::api::{
    json_fallbacks, ApiError, ApiPath, ApiQuery, Caller, IdempotencyKey, JsonBody, Roles,
};
use sauda_shared::apikey::Role;
use sauda_shared::partner::Partner;
use sauda_shared::tenant::TenantConfig;
use sauda_shared::{keys, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::{json, Number, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;

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
                patch(update_partner),
            )
            .route(
                &format!("{base}/admin/partners/{{partner}}/{{action}}"),
                post(moderate_partner),
            )
            .route(
                &format!("{base}/admin/partners/{{partner}}/services/{{service}}/{{action}}"),
                post(moderate_service),
            )
            .route(&format!("{base}/admin/adjust"), post(adjust)),
    )
    .with_state(deps)
}

type Reply = Result<Response, ApiError>;

// ---------------------------------------------------------------------------- who may call

// The ledger's role sets opt out of the shared per-key limiter (`RATE_LIMITED = false`):
// mutations count the key's requests in the same transaction as the change, accepted and
// refused alike (`store::execute`), which costs no extra write, and reads stay unlimited.
// The shared limiter would add a second write per request in another window.

/// Keys that change the ledger: partners and the tenant's admins (managers only read).
pub struct Writers;
impl Roles for Writers {
    const WHO: &'static str = "a partner, admin or tenant-admin key";
    const RATE_LIMITED: bool = false;
    fn allows(role: &Role) -> bool {
        matches!(role, Role::Partner { .. } | Role::Admin | Role::TenantAdmin)
    }
}

/// A partner's POS or bot: purchases are a partner's acts.
pub struct PartnerKeys;
impl Roles for PartnerKeys {
    const WHO: &'static str = "a partner key";
    const RATE_LIMITED: bool = false;
    fn allows(role: &Role) -> bool {
        matches!(role, Role::Partner { .. })
    }
}

/// The programme's administration: partners and corrections.
pub struct AdminKeys;
impl Roles for AdminKeys {
    const WHO: &'static str = "an admin or tenant-admin key";
    const RATE_LIMITED: bool = false;
    fn allows(role: &Role) -> bool {
        matches!(role, Role::Admin | Role::TenantAdmin)
    }
}

/// Any key of the tenant: balances, histories, lookups and statistics.
pub struct Readers;
impl Roles for Readers {
    const WHO: &'static str = "an API key";
    const RATE_LIMITED: bool = false;
    fn allows(_: &Role) -> bool {
        true
    }
}

/// An authenticated caller of a tenant whose loyalty programme is on.
pub struct Member<R: Roles> {
    caller: Caller<R>,
    actor: Actor,
}

impl<R: Roles> FromRequestParts<Arc<Deps>> for Member<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, deps: &Arc<Deps>) -> Result<Self, ApiError> {
        let caller = Caller::<R>::from_request_parts(parts, deps).await?;
        if !caller.config.loyalty.enabled {
            return Err(LoyaltyError::LoyaltyDisabled.into());
        }
        let actor = match caller.role() {
            Role::Admin | Role::TenantAdmin => Actor::Admin,
            Role::Manager => Actor::Manager,
            Role::Partner { partner_id } => Actor::Partner {
                partner_id: partner_id.clone(),
            },
        };
        Ok(Self { caller, actor })
    }
}

impl<R: Roles> Member<R> {
    fn tenant(&self) -> &TenantId {
        self.caller.tenant()
    }

    fn config(&self) -> &TenantConfig {
        &self.caller.config
    }

    fn scope(&self) -> Scope<'_> {
        Scope {
            tenant: self.tenant(),
            config: self.config(),
        }
    }

    /// The partner of a partner key (the role set already admitted only those).
    fn partner(&self) -> Result<&str, LoyaltyError> {
        self.actor
            .partner_id()
            .ok_or(LoyaltyError::Forbidden("do this: it needs a partner key"))
    }

    fn customer(
        &self,
        contact_id: Option<&str>,
        phone: Option<&str>,
    ) -> Result<CustomerRef, LoyaltyError> {
        CustomerRef::parse(contact_id, phone, &self.config().leads.default_region)
    }
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

/// Runs a mutation with the caller's Idempotency-Key and rate window.
async fn mutate<R: Roles>(
    deps: &Deps,
    caller: &Member<R>,
    idempotency_key: IdempotencyKey,
    operation: &str,
    request: &impl Serialize,
    planner: &dyn Planner,
) -> Result<Outcome, ApiError> {
    let key = idempotency_key.required()?;
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
    let idempotency = Idempotency::new(caller.tenant(), &scope, &key, hash);
    let rate = RateLimit {
        scope: format!("loyalty#{}", caller.caller.key_id()),
        per_minute: caller.config().loyalty.rate_limit_per_minute.max(1),
    };
    Ok(store::execute(
        deps.store.as_ref(),
        Some(&idempotency),
        Some(&rate),
        caller.tenant(),
        planner,
    )
    .await?)
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
    caller: Member<PartnerKeys>,
    idem: IdempotencyKey,
    JsonBody(b): JsonBody<AccrueBody>,
) -> Reply {
    let partner_id = caller.partner()?.to_owned();
    let input = ops::AccrueInput {
        customer: caller.customer(b.contact_id.as_deref(), b.phone.as_deref())?,
        purchase_ref: input::purchase_ref_valid(&b.purchase_ref)?,
        amount_minor: input::amount_valid(&b.amount_minor)?,
        currency: input::currency_valid(&b.currency, &caller.config().loyalty.currency)?,
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
    };
    let outcome = mutate(&deps, &caller, idem, "accrue", &key, &planner).await?;
    if !outcome.replayed {
        survey_due(&deps, caller.tenant(), &partner_id, &outcome.body).await;
    }
    Ok(respond(outcome))
}

/// Queues the customer's NPS survey for a new purchase at a partner (agent-reply sends
/// it in the tenant's window, once per purchase). Best effort: the accrual is booked
/// whatever happens here.
async fn survey_due(deps: &Deps, tenant: &TenantId, partner_id: &str, body: &serde_json::Value) {
    let (Some(queue), Some(contact), Some(purchase_ref)) = (
        deps.surveys.as_deref(),
        body["contact_id"].as_str(),
        body["purchase_ref"].as_str(),
    ) else {
        return;
    };
    let due = sauda_shared::nps::NpsDue {
        tenant: tenant.clone(),
        contact: contact.to_owned(),
        partner_id: partner_id.to_owned(),
        purchase_ref: purchase_ref.to_owned(),
    };
    if let Err(e) = sauda_shared::nps::enqueue(queue, due).await {
        tracing::warn!(tenant = %tenant, partner = %partner_id, error = %e, "NPS survey not queued");
    }
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
    caller: Member<PartnerKeys>,
    idem: IdempotencyKey,
    JsonBody(b): JsonBody<RedeemBody>,
) -> Reply {
    let partner_id = caller.partner()?.to_owned();
    let input = ops::RedeemInput {
        customer: caller.customer(b.contact_id.as_deref(), b.phone.as_deref())?,
        purchase_ref: input::purchase_ref_valid(&b.purchase_ref)?,
        amount_minor: input::amount_valid(&b.amount_minor)?,
        currency: input::currency_valid(&b.currency, &caller.config().loyalty.currency)?,
        points: input::points_valid(&b.points)?,
    };
    ops::check_redeem_cap(&caller.config().loyalty, &input)?;
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
    };
    mutate(&deps, &caller, idem, "redeem", &key, &planner)
        .await
        .map(respond)
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
    caller: Member<PartnerKeys>,
    idem: IdempotencyKey,
    JsonBody(b): JsonBody<RefundBody>,
) -> Reply {
    let partner_id = caller.partner()?.to_owned();
    let input = ops::RefundInput {
        customer: caller.customer(b.contact_id.as_deref(), b.phone.as_deref())?,
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
    };
    mutate(&deps, &caller, idem, "refund", &key, &planner)
        .await
        .map(respond)
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
    caller: Member<Writers>,
    idem: IdempotencyKey,
    JsonBody(b): JsonBody<JoinBody>,
) -> Reply {
    if b.contact_id.is_none() && b.phone.is_none() {
        return Err(
            LoyaltyError::field("customer_required", "contact_id or phone is required").into(),
        );
    }
    let region = &caller.config().leads.default_region;
    let input = ops::JoinInput {
        contact_id: b
            .contact_id
            .as_deref()
            .map(input::contact_id_valid)
            .transpose()?,
        phone: b
            .phone
            .as_deref()
            .map(|p| input::normalise_phone(p, region))
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
    };
    mutate(&deps, &caller, idem, "join", &key, &planner)
        .await
        .map(respond)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerBody {
    contact_id: Option<String>,
    phone: Option<String>,
}

async fn referral_code(
    State(deps): State<Arc<Deps>>,
    caller: Member<Writers>,
    idem: IdempotencyKey,
    JsonBody(b): JsonBody<CustomerBody>,
) -> Reply {
    let who = caller.customer(b.contact_id.as_deref(), b.phone.as_deref())?;
    let planner = ops::ReferralCodeFor {
        scope: caller.scope(),
        actor: &caller.actor,
        customer: &who,
    };
    mutate(&deps, &caller, idem, "referral_code", &who, &planner)
        .await
        .map(respond)
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
    caller: Member<Writers>,
    idem: IdempotencyKey,
    JsonBody(b): JsonBody<NpsBody>,
) -> Reply {
    let (partner_id, require_active) = match (&caller.actor, &b.partner_id) {
        (Actor::Partner { partner_id }, None) => (partner_id.clone(), true),
        (Actor::Partner { partner_id }, Some(named)) if named == partner_id => {
            (partner_id.clone(), true)
        }
        (Actor::Partner { .. }, Some(_)) => {
            return Err(LoyaltyError::Forbidden("rate another partner").into())
        }
        (Actor::Admin, Some(named)) => (ops::partner_id_valid(named)?, false),
        (Actor::Admin, None) => {
            return Err(LoyaltyError::field(
                "partner_required",
                "partner_id is required with an admin key",
            )
            .into())
        }
        // Not admitted by `Writers`; kept so that every actor has an answer.
        (Actor::Manager, _) => {
            return Err(
                LoyaltyError::Forbidden("change the ledger: manager keys are read-only").into(),
            )
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
        customer: caller.customer(b.contact_id.as_deref(), b.phone.as_deref())?,
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
    };
    mutate(&deps, &caller, idem, "nps", &key, &planner)
        .await
        .map(respond)
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
    caller: Member<AdminKeys>,
    idem: IdempotencyKey,
    JsonBody(b): JsonBody<AdjustBody>,
) -> Reply {
    let input = ops::AdjustInput {
        customer: caller.customer(b.contact_id.as_deref(), b.phone.as_deref())?,
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
    };
    mutate(&deps, &caller, idem, "adjust", &key, &planner)
        .await
        .map(respond)
}

// ---------------------------------------------------------------------------- reads

/// A customer named in the query string (`contact_id` or `phone`), and for histories a
/// page size and cursor. Unknown parameters are ignored.
#[derive(Deserialize, Default)]
struct CustomerQuery {
    contact_id: Option<String>,
    phone: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

impl<R: Roles> Member<R> {
    fn query_customer(&self, q: &CustomerQuery) -> Result<CustomerRef, LoyaltyError> {
        self.customer(q.contact_id.as_deref(), q.phone.as_deref())
    }

    /// The customer's contact id and account, in one batch with what a partner's read
    /// needs (its own profile, which must be active) and `extra`.
    async fn member(
        &self,
        deps: &Deps,
        who: &CustomerRef,
        mut extra: Vec<crate::model::Key>,
    ) -> Result<(String, crate::model::Account, sauda_shared::dynamo::Reads), LoyaltyError> {
        extra.extend(
            self.actor
                .partner_id()
                .map(|p| keys::partner(self.tenant(), p)),
        );
        let found = views::account_of(deps.store.as_ref(), self.tenant(), who, &extra).await?;
        self.check_partner(&found.2)?;
        Ok(found)
    }

    fn check_partner(&self, reads: &sauda_shared::dynamo::Reads) -> Result<(), LoyaltyError> {
        if let Some(pid) = self.actor.partner_id() {
            ops::active_partner(reads, self.tenant(), pid)?;
        }
        Ok(())
    }
}

async fn balance(
    State(deps): State<Arc<Deps>>,
    caller: Member<Readers>,
    ApiQuery(q): ApiQuery<CustomerQuery>,
) -> Reply {
    let who = caller.query_customer(&q)?;
    let (_, account, _) = caller.member(&deps, &who, Vec::new()).await?;
    Ok(Json(views::balance_view(caller.config(), &account)).into_response())
}

async fn history(
    State(deps): State<Arc<Deps>>,
    caller: Member<Readers>,
    ApiQuery(q): ApiQuery<CustomerQuery>,
) -> Reply {
    let who = caller.query_customer(&q)?;
    let limit = match &q.limit {
        None => views::HISTORY_DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=views::HISTORY_MAX_LIMIT).contains(l))
            .ok_or_else(|| {
                LoyaltyError::field(
                    "invalid_limit",
                    format!("limit must be 1-{}", views::HISTORY_MAX_LIMIT),
                )
            })?,
    };
    let (contact, _, _) = caller.member(&deps, &who, Vec::new()).await?;
    let after = views::history_position(caller.tenant(), &contact, q.cursor.as_deref())?;
    let page = views::history(
        deps.store.as_ref(),
        caller.tenant(),
        &contact,
        limit,
        after.as_deref(),
    )
    .await?;
    Ok(Json(page).into_response())
}

/// A partner finds a client by phone: balance plus the client's record at this partner.
async fn lookup(
    State(deps): State<Arc<Deps>>,
    caller: Member<Readers>,
    ApiQuery(q): ApiQuery<CustomerQuery>,
) -> Reply {
    let who = caller.query_customer(&q)?;
    let extra = caller
        .actor
        .partner_id()
        .map(|pid| vec![partner_client_key(caller.tenant(), pid, &who.candidate())])
        .unwrap_or_default();
    let (contact, account, mut reads) = caller.member(&deps, &who, extra).await?;
    let mut view = views::balance_view(caller.config(), &account);
    if let Some(pid) = caller.actor.partner_id() {
        let key = partner_client_key(caller.tenant(), pid, &contact);
        deps.store
            .read_more(&mut reads, std::slice::from_ref(&key))
            .await
            .map_err(LoyaltyError::from)?;
        let client: Option<PartnerClient> = reads.get(&key).map_err(LoyaltyError::from)?;
        view["at_partner"] = views::client_view(client.as_ref());
    }
    view["phone"] = json!(account.phone);
    Ok(Json(view).into_response())
}

async fn own_partner(State(deps): State<Arc<Deps>>, caller: Member<PartnerKeys>) -> Reply {
    let pid = caller.partner()?;
    let partner: Partner = store::get(deps.store.as_ref(), &keys::partner(caller.tenant(), pid))
        .await
        .map_err(LoyaltyError::from)?
        .ok_or(LoyaltyError::PartnerMissing)?;
    Ok(Json(views::partner_view(&partner)).into_response())
}

async fn partner_stats(
    State(deps): State<Arc<Deps>>,
    caller: Member<Readers>,
    ApiPath((_, partner)): ApiPath<(String, String)>,
) -> Reply {
    let partner_id = ops::partner_id_valid(&partner)?;
    if let Some(own) = caller.actor.partner_id() {
        if own != partner_id {
            return Err(LoyaltyError::Forbidden("read another partner's statistics").into());
        }
    }
    let partner_key = keys::partner(caller.tenant(), &partner_id);
    let stats_key = partner_stats_key(caller.tenant(), &partner_id);
    let reads = deps
        .store
        .read(&[partner_key.clone(), stats_key.clone()])
        .await
        .map_err(LoyaltyError::from)?;
    match caller.actor {
        Actor::Partner { .. } => caller.check_partner(&reads)?,
        _ if !reads.contains(&partner_key) => return Err(LoyaltyError::UnknownPartner.into()),
        _ => {}
    }
    let stats = reads
        .get(&stats_key)
        .map_err(LoyaltyError::from)?
        .unwrap_or_default();
    Ok(Json(views::stats_view(caller.config(), &partner_id, &stats)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceBody {
    name: String,
}

async fn propose_service(
    State(deps): State<Arc<Deps>>,
    caller: Member<PartnerKeys>,
    idem: IdempotencyKey,
    JsonBody(b): JsonBody<ServiceBody>,
) -> Reply {
    let partner_id = caller.partner()?.to_owned();
    let name = input::text_valid(&b.name, 100, "invalid_name")?;
    let planner = partners::ProposeService {
        tenant: caller.tenant(),
        partner_id: &partner_id,
        name: &name,
    };
    mutate(&deps, &caller, idem, "propose_service", &name, &planner)
        .await
        .map(respond)
}

// ---------------------------------------------------------------------------- admin

#[derive(Deserialize)]
struct StatusQuery {
    status: Option<String>,
}

async fn list_partners(
    State(deps): State<Arc<Deps>>,
    caller: Member<AdminKeys>,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> Reply {
    let status = partners::status_filter(q.status.as_deref())?;
    let partners = partners::list(deps.store.as_ref(), caller.tenant(), status).await?;
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
    caller: Member<AdminKeys>,
    idem: IdempotencyKey,
    JsonBody(b): JsonBody<CreatePartnerBody>,
) -> Reply {
    let new = new_partner(
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
    mutate(&deps, &caller, idem, "create_partner", &b, &planner)
        .await
        .map(respond)
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
    caller: Member<AdminKeys>,
    ApiPath((_, partner)): ApiPath<(String, String)>,
    idem: IdempotencyKey,
    JsonBody(raw): JsonBody<serde_json::Map<String, Value>>,
) -> Reply {
    let partner_id = ops::partner_id_valid(&partner)?;
    let patch = partner_patch(&raw)?;
    let planner = partners::UpdatePartner {
        tenant: caller.tenant(),
        partner_id: &partner_id,
        patch: &patch,
    };
    let key = json!({"partner_id": partner_id, "patch": raw});
    mutate(&deps, &caller, idem, "update_partner", &key, &planner)
        .await
        .map(respond)
}

async fn moderate_partner(
    State(deps): State<Arc<Deps>>,
    caller: Member<AdminKeys>,
    ApiPath((_, partner, action)): ApiPath<(String, String, String)>,
    idem: IdempotencyKey,
) -> Reply {
    let partner_id = ops::partner_id_valid(&partner)?;
    let action = Moderation::parse(&action).ok_or_else(|| {
        LoyaltyError::field(
            "invalid_action",
            "action must be approve, reject or suspend",
        )
    })?;
    let planner = partners::ModeratePartner {
        tenant: caller.tenant(),
        partner_id: &partner_id,
        action,
    };
    let key = json!({"partner_id": partner_id, "action": format!("{action:?}")});
    let outcome = mutate(&deps, &caller, idem, "moderate_partner", &key, &planner).await?;
    // Sent again on a replay: the notice id is stable, so the partner hears it once.
    let view = &outcome.body;
    if view["changed"] == json!(true) {
        partners::notify_status(
            deps.notify.as_ref(),
            caller.config(),
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
    caller: Member<AdminKeys>,
    ApiPath((_, partner, service, action)): ApiPath<(String, String, String, String)>,
    idem: IdempotencyKey,
) -> Reply {
    let partner_id = ops::partner_id_valid(&partner)?;
    let approve = match action.as_str() {
        "approve" => true,
        "reject" => false,
        _ => {
            return Err(
                LoyaltyError::field("invalid_action", "action must be approve or reject").into(),
            )
        }
    };
    let planner = partners::ModerateService {
        tenant: caller.tenant(),
        partner_id: &partner_id,
        service_id: &service,
        approve,
    };
    let key = json!({"partner_id": partner_id, "service_id": service, "approve": approve});
    mutate(&deps, &caller, idem, "moderate_service", &key, &planner)
        .await
        .map(respond)
}
