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

/// Metric names: the contract between the functions that count and the reports that
/// read. Keep every name here so that writers and readers cannot drift apart.
pub mod metric {
    // Conversations (agent-reply, aggregated per batch).
    pub const MESSAGES_IN: &str = "messages_in";
    pub const MESSAGES_OUT: &str = "messages_out";
    /// Contacts whose first message ever arrived that day.
    pub const CONTACTS_NEW: &str = "contacts_new";
    /// A contact's first inbound message of the tenant-local day, ISO week and month.
    /// Summing the one that matches a report period over its days gives the number of
    /// distinct conversations in that period, exactly, without scanning events.
    pub const CONVERSATIONS_DAY: &str = "conversations_d";
    pub const CONVERSATIONS_WEEK: &str = "conversations_w";
    pub const CONVERSATIONS_MONTH: &str = "conversations_m";
    pub const REPLIES_LLM: &str = "replies_llm";
    pub const REPLIES_FALLBACK: &str = "replies_fallback";
    /// Commands and buttons answered without a model (`/start`, balance, ...).
    pub const REPLIES_COMMAND: &str = "replies_command";
    /// Replies that could not be sent (e.g. outside WhatsApp's 24-hour window).
    pub const REPLIES_NOT_SENT: &str = "replies_not_sent";
    pub const RATE_LIMITED: &str = "rate_limited";
    pub const HANDOFFS: &str = "handoffs";
    pub const AI_CALLS: &str = "ai_calls";
    pub const AI_PROMPT_TOKENS: &str = "ai_prompt_tokens";
    pub const AI_COMPLETION_TOKENS: &str = "ai_completion_tokens";
    /// USD micros.
    pub const AI_COST_MICROS: &str = "ai_cost_micros";

    /// Why a fallback reply was sent: `no_llm`, `llm_error`, `budget`, `quota`.
    pub fn fallback_reason(reason: &str) -> String {
        format!("fallback_{reason}")
    }

    /// Upper bounds (ms) of the reply-latency histogram; one more bucket holds the rest.
    pub const LATENCY_BUCKETS_MS: [u32; 16] = [
        250, 500, 750, 1_000, 1_500, 2_000, 3_000, 4_000, 6_000, 8_000, 12_000, 16_000, 24_000,
        32_000, 45_000, 60_000,
    ];
    pub const LATENCY_OVERFLOW: &str = "latency_le_inf";

    /// The histogram bucket a reply latency (inbound received → reply sent) falls in.
    pub fn latency_bucket(ms: u64) -> String {
        LATENCY_BUCKETS_MS
            .iter()
            .find(|bound| ms <= u64::from(**bound))
            .map(|bound| format!("latency_le_{bound}"))
            .unwrap_or_else(|| LATENCY_OVERFLOW.to_owned())
    }

    // ---- agent-reply (issue: agent replies) ----
    /// Inbound messages left unanswered because a newer message of the same customer
    /// was already waiting: that one is answered, with the whole conversation as context.
    pub const REPLIES_SUPERSEDED: &str = "replies_superseded";
    /// Inbound messages that arrived while a manager had taken the conversation over.
    pub const REPLIES_PAUSED: &str = "replies_paused";
    // ---- end agent-reply ----

    // Leads (lead-capture).
    /// `source`: `agent`, `form`, `sweep`, `manual`.
    pub fn leads_new(source: &str) -> String {
        format!("leads_new_{source}")
    }
    /// A lead entered `stage` (including `new`).
    pub fn leads_entered(stage: &str) -> String {
        format!("leads_stage_{stage}")
    }
    pub const LEADS_WON: &str = "leads_won";
    pub const LEADS_LOST: &str = "leads_lost";
    /// A repeat submission merged into an existing lead.
    pub const LEADS_MERGED: &str = "leads_merged";
    pub const CRM_DELIVERED: &str = "crm_delivered";
    /// Deliveries that failed an attempt (retried later) and that gave up (to the DLQ).
    pub const CRM_ATTEMPTS_FAILED: &str = "crm_attempts_failed";
    pub const CRM_GAVE_UP: &str = "crm_gave_up";

    // Leads, added by lead-capture (issue: leads).
    /// A manager handed a lead to a partner (guide, hotel, dealer).
    pub const LEADS_ASSIGNED: &str = "leads_assigned";
    /// Per-partner figure for `partner(partner_id, PARTNER_LEADS)`: leads handed to it.
    pub const PARTNER_LEADS: &str = "leads";

