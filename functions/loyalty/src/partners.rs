//! Partner onboarding and moderation (the tenant's admin through the admin routes, the
//! operator through the CLI): pending → active, or rejected / suspended; services are
//! moderated the same way. Every change is a conditional write on `updated_ms`, run
//! through the same executor as the ledger, so admin retries are idempotent too.

use crate::error::LoyaltyError;
use crate::model::{partners_gsi, partners_gsi_sk, Key};
use crate::ops::{status_str, Writes};
use crate::store::{LoyaltyStore, Plan, Planner};
use crate::views::partner_view;
use async_trait::async_trait;
use http::StatusCode;
use sauda_shared::dynamo::Reads;
use sauda_shared::i18n::{loyalty as texts, Lang};
use sauda_shared::notify::{self, Notice, Recipients};
use sauda_shared::partner::{Partner, PartnerService, PartnerStatus};
use sauda_shared::plan::Cond;
use sauda_shared::ports::MessageQueue;
use sauda_shared::telegram_api::escape_html;
use sauda_shared::tenant::TenantConfig;
use sauda_shared::{keys, TenantId};
use serde::Serialize;
use serde_json::json;

/// The largest cashback a partner may be given: 100 %.
pub const MAX_CASHBACK_BP: u32 = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moderation {
    Approve,
    Reject,
    Suspend,
}

impl Moderation {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "approve" => Some(Self::Approve),
            "reject" => Some(Self::Reject),
            "suspend" => Some(Self::Suspend),
            _ => None,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Self::Approve => "approved",
            Self::Reject => "rejected",
            Self::Suspend => "suspended",
        }
    }

    /// The status after this action, or `None` when the transition is not allowed.
    pub fn next(self, from: PartnerStatus) -> Option<PartnerStatus> {
        use PartnerStatus::*;
        match (self, from) {
            (Self::Approve, _) => Some(Active),
            (Self::Reject, Pending | Rejected) => Some(Rejected),
            (Self::Suspend, Active | Pending | Suspended) => Some(Suspended),
            _ => None,
        }
    }
}

/// The stored partner item: the shared entity plus its place in the status index.
#[derive(Clone, Debug, Serialize)]
pub struct PartnerItem {
    #[serde(flatten)]
    pub partner: Partner,
    #[serde(rename = "GSI1PK")]
    pub gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    pub gsi1sk: String,
}

impl PartnerItem {
    pub fn new(tenant: &TenantId, partner: &Partner) -> Self {
        Self {
            partner: partner.clone(),
            gsi1pk: partners_gsi(tenant),
            gsi1sk: partners_gsi_sk(status_str(partner.status), &partner.partner_id),
        }
    }
}

/// Replaces a partner read at `updated_ms = before`; a concurrent change re-plans.
fn replace(tenant: &TenantId, before: i64, after: &Partner) -> Writes {
    let mut writes = Writes::new();
    writes.put(
        PartnerItem::new(tenant, after),
        Some(Cond::eq("updated_ms", before)),
    );
    writes
}

/// A new `updated_ms`, strictly after the one read (the condition of the next change).
fn bump(partner: &mut Partner, now_ms: i64) {
    partner.updated_ms = now_ms.max(partner.updated_ms.saturating_add(1));
}

fn existing(reads: &Reads, tenant: &TenantId, partner_id: &str) -> Result<Partner, LoyaltyError> {
    reads
        .get(&keys::partner(tenant, partner_id))?
        .ok_or(LoyaltyError::UnknownPartner)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPartner {
    pub partner_id: String,
    pub name: String,
    pub kind: String,
    pub telegram_chat_id: Option<i64>,
    pub cashback_bp: Option<u32>,
}

pub fn check_cashback(bp: Option<u32>) -> Result<(), LoyaltyError> {
    match bp {
        Some(bp) if bp > MAX_CASHBACK_BP => Err(LoyaltyError::field(
            "invalid_cashback",
            format!("cashback_bp must be 0-{MAX_CASHBACK_BP} (basis points)"),
        )),
        _ => Ok(()),
    }
}

pub struct CreatePartner<'a> {
    pub tenant: &'a TenantId,
    pub new: &'a NewPartner,
}

#[async_trait]
impl Planner for CreatePartner<'_> {
    fn keys(&self) -> Vec<Key> {
        vec![keys::partner(self.tenant, &self.new.partner_id)]
    }

    async fn plan(
        &self,
        _: &dyn LoyaltyStore,
        reads: &mut Reads,
        now_ms: i64,
    ) -> Result<Plan, LoyaltyError> {
        let key = keys::partner(self.tenant, &self.new.partner_id);
        if reads.contains(&key) {
            return Err(LoyaltyError::PartnerExists);
        }
        let partner = Partner {
            pk: key.0,
            sk: key.1,
            partner_id: self.new.partner_id.clone(),
            name: self.new.name.clone(),
            status: PartnerStatus::Pending,
            kind: self.new.kind.clone(),
            telegram_chat_id: self.new.telegram_chat_id,
            cashback_bp: self.new.cashback_bp,
            services: Vec::new(),
            created_ms: now_ms,
            updated_ms: now_ms,
        };
        let mut writes = Writes::new();
        writes.put(
            PartnerItem::new(self.tenant, &partner),
            Some(Cond::item_absent()),
        );
        Ok(Plan::new(
            writes,
            StatusCode::CREATED,
            partner_view(&partner),
        ))
    }
}

