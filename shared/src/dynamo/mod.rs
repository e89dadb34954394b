//! The DynamoDB toolkit every adapter uses: attribute helpers, one expression builder,
//! write plans executed as (transactional) writes with cancellation reasons decoded in
//! one place, and batch reads that retry `UnprocessedKeys` and fail loudly.

mod expr;

pub use expr::Expr;

use crate::plan::{CancelReason, Cond, Key, Op, PlanError, Step, Update, Val, WritePlan};
use crate::ports::StoreError;
use crate::retry::Backoff;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, TransactWriteItem,
};
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A string attribute, or `""`.
pub fn item_s<'a>(item: &'a Item, name: &str) -> &'a str {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .unwrap_or("")
}

/// A number attribute, or 0.
pub fn item_n(item: &Item, name: &str) -> i64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub fn key_of(item: &Item) -> Key {
    (item_s(item, "PK").to_owned(), item_s(item, "SK").to_owned())
}

pub fn key_attrs(key: &Key) -> Item {
    HashMap::from([
        ("PK".to_owned(), s(key.0.clone())),
        ("SK".to_owned(), s(key.1.clone())),
    ])
}

/// Error codes that mean the request itself is wrong for the store (an item over
/// 400 KB, a key over 1,024 bytes): retrying cannot help, so callers answer 4xx.
fn is_permanent(code: Option<&str>) -> bool {
    matches!(code, Some("ValidationException" | "SerializationException"))
}

/// Maps an SDK error to a store error, keeping "the store refused this request"
/// apart from "the store is unavailable".
pub fn store_err<E, R>(context: &str, e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let message = format!("{context}: {}", DisplayErrorContext(&e));
    if is_permanent(e.code()) {
        StoreError::Rejected(message)
    } else {
        StoreError::Unavailable(message)
    }
}

/// Whether an SDK error is a failed condition (`ConditionalCheckFailedException`).
pub fn is_condition_failed<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

pub fn to_item<T: serde::Serialize + ?Sized>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Rejected(format!("serialise item: {e}")))
}

/// The error names the item by its sort key: partition keys hold contact ids, which
/// are phone numbers (`T#t#C#wa-77011234567`), and store errors end up in logs.
pub fn from_item<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    let sk = item_s(&item, "SK").to_owned();
    serde_dynamo::from_item(item)
        .map_err(|e| StoreError::Unavailable(format!("a {sk} item is malformed: {e}")))
}

fn val(v: &Val) -> AttributeValue {
    match v {
        Val::S(s) => AttributeValue::S(s.clone()),
        Val::N(n) => AttributeValue::N(n.to_string()),
        Val::Bool(b) => AttributeValue::Bool(*b),
        Val::List(items) => AttributeValue::L(items.iter().map(|i| s(i.clone())).collect()),
        Val::StrSet(items) => AttributeValue::Ss(items.clone()),
        Val::NumMap(map) => AttributeValue::M(map.iter().map(|(k, v)| (k.clone(), n(v))).collect()),
    }
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Rejected(format!("build request: {e}"))
}

/// The parts of one write, ready for either a single request or a transaction.
struct Parts {
    update: Option<String>,
    condition: Option<String>,
    names: Option<HashMap<String, String>>,
    values: Option<Item>,
}

fn parts(update: Option<&Update>, cond: Option<&Cond>) -> Parts {
    let mut e = Expr::default();
    let update = update.map(|u| e.update(u));
    let condition = cond.map(|c| e.condition(c));
    let (names, values) = e.into_maps();
    Parts {
        update,
        condition,
        names,
        values,
    }
}

