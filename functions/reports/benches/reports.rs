//! Report cost against traffic, and planner fan-out time, on the local emulator.
//!
//! `AWS_ENDPOINT_URL=http://127.0.0.1:PORT cargo bench -p reports --bench reports`
//!
//! 1. A month's report of a tenant with 1,000 and with 100,000 events (written as the
//!    producers write them: per-batch counter updates on tenant-local days): AWS calls
//!    and time per report. Reports read counters, so both should be about equal.
//! 2. The planner over 10,000 tenants that are all due at once (the worst case).
//!
//! It provisions its own table, bucket and queues (a private `bench-*` stage).

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PutRequest, ScalarAttributeType,
    WriteRequest,
};
use reports::period::Period;
use reports::report::{self, ReportContext};
use reports::{render, worker};
use sauda_shared::aws::{AwsCallCounter, AwsClients};
use sauda_shared::stats::{self, metric, CounterBatch, FirstOf};
use sauda_shared::tenant::{ConfigItem, RegistryEntry, ReportPeriodKind, TenantConfig};
use sauda_shared::TenantId;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ZONE: &str = "Asia/Almaty";

struct Stage {
    clients: AwsClients,
    counter: AwsCallCounter,
    table: String,
    bucket: String,
    notify_url: String,
    reports_url: String,
}

async fn provision() -> Stage {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .load()
        .await;
    let counter = AwsCallCounter::default();
    let clients = AwsClients::counted(&sdk, &counter);
    let stage = format!("bench-{}", sauda_shared::now_ms() % 1_000_000_000);
    let table = format!("sauda-{stage}");
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    clients
        .dynamo
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("PK", KeyType::Hash))
        .key_schema(key("SK", KeyType::Range))
        .attribute_definitions(attr("PK"))
        .attribute_definitions(attr("SK"))
        .send()
        .await
        .expect("create table (is AWS_ENDPOINT_URL a running moto?)");
    let bucket = format!("sauda-{stage}");
    clients
        .s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let queue = |name: String| {
        let sqs = clients.sqs.clone();
        async move {
            sqs.create_queue()
                .queue_name(name)
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap()
        }
    };
    let notify_url = queue(format!("sauda-{stage}-notify")).await;
    let reports_url = queue(format!("sauda-{stage}-reports")).await;
    counter.reset();
    Stage {
        clients,
        counter,
        table,
        bucket,
        notify_url,
        reports_url,
    }
}

async fn create_tenant(stage: &Stage, id: &str) -> TenantId {
    let tenant = TenantId::parse(id).unwrap();
    let mut config = TenantConfig::new(tenant.clone(), "Bench shop");
    config.timezone = ZONE.into();
    config.created_at_ms = 0;
    config.agent.monthly_budget_micros = Some(100_000_000);
    config.managers = vec![sauda_shared::tenant::Manager {
        chat_id: 1,
        name: "m".into(),
    }];
    stage
        .clients
        .dynamo
        .put_item()
        .table_name(&stage.table)
        .set_item(Some(
            serde_dynamo::to_item(ConfigItem::new(config)).unwrap(),
        ))
        .send()
        .await
        .unwrap();
    tenant
}

