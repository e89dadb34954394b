//! The deterministic chat side on moto with fake Telegram and WhatsApp: `/start ref-…`
//! joins exactly once, balance and referral link without a model, signed buttons
//! (stale, forged and foreign ones change nothing), language, contact a manager,
//! WhatsApp taps, Telegram button presses and groups through the signed webhook.

use agent_reply::{handle, AgentConfig, Deps};
use axum::body::Body;
use http::{Request, StatusCode};
use loyalty::input::CustomerRef;
use loyalty::model::{account_key, Account};
use loyalty::ops::{Actor, Join, JoinInput, ReferralCodeFor, Scope};
use loyalty::store::{self as ledger, LoyaltyStore};
use sauda_shared::aws::DynamoMessageStore;
use sauda_shared::envelope::{Envelope, Job};
use sauda_shared::i18n::{agent as agent_texts, chat as texts, Lang};
use sauda_shared::message::{Channel, InboundMessage, MessageKind};
use sauda_shared::ports::MessageStore;
use sauda_shared::stats::metric;
use sauda_shared::tenant::{Manager, TenantConfig};
use sauda_shared::TenantId;
use sauda_tests::chat_env::{agent_config, deliver, event, now, telegram, whatsapp, Fakes, Sent};
use sauda_tests::{failed_ids, lambda_event, TestEnv, TestTenant};
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;

/// The last Telegram message the bot sent: its text and its buttons' callback data.
fn last_telegram(fakes: &Fakes) -> (String, Vec<String>) {
    let sent = fakes.telegram_sent().pop().expect("a Telegram message");
    (sent.text, sent.buttons)
}

fn wa_sent(id: &str) -> Value {
    json!({"messaging_product": "whatsapp", "contacts": [{"input": "x", "wa_id": "x"}], "messages": [{"id": id}]})
}

fn deps(env: &TestEnv, fakes: &Fakes) -> Deps {
    Deps::from_aws(&env.clients, &agent_config(env, fakes))
}

const BOT: &str = "shop_bot";
const WELCOME: i64 = 100;

/// A Telegram + WhatsApp tenant running the loyalty program (welcome bonus 100 points,
/// points expire after 30 days).
async fn tenant(env: &TestEnv, configure: impl FnOnce(&mut TenantConfig)) -> TestTenant {
    let t = env.tenant().await;
    sauda_infra::tenant::update_config(&env.clients.dynamo, &env.stack.table, &t.id, |c| {
        c.default_language = "ru".into();
        c.telegram_bot_username = Some(BOT.into());
        c.managers = vec![Manager {
            chat_id: 9001,
            name: "Manager".into(),
        }];
        c.loyalty.enabled = true;
        c.loyalty.welcome_bonus = WELCOME;
        c.loyalty.expiry_days = Some(30);
        configure(c);
    })
    .await
    .unwrap();
    t
}

fn store(env: &TestEnv) -> loyalty::DynamoStore {
    loyalty::DynamoStore::new(env.clients.dynamo.clone(), &env.stack.table)
}

async fn config(env: &TestEnv, t: &TenantId) -> TenantConfig {
    sauda_infra::tenant::read_config(&env.clients.dynamo, &env.stack.table, t)
        .await
        .unwrap()
}

async fn account(env: &TestEnv, t: &TenantId, contact: &str) -> Option<Account> {
    ledger::get::<Account>(&store(env), &account_key(t, contact))
        .await
        .unwrap()
}

/// A member joined by an admin (as at the till), by contact id or by phone.
async fn admin_join(
    env: &TestEnv,
    t: &TenantId,
    contact_id: Option<&str>,
    phone: Option<&str>,
) -> Value {
    let config = config(env, t).await;
    let input = JoinInput {
        contact_id: contact_id.map(str::to_owned),
        phone: phone.map(str::to_owned),
        referral_code: None,
    };
    let planner = Join {
        scope: Scope {
            tenant: t,
            config: &config,
        },
        actor: &Actor::Admin,
        input: &input,
    };
    ledger::execute(&store(env), None, None, t, &planner)
        .await
        .unwrap()
        .body
}

/// A member who joined at the till, with a referral code.
async fn referrer(env: &TestEnv, t: &TenantId, contact: &str) -> String {
    let config = config(env, t).await;
    let scope = Scope {
        tenant: t,
        config: &config,
    };
    admin_join(env, t, Some(contact), None).await;
    let store = store(env);
    let customer = CustomerRef::Contact(contact.into());
    let out = ledger::execute(
        &store,
        None,
        None,
        t,
        &ReferralCodeFor {
            scope,
            actor: &Actor::Admin,
            customer: &customer,
        },
    )
    .await
    .unwrap();
    out.body["code"].as_str().unwrap().to_owned()
}

async fn ledger_points(env: &TestEnv, t: &TenantId, contact: &str) -> Vec<i64> {
    store(env).ledger_points(t, contact).await.unwrap()
}

#[tokio::test]
async fn start_ref_redelivered_ten_times_joins_once_with_one_bonus() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, |_| {}).await;
    let code = referrer(&env, &t.id, "tg-500").await;
    let deps = deps(&env, &fakes);

    let start = telegram(&t.id, 501, "1", &format!("/start ref-{code}"));
    for _ in 0..10 {
        deliver(&env, &deps, &start).await;
    }
    // And the link opened again later: a new message, still one join.
    deliver(
        &env,
        &deps,
        &telegram(&t.id, 501, "2", &format!("/start ref-{code}")),
    )
    .await;

    let newcomer = account(&env, &t.id, "tg-501").await.expect("joined");
    assert_eq!(newcomer.balance, WELCOME);
    assert_eq!(newcomer.referred_by.as_deref(), Some("tg-500"));
    assert_eq!(
        ledger_points(&env, &t.id, "tg-501").await,
        [WELCOME],
        "one welcome entry"
    );
    let inviter = account(&env, &t.id, "tg-500").await.unwrap();
    assert_eq!(inviter.referrals_joined, 1);
    assert_eq!(
        inviter.balance, WELCOME,
        "the referrer's bonus waits for a purchase"
    );

    let sent = fakes.telegram_sent();
    assert_eq!(sent.len(), 2, "one answer per message, none per redelivery");
    let joined = texts::JOINED.render(Lang::Ru, &[("bonus", &WELCOME), ("balance", &WELCOME)]);
    assert_eq!(sent[0].text, format!("{joined}\n{}", texts::REFERRED.ru));
    assert_eq!(
        sent[1].text,
        texts::ALREADY_MEMBER.render(Lang::Ru, &[("balance", &WELCOME)])
    );
    assert_eq!(
        sent[0].buttons.len(),
        5,
        "the menu: balance, referral, manager, language, help"
    );
    let config = config(&env, &t.id).await;
    let day = sauda_shared::stats::local_day(&config.timezone, now());
    let today = env.counters(&t.id, &day).await;
    assert_eq!(today.get(metric::LOYALTY_MEMBERS_NEW), Some(&2));
    assert_eq!(today.get(metric::LOYALTY_REFERRAL_JOINS), Some(&1));
    assert_eq!(today.get(metric::REPLIES_COMMAND), Some(&2));
}

