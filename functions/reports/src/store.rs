//! The report store: the port the worker and the link route need (counters and partner
//! names to read, files to keep, and the `(tenant, period)` record that makes a report
//! idempotent). `aws::AwsReportStore` implements it on DynamoDB and S3; the contract
//! tests in `tests/reports_store.rs` run it against moto.

use crate::period::Period;
use crate::report::DayCounters;
use async_trait::async_trait;
use sauda_shared::ports::StoreError;
use sauda_shared::TenantId;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// One generated file.
#[derive(Clone, Debug)]
pub struct ReportFile {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// Where a report's files live: `reports/{tenant}/{period}/{name}`.
pub fn object_key(tenant: &TenantId, period: Period, name: &str) -> String {
    format!("reports/{tenant}/{period}/{name}")
}

/// 32 random bytes, URL-safe: the capability a report link carries.
pub fn new_link_token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The report record after this run, as the store returned it.
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

#[async_trait]
pub trait ReportStore: Send + Sync {
    /// The counters of every day, summed over shards; every requested day is present
    /// (empty when nothing was counted). All or an error: never part of the days.
    async fn counters(&self, tenant: &TenantId, days: &[String])
        -> Result<DayCounters, StoreError>;

    /// The names of these partners of `tenant` (partners without a profile are left out).
    async fn partner_names(
        &self,
        tenant: &TenantId,
        ids: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, String>, StoreError>;

    /// Stores the files under [`object_key`], replacing earlier ones.
    async fn put_files(
        &self,
        tenant: &TenantId,
        period: Period,
        files: &[ReportFile],
    ) -> Result<(), StoreError>;

    /// A GET URL of one stored file, valid for `ttl` (at most 7 days).
    async fn presign(
        &self,
        tenant: &TenantId,
        period: Period,
        name: &str,
        ttl: Duration,
    ) -> Result<String, StoreError>;

    /// Records one run (count, digest of `report.json`, first and last run) and returns
    /// the record as it now is. `candidate_token` becomes the link token on the first run.
    async fn record_run(
        &self,
        tenant: &TenantId,
        period: Period,
        digest: &str,
        candidate_token: &str,
        now_ms: i64,
    ) -> Result<RecordState, StoreError>;

    /// The link token and age of a stored report; `None` when it was never generated.
    async fn link_record(
        &self,
        tenant: &TenantId,
        period: Period,
    ) -> Result<Option<LinkRecord>, StoreError>;

    /// Marks the managers' notice as queued; the first mark wins, later ones are no-ops.
    async fn mark_notified(
        &self,
        tenant: &TenantId,
        period: Period,
        notice_id: &str,
        now_ms: i64,
    ) -> Result<(), StoreError>;
}
