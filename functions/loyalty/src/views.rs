//! Reads: balance, history (cursor pagination), client lookup, partner statistics.

use crate::domain;
use crate::error::LoyaltyError;
use crate::input::CustomerRef;
use crate::model::*;
use crate::store::{from_item, s, Reads, Store};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_types::error::display::DisplayErrorContext;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sauda_shared::partner::Partner;
use sauda_shared::tenant::TenantConfig;
use sauda_shared::{keys, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;

pub const HISTORY_DEFAULT_LIMIT: i32 = 20;
pub const HISTORY_MAX_LIMIT: i32 = 100;

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
    store: &Store,
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

/// Where a history page starts. Bound to its tenant and customer: a cursor from
/// another customer's (or tenant's) history is refused, not silently reinterpreted.
#[derive(Serialize, Deserialize)]
struct Cursor {
    t: String,
    c: String,
    k: String,
}

pub fn encode_cursor(tenant: &TenantId, contact: &str, sk: &str) -> String {
    let raw = serde_json::to_vec(&Cursor {
        t: tenant.to_string(),
        c: contact.to_owned(),
        k: sk.to_owned(),
    })
    .unwrap_or_default();
    URL_SAFE_NO_PAD.encode(raw)
}

pub fn decode_cursor(raw: &str, tenant: &TenantId, contact: &str) -> Result<String, LoyaltyError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(raw.trim())
        .map_err(|_| LoyaltyError::InvalidCursor)?;
    let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| LoyaltyError::InvalidCursor)?;
    let sk_ok = cursor
        .k
        .strip_prefix(keys::LEDGER_SK_PREFIX)
        .is_some_and(|id| ulid::Ulid::from_string(id).is_ok());
    if cursor.t != tenant.as_str() || cursor.c != contact || !sk_ok {
        return Err(LoyaltyError::InvalidCursor);
    }
    Ok(cursor.k)
}

/// One page of a member's ledger, newest first.
pub async fn history(
    store: &Store,
    tenant: &TenantId,
    contact: &str,
    limit: i32,
    cursor: Option<&str>,
) -> Result<Value, LoyaltyError> {
    let pk = keys::contact_pk(tenant, contact);
    let start = match cursor {
        Some(raw) => {
            let sk = decode_cursor(raw, tenant, contact)?;
            Some(HashMap::from([
                ("PK".to_owned(), s(pk.clone())),
                ("SK".to_owned(), s(sk)),
            ]))
        }
        None => None,
    };
    let out = store
        .client
        .query()
        .table_name(&store.table)
        .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
        .expression_attribute_values(":pk", s(pk))
        .expression_attribute_values(":prefix", s(keys::LEDGER_SK_PREFIX))
        .scan_index_forward(false)
        .limit(limit.clamp(1, HISTORY_MAX_LIMIT))
        .set_exclusive_start_key(start)
        .send()
        .await
        .map_err(|e| LoyaltyError::Store(format!("history: {}", DisplayErrorContext(&e))))?;
    let entries: Vec<LedgerEntry> = out
        .items
        .unwrap_or_default()
        .into_iter()
        .map(from_item)
        .collect::<Result<_, _>>()?;
    let next = out
        .last_evaluated_key
        .and_then(|k| k.get("SK").and_then(|v| v.as_s().ok()).cloned())
        .map(|sk| encode_cursor(tenant, contact, &sk));
    Ok(json!({
        "contact_id": contact,
        "entries": entries.iter().map(entry_view).collect::<Vec<_>>(),
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
    let passives = stats.nps_count - stats.nps_promoters - stats.nps_detractors;
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
    store: &Store,
    tenant: &TenantId,
    partner_id: &str,
) -> Result<PartnerStats, LoyaltyError> {
    Ok(store
        .get::<PartnerStats>(&partner_stats_key(tenant, partner_id))
        .await?
        .unwrap_or_default())
}

/// Sum of a member's ledger entries (a full Query): the audit that the ledger and the
/// balance agree.
pub async fn ledger_sum(
    store: &Store,
    tenant: &TenantId,
    contact: &str,
) -> Result<(i64, usize), LoyaltyError> {
    let mut start = None;
    let (mut sum, mut count) = (0, 0);
    loop {
        let out = store
            .client
            .query()
            .table_name(&store.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(keys::contact_pk(tenant, contact)))
            .expression_attribute_values(":prefix", s(keys::LEDGER_SK_PREFIX))
            .projection_expression("points")
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| LoyaltyError::Store(format!("ledger: {}", DisplayErrorContext(&e))))?;
        for item in out.items() {
            sum += item
                .get("points")
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0);
            count += 1;
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok((sum, count));
        }
    }
}

/// One account that fails the ledger's invariants.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditFinding {
    pub contact: String,
    pub balance: i64,
    pub ledger_sum: i64,
    pub problem: String,
}

/// Checks every account of a tenant: balance ≥ 0, balance = Σ ledger entries, and the
/// FIFO bookkeeping consistent. A Scan of the table: an operator's tool, not a hot path.
pub async fn audit(
    store: &Store,
    tenant: &TenantId,
) -> Result<(usize, Vec<AuditFinding>), LoyaltyError> {
    let mut start = None;
    let mut accounts = Vec::new();
    loop {
        let out = store
            .client
            .scan()
            .table_name(&store.table)
            .filter_expression("begins_with(PK, :p) AND SK = :sk")
            .expression_attribute_values(":p", s(format!("{}C#", keys::tenant_prefix(tenant))))
            .expression_attribute_values(":sk", AttributeValue::S(keys::LOYALTY_SK.to_owned()))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| LoyaltyError::Store(format!("audit scan: {}", DisplayErrorContext(&e))))?;
        for item in out.items.unwrap_or_default() {
            accounts.push(from_item::<Account>(item)?);
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    let mut findings = Vec::new();
    for account in &accounts {
        let (sum, _) = ledger_sum(store, tenant, &account.contact).await?;
        let mut problems = Vec::new();
        if sum != account.balance {
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
    fn cursors_are_bound_to_their_customer() {
        let t = TenantId::parse("acme").unwrap();
        let other = TenantId::parse("other").unwrap();
        let sk = keys::ledger_sk(&ulid::Ulid::new().to_string());
        let cursor = encode_cursor(&t, "tg-1", &sk);
        assert_eq!(decode_cursor(&cursor, &t, "tg-1").unwrap(), sk);
        assert_eq!(
            decode_cursor(&cursor, &t, "tg-2"),
            Err(LoyaltyError::InvalidCursor)
        );
        assert_eq!(
            decode_cursor(&cursor, &other, "tg-1"),
            Err(LoyaltyError::InvalidCursor)
        );
        assert_eq!(
            decode_cursor("garbage!", &t, "tg-1"),
            Err(LoyaltyError::InvalidCursor)
        );
        let forged = encode_cursor(&t, "tg-1", "PROFILE");
        assert_eq!(
            decode_cursor(&forged, &t, "tg-1"),
            Err(LoyaltyError::InvalidCursor)
        );
    }
}
