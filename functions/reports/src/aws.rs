//! The adapters of the reports' ports: [`AwsReportStore`] (counters, partner names and
//! the report record in DynamoDB, files in S3) and [`SqsReportJobs`] (the planner's
//! `SendMessageBatch`es).

use crate::period::Period;
use crate::planner::ReportJobs;
use crate::report::DayCounters;
use crate::store::{object_key, LinkRecord, RecordState, ReportFile, ReportStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_smithy_types::error::display::DisplayErrorContext;
use sauda_shared::aws::AwsClients;
use sauda_shared::dynamo::{self, item_n, item_s, key_attrs, store_err, Expr};
use sauda_shared::keys;
use sauda_shared::plan::{Cond, PlanError, Update, WritePlan};
use sauda_shared::ports::{QueueError, StoreError};
use sauda_shared::retry::Backoff;
use sauda_shared::stats;
use sauda_shared::tenant::ReportPeriodKind;
use sauda_shared::TenantId;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

#[derive(Clone)]
pub struct AwsReportStore {
    dynamo: aws_sdk_dynamodb::Client,
    s3: aws_sdk_s3::Client,
    table: String,
    bucket: String,
}

impl AwsReportStore {
    pub fn new(clients: &AwsClients, table: impl Into<String>, bucket: impl Into<String>) -> Self {
        Self {
            dynamo: clients.dynamo.clone(),
            s3: clients.s3.clone(),
            table: table.into(),
            bucket: bucket.into(),
        }
    }
}

fn kind_name(kind: ReportPeriodKind) -> &'static str {
    match kind {
        ReportPeriodKind::Daily => "daily",
        ReportPeriodKind::Weekly => "weekly",
        ReportPeriodKind::Monthly => "monthly",
    }
}

#[async_trait]
impl ReportStore for AwsReportStore {
    /// `ceil(days × 4 shards / 100)` BatchGetItems.
    async fn counters(
        &self,
        tenant: &TenantId,
        days: &[String],
    ) -> Result<DayCounters, StoreError> {
        stats::read_days(&self.dynamo, &self.table, tenant, days).await
    }

    /// `T#{t}#P#{pid}` / `PROFILE`, 100 per BatchGetItem. Only the partners with counters
    /// in the report are asked for, so the cost follows partners, not traffic.
    async fn partner_names(
        &self,
        tenant: &TenantId,
        ids: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let keys: Vec<_> = ids.iter().map(|pid| keys::partner(tenant, pid)).collect();
        let reads = dynamo::batch_get(&self.dynamo, &self.table, &keys, false).await?;
        Ok(reads
            .into_items()
            .into_values()
            .filter_map(|item| {
                let (pid, name) = (item_s(&item, "partner_id"), item_s(&item, "name"));
                (!pid.is_empty() && !name.is_empty()).then(|| (pid.to_owned(), name.to_owned()))
            })
            .collect())
    }

    async fn put_files(
        &self,
        tenant: &TenantId,
        period: Period,
        files: &[ReportFile],
    ) -> Result<(), StoreError> {
        let mut puts = tokio::task::JoinSet::new();
        for file in files {
            let request = self
                .s3
                .put_object()
                .bucket(&self.bucket)
                .key(object_key(tenant, period, file.name))
                .content_type(file.content_type)
                .cache_control("private, max-age=300")
                .body(ByteStream::from(file.body.clone()));
            puts.spawn(request.send());
        }
        while let Some(joined) = puts.join_next().await {
            joined
                .map_err(|e| StoreError::Unavailable(format!("put report file: {e}")))?
                .map_err(|e| store_err("put report file", e))?;
        }
        Ok(())
    }

    async fn presign(
        &self,
        tenant: &TenantId,
        period: Period,
        name: &str,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        let config = PresigningConfig::expires_in(ttl)
            .map_err(|e| StoreError::Rejected(format!("presign: {e}")))?;
        let request = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(object_key(tenant, period, name))
            .presigned(config)
            .await
            .map_err(|e| store_err("presign", e))?;
        Ok(request.uri().to_owned())
    }