/// One step as a `TransactWriteItems` action.
pub fn transact_item(table: &str, op: &Op) -> Result<TransactWriteItem, StoreError> {
    Ok(match op {
        Op::Put { record, cond } => {
            let p = parts(None, cond.as_ref());
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(table)
                        .set_item(Some(to_item(record.as_serialize())?))
                        .set_condition_expression(p.condition)
                        .set_expression_attribute_names(p.names)
                        .set_expression_attribute_values(p.values)
                        .build()
                        .map_err(build_err)?,
                )
                .build()
        }
        Op::Update(u) => {
            let p = parts(Some(u), u.cond.as_ref());
            TransactWriteItem::builder()
                .update(
                    aws_sdk_dynamodb::types::Update::builder()
                        .table_name(table)
                        .set_key(Some(key_attrs(&u.key)))
                        .set_update_expression(p.update)
                        .set_condition_expression(p.condition)
                        .set_expression_attribute_names(p.names)
                        .set_expression_attribute_values(p.values)
                        .build()
                        .map_err(build_err)?,
                )
                .build()
        }
        Op::Delete { key, cond } => {
            let p = parts(None, cond.as_ref());
            TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(table)
                        .set_key(Some(key_attrs(key)))
                        .set_condition_expression(p.condition)
                        .set_expression_attribute_names(p.names)
                        .set_expression_attribute_values(p.values)
                        .build()
                        .map_err(build_err)?,
                )
                .build()
        }
        Op::Check { key, cond } => {
            let p = parts(None, Some(cond));
            TransactWriteItem::builder()
                .condition_check(
                    ConditionCheck::builder()
                        .table_name(table)
                        .set_key(Some(key_attrs(key)))
                        .set_condition_expression(p.condition)
                        .set_expression_attribute_names(p.names)
                        .set_expression_attribute_values(p.values)
                        .build()
                        .map_err(build_err)?,
                )
                .build()
        }
    })
}

fn reason(code: Option<&str>, message: Option<&str>) -> CancelReason {
    match code.unwrap_or("None") {
        "None" => CancelReason::None,
        "ConditionalCheckFailed" => CancelReason::ConditionFailed,
        "TransactionConflict" => CancelReason::Conflict,
        "ThrottlingError" | "ProvisionedThroughputExceeded" | "RequestLimitExceeded" => {
            CancelReason::Throttled
        }
        "ValidationError" | "ItemCollectionSizeLimitExceeded" => {
            CancelReason::Invalid(message.unwrap_or_default().to_owned())
        }
        other => CancelReason::Other(other.to_owned()),
    }
}

/// Decides what a cancelled plan means: the first failed step with an answer wins;
/// a failed step without one, or a conflict, asks the caller to re-read.
fn decide<F: Clone>(steps: &[Step<F>], reasons: Vec<CancelReason>) -> PlanError<F> {
    for (step, why) in steps.iter().zip(&reasons) {
        if let CancelReason::Invalid(message) = why {
            return PlanError::Store(StoreError::Rejected(format!(
                "transaction refused: {message}"
            )));
        }
        if *why == CancelReason::ConditionFailed {
            if let Some(answer) = &step.on_fail {
                return PlanError::Rejected(answer.clone());
            }
        }
    }
    PlanError::Stale(reasons)
}

/// Executes a plan: one request for a single write (half the capacity of a
/// transaction), `TransactWriteItems` for more. Nothing is written for an empty plan.
pub async fn execute<F: Clone>(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    plan: &WritePlan<F>,
) -> Result<(), PlanError<F>> {
    match plan.steps.as_slice() {
        [] => Ok(()),
        [step] if !matches!(step.op, Op::Check { .. }) => single(client, table, step).await,
        steps => {
            let items = steps
                .iter()
                .map(|step| transact_item(table, &step.op))
                .collect::<Result<Vec<_>, _>>()
                .map_err(PlanError::Store)?;
            let result = client
                .transact_write_items()
                .set_transact_items(Some(items))
                .set_client_request_token(plan.token.clone())
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(e) => {
                    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
                    match e.as_service_error() {
                        Some(E::TransactionCanceledException(cancelled)) => {
                            let reasons = cancelled
                                .cancellation_reasons()
                                .iter()
                                .map(|r| reason(r.code(), r.message()))
                                .collect();
                            Err(decide(steps, reasons))
                        }
                        // Another request with the same client token is in flight.
                        Some(E::TransactionInProgressException(_)) => {
                            Err(PlanError::Stale(vec![CancelReason::Conflict]))
                        }
                        _ => Err(PlanError::Store(store_err("transaction", e))),
                    }
                }
            }
        }
    }
}

