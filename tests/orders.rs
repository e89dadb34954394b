//! Orders and payments end to end on moto, with fake Telegram, Stripe and Kaspi:
//! invoice → pre-checkout → payment → paid → cashback → receipt and managers' card;
//! every event redelivered 10 times; a Kaspi poll racing a pushed notification;
//! Stripe events out of order; a double payment; partial and full refunds taking the
//! cashback back; an expired order refused at checkout; signatures across tenants;
//! the manager API; and the exact AWS calls of the hot paths.
//!
//! The functions under test reach moto through `sauda_tests::serial` (see there why),
//! with their own call counter.

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use orders::domain::PaymentRecord;
use orders::Deps as OrdersDeps;
use sauda_shared::apikey::{ApiKeyStore, Role};
use sauda_shared::aws::{AwsCallCounter, AwsClients};
use sauda_shared::envelope::{Envelope, Job};
use sauda_shared::keys;
use sauda_shared::message::Channel;
use sauda_shared::notify::Notice;
use sauda_shared::order::{
    Customer, LineRequest, Order, OrderJob, OrderRequest, OrderSource, Provider,
};
use sauda_shared::outbox::{Body as MessageBody, CustomerMessage};
use sauda_shared::partner::PartnerStatus;
use sauda_shared::ports::{MessageQueue, QueueError};
use sauda_shared::secrets::{Secret, TenantSecrets};
use sauda_shared::stats::{self, metric};
use sauda_shared::tenant::{Manager, TenantConfig};
use sauda_shared::TenantId;
use sauda_tests::fake::FakeServer;
use sauda_tests::fake_kaspi::FakeKaspi;
use sauda_tests::fake_stripe::{self, FakeStripe};
use sauda_tests::{failed_ids, TestEnv};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

const PUMP: i64 = 4_500_000; // 45 000 ₸
const FILTER: i64 = 250_000; // 2 500 ₸
const PARTNER: &str = "shop";

/// A queue that records what is sent (with its delay) and forwards it to SQS.
struct Recording {
    inner: Arc<dyn MessageQueue>,
    sent: Mutex<Vec<(Envelope, i32)>>,
}

#[async_trait::async_trait]
impl MessageQueue for Recording {
    async fn send(&self, envelope: &Envelope, delay_seconds: i32) -> Result<(), QueueError> {
        self.sent
            .lock()
            .unwrap()
            .push((envelope.clone(), delay_seconds));
        self.inner.send(envelope, delay_seconds).await
    }
}

struct Fx {
    env: TestEnv,
    calls: AwsCallCounter,
    tenant: TenantId,
    secrets: TenantSecrets,
    telegram: FakeServer,
    stripe: FakeStripe,
    kaspi: FakeKaspi,
    orders: Arc<OrdersDeps>,
    webhook: Arc<webhook::Deps>,
    jobs: Arc<Recording>,
    key: String,
    /// Milliseconds added to the functions' clock.
    shift: Arc<AtomicI64>,
}

struct Answer {
    status: StatusCode,
    body: Value,
}

fn secrets_for(seed: &str) -> TenantSecrets {
    TenantSecrets {
        telegram_bot_token: Some(Secret::new(format!("1:{seed}-bot"))),
        telegram_webhook_secret: Some(Secret::new(format!("{seed}-tg"))),
        telegram_provider_token: Some(Secret::new(format!("{seed}-provider"))),
        stripe_secret_key: Some(Secret::new(format!("sk_test_{seed}"))),
        stripe_webhook_secret: Some(Secret::new(format!("whsec_{seed}"))),
        kaspi_api_key: Some(Secret::new(format!("{seed}-kaspi"))),
        kaspi_merchant_id: Some(Secret::new(format!("{seed}-device"))),
        kaspi_webhook_secret: Some(Secret::new(format!("{seed}-kaspi-push"))),
        ..Default::default()
    }
}

fn configure(c: &mut TenantConfig) {
    c.timezone = "Asia/Almaty".into();
    c.default_language = "ru".into();
    c.managers = vec![Manager {
        chat_id: 555,
        name: "Dana".into(),
    }];
    c.loyalty.enabled = true;
    c.loyalty.currency = "KZT".into();
    c.loyalty.cashback_bp = 500;
    c.orders.providers = vec![Provider::Telegram, Provider::Stripe, Provider::Kaspi];
    c.orders.stripe_success_url = Some("https://shop.example/paid".into());
    c.orders.stripe_cancel_url = Some("https://shop.example/cart".into());
    c.orders.loyalty_partner_id = Some(PARTNER.into());
}

fn catalog_item(sku: &str, name: &str, price: i64) -> agent_reply::catalog::CatalogItem {
    agent_reply::catalog::CatalogItem {
        price_minor: Some(price),
        currency: Some("KZT".into()),
        ..agent_reply::catalog::CatalogItem::new(sku, name)
    }
}

impl Fx {
    async fn new() -> Self {
        Self::with(configure).await
    }

