//! Validation and normalisation of lead submissions. Pure: no AWS, no clock.
//!
//! Two entry points with different strictness:
//! - [`web_form`]: a stranger's input. Every problem is a [`FieldError`] with a stable
//!   code, and nothing is stored unless all fields pass.
//! - [`queued`]: the agent's `capture_lead` tool, the sweep and manual entry. The
//!   customer is already in a conversation, so a mistyped phone must not lose the lead:
//!   invalid fields are dropped, recorded in the lead's history, and over-long text is cut.

use email_address::EmailAddress;
use sauda_shared::lead::{LeadSource, LeadSubmission};
use sauda_shared::phone::{self, PhoneError};
use serde::Serialize;
use serde_json::{Map, Value};

pub const NAME_MAX: usize = 100;
pub const INTEREST_MAX: usize = 200;
pub const MESSAGE_MAX: usize = 2000;
pub const FORM_SOURCE_MAX: usize = 100;
pub const EMAIL_MAX: usize = 254;
pub const NOTE_MAX: usize = 2000;
pub const REASON_MAX: usize = 500;

/// The honeypot: a field hidden from people with CSS. Only bots fill it in.
pub const HONEYPOT_FIELD: &str = "website";

/// One field's problem. `code` is stable: clients may branch on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    fn new(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            code,
            message: message.into(),
        }
    }
}

/// A submission that passed validation: phone in E.164, email lower-cased, text trimmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidLead {
    pub source: LeadSource,
    pub idempotency_key: String,
    /// The conversation's contact (`tg-…`, `wa-…`) for chat leads.
    pub contact: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub interest: Option<String>,
    pub message: Option<String>,
    pub language: Option<String>,
    pub consent: bool,
    /// Free text from the form: which page or campaign it came from.
    pub form_source: Option<String>,
    pub submitted_at_ms: i64,
    /// Fields of a queued submission that were invalid and left out.
    pub dropped: Vec<FieldError>,
}