/// `events` spread over September and October, counted as the producers count them:
/// one `CounterBatch` per 100 events (an SQS batch's worth), flushed once.
async fn write_activity(stage: &Stage, tenant: &TenantId, events: u64) {
    let tz = jiff::tz::TimeZone::get(ZONE).unwrap();
    let october = Period::parse("2026-10").unwrap();
    let (from, to) = (
        october.previous().start(&tz).as_millisecond(),
        october.end(&tz).as_millisecond(),
    );
    let step = (to - from) / events as i64;
    let mut last_seen: HashMap<u64, i64> = HashMap::new();
    let mut batch = CounterBatch::default();
    for i in 0..events {
        let ts = from + step * i as i64;
        let day = stats::local_day(ZONE, ts);
        let d = batch.day(tenant, &day);
        let contact = (i * 7919) % (events / 10 + 1);
        match i % 10 {
            0..=4 => {
                let previous = last_seen.insert(contact, ts);
                d.add(metric::MESSAGES_IN, 1);
                FirstOf::between(ZONE, previous, ts).count(
                    d,
                    metric::CONVERSATIONS_DAY,
                    metric::CONVERSATIONS_WEEK,
                    metric::CONVERSATIONS_MONTH,
                );
            }
            5..=7 => {
                d.add(metric::MESSAGES_OUT, 1)
                    .add(metric::REPLIES_LLM, 1)
                    .add(&metric::latency_bucket(i % 5_000), 1)
                    .add(metric::AI_COST_MICROS, 300)
                    .add(metric::AI_PROMPT_TOKENS, 1_500);
            }
            8 => {
                let stage = sauda_shared::funnel::Stage::FUNNEL[(i as usize / 10) % 9];
                d.add(&metric::leads_entered(stage.as_str()), 1);
            }
            _ => {
                let partner = ["p1", "p2", "p3"][(i as usize / 10) % 3];
                d.add(metric::LOYALTY_ACCRUED, 50)
                    .add(&metric::partner(partner, "turnover_minor"), 100_000)
                    .add(&metric::partner(partner, "nps_count"), 1)
                    .add(&metric::partner(partner, "nps_sum"), (i % 11) as i64);
            }
        }
        if (i + 1) % 100 == 0 {
            std::mem::take(&mut batch)
                .flush(&stage.clients.dynamo, &stage.table, i / 100)
                .await
                .unwrap();
        }
    }
    batch
        .flush(&stage.clients.dynamo, &stage.table, events)
        .await
        .unwrap();
}

