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
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_smithy_types::error::display::DisplayErrorContext;
use jiff::{SignedDuration, Timestamp};
use lambda_runtime::LambdaEvent;
use sauda_shared::config::{required, ConfigError, CoreConfig};
use sauda_shared::envelope::Envelope;
use sauda_shared::keys;
use sauda_shared::tenant::{RegistryEntry, TenantStatus};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tracing::info;

/// SendMessageBatch takes at most 10 entries.
const SQS_BATCH: usize = 10;

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

pub struct PlannerDeps {
    pub dynamo: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub table: String,
    pub reports_queue_url: String,
    /// SendMessageBatch calls in flight at once.
    pub concurrency: usize,
}

impl PlannerDeps {
    pub fn new(clients: &sauda_shared::aws::AwsClients, config: &PlannerConfig) -> Self {
        Self {
            dynamo: clients.dynamo.clone(),
            sqs: clients.sqs.clone(),
            table: config.core.table_name.clone(),
            reports_queue_url: config.reports_queue_url.clone(),
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
    let mut start_key = None;
    let mut sends = tokio::task::JoinSet::new();
    loop {
        let page = deps
            .dynamo
            .query()
            .table_name(&deps.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :sk)")
            .expression_attribute_values(":pk", AttributeValue::S(keys::PLATFORM_PK.into()))
            .expression_attribute_values(":sk", AttributeValue::S("TENANT#".into()))
            .set_exclusive_start_key(start_key.take())
            .send()
            .await
            .map_err(|e| PlanError::Registry(DisplayErrorContext(&e).to_string()))?;
        let mut bodies = Vec::new();
        for item in page.items() {
            let Ok(entry) = serde_dynamo::from_item::<_, RegistryEntry>(item.clone()) else {
                tracing::warn!(sk = ?item.get("SK"), "malformed registry entry skipped");
                continue;
            };
            summary.tenants += 1;
            for period in due_periods(&entry, at, window) {
                bodies.push(Envelope::report(entry.tenant.clone(), period.to_string()).to_json());
            }
        }
        summary.jobs += bodies.len();
        for chunk in bodies.chunks(SQS_BATCH) {
            while sends.len() >= deps.concurrency.max(1) {
                join_one(&mut sends).await?;
            }
            summary.batches += 1;
            sends.spawn(send_batch(
                deps.sqs.clone(),
                deps.reports_queue_url.clone(),
                chunk.to_vec(),
            ));
        }
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start_key = Some(key),
            _ => break,
        }
    }
    while !sends.is_empty() {
        join_one(&mut sends).await?;
    }
    info!(at = %at, tenants = summary.tenants, jobs = summary.jobs, "report jobs planned");
    Ok(summary)
}

async fn join_one(
    sends: &mut tokio::task::JoinSet<Result<(), PlanError>>,
) -> Result<(), PlanError> {
    match sends.join_next().await {
        Some(joined) => joined.map_err(|e| PlanError::Queue(e.to_string()))?,
        None => Ok(()),
    }
}

/// One SendMessageBatch; entries SQS reports as failed are retried with backoff.
async fn send_batch(
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    bodies: Vec<String>,
) -> Result<(), PlanError> {
    let mut pending: Vec<(usize, String)> = bodies.into_iter().enumerate().collect();
    for attempt in 0..5u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
        }
        let entries = pending
            .iter()
            .map(|(i, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
                    .map_err(|e| PlanError::Queue(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = sqs
            .send_message_batch()
            .queue_url(&queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| PlanError::Queue(DisplayErrorContext(&e).to_string()))?;
        let failed: std::collections::HashSet<&str> = out.failed().iter().map(|f| f.id()).collect();
        pending.retain(|(i, _)| failed.contains(i.to_string().as_str()));
        if pending.is_empty() {
            return Ok(());
        }
    }
    Err(PlanError::Queue(format!(
        "{} report jobs could not be queued",
        pending.len()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sauda_shared::tenant::ReportPeriodKind;
    use sauda_shared::TenantId;

    fn entry(zone: &str, kinds: Vec<ReportPeriodKind>) -> RegistryEntry {
        let tenant = TenantId::parse("acme").unwrap();
        let (pk, sk) = keys::tenant_registry(&tenant);
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
        let mut newborn = e;
        newborn.created_at_ms = at.as_millisecond() - 60_000;
        assert!(due_periods(&newborn, at, SignedDuration::from_hours(1)).is_empty());
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
