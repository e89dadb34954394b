//! A fake Kaspi Pay QR API (v01): payment links, scripted statuses, returns; and the
//! signed notifications an aggregator pushes.

use crate::fake::{Fake, Recorded, Scripted};
use serde_json::{json, Value};
use std::collections::HashMap;

/// What the fake remembers between requests.
pub struct KaspiState {
    next: u64,
    /// QrPaymentId → status answered (default `Wait`).
    statuses: HashMap<String, Value>,
    poll_interval_s: u64,
    expire_in_s: i64,
}

fn kaspi(status: u16, code: i64, data: Value) -> Scripted {
    Scripted::json(
        status,
        json!({"StatusCode": code, "Message": "", "Data": data}),
    )
}

fn answer(state: &mut KaspiState, request: &Recorded) -> Scripted {
    if request.headers.get("x-auth-token").is_none() {
        return kaspi(401, -1, Value::Null);
    }
    let path = request.path.as_str();
    let data = if path == "/v01/qr/create-link" {
        state.next += 1;
        let id = 900_000 + state.next;
        let expires =
            jiff::Timestamp::now() + jiff::SignedDuration::from_secs(state.expire_in_s.max(1));
        json!({
            "QrPaymentId": id,
            "PaymentLink": format!("https://pay.kaspi.kz/pay/{id}"),
            "ExpireDate": expires.to_string(),
            "PaymentMethods": ["Gold", "Red", "Loan"],
            "QrPaymentBehaviorOptions": {"StatusPollingInterval": state.poll_interval_s, "LinkActivationWaitTimeout": 180},
        })
    } else if let Some(id) = path.strip_prefix("/v01/payment/status/") {
        state
            .statuses
            .get(id)
            .cloned()
            .unwrap_or_else(|| json!({"Status": "Wait"}))
    } else if path == "/v01/payment/return" {
        state.next += 1;
        json!({"ReturnOperationId": state.next})
    } else {
        return kaspi(404, -1, Value::Null);
    };
    kaspi(200, 0, data)
}

/// The fake Kaspi Pay QR API.
#[derive(Clone)]
pub struct FakeKaspi {
    pub base_url: String,
    fake: Fake<KaspiState>,
}

impl FakeKaspi {
    pub async fn start() -> Self {
        let state = KaspiState {
            next: 0,
            statuses: HashMap::new(),
            poll_interval_s: 5,
            expire_in_s: 300,
        };
        let fake = Fake::start(state, answer).await;
        Self {
            base_url: fake.base_url.clone(),
            fake,
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.fake.requests()
    }

    /// What `payment/status/{id}` answers from now on (`{"Status": "Processed", …}`).
    pub fn set_status(&self, qr_payment_id: &str, data: Value) {
        self.fake
            .state(|s| s.statuses.insert(qr_payment_id.to_owned(), data));
    }

    pub fn set_poll_interval(&self, seconds: u64) {
        self.fake.state(|s| s.poll_interval_s = seconds);
    }

    /// Links created from now on expire after `seconds`.
    pub fn set_link_lifetime(&self, seconds: i64) {
        self.fake.state(|s| s.expire_in_s = seconds);
    }

    /// An aggregator's notification body and its `X-Kaspi-Signature`.
    pub fn notification(
        secret: &str,
        event: &str,
        qr_payment_id: &str,
        order_id: &str,
        amount: &str,
        timestamp_s: i64,
    ) -> (String, String) {
        let body = format!(
            r#"{{"event":"{event}","qr_payment_id":"{qr_payment_id}","external_id":"{order_id}","amount":{amount},"currency":"KZT","timestamp":{timestamp_s}}}"#
        );
        let signature = hex::encode(sauda_shared::signature::hmac_sha256(
            secret.as_bytes(),
            &[body.as_bytes()],
        ));
        (body, signature)
    }
}
