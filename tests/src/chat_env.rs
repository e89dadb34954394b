//! What the chat tests share: fake Telegram and WhatsApp servers and what the bot sent
//! them, an agent-reply configured against them in fallback mode, inbound messages as
//! the webhook stores them, and running one through agent-reply.

use crate::fake::FakeServer;
use crate::{failed_ids, lambda_event, TestEnv};
use agent_reply::config::builtin_prices;
use agent_reply::{handle, AgentConfig, Deps};
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use sauda_shared::aws::DynamoMessageStore;
use sauda_shared::envelope::Envelope;
use sauda_shared::message::{Channel, InboundMessage, MessageKind};
use sauda_shared::outbound::UrlPolicy;
use sauda_shared::ports::MessageStore;
use sauda_shared::TenantId;
use serde_json::json;
use std::time::Duration;

pub struct Fakes {
    pub telegram: FakeServer,
    pub whatsapp: FakeServer,
}

/// A Telegram message the bot sent: chat, text, the callback data of its buttons.
pub struct Sent {
    pub chat: String,
    pub text: String,
    pub buttons: Vec<String>,
}

impl Fakes {
    pub async fn start() -> Self {
        let fakes = Self {
            telegram: FakeServer::start().await,
            whatsapp: FakeServer::start().await,
        };
        fakes.telegram.set_default(
            200,
            json!({"ok": true, "result": {"message_id": 100, "date": 1, "chat": {"id": 1, "type": "private"}, "text": "x"}}),
        );
        fakes.whatsapp.set_default(
            200,
            json!({"messaging_product": "whatsapp", "contacts": [{"input": "x", "wa_id": "x"}], "messages": [{"id": "wamid.OUT"}]}),
        );
        fakes
    }

    pub fn telegram_sent(&self) -> Vec<Sent> {
        self.telegram
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/sendMessage"))
            .map(|r| {
                let body = r.json();
                let buttons = body["reply_markup"]["inline_keyboard"]
                    .as_array()
                    .map(|rows| {
                        rows.iter()
                            .flat_map(|row| row.as_array().cloned().unwrap_or_default())
                            .filter_map(|b| b["callback_data"].as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                Sent {
                    chat: body["chat_id"].to_string().trim_matches('"').to_owned(),
                    text: body["text"].as_str().unwrap_or_default().to_owned(),
                    buttons,
                }
            })
            .collect()
    }

    /// What the bot sent to one chat, in order.
    pub fn to_chat(&self, chat: i64) -> Vec<Sent> {
        self.telegram_sent()
            .into_iter()
            .filter(|s| s.chat == chat.to_string())
            .collect()
    }

    pub fn last_to(&self, chat: i64) -> Sent {
        self.to_chat(chat).pop().expect("a message to this chat")
    }
}

pub fn agent_config(env: &TestEnv, fakes: &Fakes) -> AgentConfig {
    AgentConfig {
        core: env.core_config(),
        leads_queue_url: env.queue_url("LeadsQueue"),
        notify_queue_url: env.queue_url("NotifyQueue"),
        inbound_queue_url: env.queue_url("InboundQueue"),
        payments_queue_url: None,
        bucket: env.stack.bucket.clone(),
        telegram_api_base: fakes.telegram.base_url.clone(),
        whatsapp_api_base: fakes.whatsapp.base_url.clone(),
        // No key anywhere: everything here is the model-free path.
        llm_base_url: "http://127.0.0.1:9/v1".into(),
        llm_model: "gpt-4o-mini".into(),
        llm_prices: builtin_prices(),
        catalog_cache_bytes: 16 * 1024 * 1024,
        llm_attempt_timeout: Duration::from_secs(2),
        llm_turn_budget: Duration::from_secs(5),
        url_policy: UrlPolicy {
            allow_loopback: true,
        },
        operator_chat_id: None,
    }
}

pub fn now() -> i64 {
    sauda_shared::now_ms()
}

pub fn telegram(tenant: &TenantId, chat: i64, id: &str, text: &str) -> InboundMessage {
    InboundMessage {
        tenant: tenant.clone(),
        channel: Channel::Telegram,
        contact: Channel::Telegram.contact_id(&chat.to_string()),
        platform_message_id: id.into(),
        timestamp_ms: now(),
        kind: MessageKind::Text,
        text: Some(text.into()),
        attachment: None,
        display_name: Some("Aida".into()),
        language: Some("ru".into()),
        reply_to: chat.to_string(),
        thread_id: None,
    }
}

pub fn whatsapp(tenant: &TenantId, number: &str, id: &str, text: &str) -> InboundMessage {
    InboundMessage {
        channel: Channel::Whatsapp,
        contact: Channel::Whatsapp.contact_id(number),
        reply_to: number.into(),
        language: None,
        ..telegram(tenant, 0, id, text)
    }
}

pub fn event(m: &InboundMessage) -> SqsEvent {
    let mut event = SqsEvent::default();
    let mut record = SqsMessage::default();
    record.message_id = Some("m0".into());
    record.body = Some(Envelope::inbound(m.clone()).to_json());
    record
        .attributes
        .insert("MessageGroupId".into(), m.message_group_id());
    record
        .attributes
        .insert("ApproximateReceiveCount".into(), "1".into());
    event.records.push(record);
    event
}

pub async fn store_inbound(env: &TestEnv, m: &InboundMessage) {
    DynamoMessageStore::new(env.clients.dynamo.clone(), &env.stack.table)
        .put_inbound(m)
        .await
        .unwrap();
}

/// Stores the message as the webhook does and runs it through agent-reply.
pub async fn deliver(env: &TestEnv, deps: &Deps, m: &InboundMessage) {
    store_inbound(env, m).await;
    let response = handle(deps, lambda_event(event(m))).await.unwrap();
    assert!(failed_ids(&response).is_empty());
}