    async fn with(configure: impl FnOnce(&mut TenantConfig)) -> Self {
        let env = TestEnv::new().await;
        let seed = sauda_tests::unique("s");
        let secrets = secrets_for(&seed);
        let tenant = env.tenant_with(configure, secrets.clone()).await;
        env.put_partner_as(&tenant, PARTNER, "Shop", PartnerStatus::Active)
            .await;
        env.install_catalog_items(
            &tenant,
            &[
                catalog_item("PUMP-1", "Насос Grundfos CR 10", PUMP),
                catalog_item("FILTER-2", "Фильтр сетчатый", FILTER),
            ],
        )
        .await;
        let key = ApiKeyStore::new(env.clients.dynamo.clone(), &env.stack.table)
            .issue(&tenant, Role::Manager, "test key")
            .await
            .unwrap()
            .presented
            .expose()
            .to_owned();
        let telegram = FakeServer::start().await;
        telegram.set_default(
            200,
            json!({"ok": true, "result": {"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"}}}),
        );
        let stripe = FakeStripe::start().await;
        let kaspi = FakeKaspi::start().await;
        kaspi.set_poll_interval(2);
        let calls = AwsCallCounter::default();
        let clients = env.serial_clients(&calls).await;
        let shift = Arc::new(AtomicI64::new(0));
        let (orders, jobs) = Self::orders_deps(&env, &clients, &telegram, &stripe, &kaspi, &shift);
        let webhook = Arc::new(Self::webhook_deps(&env, &clients, &shift));
        calls.reset();
        env.counter.reset();
        Self {
            env,
            calls,
            tenant,
            secrets,
            telegram,
            stripe,
            kaspi,
            orders,
            webhook,
            jobs,
            key,
            shift,
        }
    }

    fn orders_deps(
        env: &TestEnv,
        clients: &AwsClients,
        telegram: &FakeServer,
        stripe: &FakeStripe,
        kaspi: &FakeKaspi,
        shift: &Arc<AtomicI64>,
    ) -> (Arc<OrdersDeps>, Arc<Recording>) {
        let config = orders::OrdersConfig {
            core: env.core_config(),
            payments_queue_url: env.queue_url("PaymentsQueue"),
            notify_queue_url: env.queue_url("NotifyQueue"),
            inbound_queue_url: None,
            telegram_api_base: telegram.base_url.clone(),
            stripe_api_base: stripe.base_url.clone(),
            kaspi_api_base: kaspi.base_url.clone(),
            bucket: env.stack.bucket.clone(),
            catalog_cache_bytes: 32 * 1024 * 1024,
            operator_chat_id: Some(OPERATOR_CHAT),
        };
        let mut deps = OrdersDeps::from_aws(clients, &config);
        let jobs = Arc::new(Recording {
            inner: deps.payments.jobs.clone(),
            sent: Mutex::new(Vec::new()),
        });
        deps.payments.jobs = jobs.clone();
        let offset = shift.clone();
        deps.payments.clock =
            Arc::new(move || sauda_shared::now_ms() + offset.load(Ordering::SeqCst));
        (Arc::new(deps), jobs)
    }

    fn webhook_deps(env: &TestEnv, clients: &AwsClients, shift: &Arc<AtomicI64>) -> webhook::Deps {
        let mut deps = webhook::Deps::from_aws(
            clients,
            &webhook::WebhookConfig {
                core: env.core_config(),
                inbound_queue_url: env.queue_url("InboundQueue"),
                payments_queue_url: env.queue_url("PaymentsQueue"),
                notify_queue_url: env.queue_url("NotifyQueue"),
            },
        );
        let offset = shift.clone();
        deps.payments.clock =
            Arc::new(move || sauda_shared::now_ms() + offset.load(Ordering::SeqCst));
        deps
    }

    fn now_ms(&self) -> i64 {
        sauda_shared::now_ms() + self.shift.load(Ordering::SeqCst)
    }

    fn day(&self) -> String {
        stats::local_day("Asia/Almaty", self.now_ms())
    }

    // ---- HTTP --------------------------------------------------------------------------

    async fn send(router: axum::Router, request: Request<Body>) -> Answer {
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        Answer { status, body }
    }

    async fn api(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.api_as(&self.tenant, &self.key, method, path, body)
            .await
    }

    async fn api_as(
        &self,
        tenant: &TenantId,
        key: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let request = Request::builder()
            .method(method)
            .uri(format!("/t/{tenant}/orders{path}"))
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
            .unwrap();
        Self::send(orders::routes::router(self.orders.clone()), request).await
    }

    async fn telegram_update(&self, body: Value) -> Answer {
        let request = Request::post(format!("/t/{}/telegram", self.tenant))
            .header("content-type", "application/json")
            .header(
                "x-telegram-bot-api-secret-token",
                self.secrets
                    .telegram_webhook_secret
                    .as_ref()
                    .unwrap()
                    .expose(),
            )
            .body(Body::from(body.to_string()))
            .unwrap();
        Self::send(webhook::router(self.webhook.clone()), request).await
    }

    fn stripe_secret(&self) -> &str {
        self.secrets
            .stripe_webhook_secret
            .as_ref()
            .unwrap()
            .expose()
    }

    async fn stripe_post(&self, tenant: &TenantId, body: &str, header: Option<String>) -> Answer {
        let mut request =
            Request::post(format!("/t/{tenant}/stripe")).header("content-type", "application/json");
        if let Some(h) = header {
            request = request.header("stripe-signature", h);
        }
        Self::send(
            webhook::router(self.webhook.clone()),
            request.body(Body::from(body.to_owned())).unwrap(),
        )
        .await
    }

    /// A Checkout Session event about `order`, signed now.
    async fn session_event(
        &self,
        id: &str,
        event_type: &str,
        order: &str,
        payment_status: &str,
        payment_intent: &str,
        amount: i64,
    ) -> Answer {
        let session = FakeStripe::session(order, payment_status, payment_intent, amount, "KZT");
        self.stripe_event(id, event_type, session).await
    }

    /// A Stripe event signed now with the tenant's endpoint secret.
    async fn stripe_event(&self, id: &str, event_type: &str, object: Value) -> Answer {
        let body = FakeStripe::event(id, event_type, object);
        let header =
            fake_stripe::signature_header(self.stripe_secret(), self.now_ms() / 1000, &body);
        self.stripe_post(&self.tenant, &body, Some(header)).await
    }

    async fn kaspi_post(&self, body: &str, signature: Option<&str>) -> Answer {
        let mut request = Request::post(format!("/t/{}/kaspi", self.tenant))
            .header("content-type", "application/json");
        if let Some(s) = signature {
            request = request.header("x-kaspi-signature", s);
        }
        Self::send(
            webhook::router(self.webhook.clone()),
            request.body(Body::from(body.to_owned())).unwrap(),
        )
        .await
    }

    // ---- Orders ------------------------------------------------------------------------

    async fn create(&self, contact: &str, items: Value, invoice: Option<&str>) -> Value {
        let mut body = json!({"contact_id": contact, "items": items});
        if let Some(p) = invoice {
            body["invoice"] = json!(true);
            body["provider"] = json!(p);
        }
        let a = self.api("POST", "", Some(body)).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        a.body
    }

    async fn order(&self, order_id: &str) -> Order {
        self.orders
            .payments
            .store
            .get(&self.tenant, order_id)
            .await
            .unwrap()
            .expect("the order exists")
    }

    async fn ledger(&self, order_id: &str) -> Vec<PaymentRecord> {
        self.orders
            .payments
            .store
            .detail(&self.tenant, order_id)
            .await
            .unwrap()
            .unwrap()
            .payments
    }

    /// Runs the payments worker over everything on the payments queue, until empty.
    async fn drain(&self) -> usize {
        let mut handled = 0;
        loop {
            let messages = self.env.receive_all("PaymentsQueue").await;
            if messages.is_empty() {
                return handled;
            }
            handled += messages.len();
            let bodies: Vec<String> = messages
                .iter()
                .map(|m| m.body().unwrap().to_owned())
                .collect();
            let event = self.env.sqs_event_on("PaymentsQueue", &bodies);
            let response = orders::worker::handle_sqs(&self.orders, event).await;
            assert!(failed_ids(&response).is_empty(), "{:?}", response);
        }
    }

    /// Everything on the notify queue: (notices, customer messages).
    async fn outbox(&self) -> (Vec<Notice>, Vec<CustomerMessage>) {
        let mut notices = Vec::new();
        let mut messages = Vec::new();
        for m in self.env.receive_all("NotifyQueue").await {
            match Envelope::from_json(m.body().unwrap()).unwrap().job {
                Job::Notify { notice } => notices.push(notice),
                Job::CustomerMessage { message } => messages.push(message),
                other => panic!("unexpected {other:?}"),
            }
        }
        (notices, messages)
    }

    async fn balance(&self, contact: &str) -> i64 {
        let item = self
            .env
            .item(&(
                keys::contact_pk(&self.tenant, contact),
                keys::LOYALTY_SK.into(),
            ))
            .await;
        item.and_then(|i| {
            i.get("balance")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
    }

    async fn counters(&self) -> std::collections::BTreeMap<String, i64> {
        self.env.counters(&self.tenant, &self.day()).await
    }
}

fn pre_checkout(update_id: u64, query: &str, order_id: &str, total: i64, currency: &str) -> Value {
    json!({"update_id": update_id, "pre_checkout_query": {
        "id": query, "from": {"id": 7001, "is_bot": false, "first_name": "Aida", "language_code": "ru"},
        "currency": currency, "total_amount": total, "invoice_payload": order_id}})
}

fn successful_payment(
    update_id: u64,
    order_id: &str,
    total: i64,
    currency: &str,
    charge: &str,
) -> Value {
    json!({"update_id": update_id, "message": {
        "message_id": update_id, "date": 1_795_000_000,
        "chat": {"id": 7001, "type": "private"},
        "from": {"id": 7001, "is_bot": false, "first_name": "Aida"},
        "successful_payment": {"currency": currency, "total_amount": total, "invoice_payload": order_id,
            "telegram_payment_charge_id": charge, "provider_payment_charge_id": format!("prov-{charge}")}}})
}

fn id_of(order: &Value) -> String {
    order["order_id"].as_str().unwrap().to_owned()
}

fn calls_of(counter: &AwsCallCounter) -> Vec<(String, usize)> {
    counter.snapshot().into_iter().collect()
}

// ---- The Telegram path ------------------------------------------------------------------

#[tokio::test]
async fn telegram_invoice_checkout_payment_cashback_receipt_and_card() {
    let fx = Fx::new().await;
    let order = fx
        .create(
            "tg-7001",
            json!([{"sku": "PUMP-1", "quantity": 2}]),
            Some("telegram"),
        )
        .await;
    let id = id_of(&order);
    assert_eq!(order["total_minor"], 2 * PUMP);
    assert_eq!(order["payment_status"], "pending");
    assert_eq!(order["invoice"]["provider"], "telegram");
    let invoices: Vec<Value> = fx
        .telegram
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/sendInvoice"))
        .map(|r| r.json())
        .collect();
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0]["payload"], id.as_str());
    assert_eq!(invoices[0]["currency"], "KZT");
    assert_eq!(invoices[0]["chat_id"], 7001);
    assert_eq!(
        invoices[0]["prices"],
        json!([{"label": "90\u{a0}000\u{a0}₸", "amount": 2 * PUMP}])
    );
    assert_eq!(
        invoices[0]["provider_token"],
        fx.secrets
            .telegram_provider_token
            .as_ref()
            .unwrap()
            .expose()
    );

    // Pre-checkout: answered in the webhook's own response, from one read.
    let answer = fx
        .telegram_update(pre_checkout(1, "q-warm", &id, 2 * PUMP, "KZT"))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    fx.calls.reset();
    let answer = fx
        .telegram_update(pre_checkout(2, "q-1", &id, 2 * PUMP, "KZT"))
        .await;
    assert_eq!(
        answer.body,
        json!({"method": "answerPreCheckoutQuery", "pre_checkout_query_id": "q-1", "ok": true})
    );
    assert_eq!(calls_of(&fx.calls), [("DynamoDB.GetItem".to_owned(), 1)]);

    // The payment, delivered 10 times: paid once.
    fx.calls.reset();
    let first = fx
        .telegram_update(successful_payment(3, &id, 2 * PUMP, "KZT", "tg-charge-1"))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["result"], "applied");
    assert_eq!(first.body["payment_status"], "paid");
    assert_eq!(
        calls_of(&fx.calls),
        [
            ("DynamoDB.GetItem".to_owned(), 1),
            ("DynamoDB.TransactWriteItems".to_owned(), 1),
            ("SQS.SendMessage".to_owned(), 1),
        ],
        "successful_payment → paid"
    );
    for _ in 0..9 {
        fx.calls.reset();
        let again = fx
            .telegram_update(successful_payment(3, &id, 2 * PUMP, "KZT", "tg-charge-1"))
            .await;
        assert_eq!(again.body["result"], "duplicate");
        // Known from the order itself: its follow-up is queued again, nothing written.
        assert_eq!(
            calls_of(&fx.calls),
            [
                ("DynamoDB.GetItem".to_owned(), 1),
                ("SQS.SendMessage".to_owned(), 1)
            ]
        );
    }
    let paid = fx.order(&id).await;
    assert_eq!(paid.payment_status.as_str(), "paid");
    assert_eq!(paid.paid_minor, 2 * PUMP);
    assert_eq!(paid.payments.len(), 1);
    assert_eq!(paid.payments[0].payer_id, Some(7001));
    let ledger = fx.ledger(&id).await;
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].sk, "PAY#telegram#tg-charge-1#paid");

    // The follow-ups: 10 identical jobs, each step done once.
    assert_eq!(fx.drain().await, 10);
    let cashback = 2 * PUMP * 500 / 10_000;
    assert_eq!(fx.balance("tg-7001").await, cashback);
    let (notices, messages) = fx.outbox().await;
    let receipts: Vec<&CustomerMessage> = messages
        .iter()
        .filter(|m| m.id == format!("receipt:{id}"))
        .collect();
    assert_eq!(
        receipts.len(),
        10,
        "queued again under the same id (the notifier sends it once)"
    );
    let MessageBody::Text { text, .. } = &receipts[0].body else {
        panic!()
    };
    assert!(text.starts_with("✅ Оплата получена."), "{text}");
    assert!(
        text.contains("Насос Grundfos CR 10 × 2 — 90\u{a0}000\u{a0}₸"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "+{} бонусами",
            sauda_shared::order::format_amount(cashback, "KZT")
        )),
        "{text}"
    );
    assert!(
        receipts.iter().all(|r| r.body == receipts[0].body),
        "the same receipt every time"
    );
    let cards: Vec<&Notice> = notices
        .iter()
        .filter(|n| n.id == format!("order:{id}:paid"))
        .collect();
    assert_eq!(cards.len(), 10);
    assert!(cards[0].html.contains("Заказ"), "{}", cards[0].html);
    assert!(cards[0].html.contains("Telegram"));
    assert!(cards[0].html.contains(&format!(
        "+{}",
        sauda_shared::order::format_amount(cashback, "KZT")
    )));

    let counters = fx.counters().await;
    assert_eq!(counters.get(metric::ORDERS_PLACED), Some(&1));
    assert_eq!(counters.get(metric::ORDERS_PAID), Some(&1));
    assert_eq!(
        counters.get(metric::ORDERS_REVENUE_MINOR),
        Some(&(2 * PUMP))
    );
    assert_eq!(counters.get(&metric::orders_paid_by("telegram")), Some(&1));
    assert_eq!(
        counters.get(&metric::sku_revenue("PUMP-1")),
        Some(&(2 * PUMP))
    );
    assert_eq!(counters.get(&metric::sku_units("PUMP-1")), Some(&2));
    assert_eq!(counters.get(metric::LOYALTY_ACCRUED), Some(&cashback));

    // Checkout again once paid: refused in the customer's language.
    let answer = fx
        .telegram_update(pre_checkout(4, "q-2", &id, 2 * PUMP, "KZT"))
        .await;
    assert_eq!(answer.body["ok"], false);
    assert_eq!(answer.body["error_message"], "Этот заказ уже оплачен.");
}

