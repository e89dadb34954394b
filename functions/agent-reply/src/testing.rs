//! In-memory ports and a ready context for the stages' unit tests (no AWS, no HTTP).

use crate::conversation::{Conversation, Stored};
use crate::llm::{ChatModel, ChatRequest, ChatResponse, Endpoint, LlmError};
use crate::reply::load::Context;
use crate::store::{AlreadyHandled, ConversationStore, MonthUsage, UsageStore, WriteOutcome};
use crate::usage::{Marker, Tally};
use async_trait::async_trait;
use sauda_shared::contact::ContactProfile;
use sauda_shared::envelope::Envelope;
use sauda_shared::message::{Channel, Direction, InboundMessage, MessageKind};
use sauda_shared::plan::WritePlan;
use sauda_shared::ports::{MessageQueue, QueueError, SecretError, SecretSource, StoreError};
use sauda_shared::secrets::{PlatformSecrets, Secret, TenantSecrets};
use sauda_shared::tenant::TenantConfig;
use sauda_shared::TenantId;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub const NOW: i64 = 1_795_552_230_000;
/// When the message in [`ctx`] was sent.
pub const TS: i64 = NOW - 1_000;

pub fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

pub fn stored_in(sk: &str, ts: i64) -> Stored {
    Stored {
        sk: sk.into(),
        direction: Direction::In,
        timestamp_ms: ts,
        kind: Some(MessageKind::Text),
        text: None,
        attachment: None,
        stored_at_ms: Some(ts + 100),
        reply_state: None,
        reply_kind: None,
        order_ms: None,
    }
}

pub fn message(text: &str) -> InboundMessage {
    InboundMessage {
        tenant: tenant(),
        channel: Channel::Telegram,
        contact: "tg-42".into(),
        platform_message_id: "7".into(),
        timestamp_ms: TS,
        kind: MessageKind::Text,
        text: Some(text.into()),
        attachment: None,
        display_name: Some("Aida".into()),
        language: Some("ru".into()),
        reply_to: "42".into(),
        thread_id: None,
    }
}

/// The conversation's profile, created empty when absent.
pub fn profile(conv: &mut Conversation) -> &mut ContactProfile {
    conv.profile.get_or_insert_with(ContactProfile::default)
}

/// A context for `message`, stored as the newest message of its conversation.
pub fn ctx_for(
    message: InboundMessage,
    tenant: impl FnOnce(&mut TenantConfig),
    conv: impl FnOnce(&mut Conversation),
) -> Context {
    let mut config = TenantConfig::new(self::tenant(), "Acme");
    config.default_language = "ru".into();
    tenant(&mut config);
    let mut conversation = Conversation {
        profile: None,
        messages: vec![Stored {
            text: message.text.clone(),
            attachment: message.attachment.clone(),
            ..stored_in(&message.sk(), message.timestamp_ms)
        }],
    };
    conv(&mut conversation);
    Context::new(Arc::new(config), message, conversation, NOW)
}

/// A Russian question on Telegram.
pub fn ctx(
    tenant: impl FnOnce(&mut TenantConfig),
    conv: impl FnOnce(&mut Conversation),
) -> Context {
    ctx_for(message("Сколько стоит насос?"), tenant, conv)
}

/// A WhatsApp message sent at `ts`.
pub fn whatsapp_ctx(ts: i64) -> Context {
    let m = InboundMessage {
        channel: Channel::Whatsapp,
        contact: "wa-77011234567".into(),
        reply_to: "77011234567".into(),
        timestamp_ms: ts,
        ..message("Есть доставка?")
    };
    ctx_for(m, |_| {}, |_| {})
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap()
}

#[derive(Default)]
pub struct MemorySecrets {
    pub tenant: Option<TenantSecrets>,
    pub platform: PlatformSecrets,
    reads: Mutex<(u32, u32)>,
}

