//! The deployment's signing key, from the platform secret (`signing_key`), and the
//! keyed digests derived from it: opaque API cursors and the contact ids in logs.
//!
//! `init` runs once per cold start in `main`. Without a stored key (an old deployment,
//! or a test calling handlers directly) a random per-process key is used: cursors then
//! work within one instance and log digests stay unlinkable, which fails safe.

use crate::ports::SecretSource;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

static KEY: OnceLock<[u8; 32]> = OnceLock::new();

/// Installs the key from the platform secret. A second call changes nothing.
pub async fn init(secrets: &dyn SecretSource) {
    match secrets.platform_secrets().await {
        Ok(platform) => match platform.signing_key.as_ref() {
            Some(key) => {
                install(key.expose());
            }
            None => tracing::warn!(
                "platform secret has no signing_key: cursors and log digests use a per-instance key"
            ),
        },
        Err(error) => {
            tracing::warn!(%error, "platform secret unavailable: using a per-instance signing key")
        }
    }
}

/// Installs a key directly (tests, the operator CLI). A second call changes nothing;
/// the answer says whether `secret` is the key in effect.
pub fn install(secret: &str) -> bool {
    let wanted: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    let _ = KEY.set(wanted);
    KEY.get() == Some(&wanted)
}

fn key() -> &'static [u8; 32] {
    KEY.get_or_init(rand::random)
}

/// HMAC-SHA256 under the deployment key, separated by `label`; each part is length
/// prefixed, so `("ab","c")` and `("a","bc")` never collide.
pub fn mac(label: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key()).expect("HMAC takes any key length");
    m.update(label.as_bytes());
    m.update(&[0]);
    for part in parts {
        m.update(&(part.len() as u64).to_be_bytes());
        m.update(part);
    }
    m.finalize().into_bytes().into()
}

/// Checks `tag` against `mac(label, parts)` (its first `tag.len()` bytes) in constant time.
pub fn verify(label: &str, parts: &[&[u8]], tag: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    let full = mac(label, parts);
    !tag.is_empty() && tag.len() <= full.len() && bool::from(full[..tag.len()].ct_eq(tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_parts_separate_digests() {
        let a = mac("cursor", &[b"ab", b"c"]);
        assert_ne!(a, mac("cursor", &[b"a", b"bc"]));
        assert_ne!(a, mac("log", &[b"ab", b"c"]));
        assert!(verify("cursor", &[b"ab", b"c"], &a[..16]));
        assert!(!verify("cursor", &[b"ab", b"d"], &a[..16]));
        assert!(!verify("cursor", &[b"ab", b"c"], &[]));
    }
}
