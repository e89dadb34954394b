//! Request validation: customers, amounts, points, references and keys. Everything
//! here runs before the first read, so bad input costs no AWS call and applies nothing.

use crate::domain::{MAX_AMOUNT_MINOR, MAX_POINTS};
use crate::error::LoyaltyError;
use crate::model::{phone_identity_key, Key, PhoneIdentity};
use sauda_shared::dynamo::Reads;
use sauda_shared::phone::{self, PhoneError};
use sauda_shared::TenantId;
use serde::Serialize;
use serde_json::Number;

/// How a request names a customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerRef {
    /// A contact id: `tg-123`, `wa-77011234567`, ...
    Contact(String),
    /// An E.164 phone number.
    Phone(String),
}

impl CustomerRef {
    /// From `contact_id` or `phone` (exactly one), the phone read in `default_region`.
    pub fn parse(
        contact_id: Option<&str>,
        phone: Option<&str>,
        default_region: &str,
    ) -> Result<Self, LoyaltyError> {
        match (contact_id, phone) {
            (Some(_), Some(_)) => Err(LoyaltyError::field(
                "ambiguous_customer",
                "give either contact_id or phone, not both",
            )),
            (Some(contact), None) => Ok(Self::Contact(contact_id_valid(contact)?)),
            (None, Some(raw)) => Ok(Self::Phone(normalise_phone(raw, default_region)?)),
            (None, None) => Err(LoyaltyError::field(
                "customer_required",
                "contact_id or phone is required",
            )),
        }
    }

    /// The contact this reference most likely names: the contact itself, or for a phone
    /// its WhatsApp contact (`wa-{digits}`), so the common case needs no second read.
    pub fn candidate(&self) -> String {
        match self {
            Self::Contact(c) => c.clone(),
            Self::Phone(p) => phone::whatsapp_contact(p),
        }
    }

    pub fn identity_key(&self, tenant: &TenantId) -> Option<Key> {
        match self {
            Self::Contact(_) => None,
            Self::Phone(p) => Some(phone_identity_key(tenant, p)),
        }
    }

    /// The contact named, once the identity item (if any) was read.
    pub fn resolve(&self, tenant: &TenantId, reads: &Reads) -> Result<String, LoyaltyError> {
        let Some(key) = self.identity_key(tenant) else {
            return Ok(self.candidate());
        };
        Ok(reads
            .get::<PhoneIdentity>(&key)?
            .map(|identity| identity.contact)
            .filter(|contact| !contact.is_empty())
            .unwrap_or_else(|| self.candidate()))
    }
}

pub fn normalise_phone(raw: &str, default_region: &str) -> Result<String, LoyaltyError> {
    phone::normalise(raw, default_region).map_err(|e| match e {
        PhoneError::UnknownRegion(region) => LoyaltyError::Internal(format!(
            "tenant setting leads.default_region {region:?} is not a region"
        )),
        other => LoyaltyError::field("invalid_phone", format!("phone: {other}")),
    })
}

/// `{channel}-{id}`: 2-10 lowercase letters, a dash, then 1-100 of `[A-Za-z0-9._@+-]`.
pub fn contact_id_valid(raw: &str) -> Result<String, LoyaltyError> {
    let invalid = || {
        LoyaltyError::field(
            "invalid_contact_id",
            "contact_id must look like tg-123456 or wa-77011234567",
        )
    };
    let (channel, id) = raw.split_once('-').ok_or_else(invalid)?;
    let channel_ok =
        (2..=10).contains(&channel.len()) && channel.bytes().all(|b| b.is_ascii_lowercase());
    let id_ok = (1..=100).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'+' | b'-'));
    if channel_ok && id_ok {
        Ok(raw.to_owned())
    } else {
        Err(invalid())
    }
}

fn token_valid(raw: &str, max: usize) -> bool {
    (1..=max).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'/' | b'-'))
}

/// A purchase reference (receipt or order number): 1-64 of `[A-Za-z0-9._:/-]`.
pub fn purchase_ref_valid(raw: &str) -> Result<String, LoyaltyError> {
    let trimmed = raw.trim();
    if token_valid(trimmed, 64) {
        Ok(trimmed.to_owned())
    } else {
        Err(LoyaltyError::field(
            "invalid_purchase_ref",
            "purchase_ref must be 1-64 characters of A-Z a-z 0-9 . _ : / -",
        ))
    }
}

