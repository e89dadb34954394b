//! The notifier against moto and a fake Telegram: once per recipient, retries that
//! survive an outage, permanent refusals, rate limits and tenant isolation.

use notifier::{handle, Deps, REDELIVERY};
use sauda_shared::envelope::Envelope;
use sauda_shared::notify::{Notice, Recipients};
use sauda_shared::stats::{self, metric};
use sauda_shared::tenant::Manager;
use sauda_shared::TenantId;
use sauda_tests::fake::FakeServer;
use sauda_tests::{failed_ids, lambda_event, sqs_event, TestEnv};
use serde_json::json;
use std::time::Duration;

fn deps(env: &TestEnv, telegram: &FakeServer) -> Deps {
    let mut deps = env.notifier(&telegram.base_url);
    deps.max_rate_limit_wait = Duration::from_secs(3);
    deps
}

async fn tenant_with_managers(env: &TestEnv, chats: &[i64]) -> TenantId {
    let managers: Vec<Manager> = chats
        .iter()
        .map(|&chat_id| Manager {
            chat_id,
            name: format!("m{chat_id}"),
        })
        .collect();
    let t = env.tenant().await;
    sauda_infra::tenant::update_config(&env.clients.dynamo, &env.stack.table, &t.id, |c| {
        c.managers = managers.clone()
    })
    .await
    .unwrap();
    t.id
}

fn notice(tenant: &TenantId, id: &str, to: Recipients) -> Notice {
    Notice {
        tenant: tenant.clone(),
        id: id.to_owned(),
        kind: "lead_new".into(),
        to,
        html: "<b>New lead</b>: Aida, +77011234567".into(),
    }
}

fn body(n: Notice) -> String {
    Envelope::notice(n).to_json()
}

fn sent_chats(telegram: &FakeServer) -> Vec<i64> {
    telegram
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/sendMessage"))
        .map(|r| r.json()["chat_id"].as_i64().unwrap())
        .collect()
}

fn ok_message(id: i64) -> serde_json::Value {
    json!({"ok": true, "result": {"message_id": id, "date": 1, "chat": {"id": 1, "type": "private"}}})
}

#[tokio::test]
async fn notice_reaches_every_manager_once_even_when_redelivered() {
    let env = TestEnv::new().await;
    let telegram = FakeServer::start().await;
    telegram.set_default(200, ok_message(1));
    let tenant = tenant_with_managers(&env, &[111, 222]).await;
    let deps = deps(&env, &telegram);
    let event = sqs_event(&[body(notice(&tenant, "lead:tg-1:new", Recipients::Managers))]);

    let response = handle(&deps, lambda_event(event.clone())).await.unwrap();
    assert!(failed_ids(&response).is_empty());
    assert_eq!(sent_chats(&telegram), [111, 222]);
    let request = &telegram.requests()[0];
    assert!(
        request.path.contains("/bot1:"),
        "uses the tenant's bot token"
    );
    assert_eq!(request.json()["parse_mode"], "HTML");
    assert_eq!(
        request.json()["text"],
        "<b>New lead</b>: Aida, +77011234567"
    );

    // SQS redelivers the same record: nobody gets it twice.
    let response = handle(&deps, lambda_event(event)).await.unwrap();
    assert!(failed_ids(&response).is_empty());
    assert_eq!(sent_chats(&telegram).len(), 2);

    let day = stats::local_day("UTC", sauda_shared::now_ms());
    assert_eq!(
        env.counters(&tenant, &day).await.get(metric::NOTICES_SENT),
        Some(&2)
    );
}

#[tokio::test]
async fn telegram_outage_delays_the_notice_and_retries_only_the_missing_chat() {
    let env = TestEnv::new().await;
    let telegram = FakeServer::start().await;
    let tenant = tenant_with_managers(&env, &[111, 222]).await;
    let deps = deps(&env, &telegram);
    // Through the real queue, so the backoff is a real ChangeMessageVisibility.
    let queue =
        sauda_shared::aws::SqsQueue::new(env.clients.sqs.clone(), env.queue_url("NotifyQueue"));
    sauda_shared::notify::send(
        &queue,
        notice(&tenant, "report:2026-11", Recipients::Managers),
    )
    .await
    .unwrap();

    telegram.push(200, ok_message(7));
    telegram.set_default(
        502,
        json!({"ok": false, "error_code": 502, "description": "Bad Gateway"}),
    );
    let event = env.sqs_event_from_queue("NotifyQueue", 1).await;
    assert_eq!(event.records.len(), 1);
    let response = handle(&deps, lambda_event(event)).await.unwrap();
    assert_eq!(
        failed_ids(&response).len(),
        1,
        "the record is reported for retry"
    );
    assert_eq!(sent_chats(&telegram), [111, 222]);

    // The failed record was pushed back (REDELIVERY: 1 minute), not left to reappear after 1 s.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(env
        .sqs_event_from_queue("NotifyQueue", 1)
        .await
        .records
        .is_empty());

    // Telegram is back; the redelivery goes only to the chat that missed it.
    telegram.set_default(200, ok_message(8));
    let retry = sqs_event(&[body(notice(
        &tenant,
        "report:2026-11",
        Recipients::Managers,
    ))]);
    let response = handle(&deps, lambda_event(retry)).await.unwrap();
    assert!(failed_ids(&response).is_empty());
    assert_eq!(sent_chats(&telegram), [111, 222, 222]);
}

