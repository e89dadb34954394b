//! Lead capture against moto, a fake Telegram and a fake CRM: the web form, the agent's
//! queue and the sweep; validation; deduplication under concurrency and merging; the
//! funnel's rules and history; listing; API keys across tenants; partner handoff;
//! notices surviving a Telegram outage; signed CRM deliveries with retries; CORS.

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequestContext;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_dynamodb::types::AttributeValue;
use axum::body::Body;
use hmac::{Hmac, Mac};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use lambda_http::request::RequestContext;
use lead_capture::crm::CrmClient;
use lead_capture::{api, worker, Deps, LeadsConfig};
use sauda_shared::apikey::{ApiKeyStore, Role};
use sauda_shared::envelope::{Envelope, Job};
use sauda_shared::lead::{LeadSource, LeadSubmission};
use sauda_shared::notify::{Notice, Recipients};
use sauda_shared::outbound::UrlPolicy;
use sauda_shared::partner::{Partner, PartnerStatus};
use sauda_shared::secrets::{Secret, TenantSecrets};
use sauda_shared::stats;
use sauda_shared::tenant::{Manager, TenantConfig};
use sauda_shared::{contact, keys, TenantId};
use sauda_tests::fake::FakeServer;
use sauda_tests::{attr_s, failed_ids, lambda_event, sqs_event, TestEnv};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const ORIGIN: &str = "https://tours.example.kz";
const MANAGER_CHAT: i64 = 5001;

// ------------------------------------------------------------------ harness

/// DynamoDB runs each request atomically; moto does not: a cancelled transaction puts
/// back a copy of the whole table taken when it began, undoing whatever other requests
/// wrote meanwhile. Lead capture cancels transactions on every lost race, so with moto
/// the handlers' requests go one at a time over this connector. The handlers still race
/// between their reads and their conditional writes, which is what the tests exercise.
mod one_request_at_a_time {
    use aws_smithy_runtime_api::client::http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
    };
    use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use std::sync::Arc;

    #[derive(Clone, Debug, Default)]
    pub struct Serialised {
        http: reqwest::Client,
        turn: Arc<tokio::sync::Mutex<()>>,
    }

    impl HttpConnector for Serialised {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let this = self.clone();
            HttpConnectorFuture::new(async move {
                let io = |e: reqwest::Error| ConnectorError::io(e.into());
                let _turn = this.turn.lock().await;
                let method = reqwest::Method::from_bytes(request.method().as_bytes())
                    .map_err(|e| ConnectorError::other(e.into(), None))?;
                let mut outgoing = this.http.request(method, request.uri());
                for (name, value) in request.headers() {
                    outgoing = outgoing.header(name, value);
                }
                let body = request.body().bytes().unwrap_or_default().to_vec();
                let answer = outgoing.body(body).send().await.map_err(io)?;
                let status = StatusCode::try_from(answer.status().as_u16())
                    .map_err(|e| ConnectorError::other(e.into(), None))?;
                let headers = answer.headers().clone();
                let bytes = answer.bytes().await.map_err(io)?;
                let mut response = Response::new(status, SdkBody::from(bytes));
                for (name, value) in headers.iter() {
                    if let Ok(value) = value.to_str() {
                        response
                            .headers_mut()
                            .append(name.as_str().to_owned(), value.to_owned());
                    }
                }
                Ok(response)
            })
        }
    }

    impl HttpClient for Serialised {
        fn http_connector(
            &self,
            _: &HttpConnectorSettings,
            _: &RuntimeComponents,
        ) -> SharedHttpConnector {
            SharedHttpConnector::new(self.clone())
        }
    }
}

fn lead_deps(env: &TestEnv) -> Arc<Deps> {
    // The fake CRM listens on loopback: allowed here explicitly, never through the env.
    lead_deps_with(
        env,
        UrlPolicy {
            allow_loopback: true,
        },
    )
}

fn lead_deps_with(env: &TestEnv, outbound: UrlPolicy) -> Arc<Deps> {
    let sdk = env
        .sdk
        .to_builder()
        .http_client(one_request_at_a_time::Serialised::default())
        .build();
    let clients = sauda_shared::aws::AwsClients::counted(&sdk, &env.counter);
    let config = LeadsConfig {
        core: sauda_shared::config::CoreConfig {
            stage: env.stage().to_owned(),
            table_name: env.stack.table.clone(),
        },
        notify_queue_url: env.queue_url("NotifyQueue"),
        crm_queue_url: env.queue_url("CrmQueue"),
        leads_queue_url: env.queue_url("LeadsQueue"),
    };
    let mut deps = Deps::from_aws(&clients, &config);
    deps.crm = CrmClient::new(outbound);
    Arc::new(deps)
}

/// A tenant that takes form leads from `ORIGIN`, with one manager chat and a bot token.
async fn leads_tenant(env: &TestEnv, configure: impl FnOnce(&mut TenantConfig)) -> TenantId {
    let secrets = TenantSecrets {
        telegram_bot_token: Some(Secret::new(format!("1:{}", sauda_tests::unique("bot")))),
        crm_webhook_secret: Some(Secret::new("whsec_crm_test")),
        ..Default::default()
    };
    env.tenant_with(
        |c| {
            c.timezone = "UTC".into();
            c.leads.allowed_origins = vec![ORIGIN.to_owned()];
            c.managers = vec![Manager {
                chat_id: MANAGER_CHAT,
                name: "Aigerim".into(),
            }];
            configure(c);
        },
        secrets,
    )
    .await
}

async fn manager_key(env: &TestEnv, tenant: &TenantId, role: Role) -> String {
    ApiKeyStore::new(env.clients.dynamo.clone(), &env.stack.table)
        .issue(tenant, role, "test key")
        .await
        .unwrap()
        .presented
        .expose()
        .to_owned()
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("<none>")
    }
}

