//! `sauda loyalty …`: partner onboarding and moderation, API keys, expiry, adjustments
//! and the ledger audit, for the operator. Changes go through the same planners and
//! transactional executor as the HTTP API, so the CLI keeps the ledger's guarantees.

use crate::cli::{tenant_id, CliContext, CliResult};
use clap::{Args, Subcommand};
use loyalty::input::CustomerRef;
use loyalty::ops::{AdjustInput, Scope};
use loyalty::partners::{self, Moderation, PartnerPatch};
use loyalty::store::{self as ledger, LoyaltyStore};
use loyalty::{expiry, ops, views, DynamoStore};
use sauda_shared::apikey::{ApiKeyRecord, ApiKeyStore, KeyStatus, Role};
use sauda_shared::aws::SqsQueue;
use sauda_shared::keys;
use sauda_shared::partner::{Partner, PartnerStatus};
use sauda_shared::tenant::TenantConfig;
use sauda_shared::TenantId;
use std::sync::Arc;
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub enum LoyaltyCommand {
    /// Partners: create, moderate (approve/reject/suspend), settings, services, API keys.
    #[command(subcommand)]
    Partner(PartnerCommand),
    /// API keys of the tenant's admin (admin routes, adjustments, the customer bot).
    #[command(subcommand)]
    AdminKey(AdminKeyCommand),
    /// Expire due points of a tenant now (the hourly job does the same).
    Expire {
        #[arg(long)]
        tenant: String,
        /// Run as if today were this tenant-local date (yyyy-mm-dd).
        #[arg(long)]
        as_of: Option<String>,
    },
    /// A member's balance, expiring points and latest ledger entries.
    Member {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        customer: CustomerArgs,
        #[arg(long, default_value_t = 10)]
        entries: i32,
    },
    /// Credit (positive) or debit (negative) a member with a reason on the ledger.
    Adjust {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        customer: CustomerArgs,
        #[arg(long, allow_hyphen_values = true)]
        points: i64,
        #[arg(long)]
        reason: String,
    },
    /// Check every account of a tenant: balance ≥ 0 and equal to the sum of its ledger.
    Audit {
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Args, Debug, Clone)]
pub struct CustomerArgs {
    /// Contact id, e.g. tg-123456 or wa-77011234567.
    #[arg(long, conflicts_with = "phone")]
    pub contact_id: Option<String>,
    /// Phone number; read in the tenant's leads.default_region when it has no country code.
    #[arg(long)]
    pub phone: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum PartnerCommand {
    /// Register a partner; it stays pending until approved.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        partner_id: String,
        #[arg(long)]
        name: String,
        /// shop, cafe, salon, guide, hotel, ...
        #[arg(long)]
        kind: Option<String>,
        /// Telegram chat for status notices and lead handoffs.
        #[arg(long)]
        telegram_chat_id: Option<i64>,
        /// Cashback override in basis points (700 = 7 %).
        #[arg(long)]
        cashback_bp: Option<u32>,
    },
    Approve(ModerateArgs),
    Reject(ModerateArgs),
    Suspend(ModerateArgs),
    /// Change a partner's settings.
    Update {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        partner_id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long, conflicts_with = "clear_telegram_chat_id")]
        telegram_chat_id: Option<i64>,
        #[arg(long)]
        clear_telegram_chat_id: bool,
        #[arg(long, conflicts_with = "clear_cashback")]
        cashback_bp: Option<u32>,
        /// Use the tenant's cashback again.
        #[arg(long)]
        clear_cashback: bool,
    },
    /// List partners, optionally of one status.
    List {
        #[arg(long)]
        tenant: String,
        /// pending, active, rejected or suspended.
        #[arg(long)]
        status: Option<String>,
    },
    /// A partner's profile, services and statistics.
    Show {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        partner_id: String,
    },
    /// Moderate a service a partner proposed.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// The partner's API keys.
    #[command(subcommand)]
    Key(PartnerKeyCommand),
}

