//! The contract of loyalty's store port (`loyalty::store::LoyaltyStore`), checked on its
//! DynamoDB adapter against moto: consistent batch reads, write plans that commit whole
//! or not at all and answer with the first failed step's own answer, the listings the
//! ledger reads with (each inside one tenant), and the executor's idempotency and rate
//! window on top of them. Calls are counted exactly.

use async_trait::async_trait;
use http::StatusCode;
use loyalty::model::{
    account_key, credits_gsi, credits_gsi_sk, Account, EntryKind, Key, LedgerEntry, PartnerClient,
};
use loyalty::partners::PartnerItem;
use loyalty::store::{self as ledger, Fail, Idempotency, LoyaltyStore, Plan, Planner, RateLimit};
use loyalty::{DynamoStore, LoyaltyError};
use sauda_shared::dynamo::Reads;
use sauda_shared::partner::{Partner, PartnerStatus};
use sauda_shared::plan::{Cond, Op, PlanError, Update, Val, WritePlan};
use sauda_shared::{keys, TenantId};
use sauda_tests::{unique, TestEnv};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

fn tenant() -> TenantId {
    TenantId::parse(&unique("tn")).unwrap()
}

fn store(env: &TestEnv) -> DynamoStore {
    DynamoStore::new(env.clients.dynamo.clone(), &env.stack.table)
}

fn calls(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs
        .iter()
        .map(|(op, n)| (format!("DynamoDB.{op}"), *n))
        .collect()
}

/// The calls made since the last look.
fn made(env: &TestEnv) -> BTreeMap<String, usize> {
    let snapshot = env.counter.snapshot();
    env.counter.reset();
    snapshot
}

fn client(t: &TenantId, contact: &str, purchases: i64) -> PartnerClient {
    let (pk, sk) = loyalty::model::partner_client_key(t, "shop", contact);
    PartnerClient {
        pk,
        sk,
        contact: contact.to_owned(),
        purchases,
        ..Default::default()
    }
}

fn entry(t: &TenantId, contact: &str, points: i64, at_ms: i64) -> LedgerEntry {
    let member = account(t, contact, None);
    loyalty::ops::EntryDraft::plain(EntryKind::Adjust, points, "contract".into())
        .build(t, &member, at_ms)
}

fn account(t: &TenantId, contact: &str, oldest_day: Option<&str>) -> Account {
    let (pk, sk) = account_key(t, contact);
    Account {
        pk,
        sk,
        contact: contact.to_owned(),
        rev: 1,
        gsi1pk: oldest_day.map(|_| credits_gsi(t)),
        gsi1sk: oldest_day.map(|day| credits_gsi_sk(day, contact)),
        ..Default::default()
    }
}

#[tokio::test]
async fn reads_are_consistent_typed_and_complete() {
    let env = TestEnv::new().await;
    let (t, other) = (tenant(), tenant());
    for i in 0..150 {
        env.put(client(&t, &format!("tg-{i}"), i)).await;
    }
    env.put(client(&other, "tg-0", 999)).await;
    let s = store(&env);
    env.counter.reset();

    let mut wanted: Vec<Key> = (0..150)
        .map(|i| loyalty::model::partner_client_key(&t, "shop", &format!("tg-{i}")))
        .collect();
    let absent = loyalty::model::partner_client_key(&t, "shop", "tg-absent");
    wanted.push(absent.clone());
    wanted.push(wanted[0].clone());
    let reads = s.read(&wanted).await.unwrap();
    assert_eq!(
        made(&env),
        calls(&[("BatchGetItem", 2)]),
        "151 distinct keys: two requests of at most 100"
    );
    assert_eq!(reads.len(), 150);
    let seventh: PartnerClient = reads.get(&wanted[7]).unwrap().unwrap();
    assert_eq!(seventh, client(&t, "tg-7", 7));
    assert!(reads.has_asked(&absent) && !reads.contains(&absent));
    assert_eq!(reads.get::<PartnerClient>(&absent).unwrap(), None);
    // The same contact id in another tenant is another item.
    assert_eq!(seventh.purchases, 7);
    let first: PartnerClient = reads.get(&wanted[0]).unwrap().unwrap();
    assert_eq!(first.purchases, 0);

    // `read_more` reads only what was not asked yet.
    let mut reads = s.read(&wanted[..2]).await.unwrap();
    made(&env);
    s.read_more(&mut reads, &wanted[..2]).await.unwrap();
    assert_eq!(made(&env), calls(&[]), "nothing new to read");
    s.read_more(&mut reads, &wanted[..3]).await.unwrap();
    assert_eq!(made(&env), calls(&[("BatchGetItem", 1)]));
    assert!(reads.contains(&wanted[2]));
    assert_eq!(
        ledger::get::<PartnerClient>(&s, &wanted[3]).await.unwrap(),
        Some(client(&t, "tg-3", 3))
    );
}

