//! Partners, loyalty admins and NPS in chat, on moto with fake Telegram and WhatsApp: a
//! chat applies, an admin approves from a button (recorded with its actor, the partner
//! told), the partner accrues from chat (Confirm pressed twice: one accrual), a chat that
//! is not an approved partner's is refused, and the customer's NPS survey is answered
//! on both channels, a low score telling the partner and the managers with the comment,
//! once per purchase.

use agent_reply::{handle, Deps};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use loyalty::model::{account_key, purchase_key, Account};
use loyalty::ops::{Actor, Join, JoinInput, Scope};
use loyalty::partners::{CreatePartner, ModeratePartner, Moderation, NewPartner};
use loyalty::store::{self as ledger, LoyaltyStore};
use sauda_shared::apikey::{ApiKeyStore, Role};
use sauda_shared::envelope::{Envelope, Job};
use sauda_shared::i18n::{chat as chat_texts, partner_chat as texts, Lang};
use sauda_shared::message::InboundMessage;
use sauda_shared::notify::{Notice, Recipients};
use sauda_shared::partner::{Partner, PartnerStatus};
use sauda_shared::stats::metric;
use sauda_shared::tenant::{Manager, TenantConfig};
use sauda_shared::{keys, TenantId};
use sauda_tests::chat_env::{
    agent_config, deliver, event, now, store_inbound, telegram, whatsapp, Fakes, Sent,
};
use sauda_tests::{failed_ids, lambda_event, TestEnv, TestTenant};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, Ordering as AtomicOrdering};
use std::sync::Arc;
use tower::ServiceExt;

const BOT: &str = "shop_bot";
const ADMIN: i64 = 7001;
const PARTNER_CHAT: i64 = 5001;
const PARTNER: &str = "tg-5001";
const WELCOME: i64 = 100;
const BUYER_PHONE: &str = "+77011234567";
const BUYER_WA: &str = "wa-77011234567";