impl MemorySecrets {
    pub fn with_platform_key(key: &str) -> Self {
        Self {
            platform: PlatformSecrets {
                llm_api_key: Some(Secret::new(key)),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    pub fn tenant_reads(&self) -> u32 {
        lock(&self.reads).0
    }

    pub fn platform_reads(&self) -> u32 {
        lock(&self.reads).1
    }
}

#[async_trait]
impl SecretSource for MemorySecrets {
    async fn tenant_secrets(
        &self,
        _: &TenantId,
    ) -> Result<Option<Arc<TenantSecrets>>, SecretError> {
        lock(&self.reads).0 += 1;
        Ok(self.tenant.clone().map(Arc::new))
    }

    async fn platform_secrets(&self) -> Result<Arc<PlatformSecrets>, SecretError> {
        lock(&self.reads).1 += 1;
        Ok(Arc::new(self.platform.clone()))
    }
}

/// The usage item in memory, counting reads.
#[derive(Default)]
pub struct MemoryUsage {
    usage: Mutex<MonthUsage>,
    reads: Mutex<u32>,
}

impl MemoryUsage {
    pub fn set_cost(&self, micros: i64) {
        lock(&self.usage).cost_micros = micros;
    }

    pub fn reads(&self) -> u32 {
        *lock(&self.reads)
    }
}

#[async_trait]
impl UsageStore for MemoryUsage {
    async fn read(&self, _: &TenantId, _: &str) -> Result<MonthUsage, StoreError> {
        *lock(&self.reads) += 1;
        Ok(lock(&self.usage).clone())
    }

    async fn add(
        &self,
        _: &TenantId,
        _: &str,
        tally: &Tally,
        _: i64,
    ) -> Result<MonthUsage, StoreError> {
        let mut usage = lock(&self.usage);
        usage.cost_micros += tally.cost_micros;
        Ok(usage.clone())
    }

    async fn mark(
        &self,
        _: &TenantId,
        _: &str,
        marker: Marker,
        _: i64,
    ) -> Result<bool, StoreError> {
        Ok(lock(&self.usage).notified.insert(marker))
    }
}

/// A queue that keeps what is sent.
#[derive(Default)]
pub struct MemoryQueue {
    pub sent: Mutex<Vec<Envelope>>,
}

impl MemoryQueue {
    pub fn sent(&self) -> Vec<Envelope> {
        lock(&self.sent).clone()
    }
}

#[async_trait]
impl MessageQueue for MemoryQueue {
    async fn send(&self, envelope: &Envelope, _: i32) -> Result<(), QueueError> {
        lock(&self.sent).push(envelope.clone());
        Ok(())
    }
}

/// A conversation store that keeps the plans it commits.
#[derive(Default)]
pub struct MemoryStore {
    pub conversation: Conversation,
    pub balance: Option<i64>,
    pub handled: bool,
    pub commits: Mutex<Vec<WritePlan<AlreadyHandled>>>,
}

#[async_trait]
impl ConversationStore for MemoryStore {
    async fn read(&self, _: &TenantId, _: &str) -> Result<Conversation, StoreError> {
        Ok(self.conversation.clone())
    }

    async fn commit(&self, plan: &WritePlan<AlreadyHandled>) -> Result<WriteOutcome, StoreError> {
        lock(&self.commits).push(plan.clone());
        Ok(if self.handled {
            WriteOutcome::AlreadyHandled
        } else {
            WriteOutcome::Written
        })
    }

    async fn loyalty_balance(&self, _: &TenantId, _: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.balance)
    }
}

/// A model that answers from a script and keeps every request (as JSON).
#[derive(Default)]
pub struct ScriptedModel {
    script: Mutex<VecDeque<Result<serde_json::Value, LlmError>>>,
    pub requests: Mutex<Vec<serde_json::Value>>,
}

impl ScriptedModel {
    pub fn answers(answers: Vec<Result<serde_json::Value, LlmError>>) -> Self {
        Self {
            script: Mutex::new(answers.into()),
            requests: Mutex::default(),
        }
    }

    pub fn calls(&self) -> usize {
        lock(&self.requests).len()
    }
}

#[async_trait]
impl ChatModel for ScriptedModel {
    async fn complete(
        &self,
        _: &Endpoint,
        request: &ChatRequest<'_>,
        _: Instant,
    ) -> Result<ChatResponse, LlmError> {
        lock(&self.requests).push(serde_json::to_value(request).unwrap());
        let answer = lock(&self.script)
            .pop_front()
            .unwrap_or_else(|| Err(LlmError::Malformed("script ran out".into())))?;
        Ok(serde_json::from_value(answer).unwrap())
    }
}

/// A chat completion with text.
pub fn text_answer(text: &str) -> Result<serde_json::Value, LlmError> {
    Ok(serde_json::json!({
        "model": "gpt-4o-mini",
        "choices": [{"message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10}
    }))
}

/// A chat completion calling one tool.
pub fn tool_answer(name: &str, args: serde_json::Value) -> Result<serde_json::Value, LlmError> {
    Ok(serde_json::json!({
        "model": "gpt-4o-mini",
        "choices": [{"message": {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": name, "arguments": args.to_string()}}
        ]}}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 5}
    }))
}

pub fn endpoint() -> Endpoint {
    Endpoint {
        base_url: "https://api.openai.com/v1".into(),
        api_key: Secret::new("sk-test"),
        model: "gpt-4o-mini".into(),
        tenant_chosen: false,
    }
}