#[tokio::test]
async fn a_plan_commits_whole_or_not_at_all() {
    let env = TestEnv::new().await;
    let t = tenant();
    let s = store(&env);
    let key = account_key(&t, "tg-1");
    let days = BTreeMap::from([("2026-01-01".to_owned(), 70), ("2026-01-05".to_owned(), 30)]);

    let mut plan: WritePlan<Fail> = WritePlan::new();
    plan.put(account(&t, "tg-1", None), Some(Cond::item_absent()));
    let first = entry(&t, "tg-1", 100, 1);
    plan.put(first.clone(), Some(Cond::item_absent()));
    env.counter.reset();
    s.write(&plan).await.unwrap();
    assert_eq!(made(&env), calls(&[("TransactWriteItems", 1)]));

    // An update conditioned on the revision: a map of numbers, sets, adds and removes.
    let mut update: WritePlan<Fail> = WritePlan::new();
    update.update(
        Update::new(key.clone())
            .set("balance", 100i64)
            .set("credited", 100i64)
            .set("credit_days", Val::NumMap(days.clone()))
            .set("rev", 2i64)
            .add("purchases", 3)
            .set("GSI1PK", credits_gsi(&t))
            .set("GSI1SK", credits_gsi_sk("2026-01-01", "tg-1"))
            .when(Cond::eq("rev", 1i64)),
    );
    update.update(delta_update(&t));
    s.write(&update).await.unwrap();
    let stored: Account = ledger::get(&s, &key).await.unwrap().unwrap();
    assert_eq!(stored.credit_days, days);
    assert_eq!((stored.balance, stored.rev, stored.purchases), (100, 2, 3));

    // The same update again: the revision moved, nothing is written, and a step
    // without an answer asks the caller to read again.
    let before = made(&env);
    assert_eq!(
        before,
        calls(&[("BatchGetItem", 1), ("TransactWriteItems", 1)])
    );
    match s.write(&update).await {
        Err(PlanError::Stale(_)) => {}
        other => panic!("{other:?}"),
    }
    let again: Account = ledger::get(&s, &key).await.unwrap().unwrap();
    assert_eq!(again, stored, "nothing of a cancelled plan is applied");
    assert_eq!(
        env.counters(&t, "2026-01-01").await.get("loyalty_contract"),
        Some(&1),
        "not even the counter update beside it"
    );

    // The first failed step with an answer decides, in plan order.
    let mut refused: WritePlan<Fail> = WritePlan::new();
    refused.put(entry(&t, "tg-1", 5, 2), Some(Cond::item_absent()));
    refused.push_or(
        Op::Put {
            record: sauda_shared::plan::Record::new(first.clone()),
            cond: Some(Cond::item_absent()),
        },
        Fail::Twin,
    );
    refused.push_or(
        Op::Check {
            key: key.clone(),
            cond: Cond::lt("balance", 50i64),
        },
        Fail::Rule(LoyaltyError::InsufficientPoints {
            balance: 100,
            requested: 50,
        }),
    );
    made(&env);
    match s.write(&refused).await {
        Err(PlanError::Rejected(Fail::Twin)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(made(&env), calls(&[("TransactWriteItems", 1)]));
    refused.steps.remove(1);
    match s.write(&refused).await {
        Err(PlanError::Rejected(Fail::Rule(LoyaltyError::InsufficientPoints { .. }))) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.ledger_points(&t, "tg-1").await.unwrap(),
        vec![100],
        "the entry beside the refused steps was not written"
    );
}

fn delta_update(t: &TenantId) -> Update {
    let mut delta = sauda_shared::stats::CounterDelta::default();
    delta.add("loyalty_contract", 1);
    delta.plan_update(t, "2026-01-01", 0)
}

#[tokio::test]
async fn a_one_step_plan_is_a_single_write() {
    let env = TestEnv::new().await;
    let t = tenant();
    let s = store(&env);
    let partner = partner(&t, "cafe", PartnerStatus::Pending);
    let mut plan: WritePlan<Fail> = WritePlan::new();
    plan.push_or(
        Op::Put {
            record: sauda_shared::plan::Record::new(PartnerItem::new(&t, &partner)),
            cond: Some(Cond::item_absent()),
        },
        Fail::Rule(LoyaltyError::PartnerExists),
    );
    env.counter.reset();
    s.write(&plan).await.unwrap();
    assert_eq!(
        made(&env),
        calls(&[("PutItem", 1)]),
        "no transaction for one write"
    );
    match s.write(&plan).await {
        Err(PlanError::Rejected(Fail::Rule(LoyaltyError::PartnerExists))) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(made(&env), calls(&[("PutItem", 1)]));
    let mut bump: WritePlan<Fail> = WritePlan::new();
    bump.update(
        Update::new(keys::partner(&t, "cafe"))
            .set("name", "Café")
            .when(Cond::eq("updated_ms", 7i64)),
    );
    match s.write(&bump).await {
        Err(PlanError::Stale(_)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(made(&env), calls(&[("UpdateItem", 1)]));
    let stored: Partner = ledger::get(&s, &keys::partner(&t, "cafe"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, partner, "the failed update changed nothing");
}

fn partner(t: &TenantId, id: &str, status: PartnerStatus) -> Partner {
    let (pk, sk) = keys::partner(t, id);
    Partner {
        pk,
        sk,
        partner_id: id.into(),
        name: format!("Partner {id}"),
        status,
        kind: "shop".into(),
        telegram_chat_id: None,
        cashback_bp: None,
        services: Vec::new(),
        created_ms: 1,
        updated_ms: 1,
    }
}

#[tokio::test]
async fn listings_stay_inside_their_tenant() {
    let env = TestEnv::new().await;
    let (t, other) = (tenant(), tenant());
    let s = store(&env);
    for (tenant, contact, points, at) in [
        (&t, "tg-1", 10, 1_000),
        (&t, "tg-1", -4, 2_000),
        (&t, "tg-1", 7, 3_000),
        (&t, "tg-2", 99, 4_000),
        (&other, "tg-1", 500, 5_000),
    ] {
        env.put(entry(tenant, contact, points, at)).await;
    }
    // Ledger pages: newest first, a position to continue after, one member only.
    env.counter.reset();
    let first = s.ledger_page(&t, "tg-1", 2, None).await.unwrap();
    assert_eq!(made(&env), calls(&[("Query", 1)]));
    let points: Vec<i64> = first.entries.iter().map(|e| e.points).collect();
    assert_eq!(points, [7, -4]);
    let next = first.last_sk.expect("more entries follow");
    let second = s.ledger_page(&t, "tg-1", 2, Some(&next)).await.unwrap();
    let points: Vec<i64> = second.entries.iter().map(|e| e.points).collect();
    assert_eq!(points, [10]);
    assert_eq!(second.last_sk, None);
    let mut all = s.ledger_points(&t, "tg-1").await.unwrap();
    all.sort();
    assert_eq!(all, [-4, 7, 10]);
    assert_eq!(s.ledger_points(&other, "tg-1").await.unwrap(), [500]);

    // Partners by status, through the status index.
    for (tenant, id, status) in [
        (&t, "a-shop", PartnerStatus::Active),
        (&t, "b-shop", PartnerStatus::Pending),
        (&t, "c-shop", PartnerStatus::Active),
        (&other, "d-shop", PartnerStatus::Active),
    ] {
        env.put(PartnerItem::new(tenant, &partner(tenant, id, status)))
            .await;
    }
    let ids = |list: Vec<Partner>| list.into_iter().map(|p| p.partner_id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.partners(&t, Some("active")).await.unwrap()),
        ["a-shop", "c-shop"]
    );
    assert_eq!(ids(s.partners(&t, None).await.unwrap()).len(), 3);
    assert_eq!(ids(s.partners(&other, None).await.unwrap()), ["d-shop"]);

    // Accounts due for expiry: oldest outstanding day before the bound.
    for (tenant, contact, day) in [
        (&t, "tg-1", Some("2026-01-01")),
        (&t, "tg-2", Some("2026-02-01")),
        (&t, "tg-3", None),
        (&other, "tg-4", Some("2025-01-01")),
    ] {
        env.put(account(tenant, contact, day)).await;
    }
    assert_eq!(s.accounts_due(&t, "2026-01-02").await.unwrap(), ["tg-1"]);
    let mut due = s.accounts_due(&t, "2027-01-01").await.unwrap();
    due.sort();
    assert_eq!(due, ["tg-1", "tg-2"]);
    let mut audited: Vec<String> = s
        .accounts(&t)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.contact)
        .collect();
    audited.sort();
    assert_eq!(audited, ["tg-1", "tg-2", "tg-3"]);

    // The registry lists the tenants that turned expiry on (this stage's table only).
    let on = env
        .tenant_with(
            |c| {
                c.loyalty.enabled = true;
                c.loyalty.expiry_days = Some(30);
            },
            Default::default(),
        )
        .await;
    env.tenant_with(|c| c.loyalty.enabled = true, Default::default())
        .await;
    let listed: Vec<TenantId> = s
        .expiry_tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.tenant)
        .collect();
    assert_eq!(listed, [on]);
}

/// Puts one record unless it exists (then: `partner_exists`, a refusal).
struct PutOnce {
    tenant: TenantId,
    id: String,
}

#[async_trait]
impl Planner for PutOnce {
    fn keys(&self) -> Vec<Key> {
        vec![keys::partner(&self.tenant, &self.id)]
    }

    async fn plan(
        &self,
        _: &dyn LoyaltyStore,
        reads: &mut Reads,
        _now_ms: i64,
    ) -> Result<Plan, LoyaltyError> {
        if reads.contains(&self.keys()[0]) {
            return Err(LoyaltyError::PartnerExists);
        }
        let mut writes = WritePlan::new();
        writes.put(
            PartnerItem::new(
                &self.tenant,
                &partner(&self.tenant, &self.id, PartnerStatus::Pending),
            ),
            Some(Cond::item_absent()),
        );
        Ok(Plan::new(
            writes,
            StatusCode::CREATED,
            json!({"id": self.id}),
        ))
    }
}

#[tokio::test]
async fn the_executor_replays_limits_and_counts_refusals() {
    let env = TestEnv::new().await;
    let t = tenant();
    let clock = Arc::new(|| 1_800_000_000_000i64 + 5_000);
    let s: Arc<dyn LoyaltyStore> = Arc::new(store(&env).with_clock(clock));
    assert_eq!(s.now_ms(), 1_800_000_005_000, "the clock is the store's");
    let idem = |key: &str, hash: &str| Idempotency::new(&t, "p:shop", key, hash.into());
    let rate = RateLimit {
        scope: "loyalty#k1".into(),
        per_minute: 3,
    };
    let run = |planner: PutOnce, idempotency: Idempotency| {
        let (s, t, rate) = (s.clone(), t.clone(), rate.clone());
        async move { ledger::execute(s.as_ref(), Some(&idempotency), Some(&rate), &t, &planner).await }
    };
    let put = |id: &str| PutOnce {
        tenant: t.clone(),
        id: id.into(),
    };

    env.counter.reset();
    let first = run(put("p1"), idem("k-1", "h1")).await.unwrap();
    assert_eq!((first.status, first.replayed), (StatusCode::CREATED, false));
    assert_eq!(
        made(&env),
        calls(&[("BatchGetItem", 1), ("TransactWriteItems", 1)]),
        "record, window and change in one transaction"
    );
    let replay = run(put("p1"), idem("k-1", "h1")).await.unwrap();
    assert_eq!((replay.body, replay.replayed), (first.body, true));
    assert_eq!(
        made(&env),
        calls(&[("BatchGetItem", 1)]),
        "a replay is one read"
    );
    assert_eq!(
        run(put("p1"), idem("k-1", "other request")).await,
        Err(LoyaltyError::IdempotencyKeyReused)
    );
    // A refusal is counted in the window with one write.
    made(&env);
    assert_eq!(
        run(put("p1"), idem("k-2", "h2")).await,
        Err(LoyaltyError::PartnerExists)
    );
    assert_eq!(made(&env), calls(&[("BatchGetItem", 1), ("UpdateItem", 1)]));
    // Third in the window: accepted; the fourth finds it full, changes nothing.
    run(put("p2"), idem("k-3", "h3")).await.unwrap();
    assert_eq!(
        run(put("p3"), idem("k-4", "h4")).await,
        Err(LoyaltyError::RateLimited { retry_after_s: 55 })
    );
    assert_eq!(
        run(put("p1"), idem("k-5", "h5")).await,
        Err(LoyaltyError::RateLimited { retry_after_s: 55 }),
        "refusals are limited too"
    );
    assert!(ledger::get::<Partner>(s.as_ref(), &keys::partner(&t, "p3"))
        .await
        .unwrap()
        .is_none());
}