#[tokio::test]
async fn a_blocked_bot_is_not_retried_and_is_counted() {
    let env = TestEnv::new().await;
    let telegram = FakeServer::start().await;
    let tenant = tenant_with_managers(&env, &[]).await;
    telegram.set_default(
        403,
        json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
    );
    let deps = deps(&env, &telegram);
    let event = sqs_event(&[body(notice(
        &tenant,
        "handoff:tg-5",
        Recipients::Chats(vec![555]),
    ))]);
    let response = handle(&deps, lambda_event(event.clone())).await.unwrap();
    assert!(
        failed_ids(&response).is_empty(),
        "a refusal is final, not retried"
    );
    handle(&deps, lambda_event(event)).await.unwrap();
    assert_eq!(sent_chats(&telegram), [555], "not attempted again");
    let day = stats::local_day("UTC", sauda_shared::now_ms());
    assert_eq!(
        env.counters(&tenant, &day)
            .await
            .get(metric::NOTICES_UNDELIVERABLE),
        Some(&1)
    );
}

#[tokio::test]
async fn rate_limit_is_waited_out_within_the_invocation() {
    let env = TestEnv::new().await;
    let telegram = FakeServer::start().await;
    let tenant = tenant_with_managers(&env, &[111]).await;
    telegram.push(
        429,
        json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}}),
    );
    telegram.set_default(200, ok_message(9));
    let deps = deps(&env, &telegram);
    let started = std::time::Instant::now();
    let event = sqs_event(&[body(notice(&tenant, "n-429", Recipients::Managers))]);
    let response = handle(&deps, lambda_event(event)).await.unwrap();
    assert!(failed_ids(&response).is_empty());
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "honoured retry_after"
    );
    assert_eq!(sent_chats(&telegram), [111, 111]);
}

#[tokio::test]
async fn long_notices_are_split_and_empty_recipient_lists_are_fine() {
    let env = TestEnv::new().await;
    let telegram = FakeServer::start().await;
    telegram.set_default(200, ok_message(1));
    let tenant = tenant_with_managers(&env, &[111]).await;
    let deps = deps(&env, &telegram);
    let mut long = notice(&tenant, "long", Recipients::Managers);
    long.html = "Line of a long report.\n".repeat(400);
    let nobody = notice(&tenant, "nobody", Recipients::Chats(vec![]));
    let response = handle(&deps, lambda_event(sqs_event(&[body(long), body(nobody)])))
        .await
        .unwrap();
    assert!(failed_ids(&response).is_empty());
    let texts: Vec<String> = telegram
        .requests()
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts.len(), 3, "9200 characters need three messages");
    assert!(texts.iter().all(|t| t.chars().count() <= 4096));
}

#[tokio::test]
async fn foreign_or_malformed_records_go_to_the_dead_letter_queue_at_once() {
    let env = TestEnv::new().await;
    let telegram = FakeServer::start().await;
    let a = tenant_with_managers(&env, &[111]).await;
    let b = tenant_with_managers(&env, &[999]).await;
    let deps = deps(&env, &telegram);
    // An envelope claiming tenant A around tenant B's notice.
    let mut forged = Envelope::notice(notice(&b, "x", Recipients::Managers));
    forged.tenant = a.clone();
    let wrong_kind = Envelope::report(a.clone(), "2026-11").to_json();
    let bodies = [forged.to_json(), "{not json".to_owned(), wrong_kind];
    let response = handle(
        &deps,
        lambda_event(env.sqs_event_on("NotifyQueue", &bodies)),
    )
    .await
    .unwrap();
    assert!(
        failed_ids(&response).is_empty(),
        "poison is acknowledged once it is in the DLQ, not retried five times"
    );
    assert!(telegram.requests().is_empty());
    let mut dead: Vec<String> = env
        .receive_all("NotifyDeadLetterQueue")
        .await
        .into_iter()
        .map(|m| m.body.unwrap_or_default())
        .collect();
    dead.sort();
    let mut expected = bodies.to_vec();
    expected.sort();
    assert_eq!(
        dead, expected,
        "each poison record is in the DLQ exactly once"
    );

    // Without a source queue to dead-letter to, the record is reported instead.
    let response = handle(&deps, lambda_event(sqs_event(&["{not json".into()])))
        .await
        .unwrap();
    assert_eq!(failed_ids(&response), ["m0"]);
}