    // Loyalty (all in points unless named `_minor`: currency minor units).
    pub const LOYALTY_ACCRUED: &str = "loyalty_accrued";
    pub const LOYALTY_REDEEMED: &str = "loyalty_redeemed";
    pub const LOYALTY_EXPIRED: &str = "loyalty_expired";
    pub const LOYALTY_WELCOME: &str = "loyalty_welcome";
    pub const LOYALTY_REFERRAL_BONUS: &str = "loyalty_referral_bonus";
    pub const LOYALTY_REFERRAL_JOINS: &str = "loyalty_referral_joins";
    pub const LOYALTY_MEMBERS_NEW: &str = "loyalty_members_new";
    pub const LOYALTY_PURCHASES: &str = "loyalty_purchases";
    pub const LOYALTY_TURNOVER_MINOR: &str = "loyalty_turnover_minor";
    /// A member's first loyalty operation of the day, ISO week and month (see conversations).
    pub const LOYALTY_ACTIVE_DAY: &str = "loyalty_active_d";
    pub const LOYALTY_ACTIVE_WEEK: &str = "loyalty_active_w";
    pub const LOYALTY_ACTIVE_MONTH: &str = "loyalty_active_m";
    /// Per-partner figure: `turnover_minor`, `accrued`, `redeemed`, `purchases`,
    /// `nps_count`, `nps_sum`, `nps_promoters` (9-10), `nps_detractors` (0-6).
    pub fn partner(partner_id: &str, figure: &str) -> String {
        format!("p_{partner_id}_{figure}")
    }

    // ---- Loyalty, added by the loyalty capability ----
    /// Net points of administrators' corrections (credits minus debits).
    pub const LOYALTY_ADJUSTED: &str = "loyalty_adjusted";
    /// Refunded purchases, points they took back (accrued cashback, net of what the
    /// member had already spent) and points they returned (paid with on the purchase).
    pub const LOYALTY_REFUNDS: &str = "loyalty_refunds";
    pub const LOYALTY_REFUND_CLAWBACK: &str = "loyalty_refund_clawback";
    pub const LOYALTY_REFUND_RETURNED: &str = "loyalty_refund_returned";
    /// Tenant-wide NPS: responses, sum of scores, promoters (9-10), detractors (0-6).
    pub const LOYALTY_NPS_COUNT: &str = "loyalty_nps_count";
    pub const LOYALTY_NPS_SUM: &str = "loyalty_nps_sum";
    pub const LOYALTY_NPS_PROMOTERS: &str = "loyalty_nps_promoters";
    pub const LOYALTY_NPS_DETRACTORS: &str = "loyalty_nps_detractors";
    /// Per-partner figure (with [`partner`]): customers whose first operation at the
    /// partner happened that day; summed over days it is the partner's distinct clients.
    pub const PARTNER_CLIENTS_NEW: &str = "clients_new";
    // ---- end of loyalty additions ----