/// Contact ids are `{channel}-{id}`; they end up inside keys, so their alphabet is narrow.
pub fn valid_contact_id(raw: &str) -> bool {
    let Some((prefix, id)) = raw.split_once('-') else {
        return false;
    };
    (1..=8).contains(&prefix.len())
        && prefix.bytes().all(|b| b.is_ascii_lowercase())
        && (1..=100).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// `en`, `ru`, `kk`, `pt-BR`, ...: a short IETF tag.
pub fn valid_language(raw: &str) -> bool {
    let mut parts = raw.split('-');
    let primary = parts.next().unwrap_or_default();
    raw.len() <= 16
        && (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Lower-cases the address so `Aida@Mail.KZ` and `aida@mail.kz` are one identity.
/// (RFC 5321 lets the local part be case-sensitive; no mainstream provider makes it so,
/// and a duplicate lead costs the business more than that corner case.)
pub fn normalise_email(raw: &str) -> Result<String, FieldError> {
    let trimmed = raw.trim();
    if trimmed.len() > EMAIL_MAX {
        return Err(FieldError::new(
            "email",
            "too_long",
            format!("at most {EMAIL_MAX} characters"),
        ));
    }
    // Only a bare address: no display name (`Aida <a@b.kz>`) and no `mailto:`.
    let parsed: EmailAddress = trimmed.parse().map_err(|e| {
        FieldError::new(
            "email",
            "invalid_email",
            format!("not an email address: {e}"),
        )
    })?;
    if parsed.display_part() != "" || parsed.email() != trimmed || !parsed.domain().contains('.') {
        return Err(FieldError::new(
            "email",
            "invalid_email",
            "not a plain email address like name@example.com",
        ));
    }
    Ok(trimmed.to_lowercase())
}

pub fn normalise_phone(raw: &str, region: &str) -> Result<String, FieldError> {
    phone::normalise(raw, region).map_err(|e| match e {
        PhoneError::UnknownRegion(_) => FieldError::new(
            "phone",
            "invalid_phone",
            "the tenant's default region is misconfigured; write the number with its country code",
        ),
        PhoneError::Unparseable => FieldError::new("phone", "invalid_phone", "not a phone number"),
        PhoneError::Invalid => FieldError::new(
            "phone",
            "phone_not_valid",
            format!("not a valid number (numbers without a country code are read as {region})"),
        ),
    })
}

/// The phone number behind a WhatsApp contact: its `wa_id` is the E.164 digits.
pub fn phone_of_whatsapp_contact(contact: &str, region: &str) -> Option<String> {
    let digits = contact.strip_prefix("wa-")?;
    phone::normalise(&format!("+{digits}"), region).ok()
}

fn has_control(s: &str, allow_newlines: bool) -> bool {
    s.chars()
        .any(|c| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\r' | '\t')))
}

/// A text field: trimmed, empty means absent; too long or with control characters is an error.
fn text(
    field: &'static str,
    value: Option<&Value>,
    max: usize,
    multiline: bool,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let raw = match value {
        None | Some(Value::Null) => return None,
        Some(Value::String(s)) => s.trim(),
        Some(_) => {
            errors.push(FieldError::new(field, "invalid_type", "must be a string"));
            return None;
        }
    };
    if raw.is_empty() {
        return None;
    }
    if raw.chars().count() > max {
        errors.push(FieldError::new(
            field,
            "too_long",
            format!("at most {max} characters"),
        ));
        return None;
    }
    if has_control(raw, multiline) {
        errors.push(FieldError::new(
            field,
            "invalid_characters",
            "contains control characters",
        ));
        return None;
    }
    Some(raw.to_owned())
}

/// `true`, or what an HTML checkbox sends (`on`, `true`, `1`, `yes`).
fn truthy(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "on" | "true" | "1" | "yes"
        ),
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    }
}

/// True when a bot filled in the hidden field.
pub fn is_honeypot_filled(body: &Map<String, Value>) -> bool {
    match body.get(HONEYPOT_FIELD) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(_) => true,
    }
}

/// Validates a web-form body. All errors at once, one per field; `Ok` only when clean.
pub fn web_form(
    body: &Map<String, Value>,
    region: &str,
    idempotency_key: String,
    submitted_at_ms: i64,
) -> Result<ValidLead, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = text("name", body.get("name"), NAME_MAX, false, &mut errors);
    if name.is_none() && !errors.iter().any(|e| e.field == "name") {
        errors.push(FieldError::new("name", "required", "your name is required"));
    }
    let phone = text("phone", body.get("phone"), 40, false, &mut errors).and_then(|raw| {
        normalise_phone(&raw, region)
            .map_err(|e| errors.push(e))
            .ok()
    });
    let email = text("email", body.get("email"), EMAIL_MAX, false, &mut errors)
        .and_then(|raw| normalise_email(&raw).map_err(|e| errors.push(e)).ok());
    let phone_or_email_given = ["phone", "email"].iter().any(|f| {
        body.get(*f)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty())
    });
    if !phone_or_email_given
        && !errors
            .iter()
            .any(|e| e.field == "phone" || e.field == "email")
    {
        for field in ["phone", "email"] {
            errors.push(FieldError::new(
                field,
                "phone_or_email_required",
                "a phone number or an email address is required",
            ));
        }
    }
    let message = text(
        "message",
        body.get("message"),
        MESSAGE_MAX,
        true,
        &mut errors,
    );
    let interest = text(
        "interest",
        body.get("interest"),
        INTEREST_MAX,
        false,
        &mut errors,
    );
    let form_source = text(
        "source",
        body.get("source"),
        FORM_SOURCE_MAX,
        false,
        &mut errors,
    );
    let language = text("language", body.get("language"), 16, false, &mut errors);
    if language.as_deref().is_some_and(|l| !valid_language(l)) {
        errors.push(FieldError::new(
            "language",
            "invalid_language",
            "a language tag like en, ru or kk",
        ));
    }
    let consent = truthy(body.get("consent"));
    if !consent {
        errors.push(FieldError::new(
            "consent",
            "consent_required",
            "consent to be contacted is required",
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ValidLead {
        source: LeadSource::Form,
        idempotency_key,
        contact: None,
        name,
        phone,
        email,
        interest,
        message,
        language: language.map(|l| l.to_ascii_lowercase()),
        consent,
        form_source,
        submitted_at_ms,
        dropped: Vec::new(),
    })
}

/// Cuts at a character boundary.
pub fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        None => s.to_owned(),
        Some((i, _)) => s[..i].to_owned(),
    }
}

