//! The catalog through the admin API: a presigned upload, an import job a worker runs,
//! and activate / roll back. The job makes its version with the same code as
//! `sauda catalog import` (`agent_reply::catalog::publish`), so the API and the CLI
//! make the same versions under the same rules, the plan's item limit included.
//!
//! A job is strict where the CLI is lenient: a price list with any invalid row fails
//! the job with that row and its reason, because nobody watches a job's output the way
//! an operator reads the CLI's. Nothing is activated by a job: activation is its own
//! request, so the active catalog is untouched by every failure.

use crate::Deps;
use agent_reply::catalog::import::SourceFormat;
use agent_reply::catalog::publish::{self, PublishError, Quiet};
use agent_reply::catalog::CatalogError;
use sauda_shared::api::ApiError;
use sauda_shared::consumer::JobFailure;
use sauda_shared::ports::StoreError;
use sauda_shared::tenant::{TenantConfig, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;
use tracing::{info, warn};

/// The largest price list accepted (a 50,000-item CSV is about 10 MiB).
pub const MAX_UPLOAD_BYTES: u64 = 50 * 1024 * 1024;
/// How long an upload URL stays valid.
pub const UPLOAD_TTL: Duration = Duration::from_secs(300);

pub const CSV: &str = "text/csv";
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// What the client asks to upload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    pub content_type: String,
    pub size_bytes: u64,
    #[serde(default)]
    pub file_name: Option<String>,
}

/// `up-{ulid}-{csv|xlsx}`: the format travels in the id, so an upload needs no item.
pub fn new_upload(request: &UploadRequest) -> Result<String, ApiError> {
    let format = match request.content_type.as_str() {
        CSV => SourceFormat::Csv,
        XLSX => SourceFormat::Xlsx,
        _ => {
            return Err(ApiError::field(
                "content_type",
                "unsupported_content_type",
                format!("{CSV} or {XLSX}"),
            ))
        }
    };
    if request.size_bytes == 0 || request.size_bytes > MAX_UPLOAD_BYTES {
        return Err(ApiError::field(
            "size_bytes",
            "invalid_size",
            format!("from 1 to {MAX_UPLOAD_BYTES} bytes"),
        ));
    }
    let id = ulid::Ulid::new().to_string().to_ascii_lowercase();
    Ok(format!("up-{id}-{}", format.extension()))
}

/// The format of a well-formed upload id.
pub fn upload_format(upload_id: &str) -> Option<SourceFormat> {
    let rest = upload_id.strip_prefix("up-")?;
    let (id, ext) = rest.split_once('-')?;
    let format = match ext {
        "csv" => SourceFormat::Csv,
        "xlsx" => SourceFormat::Xlsx,
        _ => return None,
    };
    (id.len() == 26
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
    .then_some(format)
}

pub fn content_type(format: SourceFormat) -> &'static str {
    match format {
        SourceFormat::Csv => CSV,
        SourceFormat::Xlsx => XLSX,
    }
}

/// Uploads are kept under the tenant's own prefix, apart from versions.
pub fn upload_key(tenant: &TenantId, upload_id: &str) -> String {
    format!("uploads/{tenant}/{upload_id}")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    pub upload_id: String,
    /// ISO 4217 currency of rows without a currency column.
    #[serde(default)]
    pub currency: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

/// Why a job failed: the row (1-based, the header is row 1) when one is to blame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobError {
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<usize>,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub details: Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportJob {
    pub tenant: TenantId,
    pub id: String,
    pub upload_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    pub status: JobStatus,
    pub rows_done: u64,
    pub rows_total: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    pub actor: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl ImportJob {
    pub fn new(tenant: &TenantId, request: ImportRequest, actor: String, now_ms: i64) -> Self {
        Self {
            tenant: tenant.clone(),
            id: format!("imp-{}", ulid::Ulid::new().to_string().to_ascii_lowercase()),
            upload_id: request.upload_id,
            currency: request.currency.map(|c| c.to_ascii_uppercase()),
            status: JobStatus::Queued,
            rows_done: 0,
            rows_total: 0,
            version: None,
            items: None,
            error: None,
            actor,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        }
    }

    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "upload_id": self.upload_id,
            "status": self.status,
            "progress": {"rows_done": self.rows_done, "rows_total": self.rows_total},
            "version": self.version,
            "items": self.items,
            "error": self.error,
            "created_at_ms": self.created_at_ms,
            "updated_at_ms": self.updated_at_ms,
        })
    }
}

/// Checks an import request before a job is made of it.
pub fn check_import(request: &ImportRequest) -> Result<SourceFormat, ApiError> {
    if let Some(c) = &request.currency {
        if c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_alphabetic()) {
            return Err(ApiError::field(
                "currency",
                "invalid_currency",
                "an ISO 4217 code such as KZT",
            ));
        }
    }
    upload_format(&request.upload_id).ok_or_else(|| {
        ApiError::field(
            "upload_id",
            "invalid_upload_id",
            "an id returned by POST /catalog/uploads",
        )
    })
}

