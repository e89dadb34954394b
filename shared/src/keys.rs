//! Key builders for the single table (DESIGN.md §3).
//!
//! Every tenant partition key starts with `T#{tenant}#`; only the tenant registry
//! (`PLATFORM`) is outside a tenant. Keep all key formats here so they cannot drift.

use crate::message::Direction;
use crate::tenant::TenantId;

pub const PLATFORM_PK: &str = "PLATFORM";

/// Prefix shared by every key of one tenant; IAM `dynamodb:LeadingKeys` can pin it.
pub fn tenant_prefix(t: &TenantId) -> String {
    format!("T#{t}#")
}

pub fn tenant_config(t: &TenantId) -> (String, String) {
    (format!("T#{t}#CONFIG"), "CONFIG".to_owned())
}

pub fn tenant_registry(t: &TenantId) -> (String, String) {
    (PLATFORM_PK.to_owned(), format!("TENANT#{t}"))
}

pub fn contact_pk(t: &TenantId, contact: &str) -> String {
    format!("T#{t}#C#{contact}")
}

pub const CONTACT_PROFILE_SK: &str = "PROFILE";

/// Message sort key. Zero-padded milliseconds keep lexical order equal to time order.
pub fn message_sk(ts_ms: i64, direction: Direction, id: &str) -> String {
    format!("MSG#{ts_ms:013}#{}#{id}", direction.as_str())
}

pub const MESSAGE_SK_PREFIX: &str = "MSG#";

/// Pointer from a platform's outbound message id (e.g. a WhatsApp `wamid`) to the
/// stored message, so a delivery status finds its message with one GetItem.
pub fn outbound_pointer(t: &TenantId, platform_message_id: &str) -> (String, String) {
    (format!("T#{t}#OUT#{platform_message_id}"), "OUT".to_owned())
}

/// Identity lookup: a normalised phone or email (`kind` = `phone` | `email`) → contact.
pub fn identity(t: &TenantId, kind: &str, value: &str) -> (String, String) {
    (format!("T#{t}#ID#{kind}#{value}"), "ID".to_owned())
}

pub fn idempotency(t: &TenantId, key: &str) -> (String, String) {
    (format!("T#{t}#IDEM#{key}"), "IDEM".to_owned())
}

pub fn daily_stats(t: &TenantId, day: &str, shard: u8) -> (String, String) {
    (format!("T#{t}#STATS#{day}"), format!("S#{shard}"))
}

// Sort keys inside a contact partition (`T#{t}#C#{cid}`). `PROFILE` must stay the only
// sort key greater than `MSG#`: the agent reads the profile and the newest messages
// with one descending Query (`SK >= "MSG#"`). New contact items need keys below `MSG#`.
pub const LEAD_SK: &str = "LEAD";
/// The conversation's row in the managers' inbox (`crate::inbox`).
pub const CONVERSATION_SK: &str = "CONV";
pub const LEAD_HISTORY_SK_PREFIX: &str = "LEADHIST#";
pub const LOYALTY_SK: &str = "LOYALTY";
pub const LEDGER_SK_PREFIX: &str = "LTX#";

pub fn lead_history_sk(ts_ms: i64, id: &str) -> String {
    format!("{LEAD_HISTORY_SK_PREFIX}{ts_ms:013}#{id}")
}

pub fn ledger_sk(entry_id: &str) -> String {
    format!("{LEDGER_SK_PREFIX}{entry_id}")
}

/// GSI1 partition listing a tenant's leads in one funnel stage, newest first.
pub fn leads_by_stage_gsi(t: &TenantId, stage: &str) -> String {
    format!("T#{t}#LEADS#{stage}")
}

pub fn leads_by_stage_gsi_sk(updated_ms: i64, contact: &str) -> String {
    format!("{updated_ms:013}#{contact}")
}

/// GSI1 partition listing a tenant's conversations, most recent activity last.
pub fn conversations_gsi(t: &TenantId) -> String {
    format!("T#{t}#CONVS")
}

