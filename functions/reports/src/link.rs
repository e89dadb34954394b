//! The link managers get for a report:
//! `GET /t/{tenant}/reports/{period}/{file}?token=…` checks the report's link token and
//! redirects to a presigned S3 URL made on the spot.
//!
//! A presigned URL is only valid while the credentials that signed it are, and a Lambda
//! role's credentials last hours, not the days a manager keeps a Telegram message. So the
//! message carries this stable link, and the short-lived URL is made at the moment of use.

use crate::period::Period;
use crate::store::ReportStore;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::{header, StatusCode};
use sauda_shared::api::{json_fallbacks, ApiDeps, ApiError, ApiPath, ApiQuery, HasApi, Tenant};
use sauda_shared::aws::AwsClients;
use sauda_shared::config::{parse_or, required, ConfigError, CoreConfig};
use sauda_shared::TenantId;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tracing::warn;

/// The files a link may open.
pub const FILES: [&str; 3] = ["report.html", "report.csv", "report.json"];
/// How long the redirect target lives: enough to load the page, too short to pass around.
pub const REDIRECT_TTL: Duration = Duration::from_secs(300);

#[derive(Clone, Debug)]
pub struct LinkConfig {
    pub core: CoreConfig,
    pub bucket: String,
    /// Days a link works after the report's first run (`REPORT_LINK_DAYS`, 90).
    pub valid_days: u32,
}

impl LinkConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            core: CoreConfig::from_env()?,
            bucket: required("BUCKET_NAME")?,
            valid_days: parse_or("REPORT_LINK_DAYS", 90)?,
        })
    }
}

pub struct Deps {
    /// The tenant check of every route (a link carries a token, not an API key).
    pub api: ApiDeps,
    pub store: Arc<dyn ReportStore>,
    pub valid_for_ms: i64,
}

impl HasApi for Deps {
    fn api(&self) -> &ApiDeps {
        &self.api
    }
}

impl Deps {
    pub fn from_aws(clients: &AwsClients, config: &LinkConfig) -> Self {
        let table = &config.core.table_name;
        Self {
            api: ApiDeps::on_dynamo(&clients.dynamo, table),
            store: Arc::new(crate::aws::AwsReportStore::new(
                clients,
                table,
                &config.bucket,
            )),
            valid_for_ms: i64::from(config.valid_days) * 86_400_000,
        }
    }
}

/// The link for one file of a report. `base` is the HTTP API's base URL.
pub fn link_url(base: &str, tenant: &TenantId, period: Period, file: &str, token: &str) -> String {
    format!(
        "{}/t/{tenant}/reports/{period}/{file}?token={token}",
        base.trim_end_matches('/')
    )
}

pub fn router(deps: Arc<Deps>) -> Router {
    json_fallbacks(Router::new().route("/t/{tenant}/reports/{period}/{file}", get(open)))
        .with_state(deps)
}

#[derive(Debug, Deserialize)]
struct LinkQuery {
    #[serde(default)]
    token: String,
}

/// A period the route refuses: 400 `invalid_period` or `period_out_of_range`.
fn period_error(e: crate::period::InvalidPeriod) -> ApiError {
    ApiError::bad_request(e.code(), e.to_string())
}

async fn open(
    State(deps): State<Arc<Deps>>,
    tenant: Tenant,
    ApiPath((_, period, file)): ApiPath<(String, String, String)>,
    ApiQuery(query): ApiQuery<LinkQuery>,
) -> Result<Response, ApiError> {
    let tenant = tenant.id();
    let not_found = || ApiError::not_found("report_not_found", "no such report");
    let period = Period::parse(&period).map_err(period_error)?;
    if !FILES.contains(&file.as_str()) {
        return Err(ApiError::not_found(
            "unknown_file",
            format!("a report has {}", FILES.join(", ")),
        ));
    }
    let record = deps
        .store
        .link_record(tenant, period)
        .await
        .map_err(|e| {
            warn!(%tenant, %period, error = %e, "report record unavailable");
            ApiError::dependency("reports unavailable")
        })?
        .ok_or_else(not_found)?;
    // Hashing both sides first keeps the comparison's time independent of the content.
    let presented = query.token;
    let matches: bool = Sha256::digest(presented.as_bytes())
        .ct_eq(&Sha256::digest(record.link_token.as_bytes()))
        .into();
    if presented.is_empty() || !matches {
        return Err(ApiError::forbidden(
            "invalid_link",
            "this link is not valid for this report",
        ));
    }
    if sauda_shared::now_ms() - record.first_run_ms > deps.valid_for_ms {
        return Err(ApiError::new(
            StatusCode::GONE,
            "link_expired",
            "this link has expired; the report can be sent again with `sauda report run`",
        ));
    }
    let target = deps
        .store
        .presign(tenant, period, &file, REDIRECT_TTL)
        .await
        .map_err(|e| {
            warn!(%tenant, %period, error = %e, "presigning failed");
            ApiError::dependency("reports unavailable")
        })?;
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, target),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (header::REFERRER_POLICY, "no-referrer".to_owned()),
        ],
    )
        .into_response())
}