/// A fixed-offset zone where it is now early afternoon, so that surveys go out
/// whenever the suite runs (`Etc/GMT-5` is UTC+5).
fn daytime_zone() -> String {
    let hour = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .hour();
    let offset = 13 - i32::from(hour); // -10..=13
    match offset {
        0 => "Etc/GMT".into(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

/// A Telegram + WhatsApp tenant running the loyalty program with one admin chat.
async fn tenant(env: &TestEnv) -> TestTenant {
    let t = env.tenant().await;
    sauda_infra::tenant::update_config(&env.clients.dynamo, &env.stack.table, &t.id, |c| {
        c.default_language = "ru".into();
        c.timezone = daytime_zone();
        c.telegram_bot_username = Some(BOT.into());
        c.managers = vec![Manager {
            chat_id: 9001,
            name: "Manager".into(),
        }];
        c.loyalty.enabled = true;
        c.loyalty.welcome_bonus = WELCOME;
        c.loyalty.admin_chats = vec![ADMIN];
    })
    .await
    .unwrap();
    t
}

/// The AWS calls of one message through agent-reply (stored first, uncounted).
async fn calls_of(
    env: &TestEnv,
    deps: &Deps,
    m: &InboundMessage,
) -> std::collections::BTreeMap<String, usize> {
    store_inbound(env, m).await;
    env.counter.reset();
    let response = handle(deps, lambda_event(event(m))).await.unwrap();
    assert!(failed_ids(&response).is_empty());
    env.counter.snapshot().into_iter().collect()
}

fn store(env: &TestEnv) -> loyalty::DynamoStore {
    loyalty::DynamoStore::new(env.clients.dynamo.clone(), &env.stack.table)
}

async fn config(env: &TestEnv, t: &TenantId) -> TenantConfig {
    sauda_infra::tenant::read_config(&env.clients.dynamo, &env.stack.table, t)
        .await
        .unwrap()
}

async fn partner(env: &TestEnv, t: &TenantId, id: &str) -> Option<Partner> {
    ledger::get::<Partner>(&store(env), &keys::partner(t, id))
        .await
        .unwrap()
}

async fn account(env: &TestEnv, t: &TenantId, contact: &str) -> Account {
    ledger::get::<Account>(&store(env), &account_key(t, contact))
        .await
        .unwrap()
        .expect("a member")
}

/// A member who joined at the till with a phone (and a chat, when given).
async fn member(env: &TestEnv, t: &TenantId, contact: Option<&str>, phone: &str) {
    let config = config(env, t).await;
    let input = JoinInput {
        contact_id: contact.map(str::to_owned),
        phone: Some(phone.into()),
        referral_code: None,
    };
    let join = Join {
        scope: Scope {
            tenant: t,
            config: &config,
        },
        actor: &Actor::Admin,
        input: &input,
    };
    ledger::execute(&store(env), None, None, t, &join)
        .await
        .unwrap();
}

/// An approved partner behind `PARTNER_CHAT`, set up through the library.
async fn approved_partner(env: &TestEnv, t: &TenantId) {
    let new = NewPartner {
        partner_id: PARTNER.into(),
        name: "Кофейня".into(),
        kind: String::new(),
        telegram_chat_id: Some(PARTNER_CHAT),
        cashback_bp: None,
    };
    let store = store(env);
    ledger::execute(
        &store,
        None,
        None,
        t,
        &CreatePartner {
            tenant: t,
            new: &new,
        },
    )
    .await
    .unwrap();
    let approve = ModeratePartner {
        tenant: t,
        partner_id: PARTNER,
        action: Moderation::Approve,
    };
    ledger::execute(&store, None, None, t, &approve)
        .await
        .unwrap();
}

async fn notices(env: &TestEnv) -> Vec<Notice> {
    env.receive_all("NotifyQueue")
        .await
        .into_iter()
        .filter_map(|m| match Envelope::from_json(m.body()?).ok()?.job {
            Job::Notify { notice } => Some(notice),
            _ => None,
        })
        .collect()
}

async fn accrual_points(env: &TestEnv, t: &TenantId, amount_minor: i64) -> i64 {
    let config = config(env, t).await;
    loyalty::ops::accrual_points(&config.loyalty, config.loyalty.cashback_bp, amount_minor).unwrap()
}

async fn today(env: &TestEnv, t: &TenantId) -> std::collections::BTreeMap<String, i64> {
    let config = config(env, t).await;
    let day = sauda_shared::stats::local_day(&config.timezone, now());
    env.counters(t, &day).await
}

#[tokio::test]
async fn a_chat_applies_an_admin_approves_and_confirm_pressed_twice_accrues_once() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env).await;
    let deps = Deps::from_aws(&env.clients, &agent_config(&env, &fakes));
    member(&env, &t.id, None, BUYER_PHONE).await;

    // The application waits as pending; the admin gets it with Approve / Reject.
    deliver(
        &env,
        &deps,
        &telegram(&t.id, PARTNER_CHAT, "1", "/apply Кофейня"),
    )
    .await;
    let applied = partner(&env, &t.id, PARTNER).await.expect("applied");
    assert_eq!(applied.status, PartnerStatus::Pending);
    assert_eq!(applied.telegram_chat_id, Some(PARTNER_CHAT));
    assert_eq!(
        fakes.last_to(PARTNER_CHAT).text,
        texts::APPLIED.render(Lang::Ru, &[("name", &"Кофейня")])
    );
    let to_admin = fakes.last_to(ADMIN);
    assert_eq!(
        to_admin.text,
        texts::NEW_APPLICATION.render(Lang::Ru, &[("name", &"Кофейня"), ("partner", &PARTNER)])
    );
    assert_eq!(to_admin.buttons.len(), 2, "approve, reject");
    let approve = to_admin.buttons[0].clone();

    // Applying again changes nothing; a pending partner cannot accrue yet.
    deliver(
        &env,
        &deps,
        &telegram(&t.id, PARTNER_CHAT, "2", "/apply Другое"),
    )
    .await;
    assert_eq!(fakes.last_to(PARTNER_CHAT).text, texts::PENDING.ru);
    let accrue = format!("/accrue {BUYER_PHONE} 5000");
    deliver(&env, &deps, &telegram(&t.id, PARTNER_CHAT, "3", &accrue)).await;
    assert_eq!(fakes.last_to(PARTNER_CHAT).text, texts::PENDING.ru);
    assert_eq!(fakes.to_chat(ADMIN).len(), 1, "one application, one notice");

    // The admin's button pressed in another chat is someone else's: nothing changes.
    deliver(&env, &deps, &telegram(&t.id, 7002, "1", &approve)).await;
    assert_eq!(fakes.last_to(7002).text, chat_texts::STALE_BUTTON.ru);
    assert_eq!(
        partner(&env, &t.id, PARTNER).await.unwrap().status,
        PartnerStatus::Pending
    );

    // The admin approves: recorded with its actor, the partner told, the admin answered.
    deliver(&env, &deps, &telegram(&t.id, ADMIN, "cb-1", &approve)).await;
    assert_eq!(
        partner(&env, &t.id, PARTNER).await.unwrap().status,
        PartnerStatus::Active
    );
    assert_eq!(
        fakes.last_to(ADMIN).text,
        texts::DECIDED_APPROVED.render(Lang::Ru, &[("name", &"Кофейня")])
    );
    let history = sauda_shared::dynamo::query_partition(
        &env.clients.dynamo,
        &env.stack.table,
        &sauda_shared::changes::history_pk(&t.id),
        None,
    )
    .await
    .unwrap();
    let history: Vec<(String, String, String)> = history
        .iter()
        .map(|i| {
            (
                sauda_shared::dynamo::item_s(i, "actor").to_owned(),
                sauda_shared::dynamo::item_s(i, "action").to_owned(),
                sauda_shared::dynamo::item_s(i, "target").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        history,
        [(
            format!("telegram_admin:{ADMIN}"),
            "partner.approve".to_owned(),
            PARTNER.to_owned()
        )]
    );
    let told: Vec<(String, Recipients)> = notices(&env)
        .await
        .into_iter()
        .map(|n| (n.kind, n.to))
        .collect();
    assert_eq!(
        told,
        [(
            "partner_status".to_owned(),
            Recipients::Chats(vec![PARTNER_CHAT])
        )]
    );
    // Pressed again: already approved, nothing recorded twice.
    deliver(&env, &deps, &telegram(&t.id, ADMIN, "cb-2", &approve)).await;
    assert!(notices(&env).await.is_empty());

    // The partner finds the client and accrues with a confirmation.
    deliver(
        &env,
        &deps,
        &telegram(&t.id, PARTNER_CHAT, "4", &format!("/client {BUYER_PHONE}")),
    )
    .await;
    assert_eq!(
        fakes.last_to(PARTNER_CHAT).text,
        texts::CLIENT.render(Lang::Ru, &[("phone", &BUYER_PHONE), ("balance", &WELCOME)])
    );
    deliver(&env, &deps, &telegram(&t.id, PARTNER_CHAT, "5", &accrue)).await;
    let confirmation = fakes.last_to(PARTNER_CHAT);
    assert_eq!(
        confirmation.text,
        texts::CONFIRM_ACCRUE.render(
            Lang::Ru,
            &[
                ("amount", &"5000"),
                ("currency", &"KZT"),
                ("phone", &BUYER_PHONE)
            ]
        )
    );
    assert_eq!(confirmation.buttons.len(), 2, "confirm, cancel");
    assert_eq!(
        account(&env, &t.id, BUYER_WA).await.balance,
        WELCOME,
        "nothing before Confirm"
    );

    let confirm = confirmation.buttons[0].clone();
    let calls = calls_of(
        &env,
        &deps,
        &telegram(&t.id, PARTNER_CHAT, "cb-3", &confirm),
    )
    .await;
    println!("AWS calls for a confirmed accrual: {calls:?}");
    assert_eq!(
        calls,
        [
            // partner, account, purchase, idempotency; the survey's partner + purchase
            ("DynamoDB.BatchGetItem".to_owned(), 2),
            ("DynamoDB.Query".to_owned(), 1), // profile + history
            ("DynamoDB.TransactWriteItems".to_owned(), 2), // the accrual; reply + state
            // the day's counters; the purchase's "survey asked" marker
            ("DynamoDB.UpdateItem".to_owned(), 2),
        ]
        .into_iter()
        .collect()
    );
    // Pressed again (a second callback): the same answer, no second accrual.
    deliver(
        &env,
        &deps,
        &telegram(&t.id, PARTNER_CHAT, "cb-4", &confirm),
    )
    .await;
    let points = accrual_points(&env, &t.id, 500_000).await;
    let balance = WELCOME + points;
    assert_eq!(account(&env, &t.id, BUYER_WA).await.balance, balance);
    assert_eq!(
        store(&env).ledger_points(&t.id, BUYER_WA).await.unwrap(),
        [WELCOME, points]
    );
    let done: Vec<String> = fakes
        .to_chat(PARTNER_CHAT)
        .into_iter()
        .rev()
        .take(2)
        .map(|s| s.text)
        .collect();
    let purchase = format!(
        "chat-{}",
        &done[0][done[0].find("chat-").unwrap() + 5..][..10]
    );
    let accrued = texts::ACCRUED.render(
        Lang::Ru,
        &[
            ("points", &points),
            ("purchase", &purchase),
            ("balance", &balance),
        ],
    );
    assert_eq!(done, [accrued.clone(), accrued]);
    let counters = today(&env, &t.id).await;
    assert_eq!(
        counters.get(&metric::partner(PARTNER, "purchases")),
        Some(&1)
    );

    // Today's figures.
    deliver(&env, &deps, &telegram(&t.id, PARTNER_CHAT, "6", "/today")).await;
    assert_eq!(
        fakes.last_to(PARTNER_CHAT).text,
        texts::TODAY.render(
            Lang::Ru,
            &[
                ("purchases", &1),
                ("turnover", &"5000"),
                ("currency", &"KZT"),
                ("accrued", &points),
                ("redeemed", &0),
            ]
        )
    );

    // Redeem 50 points of a 1 000 purchase, then refund the first purchase.
    let redeem = format!("/redeem {BUYER_PHONE} 1000 50");
    deliver(&env, &deps, &telegram(&t.id, PARTNER_CHAT, "7", &redeem)).await;
    let confirm = fakes.last_to(PARTNER_CHAT).buttons[0].clone();
    deliver(
        &env,
        &deps,
        &telegram(&t.id, PARTNER_CHAT, "cb-5", &confirm),
    )
    .await;
    let redeemed = fakes.last_to(PARTNER_CHAT).text;
    assert!(
        redeemed.starts_with("Готово: списано 50 баллов, к оплате 999.50 KZT"),
        "{redeemed}"
    );
    assert_eq!(account(&env, &t.id, BUYER_WA).await.balance, balance - 50);
    let refund = format!("/refund {BUYER_PHONE} {purchase}");
    deliver(&env, &deps, &telegram(&t.id, PARTNER_CHAT, "8", &refund)).await;
    assert_eq!(
        fakes.last_to(PARTNER_CHAT).text,
        texts::CONFIRM_REFUND.render(
            Lang::Ru,
            &[("purchase", &purchase), ("phone", &BUYER_PHONE)]
        )
    );
    let confirm = fakes.last_to(PARTNER_CHAT).buttons[0].clone();
    for press in ["cb-6", "cb-7"] {
        deliver(&env, &deps, &telegram(&t.id, PARTNER_CHAT, press, &confirm)).await;
    }
    let after = account(&env, &t.id, BUYER_WA).await.balance;
    assert_eq!(
        fakes.last_to(PARTNER_CHAT).text,
        texts::REFUNDED.render(Lang::Ru, &[("purchase", &purchase), ("balance", &after)])
    );
    let entries = store(&env).ledger_points(&t.id, BUYER_WA).await.unwrap();
    assert_eq!(
        entries.len(),
        4,
        "welcome, accrual, redeem, one refund: {entries:?}"
    );
    assert_eq!(entries.iter().sum::<i64>(), after);
    assert_eq!(after, WELCOME - 50, "the cashback taken back");
}

#[tokio::test]
async fn chats_that_are_not_an_approved_partners_or_an_admins_are_refused() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env).await;
    let deps = Deps::from_aws(&env.clients, &agent_config(&env, &fakes));
    member(&env, &t.id, None, BUYER_PHONE).await;
    let stranger = 5002;

    let accrue = format!("/accrue {BUYER_PHONE} 5000");
    deliver(&env, &deps, &telegram(&t.id, stranger, "1", &accrue)).await;
    let refused = format!("{}\n{}", texts::REFUSED.ru, texts::APPLY_HOW.ru);
    assert_eq!(fakes.last_to(stranger).text, refused);
    deliver(&env, &deps, &telegram(&t.id, stranger, "2", "/today")).await;
    assert_eq!(fakes.last_to(stranger).text, refused);

    // A Confirm signed for the stranger's own chat still needs an approved partner.
    let arg = "a.0.0123456789.1";
    let data = sauda_shared::chat::button_data(t.id.as_str(), &format!("tg-{stranger}"), "pc", arg)
        .unwrap();
    let calls = calls_of(&env, &deps, &telegram(&t.id, stranger, "cb-1", &data)).await;
    assert_eq!(fakes.last_to(stranger).text, texts::REFUSED.ru);
    println!("AWS calls for a refused confirm: {calls:?}");
    assert_eq!(
        calls,
        [
            ("DynamoDB.BatchGetItem".to_owned(), 1), // the operation's read: no partner tg-5002
            ("DynamoDB.Query".to_owned(), 2),        // profile + history; a partner with this chat?
            ("DynamoDB.TransactWriteItems".to_owned(), 1), // reply + state
            ("DynamoDB.UpdateItem".to_owned(), 2),   // the refusal's rate window; counters
        ]
        .into_iter()
        .collect()
    );
    assert_eq!(
        store(&env).ledger_points(&t.id, BUYER_WA).await.unwrap(),
        [WELCOME]
    );

    // A rejected applicant stays refused.
    deliver(&env, &deps, &telegram(&t.id, 5003, "1", "/apply Ларёк")).await;
    let reject = fakes.last_to(ADMIN).buttons[1].clone();
    // Pressed in a chat that is not a loyalty admin's (its own, validly signed data).
    let own = sauda_shared::chat::button_data(t.id.as_str(), "tg-7002", "ma", "tg-5003").unwrap();
    deliver(&env, &deps, &telegram(&t.id, 7002, "cb-1", &own)).await;
    assert_eq!(fakes.last_to(7002).text, texts::NOT_ADMIN.ru);
    assert_eq!(
        partner(&env, &t.id, "tg-5003").await.unwrap().status,
        PartnerStatus::Pending
    );
    deliver(&env, &deps, &telegram(&t.id, ADMIN, "cb-1", &reject)).await;
    assert_eq!(
        partner(&env, &t.id, "tg-5003").await.unwrap().status,
        PartnerStatus::Rejected
    );
    deliver(&env, &deps, &telegram(&t.id, 5003, "2", &accrue)).await;
    assert_eq!(fakes.last_to(5003).text, texts::REFUSED.ru);
    assert_eq!(
        store(&env).ledger_points(&t.id, BUYER_WA).await.unwrap(),
        [WELCOME]
    );
}

/// The partner accrues for `phone` from chat; returns the purchase reference.
async fn accrue_from_chat(
    env: &TestEnv,
    deps: &Deps,
    fakes: &Fakes,
    t: &TenantId,
    id: &str,
    phone: &str,
) -> (String, String) {
    let command = format!("/accrue {phone} 5000");
    deliver(env, deps, &telegram(t, PARTNER_CHAT, id, &command)).await;
    let confirm = fakes.last_to(PARTNER_CHAT).buttons[0].clone();
    deliver(
        env,
        deps,
        &telegram(t, PARTNER_CHAT, &format!("cb-{id}"), &confirm),
    )
    .await;
    let done = fakes.last_to(PARTNER_CHAT).text;
    let at = done.find("chat-").expect("a purchase reference");
    (done[at..at + 15].to_owned(), confirm)
}

fn survey_buttons_telegram(fakes: &Fakes, chat: i64) -> Vec<Sent> {
    fakes
        .to_chat(chat)
        .into_iter()
        .filter(|s| s.text == texts::NPS_ASK.render(Lang::Ru, &[("partner", &"Кофейня")]))
        .collect()
}

#[tokio::test]
async fn nps_after_a_chat_accrual_low_score_tells_partner_and_managers_with_the_comment_once() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env).await;
    let deps = Deps::from_aws(&env.clients, &agent_config(&env, &fakes));
    approved_partner(&env, &t.id).await;
    let buyer_chat = 6001;
    let buyer_phone = "+77017654321";
    member(&env, &t.id, Some("tg-6001"), buyer_phone).await;
    member(&env, &t.id, None, BUYER_PHONE).await;

    // Telegram: one survey with 0-10.
    let (purchase, confirm) = accrue_from_chat(&env, &deps, &fakes, &t.id, "1", buyer_phone).await;
    let surveys = survey_buttons_telegram(&fakes, buyer_chat);
    assert_eq!(surveys.len(), 1);
    let scores = surveys[0].buttons.clone();
    assert_eq!(scores.len(), 11, "0-10");
    // Confirm pressed again: replayed, no second survey.
    deliver(
        &env,
        &deps,
        &telegram(&t.id, PARTNER_CHAT, "cb-again", &confirm),
    )
    .await;
    assert_eq!(survey_buttons_telegram(&fakes, buyer_chat).len(), 1);
    notices(&env).await;

    let calls = calls_of(
        &env,
        &deps,
        &telegram(&t.id, buyer_chat, "cb-s3", &scores[3]),
    )
    .await;
    println!("AWS calls for an NPS answer: {calls:?}");
    assert_eq!(
        calls,
        [
            ("DynamoDB.BatchGetItem".to_owned(), 1), // partner, purchase
            // profile + history; the month's plan usage (the buyer's first
            // conversation of the month is counted, in the reply's transaction)
            ("DynamoDB.Query".to_owned(), 2),
            ("DynamoDB.TransactWriteItems".to_owned(), 2), // the score; reply + state
            ("DynamoDB.UpdateItem".to_owned(), 1),         // the day's counters
            ("SQS.SendMessage".to_owned(), 2),             // the managers, the partner
        ]
        .into_iter()
        .collect()
    );
    assert_eq!(fakes.last_to(buyer_chat).text, texts::NPS_WHAT_WRONG.ru);
    let rated = ledger::get::<Value>(&store(&env), &purchase_key(&t.id, PARTNER, &purchase))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rated["nps_score"], json!(3));
    let low = texts::NPS_LOW.render(
        Lang::Ru,
        &[
            ("score", &3),
            ("partner", &"Кофейня"),
            ("purchase", &purchase),
        ],
    );
    let told: Vec<(String, Recipients, String)> = notices(&env)
        .await
        .into_iter()
        .map(|n| (n.kind, n.to, n.html))
        .collect();
    assert_eq!(
        told,
        [
            ("nps_low".to_owned(), Recipients::Managers, low.clone()),
            (
                "nps_low".to_owned(),
                Recipients::Chats(vec![PARTNER_CHAT]),
                low
            )
        ]
    );

    // The next text is the comment, passed on to both.
    deliver(
        &env,
        &deps,
        &telegram(&t.id, buyer_chat, "7", "Долго ждал <кофе>"),
    )
    .await;
    assert_eq!(fakes.last_to(buyer_chat).text, texts::NPS_THANKS.ru);
    let comment = texts::NPS_COMMENT.render(
        Lang::Ru,
        &[
            ("score", &3),
            ("partner", &"Кофейня"),
            ("comment", &"Долго ждал &lt;кофе&gt;"),
        ],
    );
    let told: Vec<(String, Recipients, String)> = notices(&env)
        .await
        .into_iter()
        .map(|n| (n.kind, n.to, n.html))
        .collect();
    assert_eq!(
        told,
        [
            (
                "nps_comment".to_owned(),
                Recipients::Managers,
                comment.clone()
            ),
            (
                "nps_comment".to_owned(),
                Recipients::Chats(vec![PARTNER_CHAT]),
                comment
            )
        ]
    );

    // Once per purchase: another score of the same survey changes nothing.
    deliver(
        &env,
        &deps,
        &telegram(&t.id, buyer_chat, "cb-s9", &scores[9]),
    )
    .await;
    assert_eq!(fakes.last_to(buyer_chat).text, texts::NPS_ALREADY.ru);
    assert!(notices(&env).await.is_empty());
    // Someone else's score button changes nothing either.
    deliver(&env, &deps, &telegram(&t.id, 6002, "cb-s1", &scores[1])).await;
    assert_eq!(fakes.last_to(6002).text, chat_texts::STALE_BUTTON.ru);
    let counters = today(&env, &t.id).await;
    assert_eq!(
        counters.get(&metric::partner(PARTNER, "nps_count")),
        Some(&1)
    );
    assert_eq!(counters.get(&metric::partner(PARTNER, "nps_sum")), Some(&3));

    // WhatsApp: the survey is a list (1-10), a tap records the score, a high one thanks.
    accrue_from_chat(&env, &deps, &fakes, &t.id, "2", BUYER_PHONE).await;
    let lists: Vec<Value> = fakes
        .whatsapp
        .requests()
        .iter()
        .map(|r| r.json())
        .filter(|b| b["interactive"]["type"] == json!("list"))
        .collect();
    assert_eq!(lists.len(), 1);
    let rows = lists[0]["interactive"]["action"]["sections"][0]["rows"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(rows.len(), 10);
    assert_eq!(rows[9]["title"], json!("10"));
    let ten = rows[9]["id"].as_str().unwrap();
    deliver(&env, &deps, &whatsapp(&t.id, "77011234567", "wamid.1", ten)).await;
    assert!(notices(&env).await.is_empty(), "a high score tells no one");
    let counters = today(&env, &t.id).await;
    assert_eq!(
        counters.get(&metric::partner(PARTNER, "nps_count")),
        Some(&2)
    );
    assert_eq!(
        counters.get(&metric::partner(PARTNER, "nps_promoters")),
        Some(&1)
    );
    let thanked = fakes
        .whatsapp
        .requests()
        .iter()
        .any(|r| r.json()["text"]["body"] == json!(texts::NPS_THANKS.ru));
    assert!(thanked);
}

