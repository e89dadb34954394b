//! `sauda report …`: backfill a tenant's report, run the planner now, or preview the
//! demo tenant's HTML report from synthetic data (no AWS needed).

use crate::cli::{tenant_id, CliContext, CliResult};
use crate::demo::DemoTenant;
use clap::Subcommand;
use reports::period::Period;
use reports::planner::{self, PlanEvent, PlannerConfig, PlannerDeps};
use reports::worker::{self, NoticeOutcome, WorkerConfig};
use sauda_shared::config::CoreConfig;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum ReportCommand {
    /// Build (or rebuild) one tenant's report for a past period: `2026-10`, `2026-W44`
    /// or `2026-10-31`. Idempotent: the same files again, and managers are notified
    /// only if they never were for this period.
    Run {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        period: String,
        /// Store the report without notifying the managers.
        #[arg(long)]
        no_notify: bool,
        /// Report bucket; defaults to the stack output `BucketName`.
        #[arg(long, env = "BUCKET_NAME")]
        bucket: Option<String>,
        /// Notify queue; defaults to the stack output `NotifyQueueUrl`.
        #[arg(long, env = "NOTIFY_QUEUE_URL")]
        notify_queue_url: Option<String>,
        /// Base URL of the report-link route (the stack output `WebhookBaseUrl`); without
        /// one, managers get presigned S3 URLs that expire with this CLI's credentials.
        #[arg(long, env = "REPORT_LINK_BASE_URL")]
        link_base_url: Option<String>,
        /// CloudFormation stack to read the defaults from.
        #[arg(long, default_value = "sauda")]
        stack_name: String,
    },
    /// Run the planner now: enqueue every report that closed in the window ending at
    /// `--at` (default now). Widen the window to catch up after an outage.
    Plan {
        /// RFC 3339 instant, e.g. `2026-12-01T00:05:00Z`.
        #[arg(long)]
        at: Option<String>,
        #[arg(long, default_value_t = 1)]
        window_hours: u32,
        #[arg(long, env = "REPORTS_QUEUE_URL")]
        reports_queue_url: String,
    },
    /// Render the demo tenant's HTML report from synthetic counters to a file.
    Preview {
        #[arg(long, default_value = "infra/demo/tenant.json")]
        demo: PathBuf,
        /// Defaults to the last full month in the demo tenant's zone.
        #[arg(long)]
        period: Option<String>,
        /// Overrides the demo tenant's language (`en`, `ru`, `kk`, `ky`).
        #[arg(long)]
        language: Option<String>,
        #[arg(long, default_value = ".local/report-preview.html")]
        out: PathBuf,
    },
}

async fn stack_output(ctx: &CliContext, stack: &str, key: &str) -> Result<String, String> {
    let cfn = aws_sdk_cloudformation::Client::new(&ctx.sdk);
    let out = cfn
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| format!("pass --{} or deploy stack {stack}: {e}", flag_of(key)))?;
    out.stacks()
        .iter()
        .flat_map(|s| s.outputs())
        .find(|o| o.output_key() == Some(key))
        .and_then(|o| o.output_value().map(str::to_owned))
        .ok_or_else(|| format!("stack {stack} has no output {key}; pass --{}", flag_of(key)))
}

fn flag_of(output: &str) -> &'static str {
    if output == "BucketName" {
        "bucket"
    } else {
        "notify-queue-url"
    }
}

