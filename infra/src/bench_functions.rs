//! `sauda bench functions`: every function's whole-process cost per invocation under the
//! Runtime API emulator, with a Python + boto3 webhook doing the webhook's job on the same
//! events in the same run, so the ratio is measured rather than remembered.

use crate::cli::{CliContext, CliResult};
use crate::demo::{self, DemoTenant};
use crate::provision;
use crate::runtime_bench::{self, quantile, Report, Run};
use crate::template::Template;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Options {
    /// Where the binaries are: `cargo build --profile profiling` puts them here.
    #[arg(long, default_value = "target/profiling")]
    pub binaries: PathBuf,
    /// The Python reference (`infra/bench/python_webhook.py`) runs with this.
    #[arg(long, default_value = ".venv/bin/python")]
    pub python: PathBuf,
    #[arg(long, default_value_t = 1000)]
    pub invocations: usize,
    /// Runs of each function (a range is printed: the machine may be busy).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    #[arg(long, default_value = "template.yaml")]
    pub template: PathBuf,
    #[arg(long, default_value = "infra/demo/tenant.json")]
    pub demo: PathBuf,
    /// Only the cases whose name contains one of these (all of them by default).
    #[arg(long)]
    pub only: Vec<String>,
}

/// A secret's value, or empty when the demo tenant has none.
fn exposed(secret: &Option<sauda_shared::secrets::Secret>) -> String {
    secret
        .as_ref()
        .map(|s| s.expose().to_owned())
        .unwrap_or_default()
}

/// A fresh stage provisioned from the template, with the demo tenant (its config as
/// `tweak` leaves it) and its secrets.
pub async fn bench_stage(
    ctx: &CliContext,
    template: &std::path::Path,
    demo_file: &std::path::Path,
    tweak: impl FnOnce(&mut sauda_shared::tenant::TenantConfig),
) -> Result<(String, provision::Stack, DemoTenant), Box<dyn std::error::Error>> {
    let stage = format!(
        "bench{}",
        &ulid::Ulid::new().to_string().to_ascii_lowercase()[16..]
    );
    let stack = provision::provision(
        &ctx.clients,
        &Template::load(template)?,
        &stage,
        &ctx.region,
    )
    .await?;
    let demo = DemoTenant::load(demo_file)?;
    let mut config = demo.config();
    tweak(&mut config);
    crate::tenant::create_tenant(&ctx.clients.dynamo, &stack.table, &config).await?;
    crate::tenant::merge_tenant_secrets(
        &ctx.clients.secrets,
        &stage,
        &demo.tenant,
        demo.secrets.clone(),
    )
    .await?;
    Ok((stage, stack, demo))
}

/// A function's template environment plus the harness's AWS settings.
pub fn function_env(
    stack: &provision::Stack,
    binary: &str,
) -> Result<Vec<(String, String)>, Box<dyn std::error::Error>> {
    let mut env = stack.function_env(binary)?;
    for key in PASSED {
        if let Ok(value) = std::env::var(key) {
            env.push((key.to_owned(), value));
        }
    }
    Ok(env)
}

/// One function measured: how to start it and the events it gets (`n` of them, numbered
/// from `from` so that every run stores new messages).
struct Case {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    events: Box<dyn Fn(usize) -> Value>,
}

/// The variables a function process gets from the harness, as Lambda would set them.
const PASSED: [&str; 6] = [
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EC2_METADATA_DISABLED",
];