async fn single<F: Clone>(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    step: &Step<F>,
) -> Result<(), PlanError<F>> {
    let failed = |step: &Step<F>| match &step.on_fail {
        Some(answer) => PlanError::Rejected(answer.clone()),
        None => PlanError::Stale(vec![CancelReason::ConditionFailed]),
    };
    macro_rules! outcome {
        ($result:expr, $what:literal) => {
            match $result {
                Ok(_) => Ok(()),
                Err(e) if is_condition_failed(&e) => Err(failed(step)),
                Err(e) => Err(PlanError::Store(store_err($what, e))),
            }
        };
    }
    match &step.op {
        Op::Put { record, cond } => {
            let p = parts(None, cond.as_ref());
            let item = to_item(record.as_serialize()).map_err(PlanError::Store)?;
            outcome!(
                client
                    .put_item()
                    .table_name(table)
                    .set_item(Some(item))
                    .set_condition_expression(p.condition)
                    .set_expression_attribute_names(p.names)
                    .set_expression_attribute_values(p.values)
                    .send()
                    .await,
                "put item"
            )
        }
        Op::Update(u) => {
            let p = parts(Some(u), u.cond.as_ref());
            outcome!(
                client
                    .update_item()
                    .table_name(table)
                    .set_key(Some(key_attrs(&u.key)))
                    .set_update_expression(p.update)
                    .set_condition_expression(p.condition)
                    .set_expression_attribute_names(p.names)
                    .set_expression_attribute_values(p.values)
                    .send()
                    .await,
                "update item"
            )
        }
        Op::Delete { key, cond } => {
            let p = parts(None, cond.as_ref());
            outcome!(
                client
                    .delete_item()
                    .table_name(table)
                    .set_key(Some(key_attrs(key)))
                    .set_condition_expression(p.condition)
                    .set_expression_attribute_names(p.names)
                    .set_expression_attribute_values(p.values)
                    .send()
                    .await,
                "delete item"
            )
        }
        Op::Check { .. } => unreachable!("a lone check runs as a transaction"),
    }
}

/// How many times `batch_get` asks again for keys DynamoDB left unprocessed before
/// it fails (it never returns a partial result).
pub const BATCH_GET_ATTEMPTS: u32 = 10;

/// Items read by [`batch_get`], by key; domain code reads them typed.
#[derive(Clone, Debug, Default)]
pub struct Reads {
    items: HashMap<Key, Item>,
    asked: std::collections::HashSet<Key>,
}

impl Reads {
    pub fn get<T: serde::de::DeserializeOwned>(&self, key: &Key) -> Result<Option<T>, StoreError> {
        self.items.get(key).cloned().map(from_item).transpose()
    }

    pub fn raw(&self, key: &Key) -> Option<&Item> {
        self.items.get(key)
    }

    pub fn contains(&self, key: &Key) -> bool {
        self.items.contains_key(key)
    }

    /// Whether `key` was part of a read (found or not).
    pub fn has_asked(&self, key: &Key) -> bool {
        self.asked.contains(key)
    }

    pub fn merge(&mut self, other: Reads) {
        self.items.extend(other.items);
        self.asked.extend(other.asked);
    }

    pub fn insert(&mut self, key: Key, item: Item) {
        self.asked.insert(key.clone());
        self.items.insert(key, item);
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn into_items(self) -> HashMap<Key, Item> {
        self.items
    }
}

/// Reads `keys` (duplicates allowed) with `BatchGetItem`, 100 keys a request, asking
/// again for unprocessed keys with backoff. Fails rather than return part of the items.
pub async fn batch_get(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    keys: &[Key],
    consistent: bool,
) -> Result<Reads, StoreError> {
    let mut reads = Reads::default();
    let mut unique: Vec<Key> = Vec::with_capacity(keys.len());
    for key in keys {
        if reads.asked.insert(key.clone()) {
            unique.push(key.clone());
        }
    }
    for chunk in unique.chunks(100) {
        let mut pending: Vec<Item> = chunk.iter().map(key_attrs).collect();
        let mut attempt = 0;
        while !pending.is_empty() {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(consistent)
                .build()
                .map_err(build_err)?;
            let out = client
                .batch_get_item()
                .request_items(table, request)
                .send()
                .await
                .map_err(|e| store_err("batch read", e))?;
            for item in out
                .responses
                .and_then(|mut r| r.remove(table))
                .unwrap_or_default()
            {
                reads.items.insert(key_of(&item), item);
            }
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(table))
                .map(|k| k.keys)
                .unwrap_or_default();
            if !pending.is_empty() {
                attempt += 1;
                if attempt >= BATCH_GET_ATTEMPTS {
                    return Err(StoreError::Unavailable(format!(
                        "batch read: {} keys still unprocessed after {attempt} attempts",
                        pending.len()
                    )));
                }
                Backoff::STORE.sleep(attempt).await;
            }
        }
    }
    Ok(reads)
}

