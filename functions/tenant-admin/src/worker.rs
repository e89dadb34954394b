//! `catalog-import-worker`: the catalog-jobs queue. Records are independent and each
//! builds an index (CPU and memory), so they run one at a time.

use crate::catalog::{self, JobMessage, JOB_KIND};
use crate::Deps;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use sauda_shared::consumer::{self, JobFailure, Ordering};

pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    Ok(handle_sqs(deps, event.payload).await)
}

pub async fn handle_sqs(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    consumer::process(
        deps.queue.as_ref(),
        event.records,
        Ordering::Standard,
        |record| async move { handle_record(deps, &record).await },
    )
    .await
}

async fn handle_record(deps: &Deps, record: &SqsMessage) -> Result<(), JobFailure> {
    let body = record.body.as_deref().unwrap_or_default();
    let message: JobMessage =
        serde_json::from_str(body).map_err(|e| JobFailure::Poison(format!("job message: {e}")))?;
    if message.kind != JOB_KIND {
        return Err(JobFailure::Poison(format!(
            "unknown job {:?}",
            message.kind
        )));
    }
    catalog::run_job(deps, &message.tenant, &message.job_id).await
}
