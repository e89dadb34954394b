//! The ledger's store port, and the executor every mutation runs through.
//!
//! The executor's loop: read (the idempotency record rides along in the same batch) →
//! replay a stored result, or plan the writes from the state read → commit them as one
//! [`WritePlan`] together with the idempotency record and the caller's rate-limit
//! window. Every write a plan makes is conditioned on the state it was computed from
//! (the account's `rev`, a purchase not yet accrued, ...). When a concurrent request got
//! there first, the plan is cancelled as a whole, nothing is applied, and the loop reads
//! again, so the outcome is always that of some serial order.
//!
//! The port knows nothing of loyalty's rules and the planners nothing of DynamoDB:
//! `crate::dynamo` is the adapter, contract-tested against moto (`tests/loyalty_store.rs`).

use crate::error::LoyaltyError;
use crate::model::{Account, IdempotencyRecord, Key, LedgerEntry};
use async_trait::async_trait;
use http::StatusCode;
use sauda_shared::dynamo::Reads;
use sauda_shared::keys;
use sauda_shared::partner::Partner;
use sauda_shared::plan::{Cond, Op, PlanError, Step, Update, WritePlan};
use sauda_shared::ports::StoreError;
use sauda_shared::retry::Backoff;
use sauda_shared::tenant::RegistryEntry;
use sauda_shared::TenantId;
use serde::de::DeserializeOwned;

/// How long a stored result answers retries of the same Idempotency-Key.
pub const IDEMPOTENCY_TTL_S: i64 = 7 * 24 * 3600;
/// Attempts before a mutation gives up under contention (each loser of a race retries;
/// a request can only lose as often as others win, so this bounds even hot accounts).
pub const MAX_ATTEMPTS: u32 = 25;

/// What a failed condition of a committed plan means.
#[derive(Clone, Debug, PartialEq)]
pub enum Fail {
    /// A concurrent twin with the same Idempotency-Key won: read again and replay it.
    Twin,
    /// The caller's rate window is full.
    RateLimited { retry_after_s: u64 },
    /// A definite answer of the operation itself.
    Rule(LoyaltyError),
}

/// One page of a member's ledger, newest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LedgerPage {
    pub entries: Vec<LedgerEntry>,
    /// The sort key to continue after, when more entries may follow.
    pub last_sk: Option<String>,
}

/// What the ledger needs from its storage.
#[async_trait]
pub trait LoyaltyStore: Send + Sync {
    /// "Now" in epoch milliseconds (replaceable, so tests can cross days).
    fn now_ms(&self) -> i64;

    /// A strongly consistent read of `keys` (duplicates allowed), all or nothing.
    async fn read(&self, keys: &[Key]) -> Result<Reads, StoreError>;

    /// Commits every step or none. A failed condition answers with the first failed
    /// step's `on_fail` in plan order, or `Stale` when that step has none.
    async fn write(&self, plan: &WritePlan<Fail>) -> Result<(), PlanError<Fail>>;

    /// Up to `limit` ledger entries of a member, newest first, after `after_sk`.
    async fn ledger_page(
        &self,
        tenant: &TenantId,
        contact: &str,
        limit: u32,
        after_sk: Option<&str>,
    ) -> Result<LedgerPage, StoreError>;

    /// The points of every ledger entry of a member (the audit; consistent read).
    async fn ledger_points(&self, tenant: &TenantId, contact: &str)
        -> Result<Vec<i64>, StoreError>;

    /// The tenant's partners whose status is `status` (all when `None`).
    async fn partners(
        &self,
        tenant: &TenantId,
        status: Option<&str>,
    ) -> Result<Vec<Partner>, StoreError>;

    /// Contacts whose oldest outstanding credit day sorts before `before_day`.
    async fn accounts_due(
        &self,
        tenant: &TenantId,
        before_day: &str,
    ) -> Result<Vec<String>, StoreError>;

    /// Registry entries of the tenants that turned expiry on.
    async fn expiry_tenants(&self) -> Result<Vec<RegistryEntry>, StoreError>;

    /// Every loyalty account of a tenant (an operator's audit, not a hot path).
    async fn accounts(&self, tenant: &TenantId) -> Result<Vec<Account>, StoreError>;

