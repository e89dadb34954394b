//! The managers' inbox against moto and fake Telegram and WhatsApp servers: a handoff
//! answered from the manager's own Telegram and handed back with `/resume`; replies
//! through the API inside and outside WhatsApp's 24-hour window; templates and Meta's
//! template errors in plain words; the listing, its filters and cursor; long texts;
//! Telegram down; every cross-tenant and non-manager attempt; exact AWS calls.

use agent_reply::config::builtin_prices;
use agent_reply::AgentConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use sauda_shared::apikey::{ApiKeyStore, Role};
use sauda_shared::envelope::{Envelope, Job};
use sauda_shared::keys;
use sauda_shared::outbound::UrlPolicy;
use sauda_shared::tenant::{Manager, TemplateParamSpec, WhatsappTemplate};
use sauda_tests::fake::FakeServer;
use sauda_tests::{failed_ids, lambda_event, TestEnv, TestTenant};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const MANAGER_CHAT: i64 = 9001;
const CARD_ID: i64 = 700;

fn tg_ok(id: i64) -> Value {
    json!({"ok": true, "result": {"message_id": id, "date": 1, "chat": {"id": 1, "type": "private"}, "text": "x"}})
}

fn wa_ok(id: &str) -> Value {
    json!({"messaging_product": "whatsapp", "contacts": [{"input": "x", "wa_id": "x"}], "messages": [{"id": id}]})
}

fn now_s() -> i64 {
    sauda_shared::now_ms() / 1000
}

struct Fx {
    env: TestEnv,
    t: TestTenant,
    telegram: FakeServer,
    whatsapp: FakeServer,
    webhook: webhook::Deps,
    agent: agent_reply::Deps,
    notifier: notifier::Deps,
    inbox: Arc<inbox::Deps>,
    key: String,
}

impl Fx {
    async fn new() -> Self {
        let env = TestEnv::new().await;
        let telegram = FakeServer::start().await;
        telegram.set_default(200, tg_ok(CARD_ID));
        let whatsapp = FakeServer::start().await;
        whatsapp.set_default(200, wa_ok("wamid.OUT1"));
        let t = env.tenant().await;
        sauda_infra::tenant::update_config(&env.clients.dynamo, &env.stack.table, &t.id, |c| {
            c.default_language = "ru".into();
            c.managers = vec![Manager {
                chat_id: MANAGER_CHAT,
                name: "Айгерим".into(),
            }];
            c.whatsapp_templates = vec![WhatsappTemplate {
                name: "follow_up".into(),
                language: "ru".into(),
                category: "utility".into(),
                params: vec![TemplateParamSpec {
                    name: "name".into(),
                    example: "Бекзат".into(),
                }],
            }];
        })
        .await
        .unwrap();
        let core = env.core_config();
        let webhook = webhook::Deps::from_aws(
            &env.clients,
            &webhook::WebhookConfig {
                core: core.clone(),
                inbound_queue_url: env.queue_url("InboundQueue"),
                notify_queue_url: env.queue_url("NotifyQueue"),
                payments_queue_url: env.queue_url("PaymentsQueue"),
            },
        );
        let mut agent = agent_reply::Deps::from_aws(
            &env.clients,
            &AgentConfig {
                core: core.clone(),
                leads_queue_url: env.queue_url("LeadsQueue"),
                notify_queue_url: env.queue_url("NotifyQueue"),
                inbound_queue_url: env.queue_url("InboundQueue"),
                payments_queue_url: Some(env.queue_url("PaymentsQueue")),
                bucket: env.stack.bucket.clone(),
                telegram_api_base: telegram.base_url.clone(),
                whatsapp_api_base: whatsapp.base_url.clone(),
                // No key anywhere: the agent answers in its retrieval fallback.
                llm_base_url: "http://127.0.0.1:9/v1".into(),
                llm_model: "gpt-4o-mini".into(),
                llm_prices: builtin_prices(),
                catalog_cache_bytes: 1024 * 1024,
                llm_attempt_timeout: Duration::from_secs(1),
                llm_turn_budget: Duration::from_secs(2),
                url_policy: UrlPolicy::default(),
                operator_chat_id: None,
            },
        );
        agent.settings.max_channel_wait = Duration::from_secs(1);
        let mut notifier = env.notifier_with(&telegram.base_url, &whatsapp.base_url);
        notifier.max_rate_limit_wait = Duration::from_secs(1);
        let inbox = Arc::new(inbox::Deps::from_aws(
            &env.clients,
            &inbox::InboxConfig {
                core,
                notify_queue_url: env.queue_url("NotifyQueue"),
                url_policy: UrlPolicy::default(),
            },
        ));
        let key = issue(&env, &t.id, Role::Manager, "Айгерим").await;
        Self {
            env,
            t,
            telegram,
            whatsapp,
            webhook,
            agent,
            notifier,
            inbox,
            key,
        }
    }

