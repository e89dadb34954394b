//! `sauda tenant plan` (a tenant's plan and its overrides) and `sauda tenant admin-key`
//! (the key of the tenant admin API).

use crate::cli::{tenant_id, CliResult};
use crate::loyalty_cli::{print_issued, print_keys, revoke, rotate, AdminKeyCommand};
use crate::tenant;
use clap::Args;
use sauda_shared::apikey::{ApiKeyRecord, ApiKeyStore, Role};
use sauda_shared::aws::AwsClients;
use sauda_shared::limits::{Limits, PlanId};

/// Sets a tenant's plan and/or overrides of its limits; prints the limits in force.
#[derive(Args, Debug)]
pub struct PlanArgs {
    #[arg(long)]
    pub tenant: String,
    /// free, start or business.
    #[arg(long)]
    pub plan: Option<String>,
    #[arg(long)]
    pub channels: Option<u64>,
    #[arg(long)]
    pub catalog_items: Option<u64>,
    #[arg(long)]
    pub orders_per_month: Option<u64>,
    #[arg(long)]
    pub conversations_per_month: Option<u64>,
    /// USD micros per month.
    #[arg(long)]
    pub ai_budget_micros: Option<i64>,
    #[arg(long)]
    pub api_rate_per_key: Option<u32>,
    /// Drop every override first (the plan's own limits apply).
    #[arg(long)]
    pub clear_overrides: bool,
}

impl PlanArgs {
    /// Applies the arguments to a tenant's plan settings.
    pub fn apply(&self, plan: &mut sauda_shared::limits::PlanSettings) -> Result<(), String> {
        if let Some(id) = &self.plan {
            plan.id = PlanId::parse(id)
                .ok_or_else(|| format!("--plan {id:?}: one of free, start, business"))?;
        }
        if self.clear_overrides {
            plan.overrides = Limits::default();
        }
        let o = &mut plan.overrides;
        o.channels = self.channels.or(o.channels);
        o.catalog_items = self.catalog_items.or(o.catalog_items);
        o.orders_per_month = self.orders_per_month.or(o.orders_per_month);
        o.conversations_per_month = self.conversations_per_month.or(o.conversations_per_month);
        o.ai_budget_micros = self.ai_budget_micros.or(o.ai_budget_micros);
        o.api_rate_per_key = self.api_rate_per_key.or(o.api_rate_per_key);
        Ok(())
    }
}

pub async fn plan_command(clients: &AwsClients, table: &str, args: PlanArgs) -> CliResult {
    let tenant = tenant_id(&args.tenant)?;
    // Refused before anything is read or written.
    args.apply(&mut Default::default())?;
    let config = tenant::update_config(&clients.dynamo, table, &tenant, |c| {
        // Cannot fail: the same arguments applied above.
        let _ = args.apply(&mut c.plan);
    })
    .await?;
    println!(
        "tenant {tenant} is on the {} plan; limits in force:\n{}",
        config.plan.id.as_str(),
        serde_json::to_string_pretty(&config.plan.limits())?
    );
    Ok(())
}

/// Issues, rotates, revokes and lists the keys of one role (`sauda tenant admin-key`
/// for the tenant admin API, `sauda loyalty admin-key` for the loyalty admin).
pub async fn role_key_command(
    clients: &AwsClients,
    table: &str,
    role: Role,
    cmd: AdminKeyCommand,
) -> CliResult {
    let keys = ApiKeyStore::new(clients.dynamo.clone(), table);
    match cmd {
        AdminKeyCommand::Issue { tenant, label } => {
            let tenant = tenant_id(&tenant)?;
            tenant::read_config(&clients.dynamo, table, &tenant).await?;
            print_issued(&keys.issue(&tenant, role, &label).await?);
        }
        AdminKeyCommand::Rotate(args) => rotate(&keys, args).await?,
        AdminKeyCommand::Revoke(args) => revoke(&keys, args).await?,
        AdminKeyCommand::List { tenant } => {
            let tenant = tenant_id(&tenant)?;
            let records: Vec<ApiKeyRecord> = keys
                .list(&tenant)
                .await?
                .into_iter()
                .filter(|r| r.role == role)
                .collect();
            print_keys(&records);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command, TenantCommand};
    use clap::Parser;

    fn parse(args: &[&str]) -> TenantCommand {
        let mut argv = vec!["sauda", "tenant"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Tenant(cmd) => cmd,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_plan_and_overrides_apply_over_the_stored_ones() {
        let TenantCommand::Plan(args) = parse(&[
            "plan",
            "--tenant",
            "t1",
            "--plan",
            "free",
            "--catalog-items",
            "250",
        ]) else {
            panic!("not plan");
        };
        let mut plan = sauda_shared::limits::PlanSettings::default();
        plan.overrides.orders_per_month = Some(5);
        args.apply(&mut plan).unwrap();
        assert_eq!(plan.id, PlanId::Free);
        assert_eq!(plan.limits().catalog_items, Some(250));
        assert_eq!(plan.limits().orders_per_month, Some(5), "kept");
        assert_eq!(plan.limits().channels, Some(1), "the plan's");
        let TenantCommand::Plan(bad) = parse(&["plan", "--tenant", "t1", "--plan", "gold"]) else {
            panic!("not plan");
        };
        assert!(bad.apply(&mut plan).is_err());
        assert!(matches!(
            parse(&["admin-key", "issue", "--tenant", "t1"]),
            TenantCommand::AdminKey(AdminKeyCommand::Issue { .. })
        ));
    }
}