async fn call(deps: &Arc<Deps>, request: Request<Body>) -> Answer {
    let response = api::router(deps.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

/// API Gateway's request context, as `lambda_http` hands it to the router.
fn from_ip(mut request: Request<Body>, ip: &str) -> Request<Body> {
    let mut ctx = ApiGatewayV2httpRequestContext::default();
    ctx.http.source_ip = Some(ip.to_owned());
    request
        .extensions_mut()
        .insert(RequestContext::ApiGatewayV2(ctx));
    request
}

fn form(tenant: &TenantId, body: Value, ip: &str) -> Request<Body> {
    let request = Request::post(format!("/t/{tenant}/leads"))
        .header("content-type", "application/json")
        .header("origin", ORIGIN)
        .body(Body::from(body.to_string()))
        .unwrap();
    from_ip(request, ip)
}

fn good_form(name: &str, phone: &str) -> Value {
    json!({
        "name": name, "phone": phone, "email": null,
        "message": "Хотим тур на Иссык-Куль на троих", "source": "landing-summer",
        "consent": true, "website": ""
    })
}

fn api_get(path: &str, key: &str) -> Request<Body> {
    Request::get(path)
        .header("authorization", format!("Bearer {key}"))
        .body(Body::empty())
        .unwrap()
}

fn api_post(path: &str, key: &str, body: Value) -> Request<Body> {
    Request::post(path)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn item(env: &TestEnv, pk: String, sk: &str) -> Option<HashMap<String, AttributeValue>> {
    env.clients
        .dynamo
        .get_item()
        .table_name(&env.stack.table)
        .key("PK", AttributeValue::S(pk))
        .key("SK", AttributeValue::S(sk.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

async fn lead_item(
    env: &TestEnv,
    t: &TenantId,
    cid: &str,
) -> Option<HashMap<String, AttributeValue>> {
    item(env, keys::contact_pk(t, cid), keys::LEAD_SK).await
}

async fn profile(env: &TestEnv, t: &TenantId, cid: &str) -> HashMap<String, AttributeValue> {
    let (pk, sk) = contact::ContactProfile::key(t, cid);
    item(env, pk, &sk).await.expect("profile exists")
}

fn n(item: &HashMap<String, AttributeValue>, key: &str) -> i64 {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

/// Items of one kind among a tenant's contact partitions.
async fn items_with_sk_prefix(
    env: &TestEnv,
    t: &TenantId,
    prefix: &str,
) -> Vec<HashMap<String, AttributeValue>> {
    env.contact_items(t)
        .await
        .into_iter()
        .filter(|i| attr_s(i, "SK").starts_with(prefix))
        .collect()
}

async fn identity_items(env: &TestEnv, t: &TenantId) -> Vec<HashMap<String, AttributeValue>> {
    env.clients
        .dynamo
        .scan()
        .table_name(&env.stack.table)
        .filter_expression("begins_with(PK, :p)")
        .expression_attribute_values(":p", AttributeValue::S(format!("T#{t}#ID#")))
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
}

async fn notices(env: &TestEnv) -> Vec<Notice> {
    env.receive_all("NotifyQueue")
        .await
        .iter()
        .map(
            |m| match Envelope::from_json(m.body().unwrap()).unwrap().job {
                Job::Notify { notice } => notice,
                other => panic!("unexpected job on the notify queue: {other:?}"),
            },
        )
        .collect()
}

async fn counters(env: &TestEnv, t: &TenantId) -> std::collections::BTreeMap<String, i64> {
    env.counters(t, &stats::local_day("UTC", sauda_shared::now_ms()))
        .await
}

fn submission(
    t: &TenantId,
    key: &str,
    contact: Option<&str>,
    phone: Option<&str>,
) -> LeadSubmission {
    LeadSubmission {
        tenant: t.clone(),
        source: LeadSource::Agent,
        idempotency_key: key.to_owned(),
        contact: contact.map(str::to_owned),
        name: Some("Bekzat".into()),
        phone: phone.map(str::to_owned),
        email: None,
        interest: Some("Насос для скважины".into()),
        message: None,
        language: Some("ru".into()),
        consent: false,
        submitted_at_ms: sauda_shared::now_ms(),
    }
}

async fn run_worker(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    let value = worker::handle(deps, lambda_event(serde_json::to_value(event).unwrap()))
        .await
        .unwrap();
    serde_json::from_value(value).unwrap()
}

fn notifier_deps(env: &TestEnv, telegram: &FakeServer) -> notifier::Deps {
    env.notifier(&telegram.base_url)
}

fn ok_message() -> Value {
    json!({"ok": true, "result": {"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"}}})
}

fn sent_to(telegram: &FakeServer) -> Vec<(i64, String)> {
    telegram
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/sendMessage"))
        .map(|r| {
            let body = r.json();
            (
                body["chat_id"].as_i64().unwrap(),
                body["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

// ------------------------------------------------------------------ creation

#[tokio::test]
async fn web_form_creates_a_lead_notifies_managers_and_counts() {
    let env = TestEnv::new().await;
    let t = leads_tenant(&env, |_| {}).await;
    let deps = lead_deps(&env);

    let answer = call(
        &deps,
        form(&t, good_form("Aida", "8 (701) 123-45-67"), "203.0.113.7"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    assert_eq!(answer.body, json!({"ok": true}));
    assert_eq!(answer.headers["access-control-allow-origin"], ORIGIN);

    // A phone makes the lead live at the WhatsApp contact that number would be.
    let lead = lead_item(&env, &t, "wa-77011234567")
        .await
        .expect("lead stored");
    assert_eq!(attr_s(&lead, "stage"), "new");
    assert_eq!(attr_s(&lead, "source"), "form");
    assert_eq!(attr_s(&lead, "name"), "Aida");
    assert_eq!(attr_s(&lead, "phone"), "+77011234567");
    assert_eq!(attr_s(&lead, "form_source"), "landing-summer");
    assert_eq!(attr_s(&lead, "GSI1PK"), format!("T#{t}#LEADS#new"));
    assert!(attr_s(&lead, "GSI1SK").ends_with("#wa-77011234567"));
    assert_eq!(lead.get("consent").unwrap().as_bool().unwrap(), &true);

    let ids = identity_items(&env, &t).await;
    assert_eq!(ids.len(), 1);
    assert_eq!(
        attr_s(&ids[0], "PK"),
        format!("T#{t}#ID#phone#+77011234567")
    );
    assert_eq!(attr_s(&ids[0], "contact"), "wa-77011234567");

    let history = items_with_sk_prefix(&env, &t, "LEADHIST#").await;
    assert_eq!(history.len(), 1);
    assert_eq!(attr_s(&history[0], "kind"), "created");
    assert_eq!(attr_s(&history[0], "actor"), "form");

    // The agent reads the stage from the contact profile.
    let p = profile(&env, &t, "wa-77011234567").await;
    assert_eq!(attr_s(&p, "stage"), "new");
    assert_eq!(attr_s(&p, "contact"), "wa-77011234567");
    assert!(n(&p, "lead_created_ms") > 0);
    let parsed: contact::ContactProfile = serde_dynamo::from_item(p).unwrap();
    assert_eq!(parsed.stage, Some(sauda_shared::funnel::Stage::New));

    let sent = notices(&env).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].id, "lead:wa-77011234567:new");
    assert_eq!(sent[0].to, Recipients::Managers);
    assert!(sent[0].html.contains("Aida") && sent[0].html.contains("+77011234567"));
    assert!(
        sent[0].html.contains("https://wa.me/77011234567"),
        "{}",
        sent[0].html
    );
    assert!(sent[0].html.contains("landing-summer"));
    assert!(
        env.receive_all("CrmQueue").await.is_empty(),
        "no CRM configured"
    );

    let c = counters(&env, &t).await;
    assert_eq!(c.get("leads_new_form"), Some(&1), "{c:?}");
    assert_eq!(c.get("leads_stage_new"), Some(&1), "{c:?}");
}

/// A fake Telegram and the notifier, after one form lead went all the way through:
/// the tenant-config caches of both functions and the notifier's secret cache are warm.
async fn warm_form_and_notifier(
    env: &TestEnv,
    deps: &Arc<Deps>,
    t: &TenantId,
) -> (FakeServer, notifier::Deps) {
    let telegram = FakeServer::start().await;
    telegram.set_default(200, ok_message());
    let notifier = notifier_deps(env, &telegram);
    call(
        deps,
        form(t, good_form("Warm", "+77011110000"), "198.51.100.1"),
    )
    .await;
    let warm = env.sqs_event_from_queue("NotifyQueue", 30).await;
    notifier::handle(&notifier, lambda_event(warm))
        .await
        .unwrap();
    (telegram, notifier)
}

#[tokio::test]
async fn form_to_stored_to_notified_call_budget() {
    let env = TestEnv::new().await;
    let t = leads_tenant(&env, |_| {}).await;
    let deps = lead_deps(&env);
    let (telegram, notifier) = warm_form_and_notifier(&env, &deps, &t).await;

    for i in 1..=3 {
        env.counter.reset();
        let phone = format!("+7701222000{i}");
        let answer = call(
            &deps,
            form(
                &t,
                good_form("Hot", &phone),
                &format!("198.51.100.{}", 10 + i),
            ),
        )
        .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED);
        // The form: rate limit, the capture transaction, the notice. Nothing else.
        let calls = env.counter.snapshot();
        assert_eq!(
            calls.get("DynamoDB.UpdateItem"),
            Some(&1),
            "rate limit: {calls:?}"
        );
        assert_eq!(
            calls.get("DynamoDB.TransactWriteItems"),
            Some(&1),
            "{calls:?}"
        );
        assert_eq!(
            calls.get("SQS.SendMessage"),
            Some(&1),
            "the notice: {calls:?}"
        );
        assert_eq!(env.counter.total(), 3, "{calls:?}");
        // The README's cost table is computed from these.
        assert_eq!(
            calls,
            sauda_infra::cost::snapshot(sauda_infra::cost::LEAD_FORM_CALLS)
        );

        // The notifier (its SQS polling is Lambda's, not the function's): which chats
        // have it, the delivery marker, the day counter. One manager here.
        let event = env.sqs_event_from_queue("NotifyQueue", 30).await;
        env.counter.reset();
        let response = notifier::handle(&notifier, lambda_event(event))
            .await
            .unwrap();
        assert!(failed_ids(&response).is_empty());
        let calls = env.counter.snapshot();
        assert_eq!(calls.get("DynamoDB.Query"), Some(&1), "{calls:?}");
        assert_eq!(calls.get("DynamoDB.PutItem"), Some(&1), "{calls:?}");
        assert_eq!(calls.get("DynamoDB.UpdateItem"), Some(&1), "{calls:?}");
        assert_eq!(env.counter.total(), 3, "{calls:?}");
    }
    assert_eq!(
        sent_to(&telegram).len(),
        4,
        "every lead reached the manager"
    );

    // A repeat submission: the optimistic create is cancelled, one consistent read, the
    // merge, the notice.
    let mut repeat = good_form("Hot", "+77012220001");
    repeat["message"] = json!("and a car from the airport");
    env.counter.reset();
    let answer = call(&deps, form(&t, repeat, "198.51.100.30")).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    let calls = env.counter.snapshot();
    assert_eq!(
        calls,
        std::collections::BTreeMap::from([
            ("DynamoDB.BatchGetItem".to_owned(), 1),
            ("DynamoDB.TransactWriteItems".to_owned(), 2),
            ("DynamoDB.UpdateItem".to_owned(), 1),
            ("SQS.SendMessage".to_owned(), 1),
        ]),
        "{calls:?}"
    );
    let lead = lead_item(&env, &t, "wa-77012220001").await.unwrap();
    assert_eq!(n(&lead, "submissions"), 2);
}

#[tokio::test]
async fn agent_leads_from_the_queue_are_captured_once() {
    let env = TestEnv::new().await;
    let t = leads_tenant(&env, |_| {}).await;
    let deps = lead_deps(&env);
    let body = Envelope::capture_lead(submission(
        &t,
        "tool-call-1",
        Some("tg-4242"),
        Some("+996 555 123 456"),
    ))
    .to_json();

    let response = run_worker(&deps, sqs_event(std::slice::from_ref(&body))).await;
    assert!(failed_ids(&response).is_empty());
    let lead = lead_item(&env, &t, "tg-4242")
        .await
        .expect("lead at the chat contact");
    assert_eq!(attr_s(&lead, "source"), "agent");
    assert_eq!(
        attr_s(&lead, "phone"),
        "+996555123456",
        "international numbers keep their country"
    );
    assert_eq!(attr_s(&lead, "interest"), "Насос для скважины");
    let first = notices(&env).await;
    assert_eq!(first.len(), 1);

    // SQS delivers the same message again: nothing new is written, the notice is
    // re-sent with the same id (the notifier delivers an id once per chat).
    let response = run_worker(&deps, sqs_event(&[body])).await;
    assert!(failed_ids(&response).is_empty());
    assert_eq!(items_with_sk_prefix(&env, &t, "LEADHIST#").await.len(), 1);
    assert_eq!(
        n(
            &lead_item(&env, &t, "tg-4242").await.unwrap(),
            "submissions"
        ),
        1
    );
    let again = notices(&env).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, first[0].id);
    assert_eq!(counters(&env, &t).await.get("leads_new_agent"), Some(&1));
}

#[tokio::test]
async fn queued_leads_keep_the_customer_when_a_field_is_bad_and_poison_fails() {
    let env = TestEnv::new().await;
    let t = leads_tenant(&env, |_| {}).await;
    let deps = lead_deps(&env);
    let mut sub = submission(&t, "k-bad-phone", Some("tg-77"), Some("12345"));
    sub.email = Some("not an email".into());
    let unreachable = submission(&t, "k-nobody", None, Some("nonsense"));
    let mut forged = Envelope::capture_lead(submission(&t, "k-forged", Some("tg-1"), None));
    forged.tenant = TenantId::parse("other-tenant").unwrap();
    let response = run_worker(
        &deps,
        sqs_event(&[
            Envelope::capture_lead(sub).to_json(),
            Envelope::capture_lead(unreachable).to_json(),
            forged.to_json(),
            "{not json".into(),
        ]),
    )
    .await;
    let mut failed = failed_ids(&response);
    failed.sort();
    assert_eq!(failed, ["m1", "m2", "m3"], "unusable records go to the DLQ");
    let lead = lead_item(&env, &t, "tg-77")
        .await
        .expect("the chat lead is kept");
    assert!(!lead.contains_key("phone"));
    let history = items_with_sk_prefix(&env, &t, "LEADHIST#").await;
    let dropped = history[0]["details"].as_m().unwrap()["dropped"]
        .as_l()
        .unwrap();
    assert_eq!(dropped.len(), 2, "the bad phone and email are recorded");
    assert_eq!(
        lead_item(&env, &TenantId::parse("other-tenant").unwrap(), "tg-1").await,
        None
    );
}

/// Writes what agent-reply writes when a customer shows intent: the profile in the
/// intent index, and the customer's messages.
async fn quiet_customer(env: &TestEnv, t: &TenantId, cid: &str, last_inbound_ms: i64, text: &str) {
    let (pk, sk) = contact::ContactProfile::key(t, cid);
    env.clients
        .dynamo
        .put_item()
        .table_name(&env.stack.table)
        .item("PK", AttributeValue::S(pk.clone()))
        .item("SK", AttributeValue::S(sk))
        .item("contact", AttributeValue::S(cid.into()))
        .item("display_name", AttributeValue::S("Дана".into()))
        .item("language", AttributeValue::S("ru".into()))
        .item(
            "last_inbound_ms",
            AttributeValue::N(last_inbound_ms.to_string()),
        )
        .item(
            "intent_at_ms",
            AttributeValue::N(last_inbound_ms.to_string()),
        )
        .item("GSI1PK", AttributeValue::S(contact::intent_gsi(t)))
        .item(
            "GSI1SK",
            AttributeValue::S(contact::intent_gsi_sk(last_inbound_ms, cid)),
        )
        .send()
        .await
        .unwrap();
    let message = sauda_shared::message::InboundMessage {
        tenant: t.clone(),
        channel: sauda_shared::message::Channel::Telegram,
        contact: cid.into(),
        platform_message_id: "m1".into(),
        timestamp_ms: last_inbound_ms,
        kind: sauda_shared::message::MessageKind::Text,
        text: Some(text.into()),
        attachment: None,
        display_name: Some("Дана".into()),
        language: Some("ru".into()),
        reply_to: cid.trim_start_matches("tg-").into(),
        thread_id: None,
    };
    let item = sauda_shared::message::MessageItem::inbound(&message, last_inbound_ms);
    env.put(item).await;
}

#[tokio::test]
async fn sweep_turns_quiet_interested_contacts_into_leads_once() {
    let env = TestEnv::new().await;
    let t = leads_tenant(&env, |c| c.leads.quiet_hours = 6).await;
    let other = leads_tenant(&env, |c| c.leads.quiet_hours = 0).await;
    let deps = lead_deps(&env);
    let hour = 3_600_000;
    let now = sauda_shared::now_ms();
    quiet_customer(
        &env,
        &t,
        "tg-1001",
        now - 7 * hour,
        "Сколько стоит тур на двоих?",
    )
    .await;
    quiet_customer(&env, &t, "tg-1002", now - hour, "А есть места на май?").await;
    quiet_customer(&env, &other, "tg-2001", now - 30 * hour, "price?").await;

    let sweep = json!({"kind": "sweep", "tenant": t});
    let report = worker::handle(&deps, lambda_event(sweep.clone()))
        .await
        .unwrap();
    assert_eq!(report["queued"], 1, "{report}");
    // The whole registry: the other tenant has the sweep switched off.
    let report = worker::handle(&deps, lambda_event(json!({"kind": "sweep"})))
        .await
        .unwrap();
    assert_eq!(report["queued"], 1, "{report}");

    // Both runs queued the same contact; the queue consumer makes one lead of it.
    let event = env.sqs_event_from_queue("LeadsQueue", 30).await;
    assert_eq!(event.records.len(), 2);
    assert!(failed_ids(&run_worker(&deps, event).await).is_empty());
    let lead = lead_item(&env, &t, "tg-1001").await.expect("swept lead");
    assert_eq!(attr_s(&lead, "source"), "sweep");
    assert_eq!(attr_s(&lead, "name"), "Дана");
    assert_eq!(
        attr_s(&lead, "message"),
        "Сколько стоит тур на двоих?",
        "the last words give context"
    );
    assert_eq!(items_with_sk_prefix(&env, &t, "LEADHIST#").await.len(), 1);
    assert!(
        lead_item(&env, &t, "tg-1002").await.is_none(),
        "not quiet long enough"
    );
    assert!(
        lead_item(&env, &other, "tg-2001").await.is_none(),
        "sweep off for that tenant"
    );

    // The lead took the contact out of the intent index: the next run finds nothing.
    let p = profile(&env, &t, "tg-1001").await;
    assert!(!p.contains_key("GSI1PK") && !p.contains_key("GSI1SK"));
    assert_eq!(attr_s(&p, "stage"), "new");
    let report = worker::handle(&deps, lambda_event(sweep)).await.unwrap();
    assert_eq!(report["queued"], 0);
    assert_eq!(counters(&env, &t).await.get("leads_new_sweep"), Some(&1));
    // The duplicate re-announced under the same id: the notifier delivers an id once.
    let ids: std::collections::BTreeSet<String> =
        notices(&env).await.into_iter().map(|n| n.id).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
}

// ------------------------------------------------------------------ validation

#[tokio::test]
async fn every_validation_error_has_its_code_and_nothing_is_stored() {
    let env = TestEnv::new().await;
    let t = leads_tenant(&env, |c| c.leads.form_rate_limit_per_hour = 100).await;
    let deps = lead_deps(&env);
    let base = || good_form("Aida", "+77011234567");
    let with = |k: &str, v: Value| {
        let mut b = base();
        b[k] = v;
        b
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (with("name", json!("")), "name", "required"),
        (with("name", json!("x".repeat(101))), "name", "too_long"),
        (
            with("name", json!("Ai\u{0000}da")),
            "name",
            "invalid_characters",
        ),
        (with("name", json!(42)), "name", "invalid_type"),
        (with("phone", json!("call me")), "phone", "invalid_phone"),
        (
            with("phone", json!("+7 701 12")),
            "phone",
            "phone_not_valid",
        ),
        (
            json!({"name": "A", "email": "aida@", "consent": true}),
            "email",
            "invalid_email",
        ),
        (
            json!({"name": "A", "consent": true}),
            "phone",
            "phone_or_email_required",
        ),
        (
            with("message", json!("m".repeat(2001))),
            "message",
            "too_long",
        ),
        (
            with("interest", json!("i".repeat(201))),
            "interest",
            "too_long",
        ),
        (with("source", json!("s".repeat(101))), "source", "too_long"),
        (
            with("language", json!("not a tag")),
            "language",
            "invalid_language",
        ),
        (with("consent", json!(false)), "consent", "consent_required"),
    ];
    for (i, (body, field, code)) in cases.into_iter().enumerate() {
        let answer = call(&deps, form(&t, body, &format!("192.0.2.{i}"))).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}/{code}: {}",
            answer.body
        );
        assert_eq!(answer.code(), "validation_failed");
        let fields = answer.body["error"]["fields"].as_array().unwrap();
        assert!(
            fields
                .iter()
                .any(|f| f["field"] == field && f["code"] == code),
            "{field}/{code}: {fields:?}"
        );
        assert_eq!(
            answer.headers["access-control-allow-origin"], ORIGIN,
            "the page can read the errors"
        );
    }
    // Several problems come back together, one per field.
    let answer = call(
        &deps,
        form(&t, json!({"phone": "x", "consent": false}), "192.0.2.99"),
    )
    .await;
    let fields: Vec<&str> = answer.body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "phone", "consent"]);

    // Malformed bodies.
    let raw = |body: &str, content_type: &str| {
        from_ip(
            Request::post(format!("/t/{t}/leads"))
                .header("content-type", content_type)
                .body(Body::from(body.to_owned()))
                .unwrap(),
            "192.0.2.200",
        )
    };
    assert_eq!(
        call(&deps, raw("{", "application/json")).await.code(),
        "malformed_json"
    );
    assert_eq!(
        call(&deps, raw("[]", "application/json")).await.code(),
        "invalid_body"
    );
    assert_eq!(
        call(&deps, raw("<x/>", "application/xml")).await.code(),
        "unsupported_media_type"
    );
    let big = call(&deps, raw(&"x".repeat(20_000), "application/json")).await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);

    assert!(
        env.contact_items(&t).await.is_empty(),
        "nothing partial is stored"
    );
    assert!(identity_items(&env, &t).await.is_empty());
    assert!(env.receive_all("NotifyQueue").await.is_empty());

    // A plain HTML form (urlencoded) works too.
    let answer = call(
        &deps,
        raw(
            "name=Aida&phone=%2B77019998877&consent=on",
            "application/x-www-form-urlencoded",
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    assert!(lead_item(&env, &t, "wa-77019998877").await.is_some());
}

#[tokio::test]
async fn honeypot_and_rate_limit_stop_bots() {
    let env = TestEnv::new().await;
    let t = leads_tenant(&env, |c| c.leads.form_rate_limit_per_hour = 3).await;
    let deps = lead_deps(&env);
    let mut bot = good_form("Bot", "+77010000001");
    bot["website"] = json!("http://spam.example");
    let answer = call(&deps, form(&t, bot, "198.51.100.50")).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "a bot learns nothing");
    assert!(env.contact_items(&t).await.is_empty());
    assert!(env.receive_all("NotifyQueue").await.is_empty());

    for i in 2..=3 {
        let answer = call(
            &deps,
            form(
                &t,
                good_form("P", &format!("+7701000000{i}")),
                "198.51.100.50",
            ),
        )
        .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED);
    }
    let answer = call(
        &deps,
        form(&t, good_form("P", "+77010000009"), "198.51.100.50"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer.code(), "rate_limited");
    let retry_after: u64 = answer.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry_after));
    assert!(lead_item(&env, &t, "wa-77010000009").await.is_none());
    // Another address is not affected.
    let answer = call(
        &deps,
        form(&t, good_form("P", "+77010000009"), "198.51.100.51"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
}

// ------------------------------------------------------------------ dedup and merging

#[tokio::test]
async fn twenty_parallel_submissions_of_one_phone_make_one_lead() {
    let env = TestEnv::new().await;
    let t = leads_tenant(&env, |c| c.leads.form_rate_limit_per_hour = 1000).await;
    let deps = lead_deps(&env);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let deps = deps.clone();
            // Written differently each time: the normalised number is the identity.
            let phone = if i % 2 == 0 { "8 701 555 44 33" } else { "+7 (701) 555-44-33" };
            let request = form(&t, json!({"name": format!("Client {i}"), "phone": phone, "message": format!("try {i}"), "consent": true}), &format!("10.0.0.{i}"));
            tokio::spawn(async move { call(&deps, request).await.status })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::ACCEPTED);
    }
    let leads = items_with_sk_prefix(&env, &t, "LEAD").await;
    let leads: Vec<_> = leads.iter().filter(|i| attr_s(i, "SK") == "LEAD").collect();
    assert_eq!(leads.len(), 1, "one lead");
    assert_eq!(attr_s(leads[0], "PK"), format!("T#{t}#C#wa-77015554433"));
    assert_eq!(n(leads[0], "submissions"), 20);
    assert_eq!(identity_items(&env, &t).await.len(), 1);
    let history = items_with_sk_prefix(&env, &t, "LEADHIST#").await;
    let created = history
        .iter()
        .filter(|h| attr_s(h, "kind") == "created")
        .count();
    let merged = history
        .iter()
        .filter(|h| attr_s(h, "kind") == "merged")
        .count();
    assert_eq!((created, merged), (1, 19), "every repeat is recorded");
    let c = counters(&env, &t).await;
    assert_eq!(c.get("leads_new_form"), Some(&1), "{c:?}");
    assert_eq!(c.get("leads_merged"), Some(&19), "{c:?}");
    // Managers get one new-lead card; the repeats share one id per window.
    let ids: std::collections::BTreeSet<String> =
        notices(&env).await.into_iter().map(|n| n.id).collect();
    assert!(ids.contains("lead:wa-77015554433:new"));
    assert!(ids.len() <= 3, "{ids:?}");

    // 20 identical submissions (a double-clicking user) are one submission.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let deps = deps.clone();
            let request = form(&t, good_form("Same", "+77017776655"), "10.0.1.1");
            tokio::spawn(async move { call(&deps, request).await.status })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::ACCEPTED);
    }
    let lead = lead_item(&env, &t, "wa-77017776655").await.unwrap();
    assert_eq!(n(&lead, "submissions"), 1);
}

#[tokio::test]
async fn a_customer_on_several_channels_is_one_lead() {
    let env = TestEnv::new().await;
    let t = leads_tenant(&env, |_| {}).await;
    let deps = lead_deps(&env);
    let key = manager_key(&env, &t, Role::Manager).await;

    // Email first (no phone: a web contact), then the phone with the same email.
    let answer = call(
        &deps,
        form(
            &t,
            json!({"name": "Aida", "email": "Aida@Mail.kz", "consent": true}),
            "10.1.0.1",
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    let web: Vec<_> = items_with_sk_prefix(&env, &t, "LEAD")
        .await
        .into_iter()
        .filter(|i| attr_s(i, "SK") == "LEAD")
        .collect();
    let web_cid = attr_s(&web[0], "contact").to_owned();
    assert!(web_cid.starts_with("web-"), "{web_cid}");
    let answer = call(&deps, form(&t, json!({"name": "Aida K.", "email": "aida@mail.kz", "phone": "+77015550001", "consent": true}), "10.1.0.2")).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert!(
        lead_item(&env, &t, "wa-77015550001").await.is_none(),
        "merged, not a second lead"
    );
    let lead = lead_item(&env, &t, &web_cid).await.unwrap();
    assert_eq!(attr_s(&lead, "name"), "Aida", "the first name is kept");
    assert_eq!(
        attr_s(&lead, "phone"),
        "+77015550001",
        "the new phone is added"
    );
    assert_eq!(
        identity_items(&env, &t).await.len(),
        2,
        "both identities point to it"
    );

    // Then the customer writes in Telegram and the agent captures the same phone.
    let sub = submission(&t, "tg-call-1", Some("tg-31337"), Some("87015550001"));
    let response = run_worker(&deps, sqs_event(&[Envelope::capture_lead(sub).to_json()])).await;
    assert!(failed_ids(&response).is_empty());
    let link = lead_item(&env, &t, "tg-31337").await.expect("link item");
    assert_eq!(attr_s(&link, "link_to"), web_cid);
    assert!(!link.contains_key("GSI1PK"), "links are not listed");
    assert_eq!(
        attr_s(&profile(&env, &t, "tg-31337").await, "stage"),
        "new",
        "the agent sees the stage"
    );

    // The lead is reachable from either conversation, with its whole history.
    let answer = call(&deps, api_get(&format!("/t/{t}/leads/tg-31337"), &key)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["lead"]["contact"], web_cid);
    assert_eq!(answer.body["lead"]["submissions"], 3);
    assert_eq!(answer.body["lead"]["linked_contacts"], json!(["tg-31337"]));
    assert_eq!(
        answer.body["lead"]["conversation_link"],
        "tg://user?id=31337"
    );
    let kinds: Vec<&str> = answer.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["created", "merged", "merged"]);
    assert_eq!(answer.body["history"][2]["actor"], "agent");
    assert_eq!(answer.body["history"][2]["details"]["contact"], "tg-31337");

    // A later stage change reaches both conversations' profiles.
    let answer = call(
        &deps,
        api_post(
            &format!("/t/{t}/leads/tg-31337/stage"),
            &key,
            json!({"stage": "qualification"}),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        attr_s(&profile(&env, &t, "tg-31337").await, "stage"),
        "qualification"
    );
    assert_eq!(
        attr_s(&profile(&env, &t, &web_cid).await, "stage"),
        "qualification"
    );

    // The same phone in another tenant is another business's customer.
    let other = leads_tenant(&env, |_| {}).await;
    call(
        &deps,
        form(&other, good_form("Aida", "+77015550001"), "10.1.0.3"),
    )
    .await;
    assert!(lead_item(&env, &other, "wa-77015550001").await.is_some());
    assert_eq!(
        attr_s(&lead_item(&env, &t, &web_cid).await.unwrap(), "stage"),
        "qualification"
    );
}

#[tokio::test]
async fn a_lost_customer_who_comes_back_is_reopened() {
    let env = TestEnv::new().await;
    let t = leads_tenant(&env, |_| {}).await;
    let deps = lead_deps(&env);
    let key = manager_key(&env, &t, Role::Manager).await;
    call(
        &deps,
        form(&t, good_form("Aida", "+77015550002"), "10.2.0.1"),
    )
    .await;
    let answer = call(
        &deps,
        api_post(
            &format!("/t/{t}/leads/wa-77015550002/stage"),
            &key,
            json!({"stage": "lost", "reason": "chose a competitor"}),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    env.receive_all("NotifyQueue").await;

    call(&deps, form(&t, json!({"name": "Aida", "phone": "+77015550002", "message": "we are back", "consent": true}), "10.2.0.2")).await;
    let lead = lead_item(&env, &t, "wa-77015550002").await.unwrap();
    assert_eq!(attr_s(&lead, "stage"), "qualification");
    assert_eq!(
        attr_s(&lead, "GSI1PK"),
        format!("T#{t}#LEADS#qualification")
    );
    let sent = notices(&env).await;
    assert_eq!(sent.len(), 1);
    assert!(sent[0].id.contains(":reopened:"), "{}", sent[0].id);
    let c = counters(&env, &t).await;
    assert_eq!(c.get("leads_lost"), Some(&1));
    assert_eq!(c.get("leads_stage_qualification"), Some(&1));
}

// ------------------------------------------------------------------ funnel

#[tokio::test]
async fn transitions_follow_the_funnel_and_are_recorded() {
    let env = TestEnv::new().await;
    let t = leads_tenant(&env, |_| {}).await;
    let deps = lead_deps(&env);
    let key = manager_key(&env, &t, Role::Manager).await;
    call(
        &deps,
        form(&t, good_form("Aida", "+77015550003"), "10.3.0.1"),
    )
    .await;
    let path = format!("/t/{t}/leads/wa-77015550003/stage");
    let move_to = |body: Value| api_post(&path, &key, body);

    let a = call(
        &deps,
        move_to(json!({"stage": "qualification", "reason": "called back"})),
    )
    .await;
    assert_eq!(
        (a.status, a.body["changed"].clone()),
        (StatusCode::OK, json!(true)),
        "{}",
        a.body
    );
    assert_eq!(a.body["lead"]["stage"], "qualification");
    let a = call(&deps, move_to(json!({"stage": "offer"}))).await;
    assert_eq!(a.status, StatusCode::OK, "skipping ahead is allowed");

    // Two steps back: forbidden, with the allowed moves listed.
    let a = call(&deps, move_to(json!({"stage": "new"}))).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(a.code(), "transition_not_allowed");
    assert!(a.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("offer cannot move to new"));
    let allowed = a.body["error"]["allowed"].as_array().unwrap();
    assert!(allowed.contains(&json!("warming")) && !allowed.contains(&json!("new")));

    let a = call(&deps, move_to(json!({"stage": "won"}))).await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_stage")
    );
    let a = call(&deps, move_to(json!({}))).await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "required")
    );
    let a = call(&deps, move_to(json!({"stage": "lost"}))).await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "reason_required")
    );
    let a = call(
        &deps,
        move_to(json!({"stage": "sale", "expected_stage": "warming"})),
    )
    .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::CONFLICT, "stage_conflict")
    );
    assert_eq!(a.body["error"]["current_stage"], "offer");
    let a = call(&deps, move_to(json!({"stage": "sale", "colour": "red"}))).await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
    );
    let a = call(&deps, api_post(&path, &key, json!("x"))).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);

    // A sale is won once, even when the stage steps back within the won part.
    for stage in ["sale", "service", "sale", "service"] {
        let a = call(&deps, move_to(json!({"stage": stage}))).await;
        assert_eq!(a.status, StatusCode::OK, "{stage}: {}", a.body);
    }
    let a = call(&deps, move_to(json!({"stage": "service"}))).await;
    assert_eq!(a.body["changed"], false, "already there: a no-op");
    let a = call(&deps, move_to(json!({"stage": "lost", "reason": "x"}))).await;
    assert_eq!(a.code(), "transition_not_allowed", "a sale is not lost");

    let c = counters(&env, &t).await;
    assert_eq!(c.get("leads_won"), Some(&1), "{c:?}");
    assert_eq!(c.get("leads_stage_sale"), Some(&2), "{c:?}");
    assert_eq!(c.get("leads_stage_service"), Some(&2), "{c:?}");

    // History: every change with actor, reason and time; notes go there too.
    let a = call(
        &deps,
        api_post(
            &format!("/t/{t}/leads/wa-77015550003/notes"),
            &key,
            json!({"text": "prefers calls after 18:00"}),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let a = call(
        &deps,
        api_post(
            &format!("/t/{t}/leads/wa-77015550003/notes"),
            &key,
            json!({"text": "  "}),
        ),
    )
    .await;
    assert_eq!(a.code(), "required");
    let view = call(
        &deps,
        api_get(&format!("/t/{t}/leads/wa-77015550003"), &key),
    )
    .await;
    let history = view.body["history"].as_array().unwrap();
    let moves: Vec<(String, String)> = history
        .iter()
        .filter(|h| h["kind"] == "stage_changed")
        .map(|h| {
            (
                h["from_stage"].as_str().unwrap().into(),
                h["to_stage"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("new", "qualification"),
        ("qualification", "offer"),
        ("offer", "sale"),
        ("sale", "service"),
        ("service", "sale"),
        ("sale", "service"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(moves, expected);
    let first_move = history
        .iter()
        .find(|h| h["kind"] == "stage_changed")
        .unwrap();
    assert_eq!(first_move["reason"], "called back");
    assert!(first_move["actor"]
        .as_str()
        .unwrap()
        .starts_with("manager:"));
    assert!(first_move["at_ms"].as_i64().unwrap() > 0);
    let times: Vec<i64> = history
        .iter()
        .map(|h| h["at_ms"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    assert_eq!(history.last().unwrap()["kind"], "note");
    assert_eq!(history.last().unwrap()["note"], "prefers calls after 18:00");

    // Each change told the managers, with a stable id per change.
    let sent = notices(&env).await;
    let stage_notices: Vec<_> = sent.iter().filter(|n| n.kind == "lead_stage").collect();
    assert_eq!(stage_notices.len(), 6);
    assert!(
        stage_notices[0].html.contains("New → Qualification"),
        "{}",
        stage_notices[0].html
    );
    assert_eq!(
        attr_s(&profile(&env, &t, "wa-77015550003").await, "stage"),
        "service"
    );
}

#[tokio::test]
async fn listing_by_stage_pages_newest_first_within_the_tenant() {
    let env = TestEnv::new().await;
    let t = leads_tenant(&env, |c| c.leads.form_rate_limit_per_hour = 100).await;
    let other = leads_tenant(&env, |_| {}).await;
    let deps = lead_deps(&env);
    let key = manager_key(&env, &t, Role::Admin).await;
    let other_key = manager_key(&env, &other, Role::Manager).await;
    for i in 0..7 {
        call(
            &deps,
            form(
                &t,
                good_form(&format!("L{i}"), &format!("+7701333000{i}")),
                "10.4.0.1",
            ),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    call(
        &deps,
        form(&other, good_form("Other", "+77013339999"), "10.4.0.2"),
    )
    .await;
    call(
        &deps,
        api_post(
            &format!("/t/{t}/leads/wa-77013330000/stage"),
            &key,
            json!({"stage": "offer"}),
        ),
    )
    .await;

    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("/t/{t}/leads?stage=new&limit=3");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let a = call(&deps, api_get(&path, &key)).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        pages += 1;
        names.extend(
            a.body["leads"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["name"].as_str().unwrap().to_owned()),
        );
        match a.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 2, "6 leads in pages of 3");
    assert_eq!(
        names,
        ["L6", "L5", "L4", "L3", "L2", "L1"],
        "newest first, moved lead gone"
    );
    let offer = call(&deps, api_get(&format!("/t/{t}/leads?stage=offer"), &key)).await;
    assert_eq!(offer.body["leads"][0]["name"], "L0");
    assert!(offer.body["next_cursor"].is_null());

    // Cursors are checked, bound to their stage, and cannot leave the caller's tenant.
    let first = call(
        &deps,
        api_get(&format!("/t/{t}/leads?stage=new&limit=2"), &key),
    )
    .await;
    let c = first.body["next_cursor"].as_str().unwrap().to_owned();
    // Signed over tenant and stage: another stage's listing, a made-up cursor and
    // another tenant (even replaying it with its own key) are all refused.
    for (tenant, key, query) in [
        (&t, &key, format!("stage=offer&cursor={c}")),
        (&t, &key, "cursor=garbage".to_owned()),
        (&other, &other_key, format!("stage=new&cursor={c}")),
    ] {
        let a = call(&deps, api_get(&format!("/t/{tenant}/leads?{query}"), key)).await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::BAD_REQUEST, "invalid_cursor"),
            "{query}"
        );
    }
    let a = call(
        &deps,
        api_get(&format!("/t/{other}/leads?stage=new"), &other_key),
    )
    .await;
    let names: Vec<&str> = a.body["leads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Other"], "each tenant lists only its own leads");
    for (query, code) in [
        ("stage=won", "invalid_stage"),
        ("limit=0", "invalid_limit"),
        ("limit=101", "invalid_limit"),
    ] {
        let a = call(&deps, api_get(&format!("/t/{t}/leads?{query}"), &key)).await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, code),
            "{query}"
        );
    }
}

// ------------------------------------------------------------------ auth

#[tokio::test]
async fn api_keys_are_per_tenant_hashed_and_rotatable() {
    let env = TestEnv::new().await;
    let a = leads_tenant(&env, |_| {}).await;
    let b = leads_tenant(&env, |_| {}).await;
    let deps = lead_deps(&env);
    let key_a = manager_key(&env, &a, Role::Manager).await;
    let partner_key = manager_key(
        &env,
        &a,
        Role::Partner {
            partner_id: "cafe-1".into(),
        },
    )
    .await;
    call(
        &deps,
        form(&b, good_form("B's customer", "+77015550004"), "10.5.0.1"),
    )
    .await;

    let list = |t: &TenantId, key: &str| api_get(&format!("/t/{t}/leads"), key);
    assert_eq!(call(&deps, list(&a, &key_a)).await.status, StatusCode::OK);
    let no_key = call(
        &deps,
        Request::get(format!("/t/{a}/leads"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        (no_key.status, no_key.code()),
        (StatusCode::UNAUTHORIZED, "api_key_required")
    );
    let garbage = call(&deps, list(&a, "sk_nope")).await;
    assert_eq!(
        (garbage.status, garbage.code()),
        (StatusCode::UNAUTHORIZED, "invalid_api_key")
    );

    // Tenant A's key is unknown on tenant B, for reads and for writes.
    let cross = call(&deps, list(&b, &key_a)).await;
    assert_eq!(
        (cross.status, cross.code()),
        (StatusCode::UNAUTHORIZED, "invalid_api_key")
    );
    let cross = call(
        &deps,
        api_get(&format!("/t/{b}/leads/wa-77015550004"), &key_a),
    )
    .await;
    assert_eq!(cross.status, StatusCode::UNAUTHORIZED);
    let cross = call(
        &deps,
        api_post(
            &format!("/t/{b}/leads/wa-77015550004/stage"),
            &key_a,
            json!({"stage": "lost", "reason": "x"}),
        ),
    )
    .await;
    assert_eq!(cross.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        attr_s(
            &lead_item(&env, &b, "wa-77015550004").await.unwrap(),
            "stage"
        ),
        "new"
    );

    let partner = call(&deps, list(&a, &partner_key)).await;
    assert_eq!(
        (partner.status, partner.code()),
        (StatusCode::FORBIDDEN, "role_not_allowed")
    );
    // X-Api-Key works as well as a bearer token.
    let x = Request::get(format!("/t/{a}/leads"))
        .header("x-api-key", &key_a)
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&deps, x).await.status, StatusCode::OK);

    // Only a hash is stored.
    let store = ApiKeyStore::new(env.clients.dynamo.clone(), &env.stack.table);
    let records = store.list(&a).await.unwrap();
    assert!(records
        .iter()
        .all(|r| !key_a.contains(&r.hash) && r.hash.len() == 64));

    // Rotation: the new key works at once; the old one until its grace ends. Revoked is out.
    let key_id = key_a.split('_').nth(1).unwrap();
    let rotated = store
        .rotate(&a, key_id, Duration::from_secs(3600))
        .await
        .unwrap()
        .unwrap();
    let fresh = lead_deps(&env); // a new instance: no cached key records
    assert_eq!(
        call(&fresh, list(&a, rotated.presented.expose()))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(call(&fresh, list(&a, &key_a)).await.status, StatusCode::OK);
    store.revoke(&a, key_id).await.unwrap();
    let fresh = lead_deps(&env);
    assert_eq!(
        call(&fresh, list(&a, &key_a)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

// ------------------------------------------------------------------ partners and agent

async fn put_partner(
    env: &TestEnv,
    t: &TenantId,
    id: &str,
    status: PartnerStatus,
    chat: Option<i64>,
) {
    let (pk, sk) = Partner::key(t, id);
    let partner = Partner {
        pk,
        sk,
        partner_id: id.into(),
        name: format!("Guide {id}"),
        status,
        kind: "guide".into(),
        telegram_chat_id: chat,
        cashback_bp: None,
        services: vec![],
        created_ms: 1,
        updated_ms: 1,
    };
    env.put(partner).await;
}

#[tokio::test]
async fn handing_a_lead_to_a_partner_notifies_the_partner_in_telegram() {
    let env = TestEnv::new().await;
    let t = leads_tenant(&env, |_| {}).await;
    let deps = lead_deps(&env);
    let key = manager_key(&env, &t, Role::Manager).await;
    put_partner(&env, &t, "guide-bek", PartnerStatus::Active, Some(7007)).await;
    put_partner(&env, &t, "hotel-new", PartnerStatus::Pending, Some(7008)).await;
    call(
        &deps,
        form(&t, good_form("Aida", "+77015550005"), "10.6.0.1"),
    )
    .await;
    env.receive_all("NotifyQueue").await;

    let path = format!("/t/{t}/leads/wa-77015550005/assign");
    let a = call(
        &deps,
        api_post(
            &path,
            &key,
            json!({"partner_id": "guide-bek", "note": "3 people, 12-15 June"}),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["partner_notified"], true);
    assert_eq!(a.body["lead"]["partner"]["id"], "guide-bek");

    let a = call(
        &deps,
        api_post(&path, &key, json!({"partner_id": "hotel-new"})),
    )
    .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::CONFLICT, "partner_not_active")
    );
    let a = call(
        &deps,
        api_post(&path, &key, json!({"partner_id": "nobody"})),
    )
    .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::NOT_FOUND, "partner_not_found")
    );
    let a = call(
        &deps,
        api_post(
            &format!("/t/{t}/leads/wa-70000000000/assign"),
            &key,
            json!({"partner_id": "guide-bek"}),
        ),
    )
    .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::NOT_FOUND, "lead_not_found")
    );

    // Through the real notifier to a fake Telegram: the partner's chat gets the card.
    let telegram = FakeServer::start().await;
    telegram.set_default(200, ok_message());
    let event = env.sqs_event_from_queue("NotifyQueue", 30).await;
    assert_eq!(event.records.len(), 1);
    let response = notifier::handle(&notifier_deps(&env, &telegram), lambda_event(event))
        .await
        .unwrap();
    assert!(failed_ids(&response).is_empty());
    let sent = sent_to(&telegram);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, 7007, "the partner, not the managers");
    assert!(
        sent[0].1.contains("+77015550005") && sent[0].1.contains("12-15 June"),
        "{}",
        sent[0].1
    );

    let history = call(
        &deps,
        api_get(&format!("/t/{t}/leads/wa-77015550005"), &key),
    )
    .await;
    let assigned = history.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["kind"] == "assigned")
        .unwrap()
        .clone();
    assert_eq!(assigned["partner_id"], "guide-bek");
    let c = counters(&env, &t).await;
    assert_eq!(c.get("leads_assigned"), Some(&1));
    assert_eq!(c.get("p_guide-bek_leads"), Some(&1));
}

#[tokio::test]
async fn a_manager_resumes_a_paused_agent() {
    let env = TestEnv::new().await;
    let t = leads_tenant(&env, |_| {}).await;
    let deps = lead_deps(&env);
    let key = manager_key(&env, &t, Role::Manager).await;
    let sub = submission(&t, "handoff-1", Some("tg-909"), None);
    run_worker(&deps, sqs_event(&[Envelope::capture_lead(sub).to_json()])).await;
    // agent-reply paused the conversation on a handoff.
    let (pk, sk) = contact::ContactProfile::key(&t, "tg-909");
    env.clients
        .dynamo
        .update_item()
        .table_name(&env.stack.table)
        .key("PK", AttributeValue::S(pk))
        .key("SK", AttributeValue::S(sk))
        .update_expression("SET agent_paused = :t, agent_paused_reason = :r")
        .expression_attribute_values(":t", AttributeValue::Bool(true))
        .expression_attribute_values(":r", AttributeValue::S("asked for a manager".into()))
        .send()
        .await
        .unwrap();
    let view = call(&deps, api_get(&format!("/t/{t}/leads/tg-909"), &key)).await;
    assert_eq!(view.body["conversations"][0]["agent_paused"], true);

    let a = call(
        &deps,
        api_post(
            &format!("/t/{t}/leads/tg-909/resume-agent"),
            &key,
            json!({}),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["resumed"], json!(["tg-909"]));
    let p = profile(&env, &t, "tg-909").await;
    assert_eq!(p["agent_paused"].as_bool().unwrap(), &false);
    assert!(!p.contains_key("agent_paused_reason"));
    assert_eq!(attr_s(&p, "stage"), "new", "other attributes are untouched");
    let a = call(
        &deps,
        api_post(
            &format!("/t/{t}/leads/tg-404/resume-agent"),
            &key,
            json!({}),
        ),
    )
    .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::NOT_FOUND, "lead_not_found")
    );
}