fn clean(value: Option<&str>, max: usize) -> Option<String> {
    let v: String = value?
        .trim()
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect();
    (!v.is_empty()).then(|| truncate(&v, max))
}

/// Why a queued submission cannot become a lead at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    /// Not logged: a contact id may be a phone number.
    #[error("the contact id is malformed")]
    BadContact(String),
    #[error("no contact, phone or email to reach the customer by")]
    Unreachable,
    #[error("idempotency key must be 1-200 characters")]
    BadIdempotencyKey,
}

/// Normalises a submission from the `leads` queue (agent, sweep, manual).
pub fn queued(sub: &LeadSubmission, region: &str) -> Result<ValidLead, Unusable> {
    if sub.idempotency_key.is_empty() || sub.idempotency_key.len() > 200 {
        return Err(Unusable::BadIdempotencyKey);
    }
    let contact = match sub
        .contact
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(c) if valid_contact_id(c) => Some(c.to_owned()),
        Some(c) => return Err(Unusable::BadContact(truncate(c, 120))),
        None => None,
    };
    let mut dropped = Vec::new();
    let phone = match sub
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        Some(raw) => match normalise_phone(raw, region) {
            Ok(p) => Some(p),
            Err(mut e) => {
                e.message = format!("{} (was {:?})", e.message, truncate(raw, 40));
                dropped.push(e);
                None
            }
        },
        None => None,
    }
    .or_else(|| {
        contact
            .as_deref()
            .and_then(|c| phone_of_whatsapp_contact(c, region))
    });
    let email = match sub
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        Some(raw) => match normalise_email(raw) {
            Ok(e) => Some(e),
            Err(mut e) => {
                e.message = format!("{} (was {:?})", e.message, truncate(raw, 60));
                dropped.push(e);
                None
            }
        },
        None => None,
    };
    if contact.is_none() && phone.is_none() && email.is_none() {
        return Err(Unusable::Unreachable);
    }
    let language = sub
        .language
        .as_deref()
        .map(str::trim)
        .filter(|l| valid_language(l))
        .map(str::to_ascii_lowercase);
    Ok(ValidLead {
        source: sub.source,
        idempotency_key: sub.idempotency_key.clone(),
        contact,
        name: clean(sub.name.as_deref(), NAME_MAX),
        phone,
        email,
        interest: clean(sub.interest.as_deref(), INTEREST_MAX),
        message: clean(sub.message.as_deref(), MESSAGE_MAX),
        language,
        consent: sub.consent,
        form_source: None,
        submitted_at_ms: sub.submitted_at_ms,
        dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sauda_shared::TenantId;
    use serde_json::json;

    fn form(v: Value) -> Result<ValidLead, Vec<FieldError>> {
        web_form(v.as_object().unwrap(), "KZ", "k".into(), 1)
    }

    fn codes(errors: &[FieldError]) -> Vec<(&str, &str)> {
        errors.iter().map(|e| (e.field, e.code)).collect()
    }

    #[test]
    fn a_good_form_is_normalised() {
        let lead = form(json!({
            "name": "  Aida ", "phone": "8 (701) 123-45-67", "email": "Aida@Mail.KZ",
            "message": "Хочу тур\nна Иссык-Куль", "source": "landing-summer", "consent": true,
            "language": "RU"
        }))
        .unwrap();
        assert_eq!(lead.name.as_deref(), Some("Aida"));
        assert_eq!(lead.phone.as_deref(), Some("+77011234567"));
        assert_eq!(lead.email.as_deref(), Some("aida@mail.kz"));
        assert_eq!(lead.form_source.as_deref(), Some("landing-summer"));
        assert_eq!(lead.language.as_deref(), Some("ru"));
        assert_eq!(lead.source, LeadSource::Form);
    }

    #[test]
    fn every_field_error_has_a_stable_code() {
        let errors = form(json!({
            "name": "x".repeat(101), "phone": "hello", "email": "not-an-email",
            "message": "m".repeat(2001), "interest": 5, "language": "english!", "consent": false,
            "source": "a\u{0007}b"
        }))
        .unwrap_err();
        assert_eq!(
            codes(&errors),
            [
                ("name", "too_long"),
                ("phone", "invalid_phone"),
                ("email", "invalid_email"),
                ("message", "too_long"),
                ("interest", "invalid_type"),
                ("source", "invalid_characters"),
                ("language", "invalid_language"),
                ("consent", "consent_required"),
            ]
        );
        let errors = form(json!({"consent": "on"})).unwrap_err();
        assert_eq!(
            codes(&errors),
            [
                ("name", "required"),
                ("phone", "phone_or_email_required"),
                ("email", "phone_or_email_required"),
            ]
        );
        let errors = form(json!({"name": "A", "phone": "+7 701 12", "consent": "on"})).unwrap_err();
        assert_eq!(codes(&errors), [("phone", "phone_not_valid")]);
        let errors =
            form(json!({"name": "A", "email": "Aida <a@b.kz>", "consent": true})).unwrap_err();
        assert_eq!(codes(&errors), [("email", "invalid_email")]);
        let errors =
            form(json!({"name": "A", "email": "a@localhost", "consent": true})).unwrap_err();
        assert_eq!(codes(&errors), [("email", "invalid_email")]);
    }

    #[test]
    fn checkbox_values_count_as_consent() {
        for yes in [
            json!(true),
            json!("on"),
            json!("true"),
            json!("1"),
            json!(1),
        ] {
            assert!(form(json!({"name": "A", "email": "a@b.kz", "consent": yes})).is_ok());
        }
        for no in [json!(false), json!("off"), json!(null), json!(0)] {
            assert!(form(json!({"name": "A", "email": "a@b.kz", "consent": no})).is_err());
        }
    }

    #[test]
    fn honeypot_detects_only_filled_fields() {
        let filled = json!({"website": "http://spam"});
        let empty = json!({"website": " "});
        assert!(is_honeypot_filled(filled.as_object().unwrap()));
        assert!(!is_honeypot_filled(empty.as_object().unwrap()));
        assert!(!is_honeypot_filled(json!({}).as_object().unwrap()));
    }

    fn submission(
        contact: Option<&str>,
        phone: Option<&str>,
        email: Option<&str>,
    ) -> LeadSubmission {
        LeadSubmission {
            tenant: TenantId::parse("acme").unwrap(),
            source: LeadSource::Agent,
            idempotency_key: "k1".into(),
            contact: contact.map(str::to_owned),
            name: Some(" Bek ".into()),
            phone: phone.map(str::to_owned),
            email: email.map(str::to_owned),
            interest: Some("i".repeat(500)),
            message: None,
            language: Some("ru".into()),
            consent: false,
            submitted_at_ms: 5,
        }
    }

    #[test]
    fn queued_leads_keep_the_customer_and_drop_bad_fields() {
        let lead = queued(&submission(Some("tg-42"), Some("12"), Some("nope")), "KZ").unwrap();
        assert_eq!(lead.contact.as_deref(), Some("tg-42"));
        assert_eq!(lead.phone, None);
        assert_eq!(lead.email, None);
        assert_eq!(
            lead.dropped.iter().map(|e| e.field).collect::<Vec<_>>(),
            ["phone", "email"]
        );
        assert_eq!(lead.name.as_deref(), Some("Bek"));
        assert_eq!(lead.interest.unwrap().chars().count(), INTEREST_MAX);

        let wa = queued(&submission(Some("wa-77011234567"), None, None), "KG").unwrap();
        assert_eq!(
            wa.phone.as_deref(),
            Some("+77011234567"),
            "a WhatsApp id is a phone"
        );

        assert_eq!(
            queued(&submission(None, Some("12"), None), "KZ"),
            Err(Unusable::Unreachable)
        );
        assert!(matches!(
            queued(&submission(Some("T#x#C#y"), None, None), "KZ"),
            Err(Unusable::BadContact(_))
        ));
    }

    #[test]
    fn contact_ids_cannot_smuggle_key_separators() {
        for ok in ["tg-1", "wa-77011234567", "web-01jdxyz"] {
            assert!(valid_contact_id(ok), "{ok}");
        }
        for bad in [
            "",
            "tg",
            "tg-",
            "TG-1",
            "tg-1#2",
            "tg-a/b",
            "-1",
            "toolongprefix-1",
        ] {
            assert!(!valid_contact_id(bad), "{bad}");
        }
    }
}
