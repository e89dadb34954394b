//! Telegram Payments: invoices (`sendInvoice`, with the tenant's provider token or in
//! Stars, `XTR`), Stars refunds (`refundStarPayment`), and the payment updates the
//! webhook receives: `pre_checkout_query` (answered inside the webhook's own response),
//! and the `successful_payment` / `refunded_payment` service messages.

use super::ProviderError;
use crate::confirm::PaymentEvent;
use crate::domain::{display_number, valid_order_id, valid_reference};
use sauda_shared::i18n::{orders as t, Lang};
use sauda_shared::order::{format_amount, Order, Payment, Provider};
use sauda_shared::secrets::Secret;
use sauda_shared::telegram_api::{chat_id_of, TelegramApi, TelegramError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Telegram's limits: payload 1-128 bytes, title 1-32 and description 1-255 characters.
const TITLE_MAX: usize = 32;
const DESCRIPTION_MAX: usize = 255;

/// A `pre_checkout_query`: Telegram asks whether to take the money (answer within 10 s).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreCheckout {
    pub query_id: String,
    pub order_id: String,
    pub currency: String,
    pub total_minor: i64,
    pub language: Option<String>,
}

/// A payment update from the webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentUpdate {
    PreCheckout(PreCheckout),
    /// `successful_payment` or `refunded_payment`, about `order_id`.
    Event {
        order_id: String,
        event: PaymentEvent,
    },
}

#[derive(Deserialize)]
struct User {
    #[serde(default)]
    language_code: Option<String>,
}

#[derive(Deserialize)]
struct RawPreCheckout {
    id: String,
    from: User,
    currency: String,
    total_amount: i64,
    invoice_payload: String,
}

#[derive(Deserialize)]
struct RawSuccessful {
    currency: String,
    total_amount: i64,
    invoice_payload: String,
    telegram_payment_charge_id: String,
}

#[derive(Deserialize)]
struct RawRefunded {
    currency: String,
    total_amount: i64,
    invoice_payload: String,
    telegram_payment_charge_id: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct Malformed(pub String);

fn provider_of(currency: &str) -> Provider {
    if currency.eq_ignore_ascii_case("XTR") {
        Provider::TelegramStars
    } else {
        Provider::Telegram
    }
}

fn order_of(payload: &str) -> Result<String, Malformed> {
    if valid_order_id(payload) {
        Ok(payload.to_owned())
    } else {
        Err(Malformed("invoice_payload is not an order id".into()))
    }
}

/// The payment update in a webhook body, if it is one (`None` for every other update).
pub fn parse_update(body: &[u8]) -> Result<Option<PaymentUpdate>, Malformed> {
    // Cheap test first: most updates are plain messages.
    let text = String::from_utf8_lossy(body);
    if !text.contains("pre_checkout_query")
        && !text.contains("successful_payment")
        && !text.contains("refunded_payment")
    {
        return Ok(None);
    }
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Ok(None); // the message parser reports malformed JSON
    };
    let shape = |what: &str, e: serde_json::Error| Malformed(format!("{what}: {e}"));
    if let Some(raw) = value.get("pre_checkout_query") {
        let q: RawPreCheckout =
            serde_json::from_value(raw.clone()).map_err(|e| shape("pre_checkout_query", e))?;
        if q.id.is_empty() || q.id.len() > 200 {
            return Err(Malformed("pre_checkout_query.id is invalid".into()));
        }
        return Ok(Some(PaymentUpdate::PreCheckout(PreCheckout {
            query_id: q.id,
            // An unknown payload is refused in the answer, not as a bad request: Telegram
            // waits for an answer.
            order_id: q.invoice_payload,
            currency: q.currency.to_ascii_uppercase(),
            total_minor: q.total_amount,
            language: q.from.language_code,
        })));
    }
    let Some(message) = value.get("message") else {
        return Ok(None);
    };
    let payer = message
        .get("from")
        .and_then(|f| f.get("id"))
        .and_then(Value::as_i64);
    if let Some(raw) = message.get("successful_payment") {
        let p: RawSuccessful =
            serde_json::from_value(raw.clone()).map_err(|e| shape("successful_payment", e))?;
        if !valid_reference(&p.telegram_payment_charge_id) || p.total_amount < 0 {
            return Err(Malformed("successful_payment is invalid".into()));
        }
        return Ok(Some(PaymentUpdate::Event {
            order_id: order_of(&p.invoice_payload)?,
            event: PaymentEvent::Paid(Payment {
                provider: provider_of(&p.currency),
                reference: p.telegram_payment_charge_id,
                amount_minor: p.total_amount,
                currency: p.currency.to_ascii_uppercase(),
                payer_id: payer,
            }),
        }));
    }
    if let Some(raw) = message.get("refunded_payment") {
        let r: RawRefunded =
            serde_json::from_value(raw.clone()).map_err(|e| shape("refunded_payment", e))?;
        if !valid_reference(&r.telegram_payment_charge_id) || r.total_amount < 0 {
            return Err(Malformed("refunded_payment is invalid".into()));
        }
        return Ok(Some(PaymentUpdate::Event {
            order_id: order_of(&r.invoice_payload)?,
            event: PaymentEvent::Refunded {
                provider: provider_of(&r.currency),
                reference: r.telegram_payment_charge_id,
                // Telegram refunds a charge whole.
                cumulative_minor: r.total_amount,
                actor: "provider:telegram".into(),
            },
        }));
    }
    Ok(None)
}

