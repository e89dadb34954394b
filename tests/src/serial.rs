//! A loopback proxy to moto that forwards one request at a time.
//!
//! moto does not isolate concurrent DynamoDB requests: `transact_write_items` applies
//! items one by one without a lock and rolls a cancelled transaction back by restoring a
//! deep copy of the whole table taken when *it* started, which erases writes other
//! requests committed meanwhile (moto 5.2). DynamoDB serialises transactions itself. Tests
//! of races reach moto through this proxy: every request is atomic, as on DynamoDB, while
//! handlers still run concurrently and interleave their reads and writes freely.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::sync::Arc;

struct ProxyState {
    http: reqwest::Client,
    upstream: String,
    turn: tokio::sync::Mutex<()>,
}

/// A loopback proxy to moto that admits one request at a time (see the module docs).
pub async fn serial_proxy(upstream: String) -> String {
    let state = Arc::new(ProxyState {
        http: reqwest::Client::new(),
        upstream: upstream.trim_end_matches('/').to_owned(),
        turn: tokio::sync::Mutex::new(()),
    });
    crate::fake::serve(Router::new().fallback(forward).with_state(state)).await
}

async fn forward(
    State(state): State<Arc<ProxyState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _turn = state.turn.lock().await;
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut request = state
        .http
        .request(method, format!("{}{path}", state.upstream))
        .body(body);
    for (name, value) in &headers {
        if name != http::header::HOST && name != http::header::CONTENT_LENGTH {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(upstream) => {
            let status = upstream.status();
            let headers = upstream.headers().clone();
            let bytes = upstream.bytes().await.unwrap_or_default();
            let mut response = (status, bytes).into_response();
            for (name, value) in &headers {
                if name != http::header::CONTENT_LENGTH && name != http::header::TRANSFER_ENCODING {
                    response.headers_mut().insert(name, value.clone());
                }
            }
            response
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

impl crate::TestEnv {
    /// Clients whose every request goes through a [`serial_proxy`] to moto, counted.
    pub async fn serial_clients(
        &self,
        counter: &sauda_shared::aws::AwsCallCounter,
    ) -> sauda_shared::aws::AwsClients {
        let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL (moto)");
        let proxied = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(crate::REGION))
            .endpoint_url(serial_proxy(endpoint).await)
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .load()
            .await;
        sauda_shared::aws::AwsClients::counted(&proxied, counter)
    }
}