#[tokio::test]
async fn a_wrong_amount_at_checkout_or_in_a_payment_never_marks_paid() {
    let fx = Fx::new().await;
    let id = id_of(
        &fx.create(
            "tg-7001",
            json!([{"sku": "FILTER-2", "quantity": 1}]),
            Some("telegram"),
        )
        .await,
    );
    let answer = fx
        .telegram_update(pre_checkout(1, "q", &id, FILTER - 1, "KZT"))
        .await;
    assert_eq!(answer.body["ok"], false);
    assert_eq!(
        answer.body["error_message"],
        "Сумма заказа изменилась. Попросите, пожалуйста, новый счёт."
    );
    let answer = fx
        .telegram_update(pre_checkout(2, "q", "no-such-order", FILTER, "KZT"))
        .await;
    assert_eq!(
        answer.body["error_message"],
        "Этот заказ нельзя оплатить. Пожалуйста, напишите нам."
    );

    let paid = fx
        .telegram_update(successful_payment(3, &id, FILTER - 1, "KZT", "odd-1"))
        .await;
    assert_eq!(paid.body["result"], "applied");
    assert_eq!(paid.body["payment_status"], "pending");
    let order = fx.order(&id).await;
    assert!(order.payment_mismatch);
    assert_eq!(order.paid_minor, 0);
    // Delivered again: the ledger knows it.
    let again = fx
        .telegram_update(successful_payment(3, &id, FILTER - 1, "KZT", "odd-1"))
        .await;
    assert_eq!(again.body["result"], "duplicate");
    fx.drain().await;
    let (notices, messages) = fx.outbox().await;
    let mismatch: Vec<&Notice> = notices
        .iter()
        .filter(|n| n.id == format!("order:{id}:mismatch:odd-1"))
        .collect();
    assert_eq!(mismatch.len(), 2, "queued again by the redelivery, one id");
    assert!(
        mismatch[0].html.contains("2\u{a0}499.99\u{a0}₸"),
        "{}",
        mismatch[0].html
    );
    assert!(
        messages.iter().all(|m| !m.id.starts_with("receipt:")),
        "no receipt"
    );
    assert_eq!(
        fx.counters().await.get(metric::ORDERS_PAYMENT_MISMATCH),
        Some(&1)
    );
    assert_eq!(fx.balance("tg-7001").await, 0, "no cashback");
}

