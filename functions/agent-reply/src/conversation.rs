//! The contact partition: one Query reads the profile and the newest messages; one
//! `TransactWriteItems` stores the outcome of a job.
//!
//! The Query is descending with `SK >= "MSG#"` and `Limit 21`. `PROFILE` sorts after
//! every `MSG#…` key and is the only contact key that does (see `keys`), so it comes
//! first, then the newest 20 messages: profile, history, idempotency (the inbound
//! message's `reply_state`) and the rate-limit window in one read.

use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason, Put, TransactWriteItem, Update};
use aws_smithy_types::error::display::DisplayErrorContext;
use sauda_shared::funnel::Stage;
use sauda_shared::keys;
use sauda_shared::message::{Attachment, Direction, MessageItem, MessageKind, OutboundMessage};
use sauda_shared::ports::StoreError;
use sauda_shared::TenantId;
use serde::Deserialize;
use std::collections::HashMap;

pub const HISTORY: i32 = 20;

/// The attributes of the contact profile the agent reads (`contact::ContactProfile`
/// plus its rate-limit window).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Profile {
    #[serde(default)]
    pub stage: Option<Stage>,
    #[serde(default)]
    pub agent_paused: bool,
    #[serde(default)]
    pub lead_created_ms: Option<i64>,
    #[serde(default)]
    pub intent_at_ms: Option<i64>,
    #[serde(default)]
    pub first_seen_ms: Option<i64>,
    #[serde(default)]
    pub last_inbound_ms: Option<i64>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Sliding-window rate limit: the current minute, its count, the previous minute's.
    #[serde(default)]
    pub rl_window: Option<i64>,
    #[serde(default)]
    pub rl_count: Option<i64>,
    #[serde(default)]
    pub rl_prev: Option<i64>,
    /// The minute in which the customer was last told to slow down.
    #[serde(default)]
    pub rl_notice_window: Option<i64>,
}

/// A stored message as the agent reads it (`message::MessageItem` plus its reply state).
#[derive(Clone, Debug, Deserialize)]
pub struct Stored {
    #[serde(rename = "SK")]
    pub sk: String,
    pub direction: Direction,
    pub timestamp_ms: i64,
    #[serde(default)]
    pub kind: Option<MessageKind>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub attachment: Option<Attachment>,
    #[serde(default)]
    pub stored_at_ms: Option<i64>,
    /// Set on inbound messages once they are handled: `replied`, `fallback`, ...
    #[serde(default)]
    pub reply_state: Option<String>,
    /// Set on outbound messages: `llm`, `fallback`, `rate_limit_notice`.
    #[serde(default)]
    pub reply_kind: Option<String>,
}

pub struct Conversation {
    pub profile: Option<Profile>,
    /// Newest first.
    pub messages: Vec<Stored>,
}

fn store_err<E: std::error::Error>(what: &str, e: E) -> StoreError {
    StoreError::Unavailable(format!("{what}: {}", DisplayErrorContext(&e)))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Reads the profile and the newest messages of a conversation (one Query).
pub async fn read(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    tenant: &TenantId,
    contact: &str,
) -> Result<Conversation, StoreError> {
    let out = dynamo
        .query()
        .table_name(table)
        .key_condition_expression("PK = :pk AND SK >= :msg")
        .expression_attribute_values(":pk", s(keys::contact_pk(tenant, contact)))
        .expression_attribute_values(":msg", s(keys::MESSAGE_SK_PREFIX))
        .scan_index_forward(false)
        .limit(HISTORY + 1)
        .send()
        .await
        .map_err(|e| store_err("read conversation", e))?;
    let mut profile = None;
    let mut messages = Vec::new();
    for item in out.items.unwrap_or_default() {
        let sk = item
            .get("SK")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        if sk == keys::CONTACT_PROFILE_SK {
            profile = Some(
                serde_dynamo::from_item(item)
                    .map_err(|e| StoreError::Unavailable(format!("contact profile: {e}")))?,
            );
        } else if sk.starts_with(keys::MESSAGE_SK_PREFIX) {
            messages.push(
                serde_dynamo::from_item(item)
                    .map_err(|e| StoreError::Unavailable(format!("message {sk}: {e}")))?,
            );
        }
    }
    messages.truncate(HISTORY as usize);
    Ok(Conversation { profile, messages })
}

/// What a job decided about one inbound message; stored on it so that a redelivery
/// sees it was handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyState {
    /// Answered by the model.
    Replied,
    /// Answered from retrieval alone (no model, model failed, budget spent).
    Fallback,
    /// Over the rate limit: told once per minute to slow down.
    RateLimitNotice,
    /// Over the rate limit, notice already sent this minute: no reply.
    RateLimited,
    /// A manager has the conversation: the agent stays silent.
    Paused,
    /// A newer message of the customer was waiting; that one gets the answer.
    Superseded,
    /// WhatsApp's 24-hour window had closed: nothing may be sent.
    OutsideWindow,
    /// The platform refused the reply for good (bot blocked, number invalid).
    Undeliverable,
    /// The tenant has no credentials for this channel.
    ChannelNotConfigured,
    /// The tenant switched the agent off.
    AgentDisabled,
}