/// agent-reply whose "now" (the ledger's clock, which the survey window reads) is
/// `shift` milliseconds ahead of the wall clock.
fn deps_at(env: &TestEnv, fakes: &Fakes, shift: &Arc<AtomicI64>) -> Deps {
    let mut deps = Deps::from_aws(&env.clients, &agent_config(env, fakes));
    let offset = shift.clone();
    deps.ledger = Some(Arc::new(
        loyalty::DynamoStore::new(env.clients.dynamo.clone(), &env.stack.table).with_clock(
            Arc::new(move || sauda_shared::now_ms() + offset.load(AtomicOrdering::SeqCst)),
        ),
    ));
    deps
}

/// The `NpsDue` jobs on `inbound.fifo`, received (not deleted) as Lambda's event.
async fn survey_jobs(env: &TestEnv) -> aws_lambda_events::event::sqs::SqsEvent {
    env.sqs_event_from_queue("InboundQueue", 0).await
}

#[tokio::test]
async fn a_partner_api_accrual_queues_one_survey_deferred_at_night_then_sent_once() {
    let env = TestEnv::new().await;
    let fakes = Fakes::start().await;
    let t = tenant(&env).await;
    approved_partner(&env, &t.id).await;
    let buyer_chat = 6001;
    member(&env, &t.id, Some("tg-6001"), "+77017654321").await;

    // The partner's till accrues through the loyalty API.
    let loyalty_deps = Arc::new(loyalty::Deps::from_aws(
        &env.clients,
        &loyalty::LoyaltyConfig {
            core: env.core_config(),
            notify_queue_url: env.queue_url("NotifyQueue"),
            inbound_queue_url: Some(env.queue_url("InboundQueue")),
        },
    ));
    let key = ApiKeyStore::new(env.clients.dynamo.clone(), &env.stack.table)
        .issue(
            &t.id,
            Role::Partner {
                partner_id: PARTNER.into(),
            },
            "till",
        )
        .await
        .unwrap()
        .presented
        .expose()
        .to_owned();
    let accrue = |idem: &str| {
        Request::builder()
            .method("POST")
            .uri(format!("/t/{}/loyalty/accrue", t.id))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {key}"))
            .header("idempotency-key", idem)
            .body(Body::from(
                json!({"contact_id": "tg-6001", "purchase_ref": "TILL-1", "amount_minor": 500_000, "currency": "KZT"})
                    .to_string(),
            ))
            .unwrap()
    };
    env.counter.reset();
    let response = loyalty::router(loyalty_deps.clone())
        .oneshot(accrue("till-1"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let calls: std::collections::BTreeMap<String, usize> =
        env.counter.snapshot().into_iter().collect();
    println!("AWS calls for a partner-API accrual: {calls:?}");
    assert_eq!(
        calls,
        [
            ("DynamoDB.BatchGetItem".to_owned(), 1), // partner, account, purchase, idempotency
            ("DynamoDB.GetItem".to_owned(), 2),      // tenant, API key
            ("DynamoDB.TransactWriteItems".to_owned(), 1), // the accrual
            ("SQS.SendMessage".to_owned(), 1),       // the survey due
        ]
        .into_iter()
        .collect()
    );
    // Replayed (same Idempotency-Key): nothing queued again.
    env.counter.reset();
    let again = loyalty::router(loyalty_deps)
        .oneshot(accrue("till-1"))
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(
        env.counter
            .snapshot()
            .into_iter()
            .find(|(k, _)| k == "SQS.SendMessage"),
        None
    );

    // At night (23:00 in the tenant's zone): deferred to 09:00, nothing sent.
    let shift = Arc::new(AtomicI64::new(10 * 3_600_000));
    let deps = deps_at(&env, &fakes, &shift);
    let event = survey_jobs(&env).await;
    assert_eq!(event.records.len(), 1, "one job per purchase");
    let job = Envelope::from_json(event.records[0].body.as_deref().unwrap()).unwrap();
    assert!(
        matches!(job.job, Job::NpsDue { ref due } if due.purchase_ref == "TILL-1" && due.partner_id == PARTNER && due.contact == "tg-6001")
    );
    let receipt = event.records[0].receipt_handle.clone().unwrap();
    env.counter.reset();
    let response = handle(&deps, lambda_event(event)).await.unwrap();
    let calls: std::collections::BTreeMap<String, usize> =
        env.counter.snapshot().into_iter().collect();
    println!("AWS calls for a survey due at night: {calls:?}");
    assert!(
        survey_jobs(&env).await.records.is_empty(),
        "hidden until the window opens"
    );
    // The ten hours pass (SQS's clock is not ours to move): visible again.
    env.clients
        .sqs
        .change_message_visibility()
        .queue_url(env.queue_url("InboundQueue"))
        .receipt_handle(receipt)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    assert_eq!(
        failed_ids(&response).len(),
        1,
        "redelivered later, never dropped"
    );
    assert_eq!(
        calls,
        [
            ("DynamoDB.GetItem".to_owned(), 1),            // the tenant
            ("SQS.ChangeMessageVisibility".to_owned(), 1), // back at 09:00
            ("SQS.GetQueueUrl".to_owned(), 1),             // the record's queue, once per instance
        ]
        .into_iter()
        .collect()
    );
    assert!(survey_buttons_telegram(&fakes, buyer_chat).is_empty());

    // Morning: the same job comes back and the survey goes out, once.
    shift.store(0, AtomicOrdering::SeqCst);
    let event = survey_jobs(&env).await;
    assert_eq!(event.records.len(), 1, "the deferred job, not dropped");
    let body = event.records[0].body.clone().unwrap();
    env.counter.reset();
    let response = handle(&deps, lambda_event(event)).await.unwrap();
    assert!(failed_ids(&response).is_empty());
    let calls: std::collections::BTreeMap<String, usize> =
        env.counter.snapshot().into_iter().collect();
    println!("AWS calls for a survey sent: {calls:?}");
    assert_eq!(
        calls,
        [
            // (the tenant: cached by this warm instance since the night)
            ("DynamoDB.BatchGetItem".to_owned(), 1), // partner + purchase
            ("DynamoDB.UpdateItem".to_owned(), 1),   // the "asked" marker
            ("Secrets Manager.GetSecretValue".to_owned(), 1), // the bot token
        ]
        .into_iter()
        .collect()
    );
    let surveys = survey_buttons_telegram(&fakes, buyer_chat);
    assert_eq!(surveys.len(), 1);
    assert_eq!(surveys[0].buttons.len(), 11, "0-10");
    // The same job again (a redelivery): no second survey.
    let response = handle(
        &deps,
        lambda_event(env.sqs_event_on("InboundQueue", &[body])),
    )
    .await
    .unwrap();
    assert!(failed_ids(&response).is_empty());
    assert_eq!(survey_buttons_telegram(&fakes, buyer_chat).len(), 1);
    let purchase: Value = ledger::get(&store(&env), &purchase_key(&t.id, PARTNER, "TILL-1"))
        .await
        .unwrap()
        .unwrap();
    assert!(purchase["nps_asked_ms"].is_i64());
}