#[tokio::test]
async fn an_unknown_code_joins_without_a_referral_and_says_so() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, |_| {}).await;
    let deps = deps(&env, &fakes);
    for (chat, payload) in [(601, "ref-NOSUCHCODE"), (602, "ref-!!")] {
        deliver(
            &env,
            &deps,
            &telegram(&t.id, chat, "1", &format!("/start {payload}")),
        )
        .await;
        let contact = format!("tg-{chat}");
        let member = account(&env, &t.id, &contact).await.expect("joined anyway");
        assert_eq!((member.balance, member.referred_by), (WELCOME, None));
    }
    let joined = texts::JOINED.render(Lang::Ru, &[("bonus", &WELCOME), ("balance", &WELCOME)]);
    for Sent { chat, text, .. } in fakes.telegram_sent() {
        assert_eq!(
            text,
            format!("{joined}\n{}", texts::UNKNOWN_CODE.ru),
            "{chat}"
        );
    }
}

#[tokio::test]
async fn balance_in_fallback_mode_costs_four_aws_calls_and_no_model() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, |_| {}).await;
    let deps = deps(&env, &fakes);
    // Warm: tenant config and secrets cached, the member joined.
    deliver(&env, &deps, &telegram(&t.id, 700, "1", "/start")).await;

    let m = telegram(&t.id, 700, "2", "/balance");
    DynamoMessageStore::new(env.clients.dynamo.clone(), &env.stack.table)
        .put_inbound(&m)
        .await
        .unwrap();
    env.counter.reset();
    let response = handle(&deps, lambda_event(event(&m))).await.unwrap();
    assert!(failed_ids(&response).is_empty());
    let calls = env.counter.snapshot();
    println!("AWS calls for a balance request: {calls:?}");
    assert_eq!(calls.get("DynamoDB.Query"), Some(&1), "profile + history");
    assert_eq!(calls.get("DynamoDB.BatchGetItem"), Some(&1), "the account");
    assert_eq!(
        calls.get("DynamoDB.TransactWriteItems"),
        Some(&1),
        "reply + state"
    );
    assert_eq!(
        calls.get("DynamoDB.UpdateItem"),
        Some(&1),
        "the day's counters"
    );
    assert_eq!(env.counter.total(), 4);

    let (text, buttons) = last_telegram(&fakes);
    let config = config(&env, &t.id).await;
    let today = sauda_shared::stats::local_day(&config.timezone, now());
    let expires = loyalty::domain::expiry_date(&today, 30).unwrap();
    assert_eq!(
        text,
        format!(
            "{}\n{}",
            texts::BALANCE.render(Lang::Ru, &[("balance", &WELCOME)]),
            texts::EXPIRING.render(Lang::Ru, &[("points", &WELCOME), ("date", &expires)])
        )
    );
    assert_eq!(buttons.len(), 5);

    // A stranger is offered to join, and pressing "Join" joins.
    deliver(&env, &deps, &telegram(&t.id, 701, "1", "/balance")).await;
    let (text, buttons) = last_telegram(&fakes);
    assert_eq!(text, texts::NOT_MEMBER.ru);
    assert_eq!(buttons.len(), 1);
    deliver(&env, &deps, &telegram(&t.id, 701, "cb-join", &buttons[0])).await;
    assert_eq!(
        account(&env, &t.id, "tg-701").await.unwrap().balance,
        WELCOME
    );
}

#[tokio::test]
async fn buttons_work_in_their_chat_only_and_forged_ones_change_nothing() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, |_| {}).await;
    let other = tenant(&env, |_| {}).await;
    let deps = deps(&env, &fakes);
    deliver(&env, &deps, &telegram(&t.id, 800, "1", "/help")).await;
    let (text, buttons) = last_telegram(&fakes);
    assert_eq!(text, texts::HELP.ru);
    let referral = buttons[1].clone();
    let language = buttons[3].clone();

    // The referral button in its own chat: a link for friends (no member yet: join first).
    deliver(&env, &deps, &telegram(&t.id, 800, "cb-1", &referral)).await;
    assert_eq!(last_telegram(&fakes).0, texts::NOT_MEMBER.ru);
    deliver(&env, &deps, &telegram(&t.id, 800, "2", "/start")).await;
    deliver(&env, &deps, &telegram(&t.id, 800, "cb-2", &referral)).await;
    let (text, _) = last_telegram(&fakes);
    let member = account(&env, &t.id, "tg-800").await.unwrap();
    let code = member.referral_code.expect("a code was issued");
    let link = format!("https://t.me/{BOT}?start=ref-{code}");
    assert_eq!(
        text,
        texts::REFERRAL.render(Lang::Ru, &[("link", &link), ("joined", &0)])
    );

    // Someone else's button, another tenant's, a tampered one: a short message, nothing changes.
    let tampered = language.replacen("language", "balance", 1);
    let before = fakes.telegram_sent().len();
    deliver(&env, &deps, &telegram(&t.id, 801, "cb-3", &referral)).await;
    deliver(&env, &deps, &telegram(&other.id, 800, "cb-4", &referral)).await;
    deliver(&env, &deps, &telegram(&t.id, 800, "cb-5", &tampered)).await;
    let sent = fakes.telegram_sent();
    assert_eq!(sent.len(), before + 3);
    for Sent { text, buttons, .. } in &sent[before..] {
        assert_eq!(text, texts::STALE_BUTTON.ru);
        assert_eq!(buttons.len(), 5, "with the current menu");
    }
    assert!(account(&env, &t.id, "tg-801").await.is_none());
    assert!(account(&env, &other.id, "tg-800").await.is_none());
    assert_eq!(
        account(&env, &t.id, "tg-800").await.unwrap().rev,
        member.rev
    );
}

