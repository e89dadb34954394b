//! Loyalty ledger benchmark against a local DynamoDB emulator (`benches/run.sh` starts
//! one). Three figures:
//! 1. AWS calls per operation (exact, counted with `AwsCallCounter`);
//! 2. latency p50/p90/p99 of the HTTP handler under N concurrent clients;
//! 3. the ledger invariant after a random run: every balance equals the sum of its
//!    entries and the sum of the results the clients were given, none is negative, and
//!    the day's counters match.
//!
//! Settings (env): `LOYALTY_BENCH_OPS` (10000), `LOYALTY_BENCH_CLIENTS` (8),
//! `LOYALTY_BENCH_MEMBERS` (200). Refuses to run without `AWS_ENDPOINT_URL`: it creates
//! its own table and must never touch a real account.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use loyalty::partners::{CreatePartner, ModeratePartner, Moderation, NewPartner};
use loyalty::store as ledger;
use loyalty::{router, views, Deps, DynamoStore, LoyaltyConfig};
use rand::{Rng, SeedableRng};
use sauda_shared::apikey::{ApiKeyStore, Role};
use sauda_shared::aws::{AwsCallCounter, AwsClients};
use sauda_shared::config::CoreConfig;
use sauda_shared::stats::{self, metric};
use sauda_shared::tenant::{ConfigItem, TenantConfig};
use sauda_shared::TenantId;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tower::ServiceExt;

const CURRENCY: &str = "KZT";
const WELCOME: i64 = 500;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Bench {
    deps: Arc<Deps>,
    /// Uncounted client and the table, for the invariant check's own reads.
    plain: aws_sdk_dynamodb::Client,
    table: String,
    calls: AwsCallCounter,
    tenant: TenantId,
    partners: Vec<String>,
}

struct Reply {
    status: StatusCode,
    body: Value,
}

impl Bench {
    async fn call(
        &self,
        method: &str,
        path: &str,
        key: &str,
        idem: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("/t/{}/loyalty/{path}", self.tenant))
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json");
        if let Some(idem) = idem {
            request = request.header("idempotency-key", idem);
        }
        let request = request
            .body(body.map(|b| Body::from(b.to_string())).unwrap_or_default())
            .unwrap();
        let response = router(self.deps.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    fn calls_since(&self) -> String {
        let snapshot = self.calls.snapshot();
        self.calls.reset();
        snapshot
            .iter()
            .map(|(op, n)| format!("{n} {}", op.trim_start_matches("DynamoDB.")))
            .collect::<Vec<_>>()
            .join(" + ")
    }
}

async fn create_table(client: &aws_sdk_dynamodb::Client, table: &str) {
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(vec![
            attr("PK"),
            attr("SK"),
            attr("GSI1PK"),
            attr("GSI1SK"),
        ]))
        .set_key_schema(Some(vec![
            key("PK", KeyType::Hash),
            key("SK", KeyType::Range),
        ]))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("GSI1")
                .set_key_schema(Some(vec![
                    key("GSI1PK", KeyType::Hash),
                    key("GSI1SK", KeyType::Range),
                ]))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create the benchmark table");
}

async fn setup() -> Bench {
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        eprintln!(
            "refusing to run: set AWS_ENDPOINT_URL to a local emulator (benches/run.sh does)"
        );
        std::process::exit(2);
    }
    let sdk = sauda_shared::aws::load_sdk_config().await;
    let plain = AwsClients::new(&sdk);
    let calls = AwsCallCounter::default();
    let counted = AwsClients::counted(&sdk, &calls);
    let table = format!(
        "sauda-bench-{}",
        ulid::Ulid::new().to_string().to_ascii_lowercase()
    );
    create_table(&plain.dynamo, &table).await;

    let tenant = TenantId::parse("bench").unwrap();
    let mut config = TenantConfig::new(tenant.clone(), "Benchmark shop");
    config.loyalty.enabled = true;
    config.loyalty.currency = CURRENCY.into();
    config.loyalty.welcome_bonus = WELCOME;
    config.loyalty.max_redeem_percent = 50;
    config.loyalty.rate_limit_per_minute = 1_000_000;
    plain
        .dynamo
        .put_item()
        .table_name(&table)
        .set_item(Some(
            serde_dynamo::to_item(ConfigItem::new(config)).unwrap(),
        ))
        .send()
        .await
        .unwrap();
    let store = DynamoStore::new(plain.dynamo.clone(), &table);
    let keys = ApiKeyStore::new(plain.dynamo.clone(), &table);
    let mut partners = Vec::new();
    for (i, bp) in [500, 700, 300, 1000].into_iter().enumerate() {
        let partner_id = format!("partner-{i}");
        let new = NewPartner {
            partner_id: partner_id.clone(),
            name: format!("Partner {i}"),
            kind: "shop".into(),
            telegram_chat_id: None,
            cashback_bp: Some(bp),
        };
        let create = CreatePartner {
            tenant: &tenant,
            new: &new,
        };
        ledger::execute(&store, None, None, &tenant, &create)
            .await
            .unwrap();
        let approve = ModeratePartner {
            tenant: &tenant,
            partner_id: &partner_id,
            action: Moderation::Approve,
        };
        ledger::execute(&store, None, None, &tenant, &approve)
            .await
            .unwrap();
        let issued = keys
            .issue(&tenant, Role::Partner { partner_id }, "bench")
            .await
            .unwrap();
        partners.push(issued.presented.expose().to_owned());
    }
    let config = LoyaltyConfig {
        core: CoreConfig {
            stage: "bench".into(),
            table_name: table,
        },
        notify_queue_url: "http://127.0.0.1:9/unused".into(),
        inbound_queue_url: None,
    };
    Bench {
        deps: Arc::new(Deps::from_aws(&counted, &config)),
        plain: plain.dynamo.clone(),
        table: config.core.table_name.clone(),
        calls,
        tenant,
        partners,
    }
}