#[derive(Args, Debug)]
pub struct ModerateArgs {
    #[arg(long)]
    pub tenant: String,
    #[arg(long)]
    pub partner_id: String,
    /// Tell the partner in Telegram through this notify queue (defaults to NOTIFY_QUEUE_URL).
    #[arg(long, env = "NOTIFY_QUEUE_URL")]
    pub notify_queue_url: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum ServiceCommand {
    Approve(ServiceArgs),
    Reject(ServiceArgs),
}

#[derive(Args, Debug)]
pub struct ServiceArgs {
    #[arg(long)]
    pub tenant: String,
    #[arg(long)]
    pub partner_id: String,
    #[arg(long)]
    pub service_id: String,
}

#[derive(Subcommand, Debug)]
pub enum PartnerKeyCommand {
    /// Issue a key for the partner's POS or bot; it is shown once.
    Issue {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        partner_id: String,
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Issue a replacement; the old key keeps working for the grace period.
    Rotate(RotateArgs),
    Revoke(KeyIdArgs),
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        partner_id: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminKeyCommand {
    Issue {
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value = "")]
        label: String,
    },
    Rotate(RotateArgs),
    Revoke(KeyIdArgs),
    List {
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Args, Debug)]
pub struct RotateArgs {
    #[arg(long)]
    pub tenant: String,
    #[arg(long)]
    pub key_id: String,
    #[arg(long, default_value_t = 24)]
    pub grace_hours: u64,
}

#[derive(Args, Debug)]
pub struct KeyIdArgs {
    #[arg(long)]
    pub tenant: String,
    #[arg(long)]
    pub key_id: String,
}

fn store(ctx: &CliContext) -> Arc<dyn LoyaltyStore> {
    Arc::new(DynamoStore::new(ctx.clients.dynamo.clone(), &ctx.table))
}

async fn config(
    ctx: &CliContext,
    tenant: &TenantId,
) -> Result<TenantConfig, Box<dyn std::error::Error>> {
    Ok(crate::tenant::read_config(&ctx.clients.dynamo, &ctx.table, tenant).await?)
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn customer(
    args: &CustomerArgs,
    config: &TenantConfig,
) -> Result<CustomerRef, Box<dyn std::error::Error>> {
    Ok(CustomerRef::parse(
        args.contact_id.as_deref(),
        args.phone.as_deref(),
        &config.leads.default_region,
    )?)
}

pub async fn run(ctx: &CliContext, cmd: LoyaltyCommand) -> CliResult {
    match cmd {
        LoyaltyCommand::Partner(cmd) => partner_command(ctx, cmd).await,
        LoyaltyCommand::AdminKey(cmd) => admin_key_command(ctx, cmd).await,
        LoyaltyCommand::Expire { tenant, as_of } => {
            let tenant = tenant_id(&tenant)?;
            let config = config(ctx, &tenant).await?;
            let now_ms = match as_of {
                None => sauda_shared::now_ms(),
                Some(day) => midday_ms(&config, &day)?,
            };
            let report = expiry::expire_tenant(&store(ctx), &config, now_ms).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        LoyaltyCommand::Member {
            tenant,
            customer: who,
            entries,
        } => {
            let tenant = tenant_id(&tenant)?;
            let config = config(ctx, &tenant).await?;
            let who = customer(&who, &config)?;
            let store = store(ctx);
            let (contact, account, _) =
                views::account_of(store.as_ref(), &tenant, &who, &[]).await?;
            let mut view = views::balance_view(&config, &account);
            let entries = u32::try_from(entries.clamp(1, 100)).unwrap_or(10);
            view["history"] =
                views::history(store.as_ref(), &tenant, &contact, entries, None).await?;
            println!("{}", pretty(&view));
            Ok(())
        }
        LoyaltyCommand::Adjust {
            tenant,
            customer: who,
            points,
            reason,
        } => {
            let tenant = tenant_id(&tenant)?;
            let config = config(ctx, &tenant).await?;
            let input = AdjustInput {
                customer: customer(&who, &config)?,
                points: loyalty::input::adjustment_valid(&points.into())?,
                reason: loyalty::input::text_valid(&reason, 500, "invalid_reason")?,
            };
            let store = store(ctx);
            let planner = ops::Adjust {
                scope: Scope {
                    tenant: &tenant,
                    config: &config,
                },
                input: &input,
            };
            let outcome = ledger::execute(store.as_ref(), None, None, &tenant, &planner).await?;
            println!("{}", pretty(&outcome.body));
            Ok(())
        }
        LoyaltyCommand::Audit { tenant } => {
            let tenant = tenant_id(&tenant)?;
            let (accounts, findings) = views::audit(store(ctx).as_ref(), &tenant).await?;
            if findings.is_empty() {
                println!("{accounts} accounts checked: every balance equals the sum of its ledger");
                Ok(())
            } else {
                println!("{}", serde_json::to_string_pretty(&findings)?);
                Err(format!("{} of {accounts} accounts are inconsistent", findings.len()).into())
            }
        }
    }
}

/// Noon of a tenant-local date, so "as of" means that whole local day.
fn midday_ms(config: &TenantConfig, day: &str) -> Result<i64, Box<dyn std::error::Error>> {
    let date: jiff::civil::Date = day.parse().map_err(|e| format!("--as-of {day:?}: {e}"))?;
    let zoned = date.at(12, 0, 0, 0).to_zoned(config.zone())?;
    Ok(zoned.timestamp().as_millisecond())
}

async fn partner_command(ctx: &CliContext, cmd: PartnerCommand) -> CliResult {
    let store = store(ctx);
    match cmd {
        PartnerCommand::Create {
            tenant,
            partner_id,
            name,
            kind,
            telegram_chat_id,
            cashback_bp,
        } => {
            let tenant = tenant_id(&tenant)?;
            let new = loyalty::routes::new_partner(
                &partner_id,
                &name,
                kind.as_deref(),
                telegram_chat_id,
                cashback_bp,
            )?;
            let planner = partners::CreatePartner {
                tenant: &tenant,
                new: &new,
            };
            let outcome = ledger::execute(store.as_ref(), None, None, &tenant, &planner).await?;
            println!("{}", pretty(&outcome.body));
            println!(
                "partner {partner_id} is pending; approve it with `sauda loyalty partner approve`"
            );
        }
        PartnerCommand::Approve(args) => moderate(ctx, &store, args, Moderation::Approve).await?,
        PartnerCommand::Reject(args) => moderate(ctx, &store, args, Moderation::Reject).await?,
        PartnerCommand::Suspend(args) => moderate(ctx, &store, args, Moderation::Suspend).await?,
        PartnerCommand::Update {
            tenant,
            partner_id,
            name,
            kind,
            telegram_chat_id,
            clear_telegram_chat_id,
            cashback_bp,
            clear_cashback,
        } => {
            let tenant = tenant_id(&tenant)?;
            partners::check_cashback(cashback_bp)?;
            let patch = PartnerPatch {
                name,
                kind,
                telegram_chat_id: if clear_telegram_chat_id {
                    Some(None)
                } else {
                    telegram_chat_id.map(Some)
                },
                cashback_bp: if clear_cashback {
                    Some(None)
                } else {
                    cashback_bp.map(Some)
                },
            };
            let planner = partners::UpdatePartner {
                tenant: &tenant,
                partner_id: &partner_id,
                patch: &patch,
            };
            let outcome = ledger::execute(store.as_ref(), None, None, &tenant, &planner).await?;
            println!("{}", pretty(&outcome.body));
        }
        PartnerCommand::List { tenant, status } => {
            let tenant = tenant_id(&tenant)?;
            let status = status
                .map(|s| {
                    serde_json::from_value::<PartnerStatus>(serde_json::json!(s)).map_err(|_| {
                        format!("--status {s:?}: pending, active, rejected or suspended")
                    })
                })
                .transpose()?;
            let list = partners::list(store.as_ref(), &tenant, status).await?;
            if list.is_empty() {
                println!("no partners");
            }
            for p in list {
                println!(
                    "{:<24} {:<10} {:<10} cashback {:>6} {}",
                    p.partner_id,
                    ops::status_str(p.status),
                    p.kind,
                    p.cashback_bp
                        .map(|bp| format!("{bp}bp"))
                        .unwrap_or_else(|| "tenant".into()),
                    p.name
                );
            }
        }
        PartnerCommand::Show { tenant, partner_id } => {
            let tenant = tenant_id(&tenant)?;
            let config = config(ctx, &tenant).await?;
            let partner: Partner =
                ledger::get(store.as_ref(), &keys::partner(&tenant, &partner_id))
                    .await?
                    .ok_or_else(|| format!("no partner {partner_id} in tenant {tenant}"))?;
            let stats = views::partner_stats(store.as_ref(), &tenant, &partner_id).await?;
            let mut view = views::partner_view(&partner);
            view["stats"] = views::stats_view(&config, &partner_id, &stats);
            println!("{}", pretty(&view));
        }
        PartnerCommand::Service(cmd) => {
            let (args, approve) = match cmd {
                ServiceCommand::Approve(args) => (args, true),
                ServiceCommand::Reject(args) => (args, false),
            };
            let tenant = tenant_id(&args.tenant)?;
            let planner = partners::ModerateService {
                tenant: &tenant,
                partner_id: &args.partner_id,
                service_id: &args.service_id,
                approve,
            };
            let outcome = ledger::execute(store.as_ref(), None, None, &tenant, &planner).await?;
            println!("{}", pretty(&outcome.body));
        }
        PartnerCommand::Key(cmd) => partner_key_command(ctx, &store, cmd).await?,
    }
    Ok(())
}

async fn moderate(
    ctx: &CliContext,
    store: &Arc<dyn LoyaltyStore>,
    args: ModerateArgs,
    action: Moderation,
) -> CliResult {
    let tenant = tenant_id(&args.tenant)?;
    let planner = partners::ModeratePartner {
        tenant: &tenant,
        partner_id: &args.partner_id,
        action,
    };
    let outcome = ledger::execute(store.as_ref(), None, None, &tenant, &planner).await?;
    let view = &outcome.body;
    println!(
        "partner {} is {}{}",
        args.partner_id,
        view["status"].as_str().unwrap_or("?"),
        if view["changed"] == serde_json::json!(true) {
            ""
        } else {
            " (unchanged)"
        }
    );
    if view["changed"] == serde_json::json!(true) {
        if let Some(url) = args.notify_queue_url.filter(|u| !u.is_empty()) {
            let config = config(ctx, &tenant).await?;
            let queue = SqsQueue::new(ctx.clients.sqs.clone(), url);
            let sent = partners::notify_status(
                &queue,
                &config,
                &args.partner_id,
                view["name"].as_str().unwrap_or_default(),
                view["telegram_chat_id"].as_i64(),
                view["status"].as_str().unwrap_or_default(),
                view["updated"].as_str().unwrap_or_default(),
            )
            .await?;
            if sent {
                println!("the partner is notified in Telegram");
            }
        }
    }
    Ok(())
}

pub(crate) fn print_issued(issued: &sauda_shared::apikey::IssuedKey) {
    println!("key id: {}", issued.record.key_id);
    println!("key:    {}", issued.presented.expose());
    println!("(shown once; store it in the partner's POS or bot now)");
}

pub(crate) fn print_keys(records: &[ApiKeyRecord]) {
    if records.is_empty() {
        println!("no keys");
    }
    for r in records {
        let role = r.role.label();
        let status = match (r.status, r.valid_until_ms) {
            (KeyStatus::Revoked, _) => "revoked".to_owned(),
            (KeyStatus::Active, Some(until)) => format!(
                "rotating out at {}",
                jiff::Timestamp::from_millisecond(until)
                    .map(|t| t.to_string())
                    .unwrap_or_default()
            ),
            (KeyStatus::Active, None) => "active".to_owned(),
        };
        println!("{:<28} {:<28} {:<40} {}", r.key_id, role, status, r.label);
    }
}

pub(crate) async fn rotate(keys: &ApiKeyStore, args: RotateArgs) -> CliResult {
    let tenant = tenant_id(&args.tenant)?;
    let grace = Duration::from_secs(args.grace_hours * 3600);
    let issued = keys
        .rotate(&tenant, &args.key_id, grace)
        .await?
        .ok_or_else(|| format!("no key {} in tenant {tenant}", args.key_id))?;
    print_issued(&issued);
    println!(
        "the old key {} keeps working for {} h",
        args.key_id, args.grace_hours
    );
    Ok(())
}

pub(crate) async fn revoke(keys: &ApiKeyStore, args: KeyIdArgs) -> CliResult {
    let tenant = tenant_id(&args.tenant)?;
    if !keys.revoke(&tenant, &args.key_id).await? {
        return Err(format!("no key {} in tenant {tenant}", args.key_id).into());
    }
    println!(
        "key {} revoked (warm functions stop accepting it within {} s)",
        args.key_id,
        ApiKeyStore::CACHE_TTL.as_secs()
    );
    Ok(())
}

async fn partner_key_command(
    ctx: &CliContext,
    store: &Arc<dyn LoyaltyStore>,
    cmd: PartnerKeyCommand,
) -> CliResult {
    let keys_store = ApiKeyStore::new(ctx.clients.dynamo.clone(), &ctx.table);
    match cmd {
        PartnerKeyCommand::Issue {
            tenant,
            partner_id,
            label,
        } => {
            let tenant = tenant_id(&tenant)?;
            if ledger::get::<Partner>(store.as_ref(), &keys::partner(&tenant, &partner_id))
                .await?
                .is_none()
            {
                return Err(
                    format!("no partner {partner_id} in tenant {tenant}; create it first").into(),
                );
            }
            let issued = keys_store
                .issue(&tenant, Role::Partner { partner_id }, &label)
                .await?;
            print_issued(&issued);
        }
        PartnerKeyCommand::Rotate(args) => rotate(&keys_store, args).await?,
        PartnerKeyCommand::Revoke(args) => revoke(&keys_store, args).await?,
        PartnerKeyCommand::List { tenant, partner_id } => {
            let tenant = tenant_id(&tenant)?;
            let records: Vec<ApiKeyRecord> = keys_store
                .list(&tenant)
                .await?
                .into_iter()
                .filter(|r| match (&r.role, &partner_id) {
                    (Role::Partner { partner_id: p }, Some(wanted)) => p == wanted,
                    (Role::Partner { .. }, None) => true,
                    _ => false,
                })
                .collect();
            print_keys(&records);
        }
    }
    Ok(())
}

async fn admin_key_command(ctx: &CliContext, cmd: AdminKeyCommand) -> CliResult {
    crate::plan_cli::role_key_command(&ctx.clients, &ctx.table, Role::Admin, cmd).await
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command};
    use clap::Parser;

    use super::*;

    fn parse(args: &[&str]) -> LoyaltyCommand {
        let mut argv = vec!["sauda", "loyalty"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Loyalty(cmd) => cmd,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_the_operator_commands() {
        let cmd = parse(&[
            "adjust",
            "--tenant",
            "t1",
            "--phone",
            "+77011234567",
            "--points",
            "-40",
            "--reason",
            "refund",
        ]);
        assert!(matches!(cmd, LoyaltyCommand::Adjust { points: -40, .. }));
        let cmd = parse(&[
            "partner", "key", "rotate", "--tenant", "t1", "--key-id", "k1",
        ]);
        assert!(matches!(
            cmd,
            LoyaltyCommand::Partner(PartnerCommand::Key(PartnerKeyCommand::Rotate(RotateArgs {
                grace_hours: 24,
                ..
            })))
        ));
        let cmd = parse(&[
            "partner",
            "approve",
            "--tenant",
            "t1",
            "--partner-id",
            "cafe",
        ]);
        assert!(matches!(
            cmd,
            LoyaltyCommand::Partner(PartnerCommand::Approve(_))
        ));
        let both = Cli::try_parse_from([
            "sauda",
            "loyalty",
            "member",
            "--tenant",
            "t1",
            "--contact-id",
            "tg-1",
            "--phone",
            "+77011234567",
        ]);
        assert!(both.is_err(), "a member is named one way");
    }
}
