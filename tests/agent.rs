//! agent-reply against moto and fake LLM, Telegram and WhatsApp servers that record
//! every request: the end-to-end path from a signed webhook, tool calls, retries and
//! fallbacks, the budget, the rate limit, redelivery, FIFO failures, the WhatsApp
//! window, long replies, handoffs, catalog versions and tenant isolation.

use agent_reply::catalog::{generate, Availability, CatalogItem};
use agent_reply::config::builtin_prices;
use agent_reply::llm::RetryPolicy;
use agent_reply::{handle, AgentConfig, Deps};
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_dynamodb::types::AttributeValue;
use axum::body::Body;
use http::{Request, StatusCode};
use sauda_infra::catalog_cli;
use sauda_shared::aws::{AwsClients, DynamoMessageStore};
use sauda_shared::envelope::{Envelope, Job};
use sauda_shared::i18n::agent as texts;
use sauda_shared::keys;
use sauda_shared::message::{Attachment, Channel, InboundMessage, MessageKind};
use sauda_shared::outbound::UrlPolicy;
use sauda_shared::ports::MessageStore;
use sauda_shared::retry::Backoff;
use sauda_shared::secrets::{Secret, TenantSecrets};
use sauda_shared::stats::{self, metric};
use sauda_shared::tenant::{Manager, ModelPrice, TenantConfig};
use sauda_shared::TenantId;
use sauda_tests::fake::FakeServer;
use sauda_tests::{attr_s, failed_ids, lambda_event, TestEnv};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

struct Fakes {
    llm: FakeServer,
    telegram: FakeServer,
    whatsapp: FakeServer,
}

impl Fakes {
    async fn start() -> Self {
        let fakes = Self {
            llm: FakeServer::start().await,
            telegram: FakeServer::start().await,
            whatsapp: FakeServer::start().await,
        };
        fakes.telegram.set_default(200, tg_ok(100));
        fakes.whatsapp.set_default(200, wa_ok("wamid.OUT1"));
        fakes
    }

    fn telegram_texts(&self) -> Vec<String> {
        self.telegram
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/sendMessage"))
            .map(|r| r.json()["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    fn llm_calls(&self) -> usize {
        self.llm.requests().len()
    }
}

fn tg_ok(id: i64) -> Value {
    json!({"ok": true, "result": {"message_id": id, "date": 1, "chat": {"id": 1, "type": "private"}, "text": "x"}})
}

fn wa_ok(id: &str) -> Value {
    json!({"messaging_product": "whatsapp", "contacts": [{"input": "x", "wa_id": "x"}], "messages": [{"id": id}]})
}

fn llm_text(text: &str, prompt: i64, completion: i64) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    })
}

fn llm_tool(id: &str, name: &str, args: Value) -> Value {
    json!({
        "id": "chatcmpl-2", "object": "chat.completion", "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [
            {"id": id, "type": "function", "function": {"name": name, "arguments": args.to_string()}}
        ]}, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 300, "completion_tokens": 20, "total_tokens": 320}
    })
}

fn agent_config(env: &TestEnv, fakes: &Fakes) -> AgentConfig {
    AgentConfig {
        core: sauda_shared::config::CoreConfig {
            stage: env.stage().to_owned(),
            table_name: env.stack.table.clone(),
        },
        leads_queue_url: env.queue_url("LeadsQueue"),
        notify_queue_url: env.queue_url("NotifyQueue"),
        inbound_queue_url: env.queue_url("InboundQueue"),
        payments_queue_url: Some(env.queue_url("PaymentsQueue")),
        bucket: env.stack.bucket.clone(),
        telegram_api_base: fakes.telegram.base_url.clone(),
        whatsapp_api_base: fakes.whatsapp.base_url.clone(),
        llm_base_url: format!("{}/v1", fakes.llm.base_url),
        llm_model: "gpt-4o-mini".into(),
        llm_prices: builtin_prices(),
        catalog_cache_bytes: 64 * 1024 * 1024,
        llm_attempt_timeout: Duration::from_secs(5),
        llm_turn_budget: Duration::from_secs(15),
        // The fakes listen on loopback: opened explicitly, as only tests and the local stack do.
        url_policy: UrlPolicy {
            allow_loopback: true,
        },
        operator_chat_id: None,
    }
}

fn deps_with(env: &TestEnv, fakes: &Fakes, clients: &AwsClients) -> Deps {
    let mut deps = Deps::from_aws(clients, &agent_config(env, fakes));
    // Fast retries keep the suite quick; the policy's logic is the same.
    deps.llm.retry = RetryPolicy {
        max_attempts: 3,
        backoff: Backoff::new(Duration::from_millis(50), 2, Duration::from_millis(200)),
        attempt_timeout: Duration::from_secs(5),
    };
    deps.settings.max_channel_wait = Duration::from_secs(3);
    deps
}

fn deps(env: &TestEnv, fakes: &Fakes) -> Deps {
    deps_with(env, fakes, &env.clients)
}

const LLM_KEY: &str = "sk-test-tenant-key";