#[tokio::test]
async fn language_is_chosen_with_a_button_and_kept() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, |_| {}).await;
    let deps = deps(&env, &fakes);
    deliver(&env, &deps, &telegram(&t.id, 900, "1", "/language")).await;
    let (text, buttons) = last_telegram(&fakes);
    assert_eq!(text, texts::LANGUAGE_PICK.ru);
    assert_eq!(buttons.len(), 4);
    deliver(&env, &deps, &telegram(&t.id, 900, "cb-kk", &buttons[2])).await;
    assert_eq!(last_telegram(&fakes).0, texts::LANGUAGE_SET.kk);
    // Written in Russian afterwards, still answered in Kazakh.
    deliver(&env, &deps, &telegram(&t.id, 900, "2", "/balance")).await;
    assert_eq!(last_telegram(&fakes).0, texts::NOT_MEMBER.kk);
}

#[tokio::test]
async fn contact_a_manager_hands_off_without_a_model() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, |_| {}).await;
    let deps = deps(&env, &fakes);
    deliver(&env, &deps, &telegram(&t.id, 950, "1", "/manager")).await;
    assert_eq!(last_telegram(&fakes).0, agent_texts::HANDOFF_DONE.ru);
    let notices: Vec<String> = env
        .receive_all("NotifyQueue")
        .await
        .into_iter()
        .filter_map(|m| match Envelope::from_json(m.body()?).ok()?.job {
            Job::Notify { notice } => Some(notice.kind),
            _ => None,
        })
        .collect();
    assert_eq!(notices, ["handoff"]);
    // The agent is paused: the next message goes to the managers, not answered.
    deliver(&env, &deps, &telegram(&t.id, 950, "2", "ещё вопрос")).await;
    assert_eq!(fakes.telegram_sent().len(), 1);
}