    /// A Telegram update through the webhook (the tenant's secret token).
    async fn telegram_update(&self, update: Value) -> Value {
        let request = Request::post(format!("/t/{}/telegram", self.t.id))
            .header("content-type", "application/json")
            .header("x-telegram-bot-api-secret-token", self.t.telegram_secret())
            .body(Body::from(update.to_string()))
            .unwrap();
        let (status, body) = send(webhook::router(Arc::new(self.webhook.clone())), request).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn customer_says(&self, chat: i64, message_id: i64, text: &str) {
        let update = sauda_infra::demo::telegram_text(
            message_id as u64 + 1_000 * chat as u64,
            message_id,
            chat,
            now_s(),
            text,
        );
        self.telegram_update(update).await;
    }

    async fn manager_replies(&self, message_id: i64, to_card: Option<i64>, text: &str) -> Value {
        let mut message = json!({
            "message_id": message_id, "date": now_s(),
            "chat": {"id": MANAGER_CHAT, "type": "private", "first_name": "Aigerim"},
            "from": {"id": MANAGER_CHAT, "is_bot": false, "first_name": "Aigerim"},
            "text": text
        });
        if let Some(card) = to_card {
            message["reply_to_message"] = json!({
                "message_id": card, "date": now_s(),
                "chat": {"id": MANAGER_CHAT, "type": "private"}, "text": "card"
            });
        }
        self.telegram_update(json!({"update_id": 50_000 + message_id, "message": message}))
            .await
    }

    async fn whatsapp_says(&self, from: &str, wamid: &str, text: &str) {
        let body =
            sauda_infra::demo::whatsapp_text(&self.t.phone_number_id, from, wamid, now_s(), text)
                .to_string();
        self.whatsapp_webhook(&body).await;
    }

    async fn whatsapp_webhook(&self, body: &str) {
        let request = Request::post(format!("/t/{}/whatsapp", self.t.id))
            .header("content-type", "application/json")
            .header(
                "x-hub-signature-256",
                sauda_infra::demo::sign_whatsapp(self.t.app_secret(), body),
            )
            .body(Body::from(body.to_owned()))
            .unwrap();
        let (status, out) = send(webhook::router(Arc::new(self.webhook.clone())), request).await;
        assert_eq!(status, StatusCode::OK, "{out}");
    }

    /// Runs agent-reply over everything on the inbound queue, as Lambda would.
    async fn agent_runs(&self) {
        let bodies = bodies(self.env.receive_all("InboundQueue").await);
        if bodies.is_empty() {
            return;
        }
        let event = self.env.sqs_event_on("InboundQueue", &bodies);
        let response = agent_reply::handle(&self.agent, lambda_event(event))
            .await
            .unwrap();
        assert!(failed_ids(&response).is_empty(), "agent failed");
    }

    /// Runs the notifier until the notify queue is empty; the failed records' ids.
    async fn notifier_runs(&self) -> Vec<String> {
        let mut failed = Vec::new();
        for _ in 0..5 {
            let bodies = bodies(self.env.receive_all("NotifyQueue").await);
            if bodies.is_empty() {
                break;
            }
            let event = self.env.sqs_event_on("NotifyQueue", &bodies);
            let response = notifier::handle(&self.notifier, lambda_event(event))
                .await
                .unwrap();
            failed.extend(failed_ids(&response));
        }
        failed
    }

    /// The texts Telegram was asked to send to `chat`.
    fn sent_to(&self, chat: i64) -> Vec<String> {
        self.telegram
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/sendMessage") && r.json()["chat_id"] == json!(chat))
            .map(|r| r.json()["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    async fn post(&self, path: &str, body: Value, idem: &str) -> (StatusCode, Value) {
        self.api("POST", path, Some(body), Some(idem)).await
    }

    async fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        idem: Option<&str>,
    ) -> (StatusCode, Value) {
        self.api_as(&self.key, method, path, body, idem).await
    }

    async fn api_as(
        &self,
        key: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
        idem: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("/t/{}{path}", self.t.id))
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json");
        if let Some(idem) = idem {
            builder = builder.header("idempotency-key", idem);
        }
        let request = builder
            .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
            .unwrap();
        send(inbox::router(self.inbox.clone()), request).await
    }

    /// Sets an attribute of the profile (`PROFILE`) or the inbox row (`CONV`).
    async fn set(&self, contact: &str, sk: &str, attr: &str, value: AttributeValue) {
        self.env
            .clients
            .dynamo
            .update_item()
            .table_name(&self.env.stack.table)
            .key(
                "PK",
                AttributeValue::S(keys::contact_pk(&self.t.id, contact)),
            )
            .key("SK", AttributeValue::S(sk.into()))
            .update_expression("SET #a = :v")
            .expression_attribute_names("#a", attr)
            .expression_attribute_values(":v", value)
            .send()
            .await
            .unwrap();
    }
}

async fn issue(env: &TestEnv, tenant: &sauda_shared::TenantId, role: Role, label: &str) -> String {
    ApiKeyStore::new(env.clients.dynamo.clone(), &env.stack.table)
        .issue(tenant, role, label)
        .await
        .unwrap()
        .presented
        .expose()
        .to_owned()
}

/// A manager's update as the webhook queues it.
fn relayed(tenant: &sauda_shared::TenantId, message_id: i64, text: &str) -> Envelope {
    Envelope::manager_update(sauda_shared::inbox::ManagerUpdate {
        tenant: tenant.clone(),
        chat_id: MANAGER_CHAT,
        message_id,
        replying_to: Some(CARD_ID),
        text: Some(text.into()),
        photo_file_id: None,
        sender_name: None,
        at_ms: sauda_shared::now_ms(),
    })
}

fn bodies(messages: Vec<aws_sdk_sqs::types::Message>) -> Vec<String> {
    messages.into_iter().filter_map(|m| m.body).collect()
}

async fn send(router: axum::Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}

#[tokio::test]
async fn handoff_then_the_manager_answers_from_telegram_and_resume_hands_back() {
    let fx = Fx::new().await;
    // The customer asks for a person: the agent hands off and pauses itself.
    fx.customer_says(15, 1, "Позовите менеджера, хочу скидку")
        .await;
    fx.agent_runs().await;
    assert_eq!(fx.sent_to(15).len(), 1, "the agent's handoff answer");
    assert!(fx.notifier_runs().await.is_empty());
    let card = fx.sent_to(MANAGER_CHAT).pop().expect("a handoff card");
    assert!(
        card.contains("хочу скидку"),
        "the thread shows the message: {card}"
    );
    assert!(card.contains("/resume"), "and how to answer: {card}");

    // The manager replies to the card from their own Telegram: the customer gets it.
    let routed = fx
        .manager_replies(
            41,
            Some(CARD_ID),
            "Здравствуйте! Это Айгерим, дам скидку 5%.",
        )
        .await;
    assert_eq!(routed["manager"], true, "never the agent's: {routed}");
    assert!(fx.env.receive_all("InboundQueue").await.is_empty());
    assert!(fx.notifier_runs().await.is_empty());
    assert_eq!(
        fx.sent_to(15).last().unwrap(),
        "Здравствуйте! Это Айгерим, дам скидку 5%."
    );
    let ack = fx.sent_to(MANAGER_CHAT).pop().unwrap();
    assert!(ack.starts_with("✓"), "{ack}");
    let ack_request = fx
        .telegram
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path.ends_with("/sendMessage"))
        .unwrap();
    assert_eq!(
        ack_request.json()["reply_parameters"]["message_id"],
        41,
        "a reply to the manager's message"
    );
    // Redelivered: nobody gets anything twice.
    let sent_before = fx.telegram.requests().len();
    let relay = relayed(&fx.t.id, 41, "Здравствуйте! Это Айгерим, дам скидку 5%.");
    let event = fx.env.sqs_event_on("NotifyQueue", &[relay.to_json()]);
    notifier::handle(&fx.notifier, lambda_event(event))
        .await
        .unwrap();
    assert_eq!(
        fx.telegram.requests().len(),
        sent_before,
        "sent once per id"
    );