    // ---- Orders and payments (functions/orders), written in the transaction of the
    // transition they count, so reports always agree with the orders ----
    /// Orders placed (`draft → placed`).
    pub const ORDERS_PLACED: &str = "orders_placed";
    /// Orders paid (first accepted charge), their money and their units.
    pub const ORDERS_PAID: &str = "orders_paid";
    /// Money received, in minor units of `orders.currency` (a second charge included).
    pub const ORDERS_REVENUE_MINOR: &str = "orders_revenue_minor";
    pub const ORDERS_CANCELED: &str = "orders_canceled";
    pub const ORDERS_EXPIRED: &str = "orders_expired";
    pub const ORDERS_FULFILLED: &str = "orders_fulfilled";
    pub const ORDERS_DELIVERED: &str = "orders_delivered";
    /// Charges for an order already paid (the second press of a Pay button).
    pub const ORDERS_OVERPAID: &str = "orders_overpaid";
    /// Payments whose amount or currency did not match (never marked paid).
    pub const ORDERS_PAYMENT_MISMATCH: &str = "orders_payment_mismatch";
    pub const ORDERS_PAYMENT_FAILED: &str = "orders_payment_failed";
    /// Refunds and the money they returned.
    pub const ORDERS_REFUNDS: &str = "orders_refunds";
    pub const ORDERS_REFUNDED_MINOR: &str = "orders_refunded_minor";
    /// Payment events naming an order this tenant does not have (answered 200).
    pub const PAYMENTS_UNKNOWN_ORDER: &str = "payments_unknown_order";
    /// Charges and money by provider: `orders_paid_{provider}`, `orders_revenue_{provider}_minor`.
    pub fn orders_paid_by(provider: &str) -> String {
        format!("orders_paid_{provider}")
    }
    pub fn orders_revenue_by(provider: &str) -> String {
        format!("orders_revenue_{provider}_minor")
    }
    pub const SKU_REVENUE_PREFIX: &str = "sku_rev_";
    pub const SKU_UNITS_PREFIX: &str = "sku_units_";
    /// Revenue and units of one SKU in paid orders (`sku_rev_{sku}`, `sku_units_{sku}`);
    /// the SKU is kept to 64 characters of `[A-Za-z0-9._-]` (others become `_`).
    pub fn sku_revenue(sku: &str) -> String {
        format!("{SKU_REVENUE_PREFIX}{}", sku_token(sku))
    }
    pub fn sku_units(sku: &str) -> String {
        format!("{SKU_UNITS_PREFIX}{}", sku_token(sku))
    }
    fn sku_token(sku: &str) -> String {
        sku.chars()
            .take(64)
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
    // ---- end of orders ----

    // Notifications (notifier).
    pub const NOTICES_SENT: &str = "notices_sent";
    /// Recipients Telegram refused for good (bot blocked, chat not found).
    pub const NOTICES_UNDELIVERABLE: &str = "notices_undeliverable";
}

/// Which periods an event opens for one subject, given the subject's previous event.
/// Drives the `_d`/`_w`/`_m` "first of the period" counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirstOf {
    pub day: bool,
    pub week: bool,
    pub month: bool,
}

impl FirstOf {
    pub fn between(timezone: &str, previous_ms: Option<i64>, now_ms: i64) -> Self {
        let Some(previous_ms) = previous_ms else {
            return Self {
                day: true,
                week: true,
                month: true,
            };
        };
        let tz = jiff::tz::TimeZone::get(timezone).unwrap_or(jiff::tz::TimeZone::UTC);
        let date = |ms: i64| {
            jiff::Timestamp::from_millisecond(ms)
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
                .to_zoned(tz.clone())
                .date()
        };
        let (a, b) = (date(previous_ms), date(now_ms));
        let (wa, wb) = (a.iso_week_date(), b.iso_week_date());
        Self {
            day: a != b,
            week: (wa.year(), wa.week()) != (wb.year(), wb.week()),
            month: (a.year(), a.month()) != (b.year(), b.month()),
        }
    }

    /// Adds 1 to each of the three metrics whose period this event opens.
    pub fn count(self, delta: &mut CounterDelta, day: &str, week: &str, month: &str) {
        for (opens, metric) in [(self.day, day), (self.week, week), (self.month, month)] {
            if opens {
                delta.add(metric, 1);
            }
        }
    }
}

/// Deltas for many tenant-days, flushed with one UpdateItem per tenant-day: handlers
/// collect a whole batch here and write once at the end.
#[derive(Clone, Debug, Default)]
pub struct CounterBatch {
    pub days: BTreeMap<(TenantId, String), CounterDelta>,
}

impl CounterBatch {
    pub fn day(&mut self, tenant: &TenantId, day: &str) -> &mut CounterDelta {
        self.days
            .entry((tenant.clone(), day.to_owned()))
            .or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.days.values().all(CounterDelta::is_empty)
    }