fn accrue_body(member: &str, purchase: &str, amount: i64) -> Value {
    json!({"contact_id": member, "purchase_ref": purchase, "amount_minor": amount, "currency": CURRENCY})
}

fn redeem_body(member: &str, purchase: &str, amount: i64, points: i64) -> Value {
    json!({"contact_id": member, "purchase_ref": purchase, "amount_minor": amount, "currency": CURRENCY, "points": points})
}

async fn call_budget(bench: &Bench) {
    let key = &bench.partners[0];
    bench
        .call(
            "POST",
            "join",
            key,
            Some("budget-join-0"),
            Some(json!({"contact_id": "tg-budget"})),
        )
        .await;
    bench
        .call(
            "POST",
            "join",
            key,
            Some("budget-join-1"),
            Some(json!({"phone": "+77010000001"})),
        )
        .await;
    // Warm the API-key and tenant caches as a warm Lambda has them.
    bench
        .call("GET", "balance?contact_id=tg-budget", key, None, None)
        .await;
    bench.calls.reset();
    println!("\n## AWS calls per operation (warm caches)\n");
    println!("| operation | calls |\n|---|---|");
    let row = |name: &str| println!("| {name} | {} |", bench.calls_since());
    bench
        .call(
            "POST",
            "accrue",
            key,
            Some("b-1"),
            Some(accrue_body("tg-budget", "B-1", 10_000)),
        )
        .await;
    row("accrue (contact id)");
    bench
        .call("POST", "accrue", key, Some("b-2"), Some(json!({"phone": "87010000001", "purchase_ref": "B-2", "amount_minor": 10_000, "currency": CURRENCY})))
        .await;
    row("accrue (phone)");
    bench
        .call(
            "POST",
            "redeem",
            key,
            Some("b-3"),
            Some(redeem_body("tg-budget", "B-3", 1_000, 100)),
        )
        .await;
    row("redeem");
    bench
        .call(
            "POST",
            "redeem",
            key,
            Some("b-3"),
            Some(redeem_body("tg-budget", "B-3", 1_000, 100)),
        )
        .await;
    row("retry (replayed)");
    bench
        .call(
            "POST",
            "join",
            key,
            Some("b-4"),
            Some(json!({"contact_id": "tg-budget-2"})),
        )
        .await;
    row("join");
    bench
        .call("GET", "balance?contact_id=tg-budget", key, None, None)
        .await;
    row("balance");
    bench
        .call(
            "GET",
            "history?contact_id=tg-budget&limit=20",
            key,
            None,
            None,
        )
        .await;
    row("history page");
    bench
        .call("GET", "partners/partner-0/stats", key, None, None)
        .await;
    row("partner statistics");
}

/// One request of a benchmark client.
struct Sent {
    op: &'static str,
    method: &'static str,
    path: String,
    key: String,
    idem: Option<String>,
    body: Option<Value>,
    /// For a change that was accepted: the answer a retry must get again.
    answer: Option<Value>,
}

impl Sent {
    fn change(
        bench: &Bench,
        rng: &mut impl Rng,
        op: &'static str,
        body: Value,
        purchase: &str,
    ) -> Self {
        Self {
            op,
            method: "POST",
            path: op.to_owned(),
            key: bench.partners[rng.random_range(0..bench.partners.len())].clone(),
            idem: Some(format!("k-{purchase}")),
            body: Some(body),
            answer: None,
        }
    }

