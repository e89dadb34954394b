//! The outbound CRM webhook: lead events POSTed to the tenant's URL, signed.
//!
//! Signing scheme (the same shape as Stripe's, so receivers can reuse their code):
//!
//! ```text
//! POST {leads.crm_webhook_url}
//! Content-Type: application/json
//! X-Sauda-Event: lead.created
//! X-Sauda-Delivery: dlv_01J…        same on every retry: deduplicate on it
//! X-Sauda-Timestamp: 1795552200     seconds since the epoch, of this attempt
//! X-Sauda-Signature: t=1795552200,v1=<hex HMAC-SHA256(secret, "{t}.{raw body}")>
//! ```
//!
//! The receiver recomputes the HMAC over the raw body with its copy of the tenant's
//! `crm_webhook_secret`, compares in constant time, and rejects timestamps more than
//! five minutes away from its clock. The body is the same bytes on every attempt.
//!
//! The URL is the tenant's choice, so every call goes through the outbound policy
//! (`sauda_shared::outbound`): checked again before each attempt, resolved by a
//! resolver that refuses private, loopback and metadata addresses, no redirects; and
//! the answer is read under a cap.

use crate::model::Lead;
use hmac::{Hmac, Mac};
use sauda_shared::outbound::{read_capped, UrlError, UrlPolicy};
use sauda_shared::retry::Backoff;
use sauda_shared::secrets::Secret;
use sauda_shared::TenantId;
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::Duration;

pub const EVENT_HEADER: &str = "x-sauda-event";
pub const DELIVERY_HEADER: &str = "x-sauda-delivery";
pub const TIMESTAMP_HEADER: &str = "x-sauda-timestamp";
pub const SIGNATURE_HEADER: &str = "x-sauda-signature";

/// Receives of one CRM record before it goes to the dead-letter queue (the queue's
/// `maxReceiveCount`).
pub const MAX_RECEIVES: u32 = 5;

/// The CRM's answer is only drained, never used: a few KiB is plenty.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Waits between failed attempts: 30 s, 2.5 min, 12.5 min, then 1 h (exact, so that
/// people and tests can predict them).
pub const RETRY: Backoff =
    Backoff::new(Duration::from_secs(30), 5, Duration::from_secs(3600)).exact();

/// The delivery id of the event recorded by one history entry.
pub fn delivery_id(history_id: &str) -> String {
    format!("dlv_{}", history_id.to_ascii_lowercase())
}

/// A lead event as the CRM receives it.
pub fn event(
    kind: &str,
    tenant: &TenantId,
    lead: &Lead,
    history_id: &str,
    at_ms: i64,
    change: Value,
) -> Value {
    let occurred_at = jiff::Timestamp::from_millisecond(at_ms)
        .map(|t| t.to_string())
        .unwrap_or_default();
    json!({
        "type": kind,
        "delivery_id": delivery_id(history_id),
        "tenant": tenant,
        "occurred_at": occurred_at,
        "lead": lead.to_json(),
        "change": change,
    })
}

/// `t={t},v1={hex}` over `"{t}.{body}"`.
pub fn signature(secret: &Secret, timestamp_s: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes any key length");
    mac.update(timestamp_s.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp_s},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeliveryError {
    #[error("the CRM answered {status}")]
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("the CRM could not be reached: {0}")]
    Unreachable(String),
    /// The URL is not one Sauda may call; it was not called. Waiting will not help.
    #[error("the CRM URL is refused: {0}")]
    Refused(UrlError),
}

/// How long to wait before the next attempt after the `receive_count`-th failed one:
/// the schedule, or longer when the CRM asked for it.
pub fn backoff(receive_count: u32, retry_after: Option<Duration>) -> Duration {
    // SQS caps a visibility timeout at 12 hours.
    RETRY
        .delay(receive_count.max(1))
        .max(retry_after.unwrap_or_default())
        .min(sauda_shared::consumer::MAX_DELAY)
}

