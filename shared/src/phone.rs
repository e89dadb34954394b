//! Phone numbers, read with libphonenumber's metadata (`phonenumber`) and stored in E.164,
//! so the same person is the same key whichever way they typed their number.

use phonenumber::country::Id;
use phonenumber::Mode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("default region {0:?} is not an ISO 3166 region code")]
    UnknownRegion(String),
    #[error("not a phone number")]
    Unparseable,
    #[error("not a valid number for its region")]
    Invalid,
}

/// Parses `raw` (with or without a country code; numbers without one are read in
/// `default_region`, e.g. `KZ`) and returns it in E.164 (`+77011234567`).
pub fn normalise(raw: &str, default_region: &str) -> Result<String, PhoneError> {
    let region: Id = default_region
        .to_ascii_uppercase()
        .parse()
        .map_err(|_| PhoneError::UnknownRegion(default_region.to_owned()))?;
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.len() > 40 {
        return Err(PhoneError::Unparseable);
    }
    let number = phonenumber::parse(Some(region), trimmed).map_err(|_| PhoneError::Unparseable)?;
    if phonenumber::is_valid(&number) {
        return Ok(number.format().mode(Mode::E164).to_string());
    }
    national_in_region(trimmed, region).ok_or(PhoneError::Invalid)
}

/// A number typed without a country code and without the national prefix, read in
/// `region`. `phonenumber` takes a leading digit that equals the region's calling code
/// for that code even when the rest is no number at all (libphonenumber itself only
/// strips it when the remainder is a valid national number): in Kazakhstan (`+7`)
/// `701 234 56 81` became `+7 012345681` and was refused. Only the region's own calling
/// code is ever added, and the result must be a valid number.
fn national_in_region(trimmed: &str, region: Id) -> Option<String> {
    let international = trimmed.starts_with('+') || trimmed.starts_with("00");
    if international {
        return None;
    }
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    let code = phonenumber::metadata::DATABASE
        .by_id(region.as_ref())?
        .country_code();
    let number = phonenumber::parse(Some(region), format!("+{code}{digits}")).ok()?;
    phonenumber::is_valid(&number).then(|| number.format().mode(Mode::E164).to_string())
}

/// The WhatsApp contact id of a number: WhatsApp's `wa_id` is the E.164 digits.
pub fn whatsapp_contact(e164: &str) -> String {
    format!("wa-{}", e164.trim_start_matches('+'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_and_international_forms_agree() {
        for raw in [
            "+7 701 123 45 67",
            "8 (701) 123-45-67",
            "87011234567",
            "+77011234567",
        ] {
            assert_eq!(normalise(raw, "KZ").as_deref(), Ok("+77011234567"), "{raw}");
        }
        assert_eq!(
            normalise("0555 123 456", "KG").as_deref(),
            Ok("+996555123456")
        );
        assert_eq!(
            normalise("+996 555 123 456", "KZ").as_deref(),
            Ok("+996555123456")
        );
    }

    #[test]
    fn local_numbers_are_read_in_the_region() {
        // Without a country code and without the trunk prefix `8`.
        for raw in ["701 234 56 81", "7012345681", "(701) 234-56-81"] {
            assert_eq!(normalise(raw, "KZ").as_deref(), Ok("+77012345681"), "{raw}");
        }
        assert_eq!(
            normalise("555 123 456", "KG").as_deref(),
            Ok("+996555123456")
        );
        // The region's code only: the same digits in Kyrgyzstan are no number.
        assert_eq!(normalise("701 234 56 81", "KG"), Err(PhoneError::Invalid));
        assert_eq!(normalise("701 234", "KZ"), Err(PhoneError::Invalid));
    }

    #[test]
    fn rejects_what_is_not_a_number() {
        assert_eq!(normalise("hello", "KZ"), Err(PhoneError::Unparseable));
        assert_eq!(normalise("", "KZ"), Err(PhoneError::Unparseable));
        assert_eq!(normalise("+7 701 12", "KZ"), Err(PhoneError::Invalid));
        assert!(matches!(
            normalise("87011234567", "XX"),
            Err(PhoneError::UnknownRegion(_))
        ));
    }

    #[test]
    fn whatsapp_ids_are_digits() {
        assert_eq!(whatsapp_contact("+77011234567"), "wa-77011234567");
    }
}
