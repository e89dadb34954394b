//! Partners of a tenant: shops and cafés in the loyalty program, guides and hotels that
//! take over leads. One entity at `T#{t}#P#{pid}` / `PROFILE`; loyalty moderates it
//! (pending → active, or rejected / suspended) and lead-capture hands leads to it.

use crate::keys;
use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PartnerStatus {
    /// Waiting for the tenant's admin; cannot accrue or redeem.
    #[default]
    Pending,
    Active,
    Rejected,
    Suspended,
}

/// A service a partner offers, moderated like the partner itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerService {
    pub service_id: String,
    pub name: String,
    #[serde(default)]
    pub status: PartnerStatus,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partner {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    /// `[a-z0-9-]`, 2-40 characters, unique within the tenant.
    pub partner_id: String,
    pub name: String,
    #[serde(default)]
    pub status: PartnerStatus,
    /// What the partner is (`shop`, `cafe`, `guide`, `hotel`, ...), free text.
    #[serde(default)]
    pub kind: String,
    /// Where lead handoffs and partner notices go.
    #[serde(default)]
    pub telegram_chat_id: Option<i64>,
    /// Overrides the tenant's cashback rate (basis points).
    #[serde(default)]
    pub cashback_bp: Option<u32>,
    #[serde(default)]
    pub services: Vec<PartnerService>,
    #[serde(default)]
    pub created_ms: i64,
    #[serde(default)]
    pub updated_ms: i64,
}

impl Partner {
    pub fn key(tenant: &TenantId, partner_id: &str) -> (String, String) {
        keys::partner(tenant, partner_id)
    }

    pub fn is_active(&self) -> bool {
        self.status == PartnerStatus::Active
    }
}

/// Partner ids share the tenant id's alphabet, so they are safe inside keys and metric names.
pub fn valid_partner_id(raw: &str) -> bool {
    crate::tenant::TenantId::parse(raw).is_ok()
}
