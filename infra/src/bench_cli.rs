//! `sauda bench …`: measurements whose figures go into the README. They run against the
//! local emulator only (`AWS_ENDPOINT_URL` must be set), in a stage of their own.

use crate::cli::{CliContext, CliResult};
use crate::demo;
use crate::runtime_bench::{self, quantile, Run};
use clap::Subcommand;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Cold init, per-invocation latency, peak RSS and size of the webhook binary, run
    /// under a Lambda Runtime API emulator against the local emulator.
    Webhook {
        /// The binary to measure; build it with `cargo build --release -p webhook`.
        #[arg(long, default_value = "target/release/webhook")]
        binary: PathBuf,
        #[arg(long, default_value_t = 1000)]
        invocations: usize,
        /// Separate process starts to time cold init over.
        #[arg(long, default_value_t = 10)]
        cold_starts: usize,
        #[arg(long, default_value = "template.yaml")]
        template: PathBuf,
        #[arg(long, default_value = "infra/demo/tenant.json")]
        demo: PathBuf,
    },
    /// Whole-process CPU per invocation, init, wall p50/p99 and peak RSS of each function
    /// under the Runtime API emulator, side by side with a Python 3.11 + boto3 webhook
    /// doing the same job on the same events, in one run; prints the ratios.
    Functions(crate::bench_functions::Options),
}

pub async fn run(ctx: &CliContext, command: BenchCommand) -> CliResult {
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        return Err("benchmarks run against the local emulator only: set AWS_ENDPOINT_URL".into());
    }
    match command {
        BenchCommand::Webhook {
            binary,
            invocations,
            cold_starts,
            template,
            demo,
        } => webhook(ctx, &binary, invocations, cold_starts, &template, &demo).await,
        BenchCommand::Functions(options) => crate::bench_functions::run(ctx, &options).await,
    }
}

async fn webhook(
    ctx: &CliContext,
    binary: &std::path::Path,
    invocations: usize,
    cold_starts: usize,
    template: &std::path::Path,
    demo_file: &std::path::Path,
) -> CliResult {
    let (_, stack, demo) =
        crate::bench_functions::bench_stage(ctx, template, demo_file, |_| {}).await?;
    let env = crate::bench_functions::function_env(&stack, "webhook")?;
    let secret = demo
        .secrets
        .telegram_webhook_secret
        .as_ref()
        .map(|s| s.expose().to_owned())
        .unwrap_or_default();
    let t = demo.tenant.as_str();
    let path = format!("/t/{t}/telegram");
    let event = |i: usize| {
        let update = demo::telegram_text(
            i as u64,
            i as i64,
            4_200_000 + (i % 50) as i64,
            1_795_860_000 + i as i64,
            "Сколько стоит насос?",
        );
        demo::http_api_event(
            "POST",
            "/t/{tenant}/telegram",
            t,
            &path,
            "",
            &[("x-telegram-bot-api-secret-token", &secret)],
            Some(&update.to_string()),
        )
    };

    let mut inits = Vec::new();
    for k in 0..cold_starts {
        let report = runtime_bench::run(Run {
            binary: binary.to_owned(),
            args: Vec::new(),
            env: env.clone(),
            events: vec![event(1_000_000 + k)],
        })
        .await?;
        inits.push(report.init);
    }
    let report = runtime_bench::run(Run {
        binary: binary.to_owned(),
        args: Vec::new(),
        env,
        events: (1..=invocations).map(event).collect(),
    })
    .await?;
    if let Some(error) = &report.first_error {
        return Err(format!(
            "{} of {invocations} invocations failed; first: {error}",
            report.errors
        )
        .into());
    }
    let size = std::fs::metadata(binary)?.len();
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    println!("| webhook figure | value |");
    println!("|---|---|");
    println!(
        "| cold init (process start → ready), median of {cold_starts} | {} (min {}, max {}) |",
        ms(quantile(&inits, 0.5)),
        ms(quantile(&inits, 0.0)),
        ms(quantile(&inits, 1.0))
    );
    println!(
        "| invocation latency incl. moto, p50 / p99 over {invocations} | {} / {} |",
        ms(quantile(&report.latencies, 0.5)),
        ms(quantile(&report.latencies, 0.99))
    );
    println!(
        "| peak RSS over {invocations} invocations | {:.1} MiB |",
        report.peak_rss_kib as f64 / 1024.0
    );
    println!(
        "| binary size ({}) | {:.1} MiB |",
        binary.display(),
        size as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}