/// A Telegram + WhatsApp tenant; `llm` gives it its own LLM key.
async fn tenant(env: &TestEnv, llm: bool, configure: impl FnOnce(&mut TenantConfig)) -> TenantId {
    let t = env.tenant().await;
    if llm {
        sauda_infra::tenant::merge_tenant_secrets(
            &env.clients.secrets,
            env.stage(),
            &t.id,
            TenantSecrets {
                llm_api_key: Some(Secret::new(LLM_KEY)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    sauda_infra::tenant::update_config(&env.clients.dynamo, &env.stack.table, &t.id, |c| {
        c.default_language = "ru".into();
        c.managers = vec![Manager {
            chat_id: 9001,
            name: "Manager".into(),
        }];
        configure(c);
    })
    .await
    .unwrap();
    t.id
}

fn item(sku: &str, name: &str, price: i64, availability: Availability) -> CatalogItem {
    CatalogItem {
        sku: sku.into(),
        name: name.into(),
        name_en: None,
        price_minor: Some(price * 100),
        currency: Some("KZT".into()),
        availability,
        quantity: None,
        url: Some(format!("https://shop.example/p/{}", sku.to_lowercase())),
        photo_url: None,
        category: None,
        brand: None,
        description: None,
    }
}

fn pump_items() -> Vec<CatalogItem> {
    vec![
        item(
            "GR-CR10-2",
            "Насос Grundfos CR 10-2 вертикальный",
            1_250_000,
            Availability::InStock,
        ),
        item(
            "WL-STRAT-25",
            "Циркуляционный насос Wilo Stratos 25/1-6",
            310_000,
            Availability::OnOrder,
        ),
        item(
            "DN-VLV-15",
            "Шаровый кран Danfoss 1/2",
            4_500,
            Availability::InStock,
        ),
    ]
}

/// Imports items through the operator CLI's code path (CSV file → index → S3) and activates them.
async fn install_catalog(env: &TestEnv, tenant: &TenantId, items: &[CatalogItem]) -> String {
    let dir = std::env::temp_dir().join(sauda_tests::unique("catalog"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("catalog.csv");
    generate::write_csv(items, std::fs::File::create(&path).unwrap()).unwrap();
    let outcome = catalog_cli::import_catalog(
        &env.clients,
        &env.stack.table,
        env.stack.bucket.as_deref().unwrap(),
        tenant,
        &path,
        None,
        true,
        &catalog_cli::Quiet,
    )
    .await
    .unwrap();
    assert!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);
    outcome.manifest.version
}

fn inbound(tenant: &TenantId, chat: i64, id: &str, text: &str, ts_ms: i64) -> InboundMessage {
    InboundMessage {
        tenant: tenant.clone(),
        channel: Channel::Telegram,
        contact: Channel::Telegram.contact_id(&chat.to_string()),
        platform_message_id: id.into(),
        timestamp_ms: ts_ms,
        kind: MessageKind::Text,
        text: Some(text.into()),
        attachment: None,
        display_name: Some("Aida".into()),
        language: Some("ru".into()),
        reply_to: chat.to_string(),
        thread_id: None,
    }
}

fn whatsapp_inbound(
    tenant: &TenantId,
    number: &str,
    id: &str,
    text: &str,
    ts_ms: i64,
) -> InboundMessage {
    InboundMessage {
        channel: Channel::Whatsapp,
        contact: Channel::Whatsapp.contact_id(number),
        reply_to: number.into(),
        language: None,
        ..inbound(tenant, 0, id, text, ts_ms)
    }
}

/// Stores messages as the webhook does.
async fn store(env: &TestEnv, messages: &[&InboundMessage]) {
    let store = DynamoMessageStore::new(env.clients.dynamo.clone(), &env.stack.table);
    for m in messages {
        store.put_inbound(m).await.unwrap();
    }
}

/// Lambda's SQS event for queued messages (ids `m0`, `m1`, ...), with their FIFO groups.
fn event(messages: &[&InboundMessage]) -> SqsEvent {
    let mut event = SqsEvent::default();
    for (i, m) in messages.iter().enumerate() {
        let mut record = SqsMessage::default();
        record.message_id = Some(format!("m{i}"));
        record.body = Some(Envelope::inbound((*m).clone()).to_json());
        record
            .attributes
            .insert("MessageGroupId".into(), m.message_group_id());
        record
            .attributes
            .insert("ApproximateReceiveCount".into(), "1".into());
        event.records.push(record);
    }
    event
}

/// Stores one message and runs it through the handler.
async fn deliver(env: &TestEnv, deps: &Deps, m: &InboundMessage) -> Vec<String> {
    store(env, &[m]).await;
    let response = handle(deps, lambda_event(event(&[m]))).await.unwrap();
    failed_ids(&response)
}

fn now() -> i64 {
    sauda_shared::now_ms()
}

async fn item_of(env: &TestEnv, pk: &str, sk: &str) -> Option<HashMap<String, AttributeValue>> {
    env.clients
        .dynamo
        .get_item()
        .table_name(&env.stack.table)
        .key("PK", AttributeValue::S(pk.into()))
        .key("SK", AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

async fn reply_state(env: &TestEnv, m: &InboundMessage) -> String {
    let item = item_of(env, &m.pk(), &m.sk())
        .await
        .expect("inbound stored");
    attr_s(&item, "reply_state").to_owned()
}

/// Outbound messages of a contact, oldest first.
async fn outbound(
    env: &TestEnv,
    tenant: &TenantId,
    contact: &str,
) -> Vec<HashMap<String, AttributeValue>> {
    let mut items: Vec<_> = env
        .contact_items(tenant)
        .await
        .into_iter()
        .filter(|i| {
            attr_s(i, "PK") == keys::contact_pk(tenant, contact)
                && attr_s(i, "SK").contains("#out#")
        })
        .collect();
    items.sort_by(|a, b| attr_s(a, "SK").cmp(attr_s(b, "SK")));
    items
}

async fn profile(
    env: &TestEnv,
    tenant: &TenantId,
    contact: &str,
) -> HashMap<String, AttributeValue> {
    item_of(
        env,
        &keys::contact_pk(tenant, contact),
        keys::CONTACT_PROFILE_SK,
    )
    .await
    .expect("profile written")
}

fn num(item: &HashMap<String, AttributeValue>, key: &str) -> i64 {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn today(env: &TestEnv, tenant: &TenantId) -> std::collections::BTreeMap<String, i64> {
    env.counters(tenant, &stats::local_day("UTC", now())).await
}

async fn envelopes(env: &TestEnv, queue: &str) -> Vec<Envelope> {
    env.receive_all(queue)
        .await
        .iter()
        .map(|m| Envelope::from_json(m.body().unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn signed_webhook_to_agent_reply_end_to_end() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    // The platform's LLM key, as a deployment sets it.
    env.clients
        .secrets
        .put_secret_value()
        .secret_id(format!("sauda/{}/platform", env.stage()))
        .secret_string(json!({"llm_api_key": "sk-platform"}).to_string())
        .send()
        .await
        .unwrap();
    let t = env.tenant().await;
    install_catalog(&env, &t.id, &pump_items()).await;
    fakes.llm.push(
        200,
        llm_text(
            "Насос Grundfos CR 10-2 есть в наличии, цена 1 250 000 KZT. Оформить заказ?",
            812,
            41,
        ),
    );

    // Telegram calls the webhook with its secret token.
    let webhook = webhook::Deps::from_aws(
        &env.clients,
        &webhook::WebhookConfig {
            core: sauda_shared::config::CoreConfig {
                stage: env.stage().to_owned(),
                table_name: env.stack.table.clone(),
            },
            inbound_queue_url: env.queue_url("InboundQueue"),
            payments_queue_url: env.queue_url("PaymentsQueue"),
            notify_queue_url: env.queue_url("NotifyQueue"),
        },
    );
    let ts = now() / 1000;
    let update =
        sauda_infra::demo::telegram_text(7001, 55, 4242, ts, "Сколько стоит насос Grundfos CR 10?");
    let request = Request::post(format!("/t/{}/telegram", t.id))
        .header("content-type", "application/json")
        .header("x-telegram-bot-api-secret-token", t.telegram_secret())
        .body(Body::from(update.to_string()))
        .unwrap();
    let response = webhook::router(Arc::new(webhook))
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // The queue hands the job to agent-reply.
    let event = env.sqs_event_from_queue("InboundQueue", 30).await;
    assert_eq!(event.records.len(), 1);
    let response = handle(&deps(&env, &fakes), lambda_event(event))
        .await
        .unwrap();
    assert!(failed_ids(&response).is_empty());

    // The model got the system prompt with the catalog match and the question.
    let llm = fakes.llm.requests();
    assert_eq!(llm.len(), 1);
    assert_eq!(llm[0].path, "/v1/chat/completions");
    assert_eq!(
        llm[0].headers["authorization"].to_str().unwrap(),
        "Bearer sk-platform"
    );
    let body = llm[0].json();
    assert_eq!(body["model"], "gpt-4o-mini");
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("GR-CR10-2"),
        "pre-retrieved match: {system}"
    );
    assert!(system.contains("Russian"), "answer language: {system}");
    let last = body["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["role"], "user");
    assert_eq!(last["content"], "Сколько стоит насос Grundfos CR 10?");
    let tools: Vec<&str> = body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        tools,
        ["search_catalog", "capture_lead", "handoff_to_manager"]
    );

    // The customer got the model's answer from the tenant's bot.
    let sent = fakes.telegram.requests();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].path.starts_with("/bot1:") && sent[0].path.ends_with("/sendMessage"));
    assert_eq!(sent[0].json()["chat_id"], 4242);
    assert!(sent[0].json()["text"]
        .as_str()
        .unwrap()
        .starts_with("Насос Grundfos CR 10-2 есть"));

    // The reply is stored with usage, model, latency and the platform id.
    let out = outbound(&env, &t.id, "tg-4242").await;
    assert_eq!(out.len(), 1);
    let o = &out[0];
    assert_eq!(attr_s(o, "direction"), "out");
    assert_eq!(attr_s(o, "platform_message_id"), "100");
    assert_eq!(attr_s(o, "in_reply_to"), "55");
    assert_eq!(attr_s(o, "reply_kind"), "llm");
    assert_eq!(attr_s(o, "model"), "gpt-4o-mini");
    assert_eq!(num(o, "prompt_tokens"), 812);
    assert_eq!(num(o, "completion_tokens"), 41);
    // gpt-4o-mini: 0.15 $/Mtok in, 0.60 $/Mtok out.
    assert_eq!(num(o, "cost_micros"), 122 + 25);
    assert!(o.contains_key("latency_ms"));
    let m = inbound(&t.id, 4242, "55", "", ts * 1000);
    assert_eq!(reply_state(&env, &m).await, "replied");
    let p = profile(&env, &t.id, "tg-4242").await;
    assert_eq!(attr_s(&p, "language"), "ru");
    assert_eq!(attr_s(&p, "reply_to"), "4242");
    assert!(
        p.contains_key("intent_at_ms"),
        "a price question is purchase intent"
    );
    assert_eq!(attr_s(&p, "GSI1PK"), format!("T#{}#INTENT", t.id));

    let c = today(&env, &t.id).await;
    for (metric_name, expected) in [
        (metric::MESSAGES_IN, 1),
        (metric::MESSAGES_OUT, 1),
        (metric::CONTACTS_NEW, 1),
        (metric::CONVERSATIONS_DAY, 1),
        (metric::REPLIES_LLM, 1),
        (metric::AI_CALLS, 1),
        (metric::AI_PROMPT_TOKENS, 812),
        (metric::AI_COST_MICROS, 147),
    ] {
        assert_eq!(c.get(metric_name), Some(&expected), "{metric_name}: {c:?}");
    }
    assert_eq!(
        c.iter()
            .filter(|(k, _)| k.starts_with("latency_le_"))
            .map(|(_, v)| v)
            .sum::<i64>(),
        1
    );
    let usage = item_of(
        &env,
        &keys::ai_usage(&t.id, &jiff::Timestamp::now().strftime("%Y-%m").to_string()).0,
        "USAGE",
    )
    .await
    .expect("monthly usage");
    assert_eq!(num(&usage, "cost_micros"), 147);
    assert_eq!(num(&usage, "calls"), 1);
}

#[tokio::test]
async fn tool_turn_searches_then_captures_a_lead_then_answers() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, true, |_| {}).await;
    install_catalog(&env, &t, &pump_items()).await;
    fakes.llm.push(
        200,
        llm_tool("call_1", "search_catalog", json!({"query": "кран данфосс"})),
    );
    fakes.llm.push(
        200,
        llm_tool(
            "call_2",
            "capture_lead",
            json!({"name": "Айгерим", "phone": "8 701 123 45 67", "interest": "кран Danfoss 1/2, 10 шт"}),
        ),
    );
    fakes.llm.push(
        200,
        llm_text(
            "Спасибо, Айгерим! Менеджер пришлёт счёт на 10 кранов.",
            900,
            30,
        ),
    );
    let m = inbound(
        &t,
        77,
        "1",
        "Нужно 10 кранов Danfoss, я Айгерим, 8 701 123 45 67",
        now() - 2_000,
    );
    assert!(deliver(&env, &deps(&env, &fakes), &m).await.is_empty());

    let llm = fakes.llm.requests();
    assert_eq!(llm.len(), 3);
    // The search result went back to the model as a tool message.
    let second = llm[1].json();
    let tool_msg = second["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(tool_msg["role"], "tool");
    assert_eq!(tool_msg["tool_call_id"], "call_1");
    let result: Value = serde_json::from_str(tool_msg["content"].as_str().unwrap()).unwrap();
    assert_eq!(result["items"][0]["sku"], "DN-VLV-15");
    assert_eq!(result["items"][0]["availability"], "in_stock");
    let third = llm[2].json();
    assert_eq!(
        third["messages"].as_array().unwrap().last().unwrap()["content"],
        json!({"ok": true, "note": "The lead was passed to the sales team."}).to_string()
    );

    // The lead went to the leads queue, keyed to this message.
    let leads = envelopes(&env, "LeadsQueue").await;
    assert_eq!(leads.len(), 1);
    let Job::CaptureLead { lead } = &leads[0].job else {
        panic!("{:?}", leads[0])
    };
    assert_eq!(lead.tenant, t);
    assert_eq!(lead.source, sauda_shared::lead::LeadSource::Agent);
    assert_eq!(lead.idempotency_key, "agent:tg-77:1:0");
    assert_eq!(lead.contact.as_deref(), Some("tg-77"));
    assert_eq!(lead.phone.as_deref(), Some("8 701 123 45 67"));
    assert_eq!(lead.interest.as_deref(), Some("кран Danfoss 1/2, 10 шт"));

    assert_eq!(
        fakes.telegram_texts(),
        ["Спасибо, Айгерим! Менеджер пришлёт счёт на 10 кранов."]
    );
    let out = outbound(&env, &t, "tg-77").await;
    let tools: Vec<&str> = out[0]["tools"]
        .as_l()
        .unwrap()
        .iter()
        .map(|v| v.as_s().unwrap().as_str())
        .collect();
    assert_eq!(tools, ["search_catalog", "capture_lead"]);
    assert_eq!(num(&out[0], "llm_calls"), 3);
    assert_eq!(num(&out[0], "prompt_tokens"), 300 + 300 + 900);
}

#[tokio::test]
async fn rate_limited_llm_is_retried_after_retry_after() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, true, |_| {}).await;
    fakes.llm.push_with_headers(
        429,
        json!({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}),
        &[("retry-after", "1")],
    );
    fakes
        .llm
        .push(200, llm_text("Здравствуйте! Чем помочь?", 100, 10));
    let started = Instant::now();
    let m = inbound(&t, 5, "1", "Здравствуйте", now());
    assert!(deliver(&env, &deps(&env, &fakes), &m).await.is_empty());
    assert_eq!(fakes.llm_calls(), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited out Retry-After rather than the 50 ms backoff"
    );
    assert_eq!(fakes.telegram_texts(), ["Здравствуйте! Чем помочь?"]);
    assert_eq!(reply_state(&env, &m).await, "replied");
}

#[tokio::test]
async fn llm_failing_every_try_gives_the_catalog_fallback() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, true, |_| {}).await;
    install_catalog(&env, &t, &pump_items()).await;
    fakes.llm.set_default(
        500,
        json!({"error": {"message": "The server had an error", "type": "server_error"}}),
    );
    let m = inbound(&t, 6, "1", "Есть насос Grundfos?", now());
    assert!(deliver(&env, &deps(&env, &fakes), &m).await.is_empty());

    assert_eq!(fakes.llm_calls(), 3, "three attempts, then the fallback");
    let texts = fakes.telegram_texts();
    assert_eq!(texts.len(), 1);
    assert!(
        texts[0].starts_with("Вот что нашлось в каталоге:"),
        "{}",
        texts[0]
    );
    assert!(texts[0].contains("Насос Grundfos CR 10-2 вертикальный (GR-CR10-2)"));
    assert!(
        texts[0].contains("в наличии") && texts[0].contains("https://shop.example/p/gr-cr10-2")
    );
    assert!(texts[0].contains("менеджер"), "offers a manager");
    assert_eq!(reply_state(&env, &m).await, "fallback");
    let out = outbound(&env, &t, "tg-6").await;
    assert_eq!(attr_s(&out[0], "reply_kind"), "fallback");
    assert_eq!(attr_s(&out[0], "fallback_reason"), "llm_error");
    let c = today(&env, &t).await;
    assert_eq!(c.get(metric::REPLIES_FALLBACK), Some(&1));
    assert_eq!(c.get(&metric::fallback_reason("llm_error")), Some(&1));
    assert_eq!(c.get(metric::REPLIES_LLM), None);
}

#[tokio::test]
async fn insufficient_quota_is_not_retried() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, true, |_| {}).await;
    fakes.llm.set_default(
        429,
        json!({"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}}),
    );
    let m = inbound(&t, 8, "1", "Hello, do you sell pumps?", now());
    assert!(deliver(&env, &deps(&env, &fakes), &m).await.is_empty());
    assert_eq!(fakes.llm_calls(), 1, "no retry on insufficient_quota");
    let texts = fakes.telegram_texts();
    assert_eq!(texts.len(), 1);
    assert!(
        texts[0].contains("manager"),
        "English fallback: {}",
        texts[0]
    );
    let c = today(&env, &t).await;
    assert_eq!(c.get(&metric::fallback_reason("quota")), Some(&1));
}

/// A tenant with its own key, an AI budget and the model at 1 USD per million tokens.
async fn priced_tenant(env: &TestEnv, budget_micros: i64) -> TenantId {
    tenant(env, true, |c| {
        c.agent.monthly_budget_micros = Some(budget_micros);
        c.agent.prices.insert(
            "gpt-4o-mini".into(),
            ModelPrice {
                prompt_per_mtok_micros: 1_000_000,
                completion_per_mtok_micros: 1_000_000,
            },
        );
    })
    .await
}

#[tokio::test]
async fn spent_budget_falls_back_and_notifies_managers_once() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = priced_tenant(&env, 100).await;
    install_catalog(&env, &t, &pump_items()).await;
    fakes
        .llm
        .set_default(200, llm_text("Ответ модели", 450, 50));
    let deps1 = deps(&env, &fakes);

    // Within budget: the model answers and its cost (500 micros) is recorded.
    let m1 = inbound(&t, 9, "1", "Здравствуйте", now() - 3_000);
    assert!(deliver(&env, &deps1, &m1).await.is_empty());
    assert_eq!(fakes.llm_calls(), 1);
    assert_eq!(
        num(&outbound(&env, &t, "tg-9").await[0], "cost_micros"),
        500
    );

    // Spent: catalog fallback, one notice.
    let m2 = inbound(&t, 9, "2", "Насос Grundfos?", now() - 2_000);
    assert!(deliver(&env, &deps1, &m2).await.is_empty());
    // Another warm instance, with a cold cache, learns it from the table.
    let deps2 = deps(&env, &fakes);
    let m3 = inbound(&t, 9, "3", "А кран Danfoss?", now() - 1_000);
    assert!(deliver(&env, &deps2, &m3).await.is_empty());

    assert_eq!(
        fakes.llm_calls(),
        1,
        "no model call once the budget is spent"
    );
    let texts = fakes.telegram_texts();
    assert_eq!(texts.len(), 3);
    assert!(
        texts[1].contains("GR-CR10-2") && texts[2].contains("DN-VLV-15"),
        "{texts:?}"
    );
    let notices: Vec<_> = envelopes(&env, "NotifyQueue")
        .await
        .into_iter()
        .filter_map(|e| match e.job {
            Job::Notify { notice } => Some(notice),
            _ => None,
        })
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].id.starts_with("budget:"));
    assert_eq!(notices[0].kind, "budget_spent");
    let c = today(&env, &t).await;
    assert_eq!(c.get(&metric::fallback_reason("budget")), Some(&2));
    let month = jiff::Timestamp::now().strftime("%Y-%m").to_string();
    let usage = item_of(&env, &keys::ai_usage(&t, &month).0, "USAGE")
        .await
        .unwrap();
    assert_eq!(
        (num(&usage, "prompt_tokens"), num(&usage, "cost_micros")),
        (450, 500)
    );
    assert!(usage.contains_key("budget_notified_ms"));
}