// ------------------------------------------------------------------ notices

#[tokio::test]
async fn a_new_lead_notice_survives_a_telegram_outage() {
    let env = TestEnv::new().await;
    let t = leads_tenant(&env, |_| {}).await;
    let deps = lead_deps(&env);
    let telegram = FakeServer::start().await;
    telegram.set_default(
        502,
        json!({"ok": false, "error_code": 502, "description": "Bad Gateway"}),
    );

    // Telegram is down: the form still answers at once.
    let answer = call(
        &deps,
        form(&t, good_form("Aida", "+77015550006"), "10.7.0.1"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert!(
        telegram.requests().is_empty(),
        "the form never talks to Telegram"
    );

    let notifier = notifier_deps(&env, &telegram);
    let event = env.sqs_event_from_queue("NotifyQueue", 30).await;
    assert_eq!(event.records.len(), 1);
    let handle = event.records[0].receipt_handle.clone().unwrap();
    let response = notifier::handle(&notifier, lambda_event(event))
        .await
        .unwrap();
    assert_eq!(failed_ids(&response).len(), 1, "kept for a retry");
    assert_eq!(sent_to(&telegram).len(), 1, "one failed attempt");

    // The notice waits on the queue, pushed back by the notifier's backoff.
    assert!(
        env.sqs_event_from_queue("NotifyQueue", 1)
            .await
            .records
            .is_empty(),
        "backed off"
    );
    telegram.set_default(200, ok_message());
    make_visible(&env, "NotifyQueue", &handle).await;

    let event = env.sqs_event_from_queue("NotifyQueue", 30).await;
    assert_eq!(event.records.len(), 1, "the notice was not lost");
    assert_eq!(event.records[0].attributes["ApproximateReceiveCount"], "2");
    let retry = event.clone();
    let response = notifier::handle(&notifier, lambda_event(event))
        .await
        .unwrap();
    assert!(failed_ids(&response).is_empty());
    let sent = sent_to(&telegram);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].0, MANAGER_CHAT);
    assert!(sent[1].1.contains("Aida") && sent[1].1.contains("+77015550006"));
    // A further redelivery is not sent again.
    notifier::handle(&notifier, lambda_event(retry))
        .await
        .unwrap();
    assert_eq!(sent_to(&telegram).len(), 2);
}

