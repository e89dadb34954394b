//! Reads: balance, history (cursor pagination), client lookup, partner statistics.

use crate::domain;
use crate::error::LoyaltyError;
use crate::input::CustomerRef;
use crate::model::*;
use crate::store::{self, LoyaltyStore};
use sauda_shared::api::{cursor, ApiError};
use sauda_shared::dynamo::Reads;
use sauda_shared::partner::Partner;
use sauda_shared::tenant::TenantConfig;
use sauda_shared::{keys, TenantId};
use serde::Serialize;
use serde_json::{json, Value};

pub const HISTORY_DEFAULT_LIMIT: u32 = 20;
pub const HISTORY_MAX_LIMIT: u32 = 100;

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

pub fn entry_view(entry: &LedgerEntry) -> Value {
    json!({
        "entry_id": entry.entry_id,
        "kind": entry.kind.as_str(),
        "points": entry.points,
        "balance_after": entry.balance_after,
        "reason": entry.reason,
        "partner_id": entry.partner_id,
        "purchase_ref": entry.purchase_ref,
        "amount_minor": entry.amount_minor,
        "currency": entry.currency,
        "expires_on": entry.expires_on,
        "at": rfc3339(entry.at_ms),
    })
}

/// Resolves a customer and reads their account: one BatchGetItem (plus one more only
/// when a phone belongs to a non-WhatsApp contact). `extra` rides along in the batch.
pub async fn account_of(
    store: &dyn LoyaltyStore,
    tenant: &TenantId,
    customer: &CustomerRef,
    extra: &[Key],
) -> Result<(String, Account, Reads), LoyaltyError> {
    let mut wanted = vec![account_key(tenant, &customer.candidate())];
    wanted.extend(customer.identity_key(tenant));
    wanted.extend_from_slice(extra);
    let mut reads = store.read(&wanted).await?;
    let contact = customer.resolve(tenant, &reads)?;
    let key = account_key(tenant, &contact);
    store
        .read_more(&mut reads, std::slice::from_ref(&key))
        .await?;
    let account = reads.get(&key)?.ok_or(LoyaltyError::UnknownCustomer)?;
    Ok((contact, account, reads))
}

pub fn balance_view(config: &TenantConfig, account: &Account) -> Value {
    let expiring: Vec<Value> = match config.loyalty.expiry_days {
        Some(days) => account
            .ledger()
            .expiring(days)
            .into_iter()
            .take(5)
            .map(|(on, points)| json!({"on": on, "points": points}))
            .collect(),
        None => Vec::new(),
    };
    json!({
        "contact_id": account.contact,
        "balance": account.balance,
        "currency": config.loyalty.currency,
        "expiring": expiring,
        "member_since": rfc3339(account.created_ms),
        "purchases": account.purchases,
        "referral_code": account.referral_code,
        "referrals_joined": account.referrals_joined,
        "last_activity": account.last_active_ms.map(rfc3339),
    })
}

/// The listing a history cursor belongs to: one member's ledger. Cursors are signed
/// over the tenant and this route, so one from another customer or tenant is refused.
pub fn history_route(contact: &str) -> String {
    format!("loyalty.history:{contact}")
}

/// The ledger position in a history cursor, or 400 `invalid_cursor`.
pub fn history_position(
    tenant: &TenantId,
    contact: &str,
    raw: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let position: Option<String> = cursor::decode_opt(tenant, &history_route(contact), raw)?;
    match position {
        Some(sk) if !is_ledger_sk(&sk) => Err(cursor::invalid()),
        other => Ok(other),
    }
}

fn is_ledger_sk(sk: &str) -> bool {
    sk.strip_prefix(keys::LEDGER_SK_PREFIX)
        .is_some_and(|id| ulid::Ulid::from_string(id).is_ok())
}

/// One page of a member's ledger, newest first.
pub async fn history(
    store: &dyn LoyaltyStore,
    tenant: &TenantId,
    contact: &str,
    limit: u32,
    after_sk: Option<&str>,
) -> Result<Value, LoyaltyError> {
    let page = store
        .ledger_page(tenant, contact, limit.clamp(1, HISTORY_MAX_LIMIT), after_sk)
        .await?;
    let next = page
        .last_sk
        .filter(|sk| is_ledger_sk(sk))
        .map(|sk| cursor::encode(tenant, &history_route(contact), &sk));
    Ok(json!({
        "contact_id": contact,
        "entries": page.entries.iter().map(entry_view).collect::<Vec<_>>(),
        "next_cursor": next,
    }))
}

pub fn client_view(client: Option<&PartnerClient>) -> Value {
    match client {
        Some(c) => json!({
            "purchases": c.purchases,
            "turnover_minor": c.turnover_minor,
            "points_accrued": c.accrued,
            "points_redeemed": c.redeemed,
            "first_visit": rfc3339(c.first_ms),
            "last_visit": rfc3339(c.last_ms),
        }),
        None => {
            json!({"purchases": 0, "turnover_minor": 0, "points_accrued": 0, "points_redeemed": 0})
        }
    }
}