#[tokio::test]
async fn rate_limit_sends_one_notice_and_no_model_calls() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, true, |c| c.agent.rate_limit_per_minute = 3).await;
    fakes.llm.set_default(200, llm_text("ok", 10, 1));
    let deps = deps(&env, &fakes);
    // Five messages within one minute, each answered before the next arrives.
    let minute = (now() / 60_000 - 1) * 60_000;
    for i in 0..5 {
        let m = inbound(
            &t,
            10,
            &format!("{i}"),
            "вопрос",
            minute + 1_000 + i * 1_000,
        );
        assert!(deliver(&env, &deps, &m).await.is_empty());
    }
    assert_eq!(fakes.llm_calls(), 3);
    let texts = fakes.telegram_texts();
    assert_eq!(texts.len(), 4, "three answers and one notice: {texts:?}");
    assert!(texts[3].contains("подождите"), "{}", texts[3]);
    let states = [
        reply_state(&env, &inbound(&t, 10, "3", "", minute + 4_000)).await,
        reply_state(&env, &inbound(&t, 10, "4", "", minute + 5_000)).await,
    ];
    assert_eq!(states, ["rate_limit_notice", "rate_limited"]);
    assert_eq!(today(&env, &t).await.get(metric::RATE_LIMITED), Some(&2));
    // A minute later the customer is answered again.
    let m = inbound(&t, 10, "5", "вопрос", minute + 125_000);
    assert!(deliver(&env, &deps, &m).await.is_empty());
    assert_eq!(fakes.llm_calls(), 4);
}