#[tokio::test]
async fn a_second_charge_makes_the_order_overpaid_and_its_refund_keeps_the_cashback() {
    let fx = Fx::new().await;
    let id = id_of(
        &fx.create(
            "tg-7001",
            json!([{"sku": "PUMP-1", "quantity": 1}]),
            Some("telegram"),
        )
        .await,
    );
    fx.telegram_update(successful_payment(1, &id, PUMP, "KZT", "ch-1"))
        .await;
    let second = fx
        .telegram_update(successful_payment(2, &id, PUMP, "KZT", "ch-2"))
        .await;
    assert_eq!(second.body["result"], "applied");
    assert_eq!(second.body["payment_status"], "overpaid");
    for _ in 0..9 {
        let again = fx
            .telegram_update(successful_payment(2, &id, PUMP, "KZT", "ch-2"))
            .await;
        assert_eq!(again.body["result"], "duplicate");
    }
    let order = fx.order(&id).await;
    assert_eq!(order.paid_minor, 2 * PUMP);
    assert_eq!(fx.ledger(&id).await.len(), 2);
    fx.drain().await;
    let (notices, _) = fx.outbox().await;
    let overpaid: Vec<&Notice> = notices
        .iter()
        .filter(|n| n.id == format!("order:{id}:overpaid:ch-2"))
        .collect();
    assert_eq!(overpaid.len(), 10);
    assert!(overpaid[0].html.contains("дважды"), "{}", overpaid[0].html);
    let counters = fx.counters().await;
    assert_eq!(counters.get(metric::ORDERS_PAID), Some(&1));
    assert_eq!(counters.get(metric::ORDERS_OVERPAID), Some(&1));
    assert_eq!(
        counters.get(metric::ORDERS_REVENUE_MINOR),
        Some(&(2 * PUMP))
    );
    let cashback = PUMP * 500 / 10_000;
    assert_eq!(
        fx.balance("tg-7001").await,
        cashback,
        "cashback on the order, once"
    );

    // A provider-token payment is refunded in the provider's dashboard: recorded manually.
    let refund = fx
        .api(
            "POST",
            &format!("/{id}/refund"),
            Some(json!({"payment_ref": "ch-2", "reason": "paid twice"})),
        )
        .await;
    assert_eq!(refund.status, StatusCode::OK, "{}", refund.body);
    assert_eq!(refund.body["route"], "manual");
    assert_eq!(refund.body["order"]["payment_status"], "paid");
    fx.drain().await;
    assert_eq!(
        fx.balance("tg-7001").await,
        cashback,
        "returning the duplicate keeps the cashback"
    );
    let detail = fx.api("GET", &format!("/{id}"), None).await;
    let last = detail.body["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["action"], "refunded");
    assert!(
        last["actor"].as_str().unwrap().starts_with("manager:"),
        "{last}"
    );
}

// ---- Expiry --------------------------------------------------------------------------------

#[tokio::test]
async fn an_expired_order_is_refused_at_checkout_swept_and_a_late_payment_is_flagged() {
    let fx = Fx::new().await;
    let id = id_of(
        &fx.create(
            "tg-7001",
            json!([{"sku": "FILTER-2", "quantity": 2}]),
            Some("telegram"),
        )
        .await,
    );
    fx.shift.store(25 * 3_600_000, Ordering::SeqCst);
    let answer = fx
        .telegram_update(pre_checkout(1, "q", &id, 2 * FILTER, "KZT"))
        .await;
    assert_eq!(answer.body["ok"], false);
    assert_eq!(
        answer.body["error_message"],
        "Срок оплаты этого заказа истёк. Напишите нам — оформим новый."
    );
    let report = orders::worker::sweep(&fx.orders, fx.now_ms())
        .await
        .unwrap();
    assert!(report.expired >= 1, "{report:?}");
    assert_eq!(fx.order(&id).await.status.as_str(), "expired");
    let again = orders::worker::sweep(&fx.orders, fx.now_ms())
        .await
        .unwrap();
    assert_eq!(
        fx.orders
            .payments
            .store
            .due_expiries(&fx.tenant, fx.now_ms(), 10)
            .await
            .unwrap()
            .len(),
        0,
        "{again:?}"
    );
    let answer = fx
        .telegram_update(pre_checkout(2, "q", &id, 2 * FILTER, "KZT"))
        .await;
    assert_eq!(answer.body["ok"], false);
    let invoice = fx.api("POST", &format!("/{id}/invoice"), None).await;
    assert_eq!(invoice.status, StatusCode::CONFLICT);
    assert_eq!(invoice.body["error"]["code"], "order_expired");

    // Money that comes anyway is kept, flagged, and the managers decide.
    let late = fx
        .telegram_update(successful_payment(3, &id, 2 * FILTER, "KZT", "late-1"))
        .await;
    assert_eq!(late.body["payment_status"], "paid");
    let order = fx.order(&id).await;
    assert_eq!(order.status.as_str(), "expired");
    assert!(order.payment_mismatch);
    fx.drain().await;
    let (notices, _) = fx.outbox().await;
    let card = notices
        .iter()
        .find(|n| n.id == format!("order:{id}:paid"))
        .unwrap();
    assert!(
        card.html.contains("после отмены или истечения срока"),
        "{}",
        card.html
    );
    assert_eq!(fx.counters().await.get(metric::ORDERS_EXPIRED), Some(&1));
}

// ---- Stripe ----------------------------------------------------------------------------------

#[tokio::test]
async fn stripe_link_then_events_in_any_order_apply_once() {
    let fx = Fx::new().await;
    let order = fx
        .create(
            "wa-77011234567",
            json!([{"sku": "PUMP-1", "quantity": 1}, {"sku": "FILTER-2", "quantity": 2}]),
            Some("stripe"),
        )
        .await;
    let id = id_of(&order);
    let total = PUMP + 2 * FILTER;
    assert_eq!(
        order["invoice"]["url"],
        "https://checkout.stripe.test/c/pay/cs_test_1"
    );
    let sessions = fx.stripe.forms("/v1/checkout/sessions");
    assert_eq!(sessions.len(), 1);
    let s = &sessions[0];
    assert_eq!(s["client_reference_id"], id);
    assert_eq!(s["metadata[order_id]"], id);
    assert_eq!(s["payment_intent_data[metadata][order_id]"], id);
    assert_eq!(
        s["line_items[0][price_data][unit_amount]"],
        PUMP.to_string()
    );
    assert_eq!(s["line_items[1][quantity]"], "2");
    assert_eq!(s["line_items[0][price_data][currency]"], "kzt");
    let request = fx.stripe.requests().remove(0);
    assert_eq!(
        request.headers["authorization"],
        format!(
            "Bearer {}",
            fx.secrets.stripe_secret_key.as_ref().unwrap().expose()
        )
    );
    assert_eq!(
        request.headers["idempotency-key"],
        format!("checkout:{id}:1")
    );
    assert_eq!(request.headers["stripe-version"], "2024-06-20");
    let (_, messages) = fx.outbox().await;
    let link = messages
        .iter()
        .find(|m| m.id.starts_with(&format!("invoice:{id}:stripe")))
        .unwrap();
    let MessageBody::Text { text, buttons } = &link.body else {
        panic!()
    };
    // The link rides on the button only: the notifier shows a link button on WhatsApp as
    // one line of text, so a URL in the text too would appear twice.
    assert!(
        !text.contains("https://checkout.stripe.test/c/pay/cs_test_1"),
        "the link once, as the button: {text}"
    );
    assert_eq!(
        buttons[0].url.as_deref(),
        Some("https://checkout.stripe.test/c/pay/cs_test_1")
    );
    assert_eq!(link.channel, Channel::Whatsapp);

    // Warm the route (secrets, tenant) with an event Sauda ignores.
    let ignored = fx
        .stripe_event("evt_warm", "customer.created", json!({"id": "cus_1"}))
        .await;
    assert_eq!(ignored.body["result"], "ignored");
    fx.calls.reset();
    let session = FakeStripe::session(&id, "paid", "pi_1", total, "KZT");
    let done = fx
        .stripe_event(
            "evt_completed",
            "checkout.session.completed",
            session.clone(),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["result"], "applied");
    assert_eq!(
        calls_of(&fx.calls),
        [
            ("DynamoDB.GetItem".to_owned(), 1),
            ("DynamoDB.TransactWriteItems".to_owned(), 1),
            ("SQS.SendMessage".to_owned(), 1),
        ],
        "Stripe event → paid"
    );
    // The same event 9 more times, and an `expired` after `completed`: nothing changes.
    for _ in 0..9 {
        let again = fx
            .stripe_event(
                "evt_completed",
                "checkout.session.completed",
                session.clone(),
            )
            .await;
        assert_eq!(again.body["result"], "duplicate");
    }
    let expired = fx
        .stripe_event("evt_expired", "checkout.session.expired", session.clone())
        .await;
    assert_eq!(expired.body["result"], "ignored");
    assert_eq!(expired.body["payment_status"], "paid");
    let order = fx.order(&id).await;
    assert_eq!(order.payment_status.as_str(), "paid");
    assert_eq!(order.payment_ref.as_deref(), Some("pi_1"));
    assert_eq!(fx.ledger(&id).await.len(), 1);
    assert!(fx
        .env
        .item(&keys::provider_event(&fx.tenant, "stripe", "evt_completed"))
        .await
        .is_some());

    // Asynchronous methods: `completed` (unpaid) → pending; the result may come first.
    let other = id_of(
        &fx.create(
            "wa-77011234567",
            json!([{"sku": "FILTER-2", "quantity": 1}]),
            None,
        )
        .await,
    );
    let succeeded = fx
        .session_event(
            "evt_async_ok",
            "checkout.session.async_payment_succeeded",
            &other,
            "paid",
            "pi_2",
            FILTER,
        )
        .await;
    assert_eq!(succeeded.body["payment_status"], "paid");
    let late_completed = fx
        .session_event(
            "evt_completed_2",
            "checkout.session.completed",
            &other,
            "unpaid",
            "pi_2",
            FILTER,
        )
        .await;
    assert_eq!(
        late_completed.body["result"], "ignored",
        "never undoes a newer state"
    );
    assert_eq!(fx.order(&other).await.payment_status.as_str(), "paid");

    let third = id_of(
        &fx.create(
            "wa-77011234567",
            json!([{"sku": "FILTER-2", "quantity": 3}]),
            Some("stripe"),
        )
        .await,
    );
    // Unpaid at completion (a bank transfer), then failed, then paid by a new attempt.
    for (event_id, event_type, status, intent, expected) in [
        (
            "evt_unpaid_3",
            "checkout.session.completed",
            "unpaid",
            "pi_3",
            "pending",
        ),
        (
            "evt_failed_3",
            "checkout.session.async_payment_failed",
            "unpaid",
            "pi_3",
            "failed",
        ),
        (
            "evt_ok_3",
            "checkout.session.completed",
            "paid",
            "pi_3b",
            "paid",
        ),
    ] {
        let answer = fx
            .session_event(event_id, event_type, &third, status, intent, 3 * FILTER)
            .await;
        assert_eq!(answer.body["payment_status"], expected, "{event_id}");
    }
    let counters = fx.counters().await;
    assert_eq!(counters.get(&metric::orders_paid_by("stripe")), Some(&3));
    assert_eq!(counters.get(metric::ORDERS_PAYMENT_FAILED), Some(&1));
}

#[tokio::test]
async fn stripe_signatures_rotation_tolerance_tenants_and_bad_input() {
    let fx = Fx::new().await;
    let id = id_of(
        &fx.create("tg-7001", json!([{"sku": "FILTER-2", "quantity": 1}]), None)
            .await,
    );
    let body = FakeStripe::event(
        "evt_sig",
        "checkout.session.completed",
        FakeStripe::session(&id, "paid", "pi_sig", FILTER, "KZT"),
    );
    let now = fx.now_ms() / 1000;
    let nothing_stored = |fx: &Fx| {
        let store = fx.orders.payments.store.clone();
        let tenant = fx.tenant.clone();
        let id = id.clone();
        async move {
            let order = store.get(&tenant, &id).await.unwrap().unwrap();
            assert_eq!(order.payment_status.as_str(), "unpaid");
            assert_eq!(order.revision, 1);
        }
    };

    let missing = fx.stripe_post(&fx.tenant, &body, None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.body["error"]["code"], "invalid_signature");
    let wrong = fx
        .stripe_post(
            &fx.tenant,
            &body,
            Some(fake_stripe::signature_header("whsec_other", now, &body)),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let stale = fx
        .stripe_post(
            &fx.tenant,
            &body,
            Some(fake_stripe::signature_header(
                fx.stripe_secret(),
                now - 301,
                &body,
            )),
        )
        .await;
    assert_eq!(stale.status, StatusCode::UNAUTHORIZED);
    let tampered = fx
        .stripe_post(
            &fx.tenant,
            &body.replace("pi_sig", "pi_sog"),
            Some(fake_stripe::signature_header(
                fx.stripe_secret(),
                now,
                &body,
            )),
        )
        .await;
    assert_eq!(tampered.status, StatusCode::UNAUTHORIZED);
    nothing_stored(&fx).await;

    // Tenant A's signature on tenant B's route, and B's on A's.
    let b_secrets = secrets_for(&sauda_tests::unique("b"));
    let b = fx.env.tenant_with(configure, b_secrets.clone()).await;
    let b_secret = b_secrets.stripe_webhook_secret.as_ref().unwrap().expose();
    let a_signed = fake_stripe::signature_header(fx.stripe_secret(), now, &body);
    let crossed = fx.stripe_post(&b, &body, Some(a_signed)).await;
    assert_eq!(crossed.status, StatusCode::UNAUTHORIZED);
    let b_signed = fake_stripe::signature_header(b_secret, now, &body);
    let crossed = fx.stripe_post(&fx.tenant, &body, Some(b_signed)).await;
    assert_eq!(crossed.status, StatusCode::UNAUTHORIZED);
    nothing_stored(&fx).await;

    // During a rotation: the new secret, the previous one, or both as two v1 values.
    sauda_infra::tenant::merge_tenant_secrets(
        &fx.env.clients.secrets,
        fx.env.stage(),
        &fx.tenant,
        TenantSecrets {
            stripe_webhook_secret: Some(Secret::new("whsec_rotated")),
            stripe_webhook_secret_previous: fx.secrets.stripe_webhook_secret.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let fresh = Arc::new(Fx::webhook_deps(
        &fx.env,
        &fx.env.serial_clients(&fx.calls).await,
        &fx.shift,
    ));
    let post = |header: String| {
        let request = Request::post(format!("/t/{}/stripe", fx.tenant))
            .header("content-type", "application/json")
            .header("stripe-signature", header)
            .body(Body::from(body.clone()))
            .unwrap();
        Fx::send(webhook::router(fresh.clone()), request)
    };
    let previous = post(fake_stripe::signature_header(
        fx.stripe_secret(),
        now,
        &body,
    ))
    .await;
    assert_eq!(
        previous.status,
        StatusCode::OK,
        "the previous secret: {}",
        previous.body
    );
    assert_eq!(previous.body["result"], "applied");
    let current = post(fake_stripe::signature_header("whsec_rotated", now, &body)).await;
    assert_eq!(
        current.status,
        StatusCode::OK,
        "the new secret: {}",
        current.body
    );
    let both = post(fake_stripe::rotation_header(
        "whsec_rotated",
        fx.stripe_secret(),
        now,
        &body,
    ))
    .await;
    assert_eq!(both.status, StatusCode::OK, "two v1 values: {}", both.body);
    let gone = post(fake_stripe::signature_header("whsec_never", now, &body)).await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
    let fx_webhook = fresh;

    // Signed but malformed: 400 with a stable code; an unknown order: 200, counted.
    let signed = |payload: &str| {
        let request = Request::post(format!("/t/{}/stripe", fx.tenant))
            .header("content-type", "application/json")
            .header(
                "stripe-signature",
                fake_stripe::signature_header("whsec_rotated", now, payload),
            )
            .body(Body::from(payload.to_owned()))
            .unwrap();
        Fx::send(webhook::router(fx_webhook.clone()), request)
    };
    let junk = r#"{"id":"evt_junk","type":"checkout.session.completed","data":{"object":{"payment_status":"paid"}}}"#;
    let bad = signed(junk).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["error"]["code"], "invalid_payload");
    let not_json = "{oops";
    let bad = signed(not_json).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let unknown = FakeStripe::event(
        "evt_unknown",
        "checkout.session.completed",
        FakeStripe::session("NOSUCHORDER", "paid", "pi_x", 100, "KZT"),
    );
    let answer = signed(&unknown).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["result"], "unknown_order");
    assert_eq!(
        fx.counters().await.get(metric::PAYMENTS_UNKNOWN_ORDER),
        Some(&1)
    );
}

#[tokio::test]
async fn partial_and_full_refunds_go_through_stripe_and_take_the_cashback_back() {
    let fx = Fx::new().await;
    let id = id_of(
        &fx.create(
            "tg-7001",
            json!([{"sku": "PUMP-1", "quantity": 2}]),
            Some("stripe"),
        )
        .await,
    );
    let total = 2 * PUMP;
    fx.session_event(
        "evt_paid",
        "checkout.session.completed",
        &id,
        "paid",
        "pi_r",
        total,
    )
    .await;
    fx.drain().await;
    let cashback = total * 500 / 10_000;
    assert_eq!(fx.balance("tg-7001").await, cashback);

    // A partial refund: Stripe is asked, the order and the cashback follow.
    let part = total * 3 / 10;
    let refund = fx
        .api(
            "POST",
            &format!("/{id}/refund"),
            Some(json!({"amount_minor": part})),
        )
        .await;
    assert_eq!(refund.status, StatusCode::OK, "{}", refund.body);
    assert_eq!(refund.body["route"], "provider");
    assert_eq!(refund.body["order"]["payment_status"], "partially_refunded");
    assert_eq!(refund.body["order"]["refunded_minor"], part);
    let refunds = fx.stripe.forms("/v1/refunds");
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0]["payment_intent"], "pi_r");
    assert_eq!(refunds[0]["amount"], part.to_string());
    let key = fx
        .stripe
        .requests()
        .iter()
        .rev()
        .find(|r| r.path == "/v1/refunds")
        .unwrap()
        .headers["idempotency-key"]
        .clone();
    assert_eq!(key, format!("refund:{id}:pi_r:{part}"));
    // Stripe's own report of that refund, delivered 10 times, changes nothing more.
    for _ in 0..10 {
        let report = fx
            .stripe_event(
                "evt_refund_1",
                "charge.refunded",
                FakeStripe::charge("pi_r", total, part, None),
            )
            .await;
        assert_eq!(report.status, StatusCode::OK, "{}", report.body);
        assert_eq!(report.body["result"], "duplicate");
    }
    fx.drain().await;
    let after_part = cashback - cashback * 3 / 10;
    assert_eq!(fx.balance("tg-7001").await, after_part);

    // The rest, refunded from Stripe's dashboard: only its report arrives.
    let report = fx
        .stripe_event(
            "evt_refund_2",
            "charge.refunded",
            FakeStripe::charge("pi_r", total, total, Some(&id)),
        )
        .await;
    assert_eq!(report.body["result"], "applied");
    assert_eq!(report.body["payment_status"], "refunded");
    fx.drain().await;
    assert_eq!(
        fx.balance("tg-7001").await,
        0,
        "every point of cashback taken back"
    );
    let order = fx.order(&id).await;
    assert_eq!(order.refunded_minor, total);
    let refund = fx
        .api("POST", &format!("/{id}/refund"), Some(json!({})))
        .await;
    assert_eq!(
        refund.status,
        StatusCode::CONFLICT,
        "nothing left: {}",
        refund.body
    );
    let counters = fx.counters().await;
    assert_eq!(counters.get(metric::ORDERS_REFUNDS), Some(&2));
    assert_eq!(counters.get(metric::ORDERS_REFUNDED_MINOR), Some(&total));
    let (_, messages) = fx.outbox().await;
    let told: Vec<&CustomerMessage> = messages
        .iter()
        .filter(|m| m.id.starts_with(&format!("refund:{id}:")))
        .collect();
    assert_eq!(told.len(), 2, "{told:?}");
    // A refund of a payment Sauda does not know: acknowledged and counted.
    let stray = fx
        .stripe_event(
            "evt_stray",
            "charge.refunded",
            FakeStripe::charge("pi_nowhere", 100, 100, None),
        )
        .await;
    assert_eq!(stray.body["result"], "unknown_order");
}