    /// One UpdateItem at `keys::report(t, period)`, returning the old record.
    async fn record_run(
        &self,
        tenant: &TenantId,
        period: Period,
        digest: &str,
        candidate_token: &str,
        now_ms: i64,
    ) -> Result<RecordState, StoreError> {
        let update = Update::new(keys::report(tenant, &period.to_string()))
            .set("tenant", tenant.as_str())
            .set("period", period.to_string())
            .set("kind", kind_name(period.kind()))
            .set("digest", digest)
            .set("last_run_ms", now_ms)
            .set_if_absent("first_run_ms", now_ms)
            .set_if_absent("link_token", candidate_token)
            .set("prefix", object_key(tenant, period, ""))
            .add("runs", 1);
        let mut expr = Expr::default();
        let expression = expr.update(&update);
        let (names, values) = expr.into_maps();
        let out = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(&update.key)))
            .update_expression(expression)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| store_err("record report run", e))?;
        let old = out.attributes.unwrap_or_default();
        let previous_digest = item_s(&old, "digest");
        let kept_token = item_s(&old, "link_token");
        Ok(RecordState {
            runs: item_n(&old, "runs") + 1,
            notified: old.contains_key("notified_ms"),
            changed: !previous_digest.is_empty() && previous_digest != digest,
            link_token: if kept_token.is_empty() {
                candidate_token.to_owned()
            } else {
                kept_token.to_owned()
            },
        })
    }

    async fn link_record(
        &self,
        tenant: &TenantId,
        period: Period,
    ) -> Result<Option<LinkRecord>, StoreError> {
        let key = keys::report(tenant, &period.to_string());
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(&key)))
            .projection_expression("link_token, first_run_ms")
            .send()
            .await
            .map_err(|e| store_err("read report record", e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let link_token = item_s(&item, "link_token");
        Ok(
            (!link_token.is_empty() && item.contains_key("first_run_ms")).then(|| LinkRecord {
                link_token: link_token.to_owned(),
                first_run_ms: item_n(&item, "first_run_ms"),
            }),
        )
    }

    /// A conditional UpdateItem: a marker already there means an earlier run won.
    async fn mark_notified(
        &self,
        tenant: &TenantId,
        period: Period,
        notice_id: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut plan = WritePlan::<()>::new();
        plan.push_or(
            sauda_shared::plan::Op::Update(
                Update::new(keys::report(tenant, &period.to_string()))
                    .set("notified_ms", now_ms)
                    .set("notice_id", notice_id)
                    .when(Cond::absent("notified_ms")),
            ),
            (),
        );
        match dynamo::execute(&self.dynamo, &self.table, &plan).await {
            Ok(()) | Err(PlanError::Rejected(())) => Ok(()),
            Err(PlanError::Stale(reasons)) => Err(StoreError::Unavailable(format!(
                "mark report notified: {reasons:?}"
            ))),
            Err(PlanError::Store(e)) => Err(e),
        }
    }
}

/// SendMessageBatch takes at most 10 entries.
pub const SQS_BATCH: usize = 10;

/// The reports queue, for the planner.
#[derive(Clone)]
pub struct SqsReportJobs {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsReportJobs {
    pub fn new(sqs: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            sqs,
            queue_url: queue_url.into(),
        }
    }
}

/// Entries SQS reports as failed are sent again, this many times in all.
const SEND_ATTEMPTS: u32 = 5;
const SEND_BACKOFF: Backoff =
    Backoff::new(Duration::from_millis(200), 2, Duration::from_millis(3_200));

#[async_trait]
impl ReportJobs for SqsReportJobs {
    fn batch_size(&self) -> usize {
        SQS_BATCH
    }

    /// One SendMessageBatch; entries SQS reports as failed are retried with backoff.
    async fn send(&self, bodies: Vec<String>) -> Result<(), QueueError> {
        let mut pending: Vec<(usize, String)> = bodies.into_iter().enumerate().collect();
        for attempt in 1..=SEND_ATTEMPTS {
            if attempt > 1 {
                SEND_BACKOFF.sleep(attempt - 1).await;
            }
            let entries = pending
                .iter()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(|e| QueueError(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .sqs
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError(DisplayErrorContext(&e).to_string()))?;
            let failed: BTreeSet<&str> = out.failed().iter().map(|f| f.id()).collect();
            pending.retain(|(i, _)| failed.contains(i.to_string().as_str()));
            if pending.is_empty() {
                return Ok(());
            }
        }
        Err(QueueError(format!(
            "{} report jobs could not be queued",
            pending.len()
        )))
    }
}
