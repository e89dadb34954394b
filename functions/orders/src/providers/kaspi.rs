//! Kaspi (Kazakhstan). Kaspi publishes no callback specification; its QR/link API is
//! polled. The shape here is Kaspi Pay's QR API v01 as merchants and aggregators use it:
//!
//! - `POST {base}/v01/qr/create-link` `{DeviceToken, Amount, ExternalId}` →
//!   `Data {QrPaymentId, PaymentLink, ExpireDate, QrPaymentBehaviorOptions
//!   {StatusPollingInterval}}`;
//! - `GET {base}/v01/payment/status/{QrPaymentId}` → `Data {Status: Wait | Processed |
//!   Error | …, Amount?}`;
//! - `POST {base}/v01/payment/return` `{DeviceToken, QrPaymentId, ReturnAmount}`;
//!
//! with the tenant's key in `X-Auth-Token` and `StatusCode` 0 meaning success. Amounts
//! are decimal tenge. Pushed notifications from an aggregator are verified with an
//! HMAC-SHA256 of the raw body (hex, `X-Kaspi-Signature`) under the tenant's
//! `kaspi_webhook_secret`, and carry a `timestamp` inside the signed body.

use super::{decimal_to_minor, exchange, minor_to_decimal, ProviderError};
use crate::confirm::PaymentEvent;
use crate::domain::{valid_order_id, valid_reference};
use sauda_shared::order::{Payment, Provider};
use sauda_shared::secrets::Secret;
use serde::Deserialize;
use serde_json::{json, Value};

pub const SIGNATURE_HEADER: &str = "x-kaspi-signature";
/// How far a pushed notification's timestamp may be from now.
pub const TIMESTAMP_TOLERANCE_S: i64 = 300;
/// The polling interval when Kaspi names none, and the bounds of one it names.
pub const DEFAULT_POLL_S: u32 = 5;
pub const MAX_POLL_S: u32 = 900;

#[derive(Clone, Debug)]
pub struct KaspiApi {
    http: reqwest::Client,
    base_url: String,
}

/// Who the tenant is at Kaspi.
pub struct Merchant<'a> {
    pub api_key: &'a Secret,
    /// The trade point (`DeviceToken`).
    pub device_token: &'a Secret,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentLink {
    pub qr_payment_id: String,
    pub url: String,
    /// When Kaspi stops accepting it (epoch ms); polling stops then.
    pub expires_at_ms: Option<i64>,
    pub poll_interval_s: u32,
}

/// A QR payment's state at Kaspi.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Not paid yet (`Wait`, `QrTokenCreated`, …): ask again later.
    Waiting,
    /// Paid; the amount when Kaspi says it.
    Processed { amount_minor: Option<i64> },
    /// Declined or cancelled.
    Failed(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    #[serde(default)]
    status_code: i64,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    data: Value,
}

fn unavailable(message: impl Into<String>) -> ProviderError {
    ProviderError::Unavailable {
        provider: Provider::Kaspi,
        message: message.into(),
    }
}

/// Kaspi's `ExpireDate`: RFC 3339, or a local time in Almaty (UTC+5) without a zone.
fn parse_expiry(raw: &str) -> Option<i64> {
    if let Ok(ts) = raw.parse::<jiff::Timestamp>() {
        return Some(ts.as_millisecond());
    }
    let civil: jiff::civil::DateTime = raw.parse().ok()?;
    let zone = jiff::tz::TimeZone::get("Asia/Almaty").ok()?;
    civil
        .to_zoned(zone)
        .ok()
        .map(|z| z.timestamp().as_millisecond())
}

fn amount_of(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => decimal_to_minor(&n.to_string()),
        Value::String(s) => decimal_to_minor(s),
        _ => None,
    }
}

impl KaspiApi {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            http: super::http_client(),
            base_url: base_url.into().trim_end_matches('/').to_owned(),
        }
    }

    async fn call(
        &self,
        merchant: &Merchant<'_>,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, ProviderError> {
        let request = request.header("X-Auth-Token", merchant.api_key.expose());
        let (status, body) = exchange(Provider::Kaspi, request).await?;
        let answer: Answer = serde_json::from_slice(&body)
            .map_err(|e| unavailable(format!("HTTP {status}, unexpected answer: {e}")))?;
        if !(200..300).contains(&status) || answer.status_code != 0 {
            return Err(ProviderError::Refused {
                provider: Provider::Kaspi,
                status,
                message: format!(
                    "StatusCode {}: {}",
                    answer.status_code,
                    answer.message.unwrap_or_default()
                ),
            });
        }
        Ok(answer.data)
    }

    /// A payment link for `amount_minor` tenge-tiyn with `ExternalId` = the order id.
    pub async fn create_link(
        &self,
        merchant: &Merchant<'_>,
        order_id: &str,
        amount_minor: i64,
    ) -> Result<PaymentLink, ProviderError> {
        let body = json!({
            "DeviceToken": merchant.device_token.expose(),
            "Amount": minor_to_decimal(amount_minor).parse::<f64>().unwrap_or_default(),
            "ExternalId": order_id,
        });
        let data = self
            .call(
                merchant,
                self.http
                    .post(format!("{}/v01/qr/create-link", self.base_url))
                    .json(&body),
            )
            .await?;
        let qr_payment_id = match data.get("QrPaymentId") {
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        let url = data
            .get("PaymentLink")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if !valid_reference(&qr_payment_id) || !url.starts_with("https://") {
            return Err(unavailable(
                "a link without QrPaymentId or https PaymentLink",
            ));
        }
        let poll = data
            .get("QrPaymentBehaviorOptions")
            .and_then(|o| o.get("StatusPollingInterval"))
            .and_then(Value::as_u64)
            .map(|s| s.clamp(1, u64::from(MAX_POLL_S)) as u32)
            .unwrap_or(DEFAULT_POLL_S);
        Ok(PaymentLink {
            qr_payment_id,
            url,
            expires_at_ms: data
                .get("ExpireDate")
                .and_then(Value::as_str)
                .and_then(parse_expiry),
            poll_interval_s: poll,
        })
    }

    pub async fn status(
        &self,
        merchant: &Merchant<'_>,
        qr_payment_id: &str,
    ) -> Result<Status, ProviderError> {
        let data = self
            .call(
                merchant,
                self.http.get(format!(
                    "{}/v01/payment/status/{qr_payment_id}",
                    self.base_url
                )),
            )
            .await?;
        let status = data
            .get("Status")
            .and_then(Value::as_str)
            .unwrap_or_default();
        Ok(match status {
            "Processed" => Status::Processed {
                amount_minor: amount_of(data.get("Amount")),
            },
            "Error" | "Canceled" | "Cancelled" | "Declined" => Status::Failed(status.to_owned()),
            _ => Status::Waiting,
        })
    }

    /// Returns `amount_minor` of a processed payment to the customer.
    pub async fn refund(
        &self,
        merchant: &Merchant<'_>,
        qr_payment_id: &str,
        amount_minor: i64,
    ) -> Result<(), ProviderError> {
        let body = json!({
            "DeviceToken": merchant.device_token.expose(),
            "QrPaymentId": qr_payment_id,
            "ReturnAmount": minor_to_decimal(amount_minor).parse::<f64>().unwrap_or_default(),
        });
        self.call(
            merchant,
            self.http
                .post(format!("{}/v01/payment/return", self.base_url))
                .json(&body),
        )
        .await
        .map(|_| ())
    }
}

