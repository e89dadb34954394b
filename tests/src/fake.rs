//! Local fake servers standing in for third-party SaaS. They record every request.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

/// A scripted answer: status plus JSON body.
#[derive(Clone, Debug)]
pub struct Scripted {
    pub status: u16,
    pub body: serde_json::Value,
    pub headers: Vec<(String, String)>,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    script: VecDeque<Scripted>,
    default: Option<Scripted>,
}

/// A fake HTTP API: answers from a script (then a default), and records requests.
#[derive(Clone)]
pub struct FakeServer {
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
        headers,
        body,
    });
    let answer = inner
        .script
        .pop_front()
        .or_else(|| inner.default.clone())
        .unwrap_or(Scripted {
            status: 200,
            body: serde_json::json!({"ok": true, "result": true}),
            headers: vec![],
        });
    let mut response = (
        StatusCode::from_u16(answer.status).unwrap(),
        axum::Json(answer.body),
    )
        .into_response();
    for (k, v) in answer.headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            axum::http::HeaderValue::from_str(&v).unwrap(),
        );
    }
    response
}

impl FakeServer {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
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

    pub fn push(&self, status: u16, body: serde_json::Value) {
        self.inner.lock().unwrap().script.push_back(Scripted {
            status,
            body,
            headers: vec![],
        });
    }

    /// Like [`push`](Self::push), with response headers (e.g. `Retry-After`).
    pub fn push_with_headers(
        &self,
        status: u16,
        body: serde_json::Value,
        headers: &[(&str, &str)],
    ) {
        self.inner.lock().unwrap().script.push_back(Scripted {
            status,
            body,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        });
    }

    pub fn set_default(&self, status: u16, body: serde_json::Value) {
        self.inner.lock().unwrap().default = Some(Scripted {
            status,
            body,
            headers: vec![],
        });
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().requests.clone()
    }
}
