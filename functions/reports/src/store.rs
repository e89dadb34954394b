//! AWS side of a report: counters and partner names from DynamoDB, files and links in
//! S3, and the `(tenant, period)` record that makes a report idempotent.

use crate::period::Period;
use crate::report::DayCounters;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnValue};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::error::display::DisplayErrorContext;
use sauda_shared::keys;
use sauda_shared::ports::StoreError;
use sauda_shared::stats;
use sauda_shared::TenantId;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

fn store_err<E: std::error::Error>(context: &str, e: E) -> StoreError {
    StoreError::Unavailable(format!("{context}: {}", DisplayErrorContext(&e)))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// One generated file.
pub struct ReportFile {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// 32 random bytes, URL-safe: the capability a report link carries.
fn new_link_token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Where a report's files live: `reports/{tenant}/{period}/{name}`.
pub fn object_key(tenant: &TenantId, period: Period, name: &str) -> String {
    format!("reports/{tenant}/{period}/{name}")
}

/// The report record after this run, as the update returned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordState {
    /// How many times the report was generated (1 on the first run).
    pub runs: i64,
    /// Whether an earlier run already put the managers' notice on the notify queue.
    pub notified: bool,
    /// Whether this run's content differs from the previous run's (late counters).
    pub changed: bool,
    /// The report's link token: made on the first run and kept, so a rerun or a retried
    /// notice never invalidates a link a manager already has.
    pub link_token: String,
}

/// What the link route needs of a report record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkRecord {
    pub link_token: String,
    pub first_run_ms: i64,
}

#[derive(Clone)]
pub struct ReportStore {
    pub dynamo: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub table: String,
    pub bucket: String,
}

impl ReportStore {
    /// Counters of every day, in `ceil(days × 4 / 100)` BatchGetItems.
    pub async fn counters(
        &self,
        tenant: &TenantId,
        days: &[String],
    ) -> Result<DayCounters, StoreError> {
        stats::read_days(&self.dynamo, &self.table, tenant, days).await
    }

    /// Partner names (`T#{t}#P#{pid}` / `PROFILE`), 100 per BatchGetItem. Only the
    /// partners with counters in the report are read, so the cost follows partners.
    pub async fn partner_names(
        &self,
        tenant: &TenantId,
        ids: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let mut names = BTreeMap::new();
        let ids: Vec<&String> = ids.iter().collect();
        for chunk in ids.chunks(100) {
            let mut pending: Vec<HashMap<String, AttributeValue>> = chunk
                .iter()
                .map(|pid| {
                    let (pk, sk) = keys::partner(tenant, pid);
                    HashMap::from([("PK".to_owned(), s(pk)), ("SK".to_owned(), s(sk))])
                })
                .collect();
            for attempt in 0..8u32 {
                if pending.is_empty() {
                    break;
                }
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .projection_expression("partner_id, #n")
                    .expression_attribute_names("#n", "name")
                    .build()
                    .map_err(|e| store_err("partner names", e))?;
                let out = self
                    .dynamo
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| store_err("partner names", e))?;
                for item in out
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    let get = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
                    if let (Some(pid), Some(name)) = (get("partner_id"), get("name")) {
                        names.insert(pid, name);
                    }
                }
                pending = out
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
            }
        }
        Ok(names)
    }

    pub async fn put_files(
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

    /// A GET link to one file, valid for `ttl` (at most 7 days for SigV4).
    pub async fn presign(&self, key: &str, ttl: Duration) -> Result<String, StoreError> {
        let config = PresigningConfig::expires_in(ttl).map_err(|e| store_err("presign", e))?;
        let request = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| store_err("presign", e))?;
        Ok(request.uri().to_owned())
    }

    /// Records this run at `keys::report(t, period)` with one UpdateItem and returns the
    /// record's state: whether it was notified before, and whether the content changed.
    pub async fn record_run(
        &self,
        tenant: &TenantId,
        period: Period,
        digest: &str,
        now_ms: i64,
    ) -> Result<RecordState, StoreError> {
        let candidate_token = new_link_token();
        let (pk, sk) = keys::report(tenant, &period.to_string());
        let out = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .update_expression(
                "SET tenant = :t, period = :p, kind = :k, digest = :d, last_run_ms = :now, \
                 first_run_ms = if_not_exists(first_run_ms, :now), \
                 link_token = if_not_exists(link_token, :token), \
                 prefix = :prefix ADD runs :one",
            )
            .expression_attribute_values(":token", s(candidate_token.clone()))
            .expression_attribute_values(":t", s(tenant.as_str()))
            .expression_attribute_values(":p", s(period.to_string()))
            .expression_attribute_values(":k", s(kind_name(period)))
            .expression_attribute_values(":d", s(digest))
            .expression_attribute_values(":now", AttributeValue::N(now_ms.to_string()))
            .expression_attribute_values(":prefix", s(object_key(tenant, period, "")))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| store_err("record report run", e))?;
        let old = out.attributes.unwrap_or_default();
        let runs = old
            .get("runs")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap_or(0)
            + 1;
        let previous_digest = old.get("digest").and_then(|v| v.as_s().ok());
        let link_token = old
            .get("link_token")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or(candidate_token);
        Ok(RecordState {
            runs,
            notified: old.contains_key("notified_ms"),
            changed: previous_digest.is_some_and(|d| d != digest),
            link_token,
        })
    }

    /// The link token and age of a stored report; `None` when it was never generated.
    pub async fn link_record(
        &self,
        tenant: &TenantId,
        period: Period,
    ) -> Result<Option<LinkRecord>, StoreError> {
        let (pk, sk) = keys::report(tenant, &period.to_string());
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .projection_expression("link_token, first_run_ms")
            .send()
            .await
            .map_err(|e| store_err("read report record", e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let link_token = item.get("link_token").and_then(|v| v.as_s().ok());
        let first_run_ms = item
            .get("first_run_ms")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok());
        Ok(match (link_token, first_run_ms) {
            (Some(token), Some(first_run_ms)) => Some(LinkRecord {
                link_token: token.clone(),
                first_run_ms,
            }),
            _ => None,
        })
    }

    /// Marks the managers' notice as queued. Conditional, so the first marker wins.
    pub async fn mark_notified(
        &self,
        tenant: &TenantId,
        period: Period,
        notice_id: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::report(tenant, &period.to_string());
        let result = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .update_expression("SET notified_ms = :now, notice_id = :id")
            .condition_expression("attribute_not_exists(notified_ms)")
            .expression_attribute_values(":now", AttributeValue::N(now_ms.to_string()))
            .expression_attribute_values(":id", s(notice_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(store_err("mark report notified", e)),
        }
    }
}

fn kind_name(period: Period) -> &'static str {
    match period {
        Period::Day(_) => "daily",
        Period::Week { .. } => "weekly",
        Period::Month { .. } => "monthly",
    }
}
