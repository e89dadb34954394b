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

pub fn identity(t: &TenantId, kind: &str, value: &str) -> (String, String) {
    (format!("T#{t}#ID#{kind}#{value}"), "ID".to_owned())
}

pub fn idempotency(t: &TenantId, key: &str) -> (String, String) {
    (format!("T#{t}#IDEM#{key}"), "IDEM".to_owned())
}

pub fn daily_stats(t: &TenantId, day: &str, shard: u8) -> (String, String) {
    (format!("T#{t}#STATS#{day}"), format!("S#{shard}"))
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
}