pub fn conversations_gsi_sk(activity_ms: i64, contact: &str) -> String {
    format!("{activity_ms:013}#{contact}")
}

/// A card (lead, handoff, forwarded message) a manager's Telegram chat got about a
/// conversation, by the chat and the card's Telegram message id: a reply to the card
/// finds its conversation with one GetItem.
pub fn manager_card(t: &TenantId, chat_id: i64, message_id: i64) -> (String, String) {
    (
        format!("T#{t}#CARD#{chat_id}#{message_id}"),
        "CARD".to_owned(),
    )
}

/// Marks a customer message (`crate::outbox`) as finished, so it goes out once per id.
pub fn customer_message(t: &TenantId, id: &str) -> (String, String) {
    (format!("T#{t}#CMSG#{id}"), "CMSG".to_owned())
}

pub fn referral_code(t: &TenantId, code: &str) -> (String, String) {
    (format!("T#{t}#REF#{code}"), "REF".to_owned())
}

pub fn partner(t: &TenantId, partner_id: &str) -> (String, String) {
    (format!("T#{t}#P#{partner_id}"), "PROFILE".to_owned())
}

/// A hashed API key (`crate::apikey`). One partition per tenant: listing is one Query,
/// checking a key is one GetItem.
pub fn api_key(t: &TenantId, key_id: &str) -> (String, String) {
    (format!("T#{t}#KEYS"), format!("KEY#{key_id}"))
}

/// A fixed rate-limit window (`crate::ratelimit`).
pub fn rate_limit(t: &TenantId, scope: &str, window_start_s: i64) -> (String, String) {
    (
        format!("T#{t}#RL#{scope}#{window_start_s}"),
        "RL".to_owned(),
    )
}

/// Marks one recipient of one notice as delivered (`crate::notify`).
pub fn notice_delivery(t: &TenantId, notice_id: &str, chat_id: i64) -> (String, String) {
    (format!("T#{t}#NOTICE#{notice_id}"), format!("TO#{chat_id}"))
}

/// AI usage of one calendar month (tenant zone), for the budget check.
pub fn ai_usage(t: &TenantId, month: &str) -> (String, String) {
    (format!("T#{t}#USAGE#{month}"), "USAGE".to_owned())
}

// ---- Orders (`functions/orders`) ----
// One partition per order: the order itself (`ORDER`), its history (`HIST#…`) and its
// append-only payment ledger (`PAY#…`), so the order with everything that happened to
// it is one Query, and a transition writes the order, a history item and a ledger item
// of the same partition in one transaction.

pub const ORDER_SK: &str = "ORDER";
pub const ORDER_HISTORY_SK_PREFIX: &str = "HIST#";
pub const ORDER_PAYMENT_SK_PREFIX: &str = "PAY#";

pub fn order(t: &TenantId, order_id: &str) -> (String, String) {
    (format!("T#{t}#O#{order_id}"), ORDER_SK.to_owned())
}

/// A history item: `seq` is the order's revision after the change, so it is unique.
pub fn order_history(t: &TenantId, order_id: &str, ts_ms: i64, seq: i64) -> (String, String) {
    (
        order(t, order_id).0,
        format!("{ORDER_HISTORY_SK_PREFIX}{ts_ms:013}#{seq:06}"),
    )
}

/// A payment-ledger item, unique on (provider, provider reference, event type).
pub fn order_payment(
    t: &TenantId,
    order_id: &str,
    provider: &str,
    reference: &str,
    event: &str,
) -> (String, String) {
    (
        order(t, order_id).0,
        format!("{ORDER_PAYMENT_SK_PREFIX}{provider}#{reference}#{event}"),
    )
}

/// GSI1 partition listing a tenant's orders in one status, newest change first.
pub fn orders_by_status_gsi(t: &TenantId, status: &str) -> String {
    format!("T#{t}#ORDERS#{status}")
}

pub fn orders_by_status_gsi_sk(updated_ms: i64, order_id: &str) -> String {
    format!("{updated_ms:013}#{order_id}")
}