    /// Reads the keys of `wanted` not read yet into `reads`.
    async fn read_more(&self, reads: &mut Reads, wanted: &[Key]) -> Result<(), StoreError> {
        let missing: Vec<Key> = wanted
            .iter()
            .filter(|k| !reads.has_asked(k))
            .cloned()
            .collect();
        if !missing.is_empty() {
            reads.merge(self.read(&missing).await?);
        }
        Ok(())
    }
}

/// One item, typed.
pub async fn get<T: DeserializeOwned>(
    store: &dyn LoyaltyStore,
    key: &Key,
) -> Result<Option<T>, StoreError> {
    store.read(std::slice::from_ref(key)).await?.get(key)
}

/// What an operation wants written, and what to answer once it is.
#[derive(Debug)]
pub struct Plan {
    pub writes: WritePlan<LoyaltyError>,
    pub status: StatusCode,
    pub body: serde_json::Value,
}

impl Plan {
    pub fn new(
        writes: WritePlan<LoyaltyError>,
        status: StatusCode,
        body: serde_json::Value,
    ) -> Self {
        Self {
            writes,
            status,
            body,
        }
    }

    /// Nothing to write (e.g. the state already is what was asked for).
    pub fn answer(body: serde_json::Value) -> Self {
        Self::new(WritePlan::new(), StatusCode::OK, body)
    }
}

#[async_trait]
pub trait Planner: Send + Sync {
    /// Keys to read (in one consistent batch, with the idempotency record).
    fn keys(&self) -> Vec<Key>;
    /// Plans the writes from what was read; may read more through `store` on rare paths.
    async fn plan(
        &self,
        store: &dyn LoyaltyStore,
        reads: &mut Reads,
        now_ms: i64,
    ) -> Result<Plan, LoyaltyError>;
}

/// The caller's idempotency scope and key.
#[derive(Clone, Debug)]
pub struct Idempotency {
    pub key: Key,
    pub request_hash: String,
}

impl Idempotency {
    /// `scope` separates callers (one partner's "order-1" is not another's).
    pub fn new(tenant: &TenantId, scope: &str, client_key: &str, request_hash: String) -> Self {
        Self {
            key: keys::idempotency(tenant, &format!("{scope}#{client_key}")),
            request_hash,
        }
    }
}

/// A fixed one-minute window counted inside the plan's own transaction (the same item
/// and semantics as `sauda_shared::ratelimit`), so an accepted request costs no extra call.
#[derive(Clone, Debug)]
pub struct RateLimit {
    pub scope: String,
    pub per_minute: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub status: StatusCode,
    pub body: serde_json::Value,
    /// The stored result of an earlier request with the same Idempotency-Key.
    pub replayed: bool,
}

/// Runs a planned mutation to completion: replay, commit, or a definite error.
pub async fn execute(
    store: &dyn LoyaltyStore,
    idempotency: Option<&Idempotency>,
    rate: Option<&RateLimit>,
    tenant: &TenantId,
    planner: &dyn Planner,
) -> Result<Outcome, LoyaltyError> {
    for attempt in 1..=MAX_ATTEMPTS {
        let now_ms = store.now_ms();
        let mut keys = planner.keys();
        keys.extend(idempotency.map(|idem| idem.key.clone()));
        let mut reads = store.read(&keys).await?;
        if let Some(idem) = idempotency {
            if let Some(outcome) = replay(&reads, idem, now_ms)? {
                return Ok(outcome);
            }
        }
        let plan = match planner.plan(store, &mut reads, now_ms).await {
            Ok(plan) => plan,
            // Refusals count against the caller's window too, so spamming requests
            // that are refused (insufficient points, ...) is limited like any other.
            Err(refusal) if refusal.is_refusal() => {
                if let Some(limit) = rate {
                    count_refusal(store, tenant, limit, now_ms).await?;
                }
                return Err(refusal);
            }
            Err(e) => return Err(e),
        };
        if plan.writes.is_empty() {
            return Ok(Outcome {
                status: plan.status,
                body: plan.body,
                replayed: false,
            });
        }
        let full = with_guards(tenant, idempotency, rate, &plan, now_ms);
        match store.write(&full).await {
            Ok(()) => {
                return Ok(Outcome {
                    status: plan.status,
                    body: plan.body,
                    replayed: false,
                })
            }
            // The next read finds the twin's record and replays it.
            Err(PlanError::Rejected(Fail::Twin)) => {}
            Err(PlanError::Rejected(Fail::RateLimited { retry_after_s })) => {
                return Err(LoyaltyError::RateLimited { retry_after_s })
            }
            Err(PlanError::Rejected(Fail::Rule(e))) => return Err(e),
            Err(PlanError::Stale(reasons)) => {
                tracing::debug!(attempt, ?reasons, "plan cancelled; reading again");
            }
            Err(PlanError::Store(e)) => return Err(e.into()),
        }
        Backoff::STORE.sleep(attempt).await;
    }
    Err(LoyaltyError::Contention)
}

