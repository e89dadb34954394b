//! Generated input for every parser that faces the internet (property tests, stable Rust).
//!
//! `make test` runs each property with proptest's default case count; `make fuzz` runs a
//! million cases per property (`PROPTEST_CASES=1000000`, release build). A property
//! fails on a panic or on an answer outside the parser's contract: every refusal must be
//! one of the stable errors, and nothing unauthentic may verify.

use proptest::prelude::*;
use sauda_shared::api::body::parse_json;
use sauda_shared::api::cursor;
use sauda_shared::envelope::Envelope;
use sauda_shared::signature::{
    hmac_sha256, verify_stripe_signature_any, verify_telegram_secret, verify_whatsapp_signature,
    whatsapp_signature, SignatureError,
};
use sauda_shared::{phone, telegram, whatsapp, TenantId};
use serde_json::{json, Value};

/// The field names the parsers look for, so generated objects reach past the first check.
const FIELDS: &[&str] = &[
    "update_id",
    "message",
    "edited_message",
    "callback_query",
    "chat",
    "id",
    "type",
    "date",
    "text",
    "caption",
    "from",
    "first_name",
    "language_code",
    "voice",
    "photo",
    "video",
    "document",
    "contact",
    "location",
    "file_id",
    "reply_to_message",
    "message_id",
    "object",
    "entry",
    "changes",
    "value",
    "field",
    "metadata",
    "phone_number_id",
    "contacts",
    "profile",
    "name",
    "wa_id",
    "messages",
    "statuses",
    "timestamp",
    "status",
    "recipient_id",
    "errors",
    "code",
    "title",
    "body",
    "image",
    "interactive",
    "v",
    "kind",
    "tenant",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        prop_oneof![
            Just(i64::MAX),
            Just(i64::MIN),
            Just(10_i64.pow(16)),
            Just(-1)
        ]
        .prop_map(|n| json!(n)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    prop_oneof![
                        proptest::sample::select(FIELDS).prop_map(str::to_owned),
                        ".{0,12}"
                    ],
                    inner
                ),
                0..8
            )
            .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// A well-formed body with one field, somewhere inside, replaced by generated JSON.
fn mutated(sample: Value) -> impl Strategy<Value = Value> {
    (json_value(), any::<proptest::sample::Index>()).prop_map(move |(replacement, index)| {
        let mut body = sample.clone();
        let mut paths = Vec::new();
        collect_paths(&body, &mut Vec::new(), &mut paths);
        if !paths.is_empty() {
            let path = &paths[index.index(paths.len())];
            if let Some(slot) = pointer_mut(&mut body, path) {
                *slot = replacement;
            }
        }
        body
    })
}

fn collect_paths(value: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(at.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                at.push(k.clone());
                collect_paths(v, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                at.push(i.to_string());
                collect_paths(v, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn pointer_mut<'a>(value: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let pointer: String = path.iter().map(|p| format!("/{p}")).collect();
    value.pointer_mut(&pointer)
}

fn telegram_sample() -> Value {
    json!({
        "update_id": 10,
        "message": {
            "message_id": 5, "date": 1_795_000_000,
            "chat": {"id": 42, "type": "private", "first_name": "Aida"},
            "from": {"id": 42, "is_bot": false, "first_name": "Aida", "language_code": "ru"},
            "text": "Сколько стоит насос?",
            "reply_to_message": {"message_id": 4, "date": 1_795_000_000,
                "chat": {"id": 42, "type": "private"}, "text": "…"}
        }
    })
}

fn whatsapp_sample() -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "77000000000", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Aida"}, "wa_id": "77011234567"}],
            "messages": [{"from": "77011234567", "id": "wamid.A", "timestamp": "1795000000",
                "type": "image", "image": {"id": "m1", "caption": "this one"}}],
            "statuses": [{"id": "wamid.B", "status": "failed", "timestamp": "1795000001",
                "recipient_id": "77011234567", "errors": [{"code": 131047, "title": "Re-engagement"}]}]
        }}]}]
    })
}

fn tenant() -> TenantId {
    TenantId::parse("fuzz-tenant").unwrap()
}

/// What an inbound parser may answer: a parsed update or one of its two stable errors.
fn telegram_contract(body: &[u8]) {
    match telegram::parse_update(&tenant(), body) {
        Ok(_)
        | Err(telegram::ParseError::MalformedJson(_))
        | Err(telegram::ParseError::InvalidShape(_)) => {}
    }
}

fn whatsapp_contract(body: &[u8]) {
    // A parsed batch or an error; the property is that neither panics.
    let _ = whatsapp::parse_webhook(&tenant(), body);
}

