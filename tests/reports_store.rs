//! Contract tests of the reports' ports against moto: the report store
//! (`AwsReportStore`: counters, partner names, files, the report record), the planner's
//! tenant registry (`DynamoTenantRegistry`) and its job queue (`SqsReportJobs`).

use reports::aws::{AwsReportStore, SqsReportJobs};
use reports::period::Period;
use reports::planner::ReportJobs;
use reports::report;
use reports::store::{LinkRecord, ReportFile, ReportStore};
use sauda_shared::registry::{DynamoTenantRegistry, TenantRegistry};
use sauda_shared::stats::CounterBatch;
use sauda_shared::TenantId;
use sauda_tests::TestEnv;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

fn store(env: &TestEnv) -> AwsReportStore {
    AwsReportStore::new(
        &env.clients,
        &env.stack.table,
        env.stack.bucket.as_deref().unwrap(),
    )
}

fn calls(expected: &[(&str, usize)]) -> BTreeMap<String, usize> {
    expected
        .iter()
        .map(|(op, n)| ((*op).to_owned(), *n))
        .collect()
}

fn october() -> Period {
    Period::parse("2026-10").unwrap()
}

#[tokio::test]
async fn counters_are_summed_over_shards_for_every_day_and_stay_in_their_tenant() {
    let env = TestEnv::new().await;
    let store = store(&env);
    let (a, b) = (env.tenant().await.id, env.tenant().await.id);
    // Four writers land on the four shards of one day; B counts on the same days.
    for seed in 0..4u64 {
        let mut batch = CounterBatch::default();
        batch
            .day(&a, "2026-10-05")
            .add("messages_in", 10 + seed as i64);
        batch.day(&a, "2026-09-30").add("messages_out", 1);
        batch.day(&b, "2026-10-05").add("messages_in", 1_000);
        batch
            .flush(&env.clients.dynamo, &env.stack.table, seed)
            .await
            .unwrap();
    }
    let days: Vec<String> = report::days_needed(october())
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(days.len(), 61);

    env.counter.reset();
    let counters = store.counters(&a, &days).await.unwrap();
    // 61 days × 4 shards = 244 keys: 3 BatchGetItems.
    assert_eq!(
        env.counter.snapshot(),
        calls(&[("DynamoDB.BatchGetItem", 3)])
    );
    assert_eq!(
        counters.keys().cloned().collect::<Vec<_>>(),
        days,
        "every day"
    );
    assert_eq!(counters["2026-10-05"]["messages_in"], 10 + 11 + 12 + 13);
    assert_eq!(counters["2026-09-30"]["messages_out"], 4);
    assert!(counters["2026-10-06"].is_empty());
    assert_eq!(
        store.counters(&b, &days).await.unwrap()["2026-10-05"]["messages_in"],
        4_000
    );
    assert!(store.counters(&a, &[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn partner_names_are_the_tenants_own_and_cost_nothing_when_none_are_asked() {
    let env = TestEnv::new().await;
    let store = store(&env);
    let (a, b) = (env.tenant().await.id, env.tenant().await.id);
    env.put_partner(&a, "shared", "A's partner").await;
    env.put_partner(&a, "cafe", "Café").await;
    env.put_partner(&b, "shared", "B's partner").await;
    env.put_partner(&b, "gym", "B's gym").await;

    let ids: BTreeSet<String> = ["shared", "cafe", "gym", "gone"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    env.counter.reset();
    let names = store.partner_names(&a, &ids).await.unwrap();
    assert_eq!(
        env.counter.snapshot(),
        calls(&[("DynamoDB.BatchGetItem", 1)])
    );
    assert_eq!(
        names,
        BTreeMap::from([
            ("cafe".to_owned(), "Café".to_owned()),
            ("shared".to_owned(), "A's partner".to_owned()),
        ])
    );
    env.counter.reset();
    assert!(store
        .partner_names(&a, &BTreeSet::new())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(env.counter.total(), 0);
}

#[tokio::test]
async fn files_are_stored_under_the_tenant_and_period_and_presigned() {
    let env = TestEnv::new().await;
    let store = store(&env);
    let t = env.tenant().await.id;
    let files = [
        ReportFile {
            name: "report.json",
            content_type: "application/json",
            body: b"{\"v\":1}\n".to_vec(),
        },
        ReportFile {
            name: "report.csv",
            content_type: "text/csv; charset=utf-8",
            body: b"day\n2026-10-01\n".to_vec(),
        },
    ];
    env.counter.reset();
    store.put_files(&t, october(), &files).await.unwrap();
    assert_eq!(env.counter.snapshot(), calls(&[("S3.PutObject", 2)]));
    for file in &files {
        let url = store
            .presign(&t, october(), file.name, Duration::from_secs(60))
            .await
            .unwrap();
        assert!(
            url.contains(&format!("reports/{t}/2026-10/{}", file.name)),
            "{url}"
        );
        assert!(url.contains("X-Amz-Expires=60"), "{url}");
        let got = reqwest::get(&url).await.unwrap();
        assert!(got.status().is_success());
        assert_eq!(
            got.headers()[reqwest::header::CONTENT_TYPE],
            file.content_type
        );
        assert_eq!(got.bytes().await.unwrap().to_vec(), file.body);
    }
    // The counter tallies each presigning as a GetObject; it is signed locally, not sent.
    assert_eq!(
        env.counter.snapshot(),
        calls(&[("S3.PutObject", 2), ("S3.GetObject", 2)])
    );
}

#[tokio::test]
async fn the_record_counts_runs_keeps_its_first_token_and_notices_changes() {
    let env = TestEnv::new().await;
    let store = store(&env);
    let (t, other) = (env.tenant().await.id, env.tenant().await.id);
    let p = october();
    assert_eq!(store.link_record(&t, p).await.unwrap(), None);

    env.counter.reset();
    let first = store
        .record_run(&t, p, "digest-1", "token-1", 1_000)
        .await
        .unwrap();
    assert_eq!(env.counter.snapshot(), calls(&[("DynamoDB.UpdateItem", 1)]));
    assert_eq!(
        (
            first.runs,
            first.notified,
            first.changed,
            first.link_token.as_str()
        ),
        (1, false, false, "token-1")
    );
    let same = store
        .record_run(&t, p, "digest-1", "token-2", 2_000)
        .await
        .unwrap();
    assert_eq!(
        (
            same.runs,
            same.notified,
            same.changed,
            same.link_token.as_str()
        ),
        (2, false, false, "token-1"),
        "a rerun keeps the first token"
    );
    let changed = store
        .record_run(&t, p, "digest-2", "token-3", 3_000)
        .await
        .unwrap();
    assert_eq!((changed.runs, changed.changed), (3, true));

    assert_eq!(
        store.link_record(&t, p).await.unwrap(),
        Some(LinkRecord {
            link_token: "token-1".into(),
            first_run_ms: 1_000
        })
    );
    // Another tenant and another period of the same tenant have no record.
    assert_eq!(store.link_record(&other, p).await.unwrap(), None);
    assert_eq!(store.link_record(&t, p.previous()).await.unwrap(), None);

    // The first notice mark wins; the record then says so.
    env.counter.reset();
    store
        .mark_notified(&t, p, "report:2026-10", 4_000)
        .await
        .unwrap();
    store.mark_notified(&t, p, "other-id", 5_000).await.unwrap();
    assert_eq!(env.counter.snapshot(), calls(&[("DynamoDB.UpdateItem", 2)]));
    let after = store
        .record_run(&t, p, "digest-2", "token-4", 6_000)
        .await
        .unwrap();
    assert_eq!(
        (after.runs, after.notified, after.changed),
        (4, true, false)
    );
    let key = sauda_shared::keys::report(&t, "2026-10");
    assert!(key.0.starts_with(&format!("T#{t}#")));
    let item = env.item(&key).await.unwrap();
    assert_eq!(sauda_tests::attr_s(&item, "notice_id"), "report:2026-10");
    assert_eq!(sauda_tests::attr_s(&item, "kind"), "monthly");
    assert_eq!(sauda_shared::dynamo::item_n(&item, "notified_ms"), 4_000);
}

#[tokio::test]
async fn the_registry_lists_every_tenant_and_pages_from_where_it_stopped() {
    let env = TestEnv::new().await;
    let registry = DynamoTenantRegistry::new(env.clients.dynamo.clone(), &env.stack.table);
    let mut created = BTreeSet::new();
    for _ in 0..3 {
        created.insert(env.tenant().await.id);
    }
    env.counter.reset();
    let page = registry.page(None).await.unwrap();
    assert_eq!(env.counter.snapshot(), calls(&[("DynamoDB.Query", 1)]));
    assert_eq!(page.next, None);
    assert_eq!(page.skipped, 0);
    let listed: BTreeSet<TenantId> = page.entries.iter().map(|e| e.tenant.clone()).collect();
    assert_eq!(listed, created);
    // Starting after the first entry's sort key lists the rest.
    let first_sk = page.entries[0].sk.clone();
    let rest = registry.page(Some(&first_sk)).await.unwrap();
    assert_eq!(rest.entries, page.entries[1..]);
}

#[tokio::test]
async fn report_jobs_are_queued_whole_in_one_batch() {
    let env = TestEnv::new().await;
    let jobs = SqsReportJobs::new(env.clients.sqs.clone(), env.queue_url("ReportsQueue"));
    assert_eq!(jobs.batch_size(), 10);
    let bodies: Vec<String> = (0..10).map(|i| format!("{{\"job\":{i}}}")).collect();
    env.counter.reset();
    jobs.send(bodies.clone()).await.unwrap();
    assert_eq!(
        env.counter.snapshot(),
        calls(&[("SQS.SendMessageBatch", 1)])
    );
    let mut queued: Vec<String> = env
        .receive_all("ReportsQueue")
        .await
        .into_iter()
        .map(|m| m.body.unwrap_or_default())
        .collect();
    queued.sort();
    let mut expected = bodies;
    expected.sort();
    assert_eq!(queued, expected);
    // A batch SQS refuses as a whole is an error, not a silent loss.
    let too_many: Vec<String> = (0..11).map(|i| i.to_string()).collect();
    assert!(jobs.send(too_many).await.is_err());
}