pub async fn run(ctx: &CliContext, o: &Options) -> CliResult {
    // Every bench form comes from a fresh client address; the limit is not measured here.
    let (_, stack, demo) = bench_stage(ctx, &o.template, &o.demo, |c| {
        c.leads.form_rate_limit_per_hour = 1_000_000
    })
    .await?;
    let env_of = |binary: &str| function_env(&stack, binary);

    let t = demo.tenant.to_string();
    let tg_secret = exposed(&demo.secrets.telegram_webhook_secret);
    let telegram = {
        let t = t.clone();
        move |i: usize| {
            let update = demo::telegram_text(
                i as u64,
                i as i64,
                4_200_000 + (i % 50) as i64,
                1_795_860_000 + (i % 100_000) as i64,
                "Сколько стоит насос?",
            );
            demo::http_api_event(
                "POST",
                "/t/{tenant}/telegram",
                &t,
                &format!("/t/{t}/telegram"),
                "",
                &[("x-telegram-bot-api-secret-token", &tg_secret)],
                Some(&update.to_string()),
            )
        }
    };
    let wa_secret = exposed(&demo.secrets.whatsapp_app_secret);
    let phone_number_id = demo.whatsapp_phone_number_id.clone().unwrap_or_default();
    let whatsapp = {
        let t = t.clone();
        move |i: usize| {
            let body = demo::whatsapp_text(
                &phone_number_id,
                &format!("7701{:07}", i % 50),
                &format!("wamid.bench{i}"),
                1_795_860_000 + (i % 100_000) as i64,
                "Сколько стоит насос?",
            )
            .to_string();
            let signature =
                sauda_shared::signature::whatsapp_signature(&wa_secret, body.as_bytes());
            demo::http_api_event(
                "POST",
                "/t/{tenant}/whatsapp",
                &t,
                &format!("/t/{t}/whatsapp"),
                "",
                &[("x-hub-signature-256", &signature)],
                Some(&body),
            )
        }
    };

    let lead_form = {
        let t = t.clone();
        move |i: usize| {
            let body = serde_json::json!({
                "name": "Bench Customer", "phone": format!("+7701{:07}", i % 10_000_000),
                "message": format!("Please call me back (#{i})"), "source": "bench", "consent": true,
            });
            let mut event = demo::http_api_event(
                "POST",
                "/t/{tenant}/leads",
                &t,
                &format!("/t/{t}/leads"),
                "",
                &[("origin", "http://localhost:8080")],
                Some(&body.to_string()),
            );
            event["requestContext"]["http"]["sourceIp"] =
                Value::String(format!("10.{}.{}.{}", i % 200, (i / 200) % 200, i % 7));
            event
        }
    };
    // Fake Telegram for the agent's replies (fallback replies: no model key is set).
    let fakes = crate::fake_saas::router(
        &std::path::PathBuf::from(".local/bench-fakes.jsonl"),
        crate::fake_saas::StripeEndpoint::default(),
    )?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let fakes_base = format!("http://{}", listener.local_addr()?);
    let fakes_server = tokio::spawn(async move { axum::serve(listener, fakes).await });
    let mut agent_env = env_of("agent-reply")?;
    agent_env.retain(|(k, _)| k != "TELEGRAM_API_BASE");
    agent_env.push(("TELEGRAM_API_BASE".into(), format!("{fakes_base}/telegram")));
    agent_env.push((
        sauda_shared::outbound::ALLOW_LOOPBACK_ENV.into(),
        "true".into(),
    ));
    // The agent answers the messages the Telegram webhook runs stored: the same run and
    // index (cases are numbered from 1,000,000 × their position in the list).
    let agent_event = {
        let tenant = demo.tenant.clone();
        move |i: usize| {
            let j = i / 10_000_000 * 10_000_000 + i % 1_000_000;
            let update = demo::telegram_text(
                j as u64,
                j as i64,
                4_200_000 + (j % 50) as i64,
                1_795_860_000 + (j % 100_000) as i64,
                "Сколько стоит насос?",
            );
            let message = match sauda_shared::telegram::parse_update(
                &tenant,
                update.to_string().as_bytes(),
            ) {
                Ok(sauda_shared::telegram::TelegramUpdate::Message { message, .. }) => *message,
                other => panic!("the bench's update parses as a message: {other:?}"),
            };
            let group = message.message_group_id();
            let body = sauda_shared::envelope::Envelope::inbound(message).to_json();
            serde_json::json!({"Records": [{
                "messageId": format!("m{i}"), "receiptHandle": format!("r{i}"), "body": body,
                "attributes": {"MessageGroupId": group, "ApproximateReceiveCount": "1"},
                "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:sauda-bench-inbound.fifo",
                "awsRegion": "us-east-1",
            }]})
        }
    };
    let bin = |name: &str| o.binaries.join(name);
    let reference = "python-boto3 webhook (Telegram)";
    let cases = vec![
        Case {
            name: "webhook (Telegram)",
            program: bin("webhook"),
            args: Vec::new(),
            env: env_of("webhook")?,
            events: Box::new(telegram.clone()),
        },
        Case {
            name: "webhook (WhatsApp)",
            program: bin("webhook"),
            args: Vec::new(),
            env: env_of("webhook")?,
            events: Box::new(whatsapp),
        },
        Case {
            name: "agent-reply (no model: fallback reply sent)",
            program: bin("agent-reply"),
            args: Vec::new(),
            env: agent_env,
            events: Box::new(agent_event),
        },
        Case {
            name: "lead-api (web form)",
            program: bin("lead-api"),
            args: Vec::new(),
            env: env_of("lead-api")?,
            events: Box::new(lead_form),
        },
        Case {
            name: reference,
            program: o.python.clone(),
            args: vec!["infra/bench/python_webhook.py".into()],
            env: env_of("webhook")?,
            events: Box::new(telegram),
        },
    ];

    let mut results: Vec<(&str, Vec<Report>)> = Vec::new();
    for case in &cases {
        let mut reports = Vec::new();
        if !o.only.is_empty() && !o.only.iter().any(|only| case.name.contains(only.as_str())) {
            continue;
        }
        if !case.program.exists() {
            eprintln!(
                "{}: {} not built, skipped",
                case.name,
                case.program.display()
            );
            results.push((case.name, reports));
            continue;
        }
        for r in 0..o.repeats {
            let from = 1 + (r + 1) * 10_000_000 + results.len() * 1_000_000;
            let report = runtime_bench::run(Run {
                binary: case.program.clone(),
                args: case.args.clone(),
                env: case.env.clone(),
                events: (from..from + o.invocations).map(&case.events).collect(),
            })
            .await?;
            if let Some(error) = &report.first_error {
                return Err(format!(
                    "{}: {} of {} invocations failed; first: {error}",
                    case.name, report.errors, o.invocations
                )
                .into());
            }
            reports.push(report);
        }
        results.push((case.name, reports));
    }
    fakes_server.abort();
    print_table(&results, reference, o.invocations, o.repeats);
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `min–max` of a figure over the runs.
fn range(reports: &[Report], f: impl Fn(&Report) -> f64, digits: usize) -> String {
    let values: Vec<f64> = reports.iter().map(f).collect();
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    if (hi - lo).abs() < f64::EPSILON {
        format!("{lo:.digits$}")
    } else {
        format!("{lo:.digits$}–{hi:.digits$}")
    }
}

fn median_cpu(reports: &[Report]) -> f64 {
    let mut v: Vec<f64> = reports.iter().map(|r| ms(r.cpu_per_invocation())).collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn print_table(results: &[(&str, Vec<Report>)], reference: &str, n: usize, repeats: usize) {
    let reference_cpu = results
        .iter()
        .find(|(name, _)| *name == reference)
        .map(|(_, r)| median_cpu(r))
        .unwrap_or(0.0);
    println!(
        "{n} invocations per run, {repeats} runs per function (min–max over the runs); CPU is user + system of the whole process"
    );
    println!();
    println!("| function | init wall (ms) | init CPU (ms) | CPU per invocation (ms) | wall p50 / p99 (ms) | peak RSS (MiB) | Python ÷ this, CPU per invocation |");
    println!("|---|---|---|---|---|---|---|");
    for (name, reports) in results.iter().filter(|(_, r)| !r.is_empty()) {
        let ratio = median_cpu(reports);
        let ratio = if ratio > 0.0 && reference_cpu > 0.0 {
            format!("{:.1}×", reference_cpu / ratio)
        } else {
            "–".into()
        };
        println!(
            "| {name} | {} | {} | {} | {} / {} | {} | {ratio} |",
            range(reports, |r| ms(r.init), 1),
            range(reports, |r| ms(r.init_cpu), 0),
            range(reports, |r| ms(r.cpu_per_invocation()), 3),
            range(reports, |r| ms(quantile(&r.latencies, 0.5)), 2),
            range(reports, |r| ms(quantile(&r.latencies, 0.99)), 2),
            range(reports, |r| r.peak_rss_kib as f64 / 1024.0, 1),
        );
    }
}