pub async fn run(ctx: &CliContext, cmd: ReportCommand) -> CliResult {
    match cmd {
        ReportCommand::Run {
            tenant,
            period,
            no_notify,
            bucket,
            notify_queue_url,
            link_base_url,
            stack_name,
        } => {
            let tenant = tenant_id(&tenant)?;
            let period = Period::parse(&period)?;
            let bucket = match bucket {
                Some(b) => b,
                None => stack_output(ctx, &stack_name, "BucketName").await?,
            };
            let notify_queue_url = match notify_queue_url {
                Some(u) => u,
                None => stack_output(ctx, &stack_name, "NotifyQueueUrl").await?,
            };
            let link_base_url = match link_base_url {
                Some(u) => Some(u),
                None => stack_output(ctx, &stack_name, "WebhookBaseUrl").await.ok(),
            };
            let config = WorkerConfig {
                core: CoreConfig {
                    stage: ctx.stage.clone(),
                    table_name: ctx.table.clone(),
                },
                bucket,
                notify_queue_url,
                link_base_url,
            };
            let deps = worker::Deps::from_aws(&ctx.clients, &config);
            let outcome =
                worker::run_report(&deps, &tenant, period, !no_notify, sauda_shared::now_ms())
                    .await?;
            let r = &outcome.report;
            println!(
                "report {} of {tenant} ({} – {}, {}; run {})",
                r.period.id, r.period.first_day, r.period.last_day, r.timezone, outcome.runs
            );
            for key in &outcome.keys {
                println!("  s3://{}/{key}", config.bucket);
            }
            println!("  sha256(report.json) {}", outcome.digest);
            println!(
                "  conversations {} · messages {}/{} · new leads {} · AI cost {} µ$",
                r.conversations.conversations.value,
                r.conversations.messages_in.value,
                r.conversations.messages_out.value,
                r.leads.new_total.value,
                r.ai.cost_micros.value
            );
            println!(
                "  managers: {}",
                match outcome.notice {
                    NoticeOutcome::Queued => "summary queued for delivery",
                    NoticeOutcome::AlreadyQueued =>
                        "already notified for this period; not sent again",
                    NoticeOutcome::NoManagers => "none configured; report stored only",
                    NoticeOutcome::Suppressed => "not notified (--no-notify)",
                }
            );
        }
        ReportCommand::Plan {
            at,
            window_hours,
            reports_queue_url,
        } => {
            let deps = PlannerDeps::new(
                &ctx.clients,
                &PlannerConfig {
                    core: CoreConfig {
                        stage: ctx.stage.clone(),
                        table_name: ctx.table.clone(),
                    },
                    reports_queue_url,
                },
            );
            let event = PlanEvent {
                scheduled_time: at,
                window_hours: Some(window_hours),
            };
            if let Some(raw) = &event.scheduled_time {
                raw.parse::<jiff::Timestamp>()
                    .map_err(|e| format!("--at {raw:?} is not an RFC 3339 instant: {e}"))?;
            }
            let (at, window) = event.resolve(jiff::Timestamp::now());
            let started = std::time::Instant::now();
            let summary = planner::plan(&deps, at, window).await?;
            println!(
                "planned {} report jobs for {} tenants in {} batches ({:.2?}; window ending {at})",
                summary.jobs,
                summary.tenants,
                summary.batches,
                started.elapsed()
            );
        }
        ReportCommand::Preview {
            demo,
            period,
            language,
            out,
        } => {
            let demo = DemoTenant::load(&demo)?;
            let tz = jiff::tz::TimeZone::get(&demo.timezone)?;
            let period = match period {
                Some(p) => Period::parse(&p)?,
                None => Period::containing(
                    sauda_shared::tenant::ReportPeriodKind::Monthly,
                    jiff::Timestamp::now().to_zoned(tz).date(),
                )?
                .previous(),
            };
            let language = language.unwrap_or_else(|| demo.default_language.clone());
            let context = reports::synthetic::demo_context(
                demo.tenant.as_str(),
                &demo.name,
                &demo.timezone,
                &language,
            );
            let counters = reports::synthetic::counters(period, 2026);
            let report = reports::build(&context, period, &counters);
            let html = reports::render::html(&report)?;
            if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&out, &html)?;
            println!(
                "wrote {} ({} bytes): {} report {} of {}",
                out.display(),
                html.len(),
                language,
                period,
                demo.tenant
            );
        }
    }
    Ok(())
}