    // The customer answers (Telegram dates are in seconds: a second later, so the
    // transcript's order is certain): the agent stays silent, the manager sees it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    fx.customer_says(15, 2, "Спасибо, беру!").await;
    fx.agent_runs().await;
    assert_eq!(fx.sent_to(15).len(), 2, "the agent is paused");
    assert!(fx.notifier_runs().await.is_empty());
    let forwarded = fx.sent_to(MANAGER_CHAT).pop().unwrap();
    assert!(forwarded.contains("Спасибо, беру!"), "{forwarded}");

    // The transcript says who wrote what.
    let (status, transcript) = fx
        .api("GET", "/conversations/tg-15/messages", None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{transcript}");
    let authors: Vec<String> = transcript["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["author"]["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        authors,
        ["customer", "manager", "fallback", "customer"],
        "newest first"
    );
    let manager = &transcript["messages"][1];
    assert_eq!(manager["author"]["name"], "Айгерим");
    assert_eq!(manager["author"]["chat_id"], MANAGER_CHAT);
    assert_eq!(manager["delivery"]["state"], "sent");

    // `/who` in a reply to the card, then `/resume`: the agent answers again.
    fx.manager_replies(42, Some(CARD_ID), "/who").await;
    assert!(fx.notifier_runs().await.is_empty());
    let who = fx.sent_to(MANAGER_CHAT).pop().unwrap();
    assert!(who.contains("Агент на паузе"), "{who}");
    fx.manager_replies(43, Some(CARD_ID), "/resume").await;
    assert!(fx.notifier_runs().await.is_empty());
    assert!(fx
        .sent_to(MANAGER_CHAT)
        .pop()
        .unwrap()
        .contains("снова отвечает"));
    fx.customer_says(15, 3, "А доставка есть?").await;
    fx.agent_runs().await;
    assert_eq!(fx.sent_to(15).len(), 3, "the agent answered again");
    let (_, list) = fx.api("GET", "/conversations", None, None).await;
    let row = &list["conversations"][0];
    assert_eq!(row["contact"], "tg-15");
    assert_eq!(row["agent_paused"], false);
    assert_eq!(
        row["assignee"]["chat_id"], MANAGER_CHAT,
        "the replying manager took it"
    );
    assert_eq!(row["last_message"]["author"], "fallback");
}

#[tokio::test]
async fn api_replies_inside_and_outside_whatsapps_window_and_templates() {
    let fx = Fx::new().await;
    fx.whatsapp_says("77011234567", "wamid.IN1", "Здравствуйте, есть насосы?")
        .await;
    fx.agent_runs().await;
    assert!(fx.notifier_runs().await.is_empty());
    let contact = "wa-77011234567";
    let path = format!("/conversations/{contact}/messages");

    // Inside the window: free text, queued, sent once, however often it is retried.
    let text = json!({"text": "Да, Grundfos CR 10 есть. Когда удобно созвониться?"});
    let (status, body) = fx
        .api("POST", &path, Some(text.clone()), Some("reply-1"))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["id"], format!("api:{}:reply-1", key_id(&fx.key)));
    let (status, again) = fx
        .api("POST", &path, Some(text.clone()), Some("reply-1"))
        .await;
    assert_eq!((status, &again["id"]), (StatusCode::ACCEPTED, &body["id"]));
    let (status, reused) = fx.post(&path, json!({"text": "другое"}), "reply-1").await;
    assert_eq!(
        (status, code(&reused)),
        (StatusCode::CONFLICT, "idempotency_key_reused")
    );
    assert!(fx.notifier_runs().await.is_empty());
    let texts: Vec<Value> = fx
        .whatsapp
        .requests()
        .iter()
        .map(|r| r.json())
        .filter(|j| {
            j["text"]["body"]
                .as_str()
                .is_some_and(|t| t.contains("Grundfos CR 10"))
        })
        .collect();
    assert_eq!(texts.len(), 1, "one message for one idempotency key");
    assert_eq!(texts[0]["to"], "77011234567");