/// The newest `limit` items of a partition under a sort-key prefix (one Query,
/// descending): a conversation's last messages, a contact's last orders.
pub async fn query_newest(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
    sk_prefix: &str,
    limit: i32,
) -> Result<Vec<Item>, StoreError> {
    let out = client
        .query()
        .table_name(table)
        .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
        .expression_attribute_values(":pk", s(pk))
        .expression_attribute_values(":prefix", s(sk_prefix))
        .scan_index_forward(false)
        .limit(limit)
        .send()
        .await
        .map_err(|e| store_err("query newest items", e))?;
    Ok(out.items.unwrap_or_default())
}

/// One page of GSI1's partition `gsi1pk`, newest (highest `GSI1SK`) first, from
/// `start` (a page's last key): the items and where the next page starts.
pub async fn query_gsi1_page(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    gsi1pk: &str,
    start: Option<Item>,
    limit: i32,
) -> Result<(Vec<Item>, Option<Item>), StoreError> {
    let out = client
        .query()
        .table_name(table)
        .index_name("GSI1")
        .key_condition_expression("GSI1PK = :pk")
        .expression_attribute_values(":pk", s(gsi1pk))
        .scan_index_forward(false)
        .limit(limit)
        .set_exclusive_start_key(start)
        .send()
        .await
        .map_err(|e| store_err("query GSI1", e))?;
    Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
}

/// Every item of one partition (optionally under a sort-key prefix), following pages.
pub async fn query_partition(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
    sk_prefix: Option<&str>,
) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let mut request = client
            .query()
            .table_name(table)
            .expression_attribute_values(":pk", s(pk))
            .set_exclusive_start_key(start);
        request = match sk_prefix {
            Some(prefix) => request
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":prefix", s(prefix)),
            None => request.key_condition_expression("PK = :pk"),
        };
        let out = request
            .send()
            .await
            .map_err(|e| store_err("query partition", e))?;
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok(items);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_answered_failure_wins() {
        let steps: Vec<Step<&str>> = vec![
            Step {
                op: Op::Check {
                    key: ("a".into(), "b".into()),
                    cond: Cond::item_exists(),
                },
                on_fail: None,
            },
            Step {
                op: Op::Check {
                    key: ("c".into(), "d".into()),
                    cond: Cond::item_exists(),
                },
                on_fail: Some("insufficient"),
            },
        ];
        let both = vec![CancelReason::ConditionFailed, CancelReason::ConditionFailed];
        assert!(matches!(
            decide(&steps, both),
            PlanError::Rejected("insufficient")
        ));
        let first_only = vec![CancelReason::ConditionFailed, CancelReason::None];
        assert!(matches!(decide(&steps, first_only), PlanError::Stale(_)));
        let invalid = vec![CancelReason::None, CancelReason::Invalid("too big".into())];
        assert!(matches!(
            decide(&steps, invalid),
            PlanError::Store(StoreError::Rejected(_))
        ));
    }

    #[test]
    fn reasons_decode() {
        assert_eq!(reason(Some("None"), None), CancelReason::None);
        assert_eq!(
            reason(Some("ConditionalCheckFailed"), None),
            CancelReason::ConditionFailed
        );
        assert_eq!(
            reason(Some("TransactionConflict"), None),
            CancelReason::Conflict
        );
        assert_eq!(
            reason(Some("ValidationError"), Some("Item size has exceeded")),
            CancelReason::Invalid("Item size has exceeded".into())
        );
    }
}