#[tokio::test]
async fn redelivery_gives_one_reply() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, true, |_| {}).await;
    fakes.llm.set_default(200, llm_text("Один ответ", 10, 2));
    let m = inbound(&t, 11, "1", "Привет", now());
    store(&env, &[&m]).await;
    let d = deps(&env, &fakes);
    for deps in [&d, &d, &deps(&env, &fakes)] {
        let response = handle(deps, lambda_event(event(&[&m]))).await.unwrap();
        assert!(failed_ids(&response).is_empty());
    }
    assert_eq!(fakes.llm_calls(), 1);
    assert_eq!(fakes.telegram_texts(), ["Один ответ"]);
    assert_eq!(outbound(&env, &t, "tg-11").await.len(), 1);
    let c = today(&env, &t).await;
    assert_eq!(
        (c.get(metric::MESSAGES_IN), c.get(metric::MESSAGES_OUT)),
        (Some(&1), Some(&1))
    );
}

#[tokio::test]
async fn fifo_failure_holds_back_the_rest_of_that_conversation_only() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, false, |_| {}).await;
    let phone_number_id =
        sauda_infra::tenant::read_config(&env.clients.dynamo, &env.stack.table, &t)
            .await
            .unwrap()
            .whatsapp_phone_number_id
            .unwrap();
    let access_token =
        sauda_infra::tenant::read_tenant_secrets(&env.clients.secrets, env.stage(), &t)
            .await
            .unwrap()
            .unwrap()
            .whatsapp_access_token
            .unwrap()
            .expose()
            .to_owned();
    // Conversation A's profile cannot be read (a failing dependency for its jobs);
    // conversation B is fine.
    let a1 = whatsapp_inbound(&t, "77011112233", "wamid.A1", "Есть насосы?", now() - 2_000);
    let a2 = whatsapp_inbound(&t, "77011112233", "wamid.A2", "А краны?", now() - 1_000);
    let b1 = inbound(&t, 12, "1", "Привет", now() - 1_500);
    // Through the real FIFO queue, as the webhook queues them.
    store(&env, &[&a1, &a2, &b1]).await;
    let set_stage = |stage: &str| {
        env.clients
            .dynamo
            .update_item()
            .table_name(&env.stack.table)
            .key("PK", AttributeValue::S(a1.pk()))
            .key("SK", AttributeValue::S(keys::CONTACT_PROFILE_SK.into()))
            .update_expression("SET stage = :s")
            .expression_attribute_values(":s", AttributeValue::S(stage.into()))
            .send()
    };
    set_stage("no-such-stage").await.unwrap();
    let queue =
        sauda_shared::aws::SqsJobQueue::new(env.clients.sqs.clone(), env.queue_url("InboundQueue"));
    for m in [&a1, &b1, &a2] {
        sauda_shared::ports::JobQueue::enqueue(
            &queue,
            &Envelope::inbound(m.clone()),
            &m.message_group_id(),
            &m.deduplication_id(),
        )
        .await
        .unwrap();
    }
    let event = env.sqs_event_from_queue("InboundQueue", 1).await;
    assert_eq!(event.records.len(), 3);
    let id_of = |m: &InboundMessage| {
        event
            .records
            .iter()
            .find(|r| r.body.as_deref().unwrap().contains(&m.platform_message_id))
            .unwrap()
            .message_id
            .clone()
            .unwrap()
    };
    let (a1_id, a2_id) = (id_of(&a1), id_of(&a2));
    let response = handle(&deps(&env, &fakes), lambda_event(event.clone()))
        .await
        .unwrap();
    let mut failed = failed_ids(&response);
    failed.sort();
    let mut expected = vec![a1_id, a2_id];
    expected.sort();
    assert_eq!(failed, expected, "a1 failed, a2 held back with it");
    assert!(fakes.whatsapp.requests().is_empty());
    assert_eq!(reply_state(&env, &a2).await, "", "a2 was not attempted");
    assert_eq!(
        fakes.telegram_texts().len(),
        1,
        "the other conversation was answered"
    );
    assert_eq!(reply_state(&env, &b1).await, "fallback");

    // Repaired; the retry answers the conversation once, from its newest message.
    set_stage("qualification").await.unwrap();
    fakes.whatsapp.set_default(200, wa_ok("wamid.OUT9"));
    let mut retry = event.clone();
    retry
        .records
        .retain(|r| failed.contains(r.message_id.as_ref().unwrap()));
    let response = handle(&deps(&env, &fakes), lambda_event(retry))
        .await
        .unwrap();
    assert!(failed_ids(&response).is_empty());
    assert_eq!(reply_state(&env, &a1).await, "superseded");
    assert_eq!(reply_state(&env, &a2).await, "fallback");
    let sent = fakes.whatsapp.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].json()["to"], "77011112233");
    assert!(sent[0]
        .path
        .ends_with(&format!("/{}/messages", phone_number_id)));
    assert_eq!(
        sent[0].headers["authorization"].to_str().unwrap(),
        format!("Bearer {access_token}")
    );
    // The stored reply points back from its wamid, for delivery statuses.
    let pointer = item_of(&env, &keys::outbound_pointer(&t, "wamid.OUT9").0, "OUT").await;
    assert!(pointer.is_some());
}

