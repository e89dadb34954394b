//! The one SQS consumer: partial batch responses (`ReportBatchItemFailures`), FIFO
//! order kept per message group, redelivery delays with one clamp, and poison records
//! sent straight to the dead-letter queue instead of looping through retries.
//!
//! - FIFO: groups run concurrently; inside a group records run in order, and at the
//!   first failure the group stops: that record and every later one of the group are
//!   reported, so nothing overtakes the failed message.
//! - Standard (or Concurrent): every record is tried; only the failed ones are reported.
//! - A transient failure is reported (SQS redelivers it after the visibility timeout,
//!   or after the delay the handler asked for); after `maxReceiveCount` the queue's
//!   redrive policy moves it to the DLQ. A poison record (undecodable, an unknown
//!   kind) can never succeed: it is copied to the DLQ with its reason at once and
//!   acknowledged. Either way nothing is lost.

use crate::ports::QueueError;
use async_trait::async_trait;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsMessage};
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ordering {
    Fifo,
    /// Independent records, one at a time.
    Standard,
    /// Independent records, up to this many at once (calls that wait on the network).
    Concurrent(usize),
}

#[derive(Debug, thiserror::Error)]
pub enum JobFailure {
    /// A dependency failed; a retry may succeed.
    #[error("transient: {0}")]
    Transient(String),
    /// Retry, but not before this delay (a channel's `retry_after`, a backoff).
    #[error("retry after {0:?}: {1}")]
    RetryAfter(Duration, String),
    /// The record can never succeed (malformed, unknown kind): dead-lettered at once.
    #[error("poison: {0}")]
    Poison(String),
}

/// SQS's longest visibility timeout (12 hours).
pub const MAX_DELAY: Duration = Duration::from_secs(43_200);

/// The one clamp of every redelivery delay: at least a second, at most 12 hours.
pub fn clamp_delay(wait: Duration) -> i32 {
    i32::try_from(wait.clamp(Duration::from_secs(1), MAX_DELAY).as_secs()).unwrap_or(43_200)
}

/// What a consumer may ask of the queue a record came from.
#[async_trait]
pub trait QueueControl: Send + Sync {
    /// Makes the record visible again only after `wait` (clamped by [`clamp_delay`]).
    async fn delay(&self, record: &SqsMessage, wait: Duration) -> Result<(), QueueError>;
    /// Copies the record to its queue's dead-letter queue, with `reason`.
    async fn dead_letter(&self, record: &SqsMessage, reason: &str) -> Result<(), QueueError>;
}

/// How many times SQS has delivered this record (1 on the first delivery).
pub fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

pub fn message_group(record: &SqsMessage) -> &str {
    record
        .attributes
        .get("MessageGroupId")
        .map(String::as_str)
        .unwrap_or("")
}

fn failure(id: String) -> BatchItemFailure {
    let mut f = BatchItemFailure::default();
    f.item_identifier = id;
    f
}

/// Whether the record must be reported as failed after `outcome`.
async fn settle(
    control: &dyn QueueControl,
    record: &SqsMessage,
    outcome: Result<(), JobFailure>,
) -> bool {
    let id = record.message_id.as_deref().unwrap_or_default();
    match outcome {
        Ok(()) => false,
        Err(JobFailure::Poison(reason)) => {
            match control.dead_letter(record, &reason).await {
                Ok(()) => {
                    crate::metrics::emit(crate::metrics::Metric::MessagesDeadLettered, 1);
                    tracing::error!(message_id = id, %reason, "poison record moved to the dead-letter queue");
                    false
                }
                Err(error) => {
                    // Reported instead: the redrive policy still gets it there.
                    tracing::error!(message_id = id, %reason, %error, "poison record could not be dead-lettered");
                    true
                }
            }
        }
        Err(JobFailure::RetryAfter(wait, reason)) => {
            crate::metrics::emit(crate::metrics::Metric::MessagesFailed, 1);
            tracing::warn!(message_id = id, %reason, wait_s = wait.as_secs(), "record failed; redelivery delayed");
            if let Err(error) = control.delay(record, wait).await {
                // Not fatal: the queue's own visibility timeout still spaces the retry.
                tracing::warn!(message_id = id, %error, "could not delay a failed record");
            }
            true
        }
        Err(JobFailure::Transient(reason)) => {
            crate::metrics::emit(crate::metrics::Metric::MessagesFailed, 1);
            tracing::warn!(message_id = id, %reason, "record failed; it will be redelivered");
            true
        }
    }
}