pub struct ModeratePartner<'a> {
    pub tenant: &'a TenantId,
    pub partner_id: &'a str,
    pub action: Moderation,
}

#[async_trait]
impl Planner for ModeratePartner<'_> {
    fn keys(&self) -> Vec<Key> {
        vec![keys::partner(self.tenant, self.partner_id)]
    }

    async fn plan(
        &self,
        _: &dyn LoyaltyStore,
        reads: &mut Reads,
        now_ms: i64,
    ) -> Result<Plan, LoyaltyError> {
        let partner = existing(reads, self.tenant, self.partner_id)?;
        let next = self
            .action
            .next(partner.status)
            .ok_or(LoyaltyError::InvalidTransition {
                from: partner.status,
                action: self.action.verb(),
            })?;
        let mut body = partner_view(&partner);
        if next == partner.status {
            body["changed"] = json!(false);
            return Ok(Plan::answer(body));
        }
        let mut after = partner.clone();
        after.status = next;
        bump(&mut after, now_ms);
        let mut body = partner_view(&after);
        body["changed"] = json!(true);
        Ok(Plan::new(
            replace(self.tenant, partner.updated_ms, &after),
            StatusCode::OK,
            body,
        ))
    }
}

/// Changes to a partner's settings; `Some(None)` clears an optional one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartnerPatch {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub telegram_chat_id: Option<Option<i64>>,
    pub cashback_bp: Option<Option<u32>>,
}

pub struct UpdatePartner<'a> {
    pub tenant: &'a TenantId,
    pub partner_id: &'a str,
    pub patch: &'a PartnerPatch,
}

#[async_trait]
impl Planner for UpdatePartner<'_> {
    fn keys(&self) -> Vec<Key> {
        vec![keys::partner(self.tenant, self.partner_id)]
    }

    async fn plan(
        &self,
        _: &dyn LoyaltyStore,
        reads: &mut Reads,
        now_ms: i64,
    ) -> Result<Plan, LoyaltyError> {
        let partner = existing(reads, self.tenant, self.partner_id)?;
        let mut after = partner.clone();
        if let Some(name) = &self.patch.name {
            after.name = name.clone();
        }
        if let Some(kind) = &self.patch.kind {
            after.kind = kind.clone();
        }
        if let Some(chat) = self.patch.telegram_chat_id {
            after.telegram_chat_id = chat;
        }
        if let Some(bp) = self.patch.cashback_bp {
            after.cashback_bp = bp;
        }
        if after == partner {
            return Ok(Plan::answer(partner_view(&partner)));
        }
        bump(&mut after, now_ms);
        Ok(Plan::new(
            replace(self.tenant, partner.updated_ms, &after),
            StatusCode::OK,
            partner_view(&after),
        ))
    }
}

/// A partner proposes a service; it waits for moderation like the partner did.
pub struct ProposeService<'a> {
    pub tenant: &'a TenantId,
    pub partner_id: &'a str,
    pub name: &'a str,
}

#[async_trait]
impl Planner for ProposeService<'_> {
    fn keys(&self) -> Vec<Key> {
        vec![keys::partner(self.tenant, self.partner_id)]
    }

    async fn plan(
        &self,
        _: &dyn LoyaltyStore,
        reads: &mut Reads,
        now_ms: i64,
    ) -> Result<Plan, LoyaltyError> {
        let partner: Partner = reads
            .get(&keys::partner(self.tenant, self.partner_id))?
            .ok_or(LoyaltyError::PartnerMissing)?;
        if matches!(
            partner.status,
            PartnerStatus::Rejected | PartnerStatus::Suspended
        ) {
            return Err(LoyaltyError::PartnerInactive(partner.status));
        }
        if partner.services.len() >= 100 {
            return Err(LoyaltyError::field(
                "too_many_services",
                "a partner may list at most 100 services",
            ));
        }
        let service = PartnerService {
            service_id: format!("svc-{}", ulid::Ulid::new().to_string().to_ascii_lowercase()),
            name: self.name.to_owned(),
            status: PartnerStatus::Pending,
        };
        let mut after = partner.clone();
        after.services.push(service.clone());
        bump(&mut after, now_ms);
        Ok(Plan::new(
            replace(self.tenant, partner.updated_ms, &after),
            StatusCode::CREATED,
            json!({
                "partner_id": self.partner_id,
                "service_id": service.service_id,
                "name": service.name,
                "status": "pending",
            }),
        ))
    }
}

pub struct ModerateService<'a> {
    pub tenant: &'a TenantId,
    pub partner_id: &'a str,
    pub service_id: &'a str,
    pub approve: bool,
}