    fn read(bench: &Bench, rng: &mut impl Rng, member: &str) -> Self {
        Self {
            op: "balance",
            method: "GET",
            path: format!("balance?contact_id={member}"),
            key: bench.partners[rng.random_range(0..bench.partners.len())].clone(),
            idem: None,
            body: None,
            answer: None,
        }
    }

    /// The same request again, with the same key and Idempotency-Key.
    fn retry(&self) -> Self {
        Self {
            op: "retry",
            method: self.method,
            path: self.path.clone(),
            key: self.key.clone(),
            idem: self.idem.clone(),
            body: self.body.clone(),
            answer: self.answer.clone(),
        }
    }
}

#[derive(Default)]
struct Ledgerbook {
    /// Balance each member must have, from the results the clients were given.
    expected: BTreeMap<String, i64>,
    accrued: i64,
    redeemed: i64,
    joins: Vec<Duration>,
    outcomes: BTreeMap<String, usize>,
    replay_mismatches: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank].as_secs_f64() * 1000.0
}

fn member(i: usize) -> String {
    format!("tg-{}", 100_000 + i)
}

/// Members join first (measured too: joins are part of a programme's traffic).
async fn join_members(
    bench: &Arc<Bench>,
    book: &Arc<Mutex<Ledgerbook>>,
    clients: usize,
    members: usize,
) {
    let joined = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let (bench, book) = (bench.clone(), book.clone());
        tasks.spawn(async move {
            for i in (c..members).step_by(clients) {
                let key = &bench.partners[i % bench.partners.len()];
                let started = Instant::now();
                let reply = bench
                    .call(
                        "POST",
                        "join",
                        key,
                        Some(&format!("join-{i}")),
                        Some(json!({"contact_id": member(i)})),
                    )
                    .await;
                let mut book = book.lock().unwrap();
                book.joins.push(started.elapsed());
                assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
                book.expected.insert(member(i), WELCOME);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    println!(
        "\n{members} members joined in {:.1} s",
        joined.elapsed().as_secs_f64()
    );
}

/// `ops` random operations by `clients` concurrent clients; returns each one's latency.
async fn run_phase(
    bench: &Arc<Bench>,
    book: &Arc<Mutex<Ledgerbook>>,
    phase: &'static str,
    ops: usize,
    clients: usize,
    members: usize,
) -> Vec<(&'static str, Duration)> {
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(ops)));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let (bench, book, latencies) = (bench.clone(), book.clone(), latencies.clone());
        tasks.spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(c as u64 + phase.len() as u64 * 1_000);
            // This client's last accepted change, which it sometimes sends again.
            let mut last: Option<Sent> = None;
            for n in (c..ops).step_by(clients) {
                let who = member(rng.random_range(0..members));
                let purchase = format!("{phase}-{c}-{n}");
                let sent = match rng.random_range(0..100) {
                    0..=49 => {
                        let amount = rng.random_range(100..50_000);
                        Sent::change(
                            &bench,
                            &mut rng,
                            "accrue",
                            accrue_body(&who, &purchase, amount),
                            &purchase,
                        )
                    }
                    50..=79 => {
                        let amount = rng.random_range(200..20_000);
                        let points = rng.random_range(1..=amount / 2);
                        Sent::change(
                            &bench,
                            &mut rng,
                            "redeem",
                            redeem_body(&who, &purchase, amount, points),
                            &purchase,
                        )
                    }
                    80..=94 => Sent::read(&bench, &mut rng, &who),
                    _ => match &last {
                        Some(previous) => previous.retry(),
                        None => Sent::read(&bench, &mut rng, &who),
                    },
                };
                let t0 = Instant::now();
                let reply = bench
                    .call(
                        sent.method,
                        &sent.path,
                        &sent.key,
                        sent.idem.as_deref(),
                        sent.body.clone(),
                    )
                    .await;
                let elapsed = t0.elapsed();
                latencies.lock().unwrap().push((sent.op, elapsed));
                let mut book = book.lock().unwrap();
                let code = if reply.status.is_success() {
                    "ok".to_owned()
                } else {
                    reply.body["error"]["code"]
                        .as_str()
                        .unwrap_or("?")
                        .to_owned()
                };
                *book
                    .outcomes
                    .entry(format!("{}: {code}", sent.op))
                    .or_default() += 1;
                match sent.op {
                    "accrue" | "redeem" if reply.status == StatusCode::OK => {
                        let points = reply.body["points"].as_i64().unwrap();
                        let member = reply.body["contact_id"].as_str().unwrap().to_owned();
                        *book.expected.get_mut(&member).unwrap() += points;
                        if points >= 0 {
                            book.accrued += points;
                        } else {
                            book.redeemed -= points;
                        }
                        last = Some(Sent {
                            answer: Some(reply.body),
                            ..sent
                        });
                    }
                    "accrue" | "redeem" => {
                        assert_eq!(code, "insufficient_points", "{}", reply.body)
                    }
                    "retry" => {
                        if Some(&reply.body) != sent.answer.as_ref() {
                            book.replay_mismatches += 1;
                        }
                    }
                    _ => assert!(reply.status.is_success(), "{}", reply.body),
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let elapsed = started.elapsed();
    println!(
        "\n{phase}: {ops} operations by {clients} client(s) in {:.1} s ({:.0} ops/s)",
        elapsed.as_secs_f64(),
        ops as f64 / elapsed.as_secs_f64()
    );
    Arc::try_unwrap(latencies)
        .ok()
        .unwrap()
        .into_inner()
        .unwrap()
}

fn latency_table(title: &str, samples: &[(&'static str, Duration)]) {
    println!("\n## {title}: handler latency against the emulator (ms)\n");
    println!("| operation | count | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|");
    let mut by_op: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    for (op, d) in samples {
        by_op.entry(op).or_default().push(*d);
        by_op.entry("all").or_default().push(*d);
    }
    for (op, mut samples) in by_op {
        samples.sort();
        println!(
            "| {op} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            samples.len(),
            percentile(&samples, 50.0),
            percentile(&samples, 90.0),
            percentile(&samples, 99.0),
            percentile(&samples, 100.0)
        );
    }
}

async fn check_invariant(bench: &Bench, book: &Ledgerbook) -> bool {
    println!("\n## Invariant after the run\n");
    let store = bench.deps.store.as_ref();
    let (accounts, findings) = views::audit(store, &bench.tenant).await.unwrap();
    let mut mismatched = 0;
    for (member, expected) in &book.expected {
        let account: loyalty::model::Account =
            ledger::get(store, &loyalty::model::account_key(&bench.tenant, member))
                .await
                .unwrap()
                .unwrap();
        if account.balance != *expected || account.balance < 0 {
            mismatched += 1;
            println!(
                "- {member}: stored {} but the clients were told {expected}",
                account.balance
            );
        }
    }
    let day = stats::local_day("UTC", sauda_shared::now_ms());
    let counters = stats::read_day(&bench.plain, &bench.table, &bench.tenant, &day)
        .await
        .unwrap();
    // The budget phase's own operations are part of the counters too.
    let counted_accrued = counters.get(metric::LOYALTY_ACCRUED).copied().unwrap_or(0);
    let counted_redeemed = counters.get(metric::LOYALTY_REDEEMED).copied().unwrap_or(0);
    let budget_accrued = 500 + 500; // two accruals of 10 000 at 5 % in the budget phase
    let budget_redeemed = 100;
    let counters_ok = counted_accrued == book.accrued + budget_accrued
        && counted_redeemed == book.redeemed + budget_redeemed;
    println!(
        "- accounts audited: {accounts}; balance ≠ Σ ledger or inconsistent FIFO books: {}",
        findings.len()
    );
    println!(
        "- members whose stored balance differs from what the clients were told: {mismatched}"
    );
    println!("- negative balances: none allowed by construction; audit includes the check");
    println!(
        "- retries answered with a different result than the original: {}",
        book.replay_mismatches
    );
    println!(
        "- counters: accrued {counted_accrued} (expected {}), redeemed {counted_redeemed} (expected {}) → {}",
        book.accrued + budget_accrued,
        book.redeemed + budget_redeemed,
        if counters_ok { "match" } else { "MISMATCH" }
    );
    println!("\noutcomes: {:?}", book.outcomes);
    findings.is_empty() && mismatched == 0 && book.replay_mismatches == 0 && counters_ok
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let ops = setting("LOYALTY_BENCH_OPS", 10_000);
    let clients = setting("LOYALTY_BENCH_CLIENTS", 8);
    let members = setting("LOYALTY_BENCH_MEMBERS", 200);
    let solo_ops = setting("LOYALTY_BENCH_SOLO_OPS", 300);
    let bench = Arc::new(setup().await);
    println!("# Loyalty ledger benchmark: {ops} operations, {clients} clients, {members} members");
    call_budget(&bench).await;
    let book = Arc::new(Mutex::new(Ledgerbook::default()));
    join_members(&bench, &book, clients, members).await;
    let solo = run_phase(&bench, &book, "solo", solo_ops, 1, members).await;
    let busy = run_phase(&bench, &book, "busy", ops, clients, members).await;
    latency_table("1 client (no queueing)", &solo);
    latency_table(&format!("{clients} concurrent clients"), &busy);
    let book = Arc::try_unwrap(book).ok().unwrap().into_inner().unwrap();
    let held = check_invariant(&bench, &book).await;
    println!("\nINVARIANT {}", if held { "HOLDS" } else { "BROKEN" });
    if !held {
        std::process::exit(1);
    }
}