/// Runs `handle` over `records` and builds the partial-failure response.
pub async fn process<F, Fut>(
    control: &dyn QueueControl,
    records: Vec<SqsMessage>,
    ordering: Ordering,
    handle: F,
) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), JobFailure>>,
{
    let mut response = SqsBatchResponse::default();
    match ordering {
        Ordering::Standard | Ordering::Concurrent(_) => {
            use futures_util::stream::{self, StreamExt};
            let limit = match ordering {
                Ordering::Concurrent(n) => n.max(1),
                _ => 1,
            };
            let handle = &handle;
            let failed: Vec<Option<String>> = stream::iter(records)
                .map(|record| async move {
                    let outcome = handle(record.clone()).await;
                    settle(control, &record, outcome)
                        .await
                        .then(|| record.message_id.clone().unwrap_or_default())
                })
                .buffered(limit)
                .collect()
                .await;
            response
                .batch_item_failures
                .extend(failed.into_iter().flatten().map(failure));
        }
        Ordering::Fifo => {
            // Groups in order of first appearance; records keep their order inside one.
            let mut order: Vec<String> = Vec::new();
            let mut groups: HashMap<String, Vec<SqsMessage>> = HashMap::new();
            for record in records {
                let group = message_group(&record).to_owned();
                if !groups.contains_key(&group) {
                    order.push(group.clone());
                }
                groups.entry(group).or_default().push(record);
            }
            let handle = &handle;
            let runs = order.into_iter().map(|group| {
                let records = groups.remove(&group).unwrap_or_default();
                async move {
                    let mut failed = Vec::new();
                    let mut failing = false;
                    for record in records {
                        let id = record.message_id.clone().unwrap_or_default();
                        if failing {
                            failed.push(id);
                            continue;
                        }
                        let outcome = handle(record.clone()).await;
                        if settle(control, &record, outcome).await {
                            failed.push(id);
                            failing = true;
                        }
                    }
                    failed
                }
            });
            for failed in futures_util::future::join_all(runs).await {
                response
                    .batch_item_failures
                    .extend(failed.into_iter().map(failure));
            }
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorded {
        delayed: Mutex<Vec<(String, i32)>>,
        dead: Mutex<Vec<(String, String)>>,
        dlq_down: bool,
    }

    #[async_trait]
    impl QueueControl for Recorded {
        async fn delay(&self, record: &SqsMessage, wait: Duration) -> Result<(), QueueError> {
            self.delayed
                .lock()
                .unwrap()
                .push((record.message_id.clone().unwrap(), clamp_delay(wait)));
            Ok(())
        }

        async fn dead_letter(&self, record: &SqsMessage, reason: &str) -> Result<(), QueueError> {
            if self.dlq_down {
                return Err(QueueError("down".into()));
            }
            self.dead
                .lock()
                .unwrap()
                .push((record.message_id.clone().unwrap(), reason.to_owned()));
            Ok(())
        }
    }

    fn records(groups: &[&str]) -> Vec<SqsMessage> {
        groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let mut m = SqsMessage::default();
                m.message_id = Some(format!("m{i}"));
                m.body = Some(i.to_string());
                m.attributes.insert("MessageGroupId".into(), (*g).into());
                m
            })
            .collect()
    }

    fn failed(response: &SqsBatchResponse) -> Vec<&str> {
        let mut ids: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        ids.sort();
        ids
    }

    #[tokio::test]
    async fn fifo_stops_a_group_at_its_first_failure_only() {
        let control = Recorded::default();
        let seen = Mutex::new(Vec::new());
        let response = process(
            &control,
            records(&["a", "b", "a", "a", "b"]),
            Ordering::Fifo,
            |m| {
                let body = m.body.clone().unwrap();
                seen.lock().unwrap().push(body.clone());
                async move {
                    if body == "2" {
                        Err(JobFailure::Transient("down".into()))
                    } else {
                        Ok(())
                    }
                }
            },
        )
        .await;
        assert_eq!(failed(&response), ["m2", "m3"], "group b carries on");
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        assert_eq!(seen, ["0", "1", "2", "4"], "m3 is never attempted");
    }

    #[tokio::test]
    async fn standard_reports_only_failures_and_dead_letters_poison() {
        let control = Recorded::default();
        let response = process(
            &control,
            records(&["", "", "", ""]),
            Ordering::Standard,
            |m| async move {
                match m.body.as_deref() {
                    Some("1") => Err(JobFailure::Poison("not an envelope".into())),
                    Some("3") => Err(JobFailure::RetryAfter(
                        Duration::from_secs(999_999),
                        "429".into(),
                    )),
                    _ => Ok(()),
                }
            },
        )
        .await;
        assert_eq!(
            failed(&response),
            ["m3"],
            "poison is acknowledged once dead-lettered"
        );
        assert_eq!(
            *control.dead.lock().unwrap(),
            [("m1".to_owned(), "not an envelope".to_owned())]
        );
        assert_eq!(
            *control.delayed.lock().unwrap(),
            [("m3".to_owned(), 43_200)]
        );
    }

    #[tokio::test]
    async fn poison_is_reported_when_the_dlq_is_down() {
        let control = Recorded {
            dlq_down: true,
            ..Default::default()
        };
        let response = process(&control, records(&["g"]), Ordering::Fifo, |_| async {
            Err(JobFailure::Poison("bad".into()))
        })
        .await;
        assert_eq!(failed(&response), ["m0"]);
    }

    #[test]
    fn one_clamp() {
        assert_eq!(clamp_delay(Duration::ZERO), 1);
        assert_eq!(clamp_delay(Duration::from_secs(90)), 90);
        assert_eq!(clamp_delay(Duration::from_secs(u64::MAX)), 43_200);
    }
}