/// Posts to tenants' CRMs under the outbound URL policy.
#[derive(Clone, Debug)]
pub struct CrmClient {
    policy: UrlPolicy,
    http: reqwest::Client,
}

impl CrmClient {
    pub fn new(policy: UrlPolicy) -> Self {
        Self {
            policy,
            http: policy.client(Duration::from_secs(8)),
        }
    }

    pub fn policy(&self) -> UrlPolicy {
        self.policy
    }

    /// One signed attempt. `Ok` only for a 2xx answer.
    pub async fn post(
        &self,
        url: &str,
        secret: &Secret,
        delivery_id: &str,
        event_type: &str,
        body: Vec<u8>,
        now_s: i64,
    ) -> Result<u16, DeliveryError> {
        let url = self.policy.check(url).map_err(DeliveryError::Refused)?;
        let response = self
            .http
            .post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, "Sauda-Webhooks/1.0")
            .header(EVENT_HEADER, event_type)
            .header(DELIVERY_HEADER, delivery_id)
            .header(TIMESTAMP_HEADER, now_s.to_string())
            .header(SIGNATURE_HEADER, signature(secret, now_s, &body))
            .body(body)
            .send()
            .await
            .map_err(|e| match refused_by_resolver(&e) {
                Some(why) => DeliveryError::Refused(why),
                None => DeliveryError::Unreachable(without_url(&e)),
            })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // Drained under the cap; its content does not change the outcome.
        if let Err(e) = read_capped(response, MAX_RESPONSE_BYTES).await {
            tracing::debug!(error = %e, "CRM answer not read");
        }
        if status.is_success() {
            return Ok(status.as_u16());
        }
        Err(DeliveryError::Status {
            status: status.as_u16(),
            retry_after,
        })
    }
}

/// The policy's resolver refused the name's addresses (a public name pointing inside).
fn refused_by_resolver(e: &reqwest::Error) -> Option<UrlError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(why) = err.downcast_ref::<UrlError>() {
            return Some(why.clone());
        }
        source = err.source();
    }
    None
}

/// A reqwest error without its URL: tenants may put credentials in query strings.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    kind.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urls_the_policy_refuses_are_never_called() {
        let crm = CrmClient::new(UrlPolicy::default());
        for url in [
            "http://127.0.0.1:9/hook",
            "https://localhost/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.5/hook",
            "https://user:pw@crm.example.kz/hook",
        ] {
            let e = crm
                .post(
                    url,
                    &Secret::new("s"),
                    "dlv_1",
                    "lead.created",
                    b"{}".to_vec(),
                    1,
                )
                .await
                .unwrap_err();
            assert!(matches!(e, DeliveryError::Refused(_)), "{url}: {e:?}");
        }
    }

    #[test]
    fn signature_is_stripe_compatible() {
        let secret = Secret::new("whsec_test");
        let body = br#"{"type":"lead.created"}"#;
        let header = signature(&secret, 1_795_552_200, body);
        assert!(header.starts_with("t=1795552200,v1="));
        assert_eq!(
            sauda_shared::signature::verify_stripe_signature(
                "whsec_test",
                body,
                Some(&header),
                1_795_552_260,
                300
            ),
            Ok(())
        );
        assert!(sauda_shared::signature::verify_stripe_signature(
            "other",
            body,
            Some(&header),
            1_795_552_260,
            300
        )
        .is_err());
    }

    #[test]
    fn backoff_grows_honours_retry_after_and_stays_within_sqs_limits() {
        let secs: Vec<u64> = (1..=5).map(|n| backoff(n, None).as_secs()).collect();
        assert_eq!(secs, [30, 150, 750, 3600, 3600]);
        assert_eq!(backoff(1, Some(Duration::from_secs(90))).as_secs(), 90);
        assert_eq!(
            backoff(1, Some(Duration::from_secs(10 * 24 * 3600))).as_secs(),
            12 * 3600
        );
    }
}