pub fn partner_view(partner: &Partner) -> Value {
    json!({
        "partner_id": partner.partner_id,
        "name": partner.name,
        "kind": partner.kind,
        "status": crate::ops::status_str(partner.status),
        "cashback_bp": partner.cashback_bp,
        "telegram_chat_id": partner.telegram_chat_id,
        "services": partner.services.iter().map(|svc| json!({
            "service_id": svc.service_id,
            "name": svc.name,
            "status": crate::ops::status_str(svc.status),
        })).collect::<Vec<_>>(),
        "created": rfc3339(partner.created_ms),
        "updated": rfc3339(partner.updated_ms),
    })
}

pub fn stats_view(config: &TenantConfig, partner_id: &str, stats: &PartnerStats) -> Value {
    let passives = stats
        .nps_count
        .saturating_sub(stats.nps_promoters)
        .saturating_sub(stats.nps_detractors);
    let average = (stats.nps_count > 0)
        .then(|| ((stats.nps_sum as f64 / stats.nps_count as f64) * 100.0).round() / 100.0);
    json!({
        "partner_id": partner_id,
        "currency": config.loyalty.currency,
        "turnover_minor": stats.turnover_minor,
        "purchases": stats.purchases,
        "points_accrued": stats.accrued,
        "points_redeemed": stats.redeemed,
        "clients": stats.clients,
        "nps": {
            "responses": stats.nps_count,
            "score": domain::nps_score(stats.nps_count, stats.nps_promoters, stats.nps_detractors),
            "average": average,
            "promoters": stats.nps_promoters,
            "passives": passives,
            "detractors": stats.nps_detractors,
        },
    })
}

/// A partner's all-time statistics: one read of its aggregate item.
pub async fn partner_stats(
    store: &dyn LoyaltyStore,
    tenant: &TenantId,
    partner_id: &str,
) -> Result<PartnerStats, LoyaltyError> {
    Ok(
        store::get::<PartnerStats>(store, &partner_stats_key(tenant, partner_id))
            .await?
            .unwrap_or_default(),
    )
}

/// Sum of a member's ledger entries and their number: the audit that the ledger and
/// the balance agree. Summed in i128, so no ledger can overflow it.
pub async fn ledger_sum(
    store: &dyn LoyaltyStore,
    tenant: &TenantId,
    contact: &str,
) -> Result<(i128, usize), LoyaltyError> {
    let points = store.ledger_points(tenant, contact).await?;
    Ok((points.iter().copied().map(i128::from).sum(), points.len()))
}

/// One account that fails the ledger's invariants.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditFinding {
    pub contact: String,
    pub balance: i64,
    pub ledger_sum: i128,
    pub problem: String,
}

/// Checks every account of a tenant: balance ≥ 0, balance = Σ ledger entries, and the
/// FIFO bookkeeping consistent. A Scan of the table: an operator's tool, not a hot path.
pub async fn audit(
    store: &dyn LoyaltyStore,
    tenant: &TenantId,
) -> Result<(usize, Vec<AuditFinding>), LoyaltyError> {
    let accounts = store.accounts(tenant).await?;
    let mut findings = Vec::new();
    for account in &accounts {
        let (sum, _) = ledger_sum(store, tenant, &account.contact).await?;
        let mut problems = Vec::new();
        if sum != i128::from(account.balance) {
            problems.push("balance differs from the sum of its ledger entries");
        }
        if !account.ledger().is_consistent() {
            problems.push("credit/debit bookkeeping is inconsistent");
        }
        if !problems.is_empty() {
            findings.push(AuditFinding {
                contact: account.contact.clone(),
                balance: account.balance,
                ledger_sum: sum,
                problem: problems.join("; "),
            });
        }
    }
    Ok((accounts.len(), findings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_bound_to_their_customer_and_tenant() {
        let t = TenantId::parse("acme").unwrap();
        let other = TenantId::parse("other").unwrap();
        let sk = keys::ledger_sk(&ulid::Ulid::new().to_string());
        let c = cursor::encode(&t, &history_route("tg-1"), &sk);
        assert_eq!(
            history_position(&t, "tg-1", Some(&c)).unwrap(),
            Some(sk.clone())
        );
        for (tenant, contact, raw) in [
            (&t, "tg-2", c.as_str()),
            (&other, "tg-1", c.as_str()),
            (&t, "tg-1", "garbage!"),
        ] {
            let e = history_position(tenant, contact, Some(raw)).unwrap_err();
            assert_eq!(e.code, "invalid_cursor");
        }
        // Even a signed position must be a ledger entry of the member.
        let odd = cursor::encode(&t, &history_route("tg-1"), &"PROFILE");
        assert_eq!(
            history_position(&t, "tg-1", Some(&odd)).unwrap_err().code,
            "invalid_cursor"
        );
        assert_eq!(history_position(&t, "tg-1", None).unwrap(), None);
    }
}
