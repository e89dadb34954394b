//! Webhook ingress against moto: signatures, exactly-once storage and queueing,
//! ordering, bad input, tenant isolation and the AWS-call budget.

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use sauda_infra::demo;
use sauda_shared::aws::{AwsClients, SqsJobQueue};
use sauda_shared::envelope::{Envelope, Job};
use sauda_shared::message::{Channel, OutboundMessage};
use sauda_shared::secrets::TenantSecrets;
use sauda_shared::tenant::TenantStatus;
use sauda_tests::{attr_s, TestEnv, TestTenant};
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;
use webhook::{router, Deps, WebhookConfig, MAX_BODY_BYTES};

fn deps(env: &TestEnv) -> Deps {
    deps_with(env, &env.clients)
}

fn deps_with(env: &TestEnv, clients: &AwsClients) -> Deps {
    let config = WebhookConfig {
        core: sauda_shared::config::CoreConfig {
            stage: env.stage().to_owned(),
            table_name: env.stack.table.clone(),
        },
        inbound_queue_url: env.queue_url("InboundQueue"),
        payments_queue_url: env.queue_url("PaymentsQueue"),
        notify_queue_url: env.queue_url("NotifyQueue"),
    };
    Deps::from_aws(clients, &config)
}

async fn call(deps: &Deps, request: Request<Body>) -> (StatusCode, Value) {
    let response = router(Arc::new(deps.clone()))
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, body)
}

fn telegram_request(tenant: &str, secret: Option<&str>, body: impl Into<String>) -> Request<Body> {
    let mut builder =
        Request::post(format!("/t/{tenant}/telegram")).header("content-type", "application/json");
    if let Some(secret) = secret {
        builder = builder.header("x-telegram-bot-api-secret-token", secret);
    }
    builder.body(Body::from(body.into())).unwrap()
}

fn whatsapp_request(tenant: &str, app_secret: Option<&str>, body: &str) -> Request<Body> {
    let mut builder =
        Request::post(format!("/t/{tenant}/whatsapp")).header("content-type", "application/json");
    if let Some(secret) = app_secret {
        builder = builder.header("x-hub-signature-256", demo::sign_whatsapp(secret, body));
    }
    builder.body(Body::from(body.to_owned())).unwrap()
}

fn text_update(update_id: u64, message_id: i64, chat_id: i64, text: &str) -> String {
    demo::telegram_text(
        update_id,
        message_id,
        chat_id,
        1_795_860_000 + message_id,
        text,
    )
    .to_string()
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}

async fn assert_nothing_stored_or_queued(env: &TestEnv, tenant: &TestTenant) {
    assert!(
        env.contact_items(&tenant.id).await.is_empty(),
        "nothing may be stored"
    );
    assert!(
        env.receive_all("InboundQueue").await.is_empty(),
        "nothing may be queued"
    );
}