#[tokio::test]
async fn whatsapp_24_hour_window_is_respected() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, true, |_| {}).await;
    fakes.llm.set_default(200, llm_text("ответ", 10, 1));
    let deps = deps(&env, &fakes);
    // Waited in the queue for 25 hours (a redrive from the DLQ, say).
    let old = whatsapp_inbound(
        &t,
        "77015556677",
        "wamid.OLD",
        "Есть доставка?",
        now() - 25 * 3_600_000,
    );
    assert!(deliver(&env, &deps, &old).await.is_empty());
    assert!(
        fakes.whatsapp.requests().is_empty(),
        "nothing is sent outside the window"
    );
    assert_eq!(
        fakes.llm_calls(),
        0,
        "no model call for a reply that cannot be sent"
    );
    assert_eq!(reply_state(&env, &old).await, "outside_window");
    let notices = envelopes(&env, "NotifyQueue").await;
    assert_eq!(notices.len(), 1, "the managers are told to use a template");
    assert_eq!(
        today(&env, &t).await.get(metric::REPLIES_NOT_SENT),
        Some(&1)
    );

    // WhatsApp itself says the window closed (131047): nothing stored as sent.
    fakes.whatsapp.push(
        400,
        json!({"error": {"message": "Re-engagement message", "type": "OAuthException", "code": 131047}}),
    );
    let m = whatsapp_inbound(&t, "77015556677", "wamid.NEW", "Алло?", now());
    assert!(deliver(&env, &deps, &m).await.is_empty());
    assert_eq!(reply_state(&env, &m).await, "outside_window");
    assert!(outbound(&env, &t, "wa-77015556677").await.is_empty());
}

#[tokio::test]
async fn long_replies_are_split_for_telegram() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, true, |_| {}).await;
    let long = "Насос Grundfos CR 10-2 подходит для водоснабжения. ".repeat(200);
    fakes.llm.push(200, llm_text(&long, 100, 3_000));
    let m = inbound(&t, 13, "1", "Расскажите подробно про насос", now());
    assert!(deliver(&env, &deps(&env, &fakes), &m).await.is_empty());
    let parts = fakes.telegram_texts();
    assert_eq!(parts.len(), 3);
    for p in &parts {
        assert!(p.encode_utf16().count() <= 4096);
    }
    assert_eq!(
        parts.join(" ").split_whitespace().count(),
        long.split_whitespace().count()
    );
    let out = outbound(&env, &t, "tg-13").await;
    assert_eq!(out[0]["platform_message_ids"].as_l().unwrap().len(), 3);
}

#[tokio::test]
async fn telegram_rate_limit_is_waited_out_or_retried_later() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, false, |_| {}).await;
    let deps = deps(&env, &fakes);
    let too_many = |s: i64| json!({"ok": false, "error_code": 429, "description": "Too Many Requests", "parameters": {"retry_after": s}});
    // A short wait is waited out within the invocation.
    fakes.telegram.push(429, too_many(1));
    let m = inbound(&t, 14, "1", "Привет", now());
    assert!(deliver(&env, &deps, &m).await.is_empty());
    assert_eq!(fakes.telegram_texts().len(), 2);
    assert_eq!(reply_state(&env, &m).await, "fallback");

    // A long one fails the job, which SQS redelivers after `retry_after`.
    fakes.telegram.push(429, too_many(120));
    let m2 = inbound(&t, 14, "2", "Ещё вопрос", now());
    store(&env, &[&m2]).await;
    let queue =
        sauda_shared::aws::SqsJobQueue::new(env.clients.sqs.clone(), env.queue_url("InboundQueue"));
    sauda_shared::ports::JobQueue::enqueue(
        &queue,
        &Envelope::inbound(m2.clone()),
        &m2.message_group_id(),
        &m2.deduplication_id(),
    )
    .await
    .unwrap();
    let event = env.sqs_event_from_queue("InboundQueue", 1).await;
    let response = handle(&deps, lambda_event(event)).await.unwrap();
    assert_eq!(failed_ids(&response).len(), 1);
    assert_eq!(reply_state(&env, &m2).await, "", "not marked handled");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        env.sqs_event_from_queue("InboundQueue", 1)
            .await
            .records
            .is_empty(),
        "held back for retry_after, not the 1 s visibility"
    );
}

#[tokio::test]
async fn handoff_pauses_the_agent_until_a_manager_resumes() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, true, |_| {}).await;
    fakes.llm.push(
        200,
        llm_tool(
            "call_h",
            "handoff_to_manager",
            json!({"reason": "wants a discount for 50 pumps"}),
        ),
    );
    fakes.llm.push(
        200,
        llm_text("Передаю вас менеджеру, он скоро ответит.", 50, 10),
    );
    let deps = deps(&env, &fakes);
    let m1 = inbound(&t, 15, "1", "Хочу скидку на 50 насосов", now() - 2_000);
    assert!(deliver(&env, &deps, &m1).await.is_empty());
    assert_eq!(
        fakes.telegram_texts(),
        ["Передаю вас менеджеру, он скоро ответит."]
    );
    let p = profile(&env, &t, "tg-15").await;
    assert_eq!(p["agent_paused"].as_bool().ok(), Some(&true));
    assert_eq!(
        attr_s(&p, "agent_paused_reason"),
        "wants a discount for 50 pumps"
    );

    // While paused: silence to the customer, the message forwarded to the managers.
    let m2 = inbound(&t, 15, "2", "Ну что там?", now() - 1_000);
    assert!(deliver(&env, &deps, &m2).await.is_empty());
    assert_eq!(fakes.telegram_texts().len(), 1);
    assert_eq!(fakes.llm_calls(), 2);
    assert_eq!(reply_state(&env, &m2).await, "paused");
    let notices: Vec<_> = envelopes(&env, "NotifyQueue")
        .await
        .into_iter()
        .filter_map(|e| match e.job {
            Job::Notify { notice } => Some(notice),
            _ => None,
        })
        .collect();
    let by_kind = |kind: &str| {
        notices
            .iter()
            .find(|n| n.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} notice"))
    };
    assert_eq!(notices.len(), 2);
    assert!(by_kind("handoff").html.contains("wants a discount"));
    assert!(by_kind("paused").html.contains("Ну что там?"));
    assert_eq!(today(&env, &t).await.get(metric::HANDOFFS), Some(&1));

    // A manager resumes (lead-capture clears the flag): the agent answers again.
    env.clients
        .dynamo
        .update_item()
        .table_name(&env.stack.table)
        .key("PK", AttributeValue::S(keys::contact_pk(&t, "tg-15")))
        .key("SK", AttributeValue::S(keys::CONTACT_PROFILE_SK.into()))
        .update_expression("SET agent_paused = :f")
        .expression_attribute_values(":f", AttributeValue::Bool(false))
        .send()
        .await
        .unwrap();
    fakes.llm.push(200, llm_text("Снова на связи!", 50, 5));
    let m3 = inbound(&t, 15, "3", "Ау", now());
    assert!(deliver(&env, &deps, &m3).await.is_empty());
    assert_eq!(fakes.telegram_texts().last().unwrap(), "Снова на связи!");
}

#[tokio::test]
async fn fallback_without_llm_hands_off_and_captures_contacts() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, false, |_| {}).await;
    let deps = deps(&env, &fakes);
    let m1 = inbound(
        &t,
        16,
        "1",
        "Мой телефон +7 701 765 43 21, перезвоните",
        now() - 2_000,
    );
    assert!(deliver(&env, &deps, &m1).await.is_empty());
    let leads = envelopes(&env, "LeadsQueue").await;
    assert_eq!(leads.len(), 1);
    let Job::CaptureLead { lead } = &leads[0].job else {
        panic!()
    };
    assert_eq!(lead.phone.as_deref(), Some("+77017654321"));
    assert!(fakes.telegram_texts()[0].contains("менеджер свяжется"));

    let m2 = inbound(&t, 16, "2", "Позовите менеджера", now() - 1_000);
    assert!(deliver(&env, &deps, &m2).await.is_empty());
    assert!(fakes.telegram_texts()[1].contains("Передал ваш вопрос менеджеру"));
    let p = profile(&env, &t, "tg-16").await;
    assert_eq!(p["agent_paused"].as_bool().ok(), Some(&true));
    assert_eq!(fakes.llm_calls(), 0);
    let c = today(&env, &t).await;
    assert_eq!(c.get(&metric::fallback_reason("no_llm")), Some(&2));
}

