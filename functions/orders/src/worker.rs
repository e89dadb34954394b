//! `payments-worker`: one function for two triggers, told apart by the event's shape.
//!
//! - An SQS event (`Records`) from the payments queue: `order` jobs — `create` (the
//!   agent's tool, a "Buy" button: create, place, send the invoice), `effects`
//!   (receipt, managers' card, cashback after a payment event) and `kaspi_poll` (ask
//!   Kaspi for a payment's status; queued again with the API's polling interval as the
//!   delay until it is processed, failed or lapsed). Records are independent: handled
//!   concurrently, failures reported one by one; poison goes to the DLQ at once.
//! - The hourly schedule's input `{"kind":"expiry_sweep"}`: unpaid orders past
//!   `expires_at` expire (their pointers are one Query per tenant).

use crate::confirm::{Incoming, PaymentEvent};
use crate::create::{create_order, CreateError};
use crate::domain::{self, Transition};
use crate::effects::{self, EffectError};
use crate::invoice::{self, InvoiceError};
use crate::providers::kaspi::{Merchant, Status};
use crate::providers::ProviderError;
use crate::Deps;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use sauda_shared::consumer::{self, JobFailure, Ordering};
use sauda_shared::envelope::{Envelope, Job};
use sauda_shared::order::{OrderJob, OrderRequest, Payment, PaymentStatus, Provider};
use sauda_shared::plan::PlanError;
use sauda_shared::ports::StoreError;
use sauda_shared::stats::metric;
use sauda_shared::tenant::TenantConfig;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// Records handled at once: provider calls wait on the network.
const CONCURRENCY: usize = 8;
/// Expiry pointers read per tenant and run (the rest wait for the next hour).
const SWEEP_PAGE: i32 = 200;

/// What invokes the worker: the schedule (`{"kind":"expiry_sweep"}`) or the queue.
#[derive(Deserialize)]
#[serde(untagged)]
enum Trigger {
    Schedule { kind: ScheduleKind },
    Queue(SqsEvent),
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum ScheduleKind {
    ExpirySweep,
}

pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    let trigger = serde_json::from_value::<Trigger>(event.payload)
        .map_err(|_| "payments-worker takes SQS events or {\"kind\":\"expiry_sweep\"}")?;
    Ok(match trigger {
        Trigger::Schedule {
            kind: ScheduleKind::ExpirySweep,
        } => serde_json::to_value(sweep(deps, deps.now_ms()).await?)?,
        Trigger::Queue(sqs) => serde_json::to_value(handle_sqs(deps, sqs).await)?,
    })
}

pub async fn handle_sqs(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    consumer::process(
        deps.queue.as_ref(),
        event.records,
        Ordering::Concurrent(CONCURRENCY),
        |record| async move { handle_record(deps, &record).await },
    )
    .await
}

fn transient(e: impl std::fmt::Display) -> JobFailure {
    JobFailure::Transient(e.to_string())
}

async fn handle_record(deps: &Deps, record: &SqsMessage) -> Result<(), JobFailure> {
    let body = record.body.as_deref().unwrap_or_default();
    let envelope = Envelope::from_json(body).map_err(|e| JobFailure::Poison(e.to_string()))?;
    let Job::Order { job } = envelope.job else {
        return Err(JobFailure::Poison(format!(
            "payments-worker got a {} job",
            envelope.kind()
        )));
    };
    let tenant = &envelope.tenant;
    let config = deps
        .api
        .tenants
        .tenant(tenant)
        .await
        .map_err(transient)?
        .ok_or_else(|| JobFailure::Poison(format!("tenant {tenant} does not exist")))?;
    if !config.is_active() {
        tracing::info!(%tenant, "tenant suspended; order job dropped");
        return Ok(());
    }
    match job {
        OrderJob::Create { request, provider } => create(deps, &config, &request, provider).await,
        OrderJob::Effects { order_id, effect } => effects::run(deps, &config, &order_id, &effect)
            .await
            .map_err(|e| match e {
                EffectError::Transient(m) => JobFailure::Transient(m),
                EffectError::Poison(m) => JobFailure::Poison(m),
            }),
        OrderJob::KaspiPoll {
            order_id,
            qr_payment_id,
            until_ms,
            interval_s,
        } => {
            kaspi_poll(
                deps,
                &config,
                &order_id,
                &qr_payment_id,
                until_ms,
                interval_s,
            )
            .await
        }
    }
}

/// An order the agent (or a button) asked for: created once, then its invoice.
async fn create(
    deps: &Deps,
    config: &TenantConfig,
    request: &OrderRequest,
    provider: Option<Provider>,
) -> Result<(), JobFailure> {
    let Some(prices) = deps.prices.as_deref() else {
        return Err(JobFailure::Poison("no catalog bucket configured".into()));
    };
    let now_ms = deps.now_ms();
    let created = create_order(
        deps.payments.store.as_ref(),
        prices,
        &deps.plan_watch(),
        config,
        request,
        now_ms,
    )
    .await
    .map_err(|e| match e {
        CreateError::Unavailable(m) => JobFailure::Transient(m),
        other => JobFailure::Poison(other.to_string()),
    })?;
    // A retry of this job finds the order; the invoice went out if it is pending.
    if created.order.payment_status != PaymentStatus::Unpaid {
        return Ok(());
    }
    match invoice::send_invoice(
        deps,
        config,
        &created.order.order_id,
        provider,
        &request.actor,
    )
    .await
    {
        Ok(_) => Ok(()),
        Err(InvoiceError::Unavailable(m)) => Err(JobFailure::Transient(m)),
        Err(InvoiceError::Provider(e)) if e.is_transient() => Err(transient(e)),
        Err(e) => {
            // The order stands; a manager can send the invoice (POST …/invoice).
            tracing::warn!(tenant = %config.tenant, order = %created.order.order_id, error = %e, "order created without an invoice");
            Ok(())
        }
    }
}

