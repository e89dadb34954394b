//! The web form's latency and AWS calls per lead, against the local emulator.
//!
//! ```text
//! AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
//!   AWS_REGION=us-east-1 cargo bench -p lead-capture --bench form
//! ```
//! (`infra/bench/leads.sh` starts its own emulator and runs this.)
//!
//! The `lead-api` router runs in process, exactly as `lambda_http` drives it, against
//! moto: tenant lookup (cached after the first request), the per-IP rate limit, the
//! capture transaction and the notice on the notify queue. Figures: p50/p95/p99 per
//! request for a new lead and for a repeat submission (the merge path), and the exact
//! AWS calls per request.
//!
//! Not criterion's sampling: moto's `TransactWriteItems` deep-copies the whole table for
//! every action, so its cost grows with the table and an open-ended number of iterations
//! would measure moto's growth (and its memory) rather than the form. So a fixed number of
//! requests (`LEADS_BENCH_SAMPLES`, default 200) runs in rounds of 25 on fresh tables: a
//! small tenant's table, as it stays on DynamoDB whatever its size. The AWS call counts
//! are exact and hold on AWS.

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequestContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use axum::body::Body;
use http::Request;
use lambda_http::request::RequestContext;
use lead_capture::{api, Deps, LeadsConfig};
use sauda_shared::aws::{load_sdk_config, AwsCallCounter, AwsClients};
use sauda_shared::config::CoreConfig;
use sauda_shared::tenant::{ConfigItem, Manager, RegistryEntry, TenantConfig};
use sauda_shared::TenantId;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

const ORIGIN: &str = "https://bench.example";

struct Bench {
    router: axum::Router,
    tenant: TenantId,
    next: AtomicU64,
}

impl Bench {
    fn request(&self, phone: u64) -> Request<Body> {
        // A different message each time: a repeat is a merge, not an idempotent replay.
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let body = serde_json::json!({
            "name": "Bench Customer", "phone": format!("+7701{phone:07}"),
            "message": format!("A tour for two in June (#{n})"), "source": "bench", "consent": true,
        });
        let mut request = Request::post(format!("/t/{}/leads", self.tenant))
            .header("content-type", "application/json")
            .header("origin", ORIGIN)
            .body(Body::from(body.to_string()))
            .expect("request builds");
        let mut ctx = ApiGatewayV2httpRequestContext::default();
        ctx.http.source_ip = Some(format!("10.{}.{}.{}", phone % 200, (phone / 200) % 200, 7));
        request
            .extensions_mut()
            .insert(RequestContext::ApiGatewayV2(ctx));
        request
    }

