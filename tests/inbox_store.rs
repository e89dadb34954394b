//! Contract tests of the inbox's two DynamoDB adapters on moto: the inbox API's store
//! (`inbox::dynamo::DynamoInbox`) and the notifier's (`notifier::DynamoInbox`). Each
//! test writes items of two tenants and checks that reads and writes stay in one.

use ::inbox::domain::{Position, Refusal};
use ::inbox::store::InboxStore as ApiStore;
use notifier::{AlreadyRecorded, InboxStore as NotifierStore};
use sauda_shared::contact::ContactProfile;
use sauda_shared::inbox::{self, Activity, CardItem, Seen};
use sauda_shared::keys;
use sauda_shared::message::{Channel, InboundMessage, MessageKind};
use sauda_shared::plan::{Cond, Op, PlanError, Update, WritePlan};
use sauda_shared::TenantId;
use sauda_tests::TestEnv;
use serde_json::json;

fn tenant(env: &TestEnv) -> TenantId {
    let _ = env;
    TenantId::parse(&sauda_tests::unique("tn")).unwrap()
}

/// A conversation as agent-reply leaves it: the inbound message, the profile, the row.
async fn conversation(env: &TestEnv, t: &TenantId, chat: i64, at_ms: i64, paused: bool) {
    let contact = format!("tg-{chat}");
    let m = InboundMessage {
        tenant: t.clone(),
        channel: Channel::Telegram,
        contact: contact.clone(),
        platform_message_id: format!("{chat}1"),
        timestamp_ms: at_ms,
        kind: MessageKind::Text,
        text: Some(format!("привет {chat}")),
        attachment: None,
        display_name: Some("Aida".into()),
        language: None,
        reply_to: chat.to_string(),
        thread_id: None,
    };
    env.put(sauda_shared::message::MessageItem::inbound(&m, at_ms))
        .await;
    let (pk, sk) = ContactProfile::key(t, &contact);
    env.put(ContactProfile {
        pk,
        sk,
        contact: contact.clone(),
        channel: Some(Channel::Telegram),
        reply_to: Some(chat.to_string()),
        last_inbound_ms: Some(at_ms),
        agent_paused: paused,
        ..Default::default()
    })
    .await;
    let mut plan = WritePlan::<()>::new();
    plan.update(inbox::index_update(&Activity {
        tenant: t,
        contact: &contact,
        channel: Channel::Telegram,
        reply_to: &chat.to_string(),
        display_name: Some("Aida"),
        stage: None,
        inbound: Some(Seen {
            at_ms,
            last_inbound_ms: at_ms,
            preview: "привет",
        }),
        outbound: None,
        handoff: paused,
        pause: None,
    }));
    sauda_shared::dynamo::execute(&env.clients.dynamo, &env.stack.table, &plan)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_api_store_lists_reads_and_writes_one_tenant_only() {
    let env = TestEnv::new().await;
    let store = ::inbox::dynamo::DynamoInbox::new(env.clients.dynamo.clone(), &env.stack.table);
    let (a, b) = (tenant(&env), tenant(&env));
    for (i, chat) in [1_i64, 2, 3].iter().enumerate() {
        conversation(&env, &a, *chat, 1_000 + i as i64, *chat == 2).await;
    }
    conversation(&env, &b, 9, 5_000, true).await;

    env.counter.reset();
    let page = store.list(&a, None, 2, 8, None).await.unwrap();
    assert_eq!(env.counter.total(), 1, "one Query");
    let contacts: Vec<&str> = page.items.iter().map(|i| i.contact.as_str()).collect();
    assert_eq!(
        contacts,
        ["tg-3", "tg-2"],
        "newest first, tenant B's row never"
    );
    let next = page.next.clone().expect("more");
    let rest = store.list(&a, None, 2, 8, Some(&next)).await.unwrap();
    assert_eq!(rest.items.len(), 1);
    assert!(rest.next.is_none());
    let paused = Cond::eq("agent_paused", true);
    let only = store.list(&a, Some(&paused), 5, 20, None).await.unwrap();
    assert_eq!(only.items.len(), 1);
    assert_eq!(only.items[0].contact, "tg-2");
    // A position from another tenant's row reads nothing of it.
    let foreign = Position {
        activity: keys::conversations_gsi_sk(5_000, "tg-9"),
        contact: "tg-9".into(),
    };
    let after = store.list(&a, None, 5, 20, Some(&foreign)).await.unwrap();
    assert!(after
        .items
        .iter()
        .all(|i| i.pk.starts_with(&keys::tenant_prefix(&a))));

    let profiles = store
        .profiles(&a, &["tg-1".into(), "tg-9".into()])
        .await
        .unwrap();
    assert_eq!(profiles.len(), 1, "B's contact is not A's");
    let (messages, next) = store.transcript(&a, "tg-1", 10, None).await.unwrap();
    assert_eq!((messages.len(), next), (1, None));
    assert!(store
        .transcript(&a, "tg-9", 10, None)
        .await
        .unwrap()
        .0
        .is_empty());

    let idem = keys::idempotency(&a, "inbox:k:c1");
    let context = store.send_context(&a, "tg-1", &idem).await.unwrap();
    assert!(context.row.is_some() && context.profile.is_some() && context.earlier.is_none());
    let context = store.send_context(&a, "tg-9", &idem).await.unwrap();
    assert!(context.row.is_none() && context.profile.is_none());

    // A write to a row that does not exist is refused, not created.
    let read = inbox::key(&a, "tg-9");
    let result = store
        .update(
            Update::new(read)
                .set("unread", 0i64)
                .when(Cond::item_exists()),
            Refusal::NotFound,
        )
        .await;
    assert!(matches!(
        result,
        Err(PlanError::Rejected(Refusal::NotFound))
    ));
}

#[tokio::test]
async fn the_notifier_store_keeps_markers_cards_and_threads_per_tenant() {
    let env = TestEnv::new().await;
    let store = notifier::DynamoInbox::new(env.clients.dynamo.clone(), &env.stack.table);
    let (a, b) = (tenant(&env), tenant(&env));
    conversation(&env, &a, 1, 1_000, false).await;
    conversation(&env, &b, 1, 2_000, false).await;

    env.counter.reset();
    let (marker, profile) = store.before_send(&a, "relay:5:1", "tg-1").await.unwrap();
    assert_eq!(env.counter.total(), 1, "one BatchGetItem");
    assert!(marker.is_none());
    assert_eq!(profile.unwrap().last_inbound_ms, Some(1_000));

    let (pk, sk) = keys::customer_message(&a, "relay:5:1");
    let marker = json!({"PK": pk, "SK": sk, "state": "sent", "platform_message_ids": ["7"]});
    let mut plan = WritePlan::<AlreadyRecorded>::new();
    plan.push_or(
        Op::Put {
            record: sauda_shared::plan::Record::new(marker),
            cond: Some(Cond::item_absent()),
        },
        AlreadyRecorded,
    );
    assert!(store.commit(&plan).await.unwrap());
    assert!(
        !store.commit(&plan).await.unwrap(),
        "the guard: recorded once"
    );
    let (finished, _) = store.before_send(&a, "relay:5:1", "tg-1").await.unwrap();
    assert_eq!(finished.unwrap().platform_message_ids, ["7"]);
    let (other, _) = store.before_send(&b, "relay:5:1", "tg-1").await.unwrap();
    assert!(other.is_none(), "B's id is B's");

    let (profile, messages) = store.thread(&a, "tg-1", 5).await.unwrap();
    assert!(profile.is_some());
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].text.as_deref(), Some("привет 1"));

    env.put(CardItem::new(&a, 5, 700, "tg-1", "handoff:tg-1:11", 1_000))
        .await;
    assert_eq!(
        store.card(&a, 5, 700).await.unwrap().unwrap().contact,
        "tg-1"
    );
    assert!(
        store.card(&b, 5, 700).await.unwrap().is_none(),
        "not B's card"
    );
    assert!(
        store.card(&a, 6, 700).await.unwrap().is_none(),
        "not another chat's"
    );

    let (who, lead) = store.who(&a, "tg-1").await.unwrap();
    assert!(who.is_some() && lead.is_none());

    // A pointer of A's never leads B's status to A's message.
    let (pk, sk) = keys::outbound_pointer(&a, "wamid.X");
    let message = keys::contact_pk(&a, "tg-1");
    env.put(json!({"PK": pk, "SK": sk, "message_pk": message, "message_sk": keys::message_sk(1_000, sauda_shared::message::Direction::In, "11")}))
        .await;
    assert_eq!(
        store
            .sent_message(&a, "wamid.X")
            .await
            .unwrap()
            .unwrap()
            .contact,
        "tg-1"
    );
    assert!(store.sent_message(&b, "wamid.X").await.unwrap().is_none());
}
