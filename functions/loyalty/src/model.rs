//! Stored items of the loyalty ledger and the keys that are not (yet) in
//! `sauda_shared::keys`. Every partition key starts with `T#{tenant}#`.
//!
//! | item | PK | SK |
//! |---|---|---|
//! | account | `T#{t}#C#{cid}` | `LOYALTY` (GSI1: `T#{t}#LOYALTY_CREDITS` / `{oldest credit day}#{cid}`) |
//! | ledger entry | `T#{t}#C#{cid}` | `LTX#{ulid}` |
//! | idempotency record | `T#{t}#IDEM#{scope}#{key}` | `IDEM` (TTL) |
//! | referral code | `T#{t}#REF#{code}` | `REF` |
//! | phone identity | `T#{t}#ID#phone#{e164}` | `ID` |
//! | partner | `T#{t}#P#{pid}` | `PROFILE` (GSI1: `T#{t}#PARTNERS` / `{status}#{pid}`) |
//! | partner aggregates | `T#{t}#P#{pid}` | `STATS` |
//! | partner's client | `T#{t}#P#{pid}` | `CLIENT#{cid}` |
//! | purchase | `T#{t}#P#{pid}` | `PURCHASE#{ref}` |

use crate::domain::Ledger;
use sauda_shared::keys;
use sauda_shared::TenantId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A table key: `(PK, SK)`.
pub use sauda_shared::plan::Key;

pub fn account_key(t: &TenantId, contact: &str) -> Key {
    (keys::contact_pk(t, contact), keys::LOYALTY_SK.to_owned())
}

pub fn ledger_key(t: &TenantId, contact: &str, entry_id: &str) -> Key {
    (keys::contact_pk(t, contact), keys::ledger_sk(entry_id))
}

/// GSI1 partition of accounts that hold points, sorted by their oldest credit day: the
/// expiry job reads exactly the accounts with something due, whatever `expiry_days` is.
pub fn credits_gsi(t: &TenantId) -> String {
    format!("T#{t}#LOYALTY_CREDITS")
}

pub fn credits_gsi_sk(oldest_day: &str, contact: &str) -> String {
    format!("{oldest_day}#{contact}")
}

/// GSI1 partition listing a tenant's partners by status.
pub fn partners_gsi(t: &TenantId) -> String {
    format!("T#{t}#PARTNERS")
}

pub fn partners_gsi_sk(status: &str, partner_id: &str) -> String {
    format!("{status}#{partner_id}")
}

pub fn partner_stats_key(t: &TenantId, partner_id: &str) -> Key {
    (keys::partner(t, partner_id).0, "STATS".to_owned())
}

pub fn partner_client_key(t: &TenantId, partner_id: &str, contact: &str) -> Key {
    (keys::partner(t, partner_id).0, format!("CLIENT#{contact}"))
}

pub fn purchase_key(t: &TenantId, partner_id: &str, purchase_ref: &str) -> Key {
    (
        keys::partner(t, partner_id).0,
        format!("PURCHASE#{purchase_ref}"),
    )
}

pub fn phone_identity_key(t: &TenantId, e164: &str) -> Key {
    keys::identity(t, "phone", e164)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Accrue,
    Redeem,
    Welcome,
    ReferralBonus,
    Expire,
    Adjust,
    Refund,
    /// Points moved between two accounts of one person (a phone linked to a chat).
    Merge,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accrue => "accrue",
            Self::Redeem => "redeem",
            Self::Welcome => "welcome",
            Self::ReferralBonus => "referral_bonus",
            Self::Expire => "expire",
            Self::Adjust => "adjust",
            Self::Refund => "refund",
            Self::Merge => "merge",
        }
    }
}

/// A member's account. Absent options are left out of the item (never stored as
/// `NULL`), because conditions test them with `attribute_not_exists`. Every change goes through a transaction conditioned on `rev`,
/// so a write always starts from the state it computed from: balances cannot go
/// negative, `balance_after` on entries is exact, and "first of the day" counters and
/// the referral bonus are decided once.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Account {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub contact: String,
    /// Points. The agent's `get_loyalty_balance` tool reads exactly this attribute.
    pub balance: i64,
    pub credited: i64,
    pub debited: i64,
    #[serde(default)]
    pub credit_days: BTreeMap<String, i64>,
    #[serde(default)]
    pub settled_credits: i64,
    /// Optimistic-concurrency revision: +1 on every ledger change.
    pub rev: u64,
    pub created_ms: i64,
    #[serde(default)]
    pub updated_ms: i64,
    /// Last member operation (join, accrue, redeem), for the `loyalty_active_*` counters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_active_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_partner: Option<String>,
    #[serde(default)]
    pub purchases: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_code: Option<String>,
    /// The member who referred this one (contact id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referred_by: Option<String>,
    /// When the referrer's bonus was paid; set once, on the first purchase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_bonus_paid_ms: Option<i64>,
    /// Members who joined with this member's code.
    #[serde(default)]
    pub referrals_joined: i64,
    /// Set once this account's points moved into another member's (`merge`): the
    /// contact that absorbed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
    #[serde(rename = "GSI1PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(rename = "GSI1SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
}