    /// Applies every delta. `seed` spreads concurrent writers over the shards.
    pub async fn flush(
        &self,
        client: &aws_sdk_dynamodb::Client,
        table: &str,
        seed: u64,
    ) -> Result<(), StoreError> {
        for ((tenant, day), delta) in &self.days {
            apply(client, table, tenant, day, seed, delta).await?;
        }
        Ok(())
    }
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

impl CounterDelta {
    /// The delta as a plan step (`ADD` on one shard of the tenant-day), for writes that
    /// must be atomic with their counters. `seed` spreads writers over shards.
    pub fn plan_update(&self, tenant: &TenantId, day: &str, seed: u64) -> crate::plan::Update {
        let key = keys::daily_stats(tenant, day, shard_for(seed));
        self.metrics
            .iter()
            .fold(crate::plan::Update::new(key), |u, (metric, n)| {
                u.add(metric, *n)
            })
    }
}

/// Where batches of counter deltas go (one write per tenant-day).
#[async_trait::async_trait]
pub trait CounterSink: Send + Sync {
    async fn flush(&self, batch: &CounterBatch, seed: u64) -> Result<(), StoreError>;
}

/// The counters in the single table.
pub struct DynamoCounters {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoCounters {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

#[async_trait::async_trait]
impl CounterSink for DynamoCounters {
    async fn flush(&self, batch: &CounterBatch, seed: u64) -> Result<(), StoreError> {
        batch.flush(&self.client, &self.table, seed).await
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
        .map_err(|e| StoreError::Unavailable(format!("counter update: {e}")))
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
        .map_err(|e| {
            StoreError::Unavailable(format!("counter update: {}", DisplayErrorContext(&e)))
        })?;
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
        .map_err(|e| {
            StoreError::Unavailable(format!("counter read: {}", DisplayErrorContext(&e)))
        })?;
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

// ---- Range reads (reports) ----------------------------------------------------------
// A report reads weeks of days at once: one BatchGetItem fetches up to 100 day×shard
// keys, so a month with its comparison month is 3 calls instead of 62 Queries.

/// Most keys one BatchGetItem takes.
const BATCH_GET_MAX_KEYS: usize = 100;

/// Counters of many tenant-days, summed over shards: `ceil(days × SHARDS / 100)`
/// BatchGetItems, sent concurrently, each through [`crate::dynamo::batch_get`] (which
/// asks again for unprocessed keys and fails rather than return part of them). Days
/// without counters map to an empty set, so every requested day is in the result.
pub async fn read_days(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    tenant: &TenantId,
    days: &[String],
) -> Result<BTreeMap<String, BTreeMap<String, i64>>, StoreError> {
    let mut sums: BTreeMap<String, BTreeMap<String, i64>> = days
        .iter()
        .map(|day| (day.clone(), BTreeMap::new()))
        .collect();
    let keys: Vec<crate::plan::Key> = sums
        .keys()
        .flat_map(|day| (0..SHARDS).map(move |shard| keys::daily_stats(tenant, day, shard)))
        .collect();
    let day_of_pk: HashMap<String, String> = sums
        .keys()
        .map(|day| (keys::daily_stats(tenant, day, 0).0, day.clone()))
        .collect();
    let reads = futures_util::future::try_join_all(
        keys.chunks(BATCH_GET_MAX_KEYS)
            .map(|chunk| crate::dynamo::batch_get(client, table, chunk, false)),
    )
    .await?;
    for ((pk, _), item) in reads.into_iter().flat_map(crate::dynamo::Reads::into_items) {
        let Some(day) = day_of_pk.get(&pk) else {
            continue;
        };
        let day_sums = sums.entry(day.clone()).or_default();
        for (name, value) in item {
            if name == "PK" || name == "SK" {
                continue;
            }
            if let Ok(n) = value.as_n() {
                *day_sums.entry(name).or_default() += n.parse::<i64>().unwrap_or(0);
            }
        }
    }
    Ok(sums)
}

// ---- end of range reads -------------------------------------------------------------

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

    #[test]
    fn latency_buckets_are_inclusive_upper_bounds() {
        assert_eq!(metric::latency_bucket(0), "latency_le_250");
        assert_eq!(metric::latency_bucket(250), "latency_le_250");
        assert_eq!(metric::latency_bucket(251), "latency_le_500");
        assert_eq!(metric::latency_bucket(60_001), metric::LATENCY_OVERFLOW);
    }

    #[test]
    fn first_of_follows_the_zone_and_iso_weeks() {
        let hour = 3_600_000;
        // 2026-11-29 is a Sunday; 19:30 UTC on it is already Monday 00:30 in Almaty (UTC+5).
        let sunday_evening_utc = 1_795_980_600_000;
        let first = FirstOf::between(
            "Asia/Almaty",
            Some(sunday_evening_utc - hour),
            sunday_evening_utc,
        );
        assert_eq!(
            first,
            FirstOf {
                day: true,
                week: true,
                month: false
            }
        );
        let same = FirstOf::between("UTC", Some(sunday_evening_utc - hour), sunday_evening_utc);
        assert_eq!(
            same,
            FirstOf {
                day: false,
                week: false,
                month: false
            }
        );
        let never = FirstOf::between("UTC", None, sunday_evening_utc);
        assert_eq!(
            never,
            FirstOf {
                day: true,
                week: true,
                month: true
            }
        );
    }
}