#[tokio::test]
async fn whatsapp_gets_a_list_and_a_tap_carries_the_choice() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, |_| {}).await;
    let deps = deps(&env, &fakes);
    let number = "77015550101";
    deliver(&env, &deps, &whatsapp(&t.id, number, "wamid.1", "/start")).await;
    let sent = fakes.whatsapp.requests();
    assert_eq!(sent.len(), 1);
    let body = sent[0].json();
    assert_eq!(body["type"], "interactive");
    assert_eq!(body["interactive"]["type"], "list", "five choices: a list");
    let rows = body["interactive"]["action"]["sections"][0]["rows"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(rows.len(), 5);
    let balance = rows[0]["id"].as_str().unwrap().to_owned();

    // Meta posts the tap; the webhook's parser turns it into the row's id.
    let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "1", "phone_number_id": t.phone_number_id},
        "messages": [{"from": number, "id": "wamid.2", "timestamp": (now() / 1000 + 1).to_string(), "type": "interactive",
            "interactive": {"type": "list_reply", "list_reply": {"id": balance, "title": "Баланс"}}}]
    }}]}]});
    let batches =
        sauda_shared::whatsapp::parse_webhook(&t.id, payload.to_string().as_bytes()).unwrap();
    let tap = batches[0].messages[0].clone();
    fakes.whatsapp.push(200, wa_sent("wamid.OUT2"));
    deliver(&env, &deps, &tap).await;
    let body = fakes.whatsapp.requests()[1].json();
    let text = body["interactive"]["body"]["text"].as_str().unwrap();
    assert!(
        text.starts_with(&texts::BALANCE.render(Lang::Ru, &[("balance", &WELCOME)])),
        "{text}"
    );
    // Three choices or fewer are reply buttons.
    fakes.whatsapp.push(200, wa_sent("wamid.OUT3"));
    deliver(
        &env,
        &deps,
        &whatsapp(&t.id, "77015550102", "wamid.3", "/balance"),
    )
    .await;
    let body = fakes.whatsapp.requests()[2].json();
    assert_eq!(body["interactive"]["type"], "button");
    assert_eq!(
        body["interactive"]["action"]["buttons"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

fn webhook_deps(env: &TestEnv) -> Arc<webhook::Deps> {
    Arc::new(webhook::Deps::from_aws(
        &env.clients,
        &webhook::WebhookConfig {
            core: env.core_config(),
            inbound_queue_url: env.queue_url("InboundQueue"),
            payments_queue_url: env.queue_url("PaymentsQueue"),
            notify_queue_url: env.queue_url("NotifyQueue"),
        },
    ))
}

async fn post_telegram(env: &TestEnv, t: &TestTenant, update: Value) -> Value {
    let request = Request::post(format!("/t/{}/telegram", t.id))
        .header("content-type", "application/json")
        .header("x-telegram-bot-api-secret-token", t.telegram_secret())
        .body(Body::from(update.to_string()))
        .unwrap();
    let response = webhook::router(webhook_deps(env))
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn a_telegram_button_press_is_answered_at_once_and_acted_on() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, |_| {}).await;
    let deps = deps(&env, &fakes);
    deliver(&env, &deps, &telegram(&t.id, 1000, "1", "/start")).await;
    let (_, buttons) = last_telegram(&fakes);

    let press = json!({"update_id": 77, "callback_query": {"id": "q-1", "chat_instance": "c",
        "from": {"id": 1000, "is_bot": false, "first_name": "Aida", "language_code": "ru"},
        "message": {"message_id": 100, "date": now() / 1000, "chat": {"id": 1000, "type": "private"}, "text": "menu"},
        "data": buttons[0]}});
    let answer = post_telegram(&env, &t, press.clone()).await;
    assert_eq!(
        answer,
        json!({"method": "answerCallbackQuery", "callback_query_id": "q-1"}),
        "the spinner stops with the webhook's response"
    );
    // Telegram redelivers the same press: stored once.
    post_telegram(&env, &t, press).await;
    let event = env.sqs_event_from_queue("InboundQueue", 30).await;
    assert!(!event.records.is_empty());
    let response = handle(&deps, lambda_event(event)).await.unwrap();
    assert!(failed_ids(&response).is_empty());
    let (text, _) = last_telegram(&fakes);
    assert!(text.starts_with(&texts::BALANCE.render(Lang::Ru, &[("balance", &WELCOME)])));
}

#[tokio::test]
async fn in_groups_the_bot_answers_only_when_addressed() {
    let env = TestEnv::new().await;
    let t = tenant(&env, |_| {}).await;
    let group = |id: i64, extra: Value| {
        let mut message = json!({"message_id": id, "date": now() / 1000,
            "chat": {"id": -100_500, "type": "supergroup", "title": "Клуб"},
            "from": {"id": 5, "is_bot": false, "first_name": "B"}});
        for (k, v) in extra.as_object().unwrap() {
            message[k] = v.clone();
        }
        json!({"update_id": id, "message": message})
    };
    let ignored = [
        (group(1, json!({"text": "всем привет"})), "not_addressed"),
        (
            group(
                2,
                json!({"new_chat_members": [{"id": 6, "is_bot": false, "first_name": "C"}]}),
            ),
            "service",
        ),
        (
            group(
                3,
                json!({"left_chat_member": {"id": 6, "is_bot": false, "first_name": "C"}}),
            ),
            "service",
        ),
        (
            group(
                4,
                json!({"forum_topic_created": {"name": "Вопросы", "icon_color": 7322096}}),
            ),
            "service",
        ),
        (
            group(5, json!({"text": "/help@other_bot"})),
            "not_addressed",
        ),
    ];
    for (update, kind) in ignored {
        let answer = post_telegram(&env, &t, update).await;
        assert_eq!(answer["ignored"], kind, "{answer}");
    }
    for (id, text) in [(6, "/balance"), (7, "@shop_bot есть скидки?")] {
        let answer = post_telegram(&env, &t, group(id, json!({"text": text}))).await;
        assert_eq!(answer["duplicate"], false, "{text}: {answer}");
    }
    let event = env.sqs_event_from_queue("InboundQueue", 30).await;
    assert_eq!(
        event.records.len(),
        2,
        "only the addressed messages are queued"
    );
}

// ---- The shop in chat: product cards, Buy, my orders, an order's link ----------------

/// Stores the message as the webhook does, then counts the AWS calls of its job alone.
async fn measured(
    env: &TestEnv,
    deps: &Deps,
    m: &InboundMessage,
) -> std::collections::BTreeMap<String, usize> {
    DynamoMessageStore::new(env.clients.dynamo.clone(), &env.stack.table)
        .put_inbound(m)
        .await
        .unwrap();
    env.counter.reset();
    let response = handle(deps, lambda_event(event(m))).await.unwrap();
    assert!(failed_ids(&response).is_empty());
    env.counter.snapshot()
}

const PUMP_SKU: &str = "GR-CR10";
const PUMP_PHOTO: &str = "https://shop.example/img/gr-cr10.jpg";

/// A tenant taking Telegram payments, with a catalog of two items (one with a photo).
async fn shop_tenant(env: &TestEnv) -> TestTenant {
    let t = tenant(env, |c| {
        c.orders.providers = vec![sauda_shared::order::Provider::Telegram];
        c.orders.currency = "KZT".into();
    })
    .await;
    env.install_catalog_items(
        &t.id,
        &[
            agent_reply::catalog::CatalogItem {
                price_minor: Some(125_000_000),
                currency: Some("KZT".into()),
                photo_url: Some(PUMP_PHOTO.into()),
                ..agent_reply::catalog::CatalogItem::new(PUMP_SKU, "Насос Grundfos CR 10")
            },
            agent_reply::catalog::CatalogItem {
                price_minor: Some(450_000),
                currency: Some("KZT".into()),
                ..agent_reply::catalog::CatalogItem::new("DN-VLV-15", "Шаровый кран Danfoss")
            },
        ],
    )
    .await;
    t
}

fn shop_deps(env: &TestEnv, fakes: &Fakes) -> Deps {
    Deps::from_aws(
        &env.clients,
        &AgentConfig {
            payments_queue_url: Some(env.queue_url("PaymentsQueue")),
            ..agent_config(env, fakes)
        },
    )
}

/// The order jobs on the payments queue (taken off it).
async fn order_jobs(env: &TestEnv) -> Vec<(String, sauda_shared::order::OrderJob)> {
    env.receive_all("PaymentsQueue")
        .await
        .iter()
        .map(|m| {
            let body = m.body().unwrap().to_owned();
            match Envelope::from_json(&body).unwrap().job {
                Job::Order { job, .. } => (body, job),
                other => panic!("not an order job: {other:?}"),
            }
        })
        .collect()
}

/// Runs the orders crate's payments worker over these jobs (it creates the orders).
async fn run_orders_worker(env: &TestEnv, fakes: &Fakes, bodies: Vec<String>) {
    let config = orders::OrdersConfig {
        core: env.core_config(),
        payments_queue_url: env.queue_url("PaymentsQueue"),
        notify_queue_url: env.queue_url("NotifyQueue"),
        inbound_queue_url: None,
        telegram_api_base: fakes.telegram.base_url.clone(),
        stripe_api_base: fakes.telegram.base_url.clone(),
        kaspi_api_base: fakes.telegram.base_url.clone(),
        bucket: env.stack.bucket.clone(),
        catalog_cache_bytes: 16 * 1024 * 1024,
        operator_chat_id: None,
    };
    let deps = orders::Deps::from_aws(&env.clients, &config);
    let response =
        orders::worker::handle_sqs(&deps, env.sqs_event_on("PaymentsQueue", &bodies)).await;
    assert!(failed_ids(&response).is_empty(), "{response:?}");
}

/// The last Telegram photo sent: (photo, caption, callback data of its buttons).
fn last_photo(fakes: &Fakes) -> (String, String, Vec<String>) {
    let r = fakes
        .telegram
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/sendPhoto"))
        .last()
        .expect("a photo");
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
    (
        body["photo"].as_str().unwrap_or_default().to_owned(),
        body["caption"].as_str().unwrap_or_default().to_owned(),
        buttons,
    )
}

async fn orders_of(env: &TestEnv, t: &TenantId, contact: &str) -> Vec<sauda_shared::order::Order> {
    use sauda_shared::order_reads::{DynamoOrderReads, OrderReads};
    DynamoOrderReads::new(env.clients.dynamo.clone(), &env.stack.table)
        .of_contact(t, contact, 10)
        .await
        .unwrap()
}

fn shop_texts_status_awaiting() -> &'static str {
    sauda_shared::i18n::shop::STATUS_AWAITING.ru
}