impl ReplyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replied => "replied",
            Self::Fallback => "fallback",
            Self::RateLimitNotice => "rate_limit_notice",
            Self::RateLimited => "rate_limited",
            Self::Paused => "paused",
            Self::Superseded => "superseded",
            Self::OutsideWindow => "outside_window",
            Self::Undeliverable => "undeliverable",
            Self::ChannelNotConfigured => "channel_not_configured",
            Self::AgentDisabled => "agent_disabled",
        }
    }
}

/// `SET` assignments for the profile, built with placeholder names (several attribute
/// names, `language` among them, are DynamoDB reserved words).
#[derive(Default)]
pub struct ProfileUpdate {
    set: Vec<(String, AttributeValue)>,
    set_if_absent: Vec<(String, AttributeValue)>,
    remove: Vec<String>,
}

impl ProfileUpdate {
    pub fn set(&mut self, name: &str, value: AttributeValue) -> &mut Self {
        self.set.push((name.to_owned(), value));
        self
    }

    pub fn set_if_absent(&mut self, name: &str, value: AttributeValue) -> &mut Self {
        self.set_if_absent.push((name.to_owned(), value));
        self
    }

    pub fn remove(&mut self, name: &str) -> &mut Self {
        self.remove.push(name.to_owned());
        self
    }

    fn expression(
        &self,
    ) -> (
        String,
        HashMap<String, String>,
        HashMap<String, AttributeValue>,
    ) {
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut sets = Vec::new();
        let mut i = 0;
        for (name, value) in &self.set {
            names.insert(format!("#a{i}"), name.clone());
            values.insert(format!(":v{i}"), value.clone());
            sets.push(format!("#a{i} = :v{i}"));
            i += 1;
        }
        for (name, value) in &self.set_if_absent {
            names.insert(format!("#a{i}"), name.clone());
            values.insert(format!(":v{i}"), value.clone());
            sets.push(format!("#a{i} = if_not_exists(#a{i}, :v{i})"));
            i += 1;
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if !self.remove.is_empty() {
            let mut removes = Vec::new();
            for name in &self.remove {
                names.insert(format!("#a{i}"), name.clone());
                removes.push(format!("#a{i}"));
                i += 1;
            }
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        (expression, names, values)
    }
}

/// The reply to store next to the conversation.
pub struct OutboundRecord {
    pub message: OutboundMessage,
    /// Usage, model, latency, all platform message ids, ...
    pub extra: HashMap<String, AttributeValue>,
    /// Writes the `OUT#` pointer so delivery statuses (WhatsApp) find the message.
    pub pointer: bool,
}

/// Everything one job writes, in one transaction.
pub struct JobWrite<'a> {
    pub tenant: &'a TenantId,
    pub contact: &'a str,
    pub inbound_sk: &'a str,
    pub state: ReplyState,
    pub now_ms: i64,
    pub outbound: Option<OutboundRecord>,
    pub profile: ProfileUpdate,
}

#[derive(Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    /// The inbound message already had a reply state: another delivery handled it.
    AlreadyHandled,
}

/// Stores a job's outcome: the reply (and its pointer), the inbound message's reply
/// state (conditional: this is the idempotency guard) and the profile, atomically.
pub async fn write(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    job: JobWrite<'_>,
) -> Result<WriteOutcome, StoreError> {
    let pk = keys::contact_pk(job.tenant, job.contact);
    let mut items = Vec::new();
    let mut reply_sk = None;
    if let Some(out) = &job.outbound {
        let message = MessageItem::outbound(&out.message, job.now_ms);
        reply_sk = Some(message.sk.clone());
        let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(&message)
            .map_err(|e| StoreError::Unavailable(format!("outbound item: {e}")))?;
        item.extend(out.extra.clone());
        items.push(put(table, item)?);
        if out.pointer {
            let (ppk, psk) = keys::outbound_pointer(job.tenant, &out.message.platform_message_id);
            // Same shape as `aws::DynamoMessageStore::put_outbound` writes.
            let pointer = HashMap::from([
                ("PK".to_owned(), s(ppk)),
                ("SK".to_owned(), s(psk)),
                ("message_pk".to_owned(), s(message.pk.clone())),
                ("message_sk".to_owned(), s(message.sk.clone())),
            ]);
            items.push(put(table, pointer)?);
        }
    }
    let mut inbound = Update::builder()
        .table_name(table)
        .key("PK", s(pk.clone()))
        .key("SK", s(job.inbound_sk))
        .condition_expression("attribute_exists(PK) AND attribute_not_exists(reply_state)")
        .expression_attribute_values(":state", s(job.state.as_str()))
        .expression_attribute_values(":at", n(job.now_ms));
    let mut inbound_expression = "SET reply_state = :state, reply_at_ms = :at".to_owned();
    if let Some(sk) = &reply_sk {
        inbound_expression.push_str(", reply_sk = :reply");
        inbound = inbound.expression_attribute_values(":reply", s(sk.clone()));
    }
    let inbound_index = items.len();
    items.push(
        TransactWriteItem::builder()
            .update(
                inbound
                    .update_expression(inbound_expression)
                    .build()
                    .map_err(|e| store_err("inbound update", e))?,
            )
            .build(),
    );
    let (expression, names, values) = job.profile.expression();
    items.push(
        TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(table)
                    .key("PK", s(pk))
                    .key("SK", s(keys::CONTACT_PROFILE_SK))
                    .update_expression(expression)
                    .set_expression_attribute_names(Some(names))
                    .set_expression_attribute_values(Some(values))
                    .build()
                    .map_err(|e| store_err("profile update", e))?,
            )
            .build(),
    );
    // Unique per attempt (the reply's key carries its time), so the SDK's own retries
    // of this call are idempotent and a later attempt never collides with it.
    let token = {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!(
            "{}|{}|{}",
            job.inbound_sk,
            reply_sk.as_deref().unwrap_or(""),
            job.now_ms
        ));
        hex::encode(&digest[..18])
    };
    let result = dynamo
        .transact_write_items()
        .set_transact_items(Some(items))
        .client_request_token(token)
        .send()
        .await;
    match result {
        Ok(_) => Ok(WriteOutcome::Written),
        Err(e) => {
            let reasons: Vec<CancellationReason> = e
                .as_service_error()
                .and_then(|se| match se {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => {
                        Some(c.cancellation_reasons().to_vec())
                    }
                    _ => None,
                })
                .unwrap_or_default();
            let inbound_failed = reasons
                .get(inbound_index)
                .and_then(|r| r.code())
                .is_some_and(|c| c == "ConditionalCheckFailed");
            if inbound_failed {
                Ok(WriteOutcome::AlreadyHandled)
            } else {
                Err(store_err("write reply", e))
            }
        }
    }
}

