//! Monthly AI usage per tenant (`keys::ai_usage(t, "yyyy-mm")`): tokens, cost and
//! calls, for the budget; and which notices to managers went out that month.
//!
//! Replies add to an in-memory tally; the batch flushes it with one `ADD` per
//! tenant-month whose answer is the month's total across all instances, which
//! refreshes the cache for free. The total is read again only when an instance has
//! not seen it for a minute. Concurrent instances can therefore overshoot a budget by
//! the replies of about one minute: a bounded, documented slack in exchange for no
//! extra write per reply and no hot item inside the reply transactions.

use crate::store::{MonthUsage, UsageStore};
use sauda_shared::keys;
use sauda_shared::plan::{Cond, Update};
use sauda_shared::ports::StoreError;
use sauda_shared::tenant::{ModelPrice, TenantConfig};
use sauda_shared::TenantId;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

type Key = (TenantId, String);

/// A notice to managers sent at most once per tenant-month, remembered on the usage item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Marker {
    /// The month's AI budget is spent.
    Budget,
    /// 80 % of the month's AI budget is spent.
    BudgetNearly,
    /// The tenant chose its own model URL but stored no key of its own.
    LlmKeyMissing,
    /// The tenant's model URL is refused by the outbound policy.
    LlmUrlRefused,
}

impl Marker {
    pub const ALL: [Marker; 4] = [
        Marker::Budget,
        Marker::BudgetNearly,
        Marker::LlmKeyMissing,
        Marker::LlmUrlRefused,
    ];

    /// The notice's id is `{prefix}:{month}`.
    pub fn notice_prefix(self) -> &'static str {
        match self {
            Marker::Budget => "budget",
            Marker::BudgetNearly => "budget_80",
            Marker::LlmKeyMissing => "llm_key",
            Marker::LlmUrlRefused => "llm_url",
        }
    }

    /// The attribute on the usage item (when the notice went out, epoch ms).
    pub fn attribute(self) -> &'static str {
        match self {
            Marker::Budget => "budget_notified_ms",
            Marker::BudgetNearly => "budget_80_notified_ms",
            Marker::LlmKeyMissing => "llm_key_notified_ms",
            Marker::LlmUrlRefused => "llm_url_notified_ms",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_micros: i64,
    pub calls: i64,
}

impl Tally {
    fn absorb(&mut self, other: &Tally) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.cost_micros += other.cost_micros;
        self.calls += other.calls;
    }
}

/// The write that adds a tally to the month's item.
pub fn add_update(tenant: &TenantId, month: &str, tally: &Tally, now_ms: i64) -> Update {
    Update::new(keys::ai_usage(tenant, month))
        .add("prompt_tokens", tally.prompt_tokens)
        .add("completion_tokens", tally.completion_tokens)
        .add("cost_micros", tally.cost_micros)
        .add("calls", tally.calls)
        .set("updated_at_ms", now_ms)
}

/// The write that records a notice, only if no one recorded it before.
pub fn mark_update(tenant: &TenantId, month: &str, marker: Marker, now_ms: i64) -> Update {
    Update::new(keys::ai_usage(tenant, month))
        .set(marker.attribute(), now_ms)
        .when(Cond::absent(marker.attribute()))
}

/// Cost in USD micros, rounded up: a price is per million tokens.
pub fn cost_micros(price: &ModelPrice, prompt_tokens: i64, completion_tokens: i64) -> i64 {
    let total = i128::from(prompt_tokens) * i128::from(price.prompt_per_mtok_micros)
        + i128::from(completion_tokens) * i128::from(price.completion_per_mtok_micros);
    i64::try_from((total + 999_999) / 1_000_000).unwrap_or(i64::MAX)
}

