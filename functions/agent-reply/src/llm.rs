//! OpenAI-compatible Chat Completions over `reqwest`: OpenAI, OpenRouter, Azure OpenAI
//! (v1 API), vLLM and Ollama all speak it. Retries 429 and 5xx with the shared
//! backoff, honouring `Retry-After` / `retry-after-ms`, within a deadline; never
//! retries `insufficient_quota`, which no amount of waiting fixes. Answers are read
//! under a cap, and a tenant-chosen URL goes through the outbound URL policy.

use async_trait::async_trait;
use sauda_shared::outbound::{read_capped, BodyError, UrlError, UrlPolicy};
use sauda_shared::retry::Backoff;
use sauda_shared::secrets::Secret;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    pub fn system(text: impl Into<String>) -> Self {
        Self::text("system", text)
    }
    pub fn user(text: impl Into<String>) -> Self {
        Self::text("user", text)
    }
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::text("assistant", text)
    }
    fn text(role: &str, text: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: Some(text.into()),
            ..Default::default()
        }
    }
    pub fn tool_result(call_id: &str, result: &serde_json::Value) -> Self {
        Self {
            role: "tool".into(),
            content: Some(result.to_string()),
            tool_calls: Vec::new(),
            tool_call_id: Some(call_id.to_owned()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionCall,
}

fn function_type() -> String {
    "function".into()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    /// JSON text, as the model wrote it (may be malformed). Some servers send an
    /// object instead of a string; it is kept as its JSON text.
    #[serde(default, deserialize_with = "json_text")]
    pub arguments: String,
}

fn json_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => s,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    })
}

#[derive(Clone, Debug, Serialize)]
pub struct ChatRequest<'a> {
    pub model: &'a str,
    pub messages: &'a [ChatMessage],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<&'a str>,
    pub temperature: f32,
    pub max_tokens: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: i64,
    #[serde(default)]
    pub completion_tokens: i64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ChatResponse {
    pub choices: Vec<Choice>,
    #[serde(default)]
    pub usage: Option<Usage>,
    #[serde(default)]
    pub model: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Choice {
    pub message: ChatMessage,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// The account has no credit left: retrying cannot help.
    #[error("LLM quota exhausted: {0}")]
    Quota(String),
    /// 4xx other than 429: bad key, unknown model, request too large.
    #[error("LLM refused the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    /// 429/5xx/network failures that outlasted the retries or the deadline.
    #[error("LLM unavailable after {attempts} attempt(s): {message}")]
    Unavailable { attempts: u32, message: String },
    #[error("LLM answer is not a chat completion: {0}")]
    Malformed(String),
    /// The tenant's model URL is not allowed by the outbound policy: never called.
    #[error("the model URL is refused: {0}")]
    Refused(UrlError),
}

/// Where to send a request and with which key.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub base_url: String,
    pub api_key: Secret,
    pub model: String,
    /// Chosen by the tenant (`agent.llm_base_url`): checked against the outbound URL
    /// policy on every call. The platform's own URL (env) is trusted.
    pub tenant_chosen: bool,
}

impl Endpoint {
    /// `{base}/chat/completions`, keeping a query string (`?api-version=…`) at the end.
    pub fn url(&self) -> String {
        let (path, query) = match self.base_url.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (self.base_url.as_str(), None),
        };
        let mut url = format!("{}/chat/completions", path.trim_end_matches('/'));
        if let Some(q) = query {
            url.push('?');
            url.push_str(q);
        }
        url
    }
}

/// The most of a model's answer read (a completion of 700 tokens is a few KB).
pub const MAX_RESPONSE_BYTES: usize = 2 * 1024 * 1024;

#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    /// Between attempts, unless the server says how long to wait (`Retry-After`).
    pub backoff: Backoff,
    /// Longest single attempt.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff: Backoff::new(Duration::from_millis(400), 2, Duration::from_secs(8)),
            attempt_timeout: Duration::from_secs(15),
        }
    }
}

/// The model port: one chat completion, retried as the implementation sees fit, by
/// `deadline`.
#[async_trait]
pub trait ChatModel: Send + Sync {
    async fn complete(
        &self,
        endpoint: &Endpoint,
        request: &ChatRequest<'_>,
        deadline: Instant,
    ) -> Result<ChatResponse, LlmError>;
}

