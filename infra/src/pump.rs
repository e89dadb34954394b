//! Local stand-in for Lambda's SQS event source mapping: receives from each queue a
//! function consumes, invokes it through `cargo lambda watch`'s Invoke API, and deletes
//! only what succeeded. Failed messages stay on the queue and, after the queue's
//! `maxReceiveCount` receives, the emulator moves them to the dead-letter queue.

use crate::provision::Stack;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use aws_smithy_types::error::display::DisplayErrorContext;
use std::collections::HashSet;
use std::time::Duration;

/// Where one queue's messages go.
#[derive(Clone, Debug)]
pub struct Route {
    pub queue_url: String,
    pub queue_arn: String,
    pub function: String,
    pub batch_size: i32,
    pub report_batch_item_failures: bool,
}

/// The routes the template declares (`Events: Type: SQS`).
pub fn routes(stack: &Stack) -> Vec<Route> {
    stack
        .functions
        .iter()
        .flat_map(|f| {
            f.sqs.iter().filter_map(|t| {
                let q = stack.queue(&t.queue_logical_id)?;
                Some(Route {
                    queue_url: q.url.clone(),
                    queue_arn: q.arn.clone(),
                    function: f.binary.clone(),
                    batch_size: t.batch_size.clamp(1, 10) as i32,
                    report_batch_item_failures: t.report_batch_item_failures,
                })
            })
        })
        .collect()
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PumpOutcome {
    pub delivered: usize,
    pub failed: usize,
}

/// Invokes a function with an event and returns the raw JSON answer.
#[async_trait::async_trait]
pub trait Invoker: Send + Sync {
    async fn invoke(
        &self,
        function: &str,
        payload: serde_json::Value,
    ) -> Result<serde_json::Value, String>;
}

/// `cargo lambda watch`'s Invoke API (`/2015-03-31/functions/{fn}/invocations`).
pub struct HttpInvoker {
    pub http: reqwest::Client,
    pub base_url: String,
}

#[async_trait::async_trait]
impl Invoker for HttpInvoker {
    async fn invoke(
        &self,
        function: &str,
        payload: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let url = format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.base_url.trim_end_matches('/')
        );
        let response = self
            .http
            .post(url)
            .json(&payload)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if status.is_success() && body.get("errorType").is_none() {
            Ok(body)
        } else {
            Err(format!("{function} answered {status}: {body}"))
        }
    }
}

/// One receive → invoke → delete round for one route.
pub async fn pump_once(
    sqs: &aws_sdk_sqs::Client,
    invoker: &dyn Invoker,
    route: &Route,
    region: &str,
    retry_visibility_s: i32,
) -> Result<PumpOutcome, String> {
    let received = sqs
        .receive_message()
        .queue_url(&route.queue_url)
        .max_number_of_messages(route.batch_size)
        .wait_time_seconds(1)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .map_err(|e| DisplayErrorContext(&e).to_string())?;
    let messages = received.messages.unwrap_or_default();
    if messages.is_empty() {
        return Ok(PumpOutcome::default());
    }
    let mut event = SqsEvent::default();
    for m in &messages {
        let mut record = SqsMessage::default();
        record.message_id = m.message_id.clone();
        record.receipt_handle = m.receipt_handle.clone();
        record.body = m.body.clone();
        record.md5_of_body = m.md5_of_body.clone();
        record.attributes = m
            .attributes
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.as_str().to_owned(), v))
            .collect();
        record.event_source = Some("aws:sqs".into());
        record.event_source_arn = Some(route.queue_arn.clone());
        record.aws_region = Some(region.to_owned());
        event.records.push(record);
    }
    let payload = serde_json::to_value(&event).map_err(|e| e.to_string())?;
    let failed_ids: HashSet<String> = match invoker.invoke(&route.function, payload).await {
        Ok(answer) if route.report_batch_item_failures => {
            serde_json::from_value::<SqsBatchResponse>(answer)
                .map(|r| {
                    r.batch_item_failures
                        .into_iter()
                        .map(|f| f.item_identifier)
                        .collect()
                })
                .unwrap_or_default()
        }
        Ok(_) => HashSet::new(),
        Err(error) => {
            tracing::warn!(function = %route.function, %error, "invocation failed; the whole batch will be retried");
            messages
                .iter()
                .filter_map(|m| m.message_id.clone())
                .collect()
        }
    };
    let mut deletes = Vec::new();
    for m in &messages {
        let (Some(id), Some(handle)) = (&m.message_id, &m.receipt_handle) else {
            continue;
        };
        if failed_ids.contains(id) {
            // Lambda waits out the visibility timeout; locally a short one keeps retries quick.
            let _ = sqs
                .change_message_visibility()
                .queue_url(&route.queue_url)
                .receipt_handle(handle)
                .visibility_timeout(retry_visibility_s)
                .send()
                .await;
        } else {
            deletes.push(
                DeleteMessageBatchRequestEntry::builder()
                    .id(id)
                    .receipt_handle(handle)
                    .build()
                    .map_err(|e| e.to_string())?,
            );
        }
    }
    let delivered = deletes.len();
    if !deletes.is_empty() {
        sqs.delete_message_batch()
            .queue_url(&route.queue_url)
            .set_entries(Some(deletes))
            .send()
            .await
            .map_err(|e| DisplayErrorContext(&e).to_string())?;
    }
    Ok(PumpOutcome {
        delivered,
        failed: messages.len() - delivered,
    })
}