/// The backoff has elapsed: what Lambda would wait for, the test skips.
async fn make_visible(env: &TestEnv, queue: &str, receipt_handle: &str) {
    env.clients
        .sqs
        .change_message_visibility()
        .queue_url(env.queue_url(queue))
        .receipt_handle(receipt_handle)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
}

// ------------------------------------------------------------------ CRM webhook

fn verify_crm_signature(secret: &str, headers: &HeaderMap, body: &[u8]) -> i64 {
    let header = headers["x-sauda-signature"].to_str().unwrap();
    let (t_part, v1_part) = header.split_once(',').unwrap();
    let t: i64 = t_part.strip_prefix("t=").unwrap().parse().unwrap();
    let sig = hex::decode(v1_part.strip_prefix("v1=").unwrap()).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&sig)
        .expect("signature matches the raw body");
    assert_eq!(
        headers["x-sauda-timestamp"].to_str().unwrap(),
        t.to_string()
    );
    assert!((sauda_shared::now_ms() / 1000 - t).abs() < 60);
    t
}

#[tokio::test]
async fn crm_deliveries_are_signed_and_retried_with_the_same_delivery_id() {
    let env = TestEnv::new().await;
    let crm = FakeServer::start().await;
    let url = format!("{}/hooks/sauda", crm.base_url);
    let t = leads_tenant(&env, |c| c.leads.crm_webhook_url = Some(url.clone())).await;
    let deps = lead_deps(&env);
    call(
        &deps,
        form(&t, good_form("Aida", "+77015550007"), "10.8.0.1"),
    )
    .await;

    crm.push(500, json!({"error": "down"}));
    crm.set_default(200, json!({"received": true}));
    let event = env.sqs_event_from_queue("CrmQueue", 30).await;
    assert_eq!(event.records.len(), 1);
    let handle = event.records[0].receipt_handle.clone().unwrap();
    let response = run_worker(&deps, event).await;
    assert_eq!(failed_ids(&response).len(), 1, "a 500 is retried");
    // Backed off: the record does not come back at once.
    assert!(env
        .sqs_event_from_queue("CrmQueue", 1)
        .await
        .records
        .is_empty());
    let c = counters(&env, &t).await;
    assert_eq!(c.get("crm_attempts_failed"), Some(&1));

    make_visible(&env, "CrmQueue", &handle).await;
    let event = env.sqs_event_from_queue("CrmQueue", 30).await;
    assert_eq!(event.records.len(), 1, "the record is still on the queue");
    assert_eq!(event.records[0].attributes["ApproximateReceiveCount"], "2");
    let response = run_worker(&deps, event).await;
    assert!(failed_ids(&response).is_empty());

    let requests = crm.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!(r.path, "/hooks/sauda");
        assert_eq!(r.headers["x-sauda-event"], "lead.created");
        verify_crm_signature("whsec_crm_test", &r.headers, &r.body);
    }
    assert_eq!(
        requests[0].headers["x-sauda-delivery"], requests[1].headers["x-sauda-delivery"],
        "same delivery id on retry"
    );
    assert_eq!(requests[0].body, requests[1].body, "same bytes on retry");
    let event = requests[1].json();
    assert_eq!(event["type"], "lead.created");
    assert_eq!(
        event["delivery_id"],
        requests[1].headers["x-sauda-delivery"].to_str().unwrap()
    );
    assert_eq!(event["lead"]["phone"], "+77015550007");
    assert_eq!(event["tenant"], t.as_str());
    // A tampered body does not verify.
    let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec_crm_test").unwrap();
    let header = requests[1].headers["x-sauda-signature"]
        .to_str()
        .unwrap()
        .to_owned();
    let t_s = header.split(',').next().unwrap().trim_start_matches("t=");
    mac.update(format!("{t_s}.{}", "{\"type\":\"lead.created\"}").as_bytes());
    let sig = hex::decode(header.split("v1=").nth(1).unwrap()).unwrap();
    assert!(mac.verify_slice(&sig).is_err());
    let c = counters(&env, &t).await;
    assert_eq!(c.get("crm_delivered"), Some(&1));

    // Stage changes are delivered too; a fifth failed receive gives up (to the DLQ).
    let key = manager_key(&env, &t, Role::Manager).await;
    call(
        &deps,
        api_post(
            &format!("/t/{t}/leads/wa-77015550007/stage"),
            &key,
            json!({"stage": "offer"}),
        ),
    )
    .await;
    let queued = env.receive_all("CrmQueue").await;
    assert_eq!(queued.len(), 1);
    crm.set_default(503, json!({}));
    let mut last = sqs_event(&[queued[0].body().unwrap().to_owned()]);
    last.records[0]
        .attributes
        .insert("ApproximateReceiveCount".into(), "5".into());
    let response = run_worker(&deps, last).await;
    assert_eq!(failed_ids(&response).len(), 1);
    assert_eq!(
        crm.requests().last().unwrap().headers["x-sauda-event"],
        "lead.stage_changed"
    );
    let c = counters(&env, &t).await;
    assert_eq!(c.get("crm_gave_up"), Some(&1));
    assert_eq!(c.get("crm_attempts_failed"), Some(&2));
}