#[tokio::test]
async fn a_product_link_shows_its_card_and_buy_places_one_order_however_often_pressed() {
    use sauda_shared::i18n::shop;
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = shop_tenant(&env).await;
    let deps = shop_deps(&env, &fakes);
    // Warm: tenant config and secrets cached.
    deliver(&env, &deps, &telegram(&t.id, 900, "0", "/help")).await;

    // The product's deep link: its photo with the card as caption, Buy and My orders.
    let m = telegram(&t.id, 900, "1", &format!("/start p-{PUMP_SKU}"));
    let calls = measured(&env, &deps, &m).await;
    println!("AWS calls for a product card (catalog cold): {calls:?}");
    assert_eq!(calls.get("DynamoDB.Query"), Some(&1), "profile + history");
    assert_eq!(
        calls.get("S3.GetObject"),
        Some(&1),
        "the catalog's index, once"
    );
    assert_eq!(
        calls.get("DynamoDB.TransactWriteItems"),
        Some(&1),
        "reply + state"
    );
    assert_eq!(
        calls.get("DynamoDB.UpdateItem"),
        Some(&1),
        "the day's counters"
    );
    assert_eq!(env.counter.total(), 4);
    let (photo, caption, buttons) = last_photo(&fakes);
    assert_eq!(photo, PUMP_PHOTO);
    assert!(caption.starts_with("Насос Grundfos CR 10\n"), "{caption}");
    let price = sauda_shared::order::format_amount(125_000_000, "KZT");
    assert!(caption.contains(&price), "{caption}");
    assert_eq!(buttons.len(), 2, "Buy and My orders");
    let buy = buttons[0].clone();
    assert!(buy.starts_with("s1|buy|"), "{buy}");

    // Buy: one order job on the payments queue, priced from the catalog.
    let m = telegram(&t.id, 900, "cb-1", &buy);
    let calls = measured(&env, &deps, &m).await;
    println!("AWS calls for a Buy press: {calls:?}");
    assert_eq!(calls.get("DynamoDB.Query"), Some(&1), "profile + history");
    assert_eq!(
        calls.get("DynamoDB.GetItem"),
        Some(&1),
        "is this button's order placed?"
    );
    assert_eq!(calls.get("SQS.SendMessage"), Some(&1), "the order job");
    assert_eq!(
        calls.get("DynamoDB.TransactWriteItems"),
        Some(&1),
        "reply + state"
    );
    assert_eq!(
        calls.get("DynamoDB.UpdateItem"),
        Some(&1),
        "the day's counters"
    );
    assert_eq!(env.counter.total(), 5);
    let jobs = order_jobs(&env).await;
    assert_eq!(jobs.len(), 1);
    let sauda_shared::order::OrderJob::Create { request, provider } = &jobs[0].1 else {
        panic!("a create job");
    };
    assert_eq!(*provider, None);
    assert_eq!(request.customer.contact, "tg-900");
    assert_eq!(request.source, sauda_shared::order::OrderSource::Button);
    assert_eq!(request.items.len(), 1);
    assert_eq!(request.items[0].sku, PUMP_SKU);
    assert_eq!(request.items[0].quantity, 1);
    let order_id = request.order_id.clone().expect("a stable id");
    let number = &order_id[order_id.len() - 8..];
    let (text, _) = last_telegram(&fakes);
    assert_eq!(
        text,
        shop::BUY_PLACED.render(
            Lang::Ru,
            &[
                ("number", &number),
                ("name", &"Насос Grundfos CR 10"),
                ("total", &price)
            ]
        )
    );

    // A press redelivered before the worker ran names the same order.
    deliver(&env, &deps, &telegram(&t.id, 900, "cb-2", &buy)).await;
    let again = order_jobs(&env).await;
    assert_eq!(again.len(), 1);
    let sauda_shared::order::OrderJob::Create {
        request: second, ..
    } = &again[0].1
    else {
        panic!("a create job");
    };
    assert_eq!(second.order_id.as_deref(), Some(order_id.as_str()));

    // The orders worker places it once (both jobs name the same id).
    run_orders_worker(&env, &fakes, vec![jobs[0].0.clone(), again[0].0.clone()]).await;
    let placed = orders_of(&env, &t.id, "tg-900").await;
    assert_eq!(placed.len(), 1, "one order however often Buy is pressed");
    assert_eq!(placed[0].order_id, order_id);
    assert_eq!(placed[0].total_minor, 125_000_000);

    // Pressed again once it exists: its status, nothing queued.
    for i in 3..6 {
        deliver(&env, &deps, &telegram(&t.id, 900, &format!("cb-{i}"), &buy)).await;
        let (text, _) = last_telegram(&fakes);
        assert_eq!(
            text,
            shop::BUY_AGAIN.render(
                Lang::Ru,
                &[
                    ("number", &number),
                    ("status", &shop_texts_status_awaiting())
                ]
            )
        );
    }
    assert!(order_jobs(&env).await.is_empty());
    assert_eq!(orders_of(&env, &t.id, "tg-900").await.len(), 1);

    // The same Buy in another chat, another tenant, or tampered: refused, nothing queued.
    let other = shop_tenant(&env).await;
    let tampered = buy.replacen(PUMP_SKU, "DN-VLV-15", 1);
    let before = fakes.telegram_sent().len();
    deliver(&env, &deps, &telegram(&t.id, 901, "cb-x", &buy)).await;
    deliver(&env, &deps, &telegram(&other.id, 900, "cb-y", &buy)).await;
    deliver(&env, &deps, &telegram(&t.id, 900, "cb-z", &tampered)).await;
    let sent = fakes.telegram_sent();
    assert_eq!(sent.len(), before + 3);
    for Sent { text, .. } in &sent[before..] {
        assert_eq!(text, texts::STALE_BUTTON.ru);
    }
    assert!(order_jobs(&env).await.is_empty());
    assert!(orders_of(&env, &t.id, "tg-901").await.is_empty());
    assert!(orders_of(&env, &other.id, "tg-900").await.is_empty());

    // An unknown product: said so, with the menu.
    deliver(&env, &deps, &telegram(&t.id, 900, "7", "/start p-NOPE-1")).await;
    assert_eq!(last_telegram(&fakes).0, shop::PRODUCT_UNKNOWN.ru);
}