    async fn submit(&self, phone: u64) -> Duration {
        let request = self.request(phone);
        let started = Instant::now();
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router answers");
        let elapsed = started.elapsed();
        if response.status() != http::StatusCode::ACCEPTED {
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
                .await
                .unwrap_or_default();
            panic!(
                "the form answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        elapsed
    }

    fn fresh_phone(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
}

/// A private table and queues, shaped like `template.yaml`'s, and one tenant.
async fn setup(clients: &AwsClients, stage: &str) -> (LeadsConfig, TenantId) {
    let table = format!("sauda-{stage}");
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute")
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .expect("key")
    };
    clients
        .dynamo
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(vec![
            attr("PK"),
            attr("SK"),
            attr("GSI1PK"),
            attr("GSI1SK"),
        ]))
        .key_schema(key("PK", KeyType::Hash))
        .key_schema(key("SK", KeyType::Range))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("GSI1")
                .key_schema(key("GSI1PK", KeyType::Hash))
                .key_schema(key("GSI1SK", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .expect("index"),
        )
        .send()
        .await
        .expect("create the table on the emulator");
    let mut urls = Vec::new();
    for name in ["notify", "crm", "leads"] {
        let out = clients
            .sqs
            .create_queue()
            .queue_name(format!("sauda-{stage}-{name}"))
            .send()
            .await
            .expect("create a queue");
        urls.push(out.queue_url.unwrap_or_default());
    }
    let tenant = TenantId::parse("bench-tours").expect("tenant id");
    let mut config = TenantConfig::new(tenant.clone(), "Bench Tours");
    config.leads.allowed_origins = vec![ORIGIN.to_owned()];
    config.leads.form_rate_limit_per_hour = 1_000_000;
    config.managers = vec![Manager {
        chat_id: 1,
        name: "bench".into(),
    }];
    for item in [
        serde_dynamo::to_item(ConfigItem::new(config.clone())).expect("config item"),
        serde_dynamo::to_item(RegistryEntry::from_config(&config)).expect("registry item"),
    ] {
        clients
            .dynamo
            .put_item()
            .table_name(&table)
            .set_item(Some(item))
            .send()
            .await
            .expect("put the tenant");
    }
    let config = LeadsConfig {
        core: CoreConfig {
            stage: stage.to_owned(),
            table_name: table,
        },
        notify_queue_url: urls[0].clone(),
        crm_queue_url: urls[1].clone(),
        leads_queue_url: urls[2].clone(),
    };
    (config, tenant)
}

fn quantile(values: &[Duration], q: f64) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// A fresh table, queues and router: moto's transaction cost grows with the table.
async fn fresh_bench(clients: &AwsClients, next: u64) -> Bench {
    let stage = format!(
        "bench{}",
        &ulid::Ulid::new().to_string().to_ascii_lowercase()[18..]
    );
    let (config, tenant) = setup(clients, &stage).await;
    let deps = Arc::new(Deps::from_aws(clients, &config));
    let bench = Bench {
        router: api::router(deps),
        tenant,
        next: AtomicU64::new(next),
    };
    // Warm: the tenant config cache and the connection pool.
    for _ in 0..2 {
        bench.submit(bench.fresh_phone()).await;
    }
    bench
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    calls: std::collections::BTreeMap<String, usize>,
}

impl Tally {
    fn add_calls(&mut self, counter: &AwsCallCounter) {
        for (op, n) in counter.snapshot() {
            *self.calls.entry(op).or_default() += n;
        }
    }

    fn row(&self, label: &str) -> String {
        let n = self.latencies.len().max(1) as f64;
        let total: usize = self.calls.values().sum();
        let per_op: Vec<String> = self
            .calls
            .iter()
            .map(|(op, c)| format!("{op} {:.2}", *c as f64 / n))
            .collect();
        format!(
            "| {label} | {} | {} | {} | {:.2} ({}) |",
            ms(quantile(&self.latencies, 0.5)),
            ms(quantile(&self.latencies, 0.95)),
            ms(quantile(&self.latencies, 0.99)),
            total as f64 / n,
            per_op.join(", ")
        )
    }
}

/// Requests per fresh table: enough to be warm, few enough that moto's table copies stay small.
const PER_TABLE: usize = 25;

fn main() {
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        eprintln!("form bench skipped: it runs against the local emulator; set AWS_ENDPOINT_URL (infra/bench/leads.sh does)");
        return;
    }
    // Warnings (a failing dependency, say) explain a refused request.
    lambda_runtime::tracing::init_default_subscriber();
    let samples: usize = std::env::var("LEADS_BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let sdk = load_sdk_config().await;
        let counter = AwsCallCounter::default();
        let clients = AwsClients::counted(&sdk, &counter);
        let (mut new_leads, mut repeats) = (Tally::default(), Tally::default());
        let mut next = 1;
        while new_leads.latencies.len() < samples {
            let bench = fresh_bench(&clients, next).await;
            counter.reset();
            for _ in 0..PER_TABLE {
                let phone = bench.fresh_phone();
                new_leads.latencies.push(bench.submit(phone).await);
            }
            new_leads.add_calls(&counter);
            // The same customer again and again: the merge path.
            let repeated = bench.fresh_phone();
            bench.submit(repeated).await;
            counter.reset();
            for _ in 0..PER_TABLE {
                repeats.latencies.push(bench.submit(repeated).await);
            }
            repeats.add_calls(&counter);
            next = bench.next.load(Ordering::Relaxed);
        }
        println!(
            "\n| form POST ({} sequential requests each, {PER_TABLE} per fresh table) | p50 | p95 | p99 | AWS calls per request |",
            new_leads.latencies.len()
        );
        println!("|---|---|---|---|---|");
        println!("{}", new_leads.row("new lead"));
        println!("{}", repeats.row("repeat submission (merge)"));
        println!();
    });
}
