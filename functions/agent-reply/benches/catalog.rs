//! Catalog benchmarks over the 40,000-item demo catalog:
//! - search latency per query (criterion, plus p50/p99 over a realistic query mix);
//! - index build time and bundle size;
//! - opening the index from its S3 bundle (the cold-start cost after the download).
//!
//! `cargo bench -p agent-reply --bench catalog`

use agent_reply::catalog::{generate, CatalogIndex};
use criterion::{criterion_group, Criterion};
use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const ITEMS: usize = 40_000;

/// What customers type: Russian and English, word forms, typos, SKUs with spaces.
const QUERIES: &[&str] = &[
    "Здравствуйте! Сколько стоит насос Grundfos CR 10?",
    "циркуляционный насос wilo stratos",
    "шаровые краны 1/2 valtec",
    "котёл газовый 24 квт baxi",
    "bimetallic radiator 10 sections",
    "cordless drill makita 18v",
    "GRU-CR10-3",
    "gru cr 10 3",
    "водонагреватель ariston 80 л",
    "перфоратор бош",
    "pressure tank 50 L reflex",
    "счетчик воды ду15",
    "задвижка ду100",
    "dewalt dcd791",
    "дренажный насос karcher",
    "фильтр сетчатый 3/4 honeywell",
    "грундфос насус",
    "Grundfoss pump",
    "труба полипропиленовая 25 мм",
    "do you have water heaters in stock?",
];

fn catalog() -> &'static (CatalogIndex, Vec<u8>) {
    static INDEX: OnceLock<(CatalogIndex, Vec<u8>)> = OnceLock::new();
    INDEX.get_or_init(|| {
        let items = generate::demo_items(ITEMS, 42);
        let started = Instant::now();
        let index = CatalogIndex::build(&items, |_, _| {}).expect("index builds");
        let build = started.elapsed();
        let bundle = index.to_bundle().expect("bundle");
        println!(
            "index build: {ITEMS} items in {:.2} s; bundle {:.1} MiB",
            build.as_secs_f64(),
            bundle.len() as f64 / (1024.0 * 1024.0)
        );
        let opened = CatalogIndex::from_bundle(&bundle).expect("bundle opens");
        (opened, bundle)
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// p50/p99 over many rounds of the query mix, warm.
fn report_percentiles() {
    let (index, bundle) = catalog();
    for q in QUERIES {
        black_box(index.search(q, 5));
    }
    let mut samples = Vec::new();
    for _ in 0..100 {
        for q in QUERIES {
            let started = Instant::now();
            black_box(index.search(q, 5));
            samples.push(started.elapsed());
        }
    }
    samples.sort();
    println!(
        "search over {ITEMS} items, {} queries: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        samples.len(),
        percentile(&samples, 0.50).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3,
    );
    let mut opens = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        black_box(CatalogIndex::from_bundle(bundle).unwrap());
        opens.push(started.elapsed());
    }
    opens.sort();
    println!(
        "open from bundle ({:.1} MiB): median {:.1} ms",
        bundle.len() as f64 / (1024.0 * 1024.0),
        percentile(&opens, 0.5).as_secs_f64() * 1e3
    );
}

fn search(c: &mut Criterion) {
    let (index, _) = catalog();
    let mut group = c.benchmark_group("catalog_40k");
    group.bench_function("search_query_mix", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % QUERIES.len();
            black_box(index.search(QUERIES[i], 5))
        })
    });
    group.bench_function("search_sku_with_typo", |b| {
        b.iter(|| black_box(index.search("gru cr 10 3", 5)))
    });
    group.sample_size(10);
    group.bench_function("open_from_bundle", |b| {
        let (_, bundle) = catalog();
        b.iter(|| black_box(CatalogIndex::from_bundle(bundle).unwrap()))
    });
    group.bench_function("build_index", |b| {
        let items = generate::demo_items(ITEMS, 42);
        b.iter(|| black_box(CatalogIndex::build(&items, |_, _| {}).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, search);

fn main() {
    report_percentiles();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