/// How many day×shard counter items exist for these days (what a report reads).
async fn shard_items(stage: &Stage, tenant: &TenantId, days: &[String]) -> usize {
    let mut found = 0;
    for day in days {
        let (pk, _) = sauda_shared::keys::daily_stats(tenant, day, 0);
        let out = stage
            .clients
            .dynamo
            .query()
            .table_name(&stage.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
            .select(aws_sdk_dynamodb::types::Select::Count)
            .send()
            .await
            .unwrap();
        found += out.count() as usize;
    }
    found
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

async fn bench_reports(stage: &Stage) {
    let config = worker::WorkerConfig {
        core: sauda_shared::config::CoreConfig {
            stage: "bench".into(),
            table_name: stage.table.clone(),
        },
        bucket: stage.bucket.clone(),
        notify_queue_url: stage.notify_url.clone(),
        link_base_url: Some("https://api.example".into()),
    };
    let deps = worker::Deps::from_aws(&stage.clients, &config);
    let october = Period::parse("2026-10").unwrap();
    let now = jiff::Timestamp::from_second(1_796_000_000)
        .unwrap()
        .as_millisecond();
    const SIZES: [u64; 3] = [1_000, 10_000, 100_000];
    const ROUNDS: usize = 9;
    let mut tenants = Vec::new();
    for events in SIZES {
        let tenant = create_tenant(stage, &format!("bench-{events}")).await;
        let started = Instant::now();
        write_activity(stage, &tenant, events).await;
        println!(
            "{events} events counted as the producers do in {:.1?}",
            started.elapsed()
        );
        // The first run queues the managers' notice; later runs are steady-state re-runs.
        worker::run_report(&deps, &tenant, october, true, now)
            .await
            .unwrap();
        tenants.push(tenant);
    }
    // Sizes interleaved round by round, so the emulator's and the machine's drift hits
    // every size alike; the median of each size is reported.
    let mut walls = vec![Vec::new(); SIZES.len()];
    let mut calls = vec![Vec::new(); SIZES.len()];
    for _ in 0..ROUNDS {
        for (i, tenant) in tenants.iter().enumerate() {
            stage.counter.reset();
            let t = Instant::now();
            worker::run_report(&deps, tenant, october, true, now)
                .await
                .unwrap();
            walls[i].push(t.elapsed());
            calls[i].push(stage.counter.snapshot());
        }
    }
    println!("\nmonth report (2026-10 vs 2026-09, {ZONE}), median of {ROUNDS} interleaved runs, moto on loopback:");
    println!(
        "{:>9} | {:>9} | {:>13} | {:>16} | {:>22} | calls by operation",
        "events", "AWS calls", "wall (median)", "build+render CPU", "counter data read"
    );
    let mut results = Vec::new();
    for (i, events) in SIZES.iter().enumerate() {
        let tenant = &tenants[i];
        // The pure part (no AWS): build the report and render the three files.
        let days: Vec<String> = report::days_needed(october)
            .iter()
            .map(|d| d.to_string())
            .collect();
        let counters = stats::read_days(&stage.clients.dynamo, &stage.table, tenant, &days)
            .await
            .unwrap();
        let ctx = ReportContext {
            tenant: tenant.to_string(),
            tenant_name: "Bench shop".into(),
            timezone: ZONE.into(),
            language: "ru".into(),
            currency: "KZT".into(),
            monthly_budget_micros: Some(100_000_000),
            partner_names: Default::default(),
            sales_currency: "KZT".into(),
        };
        let mut cpu = Vec::new();
        for _ in 0..ROUNDS {
            let t = Instant::now();
            let r = report::build(&ctx, october, &counters);
            let size = render::json(&r).unwrap().len()
                + render::csv(&r).unwrap().len()
                + render::html(&r).unwrap().len();
            std::hint::black_box(size);
            cpu.push(t.elapsed());
        }
        // The tenant config is cached for 60 s per warm instance: a cold cache adds one
        // GetItem. Every other call is the same on every run.
        let mut steady = calls[i].clone();
        for c in &mut steady {
            c.remove("DynamoDB.GetItem");
        }
        assert!(
            steady.iter().all(|c| c == &steady[0]),
            "calls vary between runs: {steady:?}"
        );
        calls[i][0] = steady[0].clone();
        calls[i][0].insert("DynamoDB.GetItem (config, cold cache only)".into(), 1);
        let total: usize = calls[i][0].values().sum();
        let values: usize = counters.values().map(|m| m.len()).sum();
        let items = shard_items(stage, tenant, &days).await;
        let wall = median(walls[i].clone());
        println!(
            "{events:>9} | {total:>9} | {:>13.1?} | {:>16.1?} | {items:>4} items, {values:>4} values | {:?}",
            wall,
            median(cpu),
            calls[i][0]
        );
        results.push((*events, total, wall));
    }
    let (small, large) = (&results[0], &results[2]);
    println!(
        "ratio 100k/1k: AWS calls {:.2}, wall time {:.2}",
        large.1 as f64 / small.1 as f64,
        large.2.as_secs_f64() / small.2.as_secs_f64()
    );
}

/// Whole-hour zones from UTC−11 to UTC+12 (`Etc/GMT+n` is UTC−n in POSIX naming).
fn zone(i: usize) -> String {
    match i as i64 % 24 - 11 {
        0 => "Etc/GMT".to_owned(),
        offset if offset > 0 => format!("Etc/GMT-{offset}"),
        offset => format!("Etc/GMT+{}", -offset),
    }
}

fn registry(n: usize) -> Vec<RegistryEntry> {
    (0..n)
        .map(|i| {
            let tenant = TenantId::parse(&format!("t{i:05}")).unwrap();
            let mut config = TenantConfig::new(tenant, "");
            config.created_at_ms = 0;
            config.timezone = zone(i);
            config.reports.periods = vec![ReportPeriodKind::Daily, ReportPeriodKind::Monthly];
            RegistryEntry::from_config(&config)
        })
        .collect()
}

async fn bench_planner(stage: &Stage) {
    let n = 10_000usize;
    let hour = jiff::SignedDuration::from_hours(1);
    let month_end: jiff::Timestamp = "2026-12-01T00:05:00Z".parse().unwrap();

    // The pure part for the worst case: every tenant due at once (one zone, month end).
    let mut all_utc = registry(n);
    for e in &mut all_utc {
        e.timezone = "UTC".into();
    }
    let t = Instant::now();
    let jobs: Vec<String> = all_utc
        .iter()
        .flat_map(|e| {
            reports::planner::due_periods(e, month_end, hour)
                .into_iter()
                .map(move |p| (e, p))
        })
        .map(|(e, p)| {
            sauda_shared::envelope::Envelope::report(e.tenant.clone(), p.to_string()).to_json()
        })
        .collect();
    let bodies = std::hint::black_box(jobs).len();
    println!(
        "\nplanner, worst case: {n} tenants all due → {bodies} jobs planned in {:.1?} of CPU; {} SendMessageBatch calls",
        t.elapsed(),
        bodies.div_ceil(10)
    );

    // On the emulator: 10,000 tenants over 24 zones, so each hourly run finds the ~1/24
    // whose midnight just passed (daily, plus monthly on the 1st).
    let started = Instant::now();
    let writes: Vec<WriteRequest> = registry(n)
        .iter()
        .map(|entry| {
            let item = serde_dynamo::to_item(entry).unwrap();
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                .build()
        })
        .collect();
    let dynamo = Arc::new(stage.clients.dynamo.clone());
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in writes.chunks(25) {
        let (dynamo, table, chunk) = (dynamo.clone(), stage.table.clone(), chunk.to_vec());
        tasks.spawn(async move {
            dynamo
                .batch_write_item()
                .request_items(table, chunk)
                .send()
                .await
                .unwrap();
        });
        if tasks.len() >= 8 {
            tasks.join_next().await;
        }
    }
    while tasks.join_next().await.is_some() {}
    println!(
        "planner: {n} tenants registered in {:.1?}",
        started.elapsed()
    );
    let deps = reports::planner::PlannerDeps {
        registry: Arc::new(sauda_shared::registry::DynamoTenantRegistry::new(
            stage.clients.dynamo.clone(),
            &stage.table,
        )),
        jobs: Arc::new(reports::aws::SqsReportJobs::new(
            stage.clients.sqs.clone(),
            &stage.reports_url,
        )),
        concurrency: 16,
    };
    let t = Instant::now();
    stage.counter.reset();
    let pages = stage
        .clients
        .dynamo
        .query()
        .table_name(&stage.table)
        .key_condition_expression("PK = :pk AND begins_with(SK, :sk)")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S("PLATFORM".into()),
        )
        .expression_attribute_values(
            ":sk",
            aws_sdk_dynamodb::types::AttributeValue::S("TENANT#".into()),
        )
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    println!(
        "registry read alone: {} Query pages in {:.2?}",
        pages.len(),
        t.elapsed()
    );
    for round in 0..3i64 {
        let at = month_end + jiff::SignedDuration::from_hours(round);
        stage.counter.reset();
        let t = Instant::now();
        let summary = reports::planner::plan(&deps, at, hour).await.unwrap();
        println!(
            "planner at {at}: {} tenants → {} jobs in {:.2?}; calls {:?}",
            summary.tenants,
            summary.jobs,
            t.elapsed(),
            stage.counter.snapshot()
        );
        // The emulator's queue slows down as it fills; start each round empty.
        stage
            .clients
            .sqs
            .purge_queue()
            .queue_url(&stage.reports_url)
            .send()
            .await
            .ok();
    }
}

fn main() {
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        println!("reports bench skipped: set AWS_ENDPOINT_URL to a running moto (see the header)");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let stage = provision().await;
        let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
        if only.as_deref() != Some("planner") {
            bench_reports(&stage).await;
        }
        if only.as_deref() != Some("reports") {
            bench_planner(&stage).await;
        }
    });
}