#[tokio::test]
async fn question_then_voice_note_is_answered_together_in_the_question_language() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, false, |_| {}).await;
    install_catalog(&env, &t, &pump_items()).await;
    let deps = deps(&env, &fakes);
    // The app says English; the customer writes Russian, then sends a voice note.
    let question = InboundMessage {
        language: Some("en".into()),
        ..inbound(
            &t,
            17,
            "1",
            "Сколько стоит насос Grundfos CR 10?",
            now() - 2_000,
        )
    };
    let voice = InboundMessage {
        kind: MessageKind::Voice,
        text: None,
        attachment: Some(Attachment::Voice {
            file_id: "voice-file".into(),
            duration_s: Some(4),
        }),
        ..inbound(&t, 17, "2", "", now() - 1_000)
    };
    store(&env, &[&question, &voice]).await;
    let response = handle(&deps, lambda_event(event(&[&question, &voice])))
        .await
        .unwrap();
    assert!(failed_ids(&response).is_empty());

    let texts = fakes.telegram_texts();
    assert_eq!(texts.len(), 1, "one answer for the burst: {texts:?}");
    assert!(texts[0].starts_with("Голосовые сообщения"), "{}", texts[0]);
    assert!(
        texts[0].contains("GR-CR10-2"),
        "searched the question: {}",
        texts[0]
    );
    assert!(!texts[0].contains("DN-VLV-15"), "{}", texts[0]);
    assert_eq!(reply_state(&env, &question).await, "superseded");
    assert_eq!(reply_state(&env, &voice).await, "fallback");
}

#[tokio::test]
async fn catalogs_of_two_tenants_never_mix() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let pumps = tenant(&env, false, |_| {}).await;
    let tools = tenant(&env, false, |_| {}).await;
    install_catalog(&env, &pumps, &pump_items()).await;
    install_catalog(
        &env,
        &tools,
        &[item(
            "BS-DRILL-18",
            "Дрель-шуруповёрт Bosch GSR 18V",
            65_000,
            Availability::InStock,
        )],
    )
    .await;
    // One warm instance serves both.
    let deps = deps(&env, &fakes);
    let ask = |t: &TenantId, chat: i64, text: &str| inbound(t, chat, "1", text, now());
    assert!(deliver(&env, &deps, &ask(&pumps, 17, "Нужна дрель Bosch"))
        .await
        .is_empty());
    assert!(deliver(&env, &deps, &ask(&tools, 17, "Нужна дрель Bosch"))
        .await
        .is_empty());
    assert!(
        deliver(&env, &deps, &ask(&tools, 18, "Насос Grundfos CR 10"))
            .await
            .is_empty()
    );
    let texts = fakes.telegram_texts();
    assert!(!texts[0].contains("BS-DRILL-18"), "{}", texts[0]);
    assert!(texts[1].contains("BS-DRILL-18"), "{}", texts[1]);
    assert!(!texts[2].contains("GR-CR10-2"), "{}", texts[2]);
    assert_eq!(deps.catalogs.as_ref().unwrap().len(), 2);

    // Versions live under each tenant's own prefix.
    let listed = env
        .clients
        .s3
        .list_objects_v2()
        .bucket(env.stack.bucket.as_deref().unwrap())
        .prefix(format!("catalogs/{pumps}/"))
        .send()
        .await
        .unwrap();
    assert!(listed
        .contents()
        .iter()
        .all(|o| o.key().unwrap().starts_with(&format!("catalogs/{pumps}/"))));
    assert_eq!(listed.contents().len(), 3, "source, index, manifest");
    // Another tenant's version cannot be activated.
    let theirs = sauda_infra::tenant::read_config(&env.clients.dynamo, &env.stack.table, &tools)
        .await
        .unwrap()
        .catalog
        .active_version
        .unwrap();
    let err = catalog_cli::activate_version(
        &env.clients,
        &env.stack.table,
        env.stack.bucket.as_deref().unwrap(),
        &pumps,
        &theirs,
    )
    .await;
    assert!(
        err.is_err(),
        "a version id of another tenant is not found under this one"
    );
}

#[tokio::test]
async fn catalog_versions_activate_and_roll_back() {
    let env = TestEnv::new().await;
    let t = tenant(&env, false, |_| {}).await;
    let bucket = env.stack.bucket.clone().unwrap();
    let v1 = install_catalog(&env, &t, &pump_items()).await;
    let dir = std::env::temp_dir().join(sauda_tests::unique("import"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("price.csv");
    std::fs::write(
        &path,
        "Артикул;Наименование;Цена;Наличие\nA-1;Насос;12 500;да\n;Без артикула;1;да\nA-2;Кран;abc;да\n\nA-3;Фильтр;990;нет\n",
    )
    .unwrap();
    let outcome = catalog_cli::import_catalog(
        &env.clients,
        &env.stack.table,
        &bucket,
        &t,
        &path,
        Some("kzt"),
        false,
        &catalog_cli::Quiet,
    )
    .await
    .unwrap();
    let v2 = outcome.manifest.version.clone();
    assert_eq!(outcome.manifest.items, 2);
    let rejected: Vec<(usize, &str)> = outcome
        .rejected
        .iter()
        .map(|r| (r.row, r.reason.as_str()))
        .collect();
    assert_eq!(rejected[0], (3, "SKU is empty"));
    assert_eq!(rejected[1].0, 4);
    assert_eq!(outcome.manifest.blank_rows, 1);
    let config = || sauda_infra::tenant::read_config(&env.clients.dynamo, &env.stack.table, &t);
    assert_eq!(
        config().await.unwrap().catalog.active_version,
        Some(v1.clone()),
        "not activated"
    );

    catalog_cli::activate_version(&env.clients, &env.stack.table, &bucket, &t, &v2)
        .await
        .unwrap();
    let c = config().await.unwrap().catalog;
    assert_eq!(
        (c.active_version, c.previous_versions),
        (Some(v2.clone()), vec![v1.clone()])
    );
    let listed = catalog_cli::list_versions(&env.clients, &env.stack.table, &bucket, &t)
        .await
        .unwrap();
    let summary: Vec<(String, bool)> = listed
        .iter()
        .map(|(m, a)| (m.version.clone(), *a))
        .collect();
    assert_eq!(summary, [(v1.clone(), false), (v2.clone(), true)]);

    let (from, to) = catalog_cli::rollback(&env.clients, &env.stack.table, &t)
        .await
        .unwrap();
    assert_eq!((from, to), (Some(v2), v1.clone()));
    assert_eq!(config().await.unwrap().catalog.active_version, Some(v1));
    assert!(
        catalog_cli::rollback(&env.clients, &env.stack.table, &t)
            .await
            .is_err(),
        "nothing older"
    );
    assert!(
        catalog_cli::activate_version(
            &env.clients,
            &env.stack.table,
            &bucket,
            &t,
            "v20990101-000000-0000"
        )
        .await
        .is_err(),
        "unknown versions are refused"
    );
}

#[tokio::test]
async fn aws_calls_per_reply() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, true, |c| {
        c.agent.monthly_budget_micros = Some(1_000_000_000)
    })
    .await;
    install_catalog(&env, &t, &pump_items()).await;
    fakes.llm.set_default(200, llm_text("Ответ", 100, 10));
    let deps = deps(&env, &fakes);
    // Warm the instance: tenant config, secrets, catalog index and the month's usage.
    let first = inbound(&t, 19, "1", "Насос Grundfos", now() - 1_000);
    assert!(deliver(&env, &deps, &first).await.is_empty());

    let m = inbound(&t, 19, "2", "А сколько стоит кран Danfoss?", now());
    store(&env, &[&m]).await;
    env.counter.reset();
    let response = handle(&deps, lambda_event(event(&[&m]))).await.unwrap();
    assert!(failed_ids(&response).is_empty());
    let calls = env.counter.snapshot();
    println!("AWS calls for one warm reply with the model: {calls:?}");
    assert_eq!(calls.get("DynamoDB.Query"), Some(&1));
    assert_eq!(calls.get("DynamoDB.TransactWriteItems"), Some(&1));
    assert_eq!(
        calls.get("DynamoDB.UpdateItem"),
        Some(&2),
        "counters + monthly usage, once per batch"
    );
    assert_eq!(env.counter.total(), 4);
    // The README's cost table is computed from these.
    assert_eq!(
        calls,
        sauda_infra::cost::snapshot(sauda_infra::cost::AGENT_REPLY_CALLS)
    );
    assert_eq!(fakes.telegram_texts().len(), 2);
}

/// Sets the platform's LLM key, as a deployment does.
async fn platform_key(env: &TestEnv, key: &str) {
    env.clients
        .secrets
        .put_secret_value()
        .secret_id(format!("sauda/{}/platform", env.stage()))
        .secret_string(json!({"llm_api_key": key}).to_string())
        .send()
        .await
        .unwrap();
}

