//! DynamoDB access for the ledger: one consistent `BatchGetItem` to read what an
//! operation needs, one `TransactWriteItems` to apply it, and the executor that makes a
//! mutation idempotent and safe under concurrency.
//!
//! The executor's loop: read (the idempotency record rides along in the same batch) →
//! replay a stored result, or plan the writes from the state read → commit them in one
//! transaction together with the idempotency record and the caller's rate-limit window.
//! Every write the plan makes is conditioned on the state it was computed from (the
//! account's `rev`, a purchase not yet accrued, ...). When a concurrent request got there
//! first, the transaction is cancelled as a whole, nothing is applied, and the loop
//! reads again, so the outcome is always that of some serial order.

use crate::error::LoyaltyError;
use crate::model::{IdempotencyRecord, Key};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};
use aws_smithy_types::error::display::DisplayErrorContext;
use http::StatusCode;
use sauda_shared::keys;
use sauda_shared::TenantId;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

pub type Item = HashMap<String, AttributeValue>;

/// How long a stored result answers retries of the same Idempotency-Key.
pub const IDEMPOTENCY_TTL_S: i64 = 7 * 24 * 3600;
/// Attempts before a mutation gives up under contention (each loser of a race retries;
/// a request can only lose as often as others win, so this bounds even hot accounts).
pub const MAX_ATTEMPTS: u32 = 25;

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn store_err<E: std::error::Error>(context: &str, e: E) -> LoyaltyError {
    LoyaltyError::Store(format!("{context}: {}", DisplayErrorContext(&e)))
}

pub fn to_item<T: Serialize>(value: &T) -> Result<Item, LoyaltyError> {
    serde_dynamo::to_item(value).map_err(|e| LoyaltyError::Internal(format!("serialise: {e}")))
}

pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, LoyaltyError> {
    serde_dynamo::from_item(item).map_err(|e| LoyaltyError::Store(format!("malformed item: {e}")))
}

/// Items read in one go; remembers which keys were asked for, present or not.
#[derive(Debug, Default)]
pub struct Reads {
    asked: HashSet<Key>,
    items: HashMap<Key, Item>,
}

impl Reads {
    pub fn get<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>, LoyaltyError> {
        self.items.get(key).cloned().map(from_item).transpose()
    }

    pub fn raw(&self, key: &Key) -> Option<&Item> {
        self.items.get(key)
    }

    pub fn has_asked(&self, key: &Key) -> bool {
        self.asked.contains(key)
    }

    fn merge(&mut self, other: Reads) {
        self.asked.extend(other.asked);
        self.items.extend(other.items);
    }
}

/// A condition or update expression with its placeholders.
#[derive(Debug, Default)]
pub struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    /// A placeholder for an attribute name (the same one each time it is asked for).
    pub fn name(&mut self, attribute: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, a)| *a == attribute) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    pub fn value(&mut self, v: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), v);
        placeholder
    }
}

/// Builds one `Update` action: `SET`, `ADD` and `REMOVE` clauses plus a condition.
pub struct UpdateBuilder {
    key: Key,
    expr: Expr,
    set: Vec<String>,
    add: Vec<String>,
    remove: Vec<String>,
    condition: Option<String>,
}

impl UpdateBuilder {
    pub fn new(key: Key) -> Self {
        Self {
            key,
            expr: Expr::default(),
            set: Vec::new(),
            add: Vec::new(),
            remove: Vec::new(),
            condition: None,
        }
    }

    pub fn set(mut self, attribute: &str, value: AttributeValue) -> Self {
        let (name, value) = (self.expr.name(attribute), self.expr.value(value));
        self.set.push(format!("{name} = {value}"));
        self
    }

    pub fn set_if_absent(mut self, attribute: &str, value: AttributeValue) -> Self {
        let (name, value) = (self.expr.name(attribute), self.expr.value(value));
        self.set
            .push(format!("{name} = if_not_exists({name}, {value})"));
        self
    }

    pub fn add(mut self, attribute: &str, delta: i64) -> Self {
        if delta != 0 {
            let (name, value) = (self.expr.name(attribute), self.expr.value(n(delta)));
            self.add.push(format!("{name} {value}"));
        }
        self
    }