/// A model's price: the tenant's list, then the platform's, by exact name, by the name
/// without a vendor prefix (`openai/gpt-4o-mini`), then by family (dated snapshots such
/// as `gpt-4o-mini-2024-07-18` cost what their family costs). Unknown: zero, logged.
pub fn price_of(
    tenant: &BTreeMap<String, ModelPrice>,
    platform: &BTreeMap<String, ModelPrice>,
    model: &str,
) -> ModelPrice {
    let bare = model.rsplit('/').next().unwrap_or(model);
    for name in [model, bare] {
        if let Some(p) = tenant.get(name).or_else(|| platform.get(name)) {
            return *p;
        }
    }
    if let Some((_, p)) = platform
        .iter()
        .filter(|(k, _)| bare.starts_with(k.as_str()))
        .max_by_key(|(k, _)| k.len())
    {
        return *p;
    }
    tracing::warn!(
        model,
        "no price for this model: usage is recorded at zero cost"
    );
    ModelPrice::default()
}

/// The tenant-local month (`yyyy-mm`) of an instant: budgets follow the tenant's calendar.
pub fn month_of(config: &TenantConfig, ts_ms: i64) -> String {
    let ts = jiff::Timestamp::from_millisecond(ts_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    ts.to_zoned(config.zone()).strftime("%Y-%m").to_string()
}

#[derive(Clone, Copy, Debug)]
struct Known {
    cost_micros: i64,
    at: Instant,
}

pub struct UsageTracker {
    store: Arc<dyn UsageStore>,
    ttl: Duration,
    known: Mutex<HashMap<Key, Known>>,
    pending: Mutex<HashMap<Key, Tally>>,
    /// Notices known to be sent: a marker, once set, stays for the month.
    notified: Mutex<HashSet<(Key, Marker)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl UsageTracker {
    pub const TTL: Duration = Duration::from_secs(60);

    pub fn new(store: Arc<dyn UsageStore>) -> Self {
        Self {
            store,
            ttl: Self::TTL,
            known: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            notified: Mutex::new(HashSet::new()),
        }
    }

    fn remember(&self, key: &Key, usage: &MonthUsage) {
        let pending = lock(&self.pending).get(key).map_or(0, |t| t.cost_micros);
        lock(&self.known).insert(
            key.clone(),
            Known {
                cost_micros: usage.cost_micros + pending,
                at: Instant::now(),
            },
        );
        let mut notified = lock(&self.notified);
        for marker in &usage.notified {
            notified.insert((key.clone(), *marker));
        }
    }

    fn fresh(&self, key: &Key) -> Option<Known> {
        lock(&self.known)
            .get(key)
            .copied()
            .filter(|k| k.at.elapsed() < self.ttl)
    }

    async fn refresh(&self, key: &Key) -> Result<i64, StoreError> {
        let usage = self.store.read(&key.0, &key.1).await?;
        self.remember(key, &usage);
        Ok(self.fresh(key).map_or(usage.cost_micros, |k| k.cost_micros))
    }

    /// The month's spend (USD micros), this instance's unflushed spend included.
    /// Cached for a minute.
    pub async fn spent(&self, tenant: &TenantId, month: &str) -> Result<i64, StoreError> {
        let key = (tenant.clone(), month.to_owned());
        match self.fresh(&key) {
            Some(k) => Ok(k.cost_micros),
            None => self.refresh(&key).await,
        }
    }

    /// Whether the month's notice of this kind went out (read at most once a minute
    /// until it has).
    pub async fn notified(
        &self,
        tenant: &TenantId,
        month: &str,
        marker: Marker,
    ) -> Result<bool, StoreError> {
        let key = (tenant.clone(), month.to_owned());
        let seen = |this: &Self| lock(&this.notified).contains(&(key.clone(), marker));
        if seen(self) {
            return Ok(true);
        }
        if self.fresh(&key).is_none() {
            self.refresh(&key).await?;
        }
        Ok(seen(self))
    }

    /// Records that the notice went out. `true` for the one caller that marks it first.
    pub async fn mark(
        &self,
        tenant: &TenantId,
        month: &str,
        marker: Marker,
    ) -> Result<bool, StoreError> {
        let first = self
            .store
            .mark(tenant, month, marker, sauda_shared::now_ms())
            .await?;
        lock(&self.notified).insert(((tenant.clone(), month.to_owned()), marker));
        Ok(first)
    }

    /// Adds one reply's usage to the tally flushed at the end of the batch.
    pub fn record(&self, tenant: &TenantId, month: &str, tally: Tally) {
        let key = (tenant.clone(), month.to_owned());
        lock(&self.pending)
            .entry(key.clone())
            .or_default()
            .absorb(&tally);
        if let Some(k) = lock(&self.known).get_mut(&key) {
            k.cost_micros += tally.cost_micros;
        }
    }

    /// Writes the tallies (one write per tenant-month) and refreshes the cache from
    /// the totals the store answers with. A failed tally is kept for the next batch.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let pending: Vec<(Key, Tally)> = lock(&self.pending).drain().collect();
        let mut first_error = None;
        for (key, tally) in pending {
            match self
                .store
                .add(&key.0, &key.1, &tally, sauda_shared::now_ms())
                .await
            {
                Ok(total) => self.remember(&key, &total),
                Err(e) => {
                    lock(&self.pending).entry(key).or_default().absorb(&tally);
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryUsage;

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

    #[test]
    fn prices_by_name_vendor_prefix_and_family() {
        let p = |n: i64| ModelPrice {
            prompt_per_mtok_micros: n,
            completion_per_mtok_micros: n,
        };
        let platform = BTreeMap::from([
            ("gpt-4o".to_owned(), p(2)),
            ("gpt-4o-mini".to_owned(), p(1)),
        ]);
        let tenant = BTreeMap::from([("gpt-4o".to_owned(), p(9))]);
        assert_eq!(
            price_of(&tenant, &platform, "gpt-4o"),
            p(9),
            "the tenant's own price wins"
        );
        assert_eq!(price_of(&tenant, &platform, "openai/gpt-4o-mini"), p(1));
        assert_eq!(
            price_of(&tenant, &platform, "gpt-4o-mini-2024-07-18"),
            p(1),
            "longest family"
        );
        assert_eq!(
            price_of(&tenant, &platform, "llama3"),
            ModelPrice::default()
        );
    }

    #[tokio::test]
    async fn spend_is_cached_counts_unflushed_tallies_and_markers_stick() {
        let store = Arc::new(MemoryUsage::default());
        let tracker = UsageTracker::new(store.clone());
        let t = TenantId::parse("acme").unwrap();
        assert_eq!(tracker.spent(&t, "2026-11").await.unwrap(), 0);
        let tally = Tally {
            cost_micros: 70,
            calls: 1,
            ..Default::default()
        };
        tracker.record(&t, "2026-11", tally);
        assert_eq!(
            tracker.spent(&t, "2026-11").await.unwrap(),
            70,
            "own spend at once"
        );
        tracker.flush().await.unwrap();
        assert_eq!(tracker.spent(&t, "2026-11").await.unwrap(), 70);
        assert_eq!(store.reads(), 1, "the flush's answer refreshed the cache");

        assert!(!tracker
            .notified(&t, "2026-11", Marker::Budget)
            .await
            .unwrap());
        assert!(tracker.mark(&t, "2026-11", Marker::Budget).await.unwrap());
        assert!(
            !tracker.mark(&t, "2026-11", Marker::Budget).await.unwrap(),
            "only once"
        );
        assert!(tracker
            .notified(&t, "2026-11", Marker::Budget)
            .await
            .unwrap());
        assert!(!tracker
            .notified(&t, "2026-11", Marker::LlmKeyMissing)
            .await
            .unwrap());
        assert_eq!(store.reads(), 1);
        let other = UsageTracker::new(store.clone());
        assert!(
            other.notified(&t, "2026-11", Marker::Budget).await.unwrap(),
            "another instance learns it from the store"
        );
    }
}