#[tokio::test]
async fn my_orders_and_an_order_link_show_only_the_customers_own() {
    use sauda_shared::i18n::shop;
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = shop_tenant(&env).await;
    let deps = shop_deps(&env, &fakes);

    // Nothing yet.
    deliver(&env, &deps, &telegram(&t.id, 910, "1", "/orders")).await;
    assert_eq!(last_telegram(&fakes).0, shop::ORDERS_NONE.ru);

    // One order through the card's Buy button and the worker.
    deliver(
        &env,
        &deps,
        &telegram(&t.id, 910, "2", "/start p-DN-VLV-15"),
    )
    .await;
    let (text, buttons) = last_telegram(&fakes);
    assert!(
        text.starts_with("Шаровый кран Danfoss\n"),
        "no photo: a text card: {text}"
    );
    deliver(&env, &deps, &telegram(&t.id, 910, "cb-1", &buttons[0])).await;
    let jobs = order_jobs(&env).await;
    run_orders_worker(&env, &fakes, jobs.into_iter().map(|(b, _)| b).collect()).await;
    let order_id = orders_of(&env, &t.id, "tg-910").await[0].order_id.clone();
    let number = &order_id[order_id.len() - 8..];
    let line = shop::ORDER_LINE.render(
        Lang::Ru,
        &[
            ("number", &number),
            ("total", &sauda_shared::order::format_amount(450_000, "KZT")),
            ("status", &shop_texts_status_awaiting()),
        ],
    );

    // "My orders", typed and from the menu's button.
    let m = telegram(&t.id, 910, "3", "/orders");
    let calls = measured(&env, &deps, &m).await;
    println!("AWS calls for my orders: {calls:?}");
    assert_eq!(
        calls.get("DynamoDB.Query"),
        Some(&2),
        "profile + history; the order pointers"
    );
    assert_eq!(calls.get("DynamoDB.BatchGetItem"), Some(&1), "the orders");
    assert_eq!(
        calls.get("DynamoDB.TransactWriteItems"),
        Some(&1),
        "reply + state"
    );
    assert_eq!(
        calls.get("DynamoDB.UpdateItem"),
        Some(&1),
        "the day's counters"
    );
    assert_eq!(env.counter.total(), 5);
    let (text, menu) = last_telegram(&fakes);
    assert_eq!(text, format!("{}\n{line}", shop::ORDERS_TITLE.ru));
    assert_eq!(
        menu.len(),
        6,
        "the menu has My orders when the tenant takes payments"
    );
    let mine = menu
        .iter()
        .find(|b| b.starts_with("s1|orders|"))
        .unwrap()
        .clone();
    deliver(&env, &deps, &telegram(&t.id, 910, "cb-2", &mine)).await;
    assert_eq!(
        last_telegram(&fakes).0,
        format!("{}\n{line}", shop::ORDERS_TITLE.ru)
    );

    // The order's own link: its line and items.
    deliver(
        &env,
        &deps,
        &telegram(&t.id, 910, "4", &format!("/start o-{order_id}")),
    )
    .await;
    assert_eq!(
        last_telegram(&fakes).0,
        format!("{line}\n• Шаровый кран Danfoss × 1")
    );

    // Someone else's order, an unknown id, another tenant: not found, nothing changes.
    for (tenant, chat, link) in [
        (&t.id, 911, format!("o-{order_id}")),
        (&t.id, 910, "o-01JUNKNOWN0000000000000000".to_owned()),
    ] {
        deliver(
            &env,
            &deps,
            &telegram(tenant, chat, "5", &format!("/start {link}")),
        )
        .await;
        assert_eq!(last_telegram(&fakes).0, shop::ORDER_UNKNOWN.ru);
    }
    let other = shop_tenant(&env).await;
    deliver(
        &env,
        &deps,
        &telegram(&other.id, 910, "6", &format!("/start o-{order_id}")),
    )
    .await;
    assert_eq!(last_telegram(&fakes).0, shop::ORDER_UNKNOWN.ru);
    let after = orders_of(&env, &t.id, "tg-910").await;
    assert_eq!(after.len(), 1);
    assert!(orders_of(&env, &t.id, "tg-911").await.is_empty());
}

#[tokio::test]
async fn whatsapp_gets_the_product_photo_then_its_buttons_and_buys() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = shop_tenant(&env).await;
    let deps = shop_deps(&env, &fakes);
    let number = "77015550150";
    fakes.whatsapp.push(200, wa_sent("wamid.IMG"));
    fakes.whatsapp.push(200, wa_sent("wamid.CARD"));
    deliver(
        &env,
        &deps,
        &whatsapp(&t.id, number, "wamid.1", &format!("/start p-{PUMP_SKU}")),
    )
    .await;
    let sent = fakes.whatsapp.requests();
    assert_eq!(sent.len(), 2, "the image, then the card with its buttons");
    assert_eq!(sent[0].json()["type"], "image");
    assert_eq!(sent[0].json()["image"]["link"], PUMP_PHOTO);
    let card = sent[1].json();
    assert_eq!(card["interactive"]["type"], "button");
    let buttons = card["interactive"]["action"]["buttons"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(buttons.len(), 2);
    let buy = buttons[0]["reply"]["id"].as_str().unwrap().to_owned();
    fakes.whatsapp.push(200, wa_sent("wamid.BUY"));
    deliver(&env, &deps, &whatsapp(&t.id, number, "wamid.2", &buy)).await;
    let jobs = order_jobs(&env).await;
    assert_eq!(jobs.len(), 1);
    let sauda_shared::order::OrderJob::Create { request, .. } = &jobs[0].1 else {
        panic!("a create job");
    };
    assert_eq!(request.customer.contact, format!("wa-{number}"));
    assert_eq!(request.customer.channel, Channel::Whatsapp);
}

#[tokio::test]
async fn a_catalog_answer_without_a_model_has_the_photo_buy_and_more_like_this_with_pages() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, |c| {
        c.orders.providers = vec![sauda_shared::order::Provider::Telegram];
    })
    .await;
    let pumps: Vec<agent_reply::catalog::CatalogItem> = (1..=7)
        .map(|i| agent_reply::catalog::CatalogItem {
            price_minor: Some(100_000 * i),
            currency: Some("KZT".into()),
            photo_url: (i == 1).then(|| PUMP_PHOTO.to_owned()),
            ..agent_reply::catalog::CatalogItem::new(
                format!("PUMP-{i}"),
                format!("Насос Grundfos CR {i}"),
            )
        })
        .collect();
    env.install_catalog_items(&t.id, &pumps).await;
    let deps = shop_deps(&env, &fakes);

    deliver(
        &env,
        &deps,
        &telegram(&t.id, 920, "1", "Насос Grundfos CR 1"),
    )
    .await;
    let (photo, caption, buttons) = last_photo(&fakes);
    assert_eq!(photo, PUMP_PHOTO, "the first match's photo");
    assert!(caption.contains("(PUMP-1)"), "{caption}");
    assert_eq!(buttons.len(), 2, "Buy and More like this");
    assert!(buttons[0].starts_with("s1|buy|"));
    assert!(
        buttons[1].starts_with("s1|more|0.PUMP-1|"),
        "{}",
        buttons[1]
    );

    // More like this: three others, then the next page, then the rest without "next".
    let mut seen = Vec::new();
    let mut press = buttons[1].clone();
    for (i, expect_next) in [(1, true), (2, false)] {
        deliver(
            &env,
            &deps,
            &telegram(&t.id, 920, &format!("cb-{i}"), &press),
        )
        .await;
        let (text, buttons) = last_telegram(&fakes);
        let listed: Vec<String> = (2..=7)
            .map(|n| format!("(PUMP-{n})"))
            .filter(|sku| text.contains(sku.as_str()))
            .collect();
        assert!(!text.contains("(PUMP-1)"), "not the item itself: {text}");
        assert_eq!(listed.len(), 3, "a page of three: {text}");
        seen.extend(listed);
        let next = buttons.iter().find(|b| b.starts_with("s1|more|")).cloned();
        assert_eq!(next.is_some(), expect_next, "{buttons:?}");
        assert!(buttons[0].starts_with("s1|buy|"));
        if let Some(next) = next {
            press = next;
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 6, "every other pump once");

    // A forged page (offset changed) or someone else's: refused, nothing listed.
    let forged = press.replacen("|3.", "|9.", 1);
    deliver(&env, &deps, &telegram(&t.id, 920, "cb-9", &forged)).await;
    // Mostly Latin letters: this customer is answered in English.
    assert_eq!(last_telegram(&fakes).0, texts::STALE_BUTTON.en);
    deliver(&env, &deps, &telegram(&t.id, 921, "cb-9", &press)).await;
    assert_eq!(last_telegram(&fakes).0, texts::STALE_BUTTON.ru);
}