async fn kaspi_poll(
    deps: &Deps,
    config: &TenantConfig,
    order_id: &str,
    qr_payment_id: &str,
    until_ms: i64,
    interval_s: u32,
) -> Result<(), JobFailure> {
    let tenant = &config.tenant;
    let order = deps
        .order(tenant, order_id)
        .await
        .map_err(transient)?
        .ok_or_else(|| JobFailure::Poison(format!("order {order_id} does not exist")))?;
    if !order.awaits_payment() {
        return Ok(()); // paid (a pushed notification won), canceled or expired
    }
    let secrets = deps.tenant_secrets(tenant).await.map_err(transient)?;
    let (Some(api_key), Some(device_token)) = (&secrets.kaspi_api_key, &secrets.kaspi_merchant_id)
    else {
        return Err(JobFailure::Poison("Kaspi is not configured".into()));
    };
    let merchant = Merchant {
        api_key,
        device_token,
    };
    let status = match deps.providers.kaspi.status(&merchant, qr_payment_id).await {
        Ok(status) => status,
        Err(e @ ProviderError::Unavailable { .. }) => return Err(transient(e)),
        Err(e) => return Err(JobFailure::Poison(e.to_string())),
    };
    let now_ms = deps.now_ms();
    let event = match status {
        Status::Processed { amount_minor } => PaymentEvent::Paid(Payment {
            provider: Provider::Kaspi,
            reference: qr_payment_id.to_owned(),
            amount_minor: amount_minor.unwrap_or(order.total_minor),
            currency: "KZT".into(),
            payer_id: None,
        }),
        Status::Failed(status) => PaymentEvent::Failed {
            provider: Provider::Kaspi,
            reason: format!("Kaspi status {status}"),
        },
        Status::Waiting if now_ms >= until_ms => PaymentEvent::Failed {
            provider: Provider::Kaspi,
            reason: "the Kaspi link expired unpaid".into(),
        },
        Status::Waiting => {
            let again = OrderJob::KaspiPoll {
                order_id: order_id.to_owned(),
                qr_payment_id: qr_payment_id.to_owned(),
                until_ms,
                interval_s,
            };
            return deps
                .payments
                .jobs
                .send(&Envelope::order(tenant.clone(), again), interval_s as i32)
                .await
                .map_err(transient);
        }
    };
    deps.payments
        .apply(
            config,
            &Incoming {
                order_id: order_id.to_owned(),
                event,
                provider_event: None,
            },
        )
        .await
        .map(|_| ())
        .map_err(transient)
}

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepReport {
    pub tenants: usize,
    pub expired: usize,
    /// Pointers whose order had changed meanwhile (left for the next run).
    pub skipped: usize,
}

/// Expires every unpaid order past its `expires_at`, tenant by tenant.
pub async fn sweep(deps: &Deps, now_ms: i64) -> Result<SweepReport, StoreError> {
    let mut report = SweepReport::default();
    let mut after: Option<String> = None;
    loop {
        let page = deps.registry.page(after.as_deref()).await?;
        for entry in &page.entries {
            let Some(config) = deps.api.tenants.tenant(&entry.tenant).await? else {
                continue;
            };
            if !config.is_active() {
                continue;
            }
            report.tenants += 1;
            let (expired, skipped) = sweep_tenant(deps, &config, now_ms).await?;
            report.expired += expired;
            report.skipped += skipped;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    tracing::info!(?report, "expiry sweep done");
    Ok(report)
}

async fn sweep_tenant(
    deps: &Deps,
    config: &Arc<TenantConfig>,
    now_ms: i64,
) -> Result<(usize, usize), StoreError> {
    let store = deps.payments.store.as_ref();
    let due = store
        .due_expiries(&config.tenant, now_ms, SWEEP_PAGE)
        .await?;
    let (mut expired, mut skipped) = (0, 0);
    for pointer in due {
        let Some(order) = store.get(&config.tenant, &pointer.order_id).await? else {
            skipped += 1;
            continue;
        };
        let Ok(change) = order.clone().expire(now_ms) else {
            skipped += 1;
            continue;
        };
        let plan = Transition {
            tenant: &config.tenant,
            timezone: &config.timezone,
            before: Some(&order),
            change: &change,
            counters: domain::one(metric::ORDERS_EXPIRED),
            payment: None,
            event: None,
        }
        .plan();
        match store.commit(&plan).await {
            Ok(()) => expired += 1,
            // Paid or changed this very moment: the next run looks again.
            Err(PlanError::Stale(_)) | Err(PlanError::Rejected(_)) => skipped += 1,
            Err(PlanError::Store(e)) => return Err(e),
        }
    }
    Ok((expired, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_and_the_queue_are_told_apart() {
        let sweep = serde_json::json!({"kind": "expiry_sweep"});
        assert!(matches!(
            serde_json::from_value::<Trigger>(sweep),
            Ok(Trigger::Schedule { .. })
        ));
        let sqs = serde_json::json!({"Records": []});
        assert!(matches!(
            serde_json::from_value::<Trigger>(sqs),
            Ok(Trigger::Queue(_))
        ));
        for other in [serde_json::json!({"kind": "sweep"}), serde_json::json!({})] {
            assert!(serde_json::from_value::<Trigger>(other).is_err());
        }
    }
}
