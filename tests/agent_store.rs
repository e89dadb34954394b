//! Contract tests of agent-reply's storage ports on moto: the conversation store (one
//! read, one transaction, the loyalty balance) and the monthly usage store.

use agent_reply::conversation::{ReplyState, HISTORY};
use agent_reply::dynamo::{DynamoConversations, DynamoUsage};
use agent_reply::reply::compose;
use agent_reply::reply::deliver::{Delivered, SentReply};
use agent_reply::reply::load::Context;
use agent_reply::reply::record::{self, Outcome};
use agent_reply::store::{ConversationStore, UsageStore, WriteOutcome};
use agent_reply::usage::{Marker, Tally};
use sauda_shared::aws::DynamoMessageStore;
use sauda_shared::contact::ContactProfile;
use sauda_shared::i18n::Lang;
use sauda_shared::keys;
use sauda_shared::message::{Channel, InboundMessage, MessageKind};
use sauda_shared::ports::{MessageStore, StoreError};
use sauda_shared::tenant::TenantConfig;
use sauda_shared::TenantId;
use sauda_tests::{attr_s, unique, TestEnv};
use serde_json::json;
use std::sync::Arc;

fn tenant() -> TenantId {
    TenantId::parse(&unique("tn")).unwrap()
}

fn message(tenant: &TenantId, number: &str, id: &str, ts_ms: i64) -> InboundMessage {
    InboundMessage {
        tenant: tenant.clone(),
        channel: Channel::Whatsapp,
        contact: Channel::Whatsapp.contact_id(number),
        platform_message_id: id.into(),
        timestamp_ms: ts_ms,
        kind: MessageKind::Text,
        text: Some(format!("message {id}")),
        attachment: None,
        display_name: Some("Aida".into()),
        language: None,
        reply_to: number.into(),
        thread_id: None,
    }
}

async fn store_inbound(env: &TestEnv, messages: &[&InboundMessage]) {
    let store = DynamoMessageStore::new(env.clients.dynamo.clone(), &env.stack.table);
    for m in messages {
        store.put_inbound(m).await.unwrap();
    }
}

fn conversations(env: &TestEnv) -> DynamoConversations {
    DynamoConversations::new(env.clients.dynamo.clone(), &env.stack.table)
}

#[tokio::test]
async fn one_read_gives_the_profile_and_the_newest_messages_of_one_contact() {
    let env = TestEnv::new().await;
    let (t, other) = (tenant(), tenant());
    let start = sauda_shared::now_ms() - 100_000;
    let messages: Vec<InboundMessage> = (0..25)
        .map(|i| message(&t, "77010000001", &format!("w{i:02}"), start + i * 1_000))
        .collect();
    store_inbound(&env, &messages.iter().collect::<Vec<_>>()).await;
    // The same contact in another tenant, and items of other capabilities.
    store_inbound(&env, &[&message(&other, "77010000001", "x", start)]).await;
    let (pk, sk) = ContactProfile::key(&t, "wa-77010000001");
    env.put(ContactProfile {
        pk: pk.clone(),
        sk,
        contact: "wa-77010000001".into(),
        rl_window: Some(7),
        rl_count: Some(3),
        ..Default::default()
    })
    .await;
    env.put(json!({"PK": pk, "SK": keys::LOYALTY_SK, "balance": 1200}))
        .await;

    env.counter.reset();
    let conv = conversations(&env)
        .read(&t, "wa-77010000001")
        .await
        .unwrap();
    assert_eq!(env.counter.snapshot().get("DynamoDB.Query"), Some(&1));
    assert_eq!(env.counter.total(), 1);
    let profile = conv.profile.expect("profile");
    assert_eq!((profile.rl_window, profile.rl_count), (Some(7), Some(3)));
    assert_eq!(conv.messages.len(), HISTORY);
    assert_eq!(conv.messages[0].sk, messages[24].sk(), "newest first");
    assert_eq!(conv.messages[HISTORY - 1].sk, messages[5].sk());
    assert_eq!(conv.messages[0].text.as_deref(), Some("message w24"));

    let empty = conversations(&env).read(&t, "wa-nobody").await.unwrap();
    assert!(empty.profile.is_none() && empty.messages.is_empty());
    let theirs = conversations(&env)
        .read(&other, "wa-77010000001")
        .await
        .unwrap();
    assert_eq!(theirs.messages.len(), 1, "another tenant's conversation");
    assert!(theirs.profile.is_none());
}

