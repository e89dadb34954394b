//! SQS batch handling with partial failures (`ReportBatchItemFailures`).
//!
//! - FIFO: records are handled in order; at the first failure the handler stops and
//!   reports that record and every record after it, so no later message of the batch
//!   overtakes the failed one.
//! - Standard: every record is tried; only the failed ones are reported.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsMessage};
use std::future::Future;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ordering {
    Fifo,
    Standard,
}

/// Why a record failed. Either way it is reported and SQS redelivers it; after the
/// queue's `maxReceiveCount` it moves to the dead-letter queue, so nothing is lost.
#[derive(Debug, thiserror::Error)]
pub enum JobFailure {
    /// A dependency failed; a retry may succeed.
    #[error("transient: {0}")]
    Transient(String),
    /// The record can never succeed (malformed, unknown kind): retried only to reach the DLQ.
    #[error("poison: {0}")]
    Poison(String),
}

/// Runs `handle` over the records and builds the partial-failure response.
pub async fn process<F, Fut>(
    records: Vec<SqsMessage>,
    ordering: Ordering,
    mut handle: F,
) -> SqsBatchResponse
where
    F: FnMut(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), JobFailure>>,
{
    let mut response = SqsBatchResponse::default();
    let mut failing = false;
    for record in records {
        let id = record.message_id.clone().unwrap_or_default();
        if failing {
            response.batch_item_failures.push(failure(id));
            continue;
        }
        if let Err(error) = handle(record).await {
            tracing::warn!(message_id = %id, %error, "queue record failed");
            response.batch_item_failures.push(failure(id));
            failing = ordering == Ordering::Fifo;
        }
    }
    response
}

fn failure(id: String) -> BatchItemFailure {
    let mut f = BatchItemFailure::default();
    f.item_identifier = id;
    f
}

/// How many times SQS has delivered this record (1 on the first delivery).
pub fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: usize) -> Vec<SqsMessage> {
        (0..n)
            .map(|i| {
                let mut m = SqsMessage::default();
                m.message_id = Some(format!("m{i}"));
                m.body = Some(i.to_string());
                m
            })
            .collect()
    }

    fn failed(response: &SqsBatchResponse) -> Vec<&str> {
        response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    #[tokio::test]
    async fn fifo_stops_at_the_first_failure_and_reports_the_rest() {
        let mut seen = Vec::new();
        let response = process(records(5), Ordering::Fifo, |m| {
            let body = m.body.clone().unwrap();
            seen.push(body.clone());
            async move {
                if body == "2" {
                    Err(JobFailure::Transient("down".into()))
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert_eq!(failed(&response), ["m2", "m3", "m4"]);
        assert_eq!(
            seen,
            ["0", "1", "2"],
            "nothing after the failure is attempted"
        );
    }

    #[tokio::test]
    async fn standard_reports_only_failures() {
        let response = process(records(4), Ordering::Standard, |m| async move {
            match m.body.as_deref() {
                Some("1") | Some("3") => Err(JobFailure::Poison("bad".into())),
                _ => Ok(()),
            }
        })
        .await;
        assert_eq!(failed(&response), ["m1", "m3"]);
    }
}
