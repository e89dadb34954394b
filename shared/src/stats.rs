//! Per-tenant daily counters: `T#{t}#STATS#{yyyy-mm-dd}` / `S#{shard}`.
//!
//! Writers `ADD` to one of a few shards so a busy tenant's day is not one hot item;
//! readers Query the day's partition and sum the shards. Reports read these, never
//! events, so a report's cost grows with days, not with traffic. Aggregate per batch:
//! one update carries many metrics.
//!
//! Metric names are snake_case attribute names, e.g. `messages_in`, `leads_new_form`,
//! `loyalty_points_accrued`. The day is the tenant's local calendar day.

use crate::keys;
use crate::ports::StoreError;
use crate::tenant::TenantId;
use aws_sdk_dynamodb::types::{AttributeValue, Update};
use aws_smithy_types::error::display::DisplayErrorContext;
use std::collections::{BTreeMap, HashMap};

pub const SHARDS: u8 = 4;

/// The tenant-local calendar day (`yyyy-mm-dd`) of an instant. An unknown zone falls back to UTC.
pub fn local_day(timezone: &str, ts_ms: i64) -> String {
    let ts = jiff::Timestamp::from_millisecond(ts_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let tz = jiff::tz::TimeZone::get(timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    ts.to_zoned(tz).date().to_string()
}

/// Metric increments destined for one tenant-day.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CounterDelta {
    pub metrics: BTreeMap<String, i64>,
}

impl CounterDelta {
    pub fn add(&mut self, metric: &str, n: i64) -> &mut Self {
        *self.metrics.entry(metric.to_owned()).or_default() += n;
        self
    }

    pub fn is_empty(&self) -> bool {
        self.metrics.values().all(|v| *v == 0)
    }

    fn expression(
        &self,
    ) -> (
        String,
        HashMap<String, String>,
        HashMap<String, AttributeValue>,
    ) {
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut parts = Vec::new();
        for (i, (metric, n)) in self.metrics.iter().filter(|(_, n)| **n != 0).enumerate() {
            names.insert(format!("#m{i}"), metric.clone());
            values.insert(format!(":v{i}"), AttributeValue::N(n.to_string()));
            parts.push(format!("#m{i} :v{i}"));
        }
        (format!("ADD {}", parts.join(", ")), names, values)
    }
}

fn shard_for(seed: u64) -> u8 {
    (seed % u64::from(SHARDS)) as u8
}

/// The counter update as a `TransactWriteItems` action, for writes that must be atomic
/// with their counters (loyalty). `seed` spreads writers over shards (e.g. a timestamp).
pub fn transact_update(
    table: &str,
    tenant: &TenantId,
    day: &str,
    seed: u64,
    delta: &CounterDelta,
) -> Result<Update, StoreError> {
    let (pk, sk) = keys::daily_stats(tenant, day, shard_for(seed));
    let (expression, names, values) = delta.expression();
    Update::builder()
        .table_name(table)
        .key("PK", AttributeValue::S(pk))
        .key("SK", AttributeValue::S(sk))
        .update_expression(expression)
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .build()
        .map_err(|e| StoreError(format!("counter update: {e}")))
}

/// Applies a delta with one UpdateItem. No-op for an empty delta.
pub async fn apply(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    tenant: &TenantId,
    day: &str,
    seed: u64,
    delta: &CounterDelta,
) -> Result<(), StoreError> {
    if delta.is_empty() {
        return Ok(());
    }
    let (pk, sk) = keys::daily_stats(tenant, day, shard_for(seed));
    let (expression, names, values) = delta.expression();
    client
        .update_item()
        .table_name(table)
        .key("PK", AttributeValue::S(pk))
        .key("SK", AttributeValue::S(sk))
        .update_expression(expression)
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .send()
        .await
        .map_err(|e| StoreError(format!("counter update: {}", DisplayErrorContext(&e))))?;
    Ok(())
}

/// One tenant-day's counters, summed over shards (one Query).
pub async fn read_day(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    tenant: &TenantId,
    day: &str,
) -> Result<BTreeMap<String, i64>, StoreError> {
    let (pk, _) = keys::daily_stats(tenant, day, 0);
    let out = client
        .query()
        .table_name(table)
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(pk))
        .send()
        .await
        .map_err(|e| StoreError(format!("counter read: {}", DisplayErrorContext(&e))))?;
    let mut sums = BTreeMap::new();
    for item in out.items() {
        for (name, value) in item {
            if name == "PK" || name == "SK" {
                continue;
            }
            if let Ok(n) = value.as_n() {
                *sums.entry(name.clone()).or_default() += n.parse::<i64>().unwrap_or(0);
            }
        }
    }
    Ok(sums)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_follows_the_tenant_zone() {
        // 2026-11-24 20:30 UTC is already the 25th in Almaty (UTC+5) but not in New York.
        let ts = 1_795_552_200_000;
        assert_eq!(local_day("UTC", ts), "2026-11-24");
        assert_eq!(local_day("Asia/Almaty", ts), "2026-11-25");
        assert_eq!(local_day("America/New_York", ts), "2026-11-24");
        assert_eq!(local_day("Not/AZone", ts), "2026-11-24");
    }

    #[test]
    fn delta_builds_one_add_expression() {
        let mut d = CounterDelta::default();
        d.add("messages_in", 2)
            .add("messages_out", 1)
            .add("messages_in", 1)
            .add("zero", 0);
        let (expr, names, values) = d.expression();
        assert_eq!(expr, "ADD #m0 :v0, #m1 :v1");
        assert_eq!(names["#m0"], "messages_in");
        assert_eq!(values[":v0"], AttributeValue::N("3".into()));
        assert!(!d.is_empty());
        assert!(CounterDelta::default().is_empty());
    }
}
