//! `lead-worker`: one function for three triggers, told apart by the event's shape.
//!
//! - An SQS event (`Records`): `capture_lead` jobs from the `leads` queue (the agent's
//!   `capture_lead` tool, the sweep) and `crm_webhook` jobs from the `crm` queue.
//!   Records are independent (standard queues), so they are handled concurrently and
//!   failures are reported one by one (`ReportBatchItemFailures`).
//! - The schedule's input `{"kind":"sweep"}`: the quiet-contact sweep.

use crate::crm::{self, DeliveryError};
use crate::service;
use crate::sweep::{self, SweepInput};
use crate::validate;
use crate::Deps;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use sauda_shared::consumer::{self, receive_count, JobFailure, Ordering};
use sauda_shared::envelope::{Envelope, Job};
use sauda_shared::lead::LeadSubmission;
use sauda_shared::stats::{self, metric, CounterBatch};
use sauda_shared::TenantId;
use serde_json::Value;
use std::sync::Mutex;
use tracing::{info, warn};

/// Records handled at once: CRM calls wait on the network, captures on DynamoDB.
const CONCURRENCY: usize = 10;

pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    let payload = event.payload;
    if payload.get("Records").is_some() {
        let sqs: SqsEvent = serde_json::from_value(payload)?;
        return Ok(serde_json::to_value(handle_sqs(deps, sqs).await)?);
    }
    match serde_json::from_value::<SweepInput>(payload) {
        Ok(input) if input.kind == "sweep" => {
            let report = sweep::run(deps, input.tenant.as_ref(), sauda_shared::now_ms()).await?;
            Ok(serde_json::to_value(report)?)
        }
        _ => Err("lead-worker takes SQS events or {\"kind\":\"sweep\"}".into()),
    }
}

pub async fn handle_sqs(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    let counters = Mutex::new(CounterBatch::default());
    let response = consumer::process(
        deps.queue.as_ref(),
        event.records,
        Ordering::Concurrent(CONCURRENCY),
        |record| {
            let counters = &counters;
            async move { handle_record(deps, &record, counters).await }
        },
    )
    .await;
    let counters = counters.into_inner().unwrap_or_else(|p| p.into_inner());
    if !counters.is_empty() {
        let seed = sauda_shared::now_ms().unsigned_abs();
        if let Err(e) = deps.counters.flush(&counters, seed).await {
            // Counters are reporting aids; a lost increment must not redeliver webhooks.
            warn!(error = %e, "CRM counters not written");
        }
    }
    response
}

async fn handle_record(
    deps: &Deps,
    record: &SqsMessage,
    counters: &Mutex<CounterBatch>,
) -> Result<(), JobFailure> {
    let body = record.body.as_deref().unwrap_or_default();
    let envelope = Envelope::from_json(body).map_err(|e| JobFailure::Poison(e.to_string()))?;
    match envelope.job {
        Job::CaptureLead { lead } => capture(deps, lead).await,
        Job::CrmWebhook { delivery_id, event } => {
            deliver(
                deps,
                &envelope.tenant,
                &delivery_id,
                &event,
                record,
                counters,
            )
            .await
        }
        _ => Err(JobFailure::Poison(format!(
            "lead-worker got a {} job",
            envelope.kind()
        ))),
    }
}

async fn capture(deps: &Deps, submission: LeadSubmission) -> Result<(), JobFailure> {
    let tenant = submission.tenant.clone();
    let config = deps
        .tenants
        .tenant(&tenant)
        .await
        .map_err(|e| JobFailure::Transient(e.to_string()))?;
    let Some(config) = config else {
        warn!(%tenant, "lead for an unknown tenant dropped");
        return Ok(());
    };
    if !config.is_active() {
        // Kept (retried, then in the DLQ) for redrive if the tenant is reactivated.
        return Err(JobFailure::Transient(format!(
            "tenant {tenant} is suspended"
        )));
    }
    let lead = validate::queued(&submission, &config.leads.default_region)
        .map_err(|e| JobFailure::Poison(e.to_string()))?;
    match service::capture(deps, &config, &lead).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_transient() => Err(JobFailure::Transient(e.to_string())),
        Err(e) => Err(JobFailure::Poison(e.to_string())),
    }
}

/// One signed attempt at a CRM delivery; a failure pushes the next one back.
async fn deliver(
    deps: &Deps,
    tenant: &TenantId,
    delivery_id: &str,
    event: &Value,
    record: &SqsMessage,
    counters: &Mutex<CounterBatch>,
) -> Result<(), JobFailure> {
    let config = deps
        .tenants
        .tenant(tenant)
        .await
        .map_err(|e| JobFailure::Transient(e.to_string()))?;
    let Some(config) = config else {
        warn!(%tenant, delivery_id, "CRM delivery for an unknown tenant dropped");
        return Ok(());
    };
    let Some(url) = config.leads.crm_webhook_url.clone() else {
        info!(%tenant, delivery_id, "CRM webhook switched off; delivery dropped");
        return Ok(());
    };
    let count = |metric_name: &str| {
        let day = stats::local_day(&config.timezone, sauda_shared::now_ms());
        counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .day(tenant, &day)
            .add(metric_name, 1);
    };
    let secret = deps
        .secrets
        .tenant_secrets(tenant)
        .await
        .map_err(|e| JobFailure::Transient(e.to_string()))?
        .and_then(|s| s.crm_webhook_secret.clone());
    let outcome = match secret {
        None => Err(DeliveryError::Unreachable(
            "the tenant has no crm_webhook_secret".into(),
        )),
        Some(secret) => {
            let event_type = event["type"].as_str().unwrap_or("lead.event");
            let body = serde_json::to_vec(event).map_err(|e| JobFailure::Poison(e.to_string()))?;
            let now_s = sauda_shared::now_ms() / 1000;
            deps.crm
                .post(&url, &secret, delivery_id, event_type, body, now_s)
                .await
        }
    };
    let error = match outcome {
        Ok(status) => {
            count(metric::CRM_DELIVERED);
            info!(%tenant, delivery_id, status, "CRM delivery accepted");
            return Ok(());
        }
        Err(DeliveryError::Refused(why)) => {
            // A URL Sauda may not call stays refused: the record waits in the
            // dead-letter queue for a redrive once the tenant fixes it.
            count(metric::CRM_GAVE_UP);
            warn!(%tenant, delivery_id, code = why.code(), "CRM URL refused by the outbound policy; not called");
            return Err(JobFailure::Poison(format!("CRM URL refused: {why}")));
        }
        Err(e) => e,
    };
    count(metric::CRM_ATTEMPTS_FAILED);
    let receives = receive_count(record);
    if receives >= crm::MAX_RECEIVES {
        count(metric::CRM_GAVE_UP);
        warn!(%tenant, delivery_id, %error, receives, "CRM delivery gave up; it goes to the dead-letter queue");
        return Err(JobFailure::Transient(error.to_string()));
    }
    let retry_after = match &error {
        DeliveryError::Status { retry_after, .. } => *retry_after,
        DeliveryError::Unreachable(_) | DeliveryError::Refused(_) => None,
    };
    let delay = crm::backoff(receives, retry_after);
    warn!(%tenant, delivery_id, %error, receives, retry_in_s = delay.as_secs(), "CRM delivery failed; will retry");
    Err(JobFailure::RetryAfter(delay, error.to_string()))
}
