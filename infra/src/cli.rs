//! The `sauda` operator CLI. Works against a real AWS account or, with
//! `AWS_ENDPOINT_URL` set, against the local emulator.

use crate::demo::{self, DemoTenant};
use crate::provision::{self, Stack};
use crate::pump::{self, HttpInvoker};
use crate::template::Template;
use crate::tenant;
use clap::{Args, Parser, Subcommand};
use sauda_shared::aws::{load_sdk_config, AwsClients};
use sauda_shared::keys;
use sauda_shared::outbound::UrlPolicy;
use sauda_shared::secrets::TenantSecrets;
use sauda_shared::tenant::{TenantConfig, TenantStatus};
use sauda_shared::TenantId;
use std::io::Read;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "sauda", about = "Sauda operator CLI and local stack", version)]
pub struct Cli {
    /// Deployment stage; names the table (`sauda-{stage}`) and secrets (`sauda/{stage}/…`).
    #[arg(long, env = "STAGE", default_value = "dev", global = true)]
    pub stage: String,
    /// DynamoDB table; defaults to `sauda-{stage}`.
    #[arg(long, env = "TABLE_NAME", global = true)]
    pub table: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create, suspend and configure tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Telegram bot set-up.
    #[command(subcommand)]
    Telegram(TelegramCommand),
    /// The local stack: provision the emulator from template.yaml, seed, pump, demo.
    #[command(subcommand)]
    Local(LocalCommand),
    /// Platform-wide secrets (the default LLM key).
    #[command(subcommand)]
    Platform(PlatformCommand),
    /// Queue depths and dead-letter redrive.
    #[command(subcommand)]
    Queue(crate::queue_cli::QueueCommand),
    /// Benchmarks against the local emulator (figures for the README).
    #[command(subcommand)]
    Bench(crate::bench_cli::BenchCommand),
    /// Scheduled reports: backfill a period, run the planner now, preview the HTML.
    #[command(subcommand)]
    Report(crate::report_cli::ReportCommand),
    /// Catalogs: import CSV/XLSX as versioned indexes, activate, roll back, list, generate.
    #[command(subcommand)]
    Catalog(crate::catalog_cli::CatalogCommand),
    /// Loyalty programme: partners (onboarding, moderation, keys), expiry, audit.
    #[command(subcommand)]
    Loyalty(crate::loyalty_cli::LoyaltyCommand),
    /// Leads: manager API keys, listing, moving and creating leads, the sweep.
    #[command(subcommand)]
    Leads(crate::leads_cli::LeadsCommand),
    /// Print the digest that stands for one customer in the functions' logs (`c_…`), under
    /// the deployment's signing key, to find that customer's log lines.
    LogId {
        #[arg(long)]
        tenant: String,
        /// The contact id as stored: `tg-<chat id>` or `wa-<phone digits>`.
        #[arg(long)]
        contact: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Create a tenant (config and registry entry, atomically).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// IANA time zone for reports and day counters.
        #[arg(long, default_value = "UTC")]
        timezone: String,
        #[arg(long, default_value = "en")]
        language: String,
        #[arg(long)]
        whatsapp_phone_number_id: Option<String>,
    },
    /// Print a tenant's config as JSON (every setting, defaults included).
    Show {
        #[arg(long)]
        tenant: String,
    },
    /// Change a tenant's settings with a JSON merge patch (RFC 7386) from --file or
    /// standard input, e.g. `{"managers":[{"chat_id":42}],"loyalty":{"enabled":true}}`.
    /// `null` resets a setting to its default.
    /// Every URL in the config must pass Sauda's outbound policy (https, public address).
    Configure {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        file: Option<PathBuf>,
        /// Also accept loopback URLs (plain http included): only for the local stage,
        /// whose fakes listen on 127.0.0.1 and whose functions run with
        /// OUTBOUND_ALLOW_LOOPBACK=true.
        #[arg(long)]
        allow_loopback_urls: bool,
    },
    /// Suspend a tenant: its webhooks answer 404 until it is activated again.
    Suspend {
        #[arg(long)]
        tenant: String,
    },
    Activate {
        #[arg(long)]
        tenant: String,
    },
    /// Set the tenant's plan (free, start, business) and overrides of its limits.
    Plan(crate::plan_cli::PlanArgs),
    /// Keys of the tenant admin API (settings, managers, templates, keys, usage).
    #[command(subcommand)]
    AdminKey(crate::loyalty_cli::AdminKeyCommand),
    /// Merge channel secrets (JSON from --file or standard input) into the tenant's secret.
    /// Keys: telegram_bot_token, telegram_webhook_secret, whatsapp_app_secret,
    /// whatsapp_verify_token, whatsapp_access_token, stripe_webhook_secret, llm_api_key
    /// (the tenant's own model key), crm_webhook_secret. `null` removes a key.
    Secrets {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum PlatformCommand {
    /// Merge keys (JSON from --file or standard input) into `sauda/{stage}/platform`,
    /// e.g. `{"llm_api_key":"sk-…"}`; `null` removes a key. Values are never printed.
    Secrets {
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum TelegramCommand {
    /// Register the tenant's webhook with Telegram using a fresh random secret token.
    SetWebhook {
        #[arg(long)]
        tenant: String,
        /// Webhook base URL; defaults to the stack output `WebhookFunctionUrl` (no
        /// per-request charge), or `WebhookBaseUrl` (the HTTP API) when a stack has none.
        #[arg(long)]
        base_url: Option<String>,
        /// CloudFormation stack to read the webhook URL from.
        #[arg(long, default_value = "sauda")]
        stack_name: String,
        #[arg(
            long,
            env = "TELEGRAM_API_BASE",
            default_value = "https://api.telegram.org"
        )]
        telegram_api_base: String,
    },
}

#[derive(Args, Debug, Clone)]
pub struct TemplateArg {
    #[arg(long, default_value = "template.yaml")]
    pub template: PathBuf,
    /// Template parameter overrides, `Name=Value` (repeatable), as `sam deploy
    /// --parameter-overrides` takes them; e.g. `TelegramApiBase=http://127.0.0.1:9100`.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
}

impl TemplateArg {
    fn overrides(&self) -> Result<std::collections::HashMap<String, String>, String> {
        self.params
            .iter()
            .map(|p| {
                p.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .ok_or_else(|| format!("--param {p:?} must be NAME=VALUE"))
            })
            .collect()
    }
}

#[derive(Subcommand, Debug)]
pub enum LocalCommand {
    /// Create the template's resources on the emulator and write the functions' env file
    /// (with OUTBOUND_ALLOW_LOOPBACK=true: the local fakes listen on loopback).
    Provision {
        #[command(flatten)]
        template: TemplateArg,
        /// Where to write the env file for `cargo lambda watch --env-file`.
        #[arg(long, default_value = ".local/lambda.env")]
        env_file: PathBuf,
        /// NAME=VALUE replacing a variable in the env file: values that name the deployed
        /// API, such as REPORT_LINK_BASE_URL, differ under `cargo lambda watch`.
        #[arg(long = "env", value_name = "NAME=VALUE")]
        env_overrides: Vec<String>,
    },
    /// Create the demo tenant with its (local-only) secrets, catalog, partner and API keys.
    Seed {
        #[command(flatten)]
        template: TemplateArg,
        #[arg(long, default_value = "infra/demo/tenant.json")]
        demo: PathBuf,
        /// Where the generated catalog and the demo's API keys go.
        #[arg(long, default_value = ".local")]
        work_dir: PathBuf,
    },
    /// Deliver queue messages to the functions served by `cargo lambda watch`.
    Pump {
        #[command(flatten)]
        template: TemplateArg,
        #[arg(long, default_value = "http://127.0.0.1:9000")]
        functions_url: String,
    },
    /// Print the template's function binaries, one per line (for build scripts).
    Functions {
        #[command(flatten)]
        template: TemplateArg,
    },
    /// Fire a function's schedule now (as EventBridge Scheduler would), e.g. the report planner.
    Fire {
        #[command(flatten)]
        template: TemplateArg,
        /// The function's binary, e.g. `report-planner`.
        #[arg(long)]
        function: String,
        /// The schedule's name in the template, when the function has several.
        #[arg(long)]
        schedule: Option<String>,
        #[arg(long, default_value = "http://127.0.0.1:9000")]
        functions_url: String,
    },
    /// Serve fake Telegram, WhatsApp, Stripe and CRM APIs that print what Sauda sends.
    FakeSaas {
        #[arg(long, default_value_t = 9100)]
        port: u16,
        /// Also append every request as JSON lines here.
        #[arg(long, default_value = ".local/outbox.jsonl")]
        log: PathBuf,
        /// Where the fake Stripe posts its signed events (the demo tenant's Stripe webhook).
        #[arg(long)]
        stripe_webhook_url: Option<String>,
        /// The demo tenant whose `stripe_webhook_secret` signs those events.
        #[arg(long, default_value = "infra/demo/tenant.json")]
        demo: PathBuf,
    },
    /// Send signed demo updates through the local webhook endpoint and show the result.
    Demo {
        #[command(flatten)]
        template: TemplateArg,
        #[arg(long, default_value = "infra/demo/tenant.json")]
        demo: PathBuf,
        #[arg(long, default_value = "http://127.0.0.1:9000/lambda-url/webhook")]
        webhook_url: String,
        /// `cargo lambda watch`'s address, for the other functions' routes.
        #[arg(long, default_value = "http://127.0.0.1:9000")]
        functions_url: String,
        /// The fake SaaS request log, to show what the bot answered.
        #[arg(long, default_value = ".local/outbox.jsonl")]
        outbox: PathBuf,
    },
    /// A long session against the running local stack (webhook messages that become
    /// agent replies, loyalty operations, leads) while sampling the emulator's memory;
    /// `make bench SECTIONS=soak` starts the stack and runs it.
    Soak {
        #[command(flatten)]
        template: TemplateArg,
        #[arg(long, default_value = "infra/demo/tenant.json")]
        demo: PathBuf,
        #[arg(long, default_value = "http://127.0.0.1:9000")]
        functions_url: String,
        #[arg(long, default_value = ".local/outbox.jsonl")]
        outbox: PathBuf,
        /// The emulator's process id (the local stack writes it to .local/moto.pid).
        #[arg(long)]
        moto_pid: u32,
        #[arg(long, default_value_t = 10_000)]
        messages: usize,
        #[arg(long, default_value_t = 2_000)]
        loyalty_ops: usize,
        #[arg(long, default_value_t = 500)]
        leads: usize,
        #[arg(long, default_value_t = 500)]
        customers: usize,
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Messages sent but not yet answered, at most: the agent answers a burst from
        /// one customer with one reply, so each message is paced to get its own.
        #[arg(long, default_value_t = 40)]
        max_backlog: usize,
        #[arg(long, default_value_t = 2)]
        sample_every_s: u64,
        /// Stop sending when moto's memory passes this many MiB.
        #[arg(long, default_value_t = 8_192)]
        max_rss_mib: u64,
        #[arg(long, default_value_t = 1_800)]
        drain_timeout_s: u64,
    },
    /// Regenerate the signed sample events under events/.
    Events {
        #[arg(long, default_value = "infra/demo/tenant.json")]
        demo: PathBuf,
        #[arg(long, default_value = "events")]
        out: PathBuf,
    },
}

pub type CliResult = Result<(), Box<dyn std::error::Error>>;

/// What every subcommand needs; area modules (`catalog_cli`, ...) take it by reference.
pub struct CliContext {
    pub sdk: aws_config::SdkConfig,
    pub clients: AwsClients,
    pub stage: String,
    pub table: String,
    pub region: String,
}

pub fn tenant_id(raw: &str) -> Result<TenantId, String> {
    TenantId::parse(raw).map_err(|e| format!("--tenant {raw:?}: {e}"))
}

/// Reads a whole input from a file, or from standard input when no file is given.
pub fn read_input(file: Option<&std::path::Path>) -> Result<String, Box<dyn std::error::Error>> {
    match file {
        Some(path) => {
            Ok(std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        None => {
            let mut buf = String::new();
            std::io::stdin().read_to_string(&mut buf)?;
            Ok(buf)
        }
    }
}

pub async fn run(cli: Cli) -> CliResult {
    let sdk = load_sdk_config().await;
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "us-east-1".into());
    let table = cli
        .table
        .clone()
        .unwrap_or_else(|| format!("sauda-{}", cli.stage));
    let ctx = CliContext {
        clients: AwsClients::new(&sdk),
        sdk,
        stage: cli.stage.clone(),
        table,
        region,
    };
    let CliContext {
        sdk,
        clients,
        table,
        region,
        ..
    } = &ctx;
    match cli.command {
        Command::Tenant(cmd) => tenant_command(clients, &cli.stage, table, cmd).await,
        Command::Telegram(TelegramCommand::SetWebhook {
            tenant,
            base_url,
            stack_name,
            telegram_api_base,
        }) => {
            let tenant = tenant_id(&tenant)?;
            let base_url = match base_url {
                Some(url) => url,
                None => match stack_output(sdk, &stack_name, "WebhookFunctionUrl").await {
                    Ok(url) => url,
                    Err(_) => stack_output(sdk, &stack_name, "WebhookBaseUrl").await?,
                },
            };
            let secrets = tenant::read_tenant_secrets(&clients.secrets, &cli.stage, &tenant)
                .await?
                .ok_or("the tenant has no secrets; store telegram_bot_token first")?;
            let bot_token = secrets
                .telegram_bot_token
                .ok_or("telegram_bot_token is not set for this tenant")?;
            let token = tenant::generate_secret_token();
            let url = format!("{}/t/{tenant}/telegram", base_url.trim_end_matches('/'));
            // Store first: Telegram starts sending the new token as soon as setWebhook returns.
            let update = TenantSecrets {
                telegram_webhook_secret: Some(token.clone()),
                ..Default::default()
            };
            tenant::merge_tenant_secrets(&clients.secrets, &cli.stage, &tenant, update).await?;
            tenant::set_telegram_webhook(
                &reqwest::Client::new(),
                &telegram_api_base,
                &bot_token,
                &url,
                &token,
            )
            .await?;
            println!("webhook set: {url} (secret token stored in Secrets Manager)");
            Ok(())
        }
        Command::Local(cmd) => local_command(clients, &cli.stage, region, cmd).await,
        Command::Bench(cmd) => crate::bench_cli::run(&ctx, cmd).await,
        Command::Queue(cmd) => crate::queue_cli::run(&ctx, cmd).await,
        Command::Platform(PlatformCommand::Secrets { file }) => {
            let update: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&read_input(file.as_deref())?)
                    .map_err(|e| format!("secrets JSON must be an object: {e}"))?;
            let names =
                tenant::merge_platform_secrets_json(&clients.secrets, &cli.stage, update).await?;
            println!("platform secret now holds: {}", names.join(", "));
            Ok(())
        }
        Command::Report(cmd) => crate::report_cli::run(&ctx, cmd).await,
        Command::Catalog(cmd) => crate::catalog_cli::run(&ctx, cmd).await,
        Command::Loyalty(cmd) => crate::loyalty_cli::run(&ctx, cmd).await,
        Command::Leads(cmd) => crate::leads_cli::run(&ctx, cmd).await,
        Command::LogId { tenant, contact } => {
            let tenant = tenant_id(&tenant)?;
            println!(
                "{}",
                tenant::log_id(&clients.secrets, &cli.stage, &tenant, &contact).await?
            );
            Ok(())
        }
    }
}

async fn tenant_command(
    clients: &AwsClients,
    stage: &str,
    table: &str,
    cmd: TenantCommand,
) -> CliResult {
    match cmd {
        TenantCommand::Create {
            tenant,
            name,
            timezone,
            language,
            whatsapp_phone_number_id,
        } => {
            let tenant = tenant_id(&tenant)?;
            jiff::tz::TimeZone::get(&timezone)
                .map_err(|e| format!("--timezone {timezone:?}: {e}"))?;
            let mut config = TenantConfig::new(tenant.clone(), name);
            config.timezone = timezone;
            config.default_language = language;
            config.whatsapp_phone_number_id = whatsapp_phone_number_id;
            tenant::create_tenant(&clients.dynamo, table, &config).await?;
            println!(
                "tenant {tenant} created (config {})",
                keys::tenant_config(&tenant).0
            );
        }
        TenantCommand::Show { tenant } => {
            let config = tenant::read_config(&clients.dynamo, table, &tenant_id(&tenant)?).await?;
            println!("{}", serde_json::to_string_pretty(&config)?);
        }
        TenantCommand::Configure {
            tenant,
            file,
            allow_loopback_urls,
        } => {
            let tenant = tenant_id(&tenant)?;
            let patch: serde_json::Value = serde_json::from_str(&read_input(file.as_deref())?)
                .map_err(|e| format!("patch is not JSON: {e}"))?;
            let policy = UrlPolicy {
                allow_loopback: allow_loopback_urls,
            };
            tenant::configure(&clients.dynamo, table, &tenant, &patch, policy).await?;
            println!("tenant {tenant} configured; functions pick it up within a minute");
        }
        TenantCommand::Plan(args) => crate::plan_cli::plan_command(clients, table, args).await?,
        TenantCommand::AdminKey(cmd) => {
            crate::plan_cli::role_key_command(
                clients,
                table,
                sauda_shared::apikey::Role::TenantAdmin,
                cmd,
            )
            .await?
        }
        TenantCommand::Suspend { tenant } => {
            let tenant = tenant_id(&tenant)?;
            tenant::set_tenant_status(&clients.dynamo, table, &tenant, TenantStatus::Suspended)
                .await?;
            println!("tenant {tenant} suspended");
        }
        TenantCommand::Activate { tenant } => {
            let tenant = tenant_id(&tenant)?;
            tenant::set_tenant_status(&clients.dynamo, table, &tenant, TenantStatus::Active)
                .await?;
            println!("tenant {tenant} active");
        }
        TenantCommand::Secrets { tenant, file } => {
            let tenant = tenant_id(&tenant)?;
            let raw = read_input(file.as_deref())?;
            let update: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&raw)
                .map_err(|e| format!("secrets JSON must be an object: {e}"))?;
            let names =
                tenant::merge_tenant_secrets_json(&clients.secrets, stage, &tenant, update).await?;
            // Only the names of the fields are shown, never their values.
            println!(
                "secret {} now holds: {}",
                tenant::tenant_secret_name(stage, &tenant),
                names.join(", ")
            );
        }
    }
    Ok(())
}

async fn stack_output(
    sdk: &aws_config::SdkConfig,
    stack: &str,
    key: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    let out = cfn.describe_stacks().stack_name(stack).send().await?;
    out.stacks()
        .iter()
        .flat_map(|s| s.outputs())
        .find(|o| o.output_key() == Some(key))
        .and_then(|o| o.output_value().map(str::to_owned))
        .ok_or_else(|| format!("stack {stack} has no output {key}; pass --base-url").into())
}

async fn local_stack(
    clients: &AwsClients,
    stage: &str,
    region: &str,
    template: &TemplateArg,
) -> Result<Stack, Box<dyn std::error::Error>> {
    let overrides = template.overrides()?;
    let template = Template::load(&template.template)?;
    Ok(provision::provision_with(clients, &template, stage, region, &overrides).await?)
}

async fn local_command(
    clients: &AwsClients,
    stage: &str,
    region: &str,
    cmd: LocalCommand,
) -> CliResult {
    match cmd {
        LocalCommand::Provision {
            template,
            env_file,
            env_overrides,
        } => {
            let stack = local_stack(clients, stage, region, &template).await?;
            let lines: Vec<String> = provision::local_env(&stack, &env_overrides)?
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            if let Some(parent) = env_file.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&env_file, lines.join("\n") + "\n")?;
            println!(
                "provisioned stage {stage}: table {}, bucket {}",
                stack.table,
                stack.bucket.as_deref().unwrap_or("-")
            );
            for (logical, q) in &stack.queues {
                println!("  queue {logical}: {}", q.url);
            }
            println!("function env written to {}", env_file.display());
        }
        LocalCommand::Seed {
            template,
            demo,
            work_dir,
        } => {
            let stack = local_stack(clients, stage, region, &template).await?;
            let demo = DemoTenant::load(&demo)?;
            let bucket = stack.bucket.clone().ok_or("the template has no bucket")?;
            crate::demo_seed::seed(clients, stage, &stack.table, &bucket, &demo, &work_dir).await?;
            println!("demo tenant {} seeded", demo.tenant);
        }
        LocalCommand::Pump {
            template,
            functions_url,
        } => {
            let stack = local_stack(clients, stage, region, &template).await?;
            let routes = pump::routes(&stack);
            for r in &routes {
                println!("pump: {} -> {}", r.queue_url, r.function);
            }
            let schedules = pump::schedules(&stack)?;
            for s in &schedules {
                println!(
                    "pump: schedule {} -> {} ({:?})",
                    s.name, s.function, s.expression
                );
            }
            let invoker = HttpInvoker {
                http: reqwest::Client::new(),
                base_url: functions_url,
            };
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                let _ = stop_tx.send(true);
            });
            pump::run(
                clients.sqs.clone(),
                &invoker,
                routes,
                schedules,
                region,
                stop_rx,
            )
            .await;
        }
        LocalCommand::Fire {
            template,
            function,
            schedule,
            functions_url,
        } => {
            let stack = local_stack(clients, stage, region, &template).await?;
            let candidates: Vec<_> = pump::schedules(&stack)?
                .into_iter()
                .filter(|s| s.function == function)
                .filter(|s| schedule.as_ref().is_none_or(|name| &s.name == name))
                .collect();
            let [target] = candidates.as_slice() else {
                return Err(format!(
                    "{} schedules match --function {function}; name one with --schedule",
                    candidates.len()
                )
                .into());
            };
            let invoker = HttpInvoker {
                http: reqwest::Client::new(),
                base_url: functions_url,
            };
            let answer = pump::fire(&invoker, target).await?;
            println!("{} answered: {answer}", target.function);
        }
        LocalCommand::Functions { template } => {
            for f in Template::load(&template.template)?.functions()? {
                println!("{}", f.binary);
            }
        }
        LocalCommand::FakeSaas {
            port,
            log,
            stripe_webhook_url,
            demo,
        } => {
            let webhook_secret = DemoTenant::load(&demo)
                .ok()
                .and_then(|d| d.secrets.stripe_webhook_secret)
                .map(|s| s.expose().to_owned());
            let stripe = crate::fake_saas::StripeEndpoint {
                webhook_url: stripe_webhook_url,
                webhook_secret,
                public_base: String::new(),
            };
            crate::fake_saas::serve(port, &log, stripe).await?
        }
        LocalCommand::Demo {
            template,
            demo,
            webhook_url,
            functions_url,
            outbox,
        } => {
            let stack = local_stack(clients, stage, region, &template).await?;
            let demo = DemoTenant::load(&demo)?;
            let urls = crate::demo_run::DemoUrls {
                webhook: webhook_url,
                functions: functions_url,
                outbox,
                work_dir: PathBuf::from(".local"),
            };
            crate::demo_run::play(clients, &stack, &demo, &urls).await?;
        }
        LocalCommand::Soak {
            template,
            demo,
            functions_url,
            outbox,
            moto_pid,
            messages,
            loyalty_ops,
            leads,
            customers,
            concurrency,
            max_backlog,
            sample_every_s,
            max_rss_mib,
            drain_timeout_s,
        } => {
            let stack = local_stack(clients, stage, region, &template).await?;
            let demo = DemoTenant::load(&demo)?;
            let keys = crate::demo_seed::load_keys(std::path::Path::new(".local"))?;
            let plan = crate::local_soak::SoakPlan {
                messages,
                loyalty_ops,
                leads,
                customers,
                concurrency,
                max_backlog,
            };
            let target = crate::local_soak::SoakTarget {
                functions: functions_url,
                outbox,
                moto_pid,
                sample_every: std::time::Duration::from_secs(sample_every_s.max(1)),
                max_rss_mib,
                drain_timeout: std::time::Duration::from_secs(drain_timeout_s),
            };
            crate::local_soak::run(clients, &stack, &demo, keys, &plan, &target).await?;
        }
        LocalCommand::Events { demo, out } => write_events(&demo, &out)?,
    }
    Ok(())
}

fn write_events(demo: &std::path::Path, out: &std::path::Path) -> CliResult {
    let demo = DemoTenant::load(demo)?;
    std::fs::create_dir_all(out)?;
    for (name, event) in demo::sample_events(&demo) {
        let path = out.join(name);
        std::fs::write(&path, serde_json::to_string_pretty(&event)? + "\n")?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
