//! `sauda catalog …`: import a price list (CSV/XLSX) into a new versioned index in S3,
//! activate a version, roll back, list versions, and generate the demo catalog.
//!
//! A blue-green catalog: every import is a new immutable version under
//! `catalogs/{tenant}/{version}/`; the tenant config names the active one, so
//! activating and rolling back are one config write each. The agent picks the change
//! up when its config cache expires (about a minute).

use crate::cli::{tenant_id, CliContext, CliResult};
use crate::tenant;
use agent_reply::catalog::import::SourceFormat;
use agent_reply::catalog::publish::{self, PublishError};
use agent_reply::catalog::store::{version_prefix, Manifest};
use agent_reply::catalog::{generate, CatalogStore, RejectedRow};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use sauda_shared::aws::AwsClients;
use sauda_shared::TenantId;
use std::path::{Path, PathBuf};

pub use agent_reply::catalog::publish::{Progress, Quiet, KEEP_PREVIOUS};

#[derive(Subcommand, Debug)]
pub enum CatalogCommand {
    /// Import a CSV or XLSX price list as a new catalog version (and optionally activate it).
    /// Columns are matched by header (ru/en/kk): sku|артикул, name|наименование, price|цена,
    /// currency, availability|наличие, quantity|остаток, url|ссылка, photo|фото,
    /// category|категория, brand|бренд, description|описание, name_en.
    Import {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        file: PathBuf,
        /// Make the new version the active one right away.
        #[arg(long)]
        activate: bool,
        /// ISO 4217 currency for rows without a currency column (e.g. KZT).
        #[arg(long)]
        currency: Option<String>,
        #[command(flatten)]
        bucket: BucketArg,
    },
    /// Make a version the active one (the current one becomes the rollback target).
    Activate {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        version: String,
        #[command(flatten)]
        bucket: BucketArg,
    },
    /// Go back to the previously active version.
    Rollback {
        #[arg(long)]
        tenant: String,
    },
    /// List a tenant's catalog versions.
    List {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        bucket: BucketArg,
    },
    /// Write a realistic demo catalog (equipment supplier, ru/en names) as CSV.
    Generate {
        #[arg(long, default_value_t = 40_000)]
        items: usize,
        #[arg(long, default_value = "demo-catalog.csv")]
        out: PathBuf,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

#[derive(clap::Args, Debug, Clone)]
pub struct BucketArg {
    /// The stack's bucket (stack output `BucketName`); locally it is derived from the stage.
    #[arg(long, env = "BUCKET_NAME")]
    pub bucket: Option<String>,
}

impl BucketArg {
    fn resolve(&self, ctx: &CliContext) -> Result<String, String> {
        if let Some(b) = &self.bucket {
            return Ok(b.clone());
        }
        if std::env::var("AWS_ENDPOINT_URL").is_ok() {
            // The local emulator's account, as `provision` names the bucket.
            return Ok(format!(
                "sauda-{}-{}-{}",
                ctx.stage,
                crate::provision::LOCAL_ACCOUNT,
                ctx.region
            ));
        }
        Err("pass --bucket (or BUCKET_NAME): the stack output BucketName".into())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogCliError {
    #[error("{0}")]
    Catalog(#[from] agent_reply::catalog::CatalogError),
    #[error("{0}")]
    Tenant(#[from] tenant::OnboardingError),
    #[error("{0}")]
    Invalid(String),
    /// The import has more items than the tenant's plan allows: nothing is uploaded.
    #[error("{0}")]
    PlanLimit(#[from] sauda_shared::limits::LimitExceeded),
}

/// What an import produced.
#[derive(Debug)]
pub struct ImportOutcome {
    pub manifest: Manifest,
    /// Every rejected row (the manifest keeps a sample).
    pub rejected: Vec<RejectedRow>,
    pub ignored_columns: Vec<String>,
    pub activated: bool,
    pub build_ms: u128,
}

/// The CLI's progress bar.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn stage(&self, name: &str, total: u64) {
        self.0.set_length(total);
        self.0.set_position(0);
        self.0.set_message(name.to_owned());
    }

    fn advance(&self, done: u64) {
        self.0.set_position(done);
    }
}

/// Reads, validates and indexes a price list, uploads source and index as a new
/// version, and activates it if asked.
#[allow(clippy::too_many_arguments)]
pub async fn import_catalog(
    clients: &AwsClients,
    table: &str,
    bucket: &str,
    tenant: &TenantId,
    file: &Path,
    default_currency: Option<&str>,
    activate: bool,
    progress: &dyn Progress,
) -> Result<ImportOutcome, CatalogCliError> {
    // The tenant must exist before anything is uploaded under its name.
    let config = tenant::read_config(&clients.dynamo, table, tenant).await?;
    if let Some(c) = default_currency {
        if c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_alphabetic()) {
            return Err(CatalogCliError::Invalid(format!(
                "--currency {c:?} is not an ISO 4217 code"
            )));
        }
    }
    let format = SourceFormat::from_path(file)?;
    let source = std::fs::read(file)
        .map_err(|e| CatalogCliError::Invalid(format!("{}: {e}", file.display())))?;
    let report =
        match publish::validate_source(&config, &source, format, default_currency, progress) {
            Ok(report) => report,
            Err(PublishError::Catalog(e)) => return Err(e.into()),
            Err(PublishError::PlanLimit(e)) => return Err(e.into()),
            Err(e @ PublishError::Empty { .. }) => {
                return Err(CatalogCliError::Invalid(e.to_string()))
            }
        };
    // A CLI run has nothing else to do meanwhile: building on this thread is fine.
    let built = publish::build_version(
        &config,
        &report,
        format,
        file.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        sauda_shared::now_ms(),
        progress,
    )?;
    progress.stage("uploading", 0);
    let manifest = built.manifest;
    let version = manifest.version.clone();
    let store = CatalogStore::new(clients.s3.clone(), bucket);
    store.put_version(&manifest, source, built.bundle).await?;
    let activated = if activate {
        activate_version(clients, table, bucket, tenant, &version).await?;
        true
    } else {
        false
    };
    Ok(ImportOutcome {
        manifest,
        rejected: report.rejected,
        ignored_columns: report.ignored_columns,
        activated,
        build_ms: built.build_ms,
    })
}

/// Makes `version` active; the version it replaces becomes the first rollback target.
pub async fn activate_version(
    clients: &AwsClients,
    table: &str,
    bucket: &str,
    tenant: &TenantId,
    version: &str,
) -> Result<(), CatalogCliError> {
    // Only complete versions of this tenant can be activated.
    CatalogStore::new(clients.s3.clone(), bucket)
        .manifest(tenant, version)
        .await?;
    tenant::update_config(&clients.dynamo, table, tenant, |c| {
        publish::activate(&mut c.catalog, version)
    })
    .await?;
    Ok(())
}

/// Re-activates the previously active version. Returns `(from, to)`.
pub async fn rollback(
    clients: &AwsClients,
    table: &str,
    tenant: &TenantId,
) -> Result<(Option<String>, String), CatalogCliError> {
    let current = tenant::read_config(&clients.dynamo, table, tenant).await?;
    let Some((from, target)) = publish::rollback(&mut current.catalog.clone()) else {
        return Err(CatalogCliError::Invalid(
            "there is no earlier version to roll back to".into(),
        ));
    };
    tenant::update_config(&clients.dynamo, table, tenant, |c| {
        publish::rollback(&mut c.catalog);
    })
    .await?;
    Ok((from, target))
}

/// Versions, oldest first, with whether each is the active one.
pub async fn list_versions(
    clients: &AwsClients,
    table: &str,
    bucket: &str,
    tenant: &TenantId,
) -> Result<Vec<(Manifest, bool)>, CatalogCliError> {
    let config = tenant::read_config(&clients.dynamo, table, tenant).await?;
    let manifests = CatalogStore::new(clients.s3.clone(), bucket)
        .list(tenant)
        .await?;
    Ok(manifests
        .into_iter()
        .map(|m| {
            let active = config.catalog.active_version.as_deref() == Some(m.version.as_str());
            (m, active)
        })
        .collect())
}

fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg:<20} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

fn day_time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

pub async fn run(ctx: &CliContext, cmd: CatalogCommand) -> CliResult {
    let clients = &ctx.clients;
    let table = &ctx.table;
    match cmd {
        CatalogCommand::Import {
            tenant,
            file,
            activate,
            currency,
            bucket,
        } => {
            let tenant = tenant_id(&tenant)?;
            let bucket = bucket.resolve(ctx)?;
            let progress = Bar(progress_bar());
            let result = import_catalog(
                clients,
                table,
                &bucket,
                &tenant,
                &file,
                currency.as_deref(),
                activate,
                &progress,
            )
            .await;
            progress.0.finish_and_clear();
            let outcome = result?;
            let m = &outcome.manifest;
            for row in &outcome.rejected {
                eprintln!("row {}: {}", row.row, row.reason);
            }
            if !outcome.ignored_columns.is_empty() {
                eprintln!("ignored columns: {}", outcome.ignored_columns.join(", "));
            }
            println!(
                "version {}: {} items indexed, {} rows rejected, {} blank rows (of {} rows); index {} KiB built in {} ms",
                m.version,
                m.items,
                m.rejected_rows,
                m.blank_rows,
                m.data_rows,
                m.index_bytes / 1024,
                outcome.build_ms
            );
            println!(
                "stored under s3://{bucket}/{}",
                version_prefix(&tenant, &m.version)
            );
            if outcome.activated {
                println!("activated: the agent uses it within a minute");
            } else {
                println!(
                    "activate it with: sauda catalog activate --tenant {tenant} --version {}",
                    m.version
                );
            }
        }
        CatalogCommand::Activate {
            tenant,
            version,
            bucket,
        } => {
            let tenant = tenant_id(&tenant)?;
            activate_version(clients, table, &bucket.resolve(ctx)?, &tenant, &version).await?;
            println!("catalog version {version} is active for {tenant}");
        }
        CatalogCommand::Rollback { tenant } => {
            let tenant = tenant_id(&tenant)?;
            let (from, to) = rollback(clients, table, &tenant).await?;
            println!(
                "rolled back {tenant}: {} -> {to}",
                from.as_deref().unwrap_or("(none)")
            );
        }
        CatalogCommand::List { tenant, bucket } => {
            let tenant = tenant_id(&tenant)?;
            let versions = list_versions(clients, table, &bucket.resolve(ctx)?, &tenant).await?;
            if versions.is_empty() {
                println!("no catalog versions for {tenant}");
            }
            for (m, active) in versions {
                println!(
                    "{} {:<24} {:>7} items {:>5} rejected  {:>7} KiB  {}  {}",
                    if active { "*" } else { " " },
                    m.version,
                    m.items,
                    m.rejected_rows,
                    m.index_bytes / 1024,
                    day_time(m.created_at_ms),
                    m.source_file
                );
            }
        }
        CatalogCommand::Generate { items, out, seed } => {
            let catalog = generate::demo_items(items, seed);
            let file =
                std::fs::File::create(&out).map_err(|e| format!("{}: {e}", out.display()))?;
            generate::write_csv(&catalog, std::io::BufWriter::new(file))?;
            println!("wrote {} items to {}", catalog.len(), out.display());
        }
    }
    Ok(())
}