#[tokio::test]
async fn stars_are_refunded_whole_with_refund_star_payment() {
    let fx = Fx::with(|c| {
        configure(c);
        c.orders.currency = "XTR".into();
        c.orders.providers = vec![Provider::TelegramStars];
        c.loyalty.enabled = false;
    })
    .await;
    // A digital good listed at 50 (50.00, as catalogs keep prices): 50 stars.
    let mut ebook = catalog_item("EBOOK", "E-book", 5_000);
    ebook.currency = Some("XTR".into());
    fx.env.install_catalog_items(&fx.tenant, &[ebook]).await;
    let id = id_of(
        &fx.create(
            "tg-7001",
            json!([{"sku": "EBOOK", "quantity": 1}]),
            Some("telegram_stars"),
        )
        .await,
    );
    let invoice = fx
        .telegram
        .requests()
        .iter()
        .find(|r| r.path.ends_with("/sendInvoice"))
        .unwrap()
        .json();
    assert_eq!(invoice["currency"], "XTR");
    assert_eq!(invoice["provider_token"], "");
    assert_eq!(invoice["prices"].as_array().unwrap().len(), 1);
    assert_eq!(invoice["prices"][0]["amount"], 50);
    fx.telegram_update(successful_payment(1, &id, 50, "XTR", "stx-1"))
        .await;
    let partial = fx
        .api(
            "POST",
            &format!("/{id}/refund"),
            Some(json!({"amount_minor": 10})),
        )
        .await;
    assert_eq!(
        partial.body["error"]["code"],
        "partial_refund_not_supported"
    );
    let refund = fx.api("POST", &format!("/{id}/refund"), None).await;
    assert_eq!(refund.status, StatusCode::OK, "{}", refund.body);
    assert_eq!(refund.body["order"]["payment_status"], "refunded");
    let call = fx
        .telegram
        .requests()
        .iter()
        .find(|r| r.path.ends_with("/refundStarPayment"))
        .unwrap()
        .json();
    assert_eq!(
        call,
        json!({"user_id": 7001, "telegram_payment_charge_id": "stx-1"})
    );
    // Telegram's `refunded_payment` message about it changes nothing more.
    let update = json!({"update_id": 9, "message": {"message_id": 9, "date": 1, "chat": {"id": 7001, "type": "private"},
        "refunded_payment": {"currency": "XTR", "total_amount": 50, "invoice_payload": id, "telegram_payment_charge_id": "stx-1"}}});
    let answer = fx.telegram_update(update).await;
    assert_eq!(answer.body["result"], "duplicate");
    assert_eq!(fx.ledger(&id).await.len(), 2);
}