/// Classifies a JSON number as a positive integer within `max`.
fn positive_int(
    v: &Number,
    not_positive: LoyaltyError,
    out_of_range: LoyaltyError,
    not_integer: &'static str,
    max: i64,
) -> Result<i64, LoyaltyError> {
    if let Some(i) = v.as_i64() {
        return match i {
            i if i <= 0 => Err(not_positive),
            i if i > max => Err(out_of_range),
            i => Ok(i),
        };
    }
    if v.as_u64().is_some() {
        return Err(out_of_range);
    }
    match v.as_f64() {
        Some(f) if f <= 0.0 => Err(not_positive),
        Some(f) if f.fract() == 0.0 && f > max as f64 => Err(out_of_range),
        _ => Err(LoyaltyError::field(
            not_integer,
            "must be a whole number (minor units / points)",
        )),
    }
}

pub fn amount_valid(v: &Number) -> Result<i64, LoyaltyError> {
    positive_int(
        v,
        LoyaltyError::AmountNotPositive,
        LoyaltyError::AmountOutOfRange {
            max: MAX_AMOUNT_MINOR,
        },
        "amount_not_integer",
        MAX_AMOUNT_MINOR,
    )
}

pub fn points_valid(v: &Number) -> Result<i64, LoyaltyError> {
    positive_int(
        v,
        LoyaltyError::PointsNotPositive,
        LoyaltyError::PointsOutOfRange { max: MAX_POINTS },
        "points_not_integer",
        MAX_POINTS,
    )
}

pub fn adjustment_zero() -> LoyaltyError {
    LoyaltyError::field("points_zero", "an adjustment must not be zero")
}

/// A signed, non-zero adjustment within ±`MAX_POINTS`. A range check, not `abs()`:
/// `i64::MIN` has no absolute value in an `i64`.
pub fn adjustment_valid(v: &Number) -> Result<i64, LoyaltyError> {
    match v.as_i64() {
        Some(0) => Err(adjustment_zero()),
        Some(i) if (-MAX_POINTS..=MAX_POINTS).contains(&i) => Ok(i),
        Some(_) => Err(LoyaltyError::PointsOutOfRange { max: MAX_POINTS }),
        None if v.as_f64().is_some_and(|f| f.fract() == 0.0) => {
            Err(LoyaltyError::PointsOutOfRange { max: MAX_POINTS })
        }
        None => Err(LoyaltyError::field(
            "points_not_integer",
            "points must be a whole number",
        )),
    }
}

/// ISO 4217 code; must be the tenant's currency.
pub fn currency_valid(raw: &str, expected: &str) -> Result<String, LoyaltyError> {
    let code = raw.trim().to_ascii_uppercase();
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(LoyaltyError::field(
            "invalid_currency",
            "currency must be a three-letter ISO 4217 code",
        ));
    }
    if !code.eq_ignore_ascii_case(expected) {
        return Err(LoyaltyError::CurrencyMismatch {
            expected: expected.to_ascii_uppercase(),
        });
    }
    Ok(code)
}

/// Free text stored on ledger entries: trimmed, 1-`max` characters, no control characters.
pub fn text_valid(raw: &str, max: usize, code: &'static str) -> Result<String, LoyaltyError> {
    let text = raw.trim();
    let ok = !text.is_empty() && text.chars().count() <= max && !text.chars().any(char::is_control);
    if ok {
        Ok(text.to_owned())
    } else {
        Err(LoyaltyError::field(
            code,
            format!("must be 1-{max} characters without control characters"),
        ))
    }
}

/// Referral codes use an alphabet without look-alikes (no 0/O, 1/I).
pub const REFERRAL_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
pub const REFERRAL_CODE_LEN: usize = 8;

pub fn referral_code_valid(raw: &str) -> Result<String, LoyaltyError> {
    let code: String = raw.trim().to_ascii_uppercase();
    let ok = (4..=16).contains(&code.len()) && code.bytes().all(|b| REFERRAL_ALPHABET.contains(&b));
    if ok {
        Ok(code)
    } else {
        Err(LoyaltyError::field(
            "invalid_referral_code",
            "referral_code is not a referral code",
        ))
    }
}