/// Chat Completions over HTTP: the platform's endpoint with a plain client, a
/// tenant-chosen one only through the outbound URL policy.
#[derive(Clone, Debug)]
pub struct LlmClient {
    platform: reqwest::Client,
    tenant: reqwest::Client,
    policy: UrlPolicy,
    pub retry: RetryPolicy,
}

/// Whether a request failed because the policy's resolver refused the address.
fn refused_by_policy(e: &reqwest::Error) -> Option<UrlError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(refused) = err.downcast_ref::<UrlError>() {
            return Some(refused.clone());
        }
        source = err.source();
    }
    None
}

impl LlmClient {
    pub fn new(retry: RetryPolicy, policy: UrlPolicy) -> Self {
        let platform = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .build()
            .unwrap_or_default();
        Self {
            platform,
            tenant: policy.client(retry.attempt_timeout),
            policy,
            retry,
        }
    }

    /// One attempt: `Ok` with the answer, or the error and whether (and when) to retry.
    async fn attempt(
        &self,
        endpoint: &Endpoint,
        url: &str,
        request: &ChatRequest<'_>,
        timeout: Duration,
    ) -> Result<ChatResponse, Attempt> {
        let http = if endpoint.tenant_chosen {
            &self.tenant
        } else {
            &self.platform
        };
        let mut call = http
            .post(url)
            .timeout(timeout)
            .bearer_auth(endpoint.api_key.expose())
            .json(request);
        if endpoint.base_url.contains(".azure.com") {
            call = call.header("api-key", endpoint.api_key.expose());
        }
        let response = match call.send().await {
            Ok(r) => r,
            Err(e) => {
                return Err(match refused_by_policy(&e) {
                    Some(refused) => Attempt::Final(LlmError::Refused(refused)),
                    None => Attempt::Retry(format!("request failed: {}", e.without_url()), None),
                })
            }
        };
        let status = response.status();
        let wait = retry_after(response.headers());
        let body = match read_capped(response, MAX_RESPONSE_BYTES).await {
            Ok(body) => body,
            Err(e @ BodyError::TooLarge(_)) => {
                return Err(Attempt::Final(LlmError::Malformed(e.to_string())))
            }
            Err(e) => return Err(Attempt::Retry(e.to_string(), wait)),
        };
        if status.is_success() {
            return serde_json::from_slice::<ChatResponse>(&body)
                .map_err(|e| LlmError::Malformed(e.to_string()))
                .and_then(|r| {
                    if r.choices.is_empty() {
                        Err(LlmError::Malformed("no choices".into()))
                    } else {
                        Ok(r)
                    }
                })
                .map_err(Attempt::Final);
        }
        let (code, message) = error_of(&body, status);
        if code.as_deref() == Some("insufficient_quota") {
            return Err(Attempt::Final(LlmError::Quota(message)));
        }
        if status.as_u16() != 429 && !status.is_server_error() {
            return Err(Attempt::Final(LlmError::Rejected {
                status: status.as_u16(),
                message,
            }));
        }
        Err(Attempt::Retry(
            format!("HTTP {}: {message}", status.as_u16()),
            wait,
        ))
    }
}

enum Attempt {
    Final(LlmError),
    /// What went wrong, and how long the server asked us to wait.
    Retry(String, Option<Duration>),
}