// ---- Kaspi -----------------------------------------------------------------------------------

#[tokio::test]
async fn a_kaspi_poll_racing_a_pushed_notification_confirms_once() {
    let fx = Fx::new().await;
    let order = fx
        .create(
            "wa-77011234567",
            json!([{"sku": "PUMP-1", "quantity": 1}]),
            Some("kaspi"),
        )
        .await;
    let id = id_of(&order);
    assert!(order["invoice"]["url"]
        .as_str()
        .unwrap()
        .starts_with("https://pay.kaspi.kz/pay/"));
    let created = fx
        .kaspi
        .requests()
        .into_iter()
        .find(|r| r.path == "/v01/qr/create-link")
        .unwrap();
    assert_eq!(created.json()["ExternalId"], id.as_str());
    assert_eq!(created.json()["Amount"], 45000.0);
    // The first poll was queued with Kaspi's polling interval as its delay.
    let polls: Vec<(OrderJob, i32)> = fx
        .jobs
        .sent
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(e, d)| match &e.job {
            Job::Order {
                job: job @ OrderJob::KaspiPoll { .. },
            } => Some((job.clone(), *d)),
            _ => None,
        })
        .collect();
    assert_eq!(polls.len(), 1);
    assert_eq!(polls[0].1, 2);
    let OrderJob::KaspiPoll { qr_payment_id, .. } = &polls[0].0 else {
        panic!()
    };

    // Still waiting: polled again later, with the same delay.
    let poll_body = Envelope::order(fx.tenant.clone(), polls[0].0.clone()).to_json();
    let response = orders::worker::handle_sqs(
        &fx.orders,
        fx.env
            .sqs_event_on("PaymentsQueue", std::slice::from_ref(&poll_body)),
    )
    .await;
    assert!(failed_ids(&response).is_empty());
    assert_eq!(fx.jobs.sent.lock().unwrap().last().unwrap().1, 2);

    // Paid: the poll and the aggregator's push arrive together.
    fx.kaspi.set_status(
        qr_payment_id,
        json!({"Status": "Processed", "Amount": 45000}),
    );
    let secret = fx
        .secrets
        .kaspi_webhook_secret
        .as_ref()
        .unwrap()
        .expose()
        .to_owned();
    let (push, signature) = FakeKaspi::notification(
        &secret,
        "payment.processed",
        qr_payment_id,
        &id,
        "45000.00",
        fx.now_ms() / 1000,
    );
    let event = fx
        .env
        .sqs_event_on("PaymentsQueue", std::slice::from_ref(&poll_body));
    let (polled, pushed) = tokio::join!(
        orders::worker::handle_sqs(&fx.orders, event),
        fx.kaspi_post(&push, Some(&signature)),
    );
    assert!(failed_ids(&polled).is_empty());
    assert_eq!(pushed.status, StatusCode::OK, "{}", pushed.body);
    for _ in 0..9 {
        let again = fx.kaspi_post(&push, Some(&signature)).await;
        assert_eq!(again.body["result"], "duplicate");
    }
    let order = fx.order(&id).await;
    assert_eq!(order.payment_status.as_str(), "paid");
    assert_eq!(order.payments.len(), 1);
    assert_eq!(fx.ledger(&id).await.len(), 1);
    assert_eq!(fx.counters().await.get(metric::ORDERS_PAID), Some(&1));
    fx.drain().await;
    let (notices, _) = fx.outbox().await;
    assert!(
        notices.iter().all(|n| n.id == format!("order:{id}:paid")),
        "one card id"
    );
    assert!(!notices.is_empty());

    // Pushes that are not the aggregator's: 401, nothing applied.
    let (body, good) = FakeKaspi::notification(
        &secret,
        "payment.failed",
        qr_payment_id,
        &id,
        "0",
        fx.now_ms() / 1000,
    );
    assert_eq!(
        fx.kaspi_post(&body, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        fx.kaspi_post(&body, Some("00ff")).await.status,
        StatusCode::UNAUTHORIZED
    );
    let (old, old_sig) = FakeKaspi::notification(
        &secret,
        "payment.failed",
        qr_payment_id,
        &id,
        "0",
        fx.now_ms() / 1000 - 301,
    );
    let stale = fx.kaspi_post(&old, Some(&old_sig)).await;
    assert_eq!(stale.status, StatusCode::UNAUTHORIZED);
    let malformed = r#"{"event":"payment.processed"}"#;
    let sig = hex::encode(sauda_shared::signature::hmac_sha256(
        secret.as_bytes(),
        &[malformed.as_bytes()],
    ));
    let bad = fx.kaspi_post(malformed, Some(&sig)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["error"]["code"], "invalid_payload");
    // A failure of a paid order's attempt changes nothing.
    let ignored = fx.kaspi_post(&body, Some(&good)).await;
    assert_eq!(ignored.body["result"], "ignored");
    assert_eq!(fx.order(&id).await.payment_status.as_str(), "paid");

    // Refunds go back through Kaspi.
    let refund = fx
        .api(
            "POST",
            &format!("/{id}/refund"),
            Some(json!({"amount_minor": 1_000_000})),
        )
        .await;
    assert_eq!(refund.status, StatusCode::OK, "{}", refund.body);
    let ret = fx
        .kaspi
        .requests()
        .into_iter()
        .find(|r| r.path == "/v01/payment/return")
        .unwrap();
    assert_eq!(ret.json()["QrPaymentId"], qr_payment_id.as_str());
    assert_eq!(ret.json()["ReturnAmount"], 10000.0);
}