#[test]
fn backoff_grows_and_stays_within_sqs_limits() {
    let delays: Vec<u64> = (1..=6).map(|n| REDELIVERY.delay(n).as_secs()).collect();
    assert_eq!(delays, [60, 240, 960, 3600, 3600, 3600]);
    assert!(delays.iter().all(|d| *d <= 12 * 3600));
}

#[tokio::test]
async fn dead_letters_are_redriven_to_their_queue_with_fifo_groups_kept() {
    use aws_sdk_sqs::types::MessageSystemAttributeName;
    use sauda_infra::queue_ops;
    let env = TestEnv::new().await;
    let sqs = &env.clients.sqs;
    let tenant = TenantId::parse("redrive").unwrap();
    for id in ["n1", "n2"] {
        sqs.send_message()
            .queue_url(env.queue_url("NotifyDeadLetterQueue"))
            .message_body(body(notice(&tenant, id, Recipients::Managers)))
            .send()
            .await
            .unwrap();
    }
    let moved = queue_ops::redrive(
        sqs,
        &env.queue_url("NotifyDeadLetterQueue"),
        &env.queue_url("NotifyQueue"),
        100,
    )
    .await
    .unwrap();
    assert_eq!(moved, 2);
    assert_eq!(env.receive_all("NotifyQueue").await.len(), 2);
    assert!(env.receive_all("NotifyDeadLetterQueue").await.is_empty());

    // FIFO: the conversation's group survives, and a fresh dedup id lets the copy through
    // even inside the original message's five-minute dedup window.
    sqs.send_message()
        .queue_url(env.queue_url("InboundQueue"))
        .message_body("first")
        .message_group_id("redrive#tg-1")
        .message_deduplication_id("same")
        .send()
        .await
        .unwrap();
    env.receive_all("InboundQueue").await;
    sqs.send_message()
        .queue_url(env.queue_url("InboundDeadLetterQueue"))
        .message_body("first")
        .message_group_id("redrive#tg-1")
        .message_deduplication_id("same")
        .send()
        .await
        .unwrap();
    let moved = queue_ops::redrive(
        sqs,
        &env.queue_url("InboundDeadLetterQueue"),
        &env.queue_url("InboundQueue"),
        100,
    )
    .await
    .unwrap();
    assert_eq!(moved, 1);
    let back = env.receive_all("InboundQueue").await;
    assert_eq!(back.len(), 1);
    let group = back[0]
        .attributes()
        .unwrap()
        .get(&MessageSystemAttributeName::MessageGroupId)
        .unwrap();
    assert_eq!(group, "redrive#tg-1");
}

/// The delivery log port's contract on DynamoDB: markers per notice and chat, kept
/// apart between notices and tenants, one write each and one read per notice.
#[tokio::test]
async fn the_delivery_log_keeps_each_notice_and_tenant_apart() {
    use notifier::{DeliveryLog, DeliveryState, DynamoDeliveryLog};
    use std::collections::HashSet;
    let env = TestEnv::new().await;
    let log = DynamoDeliveryLog::new(env.clients.dynamo.clone(), &env.stack.table);
    let (a, b) = (env.tenant().await.id, env.tenant().await.id);
    assert!(log.finished(&a, "n1").await.unwrap().is_empty());

    env.counter.reset();
    log.record(&a, "n1", 111, DeliveryState::Sent)
        .await
        .unwrap();
    log.record(&a, "n1", -100_222, DeliveryState::Undeliverable)
        .await
        .unwrap();
    log.record(&a, "n2", 333, DeliveryState::Sent)
        .await
        .unwrap();
    log.record(&b, "n1", 444, DeliveryState::Sent)
        .await
        .unwrap();
    // Recording again (a redelivery) is harmless.
    log.record(&a, "n1", 111, DeliveryState::Sent)
        .await
        .unwrap();
    assert_eq!(env.counter.snapshot().get("DynamoDB.PutItem"), Some(&5));
    assert_eq!(env.counter.total(), 5);

    env.counter.reset();
    assert_eq!(
        log.finished(&a, "n1").await.unwrap(),
        HashSet::from([111, -100_222])
    );
    assert_eq!(env.counter.snapshot().get("DynamoDB.Query"), Some(&1));
    assert_eq!(env.counter.total(), 1);
    assert_eq!(log.finished(&a, "n2").await.unwrap(), HashSet::from([333]));
    assert_eq!(log.finished(&b, "n1").await.unwrap(), HashSet::from([444]));

    let key = sauda_shared::keys::notice_delivery(&a, "n1", -100_222);
    assert!(key.0.starts_with(&format!("T#{a}#")));
    let item = env.item(&key).await.unwrap();
    assert_eq!(sauda_tests::attr_s(&item, "state"), "undeliverable");
    let expires = sauda_shared::dynamo::item_n(&item, "expires_at");
    let in_30_days = sauda_shared::now_ms() / 1000 + 30 * 24 * 3600;
    assert!(
        (in_30_days - 60..=in_30_days).contains(&expires),
        "{expires}"
    );
}