/// "My orders": a pointer in the contact's partition. `BUY#` sorts below `MSG#` (see
/// the note on contact sort keys above); `ORDER#` would not.
pub const CONTACT_ORDER_SK_PREFIX: &str = "BUY#";

pub fn contact_order_sk(created_ms: i64, order_id: &str) -> String {
    format!("{CONTACT_ORDER_SK_PREFIX}{created_ms:013}#{order_id}")
}

/// Unpaid placed orders by expiry time: the hourly sweep reads `SK <= now`.
pub fn order_expiry_pk(t: &TenantId) -> String {
    format!("T#{t}#OEXP")
}

pub fn order_expiry(t: &TenantId, expires_at_ms: i64, order_id: &str) -> (String, String) {
    (
        order_expiry_pk(t),
        format!("{expires_at_ms:013}#{order_id}"),
    )
}

/// A provider's payment reference (Stripe payment intent, …) → its order, for events
/// that name only the payment (`charge.refunded`).
pub fn payment_reference(t: &TenantId, provider: &str, reference: &str) -> (String, String) {
    (
        format!("T#{t}#PAYREF#{provider}#{reference}"),
        "PAYREF".to_owned(),
    )
}

/// A provider's event already applied (Stripe `event.id`).
pub fn provider_event(t: &TenantId, provider: &str, event_id: &str) -> (String, String) {
    (format!("T#{t}#EVT#{provider}#{event_id}"), "EVT".to_owned())
}
// ---- end of orders ----

/// A generated report's record: idempotency per `(tenant, period)`.
pub fn report(t: &TenantId, period: &str) -> (String, String) {
    (format!("T#{t}#REPORT#{period}"), "REPORT".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tenant_key_is_prefixed() {
        let t = TenantId::parse("acme").unwrap();
        let prefix = tenant_prefix(&t);
        for pk in [
            tenant_config(&t).0,
            contact_pk(&t, "tg-1"),
            outbound_pointer(&t, "wamid.X").0,
            identity(&t, "phone", "+77011234567").0,
            idempotency(&t, "k").0,
            daily_stats(&t, "2026-11-24", 3).0,
            referral_code(&t, "ABC").0,
            partner(&t, "p1").0,
            api_key(&t, "k1").0,
            rate_limit(&t, "form#1.2.3.4", 0).0,
            notice_delivery(&t, "n1", 5).0,
            ai_usage(&t, "2026-11").0,
            report(&t, "2026-11").0,
            order(&t, "01jd").0,
            order_history(&t, "01jd", 1, 2).0,
            order_payment(&t, "01jd", "stripe", "pi_1", "paid").0,
            orders_by_status_gsi(&t, "placed"),
            order_expiry(&t, 5, "01jd").0,
            payment_reference(&t, "stripe", "pi_1").0,
            provider_event(&t, "stripe", "evt_1").0,
            leads_by_stage_gsi(&t, "new"),
            conversations_gsi(&t),
            manager_card(&t, -100, 7).0,
            customer_message(&t, "relay:1:2").0,
        ] {
            assert!(pk.starts_with(&prefix), "{pk}");
        }
    }

    #[test]
    fn message_keys_sort_by_time() {
        let early = message_sk(999, Direction::In, "b");
        let late = message_sk(1_000, Direction::Out, "a");
        assert_eq!(early, "MSG#0000000000999#in#b");
        assert!(early < late);
    }

    #[test]
    fn profile_is_the_only_contact_key_after_messages() {
        let newest_message = message_sk(9_999_999_999_999, Direction::Out, "zzzz");
        assert!(CONTACT_PROFILE_SK > newest_message.as_str());
        for below in [
            LEAD_SK.to_owned(),
            CONVERSATION_SK.to_owned(),
            lead_history_sk(1, "x"),
            LOYALTY_SK.to_owned(),
            ledger_sk("01J"),
            contact_order_sk(9_999_999_999_999, "zzzz"),
        ] {
            assert!(below.as_str() < MESSAGE_SK_PREFIX, "{below}");
        }
    }
}