async fn notices(env: &TestEnv) -> Vec<sauda_shared::notify::Notice> {
    envelopes(env, "NotifyQueue")
        .await
        .into_iter()
        .filter_map(|e| match e.job {
            Job::Notify { notice } => Some(notice),
            _ => None,
        })
        .collect()
}

/// Every header value a fake server was sent.
fn header_values(server: &FakeServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .flat_map(|r| {
            r.headers
                .values()
                .map(|v| v.to_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn a_tenant_model_url_never_gets_the_platform_key() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    platform_key(&env, "sk-platform").await;
    // The tenant's own model server, where the platform's key must never go.
    let theirs = FakeServer::start().await;
    theirs.set_default(200, llm_text("от модели арендатора", 10, 1));
    let url = format!("{}/v1", theirs.base_url);
    let t = tenant(&env, false, |c| c.agent.llm_base_url = Some(url.clone())).await;
    let deps = deps(&env, &fakes);
    for (i, text) in ["Есть насосы?", "А краны?"].iter().enumerate() {
        let m = inbound(&t, 31, &i.to_string(), text, now() - 2_000 + i as i64);
        assert!(deliver(&env, &deps, &m).await.is_empty());
        assert_eq!(reply_state(&env, &m).await, "fallback");
    }
    assert!(
        theirs.requests().is_empty(),
        "no tenant key: no call at all"
    );
    assert_eq!(fakes.llm_calls(), 0, "nor to the platform's model instead");
    assert_eq!(
        fakes.telegram_texts().len(),
        2,
        "the customer is answered anyway"
    );
    let told = notices(&env).await;
    assert_eq!(told.len(), 1, "the managers are told once: {told:?}");
    assert_eq!(told[0].kind, "llm_key_missing");
    assert!(told[0].html.contains("127.0.0.1"), "{}", told[0].html);
    let out = outbound(&env, &t, "tg-31").await;
    assert_eq!(attr_s(&out[0], "fallback_reason"), "no_llm");
    assert_eq!(
        today(&env, &t)
            .await
            .get(&metric::fallback_reason("no_llm")),
        Some(&2)
    );

    // With a key of its own, the tenant's URL gets that key and only that key.
    sauda_infra::tenant::merge_tenant_secrets(
        &env.clients.secrets,
        env.stage(),
        &t,
        TenantSecrets {
            llm_api_key: Some(Secret::new(LLM_KEY)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let deps = self::deps(&env, &fakes); // a new instance: the secrets cache is cold
    let m = inbound(&t, 31, "9", "Здравствуйте", now());
    assert!(deliver(&env, &deps, &m).await.is_empty());
    assert_eq!(theirs.requests().len(), 1);
    assert_eq!(
        theirs.requests()[0].headers["authorization"]
            .to_str()
            .unwrap(),
        format!("Bearer {LLM_KEY}")
    );
    assert!(
        header_values(&theirs)
            .iter()
            .all(|v| !v.contains("sk-platform")),
        "the platform key never reached the tenant's server"
    );
    assert_eq!(fakes.llm_calls(), 0);
    assert_eq!(
        fakes.telegram_texts().last().unwrap(),
        "от модели арендатора"
    );
}

#[tokio::test]
async fn a_tenant_model_url_outside_the_url_policy_is_never_called() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let listening = FakeServer::start().await;
    listening.set_default(200, llm_text("should never be asked", 1, 1));
    // Production's policy: loopback, private and link-local addresses are closed.
    let mut config = agent_config(&env, &fakes);
    config.url_policy = UrlPolicy::default();
    let mut deps = Deps::from_aws(&env.clients, &config);
    deps.settings.max_channel_wait = Duration::from_secs(3);
    let local = format!("{}/v1", listening.base_url);
    for (chat, url) in [
        (41, local.as_str()),
        (42, "https://169.254.169.254/latest/meta-data"),
        (43, "https://[fd00:ec2::254]/v1"),
    ] {
        let t = tenant(&env, true, |c| c.agent.llm_base_url = Some(url.to_owned())).await;
        let m = inbound(&t, chat, "1", "Есть насос Grundfos?", now());
        assert!(deliver(&env, &deps, &m).await.is_empty(), "{url}");
        assert_eq!(reply_state(&env, &m).await, "fallback", "{url}");
        let out = outbound(&env, &t, &format!("tg-{chat}")).await;
        assert_eq!(attr_s(&out[0], "fallback_reason"), "llm_error", "{url}");
    }
    assert!(
        listening.requests().is_empty(),
        "refused before any connection"
    );
    assert_eq!(fakes.llm_calls(), 0);
    let told = notices(&env).await;
    assert_eq!(told.len(), 3, "each tenant's managers are told: {told:?}");
    assert!(told.iter().all(|n| n.kind == "llm_url_refused"));
    assert!(told.iter().any(|n| n.html.contains("169.254.169.254")));
}

#[tokio::test]
async fn oversized_answers_are_refused_unread() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, true, |_| {}).await;
    let deps = deps(&env, &fakes);
    // The model: a 3 MiB answer is not a completion; not retried, the fallback answers.
    fakes
        .llm
        .push(200, llm_text(&"x".repeat(3 * 1024 * 1024), 1, 1));
    let m = inbound(&t, 51, "1", "Здравствуйте", now() - 2_000);
    assert!(deliver(&env, &deps, &m).await.is_empty());
    assert_eq!(fakes.llm_calls(), 1);
    assert_eq!(reply_state(&env, &m).await, "fallback");
    let out = outbound(&env, &t, "tg-51").await;
    assert_eq!(attr_s(&out[0], "fallback_reason"), "llm_error");

    // Telegram and WhatsApp: a 2 MiB answer fails the job, which is retried later.
    fakes.llm.set_default(200, llm_text("ответ", 1, 1));
    let huge =
        json!({"ok": true, "result": {"message_id": 1, "text": "y".repeat(2 * 1024 * 1024)}});
    fakes.telegram.push(200, huge.clone());
    let m = inbound(&t, 52, "1", "Здравствуйте", now() - 1_000);
    assert_eq!(deliver(&env, &deps, &m).await, ["m0"]);
    assert_eq!(reply_state(&env, &m).await, "", "not marked handled");
    fakes.whatsapp.push(200, huge);
    let m = whatsapp_inbound(&t, "77019998877", "wamid.BIG", "Здравствуйте", now());
    assert_eq!(deliver(&env, &deps, &m).await, ["m0"]);
    assert_eq!(reply_state(&env, &m).await, "");
}

#[tokio::test]
async fn kazakh_and_kyrgyz_customers_are_answered_in_their_language() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, false, |c| c.agent.rate_limit_per_minute = 1).await;
    let deps = deps(&env, &fakes);
    let minute = (now() / 60_000 - 1) * 60_000;
    // Kazakh: the fallback, then the rate-limit notice, in Kazakh (the tenant's default is Russian).
    let kk = |id: &str, s: i64| inbound(&t, 61, id, "Сәлеметсіз бе, сорғы бар ма?", minute + s);
    assert!(deliver(&env, &deps, &kk("1", 1_000)).await.is_empty());
    assert!(deliver(&env, &deps, &kk("2", 2_000)).await.is_empty());
    // Kyrgyz (the app says so): a voice note, then a message too soon.
    let voice = InboundMessage {
        kind: MessageKind::Voice,
        text: None,
        attachment: Some(Attachment::Voice {
            file_id: "v".into(),
            duration_s: Some(5),
        }),
        language: Some("ky".into()),
        ..inbound(&t, 62, "1", "", minute + 1_000)
    };
    assert!(deliver(&env, &deps, &voice).await.is_empty());
    let again = InboundMessage {
        language: Some("ky".into()),
        ..inbound(&t, 62, "2", "Үйгө жеткиресизби?", minute + 2_000)
    };
    assert!(deliver(&env, &deps, &again).await.is_empty());

    let sent = fakes.telegram_texts();
    assert_eq!(sent.len(), 4, "{sent:?}");
    assert_eq!(
        sent[0],
        format!("{}\n{}", texts::NOTHING_FOUND.kk, texts::OFFER_MANAGER.kk)
    );
    assert_eq!(sent[1], texts::RATE_LIMITED.kk);
    assert!(
        sent[2].starts_with(texts::VOICE_UNSUPPORTED.ky),
        "{}",
        sent[2]
    );
    assert!(sent[2].ends_with(texts::OFFER_MANAGER.ky), "{}", sent[2]);
    assert_eq!(sent[3], texts::RATE_LIMITED.ky);
    assert_eq!(attr_s(&profile(&env, &t, "tg-62").await, "language"), "ky");
}

/// A log writer that keeps everything written.
#[derive(Clone, Default)]
struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

#[tokio::test]
async fn logs_never_carry_a_phone_number_or_a_name() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, true, |_| {}).await;
    fakes.llm.set_default(200, llm_text("Здравствуйте!", 10, 1));
    let deps = deps(&env, &fakes);
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let m = InboundMessage {
        display_name: Some("Айгерим Нурланова".into()),
        ..whatsapp_inbound(&t, "77017776655", "wamid.LOG", "Есть насос?", now())
    };
    assert!(deliver(&env, &deps, &m).await.is_empty());
    // A redelivery, and a message that cannot be sent, log the contact too.
    assert!(deliver(&env, &deps, &m).await.is_empty());
    fakes.whatsapp.push(
        400,
        json!({"error": {"message": "Re-engagement message", "code": 131047}}),
    );
    let late = whatsapp_inbound(&t, "77017776655", "wamid.LOG2", "Алло", now() + 1);
    assert!(deliver(&env, &deps, &late).await.is_empty());
    drop(_guard);

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("inbound message handled"), "{text}");
    assert!(text.contains("already handled"), "{text}");
    assert!(text.contains("reply not sent"), "{text}");
    let digest = sauda_shared::redact::contact(&t, "wa-77017776655");
    assert!(text.contains(&digest), "the contact as its digest: {text}");
    for secret in ["77017776655", "7776655", "Айгерим", "Нурланова"] {
        assert!(!text.contains(secret), "{secret} in the logs:\n{text}");
    }
}

