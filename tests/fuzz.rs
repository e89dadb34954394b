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
use sauda_tests::gen::{json_value, mutated};
use serde_json::{json, Value};

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

fn stripe_sample() -> Value {
    json!({
        "id": "evt_1", "object": "event", "type": "checkout.session.completed",
        "data": {"object": {
            "id": "cs_1", "object": "checkout.session", "client_reference_id": "0000000000ABCDEFGH12345678",
            "metadata": {"order_id": "0000000000ABCDEFGH12345678"}, "payment_status": "paid",
            "payment_intent": "pi_1", "amount_total": 4500000, "currency": "kzt",
            "amount": 4500000, "amount_refunded": 100, "refunded": false
        }}
    })
}

fn kaspi_sample() -> Value {
    json!({"event": "payment.processed", "qr_payment_id": 15, "external_id": "0000000000ABCDEFGH12345678",
        "amount": 45000.5, "currency": "KZT", "timestamp": 1_795_000_000})
}

fn telegram_payment_sample() -> Value {
    json!({"update_id": 1, "message": {"message_id": 2, "date": 1_795_000_000,
        "chat": {"id": 42, "type": "private"}, "from": {"id": 42, "is_bot": false, "first_name": "A"},
        "successful_payment": {"currency": "KZT", "total_amount": 4500000,
            "invoice_payload": "0000000000ABCDEFGH12345678",
            "telegram_payment_charge_id": "tg_1", "provider_payment_charge_id": "p_1"}},
        "pre_checkout_query": {"id": "q1", "from": {"id": 42, "is_bot": false, "first_name": "A"},
            "currency": "KZT", "total_amount": 4500000, "invoice_payload": "0000000000ABCDEFGH12345678"}})
}

/// Money a payment event reports is never negative, whatever the provider sent.
fn money_is_sane(event: &orders::confirm::PaymentEvent) -> bool {
    use orders::confirm::PaymentEvent;
    match event {
        PaymentEvent::Paid(payment) => payment.amount_minor >= 0 && payment.currency.len() == 3,
        PaymentEvent::Refunded {
            cumulative_minor, ..
        } => *cumulative_minor >= 0,
        PaymentEvent::Pending { .. } | PaymentEvent::Failed { .. } => true,
    }
}

proptest! {
    #[test]
    fn stripe_events(body in mutated(stripe_sample()), bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        use orders::providers::stripe;
        let _ = stripe::parse_event(&bytes);
        if let Ok(event) = stripe::parse_event(body.to_string().as_bytes()) {
            match stripe::action(&event) {
                Ok(stripe::Action::Order { event, .. }) => {
                    prop_assert!(money_is_sane(&event), "{event:?}")
                }
                Ok(stripe::Action::Refund { cumulative_minor, .. }) => {
                    prop_assert!(cumulative_minor >= 0, "{cumulative_minor}")
                }
                _ => {}
            }
        }
    }

    #[test]
    fn kaspi_notifications(body in mutated(kaspi_sample()), bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        use orders::providers::kaspi;
        let _ = kaspi::parse_notification(&bytes);
        if let Ok(notification) = kaspi::parse_notification(body.to_string().as_bytes()) {
            prop_assert!(money_is_sane(&notification.event), "{notification:?}");
        }
    }

    #[test]
    fn telegram_payment_updates(body in mutated(telegram_payment_sample()), bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        use orders::providers::telegram::{parse_update, PaymentUpdate};
        let _ = parse_update(&bytes);
        match parse_update(body.to_string().as_bytes()) {
            Ok(Some(PaymentUpdate::Event { event, .. })) => {
                prop_assert!(money_is_sane(&event), "{event:?}")
            }
            Ok(Some(PaymentUpdate::PreCheckout(query))) => {
                prop_assert!(!query.query_id.is_empty() && query.query_id.len() <= 200)
            }
            Ok(None) | Err(_) => {}
        }
    }

    #[test]
    fn web_forms(body in json_value(), region in prop_oneof![Just("KZ".to_owned()), Just("KG".to_owned()), ".{0,3}"]) {
        // A form is accepted clean or refused with one stable code per field.
        let fields = match body {
            Value::Object(map) => map,
            other => [("name".to_owned(), other)].into_iter().collect(),
        };
        if let Err(errors) = lead_capture::validate::web_form(&fields, &region, "k".into(), 0) {
            prop_assert!(!errors.is_empty());
            for e in errors {
                prop_assert!(!e.code.is_empty() && e.code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{}", e.code);
            }
        }
    }

    #[test]
    fn catalog_rows(csv in "(([^\n]{0,30},){0,6}[^\n]{0,30}\n){0,8}", bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        use agent_reply::catalog::import;
        let _ = import::read_csv(&bytes).map(|sheet| import::validate(sheet, Some("KZT"), |_, _| {}));
        let with_header = format!("sku,name,price,currency,availability,quantity\n{csv}");
        if let Ok(sheet) = import::read_csv(with_header.as_bytes()) {
            if let Ok(report) = import::validate(sheet, Some("KZT"), |_, _| {}) {
                for item in &report.items {
                    prop_assert!(!item.sku.is_empty(), "{item:?}");
                    prop_assert!(item.price_minor.is_none_or(|p| p >= 0), "{item:?}");
                }
            }
        }
    }
}
