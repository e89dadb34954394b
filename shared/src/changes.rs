//! Who changed what in a tenant's settings, keys and catalog: a per-tenant history the
//! tenant admin API lists. Behind [`ChangeLog`] so that an audit trail can take it over:
//! a change is written inside the same transaction as what it records.

use crate::plan::{Cond, Op, Record};
use crate::ports::StoreError;
use crate::tenant::TenantId;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// One change, as listed (newest first).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub id: String,
    pub at_ms: i64,
    /// `tenant_admin:{key_id}`, `operator`, ...
    pub actor: String,
    /// `settings.patch`, `manager.add`, `key.issue`, `catalog.activate`, ...
    pub action: String,
    /// What it changed: a manager's chat, a key id, a catalog version, the patch's fields.
    pub target: String,
    #[serde(default)]
    pub detail: serde_json::Value,
}

impl Change {
    pub fn new(actor: &str, action: &str, target: impl Into<String>, at_ms: i64) -> Self {
        Self {
            id: ulid::Ulid::new().to_string().to_ascii_lowercase(),
            at_ms,
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.into(),
            detail: serde_json::Value::Null,
        }
    }

    pub fn with(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}

pub fn history_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}#CHANGES")
}

pub fn history_sk(change: &Change) -> String {
    format!("{:013}#{}", change.at_ms.max(0), change.id)
}

#[derive(Serialize)]
struct Item<'a> {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(flatten)]
    change: &'a Change,
}

/// The write of a change into the tenant's history (for a write plan).
pub fn history_put(tenant: &TenantId, change: &Change) -> Op {
    let item = serde_json::to_value(Item {
        pk: history_pk(tenant),
        sk: history_sk(change),
        change,
    })
    .unwrap_or_default();
    Op::Put {
        record: Record::new(item),
        cond: Some(Cond::item_absent()),
    }
}

/// Where changes go and how they are listed.
#[async_trait]
pub trait ChangeLog: Send + Sync {
    /// The write recording `change`, committed with the change itself.
    fn write(&self, tenant: &TenantId, change: &Change) -> Op {
        history_put(tenant, change)
    }
    /// Newest first, `limit` at most, after the opaque position `after`.
    async fn list(
        &self,
        tenant: &TenantId,
        limit: usize,
        after: Option<&str>,
    ) -> Result<(Vec<Change>, Option<String>), StoreError>;
}
