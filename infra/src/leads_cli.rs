//! `sauda leads …`: API keys for the manager API, and the funnel from the terminal.
//!
//! ```text
//! sauda leads key issue  --tenant T [--role manager|admin] [--label "Aigerim"]
//! sauda leads key list   --tenant T
//! sauda leads key revoke --tenant T --key-id K
//! sauda leads key rotate --tenant T --key-id K [--grace-hours 24]
//! sauda leads list   --tenant T [new|qualification|…] [--limit 25] [--cursor C]
//! sauda leads show   --tenant T --contact wa-77011234567
//! sauda leads move   --tenant T --contact C --to offer [--reason "…"]
//! sauda leads create --tenant T --name N [--phone P] [--email E] [--interest I] [--message M]
//! sauda leads sweep  [--tenant T]
//! ```
//!
//! Changes made here go through the same code as the API: history (actor `operator`),
//! profile mirror, counters, manager notices and CRM events.

use crate::cli::{tenant_id, CliContext, CliResult};
use clap::{Subcommand, ValueEnum};
use lead_capture::domain::{StageChange, StageMove};
use lead_capture::dynamo::DynamoLeadStore;
use lead_capture::model::Actor;
use lead_capture::store::{LeadStore, ListPosition};
use lead_capture::{service, sweep, validate, Deps, LeadsConfig};
use sauda_shared::apikey::{ApiKeyStore, KeyStatus, Role};
use sauda_shared::aws::SecretsManagerSource;
use sauda_shared::config::CoreConfig;
use sauda_shared::funnel::Stage;
use sauda_shared::lead::{LeadSource, LeadSubmission};
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub enum LeadsCommand {
    /// API keys for the manager API (shown once, stored hashed).
    #[command(subcommand)]
    Key(KeyCommand),
    /// List one stage's leads, most recently active first.
    List {
        #[arg(long)]
        tenant: String,
        /// Funnel stage (the global `--stage` is the deployment stage).
        #[arg(default_value = "new")]
        funnel_stage: String,
        #[arg(long, default_value_t = 25)]
        limit: usize,
        /// `next_cursor` of the previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show a lead with its history (as JSON).
    Show {
        #[arg(long)]
        tenant: String,
        /// The lead's contact id, or any conversation linked to it.
        #[arg(long)]
        contact: String,
    },
    /// Move a lead to another stage, following the funnel's rules.
    Move {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        contact: String,
        /// The funnel stage to move to.
        #[arg(long)]
        to: String,
        /// Required when moving to `lost`.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Enter a lead by hand (source `manual`); it is deduplicated like any other.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        interest: Option<String>,
        #[arg(long)]
        message: Option<String>,
    },
    /// Run the quiet-contact sweep now (for every active tenant, or one).
    Sweep {
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum KeyRole {
    Manager,
    Admin,
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Issue a key; it is printed once and only its hash is stored.
    Issue {
        #[arg(long)]
        tenant: String,
        #[arg(long, value_enum, default_value = "manager")]
        role: KeyRole,
        /// Who holds the key, e.g. the manager's name.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List a tenant's keys (ids, roles, labels, status; never secrets).
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a key now (warm functions may accept it for up to a minute more).
    Revoke {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        key_id: String,
    },
    /// Issue a replacement; the old key keeps working for the grace period.
    Rotate {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        key_id: String,
        #[arg(long, default_value_t = 24)]
        grace_hours: u64,
    },
}

pub async fn run(ctx: &CliContext, cmd: LeadsCommand) -> CliResult {
    match cmd {
        LeadsCommand::Key(cmd) => key_command(ctx, cmd).await,
        LeadsCommand::List {
            tenant,
            funnel_stage,
            limit,
            cursor: page,
        } => {
            let tenant = tenant_id(&tenant)?;
            let stage = parse_stage(&funnel_stage)?;
            if !(1..=100).contains(&limit) {
                return Err("--limit must be 1-100".into());
            }
            // Cursors are signed with the deployment's key, as the API's are.
            sauda_shared::signing::init(&SecretsManagerSource::new(
                ctx.clients.secrets.clone(),
                &ctx.stage,
            ))
            .await;
            let after = ListPosition::from_cursor(&tenant, stage, page.as_deref())
                .map_err(|_| "--cursor is not valid for this stage")?;
            let store = DynamoLeadStore::new(ctx.clients.dynamo.clone(), &ctx.table);
            let (leads, next) = store.list(&tenant, stage, limit, after).await?;
            if leads.is_empty() {
                println!("no leads in {stage}");
            }
            for lead in &leads {
                let updated = jiff::Timestamp::from_millisecond(lead.updated_ms)
                    .map(|t| t.strftime("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default();
                println!(
                    "{updated}  {:<28} {:<24} {:<18} {:<8} {}",
                    lead.contact,
                    lead.name.as_deref().unwrap_or("—"),
                    lead.phone
                        .as_deref()
                        .or(lead.email.as_deref())
                        .unwrap_or("—"),
                    lead.source.as_str(),
                    lead.partner_id.as_deref().unwrap_or(""),
                );
            }
            if let Some(next) = next {
                println!("more: --cursor {}", next.cursor(&tenant, stage));
            }
            Ok(())
        }
        LeadsCommand::Show { tenant, contact } => {
            let tenant = tenant_id(&tenant)?;
            let store = DynamoLeadStore::new(ctx.clients.dynamo.clone(), &ctx.table);
            let view = store
                .view(&tenant, &contact)
                .await?
                .ok_or_else(|| format!("no lead for {contact}"))?;
            let json = serde_json::json!({
                "lead": view.lead.to_json(),
                "history": view.history.iter().map(|h| h.to_json()).collect::<Vec<_>>(),
                "conversations": view.conversations.iter().map(|(c, paused)| serde_json::json!({"contact": c, "agent_paused": paused})).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&json)?);
            Ok(())
        }
        LeadsCommand::Move {
            tenant,
            contact,
            to,
            reason,
        } => {
            let tenant = tenant_id(&tenant)?;
            let to = parse_stage(&to)?;
            let deps = deps(ctx).await?;
            let config = tenant_config(&deps, &tenant).await?;
            let change = StageMove {
                to,
                expected: None,
                reason,
            };
            let (change, announced) =
                service::change_stage(&deps, &config, &contact, change, &Actor::Operator)
                    .await
                    .map_err(|e| e.to_string())?;
            match change {
                StageChange::Unchanged(lead) => {
                    println!("{} is already in {}", lead.contact, lead.stage)
                }
                StageChange::Changed { lead, from, .. } => {
                    println!("{}: {from} → {}", lead.contact, lead.stage);
                    if !announced.0 {
                        println!("warning: the managers' notice could not be queued");
                    }
                }
            }
            Ok(())
        }
        LeadsCommand::Create {
            tenant,
            name,
            phone,
            email,
            interest,
            message,
        } => {
            let tenant = tenant_id(&tenant)?;
            let deps = deps(ctx).await?;
            let config = tenant_config(&deps, &tenant).await?;
            // Strict here: the operator can correct a typo, unlike a chat customer.
            let region = &config.leads.default_region;
            if let Some(p) = &phone {
                validate::normalise_phone(p, region)
                    .map_err(|e| format!("--phone: {}", e.message))?;
            }
            if let Some(m) = &email {
                validate::normalise_email(m).map_err(|e| format!("--email: {}", e.message))?;
            }
            if phone.is_none() && email.is_none() {
                return Err("give --phone or --email".into());
            }
            let submission = LeadSubmission {
                tenant: tenant.clone(),
                source: LeadSource::Manual,
                idempotency_key: ulid::Ulid::new().to_string(),
                contact: None,
                name: Some(name),
                phone,
                email,
                interest,
                message,
                language: None,
                consent: false,
                submitted_at_ms: sauda_shared::now_ms(),
            };
            let lead = validate::queued(&submission, region).map_err(|e| e.to_string())?;
            let captured = service::capture(&deps, &config, &lead)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "lead {} {:?} (stage {})",
                captured.lead.contact, captured.applied, captured.lead.stage
            );
            Ok(())
        }
        LeadsCommand::Sweep { tenant } => {
            let tenant = tenant.as_deref().map(tenant_id).transpose()?;
            let deps = deps(ctx).await?;
            let report = sweep::run(&deps, tenant.as_ref(), sauda_shared::now_ms())
                .await
                .map_err(|e| e.to_string())?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
    }
}

async fn key_command(ctx: &CliContext, cmd: KeyCommand) -> CliResult {
    let store = ApiKeyStore::new(ctx.clients.dynamo.clone(), &ctx.table);
    match cmd {
        KeyCommand::Issue {
            tenant,
            role,
            label,
        } => {
            let tenant = tenant_id(&tenant)?;
            // A key for a tenant that does not exist would be useless: check first.
            crate::tenant::read_config(&ctx.clients.dynamo, &ctx.table, &tenant).await?;
            let role = match role {
                KeyRole::Manager => Role::Manager,
                KeyRole::Admin => Role::Admin,
            };
            let issued = store.issue(&tenant, role, &label).await?;
            println!("key id: {}", issued.record.key_id);
            println!(
                "api key (shown once, store it now): {}",
                issued.presented.expose()
            );
        }
        KeyCommand::List { tenant } => {
            let tenant = tenant_id(&tenant)?;
            for r in store.list(&tenant).await? {
                let role = r.role.label();
                let status = match (r.status, r.valid_until_ms) {
                    (KeyStatus::Revoked, _) => "revoked".to_owned(),
                    (KeyStatus::Active, Some(until)) => format!(
                        "active until {}",
                        jiff::Timestamp::from_millisecond(until)
                            .map(|t| t.to_string())
                            .unwrap_or_default()
                    ),
                    (KeyStatus::Active, None) => "active".to_owned(),
                };
                println!("{}  {role:<16} {status:<36} {}", r.key_id, r.label);
            }
        }
        KeyCommand::Revoke { tenant, key_id } => {
            let tenant = tenant_id(&tenant)?;
            if !store.revoke(&tenant, &key_id).await? {
                return Err(format!("tenant {tenant} has no key {key_id}").into());
            }
            println!("key {key_id} revoked");
        }
        KeyCommand::Rotate {
            tenant,
            key_id,
            grace_hours,
        } => {
            let tenant = tenant_id(&tenant)?;
            let grace = Duration::from_secs(grace_hours * 3600);
            let issued = store
                .rotate(&tenant, &key_id, grace)
                .await?
                .ok_or_else(|| format!("tenant {tenant} has no key {key_id}"))?;
            println!("new key id: {}", issued.record.key_id);
            println!(
                "api key (shown once, store it now): {}",
                issued.presented.expose()
            );
            println!("the old key {key_id} keeps working for {grace_hours} h");
        }
    }
    Ok(())
}

fn parse_stage(raw: &str) -> Result<Stage, String> {
    Stage::parse(raw).ok_or_else(|| {
        let names: Vec<&str> = Stage::ALL.iter().map(|s| s.as_str()).collect();
        format!("stage {raw:?}: one of {}", names.join(", "))
    })
}

/// The functions' dependencies, with queue URLs found by their template names.
async fn deps(ctx: &CliContext) -> Result<Deps, Box<dyn std::error::Error>> {
    let url = |suffix: &str| {
        let name = format!("sauda-{}-{suffix}", ctx.stage);
        let sqs = ctx.clients.sqs.clone();
        async move {
            sqs.get_queue_url()
                .queue_name(&name)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "queue {name}: {}",
                        aws_smithy_types::error::display::DisplayErrorContext(&e)
                    )
                })
                .map(|out| out.queue_url.unwrap_or_default())
        }
    };
    let config = LeadsConfig {
        core: CoreConfig {
            stage: ctx.stage.clone(),
            table_name: ctx.table.clone(),
        },
        notify_queue_url: url("notify").await?,
        crm_queue_url: url("crm").await?,
        leads_queue_url: url("leads").await?,
    };
    Ok(Deps::from_aws(&ctx.clients, &config))
}

async fn tenant_config(
    deps: &Deps,
    tenant: &sauda_shared::TenantId,
) -> Result<std::sync::Arc<sauda_shared::tenant::TenantConfig>, Box<dyn std::error::Error>> {
    Ok(deps
        .tenants
        .tenant(tenant)
        .await?
        .ok_or_else(|| format!("tenant {tenant} does not exist"))?)
}
