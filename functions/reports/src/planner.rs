//! The report planner, fired hourly by EventBridge Scheduler: lists the tenants from
//! the registry partition (`PLATFORM`) and enqueues one `report` job per tenant and
//! period that closed, in the tenant's zone, within the last hour.
//!
//! It does no report work itself: per 1 MB registry page (thousands of tenants) it is
//! one Query plus one SendMessageBatch per 10 jobs, sent concurrently, so 10,000
//! tenants take seconds; the workers scale out on the queue. The window is anchored
//! on the schedule's own time (`scheduled_time`), so a retried invocation plans the
//! same window again rather than skipping or doubling one (duplicates are harmless
//! anyway: the worker is idempotent).

use crate::period::Period;
use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use lambda_runtime::LambdaEvent;
use sauda_shared::config::{required, ConfigError, CoreConfig};
use sauda_shared::envelope::Envelope;
use sauda_shared::ports::QueueError;
use sauda_shared::registry::{DynamoTenantRegistry, TenantRegistry};
use sauda_shared::tenant::{RegistryEntry, TenantStatus};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tracing::info;

#[derive(Clone, Debug)]
pub struct PlannerConfig {
    pub core: CoreConfig,
    pub reports_queue_url: String,
}

impl PlannerConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            core: CoreConfig::from_env()?,
            reports_queue_url: required("REPORTS_QUEUE_URL")?,
        })
    }
}

/// The reports queue, as the planner uses it: batches of job bodies.
#[async_trait]
pub trait ReportJobs: Send + Sync {
    /// How many bodies one [`ReportJobs::send`] takes.
    fn batch_size(&self) -> usize;
    /// Queues every body, or fails: a body never silently stays behind.
    async fn send(&self, bodies: Vec<String>) -> Result<(), QueueError>;
}

pub struct PlannerDeps {
    pub registry: Arc<dyn TenantRegistry>,
    pub jobs: Arc<dyn ReportJobs>,
    /// Batches in flight at once.
    pub concurrency: usize,
}

impl PlannerDeps {
    pub fn new(clients: &sauda_shared::aws::AwsClients, config: &PlannerConfig) -> Self {
        Self {
            registry: Arc::new(DynamoTenantRegistry::new(
                clients.dynamo.clone(),
                &config.core.table_name,
            )),
            jobs: Arc::new(crate::aws::SqsReportJobs::new(
                clients.sqs.clone(),
                &config.reports_queue_url,
            )),
            concurrency: 16,
        }
    }
}

/// The scheduler's input: `{"scheduled_time": "<aws.scheduler.scheduled-time>"}`.
/// Both fields are optional; an operator may widen the window to catch up.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PlanEvent {
    #[serde(default)]
    pub scheduled_time: Option<String>,
    #[serde(default)]
    pub window_hours: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PlanSummary {
    pub tenants: usize,
    pub jobs: usize,
    pub batches: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("registry: {0}")]
    Registry(String),
    #[error("reports queue: {0}")]
    Queue(String),
}