/// The webhook's response body answering a pre-checkout query (no extra call).
pub fn answer(query_id: &str, refusal: Option<&str>) -> Value {
    match refusal {
        None => {
            json!({"method": "answerPreCheckoutQuery", "pre_checkout_query_id": query_id, "ok": true})
        }
        Some(message) => json!({
            "method": "answerPreCheckoutQuery",
            "pre_checkout_query_id": query_id,
            "ok": false,
            "error_message": message,
        }),
    }
}

#[derive(Serialize)]
struct LabeledPrice {
    label: String,
    amount: i64,
}

#[derive(Serialize)]
struct SendInvoice<'a> {
    chat_id: frankenstein::types::ChatId,
    title: String,
    description: String,
    payload: &'a str,
    /// Empty for Stars.
    provider_token: &'a str,
    currency: &'a str,
    prices: Vec<LabeledPrice>,
}

#[derive(Serialize)]
struct RefundStarPayment<'a> {
    user_id: i64,
    telegram_payment_charge_id: &'a str,
}

fn clip(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        return s;
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn telegram_error(e: TelegramError) -> ProviderError {
    match e {
        TelegramError::Rejected { code, description } => ProviderError::Refused {
            provider: Provider::Telegram,
            status: code,
            message: description,
        },
        other => ProviderError::Unavailable {
            provider: Provider::Telegram,
            message: other.to_string(),
        },
    }
}

/// Sends the order's invoice to its chat. Stars (`XTR`) take an empty provider token
/// and exactly one price; other currencies the tenant's provider token. One price line
/// carries the total, so a discount can never make Telegram's sum differ from it.
pub async fn send_invoice(
    api: &TelegramApi,
    bot_token: &Secret,
    provider_token: Option<&Secret>,
    order: &Order,
    lang: Lang,
) -> Result<(), ProviderError> {
    let stars = order.currency.eq_ignore_ascii_case("XTR");
    let provider_token = match (stars, provider_token) {
        (true, _) => "",
        (false, Some(token)) => token.expose(),
        (false, None) => {
            return Err(ProviderError::NotConfigured {
                provider: Provider::Telegram,
                missing: "telegram_provider_token",
            })
        }
    };
    let number = display_number(&order.order_id);
    let items: Vec<String> = order
        .lines
        .iter()
        .map(|l| format!("{} × {}", l.name, l.quantity))
        .collect();
    let params = SendInvoice {
        chat_id: chat_id_of(&order.reply_to),
        title: clip(
            t::INVOICE_TITLE.render(lang, &[("order", &number)]),
            TITLE_MAX,
        ),
        description: clip(
            t::INVOICE_DESCRIPTION
                .render(lang, &[("order", &number), ("items", &items.join(", "))]),
            DESCRIPTION_MAX,
        ),
        payload: &order.order_id,
        provider_token,
        currency: &order.currency,
        prices: vec![LabeledPrice {
            label: format_amount(order.total_minor, &order.currency),
            amount: order.total_minor,
        }],
    };
    api.call::<_, Value>(bot_token, "sendInvoice", &params)
        .await
        .map(|_| ())
        .map_err(telegram_error)
}

/// Refunds a Stars payment. A charge refunded already counts as done (a retry after
/// Telegram refunded but before Sauda recorded it).
pub async fn refund_stars(
    api: &TelegramApi,
    bot_token: &Secret,
    user_id: i64,
    charge_id: &str,
) -> Result<(), ProviderError> {
    let params = RefundStarPayment {
        user_id,
        telegram_payment_charge_id: charge_id,
    };
    match api
        .call::<_, Value>(bot_token, "refundStarPayment", &params)
        .await
    {
        Ok(_) => Ok(()),
        Err(TelegramError::Rejected { description, .. })
            if description.contains("CHARGE_ALREADY_REFUNDED") =>
        {
            Ok(())
        }
        Err(e) => Err(telegram_error(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_updates_are_recognised() {
        let q = br#"{"update_id":1,"pre_checkout_query":{"id":"q1","from":{"id":7,"is_bot":false,"first_name":"A","language_code":"kk"},"currency":"KZT","total_amount":4500000,"invoice_payload":"01JORD"}}"#;
        assert_eq!(
            parse_update(q).unwrap(),
            Some(PaymentUpdate::PreCheckout(PreCheckout {
                query_id: "q1".into(),
                order_id: "01JORD".into(),
                currency: "KZT".into(),
                total_minor: 4_500_000,
                language: Some("kk".into())
            }))
        );
        let paid = br#"{"update_id":2,"message":{"message_id":5,"date":1,"chat":{"id":7,"type":"private"},"from":{"id":7,"is_bot":false,"first_name":"A"},
            "successful_payment":{"currency":"XTR","total_amount":50,"invoice_payload":"01JORD","telegram_payment_charge_id":"stxABC","provider_payment_charge_id":""}}}"#;
        let Some(PaymentUpdate::Event { order_id, event }) = parse_update(paid).unwrap() else {
            panic!()
        };
        assert_eq!(order_id, "01JORD");
        assert!(matches!(
            event,
            PaymentEvent::Paid(Payment {
                provider: Provider::TelegramStars,
                payer_id: Some(7),
                amount_minor: 50,
                ..
            })
        ));
        let refunded = br#"{"update_id":3,"message":{"message_id":6,"date":1,"chat":{"id":7,"type":"private"},
            "refunded_payment":{"currency":"XTR","total_amount":50,"invoice_payload":"01JORD","telegram_payment_charge_id":"stxABC"}}}"#;
        assert!(matches!(
            parse_update(refunded).unwrap(),
            Some(PaymentUpdate::Event {
                event: PaymentEvent::Refunded {
                    cumulative_minor: 50,
                    ..
                },
                ..
            })
        ));
        let text = br#"{"update_id":4,"message":{"message_id":7,"date":1,"chat":{"id":7,"type":"private"},"text":"hi"}}"#;
        assert_eq!(parse_update(text).unwrap(), None);
    }

    #[test]
    fn malformed_payment_updates_are_refused() {
        let no_id = br#"{"update_id":1,"pre_checkout_query":{"from":{"id":7},"currency":"KZT","total_amount":1,"invoice_payload":"o"}}"#;
        assert!(parse_update(no_id).is_err());
        let bad_payload = br#"{"update_id":2,"message":{"successful_payment":{"currency":"KZT","total_amount":1,"invoice_payload":"a b","telegram_payment_charge_id":"c"}}}"#;
        assert!(parse_update(bad_payload).is_err());
    }

    #[test]
    fn answers_are_method_calls() {
        assert_eq!(
            answer("q1", None),
            json!({"method": "answerPreCheckoutQuery", "pre_checkout_query_id": "q1", "ok": true})
        );
        assert_eq!(answer("q1", Some("expired"))["error_message"], "expired");
        assert_eq!(clip("x".repeat(40), 32).chars().count(), 32);
    }
}