    pub fn remove(mut self, attribute: &str) -> Self {
        let name = self.expr.name(attribute);
        self.remove.push(name);
        self
    }

    /// `build` receives the builder's placeholders so conditions share them.
    pub fn condition(mut self, build: impl FnOnce(&mut Expr) -> String) -> Self {
        self.condition = Some(build(&mut self.expr));
        self
    }

    pub fn build(self, table: &str) -> Result<TransactWriteItem, LoyaltyError> {
        let mut clauses = Vec::new();
        if !self.set.is_empty() {
            clauses.push(format!("SET {}", self.set.join(", ")));
        }
        if !self.add.is_empty() {
            clauses.push(format!("ADD {}", self.add.join(", ")));
        }
        if !self.remove.is_empty() {
            clauses.push(format!("REMOVE {}", self.remove.join(", ")));
        }
        let update = Update::builder()
            .table_name(table)
            .key("PK", s(self.key.0))
            .key("SK", s(self.key.1))
            .update_expression(clauses.join(" "))
            .set_condition_expression(self.condition)
            .set_expression_attribute_names(Some(self.expr.names).filter(|m| !m.is_empty()))
            .set_expression_attribute_values(Some(self.expr.values).filter(|m| !m.is_empty()))
            .build()
            .map_err(|e| LoyaltyError::Internal(format!("update: {e}")))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

/// A `Put` action; `condition` as in [`UpdateBuilder::condition`].
pub fn put(
    table: &str,
    item: Item,
    condition: Option<&dyn Fn(&mut Expr) -> String>,
) -> Result<TransactWriteItem, LoyaltyError> {
    let mut expr = Expr::default();
    let condition = condition.map(|build| build(&mut expr));
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition)
        .set_expression_attribute_names(Some(expr.names).filter(|m| !m.is_empty()))
        .set_expression_attribute_values(Some(expr.values).filter(|m| !m.is_empty()))
        .build()
        .map_err(|e| LoyaltyError::Internal(format!("put: {e}")))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// Put only if no item has this key.
pub fn put_new(table: &str, item: Item) -> Result<TransactWriteItem, LoyaltyError> {
    put(
        table,
        item,
        Some(&|e: &mut Expr| format!("attribute_not_exists({})", e.name("PK"))),
    )
}

/// What a failed condition on one write means.
#[derive(Debug, Clone)]
pub enum OnFail {
    /// The state moved under us: read again and re-plan.
    Retry,
    /// A definite answer for the caller.
    Reject(LoyaltyError),
}

pub struct Write {
    pub item: TransactWriteItem,
    pub on_fail: OnFail,
}

impl Write {
    pub fn retry(item: TransactWriteItem) -> Self {
        Self {
            item,
            on_fail: OnFail::Retry,
        }
    }
}

/// What an operation wants written, and what to answer once it is.
pub struct Plan {
    pub writes: Vec<Write>,
    pub status: StatusCode,
    pub body: serde_json::Value,
}

impl Plan {
    /// Nothing to write (e.g. the state already is what was asked for).
    pub fn answer(body: serde_json::Value) -> Self {
        Self {
            writes: Vec::new(),
            status: StatusCode::OK,
            body,
        }
    }
}

#[async_trait]
pub trait Planner: Send + Sync {
    /// Keys to read (in one consistent BatchGetItem, with the idempotency record).
    fn keys(&self) -> Vec<Key>;
    /// Plans the writes from what was read; may read more through `store` on rare paths.
    async fn plan(
        &self,
        store: &Store,
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

/// A fixed one-minute window counted inside the transaction (the same item and
/// semantics as `sauda_shared::ratelimit`), so an accepted request costs no extra call.
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

/// A source of "now" in epoch milliseconds.
pub type Clock = std::sync::Arc<dyn Fn() -> i64 + Send + Sync>;

#[derive(Clone)]
pub struct Store {
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
    /// Wall clock unless replaced (tests move time to cross days and expiry dates).
    clock: Option<Clock>,
}

enum TxFailure {
    /// Per-item cancellation codes (`None` where the item was fine).
    Cancelled(Vec<Option<String>>),
    Other(LoyaltyError),
}

impl Store {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            clock: None,
        }
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    pub fn now_ms(&self) -> i64 {
        self.clock
            .as_ref()
            .map_or_else(sauda_shared::now_ms, |clock| clock())
    }

    /// Strongly consistent read of up to 100 keys (duplicates folded), one call unless
    /// DynamoDB leaves keys unprocessed.
    pub async fn read(&self, wanted: &[Key]) -> Result<Reads, LoyaltyError> {
        let mut reads = Reads::default();
        let mut pending: Vec<Item> = Vec::new();
        for key in wanted {
            if reads.asked.insert(key.clone()) {
                pending.push(HashMap::from([
                    ("PK".to_owned(), s(key.0.clone())),
                    ("SK".to_owned(), s(key.1.clone())),
                ]));
            }
        }
        let mut attempt = 0;
        while !pending.is_empty() {
            let batch = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .map_err(|e| LoyaltyError::Internal(format!("batch keys: {e}")))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, batch)
                .send()
                .await
                .map_err(|e| store_err("batch read", e))?;
            for item in out
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default()
            {
                let key = (attr_s(&item, "PK"), attr_s(&item, "SK"));
                reads.items.insert(key, item);
            }
            if let Some(left) = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .filter(|k| !k.keys().is_empty())
            {
                attempt += 1;
                if attempt > 8 {
                    return Err(LoyaltyError::Store(
                        "batch read: keys left unprocessed".into(),
                    ));
                }
                backoff(attempt).await;
                pending = left.keys().to_vec();
            }
        }
        Ok(reads)
    }

    /// Reads the keys of `wanted` not read yet into `reads`.
    pub async fn read_more(&self, reads: &mut Reads, wanted: &[Key]) -> Result<(), LoyaltyError> {
        let missing: Vec<Key> = wanted
            .iter()
            .filter(|k| !reads.has_asked(k))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let more = self.read(&missing).await?;
            reads.merge(more);
        }
        Ok(())
    }

    pub async fn get<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>, LoyaltyError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(key.0.clone()))
            .key("SK", s(key.1.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_err("read", e))?;
        out.item.map(from_item).transpose()
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TxFailure> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                    Err(TxFailure::Cancelled(
                        cancelled
                            .cancellation_reasons()
                            .iter()
                            .map(|r| r.code().filter(|c| *c != "None").map(str::to_owned))
                            .collect(),
                    ))
                }
                // Another request with the same client token is in flight: try again.
                TransactWriteItemsError::TransactionInProgressException(_) => Err(
                    TxFailure::Cancelled(vec![Some("TransactionConflict".into())]),
                ),
                other => Err(TxFailure::Other(store_err("transaction", other))),
            },
        }
    }

    /// Runs a planned mutation to completion: replay, commit, or a definite error.
    pub async fn execute(
        &self,
        idempotency: Option<&Idempotency>,
        rate: Option<&RateLimit>,
        tenant: &TenantId,
        planner: &dyn Planner,
    ) -> Result<Outcome, LoyaltyError> {
        for attempt in 0..MAX_ATTEMPTS {
            let now_ms = self.now_ms();
            let mut keys = planner.keys();
            if let Some(idem) = idempotency {
                keys.push(idem.key.clone());
            }
            let mut reads = self.read(&keys).await?;
            if let Some(idem) = idempotency {
                if let Some(outcome) = replay(&reads, idem, now_ms)? {
                    return Ok(outcome);
                }
            }
            let plan = match planner.plan(self, &mut reads, now_ms).await {
                Ok(plan) => plan,
                // Refusals count against the caller's window too, so spamming requests
                // that are refused (insufficient points, ...) is limited like any other.
                Err(refusal) if refusal.status_and_code().0.is_client_error() => {
                    if let Some(limit) = rate {
                        self.count_refusal(tenant, limit, now_ms).await?;
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
            let mut writes = plan.writes;
            let rate_index = match rate {
                Some(limit) => {
                    let (write, retry_after_s) = rate_window(&self.table, tenant, limit, now_ms)?;
                    writes.push(Write {
                        item: write,
                        on_fail: OnFail::Reject(LoyaltyError::RateLimited { retry_after_s }),
                    });
                    Some(writes.len() - 1)
                }
                None => None,
            };
            let idem_index = match idempotency {
                Some(idem) => {
                    writes.push(Write::retry(idempotency_put(
                        &self.table,
                        idem,
                        plan.status,
                        &plan.body,
                        now_ms,
                    )?));
                    Some(writes.len() - 1)
                }
                None => None,
            };
            let on_fail: Vec<OnFail> = writes.iter().map(|w| w.on_fail.clone()).collect();
            match self
                .transact(writes.into_iter().map(|w| w.item).collect())
                .await
            {
                Ok(()) => {
                    return Ok(Outcome {
                        status: plan.status,
                        body: plan.body,
                        replayed: false,
                    })
                }
                Err(TxFailure::Other(e)) => return Err(e),
                Err(TxFailure::Cancelled(codes)) => {
                    decide(&codes, &on_fail, idem_index, rate_index)?;
                    tracing::debug!(attempt, ?codes, "transaction cancelled; reading again");
                }
            }
            backoff(attempt + 1).await;
        }
        Err(LoyaltyError::Contention)
    }
}

impl Store {
    /// Counts a refused request in the caller's rate window (one `UpdateItem` on the
    /// same item the transactions count in); `rate_limited` once the window is full.
    async fn count_refusal(
        &self,
        tenant: &TenantId,
        limit: &RateLimit,
        now_ms: i64,
    ) -> Result<(), LoyaltyError> {
        let (item, retry_after_s) = rate_window(&self.table, tenant, limit, now_ms)?;
        let Some(update) = item.update else {
            return Err(LoyaltyError::Internal(
                "rate window is not an update".into(),
            ));
        };
        let result = self
            .client
            .update_item()
            .table_name(update.table_name)
            .set_key(Some(update.key))
            .update_expression(update.update_expression)
            .set_condition_expression(update.condition_expression)
            .set_expression_attribute_names(update.expression_attribute_names)
            .set_expression_attribute_values(update.expression_attribute_values)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Err(LoyaltyError::RateLimited { retry_after_s })
            }
            Err(e) => Err(store_err("rate limit", e)),
        }
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
        .map_err(|e| LoyaltyError::Store(format!("stored response: {e}")))?;
    Ok(Some(Outcome {
        status: StatusCode::from_u16(record.status).unwrap_or(StatusCode::OK),
        body,
        replayed: true,
    }))
}

/// Decides what a cancelled transaction means. `Ok(())` means "read again and retry".
fn decide(
    codes: &[Option<String>],
    on_fail: &[OnFail],
    idem_index: Option<usize>,
    rate_index: Option<usize>,
) -> Result<(), LoyaltyError> {
    let failed = |i: Option<usize>| {
        i.and_then(|i| codes.get(i))
            .is_some_and(|c| c.as_deref() == Some("ConditionalCheckFailed"))
    };
    // A concurrent twin with the same key won: the next read replays its result.
    if failed(idem_index) {
        return Ok(());
    }
    if failed(rate_index) {
        if let Some(OnFail::Reject(e)) = rate_index.and_then(|i| on_fail.get(i)) {
            return Err(e.clone());
        }
    }
    let mut first_reject = None;
    for (i, code) in codes.iter().enumerate() {
        match code.as_deref() {
            None => {}
            Some("ConditionalCheckFailed") => {
                if let Some(OnFail::Reject(e)) = on_fail.get(i) {
                    first_reject.get_or_insert_with(|| e.clone());
                }
            }
            Some("TransactionConflict")
            | Some("ThrottlingError")
            | Some("ProvisionedThroughputExceeded")
            | Some("RequestLimitExceeded") => {}
            Some(other) => {
                return Err(LoyaltyError::Internal(format!(
                    "transaction item {i} was refused: {other}"
                )))
            }
        }
    }
    match first_reject {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn rate_window(
    table: &str,
    tenant: &TenantId,
    limit: &RateLimit,
    now_ms: i64,
) -> Result<(TransactWriteItem, u64), LoyaltyError> {
    const WINDOW_S: i64 = 60;
    let now_s = now_ms.div_euclid(1000);
    let start = now_s - now_s.rem_euclid(WINDOW_S);
    let retry_after_s = u64::try_from(start + WINDOW_S - now_s).unwrap_or(1);
    let item = UpdateBuilder::new(keys::rate_limit(tenant, &limit.scope, start))
        .add("hits", 1)
        .set_if_absent("expires_at", n(start + 2 * WINDOW_S))
        .condition(|e| {
            let hits = e.name("hits");
            let limit = e.value(n(limit.per_minute));
            format!("attribute_not_exists({hits}) OR {hits} < {limit}")
        })
        .build(table)?;
    Ok((item, retry_after_s))
}

fn idempotency_put(
    table: &str,
    idem: &Idempotency,
    status: StatusCode,
    body: &serde_json::Value,
    now_ms: i64,
) -> Result<TransactWriteItem, LoyaltyError> {
    let record = IdempotencyRecord {
        pk: idem.key.0.clone(),
        sk: idem.key.1.clone(),
        request_hash: idem.request_hash.clone(),
        status: status.as_u16(),
        body: body.to_string(),
        created_ms: now_ms,
        expires_at: now_ms / 1000 + IDEMPOTENCY_TTL_S,
    };
    let now_s = now_ms / 1000;
    put(
        table,
        to_item(&record)?,
        Some(&move |e: &mut Expr| {
            let pk = e.name("PK");
            let expires = e.name("expires_at");
            let now = e.value(n(now_s));
            format!("attribute_not_exists({pk}) OR {expires} <= {now}")
        }),
    )
}

/// Jittered exponential backoff: up to 5 ms × 2^attempt, capped at 200 ms.
pub async fn backoff(attempt: u32) {
    use rand::Rng;
    let cap = (5u64 << attempt.min(6)).min(200);
    let ms = rand::rng().random_range(0..=cap);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

pub fn attr_s(item: &Item, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reject(code: &'static str) -> OnFail {
        OnFail::Reject(LoyaltyError::field(code, code))
    }

    #[test]
    fn a_won_twin_is_replayed_before_anything_else() {
        let codes = vec![
            Some("ConditionalCheckFailed".into()),
            None,
            Some("ConditionalCheckFailed".into()),
        ];
        let on_fail = vec![reject("duplicate"), OnFail::Retry, OnFail::Retry];
        assert!(decide(&codes, &on_fail, Some(2), None).is_ok());
    }

    #[test]
    fn rate_limit_beats_other_rejections() {
        let codes = vec![
            Some("ConditionalCheckFailed".into()),
            Some("ConditionalCheckFailed".into()),
        ];
        let on_fail = vec![
            reject("duplicate"),
            OnFail::Reject(LoyaltyError::RateLimited { retry_after_s: 3 }),
        ];
        assert_eq!(
            decide(&codes, &on_fail, None, Some(1)),
            Err(LoyaltyError::RateLimited { retry_after_s: 3 })
        );
    }

    #[test]
    fn conflicts_retry_and_rejections_answer() {
        let on_fail = vec![OnFail::Retry, reject("dup")];
        assert!(decide(
            &[Some("TransactionConflict".into()), None],
            &on_fail,
            None,
            None
        )
        .is_ok());
        assert!(decide(
            &[Some("ConditionalCheckFailed".into()), None],
            &on_fail,
            None,
            None
        )
        .is_ok());
        assert_eq!(
            decide(
                &[None, Some("ConditionalCheckFailed".into())],
                &on_fail,
                None,
                None
            ),
            Err(LoyaltyError::field("dup", "dup"))
        );
        assert!(matches!(
            decide(
                &[Some("ValidationError".into()), None],
                &on_fail,
                None,
                None
            ),
            Err(LoyaltyError::Internal(_))
        ));
    }

    #[test]
    fn update_builder_writes_one_expression() {
        let item = UpdateBuilder::new(("p".into(), "s".into()))
            .set("balance", n(5))
            .add("hits", 1)
            .add("zero", 0)
            .remove("GSI1PK")
            .condition(|e| format!("{} = {}", e.name("rev"), e.value(n(2))))
            .build("t")
            .unwrap();
        let update = item.update().unwrap();
        assert_eq!(
            update.update_expression(),
            "SET #n0 = :v0 ADD #n1 :v1 REMOVE #n2"
        );
        assert_eq!(update.condition_expression(), Some("#n3 = :v2"));
    }
}