#[tokio::test]
async fn telegram_text_is_stored_and_queued() {
    let env = TestEnv::new().await;
    let t = env.tenant().await;
    let (status, body) = call(
        &deps(&env),
        telegram_request(
            t.id.as_str(),
            Some(t.telegram_secret()),
            text_update(1, 11, 4242, "Сколько стоит насос?"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["duplicate"], false);

    let items = env.contact_items(&t.id).await;
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(attr_s(item, "PK"), format!("T#{}#C#tg-4242", t.id));
    assert_eq!(attr_s(item, "SK"), "MSG#1795860011000#in#11");
    assert_eq!(attr_s(item, "text"), "Сколько стоит насос?");
    assert_eq!(attr_s(item, "kind"), "text");
    assert_eq!(attr_s(item, "language"), "ru");

    let queued = env.receive_all("InboundQueue").await;
    assert_eq!(queued.len(), 1);
    let envelope = Envelope::from_json(queued[0].body().unwrap()).unwrap();
    assert_eq!(envelope.v, 1);
    assert_eq!(envelope.tenant, t.id);
    let Job::InboundMessage { message } = envelope.job else {
        panic!("expected an inbound message job");
    };
    assert_eq!(message.contact, "tg-4242");
    assert_eq!(message.channel, Channel::Telegram);
    let attrs = queued[0].attributes().unwrap();
    let group = attrs
        .get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
        .unwrap();
    assert_eq!(group, &format!("{}#tg-4242", t.id));
}

#[tokio::test]
async fn telegram_voice_is_normalised() {
    let env = TestEnv::new().await;
    let t = env.tenant().await;
    let body = demo::telegram_voice(5, 51, 777, 1_795_860_000).to_string();
    let (status, _) = call(
        &deps(&env),
        telegram_request(t.id.as_str(), Some(t.telegram_secret()), body),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let items = env.contact_items(&t.id).await;
    assert_eq!(attr_s(&items[0], "kind"), "voice");
    let attachment = items[0].get("attachment").unwrap().as_m().unwrap();
    assert_eq!(attachment.get("type").unwrap().as_s().unwrap(), "voice");
}

#[tokio::test]
async fn tenfold_redelivery_gives_one_message_and_one_job() {
    let env = TestEnv::new().await;
    let t = env.tenant().await;
    let deps = deps(&env);
    let mut duplicates = 0;
    for _ in 0..10 {
        let (status, body) = call(
            &deps,
            telegram_request(
                t.id.as_str(),
                Some(t.telegram_secret()),
                text_update(9, 99, 31, "hi"),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        if body["duplicate"] == true {
            duplicates += 1;
        }
    }
    assert_eq!(duplicates, 9);
    assert_eq!(env.contact_items(&t.id).await.len(), 1);
    assert_eq!(
        env.receive_all("InboundQueue").await.len(),
        1,
        "FIFO dedup leaves one job"
    );
}

#[tokio::test]
async fn order_within_a_conversation_is_kept() {
    let env = TestEnv::new().await;
    let t = env.tenant().await;
    let deps = deps(&env);
    for i in 1..=8 {
        for chat in [100, 200] {
            let body = text_update((chat * 100 + i) as u64, i, chat, &format!("m{i}"));
            let (status, _) = call(
                &deps,
                telegram_request(t.id.as_str(), Some(t.telegram_secret()), body),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
        }
    }
    let mut per_chat: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for m in env.receive_all("InboundQueue").await {
        let Job::InboundMessage { message } = Envelope::from_json(m.body().unwrap()).unwrap().job
        else {
            panic!("expected an inbound message job");
        };
        per_chat
            .entry(message.contact)
            .or_default()
            .push(message.text.unwrap());
    }
    let expected: Vec<String> = (1..=8).map(|i| format!("m{i}")).collect();
    assert_eq!(per_chat.len(), 2);
    for (chat, texts) in per_chat {
        assert_eq!(texts, expected, "order of {chat}");
    }
}

#[tokio::test]
async fn telegram_bad_input_is_rejected_and_nothing_is_kept() {
    let env = TestEnv::new().await;
    let t = env.tenant().await;
    let deps = deps(&env);
    let id = t.id.as_str();
    let good = text_update(1, 1, 1, "x");
    let oversized = format!(
        "{{\"update_id\":1,\"pad\":\"{}\"}}",
        "x".repeat(MAX_BODY_BYTES)
    );
    let cases: Vec<(&str, Request<Body>, StatusCode, &str)> = vec![
        (
            "missing secret",
            telegram_request(id, None, good.clone()),
            StatusCode::UNAUTHORIZED,
            "invalid_secret_token",
        ),
        (
            "wrong secret",
            telegram_request(id, Some("nope"), good.clone()),
            StatusCode::UNAUTHORIZED,
            "invalid_secret_token",
        ),
        (
            "malformed json",
            telegram_request(id, Some(t.telegram_secret()), "{\"update_id\":"),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "wrong shape",
            telegram_request(
                id,
                Some(t.telegram_secret()),
                r#"{"message":{"text":"no ids"}}"#,
            ),
            StatusCode::BAD_REQUEST,
            "invalid_payload",
        ),
        (
            "message without chat",
            telegram_request(
                id,
                Some(t.telegram_secret()),
                r#"{"update_id":4,"message":{"message_id":1,"date":1}}"#,
            ),
            StatusCode::BAD_REQUEST,
            "invalid_payload",
        ),
        (
            "too large",
            telegram_request(id, Some(t.telegram_secret()), oversized),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "unknown tenant",
            telegram_request("no-such-tenant", Some(t.telegram_secret()), good.clone()),
            StatusCode::NOT_FOUND,
            "tenant_not_found",
        ),
        (
            "invalid tenant id",
            telegram_request("BAD%23ID", Some(t.telegram_secret()), good.clone()),
            StatusCode::NOT_FOUND,
            "tenant_not_found",
        ),
    ];
    for (label, request, status, code) in cases {
        let (got, body) = call(&deps, request).await;
        assert_eq!(got, status, "{label}: {body}");
        assert_eq!(error_code(&body), code, "{label}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{label}"
        );
    }
    assert_nothing_stored_or_queued(&env, &t).await;
}

#[tokio::test]
async fn unsupported_updates_are_acknowledged_and_ignored() {
    let env = TestEnv::new().await;
    let t = env.tenant().await;
    let deps = deps(&env);
    let updates = [
        demo::telegram_edited(2, 1, 1, 1_795_860_000).to_string(),
        r#"{"update_id":3,"my_chat_member":{"chat":{"id":1,"type":"private"},"from":{"id":1,"is_bot":false,"first_name":"A"},"date":1,"old_chat_member":{"status":"member","user":{"id":2,"is_bot":true,"first_name":"B"}},"new_chat_member":{"status":"kicked","user":{"id":2,"is_bot":true,"first_name":"B"},"until_date":0}}}"#.to_owned(),
        r#"{"update_id":4,"a_kind_from_the_future":{}}"#.to_owned(),
    ];
    for update in updates {
        let (status, body) = call(
            &deps,
            telegram_request(t.id.as_str(), Some(t.telegram_secret()), update),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["ignored"].is_string(), "{body}");
    }
    assert_nothing_stored_or_queued(&env, &t).await;
}

#[tokio::test]
async fn suspended_tenant_gets_404() {
    let env = TestEnv::new().await;
    let t = env.tenant().await;
    sauda_infra::tenant::set_tenant_status(
        &env.clients.dynamo,
        &env.stack.table,
        &t.id,
        TenantStatus::Suspended,
    )
    .await
    .unwrap();
    let (status, body) = call(
        &deps(&env),
        telegram_request(
            t.id.as_str(),
            Some(t.telegram_secret()),
            text_update(1, 1, 1, "x"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "tenant_suspended");
    assert_nothing_stored_or_queued(&env, &t).await;
}

#[tokio::test]
async fn tenant_without_channel_secret_is_not_configured() {
    let env = TestEnv::new().await;
    let id = env.tenant_with(|_| {}, TenantSecrets::default()).await;
    let (status, body) = call(
        &deps(&env),
        telegram_request(id.as_str(), Some("anything"), text_update(1, 1, 1, "x")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "channel_not_configured");
}

#[tokio::test]
async fn cross_tenant_secret_is_rejected() {
    let env = TestEnv::new().await;
    let a = env.tenant().await;
    let b = env.tenant().await;
    let deps = deps(&env);
    let (status, body) = call(
        &deps,
        telegram_request(
            b.id.as_str(),
            Some(a.telegram_secret()),
            text_update(1, 1, 1, "x"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let wa = demo::whatsapp_text(&b.phone_number_id, "7701", "wamid.X", 1, "hi").to_string();
    let (status, _) = call(
        &deps,
        whatsapp_request(b.id.as_str(), Some(a.app_secret()), &wa),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_nothing_stored_or_queued(&env, &b).await;
    assert!(env.contact_items(&a.id).await.is_empty());
}

#[tokio::test]
async fn queue_failure_then_platform_retry_queues_the_message() {
    let env = TestEnv::new().await;
    let t = env.tenant().await;
    let mut broken = deps(&env);
    let missing_queue = format!(
        "{}-missing.fifo",
        env.queue_url("InboundQueue").trim_end_matches(".fifo")
    );
    broken.queue = Arc::new(SqsJobQueue::new(env.clients.sqs.clone(), missing_queue));
    let update = text_update(7, 70, 5, "please call me");

    let (status, body) = call(
        &broken,
        telegram_request(t.id.as_str(), Some(t.telegram_secret()), update.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(error_code(&body), "dependency_unavailable");
    assert_eq!(
        env.contact_items(&t.id).await.len(),
        1,
        "stored before the queue failed"
    );
    assert!(env.receive_all("InboundQueue").await.is_empty());

    let (status, body) = call(
        &deps(&env),
        telegram_request(t.id.as_str(), Some(t.telegram_secret()), update),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["duplicate"], true);
    assert_eq!(env.contact_items(&t.id).await.len(), 1);
    let queued = env.receive_all("InboundQueue").await;
    assert_eq!(queued.len(), 1, "the retry queued it");
    let Job::InboundMessage { message } =
        Envelope::from_json(queued[0].body().unwrap()).unwrap().job
    else {
        panic!("expected an inbound message job");
    };
    assert_eq!(message.text.as_deref(), Some("please call me"));
}

#[tokio::test]
async fn whatsapp_verification_handshake() {
    let env = TestEnv::new().await;
    let t = env.tenant().await;
    let deps = deps(&env);
    let get = |query: String| {
        Request::get(format!("/t/{}/whatsapp?{query}", t.id))
            .body(Body::empty())
            .unwrap()
    };
    let (status, body) = call(
        &deps,
        get(format!(
            "hub.mode=subscribe&hub.verify_token={}&hub.challenge=1158201444",
            t.verify_token()
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, Value::from(1158201444), "raw challenge echoed");
    for query in [
        "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1".to_owned(),
        format!(
            "hub.mode=unsubscribe&hub.verify_token={}&hub.challenge=1",
            t.verify_token()
        ),
        "hub.challenge=1".to_owned(),
    ] {
        let (status, body) = call(&deps, get(query.clone())).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{query}");
        assert_eq!(error_code(&body), "verification_failed");
    }
}

#[tokio::test]
async fn whatsapp_message_is_stored_and_queued_once() {
    let env = TestEnv::new().await;
    let t = env.tenant().await;
    let deps = deps(&env);
    let body = demo::whatsapp_text(
        &t.phone_number_id,
        "77011234567",
        "wamid.ABC",
        1_795_860_000,
        "Do you deliver?",
    )
    .to_string();
    for attempt in 0..3 {
        let (status, answer) = call(
            &deps,
            whatsapp_request(t.id.as_str(), Some(t.app_secret()), &body),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["stored"], if attempt == 0 { 1 } else { 0 });
    }
    let items = env.contact_items(&t.id).await;
    assert_eq!(items.len(), 1);
    assert_eq!(
        attr_s(&items[0], "PK"),
        format!("T#{}#C#wa-77011234567", t.id)
    );
    assert_eq!(attr_s(&items[0], "display_name"), "Bekzat");
    assert_eq!(env.receive_all("InboundQueue").await.len(), 1);
}

#[tokio::test]
async fn whatsapp_bad_input() {
    let env = TestEnv::new().await;
    let t = env.tenant().await;
    let deps = deps(&env);
    let id = t.id.as_str();
    let good = demo::whatsapp_text(&t.phone_number_id, "7701", "wamid.Z", 1, "hi").to_string();
    let unsigned_garbage = "{not json";
    let wrong_object = r#"{"object":"page","entry":[]}"#;
    let cases: Vec<(&str, Request<Body>, StatusCode, &str)> = vec![
        (
            "missing signature",
            whatsapp_request(id, None, &good),
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
        ),
        (
            "wrong signature",
            whatsapp_request(id, Some("other"), &good),
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
        ),
        (
            "malformed header",
            Request::post(format!("/t/{id}/whatsapp"))
                .header("x-hub-signature-256", "sha1=abc")
                .body(Body::from(good.clone()))
                .unwrap(),
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
        ),
        (
            "malformed json",
            whatsapp_request(id, Some(t.app_secret()), unsigned_garbage),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "wrong shape",
            whatsapp_request(id, Some(t.app_secret()), wrong_object),
            StatusCode::BAD_REQUEST,
            "invalid_payload",
        ),
    ];
    for (label, request, status, code) in cases {
        let (got, body) = call(&deps, request).await;
        assert_eq!(got, status, "{label}: {body}");
        assert_eq!(error_code(&body), code, "{label}");
    }
    // A change for a phone number that is not this tenant's is acknowledged, not filed.
    let foreign = demo::whatsapp_text("999999", "7701", "wamid.F", 1, "hi").to_string();
    let (status, body) = call(&deps, whatsapp_request(id, Some(t.app_secret()), &foreign)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["ignored"], 1);
    assert_nothing_stored_or_queued(&env, &t).await;
}

#[tokio::test]
async fn whatsapp_status_updates_the_outbound_message() {
    let env = TestEnv::new().await;
    let t = env.tenant().await;
    let deps = deps(&env);
    let outbound = OutboundMessage {
        tenant: t.id.clone(),
        channel: Channel::Whatsapp,
        contact: "wa-77011234567".into(),
        platform_message_id: "wamid.OUT1".into(),
        timestamp_ms: 1_795_860_000_000,
        text: "Yes, we deliver.".into(),
        in_reply_to: None,
    };
    deps.store.put_outbound(&outbound).await.unwrap();
    let state = || async {
        let items = env.contact_items(&t.id).await;
        let item = items
            .iter()
            .find(|i| attr_s(i, "SK") == outbound.sk())
            .cloned()
            .unwrap();
        item
    };
    let send = |status: &'static str| {
        let body = demo::whatsapp_status(
            &t.phone_number_id,
            "77011234567",
            "wamid.OUT1",
            1_795_860_100,
            status,
        )
        .to_string();
        whatsapp_request(t.id.as_str(), Some(t.app_secret()), &body)
    };
    assert_eq!(attr_s(&state().await, "delivery_state"), "sent");

    let (status, body) = call(&deps, send("read")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["statuses"], 1);
    assert_eq!(attr_s(&state().await, "delivery_state"), "read");

    // A late "delivered" does not move the message back.
    let (_, body) = call(&deps, send("delivered")).await;
    assert_eq!(body["statuses"], 0);
    assert_eq!(attr_s(&state().await, "delivery_state"), "read");

    let (_, body) = call(&deps, send("failed")).await;
    assert_eq!(body["statuses"], 1);
    let item = state().await;
    assert_eq!(attr_s(&item, "delivery_state"), "failed");
    assert_eq!(
        item.get("delivery_error_code").unwrap().as_n().unwrap(),
        "131047"
    );
    assert_eq!(
        attr_s(&item, "delivery_error_title"),
        "Re-engagement message"
    );

    // A status for a message this tenant never sent is acknowledged and ignored.
    let other =
        demo::whatsapp_status(&t.phone_number_id, "7701", "wamid.UNKNOWN", 1, "read").to_string();
    let (status, body) = call(
        &deps,
        whatsapp_request(t.id.as_str(), Some(t.app_secret()), &other),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["ignored"], 1);
}

#[tokio::test]
async fn hot_path_makes_two_aws_calls_per_message() {
    let env = TestEnv::new().await;
    let t = env.tenant().await;
    let deps = deps(&env);
    // First message warms the tenant-config and secret caches.
    call(
        &deps,
        telegram_request(
            t.id.as_str(),
            Some(t.telegram_secret()),
            text_update(1, 1, 1, "warm"),
        ),
    )
    .await;
    for i in 2..=6 {
        env.counter.reset();
        let (status, _) = call(
            &deps,
            telegram_request(
                t.id.as_str(),
                Some(t.telegram_secret()),
                text_update(i, i as i64, 1, "hot"),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let calls = env.counter.snapshot();
        assert_eq!(calls.get("DynamoDB.PutItem"), Some(&1), "{calls:?}");
        assert_eq!(calls.get("SQS.SendMessage"), Some(&1), "{calls:?}");
        assert_eq!(env.counter.total(), 2, "{calls:?}");
        // The README's cost table is computed from these.
        assert_eq!(
            calls,
            sauda_infra::cost::snapshot(sauda_infra::cost::INGEST_CALLS)
        );
    }
    env.counter.reset();
    let body = demo::whatsapp_text(&t.phone_number_id, "7701", "wamid.HOT", 1, "hot").to_string();
    call(
        &deps,
        whatsapp_request(t.id.as_str(), Some(t.app_secret()), &body),
    )
    .await;
    call(
        &deps,
        whatsapp_request(t.id.as_str(), Some(t.app_secret()), &body),
    )
    .await;
    assert_eq!(env.counter.total(), 4, "{:?}", env.counter.snapshot());
}

#[tokio::test]
async fn routing_errors_use_the_error_contract() {
    let env = TestEnv::new().await;
    let deps = deps(&env);
    let (status, body) = call(&deps, Request::get("/nowhere").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "route_not_found");
    let (status, body) = call(
        &deps,
        Request::delete("/t/x1/telegram")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(&body), "method_not_allowed");
}

/// The checked-in `events/` are real API Gateway v2 events signed for the demo tenant:
/// they go through lambda_http's own event parsing and are accepted.
#[tokio::test]
async fn sample_events_are_valid_signed_http_api_events() {
    let env = TestEnv::new().await;
    let demo_tenant =
        demo::DemoTenant::load(&sauda_tests::repo_root().join("infra/demo/tenant.json")).unwrap();
    sauda_infra::tenant::create_tenant(
        &env.clients.dynamo,
        &env.stack.table,
        &demo_tenant.config(),
    )
    .await
    .unwrap();
    sauda_infra::tenant::merge_tenant_secrets(
        &env.clients.secrets,
        env.stage(),
        &demo_tenant.tenant,
        demo_tenant.secrets.clone(),
    )
    .await
    .unwrap();
    let deps = deps(&env);
    for (name, expected) in [
        ("telegram-text.json", StatusCode::OK),
        ("telegram-voice.json", StatusCode::OK),
        ("telegram-edited.json", StatusCode::OK),
        ("whatsapp-text.json", StatusCode::OK),
        ("whatsapp-status.json", StatusCode::OK),
        ("whatsapp-verify.json", StatusCode::OK),
    ] {
        let raw =
            std::fs::read_to_string(sauda_tests::repo_root().join("events").join(name)).unwrap();
        let request =
            lambda_http::request::from_str(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (parts, body) = request.into_parts();
        let request = Request::from_parts(parts, Body::from(body.to_vec()));
        let (status, answer) = call(&deps, request).await;
        assert_eq!(status, expected, "{name}: {answer}");
    }
    assert_eq!(
        env.contact_items(&demo_tenant.tenant).await.len(),
        3,
        "two telegram messages and one whatsapp message"
    );
}

#[tokio::test]
async fn secrets_are_read_once_and_cached() {
    let env = TestEnv::new().await;
    let t = env.tenant().await;
    let deps = deps(&env);
    env.counter.reset();
    for i in 1..=5 {
        call(
            &deps,
            telegram_request(
                t.id.as_str(),
                Some(t.telegram_secret()),
                text_update(i, i as i64, 1, "x"),
            ),
        )
        .await;
    }
    let calls = env.counter.snapshot();
    assert_eq!(
        calls.get("Secrets Manager.GetSecretValue"),
        Some(&1),
        "{calls:?}"
    );
    assert_eq!(
        calls.get("DynamoDB.GetItem"),
        Some(&1),
        "tenant config cached: {calls:?}"
    );
}

/// The onboarding CLI merges secrets key by key: `null` removes one, a key the functions
/// do not read is refused before anything is written.
#[tokio::test]
async fn tenant_secrets_merge_key_by_key_and_refuse_unknown_keys() {
    use sauda_infra::tenant::{merge_tenant_secrets_json, read_tenant_secrets};
    let env = TestEnv::new().await;
    let t = env.tenant().await;
    let map = |v: serde_json::Value| v.as_object().unwrap().clone();
    merge_tenant_secrets_json(
        &env.clients.secrets,
        env.stage(),
        &t.id,
        map(json!({"crm_webhook_secret": "crm-1", "telegram_webhook_secret": null})),
    )
    .await
    .unwrap();
    let stored = read_tenant_secrets(&env.clients.secrets, env.stage(), &t.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.crm_webhook_secret.unwrap().expose(), "crm-1");
    assert!(stored.telegram_webhook_secret.is_none());
    assert!(
        stored.whatsapp_app_secret.is_some(),
        "untouched keys are kept"
    );

    let refused = merge_tenant_secrets_json(
        &env.clients.secrets,
        env.stage(),
        &t.id,
        map(json!({"telegram_bot_tokn": "123:typo", "llm_api_key": "sk-x"})),
    )
    .await
    .unwrap_err();
    assert!(
        refused.to_string().contains("telegram_bot_tokn"),
        "{refused}"
    );
    let after = read_tenant_secrets(&env.clients.secrets, env.stage(), &t.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        after.llm_api_key.is_none(),
        "nothing of a refused update is stored"
    );
}

/// `events/` is generated (`make events`); a hand edit or a stale file fails here.
#[test]
fn checked_in_events_match_their_generator() {
    let demo =
        demo::DemoTenant::load(&sauda_tests::repo_root().join("infra/demo/tenant.json")).unwrap();
    let events = demo::sample_events(&demo);
    let dir = sauda_tests::repo_root().join("events");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut generated: Vec<String> = events.iter().map(|(n, _)| n.to_string()).collect();
    generated.sort();
    assert_eq!(on_disk, generated, "run `make events`");
    for (name, event) in events {
        let stored: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap();
        assert_eq!(stored, event, "{name} is stale: run `make events`");
    }
}

/// After `sauda telegram set-webhook` rotates the secret token, a warm instance must
/// accept the new token at once (not after its 5-minute cache) and refuse the old one.
#[tokio::test]
async fn a_rotated_secret_works_at_once_and_the_old_one_stops() {
    use sauda_shared::secrets::Secret;
    let env = TestEnv::new().await;
    let t = env.tenant().await;
    let deps = deps(&env);
    let old = t.telegram_secret().to_owned();
    let send = |secret: &str, i: u64| {
        telegram_request(
            t.id.as_str(),
            Some(secret),
            text_update(i, i as i64, 1, "x"),
        )
    };
    assert_eq!(
        call(&deps, send(&old, 1)).await.0,
        StatusCode::OK,
        "warm cache"
    );

    sauda_infra::tenant::merge_tenant_secrets(
        &env.clients.secrets,
        env.stage(),
        &t.id,
        TenantSecrets {
            telegram_webhook_secret: Some(Secret::new("rotated-token_2")),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    env.counter.reset();
    let (status, body) = call(&deps, send("rotated-token_2", 2)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the new token works at once: {body}"
    );
    assert_eq!(
        env.counter.snapshot().get("Secrets Manager.GetSecretValue"),
        Some(&1),
        "one fresh read"
    );
    let (status, body) = call(&deps, send(&old, 3)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(error_code(&body), "invalid_secret_token");
}

/// A flood of forged tokens costs at most one fresh secret read per tenant and window.
#[tokio::test]
async fn forged_tokens_cannot_flood_secrets_manager() {
    let env = TestEnv::new().await;
    let t = env.tenant().await;
    let deps = deps(&env);
    call(
        &deps,
        telegram_request(
            t.id.as_str(),
            Some(t.telegram_secret()),
            text_update(1, 1, 1, "warm"),
        ),
    )
    .await;
    env.counter.reset();
    for i in 2..22 {
        let (status, _) = call(
            &deps,
            telegram_request(
                t.id.as_str(),
                Some("forged"),
                text_update(i, i as i64, 1, "x"),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        env.counter.snapshot().get("Secrets Manager.GetSecretValue"),
        Some(&1),
        "{:?}",
        env.counter.snapshot()
    );
    assert_nothing_stored_or_queued_after_warmup(&env, &t).await;
}

async fn assert_nothing_stored_or_queued_after_warmup(env: &TestEnv, t: &TestTenant) {
    assert_eq!(
        env.contact_items(&t.id).await.len(),
        1,
        "only the warm-up message"
    );
}

#[tokio::test]
async fn dates_out_of_range_are_400_never_a_panic() {
    let env = TestEnv::new().await;
    let t = env.tenant().await;
    let deps = deps(&env);
    for date in [10_000_000_000_000_000i64, 99_999_999_999, -5] {
        let body = demo::telegram_text(1, 1, 42, date, "hi").to_string();
        let (status, body) = call(
            &deps,
            telegram_request(t.id.as_str(), Some(t.telegram_secret()), body),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{date}: {body}");
        assert_eq!(error_code(&body), "invalid_payload");
    }
    assert_nothing_stored_or_queued(&env, &t).await;
}

/// A message dated in the future is stored under its own key (so redeliveries still
/// dedupe) but ordered at most a few minutes after it was received, so it can never
/// pass for newer than the customer's later messages.
#[tokio::test]
async fn a_message_dated_in_the_future_is_ordered_near_its_arrival() {
    let env = TestEnv::new().await;
    let t = env.tenant().await;
    let deps = deps(&env);
    let far_future = 4_000_000_000; // 2096
    let body = demo::telegram_text(1, 1, 42, far_future, "from the future").to_string();
    let before = sauda_shared::now_ms();
    for _ in 0..2 {
        let (status, _) = call(
            &deps,
            telegram_request(t.id.as_str(), Some(t.telegram_secret()), body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let items = env.contact_items(&t.id).await;
    assert_eq!(items.len(), 1, "a redelivery still deduplicates");
    let order: i64 = items[0]["order_ms"].as_n().unwrap().parse().unwrap();
    let stored: i64 = items[0]["stored_at_ms"].as_n().unwrap().parse().unwrap();
    assert!(stored >= before);
    assert_eq!(
        order,
        stored + sauda_shared::message::FUTURE_TOLERANCE_MS,
        "ordered at arrival plus the tolerance, not in 2096"
    );
}

#[tokio::test]
async fn an_oversized_text_is_cut_and_stored_not_retried_for_days() {
    let env = TestEnv::new().await;
    let t = env.tenant().await;
    let deps = deps(&env);
    let huge = "я".repeat(300_000); // 600 KB of UTF-8, over DynamoDB's 400 KB item limit
    let (status, body) = call(
        &deps,
        telegram_request(
            t.id.as_str(),
            Some(t.telegram_secret()),
            text_update(1, 1, 42, &huge),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = env.contact_items(&t.id).await;
    let text = attr_s(&items[0], "text");
    assert_eq!(
        text.chars().count(),
        sauda_shared::message::MAX_TEXT_CHARS + " […]".chars().count()
    );
    assert!(text.ends_with("[…]"));
}

#[tokio::test]
async fn an_id_over_the_key_limit_is_400_and_nothing_is_kept() {
    let env = TestEnv::new().await;
    let t = env.tenant().await;
    let deps = deps(&env);
    let wamid = format!("wamid.{}", "A".repeat(2000));
    let body =
        demo::whatsapp_text(&t.phone_number_id, "7701", &wamid, 1_795_860_000, "hi").to_string();
    let (status, body) = call(
        &deps,
        whatsapp_request(t.id.as_str(), Some(t.app_secret()), &body),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_code(&body), "invalid_payload");
    assert_nothing_stored_or_queued(&env, &t).await;
}

#[tokio::test]
async fn whatsapp_media_captions_are_the_message_text() {
    let env = TestEnv::new().await;
    let t = env.tenant().await;
    let deps = deps(&env);
    for (i, kind) in ["video", "document", "image"].iter().enumerate() {
        let mut payload = demo::whatsapp_text(
            &t.phone_number_id,
            "7701",
            &format!("wamid.M{i}"),
            1_795_860_000 + i as i64,
            "unused",
        );
        let message = &mut payload["entry"][0]["changes"][0]["value"]["messages"][0];
        message["type"] = json!(kind);
        message.as_object_mut().unwrap().remove("text");
        message[*kind] = json!({"id": "media-1", "caption": format!("{kind}: is this in stock?")});
        let body = payload.to_string();
        let (status, _) = call(
            &deps,
            whatsapp_request(t.id.as_str(), Some(t.app_secret()), &body),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let mut texts: Vec<String> = env
        .contact_items(&t.id)
        .await
        .iter()
        .map(|i| attr_s(i, "text").to_owned())
        .collect();
    texts.sort();
    assert_eq!(
        texts,
        [
            "document: is this in stock?",
            "image: is this in stock?",
            "video: is this in stock?"
        ]
    );
}

/// The README's "WhatsApp status: 2 calls per status" row, asserted exactly.
#[tokio::test]
async fn a_whatsapp_status_costs_two_aws_calls() {
    let env = TestEnv::new().await;
    let t = env.tenant().await;
    let deps = deps(&env);
    let outbound = OutboundMessage {
        tenant: t.id.clone(),
        channel: Channel::Whatsapp,
        contact: "wa-77011234567".into(),
        platform_message_id: "wamid.OUT9".into(),
        timestamp_ms: 1_795_860_000_000,
        text: "ok".into(),
        in_reply_to: None,
    };
    deps.store.put_outbound(&outbound).await.unwrap();
    let status = |s: &str| {
        demo::whatsapp_status(
            &t.phone_number_id,
            "77011234567",
            "wamid.OUT9",
            1_795_860_100,
            s,
        )
        .to_string()
    };
    // Warm the tenant and secret caches.
    call(
        &deps,
        whatsapp_request(t.id.as_str(), Some(t.app_secret()), &status("sent")),
    )
    .await;
    env.counter.reset();
    let (code, body) = call(
        &deps,
        whatsapp_request(t.id.as_str(), Some(t.app_secret()), &status("read")),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let calls = env.counter.snapshot();
    assert_eq!(calls.get("DynamoDB.GetItem"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("DynamoDB.UpdateItem"), Some(&1), "{calls:?}");
    assert_eq!(env.counter.total(), 2, "{calls:?}");
}
