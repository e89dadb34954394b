//! Points expiry (a tenant rule, off by default: `loyalty.expiry_days`).
//!
//! Points credited on tenant-local day `d` expire on `d + expiry_days`. Debits consume
//! the oldest credits first, so what is left of old credits follows from the account's
//! totals ([`Ledger::expire_through`](crate::domain::Ledger::expire_through)), no entry
//! scan needed. Accounts that hold points sit in GSI1 under their oldest credit day, so
//! a run reads exactly the accounts with something due. Each expiry is one transaction
//! (account at its read `rev`, an `expire` entry, the day's counter); a second run the
//! same day finds nothing left to expire, so runs are idempotent by construction.

use crate::domain;
use crate::error::LoyaltyError;
use crate::model::{account_key, Account, EntryKind, Key};
use crate::ops::{account_write, apply_ledger, push_counters, push_entry, EntryDraft, Writes};
use crate::store::{self, LoyaltyStore, Plan, Planner};
use async_trait::async_trait;
use http::StatusCode;
use sauda_shared::dynamo::Reads;
use sauda_shared::i18n::{loyalty as texts, Lang};
use sauda_shared::ports::TenantDirectory;
use sauda_shared::stats::{self, metric, CounterDelta};
use sauda_shared::tenant::{TenantConfig, TenantStatus};
use sauda_shared::TenantId;
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;
use tokio::task::JoinSet;

/// Accounts expired concurrently within one tenant.
const PARALLEL_ACCOUNTS: usize = 8;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TenantExpiry {
    pub tenant: String,
    /// Tenant-local day of the run.
    pub today: String,
    /// Credits made on or before this day expired.
    pub last_expired_day: String,
    pub accounts_checked: usize,
    pub accounts_expired: usize,
    pub points_expired: i64,
    pub skipped: Option<String>,
}

/// Expires one account's due points; a no-op when nothing is due.
struct ExpireAccount<'a> {
    tenant: &'a TenantId,
    config: &'a TenantConfig,
    contact: &'a str,
    last_expired_day: &'a str,
}

#[async_trait]
impl Planner for ExpireAccount<'_> {
    fn keys(&self) -> Vec<Key> {
        vec![account_key(self.tenant, self.contact)]
    }

    async fn plan(
        &self,
        _: &dyn LoyaltyStore,
        reads: &mut Reads,
        now_ms: i64,
    ) -> Result<Plan, LoyaltyError> {
        let Some(account) = reads.get::<Account>(&account_key(self.tenant, self.contact))? else {
            return Ok(Plan::answer(json!({"expired": 0})));
        };
        let mut ledger = account.ledger();
        let due = ledger.expire_through(self.last_expired_day)?;
        let mut after = account.clone();
        apply_ledger(self.tenant, &mut after, ledger, now_ms)?;
        if due == 0 {
            // Nothing due: only repair a stale index entry, without a new revision.
            if after.gsi1sk == account.gsi1sk {
                return Ok(Plan::answer(json!({"expired": 0})));
            }
        }
        let mut writes = Writes::new();
        writes.update(account_write(&account, &after)?);
        if due > 0 {
            let lang = Lang::pick(None, &self.config.default_language);
            let reason = texts::REASON_EXPIRED.render(lang, &[("day", &self.last_expired_day)]);
            let entry = EntryDraft::plain(EntryKind::Expire, -due, reason).build(
                self.tenant,
                &after,
                now_ms,
            );
            push_entry(&mut writes, &entry);
            let day = stats::local_day(&self.config.timezone, now_ms);
            let mut delta = CounterDelta::default();
            delta.add(metric::LOYALTY_EXPIRED, due);
            push_counters(&mut writes, self.tenant, &day, &delta);
        }
        Ok(Plan::new(writes, StatusCode::OK, json!({"expired": due})))
    }
}

/// Runs expiry for one tenant as of `now_ms` (its local day).
pub async fn expire_tenant(
    store: &Arc<dyn LoyaltyStore>,
    config: &TenantConfig,
    now_ms: i64,
) -> Result<TenantExpiry, LoyaltyError> {
    let tenant = &config.tenant;
    let today = stats::local_day(&config.timezone, now_ms);
    let mut report = TenantExpiry {
        tenant: tenant.to_string(),
        today: today.clone(),
        ..Default::default()
    };
    let days = match (config.loyalty.enabled, config.loyalty.expiry_days) {
        (true, Some(days)) => days,
        (false, _) => {
            report.skipped = Some("loyalty is not enabled".into());
            return Ok(report);
        }
        (true, None) => {
            report.skipped = Some("expiry is off (loyalty.expiry_days)".into());
            return Ok(report);
        }
    };
    let last = domain::last_expired_day(&today, days)
        .ok_or_else(|| LoyaltyError::Internal(format!("bad day {today}")))?;
    let bound = domain::next_day(&last).unwrap_or_else(|| last.clone());
    report.last_expired_day = last.clone();

    let due = store.accounts_due(tenant, &bound).await?;
    report.accounts_checked = due.len();
    let config = Arc::new(config.clone());
    let last = Arc::new(last);
    let mut running: JoinSet<Result<i64, LoyaltyError>> = JoinSet::new();
    for contact in due {
        while running.len() >= PARALLEL_ACCOUNTS {
            collect(running.join_next().await, &mut report)?;
        }
        let (store, config, last) = (store.clone(), config.clone(), last.clone());
        running.spawn(async move {
            let planner = ExpireAccount {
                tenant: &config.tenant,
                config: &config,
                contact: &contact,
                last_expired_day: &last,
            };
            let outcome =
                store::execute(store.as_ref(), None, None, &config.tenant, &planner).await?;
            Ok(outcome.body["expired"].as_i64().unwrap_or(0))
        });
    }
    while let Some(done) = running.join_next().await {
        collect(Some(done), &mut report)?;
    }
    Ok(report)
}