#[async_trait]
impl Planner for ModerateService<'_> {
    fn keys(&self) -> Vec<Key> {
        vec![keys::partner(self.tenant, self.partner_id)]
    }

    async fn plan(
        &self,
        _: &dyn LoyaltyStore,
        reads: &mut Reads,
        now_ms: i64,
    ) -> Result<Plan, LoyaltyError> {
        let partner = existing(reads, self.tenant, self.partner_id)?;
        let status = if self.approve {
            PartnerStatus::Active
        } else {
            PartnerStatus::Rejected
        };
        let mut after = partner.clone();
        let service = after
            .services
            .iter_mut()
            .find(|svc| svc.service_id == self.service_id)
            .ok_or(LoyaltyError::UnknownService)?;
        if service.status == status {
            return Ok(Plan::answer(partner_view(&partner)));
        }
        service.status = status;
        bump(&mut after, now_ms);
        Ok(Plan::new(
            replace(self.tenant, partner.updated_ms, &after),
            StatusCode::OK,
            partner_view(&after),
        ))
    }
}

/// A tenant's partners, optionally of one status (GSI1, one Query per page).
/// The `?status=` filter of a partner list: empty is every status.
pub fn status_filter(raw: Option<&str>) -> Result<Option<PartnerStatus>, LoyaltyError> {
    match raw {
        None | Some("") => Ok(None),
        Some(raw) => serde_json::from_value::<PartnerStatus>(json!(raw))
            .map(Some)
            .map_err(|_| {
                LoyaltyError::field(
                    "invalid_status",
                    "status must be pending, active, rejected or suspended",
                )
            }),
    }
}

pub async fn list(
    store: &dyn LoyaltyStore,
    tenant: &TenantId,
    status: Option<PartnerStatus>,
) -> Result<Vec<Partner>, LoyaltyError> {
    Ok(store.partners(tenant, status.map(status_str)).await?)
}

/// Tells the partner in Telegram that its status changed (through the notify queue;
/// the notice id makes a repeated call deliver once).
pub async fn notify_status(
    queue: &dyn MessageQueue,
    config: &TenantConfig,
    partner_id: &str,
    name: &str,
    chat_id: Option<i64>,
    status: &str,
    version: &str,
) -> Result<bool, LoyaltyError> {
    let Some(chat) = chat_id else {
        return Ok(false);
    };
    let text = match status {
        "active" => &texts::PARTNER_APPROVED,
        "rejected" => &texts::PARTNER_REJECTED,
        _ => &texts::PARTNER_SUSPENDED,
    };
    let lang = Lang::pick(None, &config.default_language);
    let html = text.render(lang, &[("name", &escape_html(name))]);
    let notice = Notice {
        tenant: config.tenant.clone(),
        id: notify::notice_id(&["partner", partner_id, status, version]),
        kind: "partner_status".into(),
        to: Recipients::Chats(vec![chat]),
        html,
    };
    notify::send(queue, notice)
        .await
        .map_err(|e| LoyaltyError::Queue(e.to_string()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use PartnerStatus::*;

    #[test]
    fn transitions() {
        assert_eq!(Moderation::Approve.next(Pending), Some(Active));
        assert_eq!(Moderation::Approve.next(Suspended), Some(Active));
        assert_eq!(Moderation::Reject.next(Pending), Some(Rejected));
        assert_eq!(
            Moderation::Reject.next(Active),
            None,
            "suspend an active partner"
        );
        assert_eq!(Moderation::Suspend.next(Active), Some(Suspended));
        assert_eq!(Moderation::Suspend.next(Rejected), None);
        assert_eq!(Moderation::parse("approve"), Some(Moderation::Approve));
        assert_eq!(Moderation::parse("delete"), None);
    }

    #[test]
    fn the_stored_partner_sits_in_the_status_index() {
        let t = TenantId::parse("acme").unwrap();
        let (pk, sk) = keys::partner(&t, "cafe");
        let partner = Partner {
            pk,
            sk,
            partner_id: "cafe".into(),
            name: "Café".into(),
            status: Active,
            kind: String::new(),
            telegram_chat_id: Some(5),
            cashback_bp: None,
            services: Vec::new(),
            created_ms: 1,
            updated_ms: 2,
        };
        let item = sauda_shared::dynamo::to_item(&PartnerItem::new(&t, &partner)).unwrap();
        assert_eq!(sauda_shared::dynamo::item_s(&item, "GSI1SK"), "active#cafe");
        assert_eq!(
            sauda_shared::dynamo::item_s(&item, "GSI1PK"),
            partners_gsi(&t)
        );
        let back: Partner = sauda_shared::dynamo::from_item(item).unwrap();
        assert_eq!(back, partner);
        let mut bumped = partner.clone();
        bumped.updated_ms = i64::MAX;
        bump(&mut bumped, 0);
        assert_eq!(bumped.updated_ms, i64::MAX, "no overflow");
    }

    #[test]
    fn cashback_is_bounded() {
        assert!(check_cashback(Some(10_000)).is_ok());
        assert!(check_cashback(None).is_ok());
        assert!(check_cashback(Some(10_001)).is_err());
    }
}