/// The queue message of a job.
#[derive(Debug, Serialize, Deserialize)]
pub struct JobMessage {
    pub kind: String,
    pub tenant: TenantId,
    pub job_id: String,
}

pub const JOB_KIND: &str = "catalog_import";

fn failed(code: &str, row: Option<usize>, reason: impl Into<String>, details: Value) -> JobError {
    JobError {
        code: code.to_owned(),
        row,
        reason: reason.into(),
        details,
    }
}

/// What ends a job that cannot make a version.
fn publish_error(e: PublishError) -> Result<JobError, StoreError> {
    Ok(match e {
        PublishError::Catalog(CatalogError::Format(reason)) => {
            failed("invalid_file", None, reason, Value::Null)
        }
        PublishError::Catalog(e) => return Err(StoreError::Unavailable(e.to_string())),
        PublishError::Empty { rejected, first } => match first {
            Some(row) => failed("invalid_row", Some(row.row), row.reason, Value::Null),
            None => failed(
                "empty_file",
                None,
                format!("no rows to import ({rejected} rejected)"),
                Value::Null,
            ),
        },
        PublishError::PlanLimit(e) => failed(
            "plan_limit_exceeded",
            None,
            e.to_string(),
            json!({"plan": e.plan, "limit_name": e.metric.as_str(), "limit": e.limit, "usage": e.usage}),
        ),
    })
}

fn transient(e: StoreError) -> JobFailure {
    JobFailure::Transient(e.to_string())
}

/// Runs one queued job: reads the upload, validates it (progress written once the rows
/// are known), builds and stores the version. Redelivered jobs that already ended are
/// left alone; a transient failure leaves the job running for the redelivery.
pub async fn run_job(deps: &Deps, tenant: &TenantId, job_id: &str) -> Result<(), JobFailure> {
    let Some(mut job) = deps.jobs.get(tenant, job_id).await.map_err(transient)? else {
        return Err(JobFailure::Poison(format!("no import job {job_id}")));
    };
    if matches!(job.status, JobStatus::Succeeded | JobStatus::Failed) {
        return Ok(());
    }
    let config = deps
        .store
        .config(tenant)
        .await
        .map_err(transient)?
        .ok_or_else(|| JobFailure::Poison("the tenant is gone".into()))?;
    let outcome = make_version(deps, &config, &mut job)
        .await
        .map_err(transient)?;
    job.updated_at_ms = sauda_shared::now_ms();
    match outcome {
        Ok(()) => {
            job.status = JobStatus::Succeeded;
            info!(%tenant, job = %job.id, version = ?job.version, "catalog import done");
        }
        Err(error) => {
            job.status = JobStatus::Failed;
            warn!(%tenant, job = %job.id, code = %error.code, "catalog import failed");
            job.error = Some(error);
        }
    }
    deps.jobs.put(&job).await.map_err(transient)
}

async fn make_version(
    deps: &Deps,
    config: &TenantConfig,
    job: &mut ImportJob,
) -> Result<Result<(), JobError>, StoreError> {
    let Some(format) = upload_format(&job.upload_id) else {
        return Ok(Err(failed(
            "invalid_upload_id",
            None,
            "not an upload id",
            Value::Null,
        )));
    };
    let key = upload_key(&job.tenant, &job.upload_id);
    let Some(source) = deps.files.read_upload(&key, MAX_UPLOAD_BYTES).await? else {
        return Ok(Err(failed(
            "upload_missing",
            None,
            "nothing was uploaded under this id",
            Value::Null,
        )));
    };
    let currency = job.currency.clone();
    let (source, validated) = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            let r = publish::validate_source(&config, &source, format, currency.as_deref(), &Quiet);
            (source, r)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("validation task: {e}")))?
    };
    let report = match validated {
        Ok(report) => report,
        Err(e) => return Ok(Err(publish_error(e)?)),
    };
    if let Some(row) = report.rejected.first() {
        return Ok(Err(failed(
            "invalid_row",
            Some(row.row),
            row.reason.clone(),
            json!({"rejected_rows": report.rejected.len()}),
        )));
    }
    job.rows_total = report.data_rows as u64;
    job.rows_done = job.rows_total;
    job.status = JobStatus::Running;
    job.updated_at_ms = sauda_shared::now_ms();
    deps.jobs.put(job).await?;
    let built = {
        let config = config.clone();
        let upload_id = job.upload_id.clone();
        tokio::task::spawn_blocking(move || {
            publish::build_version(
                &config,
                &report,
                format,
                upload_id,
                sauda_shared::now_ms(),
                &Quiet,
            )
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("index task: {e}")))?
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
    };
    let manifest = built.manifest;
    deps.files
        .put_version(&manifest, source, built.bundle)
        .await?;
    job.version = Some(manifest.version.clone());
    job.items = Some(manifest.items);
    Ok(Ok(()))
}

/// Activation's plan check: a version over the tenant's current item limit (made before
/// a downgrade) is refused as an import over it would be.
pub fn check_activation(config: &TenantConfig, items: u64) -> Result<(), ApiError> {
    sauda_shared::limits::check(config, sauda_shared::limits::Metric::CatalogItems, items)
        .map_err(ApiError::from)
}