#[tokio::test]
async fn in_a_forum_topic_the_bot_answers_in_that_topic_and_its_buttons_too() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, |_| {}).await;
    let deps = deps(&env, &fakes);
    let topic = |id: i64, text: &str, thread: Option<i64>| {
        let mut message = json!({"message_id": id, "date": now() / 1000,
            "chat": {"id": -100_600, "type": "supergroup", "title": "Клуб", "is_forum": true},
            "from": {"id": 5, "is_bot": false, "first_name": "B"}, "text": text});
        if let Some(thread) = thread {
            message["message_thread_id"] = json!(thread);
            message["is_topic_message"] = json!(true);
        }
        json!({"update_id": id, "message": message})
    };
    // In topic 44 (through the webhook), then in General (no topic).
    let answer = post_telegram(&env, &t, topic(1, "/help", Some(44))).await;
    assert_eq!(answer["duplicate"], false, "{answer}");
    let event = env.sqs_event_from_queue("InboundQueue", 30).await;
    assert_eq!(event.records.len(), 1);
    let response = handle(&deps, lambda_event(event)).await.unwrap();
    assert!(failed_ids(&response).is_empty());
    let general = telegram(&t.id, -100_600, "2", "/help");
    deliver(&env, &deps, &general).await;
    let sent: Vec<Value> = fakes
        .telegram
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/sendMessage"))
        .map(|r| r.json())
        .collect();
    assert_eq!(sent.len(), 2);
    let in_topic = sent
        .iter()
        .find(|b| b.get("message_thread_id").is_some())
        .unwrap();
    assert_eq!(in_topic["message_thread_id"], 44);
    assert_eq!(in_topic["chat_id"], -100_600);
    assert_eq!(
        sent.iter()
            .filter(|b| b.get("message_thread_id").is_none())
            .count(),
        1,
        "General is answered in General"
    );

    // A button under the topic's answer: the press is answered in the topic too.
    let data = in_topic["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        .as_str()
        .unwrap()
        .to_owned();
    let press = json!({"update_id": 3, "callback_query": {"id": "cbq-topic-1",
        "from": {"id": 5, "is_bot": false, "first_name": "B"}, "chat_instance": "1", "data": data,
        "message": {"message_id": 100, "date": now() / 1000, "message_thread_id": 44, "is_topic_message": true,
            "chat": {"id": -100_600, "type": "supergroup", "title": "Клуб", "is_forum": true}}}});
    let parsed = sauda_shared::telegram::parse_update(&t.id, press.to_string().as_bytes()).unwrap();
    let sauda_shared::telegram::TelegramUpdate::Callback {
        message: Some(message),
        ..
    } = parsed
    else {
        panic!("a press: {parsed:?}");
    };
    assert_eq!(message.thread_id, Some(44));
    deliver(&env, &deps, &message).await;
    let last = fakes
        .telegram
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/sendMessage"))
        .last()
        .unwrap()
        .json();
    assert_eq!(last["message_thread_id"], 44, "{last}");
}

// ---- Linking a phone: the till's account merges into the chat's ---------------------

const TILL_PHONE: &str = "+77011234567";

/// A member the till created by phone (contact `wa-…`), with 250 points on top of the
/// welcome bonus.
async fn till_member(env: &TestEnv, t: &TenantId) -> String {
    let config = config(env, t).await;
    let scope = Scope {
        tenant: t,
        config: &config,
    };
    let store = store(env);
    let joined = admin_join(env, t, None, Some(TILL_PHONE)).await;
    let contact = joined["contact_id"].as_str().unwrap().to_owned();
    let adjust = loyalty::ops::AdjustInput {
        customer: CustomerRef::Phone(TILL_PHONE.into()),
        points: 250,
        reason: "purchases at the till".into(),
    };
    ledger::execute(
        &store,
        None,
        None,
        t,
        &loyalty::ops::Adjust {
            scope,
            input: &adjust,
        },
    )
    .await
    .unwrap();
    contact
}

/// A Telegram contact message shared in chat `chat` by user `user_id`.
fn shared_contact(t: &TenantId, chat: i64, id: &str, user_id: Option<&str>) -> InboundMessage {
    InboundMessage {
        kind: MessageKind::Contact,
        text: None,
        attachment: Some(sauda_shared::message::Attachment::Contact {
            // As Telegram sends it: international, without the `+`.
            phone: TILL_PHONE.trim_start_matches('+').into(),
            name: Some("Aida".into()),
            user_id: user_id.map(str::to_owned),
        }),
        ..telegram(t, chat, id, "")
    }
}

async fn phone_owner(env: &TestEnv, t: &TenantId) -> String {
    let key = loyalty::model::phone_identity_key(t, TILL_PHONE);
    ledger::get::<loyalty::model::PhoneIdentity>(&store(env), &key)
        .await
        .unwrap()
        .unwrap()
        .contact
}

async fn audit_findings(env: &TestEnv, t: &TenantId) -> Vec<loyalty::views::AuditFinding> {
    loyalty::views::audit(&store(env), t).await.unwrap().1
}