impl Account {
    pub fn ledger(&self) -> Ledger {
        Ledger {
            balance: self.balance,
            credited: self.credited,
            debited: self.debited,
            credit_days: self.credit_days.clone(),
            settled_credits: self.settled_credits,
        }
    }

    pub fn set_ledger(&mut self, ledger: Ledger) {
        self.balance = ledger.balance;
        self.credited = ledger.credited;
        self.debited = ledger.debited;
        self.credit_days = ledger.credit_days;
        self.settled_credits = ledger.settled_credits;
    }
}

/// One append-only ledger entry. `points` is signed (credits positive).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entry_id: String,
    pub contact: String,
    pub kind: EntryKind,
    pub points: i64,
    pub balance_after: i64,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_minor: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// For credits while expiry is on: the date these points expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_on: Option<String>,
    /// The other member of a referral (the newcomer, on the referrer's bonus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_contact: Option<String>,
    pub at_ms: i64,
}

/// The stored outcome of an idempotent request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    /// SHA-256 of the operation and its normalised request.
    pub request_hash: String,
    pub status: u16,
    /// The response body as JSON text.
    pub body: String,
    pub created_ms: i64,
    /// Epoch seconds (table TTL).
    pub expires_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralCode {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub code: String,
    pub contact: String,
    pub created_ms: i64,
}

/// `T#{t}#ID#phone#{e164}` → contact. Shared with lead-capture: both read `contact`
/// (`contact_id` is accepted too, so a differently written item still resolves).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneIdentity {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(default, alias = "contact_id")]
    pub contact: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub created_ms: i64,
}

/// One purchase at one partner: makes accrual, redemption and rating each happen at
/// most once per purchase reference.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub contact: String,
    #[serde(default)]
    pub accrue_entry: Option<String>,
    #[serde(default)]
    pub redeem_entry: Option<String>,
    #[serde(default)]
    pub refund_entry: Option<String>,
    /// Money refunded so far; refunds stop at the purchase's total.
    #[serde(default)]
    pub refunded_minor: i64,
    #[serde(default)]
    pub accrue_points: i64,
    #[serde(default)]
    pub accrue_amount_minor: i64,
    #[serde(default)]
    pub redeem_points: i64,
    #[serde(default)]
    pub redeem_amount_minor: i64,
    #[serde(default)]
    pub nps_score: Option<u8>,
}

impl Purchase {
    /// The purchase's whole amount: what points paid part of, or else what earned cashback.
    pub fn total_minor(&self) -> i64 {
        if self.redeem_entry.is_some() {
            self.redeem_amount_minor
        } else {
            self.accrue_amount_minor
        }
    }
}

/// All-time aggregates of one partner, kept by `ADD` inside the ledger transactions so
/// that the statistics route is one read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PartnerStats {
    pub turnover_minor: i64,
    pub purchases: i64,
    pub accrued: i64,
    pub redeemed: i64,
    pub clients: i64,
    pub nps_count: i64,
    pub nps_sum: i64,
    pub nps_promoters: i64,
    pub nps_detractors: i64,
}

/// A customer of one partner: the first purchase makes them one of its `clients`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerClient {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub contact: String,
    #[serde(default)]
    pub first_ms: i64,
    #[serde(default)]
    pub last_ms: i64,
    #[serde(default)]
    pub purchases: i64,
    #[serde(default)]
    pub turnover_minor: i64,
    #[serde(default)]
    pub accrued: i64,
    #[serde(default)]
    pub redeemed: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_in_the_tenant_and_below_messages() {
        let t = TenantId::parse("acme").unwrap();
        let prefix = keys::tenant_prefix(&t);
        for (pk, _) in [
            account_key(&t, "tg-1"),
            ledger_key(&t, "tg-1", "01J"),
            partner_stats_key(&t, "cafe"),
            partner_client_key(&t, "cafe", "tg-1"),
            purchase_key(&t, "cafe", "R-1"),
            phone_identity_key(&t, "+77011234567"),
        ] {
            assert!(pk.starts_with(&prefix), "{pk}");
        }
        assert!(credits_gsi(&t).starts_with(&prefix));
        assert!(partners_gsi(&t).starts_with(&prefix));
        // Contact-partition items must sort below `MSG#` (the agent's history query).
        assert!(keys::LOYALTY_SK < keys::MESSAGE_SK_PREFIX);
        assert!(ledger_key(&t, "tg-1", "01J").1.as_str() < keys::MESSAGE_SK_PREFIX);
    }

    #[test]
    fn account_round_trips_through_dynamo_items() {
        let mut account = Account {
            pk: "p".into(),
            sk: "s".into(),
            contact: "tg-1".into(),
            rev: 3,
            ..Default::default()
        };
        let mut ledger = account.ledger();
        ledger.credit("2026-01-01", 50).unwrap();
        account.set_ledger(ledger);
        let item = sauda_shared::dynamo::to_item(&account).unwrap();
        assert!(!item.contains_key("GSI1PK"), "no index entry unless set");
        assert!(!item.contains_key("referral_code"), "absent, not NULL");
        assert_eq!(sauda_shared::dynamo::item_n(&item, "balance"), 50);
        let back: Account = sauda_shared::dynamo::from_item(item).unwrap();
        assert_eq!(back, account);
    }
}