/// The periods of one tenant that closed in `(at - window, at]`.
pub fn due_periods(entry: &RegistryEntry, at: Timestamp, window: SignedDuration) -> Vec<Period> {
    if entry.status != TenantStatus::Active {
        return Vec::new();
    }
    let tz = jiff::tz::TimeZone::get(&entry.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    let created = Timestamp::from_millisecond(entry.created_at_ms).unwrap_or(Timestamp::UNIX_EPOCH);
    let mut kinds = entry.report_periods.clone();
    kinds.sort();
    kinds.dedup();
    kinds
        .into_iter()
        .flat_map(|kind| Period::ended_within(kind, &tz, at, window))
        // A tenant created after a period ended has nothing to report for it.
        .filter(|p| p.end(&tz) > created)
        .collect()
}

impl PlanEvent {
    /// The window's end and length. A `scheduled_time` that is not an RFC 3339 instant
    /// (e.g. the literal `<aws.scheduler.scheduled-time>` when a local runner does not
    /// substitute it) falls back to now with a warning: a late report beats none.
    pub fn resolve(&self, now: Timestamp) -> (Timestamp, SignedDuration) {
        let at = match self.scheduled_time.as_deref().filter(|s| !s.is_empty()) {
            Some(raw) => raw.parse::<Timestamp>().unwrap_or_else(|e| {
                tracing::warn!(scheduled_time = raw, error = %e, "not an instant; planning for now");
                now
            }),
            None => now,
        };
        let hours = self.window_hours.unwrap_or(1).clamp(1, 24 * 40);
        (at, SignedDuration::from_hours(i64::from(hours)))
    }
}

pub async fn handle(
    deps: &PlannerDeps,
    event: LambdaEvent<serde_json::Value>,
) -> Result<PlanSummary, lambda_runtime::Error> {
    // EventBridge Scheduler sends the Input as is; an empty or foreign payload means "now".
    let input: PlanEvent = serde_json::from_value(event.payload).unwrap_or_default();
    let (at, window) = input.resolve(Timestamp::now());
    Ok(plan(deps, at, window).await?)
}

/// Lists every tenant and enqueues its due report jobs.
pub async fn plan(
    deps: &PlannerDeps,
    at: Timestamp,
    window: SignedDuration,
) -> Result<PlanSummary, PlanError> {
    let mut summary = PlanSummary::default();
    let mut after: Option<String> = None;
    let mut sends = tokio::task::JoinSet::new();
    let batch = deps.jobs.batch_size().max(1);
    loop {
        let page = deps
            .registry
            .page(after.as_deref())
            .await
            .map_err(|e| PlanError::Registry(e.to_string()))?;
        let mut bodies = Vec::new();
        for entry in &page.entries {
            summary.tenants += 1;
            for period in due_periods(entry, at, window) {
                bodies.push(Envelope::report(entry.tenant.clone(), period.to_string()).to_json());
            }
        }
        summary.jobs += bodies.len();
        for chunk in bodies.chunks(batch) {
            while sends.len() >= deps.concurrency.max(1) {
                join_one(&mut sends).await?;
            }
            summary.batches += 1;
            let (jobs, chunk) = (deps.jobs.clone(), chunk.to_vec());
            sends.spawn(async move { jobs.send(chunk).await });
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    while !sends.is_empty() {
        join_one(&mut sends).await?;
    }
    info!(at = %at, tenants = summary.tenants, jobs = summary.jobs, "report jobs planned");
    Ok(summary)
}

async fn join_one(
    sends: &mut tokio::task::JoinSet<Result<(), QueueError>>,
) -> Result<(), PlanError> {
    match sends.join_next().await {
        Some(joined) => joined
            .map_err(|e| PlanError::Queue(e.to_string()))?
            .map_err(|e| PlanError::Queue(e.0)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sauda_shared::tenant::ReportPeriodKind;
    use sauda_shared::TenantId;

    fn entry(zone: &str, kinds: Vec<ReportPeriodKind>) -> RegistryEntry {
        let tenant = TenantId::parse("acme").unwrap();
        let (pk, sk) = sauda_shared::keys::tenant_registry(&tenant);
        RegistryEntry {
            pk,
            sk,
            tenant,
            status: TenantStatus::Active,
            timezone: zone.into(),
            report_periods: kinds,
            loyalty_expiry: false,
            created_at_ms: 0,
        }
    }

    #[test]
    fn month_end_in_the_tenant_zone() {
        use ReportPeriodKind::*;
        let e = entry("Asia/Almaty", vec![Monthly, Daily, Weekly, Daily]);
        let at: Timestamp = "2026-11-30T19:05:00Z".parse().unwrap();
        let due: Vec<String> = due_periods(&e, at, SignedDuration::from_hours(1))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(due, ["2026-11-30", "2026-11"]);
        let mut suspended = e.clone();
        suspended.status = TenantStatus::Suspended;
        assert!(due_periods(&suspended, at, SignedDuration::from_hours(1)).is_empty());
        let mut newborn = e.clone();
        newborn.created_at_ms = at.as_millisecond() - 60_000;
        assert!(due_periods(&newborn, at, SignedDuration::from_hours(1)).is_empty());
        // Instants outside the years reports cover plan nothing (and never panic).
        for at in [Timestamp::MIN, Timestamp::MAX] {
            assert!(due_periods(&e, at, SignedDuration::from_hours(960)).is_empty());
        }
    }

    #[test]
    fn input_defaults_to_now_and_one_hour() {
        let now: Timestamp = "2026-11-30T19:05:00Z".parse().unwrap();
        let (at, w) = PlanEvent::default().resolve(now);
        assert_eq!((at, w), (now, SignedDuration::from_hours(1)));
        let event: PlanEvent = serde_json::from_value(
            serde_json::json!({"scheduled_time": "2026-11-01T00:05:00Z", "window_hours": 48}),
        )
        .unwrap();
        let (at, w) = event.resolve(now);
        assert_eq!(at.to_string(), "2026-11-01T00:05:00Z");
        assert_eq!(w, SignedDuration::from_hours(48));
        let unsubstituted = PlanEvent {
            scheduled_time: Some("<aws.scheduler.scheduled-time>".into()),
            window_hours: Some(0),
        };
        assert_eq!(
            unsubstituted.resolve(now),
            (now, SignedDuration::from_hours(1))
        );
    }
}