proptest! {
    #[test]
    fn telegram_updates_from_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        telegram_contract(&body);
    }

    #[test]
    fn telegram_updates_from_json(body in json_value()) {
        telegram_contract(body.to_string().as_bytes());
    }

    #[test]
    fn telegram_updates_one_field_off(body in mutated(telegram_sample())) {
        telegram_contract(body.to_string().as_bytes());
    }

    #[test]
    fn whatsapp_webhooks_from_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        whatsapp_contract(&body);
    }

    #[test]
    fn whatsapp_webhooks_one_field_off(body in mutated(whatsapp_sample())) {
        whatsapp_contract(body.to_string().as_bytes());
    }

    #[test]
    fn telegram_secret_tokens(expected in "[A-Za-z0-9_-]{1,64}", presented in proptest::collection::vec(any::<u8>(), 0..80)) {
        let verdict = verify_telegram_secret(&expected, Some(&presented));
        prop_assert_eq!(verdict.is_ok(), presented == expected.as_bytes());
        prop_assert_eq!(verify_telegram_secret(&expected, None), Err(SignatureError::Missing));
    }

    #[test]
    fn whatsapp_signatures(
        secret in ".{1,40}",
        body in proptest::collection::vec(any::<u8>(), 0..256),
        header in proptest::collection::vec(any::<u8>(), 0..90),
        tamper in any::<proptest::sample::Index>(),
    ) {
        // Arbitrary headers never verify; the real one does, and one changed byte of the
        // body does not.
        let real = whatsapp_signature(&secret, &body);
        if verify_whatsapp_signature(&secret, &body, Some(&header)).is_ok() {
            prop_assert_eq!(header.to_ascii_lowercase(), real.as_bytes().to_vec());
        }
        prop_assert!(verify_whatsapp_signature(&secret, &body, Some(real.as_bytes())).is_ok());
        if !body.is_empty() {
            let mut changed = body.clone();
            let i = tamper.index(changed.len());
            changed[i] ^= 0x01;
            prop_assert_eq!(
                verify_whatsapp_signature(&secret, &changed, Some(real.as_bytes())),
                Err(SignatureError::Mismatch)
            );
        }
    }

    #[test]
    fn stripe_signature_headers(header in ".{0,200}", now in any::<i64>()) {
        // Anything that is not signed with the secret fails, with a stable error.
        let verdict = verify_stripe_signature_any(&["whsec_fuzz"], b"{}", Some(&header), now, 300);
        prop_assert!(matches!(
            verdict,
            Err(SignatureError::Malformed) | Err(SignatureError::Mismatch)
        ), "{verdict:?} for {header:?}");
    }

    #[test]
    fn stripe_signatures_at_any_time(t in any::<i64>(), now in any::<i64>(), body in ".{0,64}") {
        // Signed correctly at any timestamp, however extreme: accepted exactly when inside
        // the tolerance, never a panic on the arithmetic.
        let mac = hmac_sha256(b"whsec_fuzz", &[t.to_string().as_bytes(), b".", body.as_bytes()]);
        let header = format!("t={t},v1={},v1=zz", hex::encode(mac));
        let verdict =
            verify_stripe_signature_any(&["old", "whsec_fuzz"], body.as_bytes(), Some(&header), now, 300);
        let inside = now.abs_diff(t) <= 300;
        prop_assert_eq!(verdict.is_ok(), inside, "{:?}", verdict);
        if !inside {
            prop_assert_eq!(verdict, Err(SignatureError::Expired));
        }
    }

    #[test]
    fn cursors_are_never_forged(raw in ".{0,300}", position in any::<u64>()) {
        let t = tenant();
        let decoded = cursor::decode::<u64>(&t, "fuzz:route", &raw);
        prop_assert!(decoded.is_err(), "a made-up cursor decoded: {raw:?}");
        prop_assert_eq!(decoded.unwrap_err().code, "invalid_cursor");
        // A real one round-trips, and only for its tenant and route.
        let real = cursor::encode(&t, "fuzz:route", &position);
        prop_assert_eq!(cursor::decode::<u64>(&t, "fuzz:route", &real).unwrap(), position);
        prop_assert!(cursor::decode::<u64>(&t, "fuzz:other", &real).is_err());
        let other = TenantId::parse("other-tenant").unwrap();
        prop_assert!(cursor::decode::<u64>(&other, "fuzz:route", &real).is_err());
    }

    #[test]
    fn api_bodies(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Form {
            name: String,
            phone: Option<String>,
            points: Option<i64>,
        }
        match parse_json::<Form>(&body, 256) {
            Ok(_) => {}
            Err(e) => prop_assert!(
                ["malformed_json", "invalid_body", "payload_too_large"].contains(&e.code),
                "unexpected code {}", e.code
            ),
        }
    }

    #[test]
    fn phone_numbers(raw in ".{0,40}", digits in "[0-9 ()+-]{0,24}") {
        for input in [raw.as_str(), digits.as_str()] {
            if let Ok(e164) = phone::normalise(input, "KZ") {
                prop_assert!(e164.starts_with('+'), "{e164}");
                prop_assert!(e164[1..].bytes().all(|b| b.is_ascii_digit()), "{e164}");
                prop_assert!(e164.len() <= 16, "{e164}");
            }
        }
    }

    #[test]
    fn queue_envelopes(body in json_value(), raw in ".{0,200}") {
        for text in [body.to_string(), raw] {
            if let Ok(envelope) = Envelope::from_json(&text) {
                // What decodes encodes back to an envelope that decodes the same way.
                let again = Envelope::from_json(&envelope.to_json()).unwrap();
                prop_assert_eq!(again.to_json(), envelope.to_json());
            }
        }
    }
}