/// The month's plan usage item (`PLAN`, next to the AI spend).
async fn plan_usage(env: &TestEnv, t: &TenantId) -> HashMap<String, AttributeValue> {
    let month = jiff::Timestamp::now().strftime("%Y-%m").to_string();
    let (pk, sk) = sauda_shared::limits::usage_key(t, &month);
    item_of(env, &pk, &sk).await.unwrap_or_default()
}

#[tokio::test]
async fn conversations_count_once_a_month_and_warn_at_80_and_100_percent_never_blocking() {
    use sauda_shared::limits::{self, Metric, UsageStore};
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, true, |c| {
        c.plan.overrides.conversations_per_month = Some(5);
        c.agent.monthly_budget_micros = Some(1_000_000_000);
    })
    .await;
    fakes.llm.set_default(200, llm_text("Ответ", 100, 10));
    let mut deps = deps(&env, &fakes);
    deps.operator_chat_id = Some(4242);
    let month = jiff::Timestamp::now().strftime("%Y-%m").to_string();
    // Three conversations earlier this month.
    let usage =
        sauda_shared::limits_dynamo::DynamoUsage::new(env.clients.dynamo.clone(), &env.stack.table);
    let earlier = limits::count(&t, &month, Metric::ConversationsPerMonth, 3).unwrap();
    assert!(usage.mark(earlier).await.unwrap());

    // The 4th conversation: 80 %, the managers are told once.
    let a1 = inbound(&t, 31, "1", "Здравствуйте", now() - 3_000);
    assert!(deliver(&env, &deps, &a1).await.is_empty());
    assert_eq!(num(&plan_usage(&env, &t).await, "conversations"), 4);
    assert_eq!(
        attr_s(&profile(&env, &t, "tg-31").await, "usage_month"),
        month
    );
    let told = notices(&env).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].kind, "plan_limit");
    assert_eq!(
        told[0].id,
        sauda_shared::notify::notice_id(&["plan", "conversations_per_month", &month, "80"])
    );
    assert!(told[0].html.contains("4 из 5"), "{}", told[0].html);

    // The same conversation again: not counted, no call added to its reply.
    let a2 = inbound(&t, 31, "2", "А насос есть?", now() - 2_000);
    store(&env, &[&a2]).await;
    env.counter.reset();
    let response = handle(&deps, lambda_event(event(&[&a2]))).await.unwrap();
    assert!(failed_ids(&response).is_empty());
    assert_eq!(
        env.counter.snapshot(),
        sauda_infra::cost::snapshot(sauda_infra::cost::AGENT_REPLY_CALLS),
        "a reply in a conversation already counted costs what every reply costs"
    );
    assert_eq!(num(&plan_usage(&env, &t).await, "conversations"), 4);
    assert!(notices(&env).await.is_empty());

    // The 5th: 100 %, the managers and the operator are told; the customer is answered.
    let b1 = inbound(&t, 32, "1", "Добрый день", now() - 1_000);
    store(&env, &[&b1]).await;
    env.counter.reset();
    let response = handle(&deps, lambda_event(event(&[&b1]))).await.unwrap();
    assert!(failed_ids(&response).is_empty());
    let calls = env.counter.snapshot();
    println!("AWS calls for a new conversation reaching 100 %: {calls:?}");
    assert_eq!(
        calls.get("DynamoDB.Query"),
        Some(&2),
        "conversation + plan usage"
    );
    assert_eq!(
        calls.get("DynamoDB.TransactWriteItems"),
        Some(&1),
        "the count rides in the reply's transaction"
    );
    assert_eq!(
        calls.get("DynamoDB.UpdateItem"),
        Some(&3),
        "the 100 % marker, counters, monthly AI usage"
    );
    assert_eq!(
        calls.get("SQS.SendMessage"),
        Some(&2),
        "managers + operator"
    );
    assert_eq!(env.counter.total(), 8);
    let told = notices(&env).await;
    assert_eq!(told.len(), 2, "{told:?}");
    assert_eq!(told[0].kind, "plan_limit");
    assert_eq!(
        told[0].id,
        sauda_shared::notify::notice_id(&["plan", "conversations_per_month", &month, "100"])
    );
    assert_eq!(told[1].kind, "plan_over");
    assert_eq!(
        told[1].to,
        sauda_shared::notify::Recipients::Chats(vec![4242])
    );

    // The 6th: over the plan, still answered, no warning repeated.
    let c1 = inbound(&t, 33, "1", "Привет", now());
    assert!(deliver(&env, &deps, &c1).await.is_empty());
    assert_eq!(fakes.telegram_texts().len(), 4, "every customer answered");
    assert!(notices(&env).await.is_empty(), "once per period");
    let usage = plan_usage(&env, &t).await;
    assert_eq!(num(&usage, "conversations"), 6);
    assert_eq!(
        usage.get("over_conversations_per_month"),
        Some(&AttributeValue::Bool(true))
    );
}

#[tokio::test]
async fn eighty_percent_of_the_ai_budget_warns_managers_once_before_the_model_stops() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = priced_tenant(&env, 600).await;
    fakes
        .llm
        .set_default(200, llm_text("Ответ модели", 450, 50));
    let deps = deps(&env, &fakes);
    // Nothing spent yet: the model answers, 500 of 600 micros spent.
    let m1 = inbound(&t, 41, "1", "Здравствуйте", now() - 4_000);
    assert!(deliver(&env, &deps, &m1).await.is_empty());
    let first: Vec<_> = notices(&env)
        .await
        .into_iter()
        .filter(|n| n.kind.starts_with("budget"))
        .collect();
    assert!(first.is_empty(), "{first:?}");
    // 83 %: warned, and the model still answers.
    let m2 = inbound(&t, 41, "2", "А насос?", now() - 3_000);
    assert!(deliver(&env, &deps, &m2).await.is_empty());
    assert_eq!(fakes.llm_calls(), 2);
    // Spent: the catalog answers; the 80 % warning is not repeated.
    let m3 = inbound(&t, 41, "3", "А кран?", now() - 2_000);
    assert!(deliver(&env, &deps, &m3).await.is_empty());
    let m4 = inbound(&t, 41, "4", "Спасибо", now() - 1_000);
    assert!(deliver(&env, &deps, &m4).await.is_empty());
    assert_eq!(fakes.llm_calls(), 2);
    let kinds: Vec<String> = notices(&env)
        .await
        .into_iter()
        .filter(|n| n.kind.starts_with("budget"))
        .map(|n| n.kind)
        .collect();
    assert_eq!(kinds, ["budget_nearly", "budget_spent"]);
    let month = jiff::Timestamp::now().strftime("%Y-%m").to_string();
    let usage = item_of(&env, &keys::ai_usage(&t, &month).0, "USAGE")
        .await
        .unwrap();
    assert!(usage.contains_key("budget_80_notified_ms"));
    assert!(usage.contains_key("budget_notified_ms"));
}