#[tokio::test]
async fn a_malformed_profile_is_an_error_not_a_default() {
    let env = TestEnv::new().await;
    let t = tenant();
    let (pk, sk) = ContactProfile::key(&t, "tg-1");
    env.put(json!({"PK": pk, "SK": sk, "stage": "no-such-stage"}))
        .await;
    let err = conversations(&env).read(&t, "tg-1").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

async fn context(env: &TestEnv, m: &InboundMessage, now_ms: i64) -> Context {
    let conv = conversations(env)
        .read(&m.tenant, &m.contact)
        .await
        .unwrap();
    let config = TenantConfig::new(m.tenant.clone(), "Shop");
    Context::new(Arc::new(config), m.clone(), conv, now_ms)
}

fn sent(id: &str, sent_ms: i64) -> Delivered {
    Delivered {
        sent: Some(SentReply {
            ids: vec![id.into()],
            sent_ms,
            latency_ms: 850,
        }),
        not_sent: None,
    }
}

#[tokio::test]
async fn a_job_commits_once_and_a_second_delivery_is_already_handled() {
    let env = TestEnv::new().await;
    let t = tenant();
    let now = sauda_shared::now_ms();
    let m = message(&t, "77010000002", "wamid.IN", now - 5_000);
    store_inbound(&env, &[&m]).await;
    let store = conversations(&env);
    let reply = compose::rate_limit_notice(Lang::Ru);
    let ctx = context(&env, &m, now).await;
    let outcome = Outcome {
        state: ReplyState::RateLimitNotice,
        reply: Some(&reply),
        delivered: sent("wamid.OUT", now),
    };
    env.counter.reset();
    let written = store
        .commit(&record::plan(&ctx, &outcome, now))
        .await
        .unwrap();
    assert_eq!(written, WriteOutcome::Written);
    assert_eq!(
        env.counter.snapshot().get("DynamoDB.TransactWriteItems"),
        Some(&1)
    );
    assert_eq!(env.counter.total(), 1);

    let conv = store.read(&t, &m.contact).await.unwrap();
    let inbound = conv.messages.iter().find(|s| s.sk == m.sk()).unwrap();
    assert_eq!(inbound.reply_state.as_deref(), Some("rate_limit_notice"));
    let out = &conv.messages[0];
    assert_eq!(out.reply_kind.as_deref(), Some("rate_limit_notice"));
    assert_eq!(out.text.as_deref(), Some(reply.text.as_str()));
    let profile = conv.profile.expect("profile written");
    assert_eq!(profile.contact, m.contact);
    assert_eq!(profile.rl_notice_window, Some(ctx.rate.window));
    assert_eq!(profile.last_reply_ms, Some(now));
    assert_eq!(profile.first_seen_ms, Some(m.timestamp_ms));
    let (ppk, psk) = keys::outbound_pointer(&t, "wamid.OUT");
    let pointer = env
        .clients
        .dynamo
        .get_item()
        .table_name(&env.stack.table)
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(ppk))
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S(psk))
        .send()
        .await
        .unwrap()
        .item
        .expect("the OUT# pointer for delivery statuses");
    assert_eq!(attr_s(&pointer, "message_sk"), out.sk);

    // Another delivery read the conversation before the first committed: its whole
    // transaction is refused, its reply included.
    let later = now + 2_000;
    let outcome = Outcome {
        state: ReplyState::RateLimitNotice,
        reply: Some(&reply),
        delivered: sent("wamid.OUT2", later),
    };
    assert_eq!(
        store
            .commit(&record::plan(&ctx, &outcome, later))
            .await
            .unwrap(),
        WriteOutcome::AlreadyHandled
    );
    let conv = store.read(&t, &m.contact).await.unwrap();
    assert_eq!(conv.messages.len(), 2, "the inbound message and one reply");
}

#[tokio::test]
async fn the_loyalty_balance_of_members_only() {
    let env = TestEnv::new().await;
    let t = tenant();
    env.put(json!({"PK": keys::contact_pk(&t, "tg-5"), "SK": keys::LOYALTY_SK, "balance": 1200}))
        .await;
    let store = conversations(&env);
    assert_eq!(store.loyalty_balance(&t, "tg-5").await.unwrap(), Some(1200));
    assert_eq!(store.loyalty_balance(&t, "tg-6").await.unwrap(), None);
    // A chat whose account a phone link absorbed reads the survivor's balance.
    env.put(json!({"PK": keys::contact_pk(&t, "wa-7"), "SK": keys::LOYALTY_SK, "balance": 0, "merged_into": "tg-5"}))
        .await;
    assert_eq!(store.loyalty_balance(&t, "wa-7").await.unwrap(), Some(1200));
    assert_eq!(
        store.loyalty_balance(&tenant(), "tg-5").await.unwrap(),
        None,
        "another tenant's member"
    );
}

#[tokio::test]
async fn usage_adds_up_per_tenant_month_and_notices_are_marked_once() {
    let env = TestEnv::new().await;
    let (t, other) = (tenant(), tenant());
    let usage = DynamoUsage::new(env.clients.dynamo.clone(), &env.stack.table);
    let fresh = usage.read(&t, "2026-11").await.unwrap();
    assert_eq!((fresh.cost_micros, fresh.notified.len()), (0, 0));
    let tally = Tally {
        prompt_tokens: 800,
        completion_tokens: 40,
        cost_micros: 150,
        calls: 2,
    };
    env.counter.reset();
    assert_eq!(
        usage
            .add(&t, "2026-11", &tally, 1)
            .await
            .unwrap()
            .cost_micros,
        150
    );
    let total = usage.add(&t, "2026-11", &tally, 2).await.unwrap();
    assert_eq!(total.cost_micros, 300, "the answer is the month's total");
    assert_eq!(
        env.counter.snapshot().get("DynamoDB.UpdateItem"),
        Some(&2),
        "one write each, no read"
    );
    assert_eq!(env.counter.total(), 2);

    assert!(usage.mark(&t, "2026-11", Marker::Budget, 3).await.unwrap());
    assert!(!usage.mark(&t, "2026-11", Marker::Budget, 4).await.unwrap());
    assert!(usage
        .mark(&t, "2026-11", Marker::LlmKeyMissing, 5)
        .await
        .unwrap());
    let read = usage.read(&t, "2026-11").await.unwrap();
    assert_eq!(read.cost_micros, 300);
    assert_eq!(
        read.notified.into_iter().collect::<Vec<_>>(),
        [Marker::Budget, Marker::LlmKeyMissing]
    );
    let after = usage.add(&t, "2026-11", &tally, 6).await.unwrap();
    assert!(
        after.notified.contains(&Marker::Budget),
        "kept by a later add"
    );

    assert_eq!(usage.read(&t, "2026-12").await.unwrap().cost_micros, 0);
    let theirs = usage.read(&other, "2026-11").await.unwrap();
    assert_eq!((theirs.cost_micros, theirs.notified.len()), (0, 0));
}
