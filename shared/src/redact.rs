//! What logs may say about people: a keyed digest of a contact id or address, never
//! the phone number, email or IP itself. The same contact gives the same digest in
//! every function, so one customer's path can still be followed through the logs
//! (`sauda log-id` computes it for an operator).

use crate::signing;
use crate::tenant::TenantId;
use std::fmt;

/// Displays as `c_` and 16 hex digits of HMAC(deployment key, tenant, contact).
pub struct Contact<'a>(pub &'a TenantId, pub &'a str);

impl fmt::Display for Contact<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digest = signing::mac(
            "log-contact",
            &[self.0.as_str().as_bytes(), self.1.as_bytes()],
        );
        write!(f, "c_{}", hex::encode(&digest[..8]))
    }
}

/// Displays as `ip_` and 16 hex digits; the rate-limit scope of a client, unreadable.
pub struct Address<'a>(pub &'a TenantId, pub &'a str);

impl fmt::Display for Address<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digest = signing::mac(
            "log-address",
            &[self.0.as_str().as_bytes(), self.1.as_bytes()],
        );
        write!(f, "ip_{}", hex::encode(&digest[..8]))
    }
}

pub fn contact(tenant: &TenantId, contact: &str) -> String {
    Contact(tenant, contact).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_hide_the_number_and_stay_stable() {
        let t = TenantId::parse("acme").unwrap();
        let shown = contact(&t, "wa-77011234567");
        assert!(!shown.contains("7701"), "{shown}");
        assert_eq!(shown, contact(&t, "wa-77011234567"));
        assert_ne!(
            shown,
            contact(&TenantId::parse("other").unwrap(), "wa-77011234567")
        );
        assert_eq!(shown.len(), 2 + 16);
    }
}