#[async_trait]
impl ChatModel for LlmClient {
    /// Retries 429/5xx/timeouts until `deadline`; refuses a tenant URL the policy does
    /// not allow before any byte is sent.
    async fn complete(
        &self,
        endpoint: &Endpoint,
        request: &ChatRequest<'_>,
        deadline: Instant,
    ) -> Result<ChatResponse, LlmError> {
        let url = endpoint.url();
        if endpoint.tenant_chosen {
            self.policy.check(&url).map_err(LlmError::Refused)?;
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining < Duration::from_millis(200) {
                return Err(LlmError::Unavailable {
                    attempts: attempt - 1,
                    message: "no time left before the deadline".into(),
                });
            }
            let timeout = remaining.min(self.retry.attempt_timeout);
            let (error, retry_after) = match self.attempt(endpoint, &url, request, timeout).await {
                Ok(answer) => return Ok(answer),
                Err(Attempt::Final(e)) => return Err(e),
                Err(Attempt::Retry(error, wait)) => (error, wait),
            };
            if attempt >= self.retry.max_attempts {
                return Err(LlmError::Unavailable {
                    attempts: attempt,
                    message: error,
                });
            }
            let wait = retry_after.unwrap_or_else(|| self.retry.backoff.delay(attempt));
            if Instant::now() + wait >= deadline {
                return Err(LlmError::Unavailable {
                    attempts: attempt,
                    message: format!("{error}; the next try would pass the deadline"),
                });
            }
            tracing::info!(attempt, wait_ms = wait.as_millis() as u64, %error, "LLM call failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        return Some(Duration::from_millis(ms.max(0.0) as u64));
    }
    let raw = get("retry-after")?.trim();
    if let Ok(seconds) = raw.parse::<f64>() {
        return Some(Duration::from_millis((seconds.max(0.0) * 1000.0) as u64));
    }
    // An HTTP date.
    let at = jiff::fmt::rfc2822::parse(raw).ok()?.timestamp();
    let ms = (at - jiff::Timestamp::now()).get_milliseconds();
    Some(Duration::from_millis(ms.max(0) as u64))
}

/// The error's `code` (or `type`) and message from an OpenAI-style error body.
fn error_of(body: &[u8], status: reqwest::StatusCode) -> (Option<String>, String) {
    let parsed: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let error = &parsed["error"];
    let code = error["code"]
        .as_str()
        .or_else(|| error["type"].as_str())
        .map(str::to_owned);
    let message = error["message"]
        .as_str()
        .map(|m| m.chars().take(300).collect())
        .unwrap_or_else(|| format!("HTTP {status}"));
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_query_strings() {
        let e = |base: &str| Endpoint {
            base_url: base.into(),
            api_key: Secret::new("k"),
            model: "m".into(),
            tenant_chosen: false,
        };
        assert_eq!(
            e("https://api.openai.com/v1/").url(),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            e("https://x.openai.azure.com/openai/deployments/d?api-version=2024-10-21").url(),
            "https://x.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21"
        );
    }

    #[test]
    fn tool_arguments_as_string_or_object() {
        let call: ToolCall = serde_json::from_str(
            r#"{"id":"1","type":"function","function":{"name":"f","arguments":{"query":"x"}}}"#,
        )
        .unwrap();
        assert_eq!(call.function.arguments, r#"{"query":"x"}"#);
        let call: ToolCall = serde_json::from_str(
            r#"{"id":"1","function":{"name":"f","arguments":"{\"query\":\"x\"}"}}"#,
        )
        .unwrap();
        assert_eq!(call.function.arguments, r#"{"query":"x"}"#);
    }

    #[test]
    fn retry_after_forms() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
    }

    #[tokio::test]
    async fn a_tenant_url_outside_the_policy_is_never_called() {
        let client = LlmClient::new(RetryPolicy::default(), UrlPolicy::default());
        let messages = [ChatMessage::user("hi")];
        let request = ChatRequest {
            model: "m",
            messages: &messages,
            tools: None,
            tool_choice: None,
            temperature: 0.2,
            max_tokens: 10,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        for (base, why) in [
            ("https://169.254.169.254/latest", UrlError::ForbiddenAddress),
            ("https://[fd00:ec2::254]/v1", UrlError::ForbiddenAddress),
            ("https://10.1.2.3/v1", UrlError::ForbiddenAddress),
            ("http://api.example.com/v1", UrlError::NotHttps),
        ] {
            let endpoint = Endpoint {
                base_url: base.into(),
                api_key: Secret::new("sk-tenant"),
                model: "m".into(),
                tenant_chosen: true,
            };
            let err = client
                .complete(&endpoint, &request, deadline)
                .await
                .unwrap_err();
            assert_eq!(err, LlmError::Refused(why), "{base}");
        }
    }

    #[test]
    fn quota_is_recognised_by_code_or_type() {
        let (code, _) = error_of(
            br#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":null}}"#,
            reqwest::StatusCode::TOO_MANY_REQUESTS,
        );
        assert_eq!(code.as_deref(), Some("insufficient_quota"));
    }
}