fn collect(
    done: Option<Result<Result<i64, LoyaltyError>, tokio::task::JoinError>>,
    report: &mut TenantExpiry,
) -> Result<(), LoyaltyError> {
    match done {
        None => Ok(()),
        Some(Ok(Ok(points))) => {
            if points > 0 {
                report.accounts_expired += 1;
                // A report total across accounts: saturates rather than wraps.
                report.points_expired = report.points_expired.saturating_add(points);
            }
            Ok(())
        }
        Some(Ok(Err(e))) => Err(e),
        Some(Err(e)) => Err(LoyaltyError::Internal(format!("expiry task: {e}"))),
    }
}

/// Active tenants whose registry entry has expiry on (one Query of the `PLATFORM` partition).
pub async fn tenants_with_expiry(store: &dyn LoyaltyStore) -> Result<Vec<TenantId>, LoyaltyError> {
    Ok(store
        .expiry_tenants()
        .await?
        .into_iter()
        .filter(|entry| entry.status == TenantStatus::Active)
        .map(|entry| entry.tenant)
        .collect())
}

/// One scheduled run over every tenant with expiry on. A tenant that fails does not stop
/// the others; the run reports it and fails as a whole so the scheduler retries (safe:
/// runs are idempotent).
pub async fn run_all(
    store: &Arc<dyn LoyaltyStore>,
    tenants: &dyn TenantDirectory,
    now_ms: i64,
) -> (Vec<TenantExpiry>, Vec<(String, LoyaltyError)>) {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    let ids = match tenants_with_expiry(store.as_ref()).await {
        Ok(ids) => ids,
        Err(e) => {
            failed.push(("*".to_owned(), e));
            return (done, failed);
        }
    };
    for tenant in ids {
        let config = match tenants.tenant(&tenant).await {
            Ok(Some(config)) => config,
            Ok(None) => continue,
            Err(e) => {
                failed.push((tenant.to_string(), e.into()));
                continue;
            }
        };
        match expire_tenant(store, &config, now_ms).await {
            Ok(report) => {
                tracing::info!(tenant = %tenant, accounts = report.accounts_expired, points = report.points_expired, "loyalty expiry done");
                done.push(report);
            }
            Err(e) => {
                let error = crate::error::scrub(&e.to_string());
                tracing::warn!(tenant = %tenant, %error, "loyalty expiry failed");
                failed.push((tenant.to_string(), e));
            }
        }
    }
    (done, failed)
}

/// What the scheduled job needs (built by `crate::ExpiryDeps::from_aws`).
pub struct ExpiryDeps {
    pub store: Arc<dyn LoyaltyStore>,
    pub tenants: Arc<dyn TenantDirectory>,
}

/// The schedule's input: `{}` runs every tenant with expiry on; `{"tenant": "t"}` one.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ExpiryEvent {
    #[serde(default)]
    pub tenant: Option<TenantId>,
}

/// The `loyalty-expiry` function's handler.
pub async fn handle(
    deps: &ExpiryDeps,
    event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let request: ExpiryEvent = match event.payload {
        serde_json::Value::Object(_) => serde_json::from_value(event.payload)?,
        _ => ExpiryEvent::default(),
    };
    let now_ms = deps.store.now_ms();
    let (done, failed) = match request.tenant {
        Some(tenant) => match deps.tenants.tenant(&tenant).await {
            Ok(Some(config)) => match expire_tenant(&deps.store, &config, now_ms).await {
                Ok(report) => (vec![report], Vec::new()),
                Err(e) => (Vec::new(), vec![(tenant.to_string(), e)]),
            },
            Ok(None) => (
                Vec::new(),
                vec![(
                    tenant.to_string(),
                    LoyaltyError::Internal("no such tenant".into()),
                )],
            ),
            Err(e) => (Vec::new(), vec![(tenant.to_string(), e.into())]),
        },
        None => run_all(&deps.store, deps.tenants.as_ref(), now_ms).await,
    };
    if !failed.is_empty() {
        // The runtime logs this error: scrubbed like every logged message.
        let summary: Vec<String> = failed
            .iter()
            .map(|(t, e)| format!("{t}: {}", crate::error::scrub(&e.to_string())))
            .collect();
        return Err(format!("loyalty expiry failed for {}", summary.join("; ")).into());
    }
    Ok(json!({"tenants": done}))
}