/// The plan with the idempotency record first and the rate window second: the first
/// failed step with an answer decides, so a won twin is replayed before anything else
/// and a full window answers 429 before the operation's own refusals.
fn with_guards(
    tenant: &TenantId,
    idempotency: Option<&Idempotency>,
    rate: Option<&RateLimit>,
    plan: &Plan,
    now_ms: i64,
) -> WritePlan<Fail> {
    let mut full = WritePlan::new();
    if let Some(idem) = idempotency {
        full.push_or(
            idempotency_put(idem, plan.status, &plan.body, now_ms),
            Fail::Twin,
        );
    }
    if let Some(limit) = rate {
        let (window, retry_after_s) = rate_window(tenant, limit, now_ms);
        full.push_or(Op::Update(window), Fail::RateLimited { retry_after_s });
    }
    full.steps.extend(plan.writes.steps.iter().map(|step| Step {
        op: step.op.clone(),
        on_fail: step.on_fail.clone().map(Fail::Rule),
    }));
    full
}

/// Counts a refused request in the caller's rate window (one write on the same item the
/// plans count in); `rate_limited` once the window is full.
async fn count_refusal(
    store: &dyn LoyaltyStore,
    tenant: &TenantId,
    limit: &RateLimit,
    now_ms: i64,
) -> Result<(), LoyaltyError> {
    let (window, retry_after_s) = rate_window(tenant, limit, now_ms);
    let mut plan = WritePlan::new();
    plan.push_or(Op::Update(window), Fail::RateLimited { retry_after_s });
    match store.write(&plan).await {
        Ok(()) => Ok(()),
        Err(PlanError::Rejected(_)) | Err(PlanError::Stale(_)) => {
            Err(LoyaltyError::RateLimited { retry_after_s })
        }
        Err(PlanError::Store(e)) => Err(e.into()),
    }
}

/// The stored result for a retry, or 409 for the same key with another request.
fn replay(reads: &Reads, idem: &Idempotency, now_ms: i64) -> Result<Option<Outcome>, LoyaltyError> {
    let Some(record) = reads.get::<IdempotencyRecord>(&idem.key)? else {
        return Ok(None);
    };
    // TTL deletion is lazy: an expired record no longer counts.
    if record.expires_at <= now_ms / 1000 {
        return Ok(None);
    }
    if record.request_hash != idem.request_hash {
        return Err(LoyaltyError::IdempotencyKeyReused);
    }
    let body = serde_json::from_str(&record.body)
        .map_err(|e| LoyaltyError::Internal(format!("stored response: {e}")))?;
    Ok(Some(Outcome {
        status: StatusCode::from_u16(record.status).unwrap_or(StatusCode::OK),
        body,
        replayed: true,
    }))
}

/// `+1` on the caller's window of the current minute, unless it is full.
fn rate_window(tenant: &TenantId, limit: &RateLimit, now_ms: i64) -> (Update, u64) {
    const WINDOW_S: i64 = 60;
    let now_s = now_ms.div_euclid(1000);
    let start = now_s - now_s.rem_euclid(WINDOW_S);
    let retry_after_s = u64::try_from(start + WINDOW_S - now_s).unwrap_or(1);
    let window = Update::new(keys::rate_limit(tenant, &limit.scope, start))
        .add("hits", 1)
        .set_if_absent("expires_at", start + 2 * WINDOW_S)
        .when(Cond::absent("hits").or(Cond::lt("hits", limit.per_minute)));
    (window, retry_after_s)
}

