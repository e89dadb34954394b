//! Making a catalog version from a price list, and switching the active one: the steps
//! `sauda catalog import|activate|rollback` and the tenant admin API's import jobs share,
//! so both make the same versions under the same rules (the plan's item limit included).

use super::import::{self, ImportReport, SourceFormat};
use super::store::{new_version, version_prefix, Manifest};
use super::{CatalogError, CatalogIndex, RejectedRow};
use sauda_shared::limits::{self, LimitExceeded, Metric};
use sauda_shared::tenant::{CatalogSettings, TenantConfig};
use std::time::Instant;

/// How many earlier versions a tenant keeps for rollback.
pub const KEEP_PREVIOUS: usize = 10;

/// Where an import reports its progress: the CLI's progress bar, or nothing.
pub trait Progress {
    fn stage(&self, name: &str, total: u64);
    fn advance(&self, done: u64);
}

/// No progress output (tests, scripts, the API's worker).
pub struct Quiet;

impl Progress for Quiet {
    fn stage(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{0}")]
    Catalog(#[from] CatalogError),
    #[error("no valid rows to import ({rejected} rejected)")]
    Empty {
        rejected: usize,
        first: Option<RejectedRow>,
    },
    /// The import has more items than the tenant's plan allows: nothing is built.
    #[error("{0}")]
    PlanLimit(#[from] LimitExceeded),
}

/// Reads and validates a price list, refusing one with no valid row or more items than
/// the tenant's plan allows (a hard limit: refused before anything is built).
pub fn validate_source(
    config: &TenantConfig,
    source: &[u8],
    format: SourceFormat,
    default_currency: Option<&str>,
    progress: &dyn Progress,
) -> Result<ImportReport, PublishError> {
    progress.stage("reading", 0);
    let sheet = import::read_sheet(source, format)?;
    progress.stage("validating rows", sheet.rows.len() as u64);
    let report = import::validate(
        sheet,
        default_currency.map(str::to_ascii_uppercase).as_deref(),
        |done, _| progress.advance(done as u64),
    )?;
    if report.items.is_empty() {
        return Err(PublishError::Empty {
            rejected: report.rejected.len(),
            first: report.rejected.first().cloned(),
        });
    }
    limits::check(config, Metric::CatalogItems, report.items.len() as u64)?;
    Ok(report)
}

/// A version built and ready to upload (`CatalogStore::put_version`).
pub struct Built {
    pub manifest: Manifest,
    pub bundle: Vec<u8>,
    pub build_ms: u128,
}

/// Indexes validated items as a new version of `config`'s catalog (CPU-bound: callers
/// with other work run it on a blocking thread).
pub fn build_version(
    config: &TenantConfig,
    report: &ImportReport,
    format: SourceFormat,
    source_file: String,
    now_ms: i64,
    progress: &dyn Progress,
) -> Result<Built, CatalogError> {
    progress.stage("building the index", report.items.len() as u64);
    let started = Instant::now();
    let index = CatalogIndex::build(&report.items, |done, _| progress.advance(done as u64))?;
    let bundle = index.to_bundle()?;
    let build_ms = started.elapsed().as_millis();
    let tenant = &config.tenant;
    let version = new_version(now_ms);
    let prefix = version_prefix(tenant, &version);
    let manifest = Manifest {
        tenant: tenant.clone(),
        version,
        created_at_ms: now_ms,
        source_file,
        source_key: format!("{prefix}source.{}", format.extension()),
        index_key: format!("{prefix}index.tar"),
        index_bytes: bundle.len() as u64,
        items: report.items.len() as u64,
        data_rows: report.data_rows as u64,
        blank_rows: report.blank_rows as u64,
        rejected_rows: report.rejected.len() as u64,
        rejected_sample: report.rejected.iter().take(100).cloned().collect(),
        index_format: super::index::INDEX_FORMAT,
    };
    Ok(Built {
        manifest,
        bundle,
        build_ms,
    })
}

/// Makes `version` active; the version it replaces becomes the first rollback target.
pub fn activate(catalog: &mut CatalogSettings, version: &str) {
    if catalog.active_version.as_deref() == Some(version) {
        return;
    }
    if let Some(current) = catalog.active_version.take() {
        catalog.previous_versions.retain(|v| v != &current);
        catalog.previous_versions.insert(0, current);
    }
    catalog.previous_versions.retain(|v| v != version);
    catalog.previous_versions.truncate(KEEP_PREVIOUS);
    catalog.active_version = Some(version.to_owned());
}

/// Re-activates the previously active version: `(from, to)`, or `None` without one.
pub fn rollback(catalog: &mut CatalogSettings) -> Option<(Option<String>, String)> {
    let target = catalog.previous_versions.first().cloned()?;
    let from = catalog.active_version.clone();
    catalog.previous_versions.retain(|v| v != &target);
    catalog.active_version = Some(target.clone());
    Some((from, target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activate_then_rollback_returns_to_the_previous_version() {
        let mut c = CatalogSettings::default();
        activate(&mut c, "v1");
        activate(&mut c, "v2");
        assert_eq!(c.active_version.as_deref(), Some("v2"));
        assert_eq!(c.previous_versions, vec!["v1".to_owned()]);
        assert_eq!(rollback(&mut c), Some((Some("v2".into()), "v1".into())));
        assert_eq!(c.active_version.as_deref(), Some("v1"));
        assert!(c.previous_versions.is_empty());
        assert_eq!(rollback(&mut c), None);
    }
}
