//! Webhook authenticity checks. Every comparison is constant-time.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("signature header is missing")]
    Missing,
    #[error("signature header is malformed")]
    Malformed,
    #[error("signature does not match")]
    Mismatch,
    #[error("signature timestamp is outside the allowed tolerance")]
    Expired,
}

/// Telegram's `X-Telegram-Bot-Api-Secret-Token` check.
///
/// Both sides are hashed first so the comparison time reveals neither content nor length.
pub fn verify_telegram_secret(
    expected: &str,
    presented: Option<&[u8]>,
) -> Result<(), SignatureError> {
    let presented = presented.ok_or(SignatureError::Missing)?;
    let a = Sha256::digest(expected.as_bytes());
    let b = Sha256::digest(presented);
    if bool::from(a.ct_eq(&b)) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The value of `X-Hub-Signature-256` for `body`: `sha256=<hex hmac>`.
pub fn whatsapp_signature(app_secret: &str, body: &[u8]) -> String {
    let mut mac =
        HmacSha256::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Meta's `X-Hub-Signature-256`: HMAC-SHA256 of the raw body keyed with the App Secret.
pub fn verify_whatsapp_signature(
    app_secret: &str,
    body: &[u8],
    header: Option<&[u8]>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_digest = header
        .strip_prefix(b"sha256=")
        .ok_or(SignatureError::Malformed)?;
    let digest = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed)?;
    let mut mac =
        HmacSha256::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&digest)
        .map_err(|_| SignatureError::Mismatch)
}

/// Stripe's `Stripe-Signature: t=…,v1=…[,v1=…]` over `"{t}.{body}"`; any `v1` may match.
pub fn verify_stripe_signature(
    secret: &str,
    body: &[u8],
    header: Option<&str>,
    now_s: i64,
    tolerance_s: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => timestamp = v.parse::<i64>().ok(),
            Some(("v1", v)) => {
                candidates.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?)
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let matched = candidates
        .iter()
        .any(|candidate| mac.clone().verify_slice(candidate).is_ok());
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    if (now_s - timestamp).abs() > tolerance_s {
        return Err(SignatureError::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telegram_secret_matches_only_exactly() {
        assert_eq!(
            verify_telegram_secret("abc_DEF-1", Some(b"abc_DEF-1")),
            Ok(())
        );
        assert_eq!(
            verify_telegram_secret("abc_DEF-1", Some(b"abc_DEF-")),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_telegram_secret("abc", None),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn whatsapp_signature_round_trip_and_tamper() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let sig = whatsapp_signature("app-secret", body);
        assert_eq!(
            verify_whatsapp_signature("app-secret", body, Some(sig.as_bytes())),
            Ok(())
        );
        assert_eq!(
            verify_whatsapp_signature("other", body, Some(sig.as_bytes())),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_whatsapp_signature("app-secret", b"{}", Some(sig.as_bytes())),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_whatsapp_signature("app-secret", body, Some(b"md5=00")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_whatsapp_signature("app-secret", body, Some(b"sha256=zz")),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn whatsapp_signature_known_vector() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), RFC 4231-style vector.
        let sig = whatsapp_signature("key", b"The quick brown fox jumps over the lazy dog");
        assert_eq!(
            sig,
            "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    fn stripe_header(secret: &str, t: i64, body: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn stripe_accepts_any_v1_and_rejects_stale() {
        let body = br#"{"id":"evt_1"}"#;
        let good = stripe_header("whsec", 1_000, body);
        let with_rotated = format!("t=1000,v1={},{}", "00".repeat(32), &good[7..]);
        assert_eq!(
            verify_stripe_signature("whsec", body, Some(&good), 1_100, 300),
            Ok(())
        );
        assert_eq!(
            verify_stripe_signature("whsec", body, Some(&with_rotated), 1_100, 300),
            Ok(())
        );
        assert_eq!(
            verify_stripe_signature("whsec", body, Some(&good), 1_400, 300),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify_stripe_signature("other", body, Some(&good), 1_100, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_stripe_signature("whsec", body, Some("v1=00"), 1_100, 300),
            Err(SignatureError::Malformed)
        );
    }
}