#[tokio::test]
async fn a_kaspi_link_that_lapses_unpaid_fails_the_attempt() {
    let fx = Fx::new().await;
    fx.kaspi.set_link_lifetime(1);
    let id = id_of(
        &fx.create(
            "tg-7001",
            json!([{"sku": "FILTER-2", "quantity": 1}]),
            Some("kaspi"),
        )
        .await,
    );
    let poll = fx
        .jobs
        .sent
        .lock()
        .unwrap()
        .iter()
        .find_map(|(e, _)| match &e.job {
            Job::Order {
                job: job @ OrderJob::KaspiPoll { .. },
            } => Some(job.clone()),
            _ => None,
        })
        .unwrap();
    fx.shift.store(10_000, Ordering::SeqCst);
    let body = Envelope::order(fx.tenant.clone(), poll).to_json();
    let response =
        orders::worker::handle_sqs(&fx.orders, fx.env.sqs_event_on("PaymentsQueue", &[body])).await;
    assert!(failed_ids(&response).is_empty());
    let order = fx.order(&id).await;
    assert_eq!(order.payment_status.as_str(), "failed");
    assert!(
        order.payable_at(fx.now_ms()).is_ok(),
        "a new invoice may follow"
    );
}

// ---- Agent and button orders ---------------------------------------------------------------

#[tokio::test]
async fn an_order_job_is_created_once_and_invoiced() {
    let fx = Fx::new().await;
    let request = OrderRequest {
        order_id: Some(orders::domain::stable_order_id(
            1_795_000_000_000,
            "agent:tg-7001:42",
        )),
        customer: Customer {
            contact: "tg-7001".into(),
            channel: Channel::Telegram,
            reply_to: "7001".into(),
            language: Some("kk".into()),
        },
        items: vec![LineRequest {
            sku: "PUMP-1".into(),
            quantity: 1,
        }],
        source: OrderSource::Agent,
        actor: "agent".into(),
        catalog_version: None,
        delivery: None,
    };
    let job = Envelope::order(
        fx.tenant.clone(),
        OrderJob::Create {
            request: request.clone(),
            provider: None,
        },
    )
    .to_json();
    for _ in 0..3 {
        let response = orders::worker::handle_sqs(
            &fx.orders,
            fx.env
                .sqs_event_on("PaymentsQueue", std::slice::from_ref(&job)),
        )
        .await;
        assert!(failed_ids(&response).is_empty());
    }
    let order = fx.order(request.order_id.as_deref().unwrap()).await;
    assert_eq!(order.total_minor, PUMP, "priced from the catalog");
    assert_eq!(order.payment_status.as_str(), "pending");
    let invoices = fx
        .telegram
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/sendInvoice"))
        .count();
    assert_eq!(invoices, 1, "one invoice however often the job runs");
    let invoice = fx
        .telegram
        .requests()
        .iter()
        .find(|r| r.path.ends_with("/sendInvoice"))
        .unwrap()
        .json();
    assert!(
        invoice["title"].as_str().unwrap().starts_with("Тапсырыс"),
        "in Kazakh: {}",
        invoice["title"]
    );
    let counters = fx.counters().await;
    assert_eq!(counters.get(metric::ORDERS_PLACED), Some(&1));
    // A job naming an unknown SKU is poison: dead-lettered at once, never retried.
    let mut bad = request;
    bad.order_id = None;
    bad.items[0].sku = "NOPE".into();
    let body = Envelope::order(
        fx.tenant.clone(),
        OrderJob::Create {
            request: bad,
            provider: None,
        },
    )
    .to_json();
    let response =
        orders::worker::handle_sqs(&fx.orders, fx.env.sqs_event_on("PaymentsQueue", &[body])).await;
    assert!(failed_ids(&response).is_empty(), "poison is acknowledged");
    assert_eq!(fx.env.receive_all("PaymentsDeadLetterQueue").await.len(), 1);
}

// ---- The manager API -------------------------------------------------------------------------