// ---- Pushed notifications (an aggregator) ---------------------------------------------

/// A verified notification: `{event, qr_payment_id, external_id, amount, currency?,
/// timestamp}` with `event` one of `payment.processed`, `payment.failed`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub order_id: String,
    pub event: PaymentEvent,
    pub timestamp_s: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct Malformed(pub String);

pub fn parse_notification(body: &[u8]) -> Result<Notification, Malformed> {
    let bad = |m: &str| Malformed(m.to_owned());
    let value: Value = serde_json::from_slice(body).map_err(|_| bad("not JSON"))?;
    let field = |name: &str| value.get(name).and_then(Value::as_str).unwrap_or_default();
    let order_id = field("external_id");
    if !valid_order_id(order_id) {
        return Err(bad("external_id missing or invalid"));
    }
    let qr_payment_id = match value.get("qr_payment_id") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    if !valid_reference(&qr_payment_id) {
        return Err(bad("qr_payment_id missing or invalid"));
    }
    let timestamp_s = value
        .get("timestamp")
        .and_then(Value::as_i64)
        .ok_or_else(|| bad("timestamp missing"))?;
    let event = match field("event") {
        "payment.processed" => {
            let amount = amount_of(value.get("amount")).ok_or_else(|| bad("amount invalid"))?;
            let currency = match field("currency") {
                "" => "KZT".to_owned(),
                c if c.len() == 3 => c.to_ascii_uppercase(),
                _ => return Err(bad("currency invalid")),
            };
            PaymentEvent::Paid(Payment {
                provider: Provider::Kaspi,
                reference: qr_payment_id,
                amount_minor: amount,
                currency,
                payer_id: None,
            })
        }
        "payment.failed" => PaymentEvent::Failed {
            provider: Provider::Kaspi,
            reason: "Kaspi reported the payment failed".into(),
        },
        _ => return Err(bad("event must be payment.processed or payment.failed")),
    };
    Ok(Notification {
        order_id: order_id.to_owned(),
        event,
        timestamp_s,
    })
}

/// The signature an aggregator sends: hex HMAC-SHA256 of the raw body.
pub fn signature(secret: &str, body: &[u8]) -> String {
    hex::encode(sauda_shared::signature::hmac_sha256(
        secret.as_bytes(),
        &[body],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_parse_strictly() {
        let body = json!({"event": "payment.processed", "qr_payment_id": 12345, "external_id": "01JORD",
            "amount": 45000.5, "timestamp": 1_795_000_000});
        let n = parse_notification(body.to_string().as_bytes()).unwrap();
        assert_eq!(n.order_id, "01JORD");
        assert_eq!(
            n.event,
            PaymentEvent::Paid(Payment {
                provider: Provider::Kaspi,
                reference: "12345".into(),
                amount_minor: 4_500_050,
                currency: "KZT".into(),
                payer_id: None
            })
        );
        for bad in [
            json!({"event": "payment.processed", "qr_payment_id": 1, "external_id": "a#b", "amount": 1, "timestamp": 1}),
            json!({"event": "payment.processed", "qr_payment_id": 1, "external_id": "o", "amount": 1.234, "timestamp": 1}),
            json!({"event": "payment.odd", "qr_payment_id": 1, "external_id": "o", "timestamp": 1}),
            json!({"event": "payment.failed", "qr_payment_id": 1, "external_id": "o"}),
        ] {
            assert!(
                parse_notification(bad.to_string().as_bytes()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn expiry_dates_read_with_or_without_a_zone() {
        assert_eq!(
            parse_expiry("2026-11-24T20:30:00Z"),
            Some(1_795_552_200_000)
        );
        assert_eq!(
            parse_expiry("2026-11-25T01:30:00"),
            Some(1_795_552_200_000),
            "Almaty local time"
        );
        assert_eq!(parse_expiry("soon"), None);
    }
}
