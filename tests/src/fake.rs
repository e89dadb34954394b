//! Local fake servers standing in for third-party SaaS. They record every request.
//!
//! [`Fake`] is the one recording server: its state `S` decides each answer. The scripted
//! [`FakeServer`] (Telegram, WhatsApp, LLM, CRM) and the provider fakes
//! (`fake_stripe`, `fake_kaspi`) are built on it.

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

impl Scripted {
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self {
            status,
            body,
            headers: Vec::new(),
        }
    }

    fn into_response(self) -> Response {
        let mut response = (
            StatusCode::from_u16(self.status).unwrap(),
            axum::Json(self.body),
        )
            .into_response();
        for (k, v) in self.headers {
            response.headers_mut().insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                axum::http::HeaderValue::from_str(&v).unwrap(),
            );
        }
        response
    }
}

/// Serves `app` on a free loopback port until the test ends; returns its base URL.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    format!("http://{addr}")
}

/// How a fake's state answers one recorded request.
pub type Answer<S> = fn(&mut S, &Recorded) -> Scripted;

struct Shared<S> {
    requests: Vec<Recorded>,
    state: S,
    answer: Answer<S>,
}

/// A fake HTTP API: records every request and answers it from its state.
pub struct Fake<S> {
    pub base_url: String,
    shared: Arc<Mutex<Shared<S>>>,
}

impl<S> Clone for Fake<S> {
    fn clone(&self) -> Self {
        Self {
            base_url: self.base_url.clone(),
            shared: self.shared.clone(),
        }
    }
}

async fn handle<S: Send + 'static>(
    State(shared): State<Arc<Mutex<Shared<S>>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut shared = shared.lock().unwrap();
    let request = Recorded {
        method,
        path: uri.path().to_owned(),
        headers,
        body,
    };
    let answer = shared.answer;
    let scripted = answer(&mut shared.state, &request);
    shared.requests.push(request);
    scripted.into_response()
}

impl<S: Send + 'static> Fake<S> {
    pub async fn start(state: S, answer: Answer<S>) -> Self {
        let shared = Arc::new(Mutex::new(Shared {
            requests: Vec::new(),
            state,
            answer,
        }));
        let app = Router::new()
            .fallback(handle::<S>)
            .with_state(shared.clone());
        Self {
            base_url: serve(app).await,
            shared,
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().unwrap().requests.clone()
    }

    /// Reads or changes the fake's state (what it answers next).
    pub fn state<R>(&self, f: impl FnOnce(&mut S) -> R) -> R {
        f(&mut self.shared.lock().unwrap().state)
    }
}

#[derive(Default)]
pub struct Script {
    script: VecDeque<Scripted>,
    default: Option<Scripted>,
}

fn scripted(script: &mut Script, _: &Recorded) -> Scripted {
    script
        .script
        .pop_front()
        .or_else(|| script.default.clone())
        .unwrap_or_else(|| Scripted::json(200, serde_json::json!({"ok": true, "result": true})))
}

/// A fake HTTP API: answers from a script (then a default), and records requests.
#[derive(Clone)]
pub struct FakeServer {
    pub base_url: String,
    fake: Fake<Script>,
}

impl FakeServer {
    pub async fn start() -> Self {
        let fake = Fake::start(Script::default(), scripted).await;
        Self {
            base_url: fake.base_url.clone(),
            fake,
        }
    }

    pub fn push(&self, status: u16, body: serde_json::Value) {
        self.fake
            .state(|s| s.script.push_back(Scripted::json(status, body)));
    }

    /// Like [`push`](Self::push), with response headers (e.g. `Retry-After`).
    pub fn push_with_headers(
        &self,
        status: u16,
        body: serde_json::Value,
        headers: &[(&str, &str)],
    ) {
        let answer = Scripted {
            status,
            body,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        self.fake.state(|s| s.script.push_back(answer));
    }

    pub fn set_default(&self, status: u16, body: serde_json::Value) {
        self.fake
            .state(|s| s.default = Some(Scripted::json(status, body)));
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.fake.requests()
    }
}