/// A scheduled trigger (`ScheduleV2`) of a function, fired locally by the pump.
#[derive(Clone, Debug)]
pub struct ScheduledRoute {
    pub function: String,
    pub name: String,
    pub expression: crate::schedule::Expression,
    /// The event the function receives: the schedule's `Input`, or `{}`.
    pub input: serde_json::Value,
}

/// The template's schedules. An expression this stack cannot evaluate is an error, so a
/// typo in `template.yaml` shows up locally rather than after `sam deploy`.
pub fn schedules(stack: &Stack) -> Result<Vec<ScheduledRoute>, String> {
    let mut out = Vec::new();
    for f in &stack.functions {
        for s in &f.schedules {
            let expression = s
                .expression
                .parse()
                .map_err(|e| format!("{}: {e}", f.logical_id))?;
            let input = match &s.input {
                Some(raw) => serde_json::from_str(raw)
                    .map_err(|e| format!("{}.{}: Input is not JSON: {e}", f.logical_id, s.name))?,
                None => serde_json::json!({}),
            };
            out.push(ScheduledRoute {
                function: f.binary.clone(),
                name: s.name.clone(),
                expression,
                input,
            });
        }
    }
    Ok(out)
}

/// Invokes a schedule's function once with its input.
pub async fn fire(
    invoker: &dyn Invoker,
    schedule: &ScheduledRoute,
) -> Result<serde_json::Value, String> {
    invoker
        .invoke(&schedule.function, schedule.input.clone())
        .await
}

/// Pumps every route, and fires every schedule when due, until `stop` resolves.
pub async fn run(
    sqs: aws_sdk_sqs::Client,
    invoker: &dyn Invoker,
    routes: Vec<Route>,
    schedules: Vec<ScheduledRoute>,
    region: &str,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let started = chrono::Utc::now();
    let mut next_fire: Vec<Option<chrono::DateTime<chrono::Utc>>> = schedules
        .iter()
        .map(|s| s.expression.next_after(started, started))
        .collect();
    loop {
        let now = chrono::Utc::now();
        for (schedule, next) in schedules.iter().zip(next_fire.iter_mut()) {
            if next.is_some_and(|at| at <= now) {
                match fire(invoker, schedule).await {
                    Ok(answer) => {
                        tracing::info!(function = %schedule.function, schedule = %schedule.name, %answer, "schedule fired")
                    }
                    Err(error) => {
                        tracing::warn!(function = %schedule.function, schedule = %schedule.name, %error, "scheduled invocation failed")
                    }
                }
                *next = schedule.expression.next_after(now, started);
            }
        }
        let mut idle = true;
        for route in &routes {
            match pump_once(&sqs, invoker, route, region, 2).await {
                Ok(outcome) => {
                    if outcome.delivered + outcome.failed > 0 {
                        idle = false;
                        tracing::info!(function = %route.function, delivered = outcome.delivered, failed = outcome.failed, "pumped");
                    }
                }
                Err(error) => tracing::warn!(queue = %route.queue_url, %error, "receive failed"),
            }
        }
        if *stop.borrow() {
            return;
        }
        if idle {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = stop.changed() => return,
            }
        }
    }
}
