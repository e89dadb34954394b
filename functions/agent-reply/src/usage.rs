//! Monthly AI usage per tenant (`keys::ai_usage(t, "yyyy-mm")`): tokens, cost and
//! calls, for the budget.
//!
//! Replies add to an in-memory tally; the batch flushes it with one `UpdateItem ADD`
//! per tenant-month whose answer (`ALL_NEW`) is the month's total across all
//! instances, which refreshes the cache for free. The total is read with a GetItem
//! only when an instance has not seen it for a minute. Concurrent instances can
//! therefore overshoot a budget by the replies of about one minute: a bounded,
//! documented slack in exchange for no extra write per reply and no hot item inside
//! the reply transactions.

use crate::conversation::n;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_smithy_types::error::display::DisplayErrorContext;
use sauda_shared::keys;
use sauda_shared::ports::StoreError;
use sauda_shared::tenant::ModelPrice;
use sauda_shared::TenantId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

type Key = (TenantId, String);

#[derive(Clone, Copy, Debug)]
struct Known {
    cost_micros: i64,
    notified: bool,
    at: Instant,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_micros: i64,
    pub calls: i64,
}

pub struct UsageTracker {
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    ttl: Duration,
    known: Mutex<HashMap<Key, Known>>,
    pending: Mutex<HashMap<Key, Tally>>,
}

/// Cost in USD micros, rounded up: a price is per million tokens.
pub fn cost_micros(price: &ModelPrice, prompt_tokens: i64, completion_tokens: i64) -> i64 {
    let total = i128::from(prompt_tokens) * i128::from(price.prompt_per_mtok_micros)
        + i128::from(completion_tokens) * i128::from(price.completion_per_mtok_micros);
    i64::try_from((total + 999_999) / 1_000_000).unwrap_or(i64::MAX)
}

fn store_err<E: std::error::Error>(what: &str, e: E) -> StoreError {
    StoreError::Unavailable(format!("{what}: {}", DisplayErrorContext(&e)))
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> i64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl UsageTracker {
    pub const TTL: Duration = Duration::from_secs(60);

    pub fn new(dynamo: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            dynamo,
            table: table.into(),
            ttl: Self::TTL,
            known: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
        }
    }

    fn remember(&self, key: Key, item: &HashMap<String, AttributeValue>) {
        let known = Known {
            cost_micros: number(item, "cost_micros"),
            notified: item.contains_key("budget_notified_ms"),
            at: Instant::now(),
        };
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, known);
    }

    /// The month's spend (USD micros) and whether the managers were told the budget
    /// is spent. Cached for a minute; this instance's own spend is added at once.
    pub async fn spent(&self, tenant: &TenantId, month: &str) -> Result<(i64, bool), StoreError> {
        let key = (tenant.clone(), month.to_owned());
        if let Some(k) = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .filter(|k| k.at.elapsed() < self.ttl)
        {
            return Ok((k.cost_micros, k.notified));
        }
        let (pk, sk) = keys::ai_usage(tenant, month);
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(pk))
            .key("SK", AttributeValue::S(sk))
            .send()
            .await
            .map_err(|e| store_err("read AI usage", e))?;
        let item = out.item.unwrap_or_default();
        let pending = self.pending_of(&key).cost_micros;
        let total = number(&item, "cost_micros") + pending;
        self.remember(key.clone(), &item);
        if let Some(k) = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&key)
        {
            k.cost_micros = total;
        }
        Ok((total, item.contains_key("budget_notified_ms")))
    }

    fn pending_of(&self, key: &Key) -> Tally {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .copied()
            .unwrap_or_default()
    }

    /// Adds one reply's usage to the tally flushed at the end of the batch.
    pub fn record(&self, tenant: &TenantId, month: &str, tally: Tally) {
        let key = (tenant.clone(), month.to_owned());
        {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            let p = pending.entry(key.clone()).or_default();
            p.prompt_tokens += tally.prompt_tokens;
            p.completion_tokens += tally.completion_tokens;
            p.cost_micros += tally.cost_micros;
            p.calls += tally.calls;
        }
        if let Some(k) = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&key)
        {
            k.cost_micros += tally.cost_micros;
        }
    }

    /// Writes the tallies (one UpdateItem per tenant-month) and refreshes the cache
    /// from the totals DynamoDB returns.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let pending: Vec<(Key, Tally)> = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .collect();
        let mut first_error = None;
        for (key, tally) in pending {
            let (pk, sk) = keys::ai_usage(&key.0, &key.1);
            let result = self
                .dynamo
                .update_item()
                .table_name(&self.table)
                .key("PK", AttributeValue::S(pk))
                .key("SK", AttributeValue::S(sk))
                .update_expression(
                    "ADD prompt_tokens :p, completion_tokens :c, cost_micros :cost, calls :calls SET updated_at_ms = :now",
                )
                .expression_attribute_values(":p", n(tally.prompt_tokens))
                .expression_attribute_values(":c", n(tally.completion_tokens))
                .expression_attribute_values(":cost", n(tally.cost_micros))
                .expression_attribute_values(":calls", n(tally.calls))
                .expression_attribute_values(":now", n(sauda_shared::now_ms()))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match result {
                Ok(out) => self.remember(key, &out.attributes.unwrap_or_default()),
                Err(e) => {
                    // Put it back: the next batch of this instance writes it.
                    let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                    let p = pending.entry(key).or_default();
                    p.prompt_tokens += tally.prompt_tokens;
                    p.completion_tokens += tally.completion_tokens;
                    p.cost_micros += tally.cost_micros;
                    p.calls += tally.calls;
                    first_error.get_or_insert(store_err("write AI usage", e));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Marks the month's budget notice as sent. `true` for the one caller that marks
    /// it first; everyone else already knows it was sent.
    pub async fn mark_budget_notified(
        &self,
        tenant: &TenantId,
        month: &str,
    ) -> Result<bool, StoreError> {
        let key = (tenant.clone(), month.to_owned());
        let (pk, sk) = keys::ai_usage(tenant, month);
        let result = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(pk))
            .key("SK", AttributeValue::S(sk))
            .update_expression("SET budget_notified_ms = :now")
            .condition_expression("attribute_not_exists(budget_notified_ms)")
            .expression_attribute_values(":now", n(sauda_shared::now_ms()))
            .send()
            .await;
        let first = match result {
            Ok(_) => true,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                false
            }
            Err(e) => return Err(store_err("mark budget notice", e)),
        };
        if let Some(k) = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&key)
        {
            k.notified = true;
        }
        Ok(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_rounds_up_to_a_micro() {
        let price = ModelPrice {
            prompt_per_mtok_micros: 150_000,
            completion_per_mtok_micros: 600_000,
        };
        assert_eq!(cost_micros(&price, 1_000, 200), 150 + 120);
        assert_eq!(cost_micros(&price, 1, 0), 1);
        assert_eq!(cost_micros(&ModelPrice::default(), 10_000, 10_000), 0);
    }
}
