//! A fake Kaspi Pay QR API (v01): payment links, scripted statuses, returns; and the
//! signed notifications an aggregator pushes.

use crate::fake::Recorded;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    next: u64,
    /// QrPaymentId → status answered (default `Wait`).
    statuses: HashMap<String, Value>,
    poll_interval_s: u64,
    expire_in_s: i64,
}

#[derive(Clone)]
pub struct FakeKaspi {
    pub base_url: String,
    inner: Arc<Mutex<Inner>>,
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = inner.lock().unwrap();
    inner.requests.push(Recorded {
        method,
        path: uri.path().to_owned(),
        headers: headers.clone(),
        body: body.clone(),
    });
    if headers.get("x-auth-token").is_none() {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"StatusCode": -1, "Message": "no token"})),
        )
            .into_response();
    }
    let path = uri.path();
    let data = if path == "/v01/qr/create-link" {
        inner.next += 1;
        let id = 900_000 + inner.next;
        let expires =
            jiff::Timestamp::now() + jiff::SignedDuration::from_secs(inner.expire_in_s.max(1));
        json!({
            "QrPaymentId": id,
            "PaymentLink": format!("https://pay.kaspi.kz/pay/{id}"),
            "ExpireDate": expires.to_string(),
            "PaymentMethods": ["Gold", "Red", "Loan"],
            "QrPaymentBehaviorOptions": {"StatusPollingInterval": inner.poll_interval_s, "LinkActivationWaitTimeout": 180},
        })
    } else if let Some(id) = path.strip_prefix("/v01/payment/status/") {
        inner
            .statuses
            .get(id)
            .cloned()
            .unwrap_or_else(|| json!({"Status": "Wait"}))
    } else if path == "/v01/payment/return" {
        inner.next += 1;
        json!({"ReturnOperationId": inner.next})
    } else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"StatusCode": -1, "Message": "no such route"})),
        )
            .into_response();
    };
    axum::Json(json!({"StatusCode": 0, "Message": "", "Data": data})).into_response()
}

impl FakeKaspi {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            poll_interval_s: 5,
            expire_in_s: 300,
            ..Default::default()
        }));
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Self {
            base_url: format!("http://{addr}"),
            inner,
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// What `payment/status/{id}` answers from now on (`{"Status": "Processed", …}`).
    pub fn set_status(&self, qr_payment_id: &str, data: Value) {
        self.inner
            .lock()
            .unwrap()
            .statuses
            .insert(qr_payment_id.to_owned(), data);
    }

    pub fn set_poll_interval(&self, seconds: u64) {
        self.inner.lock().unwrap().poll_interval_s = seconds;
    }

    /// Links created from now on expire after `seconds`.
    pub fn set_link_lifetime(&self, seconds: i64) {
        self.inner.lock().unwrap().expire_in_s = seconds;
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
