//! `sauda local seed`: the demo tenant with everything the demo conversation touches:
//! config and channel secrets, a 40,000-item catalog (generated once, imported and
//! activated), an approved loyalty partner, and API keys for a manager, an admin and the
//! partner. The keys exist only on the local emulator; they are written to a gitignored
//! file for the demo and for developers' curl calls, never printed.

use crate::catalog_cli::{import_catalog, Quiet};
use crate::demo::DemoTenant;
use crate::tenant;
use loyalty::partners::{self, Moderation};
use sauda_shared::apikey::{ApiKeyStore, Role};
use sauda_shared::aws::AwsClients;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const DEMO_PARTNER: &str = "demo-cafe";
pub const DEMO_PARTNER_CHAT: i64 = 100_200_301;
const CATALOG_ITEMS: usize = 40_000;

/// The demo's API keys (local emulator only).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoKeys {
    pub manager: String,
    pub admin: String,
    pub partner: String,
    pub partner_id: String,
}

type SeedResult<T> = Result<T, Box<dyn std::error::Error>>;

pub async fn seed(
    clients: &AwsClients,
    stage: &str,
    table: &str,
    bucket: &str,
    demo: &DemoTenant,
    work_dir: &Path,
) -> SeedResult<DemoKeys> {
    match tenant::create_tenant(&clients.dynamo, table, &demo.config()).await {
        Ok(()) => {}
        // Re-seeding refreshes the demo settings and keeps the data.
        Err(tenant::OnboardingError::AlreadyExists(_)) => {
            tenant::put_config(&clients.dynamo, table, &demo.config()).await?
        }
        Err(e) => return Err(e.into()),
    }
    tenant::merge_tenant_secrets(&clients.secrets, stage, &demo.tenant, demo.secrets.clone())
        .await?;
    println!("  tenant {} with its channel secrets", demo.tenant);

    std::fs::create_dir_all(work_dir)?;
    let catalog = work_dir.join("demo-catalog.csv");
    if !catalog.exists() {
        let items = agent_reply::catalog::generate::demo_items(CATALOG_ITEMS, 7);
        agent_reply::catalog::generate::write_csv(&items, std::fs::File::create(&catalog)?)?;
    }
    let outcome = import_catalog(
        clients,
        table,
        bucket,
        &demo.tenant,
        &catalog,
        Some("KZT"),
        true,
        &Quiet,
    )
    .await?;
    println!(
        "  catalog {} ({} items, index built in {} ms) active",
        outcome.manifest.version, outcome.manifest.items, outcome.build_ms
    );

    seed_partner(clients, table, demo).await?;
    let keys = ApiKeyStore::new(clients.dynamo.clone(), table);
    let issued = DemoKeys {
        manager: keys
            .issue(&demo.tenant, Role::Manager, "demo manager")
            .await?
            .presented
            .expose()
            .to_owned(),
        admin: keys
            .issue(&demo.tenant, Role::Admin, "demo admin")
            .await?
            .presented
            .expose()
            .to_owned(),
        partner: keys
            .issue(
                &demo.tenant,
                Role::Partner {
                    partner_id: DEMO_PARTNER.to_owned(),
                },
                "demo till",
            )
            .await?
            .presented
            .expose()
            .to_owned(),
        partner_id: DEMO_PARTNER.to_owned(),
    };
    let keys_file = work_dir.join("demo-keys.json");
    std::fs::write(&keys_file, serde_json::to_string_pretty(&issued)? + "\n")?;
    println!(
        "  loyalty partner {DEMO_PARTNER} (active); manager, admin and partner API keys in {}",
        keys_file.display()
    );
    Ok(issued)
}

/// Creates the demo partner and approves it; a partner left from an earlier seed is kept.
async fn seed_partner(clients: &AwsClients, table: &str, demo: &DemoTenant) -> SeedResult<()> {
    let store = loyalty::DynamoStore::new(clients.dynamo.clone(), table);
    let new = loyalty::routes::new_partner(
        DEMO_PARTNER,
        "Demo Café",
        Some("cafe"),
        Some(DEMO_PARTNER_CHAT),
        None,
    )?;
    let create = partners::CreatePartner {
        tenant: &demo.tenant,
        new: &new,
    };
    match loyalty::store::execute(&store, None, None, &demo.tenant, &create).await {
        Ok(_) | Err(loyalty::LoyaltyError::PartnerExists) => {}
        Err(e) => return Err(e.into()),
    }
    let approve = partners::ModeratePartner {
        tenant: &demo.tenant,
        partner_id: DEMO_PARTNER,
        action: Moderation::Approve,
    };
    loyalty::store::execute(&store, None, None, &demo.tenant, &approve).await?;
    Ok(())
}

pub fn load_keys(work_dir: &Path) -> SeedResult<DemoKeys> {
    let path = work_dir.join("demo-keys.json");
    let raw = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e} (run `sauda local seed`)", path.display()))?;
    Ok(serde_json::from_str(&raw)?)
}