// ------------------------------------------------------------------ CORS

#[tokio::test]
async fn cors_preflight_answers_only_the_tenants_origins() {
    let env = TestEnv::new().await;
    let t = leads_tenant(&env, |c| {
        c.leads.allowed_origins = vec!["https://Tours.Example.kz/".into()]
    })
    .await;
    let deps = lead_deps(&env);
    let preflight = |origin: &str| {
        Request::options(format!("/t/{t}/leads"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .body(Body::empty())
            .unwrap()
    };
    let ok = call(&deps, preflight(ORIGIN)).await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
    assert_eq!(ok.headers["access-control-allow-origin"], ORIGIN);
    assert!(ok.headers["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    assert!(ok.headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("content-type"));
    assert_eq!(ok.headers["vary"], "Origin");

    let evil = call(&deps, preflight("https://evil.example")).await;
    assert_eq!(evil.status, StatusCode::FORBIDDEN);
    assert!(evil.headers.get("access-control-allow-origin").is_none());
    assert!(evil.headers.get("access-control-allow-methods").is_none());

    // A foreign page's POST is refused and stores nothing.
    let request = from_ip(
        Request::post(format!("/t/{t}/leads"))
            .header("content-type", "application/json")
            .header("origin", "https://evil.example")
            .body(Body::from(good_form("X", "+77015550008").to_string()))
            .unwrap(),
        "10.9.0.1",
    );
    let a = call(&deps, request).await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::FORBIDDEN, "origin_not_allowed")
    );
    assert!(a.headers.get("access-control-allow-origin").is_none());
    assert!(env.contact_items(&t).await.is_empty());

    // Unknown tenants get no CORS either.
    let a = call(
        &deps,
        Request::options("/t/no-such-tenant/leads")
            .header("origin", ORIGIN)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::NOT_FOUND, "tenant_not_found")
    );
    assert!(a.headers.get("access-control-allow-origin").is_none());
}

/// `events/lead-form.json` is a real HTTP API event for the demo tenant's web form.
#[tokio::test]
async fn sample_lead_form_event_is_accepted() {
    let env = TestEnv::new().await;
    let demo = sauda_infra::demo::DemoTenant::load(
        &sauda_tests::repo_root().join("infra/demo/tenant.json"),
    )
    .unwrap();
    sauda_infra::tenant::create_tenant(&env.clients.dynamo, &env.stack.table, &demo.config())
        .await
        .unwrap();
    let raw =
        std::fs::read_to_string(sauda_tests::repo_root().join("events/lead-form.json")).unwrap();
    let (parts, body) = lambda_http::request::from_str(&raw).unwrap().into_parts();
    let answer = call(
        &lead_deps(&env),
        Request::from_parts(parts, Body::from(body.to_vec())),
    )
    .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    assert_eq!(
        answer.headers["access-control-allow-origin"],
        "http://localhost:8080"
    );
    let lead = env
        .clients
        .dynamo
        .get_item()
        .table_name(&env.stack.table)
        .key("PK", AttributeValue::S("T#demo#C#wa-77015551234".into()))
        .key("SK", AttributeValue::S("LEAD".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the form's lead is stored under the phone's contact");
    assert_eq!(attr_s(&lead, "stage"), "new");
}

// ------------------------------------------------------------------ shared API layer

#[tokio::test]
async fn a_suspended_tenant_is_not_found_on_every_route() {
    let env = TestEnv::new().await;
    let t = leads_tenant(&env, |_| {}).await;
    let key = manager_key(&env, &t, Role::Manager).await;
    put_partner(&env, &t, "guide-bek", PartnerStatus::Active, Some(7007)).await;
    let deps = lead_deps(&env);
    call(
        &deps,
        form(&t, good_form("Aida", "+77015550010"), "10.10.0.1"),
    )
    .await;
    sauda_infra::tenant::set_tenant_status(
        &env.clients.dynamo,
        &env.stack.table,
        &t,
        sauda_shared::tenant::TenantStatus::Suspended,
    )
    .await
    .unwrap();

    let deps = lead_deps(&env); // a new instance: no cached tenant config
    let lead = format!("/t/{t}/leads/wa-77015550010");
    let requests = vec![
        (
            "form",
            form(&t, good_form("Bek", "+77015550011"), "10.10.0.2"),
        ),
        (
            "preflight",
            Request::options(format!("/t/{t}/leads"))
                .header("origin", ORIGIN)
                .body(Body::empty())
                .unwrap(),
        ),
        ("list", api_get(&format!("/t/{t}/leads"), &key)),
        ("get", api_get(&lead, &key)),
        (
            "stage",
            api_post(&format!("{lead}/stage"), &key, json!({"stage": "offer"})),
        ),
        (
            "assign",
            api_post(
                &format!("{lead}/assign"),
                &key,
                json!({"partner_id": "guide-bek"}),
            ),
        ),
        (
            "notes",
            api_post(&format!("{lead}/notes"), &key, json!({"text": "call back"})),
        ),
        (
            "resume-agent",
            api_post(&format!("{lead}/resume-agent"), &key, json!({})),
        ),
        (
            "without a key",
            Request::get(format!("/t/{t}/leads"))
                .body(Body::empty())
                .unwrap(),
        ),
    ];
    for (route, request) in requests {
        let a = call(&deps, request).await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::NOT_FOUND, "tenant_suspended"),
            "{route}: {}",
            a.body
        );
        assert!(a.headers.get("access-control-allow-origin").is_none());
    }
    let stored = lead_item(&env, &t, "wa-77015550010").await.unwrap();
    assert_eq!(attr_s(&stored, "stage"), "new", "nothing changed");
    assert!(lead_item(&env, &t, "wa-77015550011").await.is_none());
    assert_eq!(items_with_sk_prefix(&env, &t, "LEADHIST#").await.len(), 1);
}

#[tokio::test]
async fn local_numbers_are_read_in_the_tenants_region() {
    let env = TestEnv::new().await;
    let kz = leads_tenant(&env, |_| {}).await;
    let kg = leads_tenant(&env, |c| c.leads.default_region = "KG".into()).await;
    let deps = lead_deps(&env);

    // Written as people in Kazakhstan write it: no +7, no trunk 8.
    let a = call(
        &deps,
        form(&kz, good_form("Aida", "701 234 56 81"), "10.11.0.1"),
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    let lead = lead_item(&env, &kz, "wa-77012345681")
        .await
        .expect("the lead lives at the number's WhatsApp contact");
    assert_eq!(attr_s(&lead, "phone"), "+77012345681");

    let a = call(
        &deps,
        form(&kg, good_form("Bakyt", "0555 123 456"), "10.11.0.2"),
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    assert!(lead_item(&env, &kg, "wa-996555123456").await.is_some());

    // The Kazakh digits in a Kyrgyz tenant are no number: refused, naming the region.
    let a = call(
        &deps,
        form(&kg, good_form("Bakyt", "701 234 56 81"), "10.11.0.3"),
    )
    .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    let field = &a.body["error"]["fields"][0];
    assert_eq!(
        (field["field"].as_str(), field["code"].as_str()),
        (Some("phone"), Some("phone_not_valid"))
    );
    assert!(field["message"].as_str().unwrap().contains("KG"), "{field}");
}

// ------------------------------------------------------------------ outbound policy

#[tokio::test]
async fn crm_urls_inside_the_network_are_refused_and_never_called() {
    let env = TestEnv::new().await;
    let crm = FakeServer::start().await;
    crm.set_default(200, json!({"received": true}));
    let port = crm.base_url.rsplit(':').next().unwrap().to_owned();
    let inside = [
        format!("{}/hooks/sauda", crm.base_url),
        format!("https://localhost:{port}/hooks/sauda"),
        format!("https://[::1]:{port}/hooks/sauda"),
        "https://169.254.169.254/latest/meta-data/".to_owned(),
        "https://10.0.0.5/hooks/sauda".to_owned(),
    ];
    // Production's policy: loopback closed like every other inside address.
    let deps = lead_deps_with(&env, UrlPolicy::default());
    for (i, url) in inside.iter().enumerate() {
        let url = url.clone();
        let t = leads_tenant(&env, |c| c.leads.crm_webhook_url = Some(url)).await;
        let a = call(
            &deps,
            form(
                &t,
                good_form("Aida", &format!("+7701555012{i}")),
                &format!("10.12.0.{i}"),
            ),
        )
        .await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
        let event = env.sqs_event_from_queue("CrmQueue", 30).await;
        assert_eq!(event.records.len(), 1);
        let response = run_worker(&deps, event).await;
        assert!(
            failed_ids(&response).is_empty(),
            "{}: dead-lettered at once, not retried",
            inside[i]
        );
        let c = counters(&env, &t).await;
        assert_eq!(c.get("crm_gave_up"), Some(&1), "{c:?}");
        assert_eq!(c.get("crm_delivered"), None, "{c:?}");
    }
    assert!(crm.requests().is_empty(), "no inside address was called");
    let dead = env.receive_all("CrmDeadLetterQueue").await;
    assert_eq!(dead.len(), inside.len(), "kept for a redrive");

    // The same loopback URL where the local stack opens loopback is delivered: the
    // refusal above was the policy's.
    let open = lead_deps(&env);
    let url = inside[0].clone();
    let t = leads_tenant(&env, |c| c.leads.crm_webhook_url = Some(url)).await;
    call(
        &open,
        form(&t, good_form("Aida", "+77015550129"), "10.12.0.9"),
    )
    .await;
    let event = env.sqs_event_from_queue("CrmQueue", 30).await;
    assert!(failed_ids(&run_worker(&open, event).await).is_empty());
    assert_eq!(crm.requests().len(), 1);
}

// ------------------------------------------------------------------ AWS calls

#[tokio::test]
async fn a_crm_webhook_adds_exactly_one_call_to_the_form() {
    let env = TestEnv::new().await;
    let crm = FakeServer::start().await;
    crm.set_default(200, json!({"received": true}));
    let url = format!("{}/hooks/sauda", crm.base_url);
    let t = leads_tenant(&env, |c| c.leads.crm_webhook_url = Some(url)).await;
    let deps = lead_deps(&env);
    let (telegram, notifier) = warm_form_and_notifier(&env, &deps, &t).await;
    // And the worker's secret cache.
    let warm = env.sqs_event_from_queue("CrmQueue", 30).await;
    assert!(failed_ids(&run_worker(&deps, warm).await).is_empty());

    for i in 1..=2 {
        env.counter.reset();
        let answer = call(
            &deps,
            form(
                &t,
                good_form("Hot", &format!("+7701222100{i}")),
                &format!("198.51.100.{}", 20 + i),
            ),
        )
        .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED);
        // The form: rate limit, the capture transaction, the notice and the CRM event.
        let calls = env.counter.snapshot();
        assert_eq!(
            calls,
            std::collections::BTreeMap::from([
                ("DynamoDB.TransactWriteItems".to_owned(), 1),
                ("DynamoDB.UpdateItem".to_owned(), 1),
                ("SQS.SendMessage".to_owned(), 2),
            ]),
            "{calls:?}"
        );
        assert_eq!(env.counter.total(), 4);

        // The notifier, as without a CRM: 3. So form → stored → notified is 6 + 1.
        let event = env.sqs_event_from_queue("NotifyQueue", 30).await;
        env.counter.reset();
        let response = notifier::handle(&notifier, lambda_event(event))
            .await
            .unwrap();
        assert!(failed_ids(&response).is_empty());
        assert_eq!(env.counter.total(), 3, "{:?}", env.counter.snapshot());

        // The delivery itself: only its day counter (config and secret are cached).
        let event = env.sqs_event_from_queue("CrmQueue", 30).await;
        assert_eq!(event.records.len(), 1);
        env.counter.reset();
        assert!(failed_ids(&run_worker(&deps, event).await).is_empty());
        let calls = env.counter.snapshot();
        assert_eq!(
            calls,
            std::collections::BTreeMap::from([("DynamoDB.UpdateItem".to_owned(), 1)]),
            "{calls:?}"
        );
    }
    assert_eq!(crm.requests().len(), 3, "every event reached the CRM");
    assert_eq!(sent_to(&telegram).len(), 3, "and every card the manager");
}

#[tokio::test]
async fn manager_api_calls_per_request_are_exact() {
    let env = TestEnv::new().await;
    let t = leads_tenant(&env, |_| {}).await;
    let key = manager_key(&env, &t, Role::Manager).await;
    let deps = lead_deps(&env);
    call(
        &deps,
        form(&t, good_form("Aida", "+77015550030"), "10.13.0.1"),
    )
    .await;
    // Warms the tenant config and the key record.
    assert_eq!(
        call(&deps, api_get(&format!("/t/{t}/leads"), &key))
            .await
            .status,
        StatusCode::OK
    );
    let expect = |calls: &[(&str, usize)]| -> std::collections::BTreeMap<String, usize> {
        calls.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    };

    // Every request: its own calls plus the per-key rate limit (one UpdateItem).
    env.counter.reset();
    let a = call(&deps, api_get(&format!("/t/{t}/leads?stage=new"), &key)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        env.counter.snapshot(),
        expect(&[("DynamoDB.Query", 1), ("DynamoDB.UpdateItem", 1)]),
        "list: one GSI Query"
    );

    env.counter.reset();
    let a = call(
        &deps,
        api_get(&format!("/t/{t}/leads/wa-77015550030"), &key),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        env.counter.snapshot(),
        expect(&[
            ("DynamoDB.BatchGetItem", 1),
            ("DynamoDB.Query", 1),
            ("DynamoDB.UpdateItem", 1),
        ]),
        "get: the lead with its history, then its conversations' profiles"
    );

    env.counter.reset();
    let a = call(
        &deps,
        api_post(
            &format!("/t/{t}/leads/wa-77015550030/stage"),
            &key,
            json!({"stage": "offer"}),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        env.counter.snapshot(),
        expect(&[
            ("DynamoDB.GetItem", 1),
            ("DynamoDB.TransactWriteItems", 1),
            ("DynamoDB.UpdateItem", 1),
            ("SQS.SendMessage", 1),
        ]),
        "stage move: read, one transaction, the notice"
    );
}

// ------------------------------------------------------------------ logs

/// Log lines written by the handlers under test.
#[derive(Clone, Default)]
struct LogLines(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogLines {
    type Writer = LogLines;

    fn make_writer(&'a self) -> LogLines {
        self.clone()
    }
}

#[tokio::test]
async fn logs_name_no_phone_email_name_or_client_address() {
    let logs = LogLines::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_env_filter("lead_capture=trace,sauda_shared=trace")
        .with_ansi(false)
        .finish();
    // This test's thread only (a current-thread runtime runs every task here).
    let _guard = tracing::subscriber::set_default(subscriber);

    let env = TestEnv::new().await;
    let t = leads_tenant(&env, |c| c.leads.form_rate_limit_per_hour = 3).await;
    let key = manager_key(&env, &t, Role::Manager).await;
    let deps = lead_deps(&env);
    let ip = "203.0.113.77";
    let person = json!({
        "name": "Zhanar", "phone": "+77015550040", "email": "zhanar@example.kz",
        "message": "a tour", "consent": true
    });
    let a = call(&deps, form(&t, person.clone(), ip)).await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let mut again = person.clone();
    again["message"] = json!("a tour for two");
    assert_eq!(
        call(&deps, form(&t, again, ip)).await.status,
        StatusCode::ACCEPTED
    );
    let mut bot = person.clone();
    bot["website"] = json!("http://spam.example");
    assert_eq!(
        call(&deps, form(&t, bot, ip)).await.status,
        StatusCode::ACCEPTED
    );
    let limited = call(&deps, form(&t, person, ip)).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);

    let sub = submission(&t, "k-logs", Some("wa-77015550041"), None);
    let response = run_worker(&deps, sqs_event(&[Envelope::capture_lead(sub).to_json()])).await;
    assert!(failed_ids(&response).is_empty());
    let lead = format!("/t/{t}/leads/wa-77015550040");
    let a = call(
        &deps,
        api_post(&format!("{lead}/stage"), &key, json!({"stage": "offer"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let a = call(
        &deps,
        api_post(&format!("{lead}/resume-agent"), &key, json!({})),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    for expected in [
        "lead captured",
        "honeypot filled",
        "form rate limit reached",
        "agent resumed",
    ] {
        assert!(text.contains(expected), "{expected} was logged:\n{text}");
    }
    for private in [
        "77015550040",
        "77015550041",
        "Zhanar",
        "zhanar@example.kz",
        "203.0.113.77",
    ] {
        assert!(!text.contains(private), "{private} in the logs:\n{text}");
    }
    // The form's rate-limit window is keyed by the address's digest, not the address.
    let items = env
        .clients
        .dynamo
        .scan()
        .table_name(&env.stack.table)
        .send()
        .await
        .unwrap();
    let keys: Vec<String> = items
        .items()
        .iter()
        .filter_map(|item| item.get("PK")?.as_s().ok().cloned())
        .filter(|pk| pk.starts_with(&format!("T#{t}#RL#form")))
        .collect();
    assert!(!keys.is_empty(), "the form's window is stored");
    assert!(
        keys.iter().all(|pk| !pk.contains(ip)),
        "a client address in a key: {keys:?}"
    );
}