fn idempotency_put(
    idem: &Idempotency,
    status: StatusCode,
    body: &serde_json::Value,
    now_ms: i64,
) -> Op {
    let now_s = now_ms / 1000;
    let record = IdempotencyRecord {
        pk: idem.key.0.clone(),
        sk: idem.key.1.clone(),
        request_hash: idem.request_hash.clone(),
        status: status.as_u16(),
        body: body.to_string(),
        created_ms: now_ms,
        expires_at: now_s + IDEMPOTENCY_TTL_S,
    };
    Op::Put {
        record: sauda_shared::plan::Record::new(record),
        // An expired record (not yet removed by TTL) may be replaced.
        cond: Some(Cond::item_absent().or(Cond::le("expires_at", now_s))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sauda_shared::plan::{CmpOp, Val};

    fn plan_with(steps: usize) -> Plan {
        let mut writes = WritePlan::new();
        for i in 0..steps {
            writes.push_or(
                Op::Check {
                    key: ("p".into(), format!("s{i}")),
                    cond: Cond::item_exists(),
                },
                LoyaltyError::UnknownPartner,
            );
        }
        Plan::new(writes, StatusCode::OK, serde_json::json!({"ok": true}))
    }

    #[test]
    fn guards_come_first_so_a_twin_and_the_window_answer_before_the_rules() {
        let t = TenantId::parse("acme").unwrap();
        let idem = Idempotency::new(&t, "p:shop", "k-1", "h".into());
        let rate = RateLimit {
            scope: "loyalty#key".into(),
            per_minute: 3,
        };
        let full = with_guards(&t, Some(&idem), Some(&rate), &plan_with(2), 61_500);
        let answers: Vec<Option<Fail>> = full.steps.iter().map(|s| s.on_fail.clone()).collect();
        assert_eq!(
            answers,
            [
                Some(Fail::Twin),
                Some(Fail::RateLimited { retry_after_s: 59 }),
                Some(Fail::Rule(LoyaltyError::UnknownPartner)),
                Some(Fail::Rule(LoyaltyError::UnknownPartner)),
            ]
        );
        let Op::Update(window) = &full.steps[1].op else {
            panic!("the window is an update")
        };
        assert_eq!(window.key, keys::rate_limit(&t, "loyalty#key", 60));
        assert_eq!(
            window.cond,
            Some(Cond::Or(vec![
                Cond::Absent("hits".into()),
                Cond::Cmp("hits".into(), CmpOp::Lt, Val::N(3))
            ]))
        );
        assert!(with_guards(&t, None, None, &plan_with(1), 0).steps.len() == 1);
    }

    #[test]
    fn replays_only_a_live_record_of_the_same_request() {
        let t = TenantId::parse("acme").unwrap();
        let idem = Idempotency::new(&t, "admin", "k", "hash".into());
        let record = |hash: &str, expires_at: i64| IdempotencyRecord {
            pk: idem.key.0.clone(),
            sk: idem.key.1.clone(),
            request_hash: hash.into(),
            status: 201,
            body: r#"{"balance":5}"#.into(),
            created_ms: 0,
            expires_at,
        };
        let reads_of = |r: IdempotencyRecord| {
            let mut reads = Reads::default();
            reads.insert(idem.key.clone(), sauda_shared::dynamo::to_item(&r).unwrap());
            reads
        };
        let live = replay(&reads_of(record("hash", 100)), &idem, 50_000).unwrap();
        assert_eq!(
            live,
            Some(Outcome {
                status: StatusCode::CREATED,
                body: serde_json::json!({"balance": 5}),
                replayed: true
            })
        );
        assert_eq!(
            replay(&reads_of(record("other", 100)), &idem, 50_000),
            Err(LoyaltyError::IdempotencyKeyReused)
        );
        assert_eq!(
            replay(&reads_of(record("other", 100)), &idem, 100_000),
            Ok(None),
            "expired"
        );
        assert_eq!(replay(&Reads::default(), &idem, 0), Ok(None));
    }
}