#[tokio::test]
async fn managers_list_show_cancel_and_fulfil_with_every_action_recorded() {
    let fx = Fx::new().await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let o = fx
            .create(
                &format!("tg-70{n}"),
                json!([{"sku": "FILTER-2", "quantity": n + 1}]),
                None,
            )
            .await;
        ids.push(id_of(&o));
    }
    // Newest change first, two per page, the cursor bound to the listing.
    let page = fx.api("GET", "?status=placed&limit=2", None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let first: Vec<String> = page.body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(first, [ids[2].clone(), ids[1].clone()]);
    let cursor = page.body["next_cursor"].as_str().unwrap().to_owned();
    let next = fx
        .api(
            "GET",
            &format!("?status=placed&limit=2&cursor={cursor}"),
            None,
        )
        .await;
    let rest: Vec<String> = next.body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(rest, [ids[0].clone()]);
    let reused = fx
        .api("GET", &format!("?status=canceled&cursor={cursor}"), None)
        .await;
    assert_eq!(reused.status, StatusCode::BAD_REQUEST);
    assert_eq!(reused.body["error"]["code"], "invalid_cursor");

    let canceled = fx
        .api(
            "POST",
            &format!("/{}/cancel", ids[0]),
            Some(json!({"reason": "customer changed mind"})),
        )
        .await;
    assert_eq!(canceled.status, StatusCode::OK, "{}", canceled.body);
    assert_eq!(canceled.body["status"], "canceled");
    let listed = fx.api("GET", "?status=canceled", None).await;
    assert_eq!(listed.body["orders"].as_array().unwrap().len(), 1);
    let again = fx.api("POST", &format!("/{}/cancel", ids[0]), None).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.body["error"]["code"], "transition_not_allowed");

    fx.telegram_update(successful_payment(1, &ids[1], 2 * FILTER, "KZT", "c1"))
        .await;
    let cancel_paid = fx.api("POST", &format!("/{}/cancel", ids[1]), None).await;
    assert_eq!(
        cancel_paid.status,
        StatusCode::CONFLICT,
        "a paid order is refunded, not canceled"
    );
    let fulfilled = fx
        .api(
            "POST",
            &format!("/{}/fulfil", ids[1]),
            Some(json!({"status": "fulfilled"})),
        )
        .await;
    assert_eq!(fulfilled.body["fulfillment_status"], "fulfilled");
    let delivered = fx
        .api(
            "POST",
            &format!("/{}/fulfil", ids[1]),
            Some(json!({"status": "delivered"})),
        )
        .await;
    assert_eq!(delivered.body["status"], "completed");

    let detail = fx.api("GET", &format!("/{}", ids[1]), None).await;
    let actions: Vec<&str> = detail.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["placed", "paid", "fulfilled", "delivered"]);
    let actors: Vec<&str> = detail.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["actor"].as_str().unwrap())
        .collect();
    assert!(
        actors[0].starts_with("manager:") && actors[2].starts_with("manager:"),
        "{actors:?}"
    );
    assert_eq!(actors[1], "provider:telegram");
    assert_eq!(detail.body["payment_events"][0]["event"], "paid");

    // Bad input: stable codes, never a 5xx.
    let cases = [
        (
            "POST",
            "",
            Some(json!({"contact_id": "tg-1", "items": []})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "order_lines_required",
        ),
        (
            "POST",
            "",
            Some(json!({"contact_id": "tg-1", "items": [{"sku": "NOPE", "quantity": 1}]})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "item_not_found",
        ),
        (
            "POST",
            "",
            Some(json!({"contact_id": "tg-1", "items": [{"sku": "PUMP-1", "quantity": 0}]})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "quantity_out_of_range",
        ),
        (
            "POST",
            "",
            Some(json!({"contact_id": "vk-1", "items": [{"sku": "PUMP-1", "quantity": 1}]})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_contact_id",
        ),
        (
            "POST",
            "",
            Some(
                json!({"contact_id": "tg-1", "items": [{"sku": "PUMP-1", "quantity": 1, "price": 1}]}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "GET",
            "?status=lost",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_status",
        ),
        (
            "GET",
            "?limit=0",
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_limit",
        ),
        (
            "GET",
            "/NOSUCH",
            None,
            StatusCode::NOT_FOUND,
            "order_not_found",
        ),
        (
            "GET",
            "/a%23b",
            None,
            StatusCode::NOT_FOUND,
            "order_not_found",
        ),
        (
            "POST",
            &format!("/{}/fulfil", ids[2]),
            Some(json!({"status": "unfulfilled"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_status",
        ),
        (
            "POST",
            &format!("/{}/refund", ids[2]),
            Some(json!({"amount_minor": 5})),
            StatusCode::CONFLICT,
            "transition_not_allowed",
        ),
        (
            "POST",
            &format!("/{}/invoice", ids[2]),
            Some(json!({"provider": "telegram_stars"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_payment_provider",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let a = fx.api(method, path, body).await;
        assert_eq!(
            (a.status, a.body["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {path}: {}",
            a.body
        );
    }
    let malformed = fx.api_as(&fx.tenant, &fx.key, "POST", "", None).await;
    assert_eq!(malformed.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Another tenant's key is not a key here; its own route does not see this order.
    let b = fx.env.tenant_with(configure, secrets_for("b")).await;
    let b_key = ApiKeyStore::new(fx.env.clients.dynamo.clone(), &fx.env.stack.table)
        .issue(&b, Role::Manager, "b")
        .await
        .unwrap()
        .presented
        .expose()
        .to_owned();
    let foreign = fx.api_as(&fx.tenant, &b_key, "GET", "", None).await;
    assert_eq!(foreign.status, StatusCode::UNAUTHORIZED);
    let cross = fx
        .api_as(&b, &b_key, "GET", &format!("/{}", ids[1]), None)
        .await;
    assert_eq!(cross.status, StatusCode::NOT_FOUND);
    let listed = fx.api_as(&b, &b_key, "GET", "", None).await;
    assert_eq!(listed.body["orders"], json!([]));
    let none = fx.api_as(&fx.tenant, "", "GET", "", None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);

    // A retried create with the same Idempotency-Key makes one order.
    let request = |key: &str| {
        Request::post(format!("/t/{}/orders", fx.tenant))
            .header("authorization", format!("Bearer {}", fx.key))
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(Body::from(
                json!({"contact_id": "tg-9", "items": [{"sku": "PUMP-1", "quantity": 1}]})
                    .to_string(),
            ))
            .unwrap()
    };
    let a = Fx::send(
        orders::routes::router(fx.orders.clone()),
        request("order-77"),
    )
    .await;
    let b = Fx::send(
        orders::routes::router(fx.orders.clone()),
        request("order-77"),
    )
    .await;
    assert_eq!((a.status, b.status), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(a.body["order_id"], b.body["order_id"]);
}

/// `sauda telegram set-webhook` subscribes to what payments need: without
/// `pre_checkout_query` Telegram never asks, and every payment times out.
#[tokio::test]
async fn set_webhook_subscribes_to_pre_checkout_queries() {
    let telegram = FakeServer::start().await;
    sauda_infra::tenant::set_telegram_webhook(
        &reqwest::Client::new(),
        &telegram.base_url,
        &Secret::new("1:bot"),
        "https://api.example/t/acme/telegram",
        &Secret::new("token"),
    )
    .await
    .unwrap();
    let call = telegram.requests().remove(0);
    assert_eq!(call.path, "/bot1:bot/setWebhook");
    assert_eq!(
        call.json()["allowed_updates"],
        json!([
            "message",
            "edited_message",
            "callback_query",
            "pre_checkout_query"
        ])
    );
}

const OPERATOR_CHAT: i64 = 4242;

/// Orders per month are a soft limit: a buyer past the plan's orders still buys; the
/// managers get the 80 % and 100 % warnings once each, the operator is told once, and
/// the month's usage flags the tenant as over its plan.
#[tokio::test]
async fn orders_past_the_plan_are_placed_flagged_and_warned_once_per_period() {
    let fx = Fx::with(|c| {
        configure(c);
        c.plan.id = sauda_shared::limits::PlanId::Free;
        c.plan.overrides.orders_per_month = Some(5);
    })
    .await;
    let mut kinds = Vec::new();
    for n in 1..=7 {
        let order = fx
            .create(
                &format!("tg-{n}"),
                json!([{"sku": "FILTER-2", "quantity": 1}]),
                None,
            )
            .await;
        assert_eq!(order["status"], "placed", "order {n} is never refused");
        let (notices, _) = fx.outbox().await;
        kinds.push(
            notices
                .iter()
                .filter(|n| n.kind.starts_with("plan_"))
                .map(|n| (n.kind.clone(), n.to.clone(), n.html.contains("5")))
                .collect::<Vec<_>>(),
        );
    }
    use sauda_shared::notify::Recipients;
    let managers = |kind: &str| (kind.to_owned(), Recipients::Managers, true);
    assert_eq!(
        kinds,
        vec![
            vec![],
            vec![],
            vec![],
            vec![managers("plan_limit")],
            vec![
                managers("plan_limit"),
                (
                    "plan_over".to_owned(),
                    Recipients::Chats(vec![OPERATOR_CHAT]),
                    true
                ),
            ],
            vec![],
            vec![],
        ],
        "80 % at the 4th order, 100 % at the 5th, nothing after"
    );
    let month = sauda_shared::limits::month_of(
        &sauda_infra::tenant::read_config(&fx.env.clients.dynamo, &fx.env.stack.table, &fx.tenant)
            .await
            .unwrap(),
        fx.now_ms(),
    );
    let usage = sauda_shared::limits_dynamo::DynamoUsage::new(
        fx.env.clients.dynamo.clone(),
        &fx.env.stack.table,
    );
    let used = sauda_shared::limits::UsageStore::month(&usage, &fx.tenant, &month)
        .await
        .unwrap();
    assert_eq!(used.orders, 7);
    assert!(used.over(sauda_shared::limits::Metric::OrdersPerMonth));
    assert!(used.warned(sauda_shared::limits::Metric::OrdersPerMonth, 80));
}

#[tokio::test]
async fn a_paid_order_queues_one_nps_survey_that_agent_reply_sends_once() {
    use sauda_shared::i18n::{partner_chat as nps_texts, Lang};
    use sauda_tests::chat_env::{agent_config, Fakes};
    let fx = Fx::with(|c| {
        configure(c);
        // Surveys any time of day: this test is about the path, not the window.
        c.loyalty.nps_window = sauda_shared::tenant::NpsWindow {
            from_hour: 0,
            to_hour: 24,
        };
    })
    .await;
    let order = fx
        .create(
            "tg-7001",
            json!([{"sku": "PUMP-1", "quantity": 1}]),
            Some("telegram"),
        )
        .await;
    let id = id_of(&order);
    let paid = fx
        .telegram_update(successful_payment(3, &id, PUMP, "KZT", "tg-charge-1"))
        .await;
    assert_eq!(paid.body["result"], "applied");

    // The payments worker, with inbound.fifo for surveys.
    let (deps, _) = Fx::orders_deps(
        &fx.env,
        &fx.env.clients,
        &fx.telegram,
        &fx.stripe,
        &fx.kaspi,
        &fx.shift,
    );
    let mut deps = Arc::try_unwrap(deps).ok().expect("the only handle");
    deps.surveys = Some(Arc::new(sauda_shared::aws::SqsJobQueue::new(
        fx.env.clients.sqs.clone(),
        fx.env.queue_url("InboundQueue"),
    )));
    let bodies: Vec<String> = fx
        .env
        .receive_all("PaymentsQueue")
        .await
        .iter()
        .map(|m| m.body().unwrap().to_owned())
        .collect();
    assert_eq!(bodies.len(), 1);
    fx.env.counter.reset();
    let response =
        orders::worker::handle_sqs(&deps, fx.env.sqs_event_on("PaymentsQueue", &bodies)).await;
    assert!(failed_ids(&response).is_empty(), "{response:?}");
    let sends = fx
        .env
        .counter
        .snapshot()
        .into_iter()
        .find(|(k, _)| k == "SQS.SendMessage")
        .map(|(_, n)| n);
    // The receipt, the managers' card, the survey due.
    assert_eq!(sends, Some(3));
    let jobs = fx.env.receive_all("InboundQueue").await;
    assert_eq!(jobs.len(), 1, "one survey per paid order");
    let body = jobs[0].body().unwrap().to_owned();
    let Job::NpsDue { due } = Envelope::from_json(&body).unwrap().job else {
        panic!("an NpsDue job");
    };
    assert_eq!(
        (
            due.contact.as_str(),
            due.partner_id.as_str(),
            due.purchase_ref.as_str()
        ),
        ("tg-7001", PARTNER, id.as_str())
    );

    // agent-reply sends it; the job redelivered sends nothing more.
    let fakes = Fakes::start().await;
    let agent = agent_reply::Deps::from_aws(&fx.env.clients, &agent_config(&fx.env, &fakes));
    for _ in 0..2 {
        let event = fx
            .env
            .sqs_event_on("InboundQueue", std::slice::from_ref(&body));
        let response = agent_reply::handle(&agent, sauda_tests::lambda_event(event))
            .await
            .unwrap();
        assert!(failed_ids(&response).is_empty());
    }
    let ask = nps_texts::NPS_ASK.render(Lang::Ru, &[("partner", &"Shop")]);
    let surveys: Vec<_> = fakes
        .to_chat(7001)
        .into_iter()
        .filter(|s| s.text == ask)
        .collect();
    assert_eq!(surveys.len(), 1);
    assert_eq!(surveys[0].buttons.len(), 11, "0-10");
}
