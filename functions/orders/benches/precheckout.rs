//! Telegram's `pre_checkout_query`, answered in process against the local emulator:
//! the payment update parsed, the order read (one GetItem), the answer built — what
//! the webhook does between verifying the secret token (cached) and replying. Telegram
//! cancels the payment if no answer comes within 10 s.
//!
//! `AWS_ENDPOINT_URL=http://127.0.0.1:PORT cargo bench -p orders --bench precheckout`
//! (or `make bench SECTIONS=orders`). Prints p50/p99/max over 2,000 answers and the AWS
//! calls per answer. It provisions its own stage from `template.yaml`.

use orders::domain;
use orders::dynamo::DynamoOrders;
use orders::providers::telegram::{parse_update, PaymentUpdate};
use orders::store::OrderStore;
use orders::webhooks::pre_checkout;
use sauda_shared::aws::{AwsCallCounter, AwsClients};
use sauda_shared::message::Channel;
use sauda_shared::order::{Customer, LineRequest, Order, OrderRequest, OrderSource};
use sauda_shared::tenant::TenantConfig;
use sauda_shared::TenantId;
use std::path::Path;
use std::time::{Duration, Instant};

const ANSWERS: usize = 2_000;
const WARMUP: usize = 50;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        eprintln!(
            "precheckout: set AWS_ENDPOINT_URL to a running moto (make bench SECTIONS=orders)"
        );
        return;
    }
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .load()
        .await;
    let counter = AwsCallCounter::default();
    let clients = AwsClients::counted(&sdk, &counter);
    let template = sauda_infra::template::Template::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml"),
    )
    .expect("template.yaml");
    let stage = format!("bench{}", sauda_shared::now_ms() % 1_000_000_000);
    let stack = sauda_infra::provision::provision(&clients, &template, &stage, "us-east-1")
        .await
        .expect("provision");
    let tenant = TenantId::parse("bench-shop").unwrap();
    let config = TenantConfig::new(tenant.clone(), "Bench shop");
    sauda_infra::tenant::create_tenant(&clients.dynamo, &stack.table, &config)
        .await
        .expect("tenant");
    let store = DynamoOrders::new(clients.dynamo.clone(), &stack.table);
    let now = sauda_shared::now_ms();
    let request = OrderRequest {
        order_id: None,
        customer: Customer {
            contact: "tg-7001".into(),
            channel: Channel::Telegram,
            reply_to: "7001".into(),
            language: Some("ru".into()),
        },
        items: vec![LineRequest {
            sku: "PUMP-1".into(),
            quantity: 1,
        }],
        source: OrderSource::Manager,
        actor: "bench".into(),
        catalog_version: None,
        delivery: None,
    };
    let (lines, total) = sauda_shared::order::price_lines(&request.items, |sku| {
        Some(sauda_shared::order::PricedItem {
            sku: sku.into(),
            name: "Pump".into(),
            price_minor: Some(4_500_000),
        })
    })
    .unwrap();
    let order_id = domain::new_order_id(now);
    let change = Order::draft(
        tenant.clone(),
        order_id.clone(),
        &request,
        lines,
        total,
        "KZT",
        now,
    )
    .place(now, 86_400_000, "bench")
    .unwrap();
    store
        .commit(&domain::placement(&tenant, "UTC", &change))
        .await
        .expect("order");

    let body = serde_json::json!({"update_id": 1, "pre_checkout_query": {
        "id": "q", "from": {"id": 7001, "is_bot": false, "first_name": "A", "language_code": "ru"},
        "currency": "KZT", "total_amount": total, "invoice_payload": order_id}})
    .to_string();
    let mut timings = Vec::with_capacity(ANSWERS);
    for i in 0..WARMUP + ANSWERS {
        if i == WARMUP {
            counter.reset();
        }
        let started = Instant::now();
        let Ok(Some(PaymentUpdate::PreCheckout(query))) = parse_update(body.as_bytes()) else {
            panic!("not a pre-checkout query")
        };
        let answer = pre_checkout(&store, &config, &query, sauda_shared::now_ms())
            .await
            .expect("answer");
        let bytes = serde_json::to_vec(&answer).unwrap();
        if i >= WARMUP {
            timings.push(started.elapsed());
        }
        assert!(answer["ok"] == true, "{answer}");
        assert!(!bytes.is_empty());
    }
    timings.sort();
    let calls = counter.snapshot();
    println!(
        "pre_checkout_query answer, in process against moto ({ANSWERS} answers): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; AWS calls per answer: {:?}",
        percentile(&timings, 0.50).as_secs_f64() * 1e3,
        percentile(&timings, 0.99).as_secs_f64() * 1e3,
        timings.last().unwrap().as_secs_f64() * 1e3,
        calls
            .iter()
            .map(|(k, v)| (k.as_str(), *v as f64 / ANSWERS as f64))
            .collect::<Vec<_>>(),
    );
}