pub fn new_referral_code() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..REFERRAL_CODE_LEN)
        .map(|_| REFERRAL_ALPHABET[rng.random_range(0..REFERRAL_ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(raw: &str) -> Number {
        serde_json::from_str(raw).unwrap()
    }

    #[test]
    fn customers_by_contact_or_phone() {
        assert_eq!(
            CustomerRef::parse(Some("tg-42"), None, "KZ").unwrap(),
            CustomerRef::Contact("tg-42".into())
        );
        let by_phone = CustomerRef::parse(None, Some("8 701 123 45 67"), "KZ").unwrap();
        assert_eq!(by_phone, CustomerRef::Phone("+77011234567".into()));
        assert_eq!(by_phone.candidate(), "wa-77011234567");
        for (contact, phone, code) in [
            (Some("tg-1"), Some("+77011234567"), "ambiguous_customer"),
            (None, None, "customer_required"),
            (Some("TG-1"), None, "invalid_contact_id"),
            (Some("tg-1#x"), None, "invalid_contact_id"),
            (Some("tg"), None, "invalid_contact_id"),
            (None, Some("hello"), "invalid_phone"),
        ] {
            let err = CustomerRef::parse(contact, phone, "KZ").unwrap_err();
            assert_eq!(err.code(), code, "{contact:?} {phone:?}");
        }
    }

    #[test]
    fn amounts_and_points() {
        assert_eq!(amount_valid(&num("100")), Ok(100));
        assert_eq!(
            amount_valid(&num("0")),
            Err(LoyaltyError::AmountNotPositive)
        );
        assert_eq!(
            amount_valid(&num("-5")),
            Err(LoyaltyError::AmountNotPositive)
        );
        assert_eq!(
            amount_valid(&num("-5.5")),
            Err(LoyaltyError::AmountNotPositive)
        );
        assert!(matches!(
            amount_valid(&num("1000000000001")),
            Err(LoyaltyError::AmountOutOfRange { .. })
        ));
        assert!(matches!(
            amount_valid(&num("18446744073709551615")),
            Err(LoyaltyError::AmountOutOfRange { .. })
        ));
        assert!(matches!(
            amount_valid(&num("1e30")),
            Err(LoyaltyError::AmountOutOfRange { .. })
        ));
        assert_eq!(
            amount_valid(&num("12.5")).unwrap_err().code(),
            "amount_not_integer"
        );
        assert_eq!(
            points_valid(&num("0")),
            Err(LoyaltyError::PointsNotPositive)
        );
        assert_eq!(adjustment_valid(&num("-30")), Ok(-30));
        assert!(adjustment_valid(&num("0")).is_err());
    }

    #[test]
    fn references_keys_currencies_codes() {
        assert_eq!(purchase_ref_valid(" R-1/2 ").unwrap(), "R-1/2");
        assert!(purchase_ref_valid("a#b").is_err());
        assert!(purchase_ref_valid("").is_err());
        assert_eq!(currency_valid("kzt", "KZT").unwrap(), "KZT");
        assert!(matches!(
            currency_valid("USD", "KZT"),
            Err(LoyaltyError::CurrencyMismatch { .. })
        ));
        assert!(currency_valid("US", "KZT").is_err());
        let code = new_referral_code();
        assert_eq!(referral_code_valid(&code.to_lowercase()).unwrap(), code);
        assert!(referral_code_valid("O0O0").is_err());
        assert!(text_valid("  ok ", 10, "x").is_ok());
        assert!(text_valid("bad\u{7}", 10, "x").is_err());
    }

    #[test]
    fn adjustments_at_the_extremes() {
        let out = Err(LoyaltyError::PointsOutOfRange { max: MAX_POINTS });
        // i64::MIN once passed `abs() <= MAX_POINTS` (it wraps to itself in release).
        for (raw, expected) in [
            (i64::MIN.to_string(), out.clone()),
            ((i64::MIN + 1).to_string(), out.clone()),
            (i64::MAX.to_string(), out.clone()),
            ((-MAX_POINTS - 1).to_string(), out.clone()),
            ((MAX_POINTS + 1).to_string(), out.clone()),
            ((-MAX_POINTS).to_string(), Ok(-MAX_POINTS)),
            (MAX_POINTS.to_string(), Ok(MAX_POINTS)),
            ("-1".to_owned(), Ok(-1)),
            ("1".to_owned(), Ok(1)),
            ("18446744073709551615".to_owned(), out.clone()),
            ("-1e300".to_owned(), out.clone()),
        ] {
            assert_eq!(adjustment_valid(&num(&raw)), expected, "{raw}");
        }
        assert_eq!(
            adjustment_valid(&num("0")).unwrap_err().code(),
            "points_zero"
        );
        assert_eq!(
            adjustment_valid(&num("-0.5")).unwrap_err().code(),
            "points_not_integer"
        );
    }

    #[test]
    fn amounts_and_points_at_the_extremes() {
        for raw in [i64::MIN.to_string(), "-1".into(), "0".into()] {
            assert_eq!(
                amount_valid(&num(&raw)),
                Err(LoyaltyError::AmountNotPositive)
            );
            assert_eq!(
                points_valid(&num(&raw)),
                Err(LoyaltyError::PointsNotPositive)
            );
        }
        for raw in [i64::MAX.to_string(), u64::MAX.to_string(), "1e19".into()] {
            assert_eq!(
                amount_valid(&num(&raw)).unwrap_err().code(),
                "amount_out_of_range"
            );
            assert_eq!(
                points_valid(&num(&raw)).unwrap_err().code(),
                "points_out_of_range"
            );
        }
        assert_eq!(amount_valid(&num("1")), Ok(1));
        assert_eq!(points_valid(&num(&MAX_POINTS.to_string())), Ok(MAX_POINTS));
    }
}