#[tokio::test]
async fn sharing_my_phone_merges_the_till_account_into_the_chat_once_and_audit_stays_clean() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, |_| {}).await;
    let deps = deps(&env, &fakes);
    let till = till_member(&env, &t.id).await;
    assert_eq!(till, "wa-77011234567");
    deliver(&env, &deps, &telegram(&t.id, 800, "1", "/start")).await;

    // `/phone` offers Telegram's own "share my phone" reply-keyboard button.
    deliver(&env, &deps, &telegram(&t.id, 800, "2", "/phone")).await;
    let asked = fakes.telegram.requests().last().unwrap().json();
    assert_eq!(asked["text"], texts::SHARE_PHONE.ru);
    assert_eq!(
        asked["reply_markup"],
        json!({"keyboard": [[{"text": texts::BTN_SHARE_PHONE.ru, "request_contact": true}]],
               "resize_keyboard": true, "one_time_keyboard": true})
    );

    // Someone else's contact, or one without its owner, is refused and changes nothing.
    for (id, user) in [("3", Some("999")), ("4", None)] {
        deliver(&env, &deps, &shared_contact(&t.id, 800, id, user)).await;
        assert_eq!(last_telegram(&fakes).0, texts::PHONE_NOT_OWN.ru);
    }
    // Shared in a group (the chat is not the user's), even the user's own is refused.
    deliver(
        &env,
        &deps,
        &shared_contact(&t.id, -100800, "1", Some("800")),
    )
    .await;
    assert_eq!(last_telegram(&fakes).0, texts::PHONE_NOT_OWN.ru);
    assert_eq!(phone_owner(&env, &t.id).await, till);
    assert_eq!(
        account(&env, &t.id, "tg-800").await.unwrap().balance,
        WELCOME
    );

    let calls = measured(&env, &deps, &shared_contact(&t.id, 800, "5", Some("800"))).await;
    println!("AWS calls for a phone link with a merge: {calls:?}");
    assert_eq!(calls.get("DynamoDB.Query"), Some(&1), "profile + history");
    assert_eq!(
        calls.get("DynamoDB.BatchGetItem"),
        Some(&2),
        "the chat's account + the phone identity, then the till's account"
    );
    assert_eq!(
        calls.get("DynamoDB.TransactWriteItems"),
        Some(&2),
        "the merge, then reply + state"
    );
    assert_eq!(
        calls.get("DynamoDB.UpdateItem"),
        Some(&1),
        "the day's counters"
    );
    assert_eq!(env.counter.total(), 6);

    let total = WELCOME + WELCOME + 250;
    let survivor = account(&env, &t.id, "tg-800").await.unwrap();
    assert_eq!(survivor.balance, total);
    assert_eq!(survivor.phone.as_deref(), Some(TILL_PHONE));
    let absorbed = account(&env, &t.id, &till).await.unwrap();
    assert_eq!(absorbed.balance, 0);
    assert_eq!(absorbed.merged_into.as_deref(), Some("tg-800"));
    assert_eq!(phone_owner(&env, &t.id).await, "tg-800");
    let mut points = ledger_points(&env, &t.id, "tg-800").await;
    points.sort_unstable();
    assert_eq!(points, [WELCOME, WELCOME + 250]);
    let mut points = ledger_points(&env, &t.id, &till).await;
    points.sort_unstable();
    assert_eq!(points, [-(WELCOME + 250), WELCOME, 250]);
    assert_eq!(audit_findings(&env, &t.id).await, []);
    assert_eq!(
        last_telegram(&fakes).0,
        texts::PHONE_MERGED.render(
            Lang::Ru,
            &[("points", &(WELCOME + 250)), ("balance", &total)]
        )
    );

    // Shared again: nothing changes, and it costs one read.
    let calls = measured(&env, &deps, &shared_contact(&t.id, 800, "6", Some("800"))).await;
    assert_eq!(calls.get("DynamoDB.Query"), Some(&1));
    assert_eq!(
        calls.get("DynamoDB.BatchGetItem"),
        Some(&1),
        "account + identity"
    );
    assert_eq!(
        calls.get("DynamoDB.TransactWriteItems"),
        Some(&1),
        "reply + state"
    );
    assert_eq!(
        calls.get("DynamoDB.UpdateItem"),
        Some(&1),
        "the day's counters"
    );
    assert_eq!(env.counter.total(), 4);
    assert_eq!(account(&env, &t.id, "tg-800").await.unwrap(), survivor);
    assert_eq!(account(&env, &t.id, &till).await.unwrap(), absorbed);
    assert_eq!(ledger_points(&env, &t.id, "tg-800").await.len(), 2);
    assert_eq!(ledger_points(&env, &t.id, &till).await.len(), 3);
    assert_eq!(audit_findings(&env, &t.id).await, []);
    assert_eq!(
        last_telegram(&fakes).0,
        texts::PHONE_LINKED.render(Lang::Ru, &[("balance", &total)])
    );

    // The till now finds the chat's account by the phone.
    let found = CustomerRef::Phone(TILL_PHONE.into());
    let config = config(&env, &t.id).await;
    let out = ledger::execute(
        &store(&env),
        None,
        None,
        &t.id,
        &ReferralCodeFor {
            scope: Scope {
                tenant: &t.id,
                config: &config,
            },
            actor: &Actor::Admin,
            customer: &found,
        },
    )
    .await
    .unwrap();
    assert_eq!(out.body["contact_id"], "tg-800");
}

#[tokio::test]
async fn on_whatsapp_the_senders_number_is_the_phone_and_a_chat_without_account_gets_the_points() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env, |_| {}).await;
    let deps = deps(&env, &fakes);
    let till = till_member(&env, &t.id).await;
    fakes.whatsapp.push(200, wa_sent("wamid.A"));
    // The till's phone account already is this WhatsApp chat's: nothing to merge.
    deliver(
        &env,
        &deps,
        &whatsapp(&t.id, "77011234567", "wa1", "/phone"),
    )
    .await;
    let before = account(&env, &t.id, &till).await.unwrap();
    assert_eq!(before.balance, WELCOME + 250);
    assert_eq!(before.merged_into, None);
    assert_eq!(phone_owner(&env, &t.id).await, till);

    // A Telegram chat that never joined: it gets an account holding the till's points.
    deliver(&env, &deps, &shared_contact(&t.id, 900, "1", Some("900"))).await;
    let chat = account(&env, &t.id, "tg-900").await.unwrap();
    assert_eq!(chat.balance, WELCOME + 250);
    assert_eq!(ledger_points(&env, &t.id, "tg-900").await, [WELCOME + 250]);
    assert_eq!(account(&env, &t.id, &till).await.unwrap().balance, 0);
    assert_eq!(audit_findings(&env, &t.id).await, []);
    // The WhatsApp chat of that number still sees its points, now in the merged account.
    fakes.whatsapp.push(200, wa_sent("wamid.B"));
    deliver(
        &env,
        &deps,
        &whatsapp(&t.id, "77011234567", "wa2", "/balance"),
    )
    .await;
    let body = fakes.whatsapp.requests().last().unwrap().json();
    let shown = serde_json::to_string(&body).unwrap();
    let balance = texts::BALANCE.render(Lang::Ru, &[("balance", &(WELCOME + 250))]);
    assert!(shown.contains(&balance), "{shown}");
}