    // WhatsApp reports it read: the transcript shows it.
    let status_body = sauda_infra::demo::whatsapp_status(
        &fx.t.phone_number_id,
        "77011234567",
        "wamid.OUT1",
        now_s(),
        "read",
    )
    .to_string();
    fx.whatsapp_webhook(&status_body).await;
    let (_, transcript) = fx.api("GET", &path, None, None).await;
    let newest = &transcript["messages"][0];
    assert_eq!(newest["author"]["type"], "manager");
    assert_eq!(newest["author"]["name"], "Айгерим");
    assert_eq!(newest["delivery"]["state"], "read");

    // Too long for WhatsApp: refused with a clear code, nothing queued.
    let (status, long) = fx
        .post(&path, json!({"text": "я".repeat(4097)}), "long-1")
        .await;
    assert_eq!(
        (status, code(&long)),
        (StatusCode::UNPROCESSABLE_ENTITY, "text_too_long")
    );

    // 25 hours later: text is refused with the templates listed; a template goes.
    let old = sauda_shared::now_ms() - 25 * 3600 * 1000;
    for sk in [keys::CONTACT_PROFILE_SK, keys::CONVERSATION_SK] {
        fx.set(
            contact,
            sk,
            "last_inbound_ms",
            AttributeValue::N(old.to_string()),
        )
        .await;
    }
    let (status, closed) = fx.post(&path, json!({"text": "Ау?"}), "late-1").await;
    assert_eq!(
        (status, code(&closed)),
        (StatusCode::CONFLICT, "window_closed"),
        "{closed}"
    );
    assert_eq!(closed["error"]["templates"][0]["name"], "follow_up");
    let template_path = format!("/conversations/{contact}/template");
    let (status, bad) = fx
        .post(
            &template_path,
            json!({"name": "follow_up", "params": []}),
            "t-0",
        )
        .await;
    assert_eq!(
        (status, code(&bad)),
        (StatusCode::UNPROCESSABLE_ENTITY, "template_params_mismatch")
    );
    let (status, unknown) = fx
        .post(
            &template_path,
            json!({"name": "nope", "params": []}),
            "t-00",
        )
        .await;
    assert_eq!(
        (status, code(&unknown)),
        (StatusCode::UNPROCESSABLE_ENTITY, "template_not_found")
    );
    let (status, queued) = fx
        .post(
            &template_path,
            json!({"name": "follow_up", "params": ["Бекзат"]}),
            "t-1",
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert!(fx.notifier_runs().await.is_empty());
    let template = fx.whatsapp.requests().last().unwrap().json();
    assert_eq!(template["type"], "template");
    assert_eq!(template["template"]["name"], "follow_up");
    assert_eq!(
        template["template"]["components"][0]["parameters"][0]["text"],
        "Бекзат"
    );

    // Meta refuses a template (132001): the managers read why, in Russian.
    fx.whatsapp.push(
        400,
        json!({"error": {"message": "(#132001) Template name does not exist in the translation", "code": 132001}}),
    );
    let (status, _) = fx
        .post(
            &template_path,
            json!({"name": "follow_up", "params": ["Бекзат"]}),
            "t-2",
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(
        fx.notifier_runs().await.is_empty(),
        "a refusal is not retried"
    );
    let told = fx
        .sent_to(MANAGER_CHAT)
        .pop()
        .expect("the managers are told");
    assert!(
        told.contains("132001") && told.contains("не одобрен"),
        "{told}"
    );
    let (_, transcript) = fx.api("GET", &path, None, None).await;
    assert_eq!(transcript["messages"][0]["delivery"]["state"], "failed");
    assert_eq!(transcript["messages"][0]["delivery"]["error_code"], 132001);
    assert_eq!(transcript["messages"][0]["template"], "follow_up");
}

fn key_id(key: &str) -> &str {
    key.strip_prefix("sk_")
        .and_then(|k| k.split('_').next())
        .unwrap()
}

#[tokio::test]
async fn listing_filters_and_cursor_and_the_exact_aws_calls_of_every_route() {
    let fx = Fx::new().await;
    for (i, chat) in [21_i64, 22, 23].iter().enumerate() {
        fx.customer_says(*chat, 1, &format!("Вопрос {i}")).await;
        fx.agent_runs().await;
    }
    fx.customer_says(24, 1, "Позовите менеджера").await;
    fx.agent_runs().await;
    assert!(fx.notifier_runs().await.is_empty());

    // Warm the instance (tenant config and the key's record are cached).
    let (status, all) = fx.api("GET", "/conversations?limit=2", None, None).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let first: Vec<&str> = all["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["contact"].as_str().unwrap())
        .collect();
    assert_eq!(first, ["tg-24", "tg-23"], "most recent first");
    let cursor = all["next_cursor"].as_str().unwrap().to_owned();
    let (_, rest) = fx
        .api(
            "GET",
            &format!("/conversations?limit=2&cursor={cursor}"),
            None,
            None,
        )
        .await;
    let rest: Vec<&str> = rest["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["contact"].as_str().unwrap())
        .collect();
    assert_eq!(rest, ["tg-22", "tg-21"]);
    let (status, wrong) = fx
        .api(
            "GET",
            &format!("/conversations?limit=2&needs_reply=true&cursor={cursor}"),
            None,
            None,
        )
        .await;
    assert_eq!(
        (status, code(&wrong)),
        (StatusCode::BAD_REQUEST, "invalid_cursor"),
        "a cursor is bound to its filters"
    );

    let (_, handed) = fx
        .api("GET", "/conversations?handed_off=true", None, None)
        .await;
    assert_eq!(handed["conversations"].as_array().unwrap().len(), 1);
    assert_eq!(handed["conversations"][0]["contact"], "tg-24");
    assert_eq!(handed["conversations"][0]["agent_paused"], true);
    let (_, unread) = fx
        .api(
            "GET",
            "/conversations?unread=true&channel=telegram",
            None,
            None,
        )
        .await;
    assert_eq!(unread["conversations"].as_array().unwrap().len(), 4);
    let (_, none) = fx
        .api("GET", "/conversations?channel=whatsapp", None, None)
        .await;
    assert!(none["conversations"].as_array().unwrap().is_empty());
    let (status, bad) = fx
        .api("GET", "/conversations?needs_reply=maybe", None, None)
        .await;
    assert_eq!(
        (status, code(&bad)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_filter")
    );

    let calls = |fx: &Fx| {
        let c = fx.env.counter.snapshot();
        fx.env.counter.reset();
        c
    };
    let expect = |c: std::collections::BTreeMap<String, usize>, want: &[(&str, usize)]| {
        let want: std::collections::BTreeMap<String, usize> =
            want.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
        assert_eq!(c, want);
    };
    fx.env.counter.reset();
    let (status, _) = fx.api("GET", "/conversations", None, None).await;
    assert_eq!(status, StatusCode::OK);
    expect(
        calls(&fx),
        &[
            ("DynamoDB.UpdateItem", 1),
            ("DynamoDB.Query", 1),
            ("DynamoDB.BatchGetItem", 1),
        ],
    );
    let (status, _) = fx
        .api("GET", "/conversations/tg-24/messages", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    expect(
        calls(&fx),
        &[("DynamoDB.UpdateItem", 1), ("DynamoDB.Query", 1)],
    );
    let (status, read) = fx
        .api("POST", "/conversations/tg-24/read", None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    expect(calls(&fx), &[("DynamoDB.UpdateItem", 2)]);
    let (status, assigned) = fx
        .api(
            "POST",
            "/conversations/tg-24/assign",
            Some(json!({"chat_id": MANAGER_CHAT})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{assigned}");
    expect(
        calls(&fx),
        &[
            ("DynamoDB.UpdateItem", 1),
            ("DynamoDB.TransactWriteItems", 1),
        ],
    );
    let (status, _) = fx
        .api("POST", "/conversations/tg-24/resume", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    expect(
        calls(&fx),
        &[
            ("DynamoDB.UpdateItem", 1),
            ("DynamoDB.TransactWriteItems", 1),
        ],
    );
    let (status, _) = fx
        .api("POST", "/conversations/tg-24/pause", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    expect(
        calls(&fx),
        &[
            ("DynamoDB.UpdateItem", 1),
            ("DynamoDB.TransactWriteItems", 1),
        ],
    );
    let reply = json!({"text": "Добрый день!"});
    let (status, _) = fx
        .api(
            "POST",
            "/conversations/tg-24/messages",
            Some(reply.clone()),
            Some("c-1"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    expect(
        calls(&fx),
        &[
            ("DynamoDB.UpdateItem", 1),
            ("DynamoDB.BatchGetItem", 1),
            ("DynamoDB.TransactWriteItems", 1),
            ("SQS.SendMessage", 1),
        ],
    );
    let (status, _) = fx
        .api(
            "POST",
            "/conversations/tg-24/messages",
            Some(reply),
            Some("c-1"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    expect(
        calls(&fx),
        &[
            ("DynamoDB.UpdateItem", 1),
            ("DynamoDB.BatchGetItem", 1),
            ("SQS.SendMessage", 1),
        ],
    );
    // The notifier: one read, the send, one transaction, the batch's counters.
    let bodies = bodies(fx.env.receive_all("NotifyQueue").await);
    assert_eq!(bodies.len(), 2, "queued twice, sent once");
    calls(&fx);
    let event = fx.env.sqs_event_on("NotifyQueue", &bodies[..1]);
    let response = notifier::handle(&fx.notifier, lambda_event(event))
        .await
        .unwrap();
    assert!(failed_ids(&response).is_empty());
    expect(
        calls(&fx),
        &[
            ("DynamoDB.BatchGetItem", 1),
            ("DynamoDB.TransactWriteItems", 1),
            ("DynamoDB.UpdateItem", 1),
        ],
    );
    let event = fx.env.sqs_event_on("NotifyQueue", &bodies[1..]);
    notifier::handle(&fx.notifier, lambda_event(event))
        .await
        .unwrap();
    assert_eq!(
        fx.sent_to(24)
            .iter()
            .filter(|t| *t == "Добрый день!")
            .count(),
        1
    );
    let (_, row) = fx
        .api(
            "GET",
            "/conversations?needs_reply=false&agent_paused=true",
            None,
            None,
        )
        .await;
    assert_eq!(row["conversations"][0]["contact"], "tg-24");
    assert_eq!(row["conversations"][0]["unread"], 0);
    assert_eq!(
        row["conversations"][0]["last_message"]["author_name"],
        "Айгерим"
    );
}

#[tokio::test]
async fn long_telegram_replies_are_split_and_an_outage_loses_nothing() {
    let fx = Fx::new().await;
    fx.customer_says(31, 1, "Пришлите спецификацию").await;
    fx.agent_runs().await;
    fx.notifier_runs().await;
    let before = fx.sent_to(31).len();
    let long = "Насос Grundfos CR 10-2, чугун, 400 В. ".repeat(300);
    let (status, queued) = fx
        .api(
            "POST",
            "/conversations/tg-31/messages",
            Some(json!({"text": long})),
            Some("spec-1"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["parts"], 3);
    // Telegram is down: the record fails and stays on the queue; nothing is lost.
    fx.telegram.push(
        502,
        json!({"ok": false, "error_code": 502, "description": "Bad Gateway"}),
    );
    let bodies = bodies(fx.env.receive_all("NotifyQueue").await);
    let event = fx.env.sqs_event_on("NotifyQueue", &bodies);
    let response = notifier::handle(&fx.notifier, lambda_event(event.clone()))
        .await
        .unwrap();
    assert_eq!(failed_ids(&response), ["m0"]);
    // Redelivered once Telegram is back: sent whole, once.
    let response = notifier::handle(&fx.notifier, lambda_event(event.clone()))
        .await
        .unwrap();
    assert!(failed_ids(&response).is_empty());
    notifier::handle(&fx.notifier, lambda_event(event))
        .await
        .unwrap();
    let parts = &fx.sent_to(31)[before..];
    assert_eq!(
        parts.len(),
        1 + 3,
        "the failed first try, then the three parts"
    );
    assert!(parts[1..].iter().all(|p| p.chars().count() <= 4096));
    // An image by URL goes as a photo.
    let (status, _) = fx
        .api(
            "POST",
            "/conversations/tg-31/messages",
            Some(json!({"image_url": "https://shop.example/cr10.jpg", "caption": "Вот он"})),
            Some("img-1"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(fx.notifier_runs().await.is_empty());
    let photo = fx
        .telegram
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/sendPhoto"))
        .unwrap();
    assert_eq!(photo.json()["photo"], "https://shop.example/cr10.jpg");
    assert_eq!(photo.json()["caption"], "Вот он");
}

#[tokio::test]
async fn other_tenants_and_non_managers_can_never_read_write_or_relay() {
    let fx = Fx::new().await;
    fx.customer_says(41, 1, "Позовите менеджера").await;
    fx.agent_runs().await;
    assert!(fx.notifier_runs().await.is_empty());

    // Tenant B, with the same manager chat and its own conversation and key.
    let b = fx.env.tenant().await;
    sauda_infra::tenant::update_config(&fx.env.clients.dynamo, &fx.env.stack.table, &b.id, |c| {
        c.managers = vec![Manager {
            chat_id: MANAGER_CHAT,
            name: "B".into(),
        }];
    })
    .await
    .unwrap();
    let b_key = issue(&fx.env, &b.id, Role::Manager, "B").await;
    for (method, path, body) in [
        ("GET", "/conversations".to_owned(), None),
        ("GET", "/conversations/tg-41/messages".to_owned(), None),
        ("POST", "/conversations/tg-41/read".to_owned(), None),
        ("POST", "/conversations/tg-41/pause".to_owned(), None),
        (
            "POST",
            "/conversations/tg-41/messages".to_owned(),
            Some(json!({"text": "hi"})),
        ),
    ] {
        let (status, body) = fx.api_as(&b_key, method, &path, body, Some("x-1")).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNAUTHORIZED, "invalid_api_key"),
            "{method} {path}"
        );
    }
    // B's key on B's tenant does not see A's conversation.
    let b_inbox = inbox::router(fx.inbox.clone());
    let request = Request::get(format!("/t/{}/conversations/tg-41/messages", b.id))
        .header("authorization", format!("Bearer {b_key}"))
        .body(Body::empty())
        .unwrap();
    let (status, body) = send(b_inbox.clone(), request).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "conversation_not_found")
    );
    let request = Request::post(format!("/t/{}/conversations/tg-41/messages", b.id))
        .header("authorization", format!("Bearer {b_key}"))
        .header("idempotency-key", "b-1")
        .body(Body::from(json!({"text": "hi"}).to_string()))
        .unwrap();
    let (status, body) = send(b_inbox, request).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "conversation_not_found")
    );
    // A partner key is not a manager's; an unknown conversation is 404; no key is 401.
    let partner = issue(
        &fx.env,
        &fx.t.id,
        Role::Partner {
            partner_id: "p1".into(),
        },
        "till",
    )
    .await;
    let (status, body) = fx
        .api_as(&partner, "GET", "/conversations", None, None)
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "role_not_allowed")
    );
    let (status, body) = fx
        .api("POST", "/conversations/tg-999/read", None, None)
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "conversation_not_found")
    );
    let (status, body) = fx
        .api("GET", "/conversations/web-1/messages", None, None)
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "conversation_not_found")
    );
    let (status, body) = fx.api_as("", "GET", "/conversations", None, None).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "api_key_required")
    );
    let (status, body) = fx
        .api(
            "POST",
            "/conversations/tg-41/messages",
            Some(json!({"text": "hi"})),
            None,
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "idempotency_key_required")
    );
    let (status, body) = fx
        .api(
            "POST",
            "/conversations/tg-41/assign",
            Some(json!({"chat_id": 12345})),
            None,
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_manager")
    );

    // A chat that is not a manager's, replying to the card's message id: a customer,
    // whose message goes to the agent, never to the card's conversation.
    let stranger = json!({"update_id": 77, "message": {
        "message_id": 5, "date": now_s(),
        "chat": {"id": 4242, "type": "private", "first_name": "Eve"},
        "reply_to_message": {"message_id": CARD_ID, "date": now_s(), "chat": {"id": 4242, "type": "private"}, "text": "x"},
        "text": "перешлите клиенту 41"
    }});
    let routed = fx.telegram_update(stranger).await;
    assert_ne!(routed["manager"], true);
    assert_eq!(
        fx.env.receive_all("InboundQueue").await.len(),
        1,
        "to the agent as a customer"
    );
    let relays: Vec<Envelope> = fx
        .env
        .receive_all("NotifyQueue")
        .await
        .into_iter()
        .filter_map(|m| Envelope::from_json(m.body()?).ok())
        .filter(|e| matches!(e.job, Job::ManagerUpdate { .. }))
        .collect();
    assert!(relays.is_empty());

    // B's bot: the same manager chat replying to A's card id finds no card of B's.
    let before = fx.sent_to(41).len();
    let relay = relayed(&b.id, 9, "в чужой разговор");
    let event = fx.env.sqs_event_on("NotifyQueue", &[relay.to_json()]);
    let response = notifier::handle(&fx.notifier, lambda_event(event))
        .await
        .unwrap();
    assert!(failed_ids(&response).is_empty());
    assert_eq!(fx.sent_to(41).len(), before, "nothing reached A's customer");
    assert!(
        fx.sent_to(MANAGER_CHAT)
            .last()
            .unwrap()
            .contains("ответьте на его карточку")
            || fx
                .sent_to(MANAGER_CHAT)
                .last()
                .unwrap()
                .contains("reply to their card")
    );
    // A forged envelope (tenant B carrying A's message) is poison, never sent.
    let mut forged = relayed(&fx.t.id, 10, "x");
    forged.tenant = b.id.clone();
    assert!(Envelope::from_json(&forged.to_json()).is_err());
}

#[tokio::test]
async fn a_managers_photo_reaches_a_whatsapp_customer_and_a_failed_status_is_explained() {
    let fx = Fx::new().await;
    fx.whatsapp_says("77019998877", "wamid.IN7", "Позовите менеджера")
        .await;
    fx.agent_runs().await;
    assert!(fx.notifier_runs().await.is_empty());
    assert!(fx
        .sent_to(MANAGER_CHAT)
        .pop()
        .unwrap()
        .contains("Позовите менеджера"));

    // The manager replies to the card with a photo: fetched from Telegram, uploaded to
    // WhatsApp, sent by its media id.
    let photo = json!({"update_id": 60_001, "message": {
        "message_id": 61, "date": now_s(),
        "chat": {"id": MANAGER_CHAT, "type": "private", "first_name": "Aigerim"},
        "reply_to_message": {"message_id": CARD_ID, "date": now_s(), "chat": {"id": MANAGER_CHAT, "type": "private"}, "text": "card"},
        "photo": [{"file_id": "AgACphoto", "file_unique_id": "u1", "width": 800, "height": 600}],
        "caption": "Вот этот насос"
    }});
    assert_eq!(fx.telegram_update(photo).await["manager"], true);
    fx.telegram.push(
        200,
        json!({"ok": true, "result": {"file_id": "AgACphoto", "file_unique_id": "u1", "file_path": "photos/file_1.jpg"}}),
    );
    fx.telegram.push(200, json!("jpeg bytes"));
    fx.whatsapp.push(200, json!({"id": "media.1"}));
    assert!(fx.notifier_runs().await.is_empty());
    let telegram = fx.telegram.requests();
    assert!(telegram.iter().any(|r| r.path.ends_with("/getFile")));
    assert!(
        telegram
            .iter()
            .any(|r| r.path.ends_with("/photos/file_1.jpg")),
        "downloaded with the bot's token"
    );
    let whatsapp = fx.whatsapp.requests();
    assert!(whatsapp.iter().any(|r| r.path.ends_with("/media")));
    let sent = whatsapp.last().unwrap().json();
    assert_eq!(sent["type"], "image");
    assert_eq!(sent["image"]["id"], "media.1");
    assert_eq!(sent["image"]["caption"], "Вот этот насос");
    assert!(fx.sent_to(MANAGER_CHAT).pop().unwrap().starts_with("✓"));
    let (_, transcript) = fx
        .api("GET", "/conversations/wa-77019998877/messages", None, None)
        .await;
    let newest = &transcript["messages"][0];
    assert_eq!(newest["kind"], "image");
    assert_eq!(newest["author"]["type"], "manager");
    assert!(
        !newest["text"].as_str().unwrap().contains("AgACphoto"),
        "a file id is not shown"
    );

    // WhatsApp later reports the message failed: the managers read why.
    let failed = sauda_infra::demo::whatsapp_status(
        &fx.t.phone_number_id,
        "77019998877",
        "wamid.OUT1",
        now_s(),
        "failed",
    )
    .to_string();
    fx.whatsapp_webhook(&failed).await;
    assert!(fx.notifier_runs().await.is_empty());
    let told = fx.sent_to(MANAGER_CHAT).pop().unwrap();
    assert!(
        told.contains("не отправлено") && told.contains("24 часов"),
        "{told}"
    );
    let (_, transcript) = fx
        .api("GET", "/conversations/wa-77019998877/messages", None, None)
        .await;
    assert_eq!(transcript["messages"][0]["delivery"]["state"], "failed");
    assert_eq!(transcript["messages"][0]["delivery"]["error_code"], 131047);
}