fn put(
    table: &str,
    item: HashMap<String, AttributeValue>,
) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(PK)")
        .build()
        .map_err(|e| store_err("put", e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// Sliding-window rate (Cloudflare's approximation): this minute's count plus the
/// previous minute's, weighted by how much of it still overlaps the last 60 s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateWindow {
    pub window: i64,
    pub count: i64,
    pub previous: i64,
}

impl RateWindow {
    /// The window after one more message at `ts_ms`.
    pub fn after(profile: Option<&Profile>, ts_ms: i64) -> Self {
        let window = ts_ms.div_euclid(60_000);
        let (stored_window, count, prev) = profile
            .map(|p| {
                (
                    p.rl_window.unwrap_or(i64::MIN),
                    p.rl_count.unwrap_or(0),
                    p.rl_prev.unwrap_or(0),
                )
            })
            .unwrap_or((i64::MIN, 0, 0));
        if stored_window == window {
            Self {
                window,
                count: count + 1,
                previous: prev,
            }
        } else if stored_window == window - 1 {
            Self {
                window,
                count: 1,
                previous: count,
            }
        } else if stored_window > window {
            // An older message processed late: count it in the newer window.
            Self {
                window: stored_window,
                count: count + 1,
                previous: prev,
            }
        } else {
            Self {
                window,
                count: 1,
                previous: 0,
            }
        }
    }

    /// Messages in the 60 s up to `ts_ms`, estimated.
    pub fn rate(&self, ts_ms: i64) -> f64 {
        let elapsed = (ts_ms.rem_euclid(60_000)) as f64 / 60_000.0;
        let overlap = if ts_ms.div_euclid(60_000) == self.window {
            1.0 - elapsed
        } else {
            0.0
        };
        self.count as f64 + self.previous as f64 * overlap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(w: RateWindow) -> Profile {
        Profile {
            rl_window: Some(w.window),
            rl_count: Some(w.count),
            rl_prev: Some(w.previous),
            ..Default::default()
        }
    }

    #[test]
    fn sliding_window_counts_the_last_minute() {
        let start = 1_795_552_200_000; // a whole minute
        let mut w = RateWindow::after(None, start);
        for i in 1..30 {
            w = RateWindow::after(Some(&profile(w)), start + i * 1_000);
        }
        assert_eq!(w.count, 30);
        assert!((w.rate(start + 29_000) - 30.0).abs() < 1e-9);
        // 30 s into the next minute, half of the previous minute still counts.
        let next = RateWindow::after(Some(&profile(w)), start + 90_000);
        assert_eq!((next.count, next.previous), (1, 30));
        assert!((next.rate(start + 90_000) - 16.0).abs() < 1e-9);
        // Two minutes of silence clear it.
        let later = RateWindow::after(Some(&profile(next)), start + 240_000);
        assert_eq!((later.count, later.previous), (1, 0));
    }

    #[test]
    fn profile_update_uses_placeholders() {
        let mut u = ProfileUpdate::default();
        u.set("language", s("ru"))
            .set_if_absent("first_seen_ms", n(1))
            .remove("GSI1PK");
        let (expr, names, values) = u.expression();
        assert_eq!(
            expr,
            "SET #a0 = :v0, #a1 = if_not_exists(#a1, :v1) REMOVE #a2"
        );
        assert_eq!(names["#a0"], "language");
        assert_eq!(values.len(), 2);
    }
}
