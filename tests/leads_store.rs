//! The contract of lead-capture's store port (`LeadStore`), run against its DynamoDB
//! adapter on moto: plans commit whole or not at all, a failed condition comes back as
//! the plan's own refusal or as "stale", reads follow links and identities, listings
//! page newest first, and nothing crosses tenants.

use lead_capture::domain::{capture, changes, Ctx, Refusal, StageMove};
use lead_capture::dynamo::DynamoLeadStore;
use lead_capture::model::{Actor, LeadSlot};
use lead_capture::store::LeadStore;
use lead_capture::validate::{self, ValidLead};
use sauda_shared::contact::{self, ContactProfile};
use sauda_shared::funnel::Stage;
use sauda_shared::lead::{LeadSource, LeadSubmission};
use sauda_shared::partner::{Partner, PartnerStatus};
use sauda_shared::plan::{CancelReason, PlanError};
use sauda_shared::tenant::TenantStatus;
use sauda_shared::TenantId;
use sauda_tests::TestEnv;

const NOW: i64 = 1_795_552_200_000;

fn store(env: &TestEnv) -> DynamoLeadStore {
    DynamoLeadStore::new(env.clients.dynamo.clone(), &env.stack.table)
}

fn ctx(tenant: &TenantId, now_ms: i64) -> Ctx<'_> {
    Ctx {
        tenant,
        timezone: "UTC",
        now_ms,
        seed: 1,
    }
}

fn sub(t: &TenantId, key: &str, contact: Option<&str>, phone: Option<&str>) -> ValidLead {
    let submission = LeadSubmission {
        tenant: t.clone(),
        source: LeadSource::Agent,
        idempotency_key: key.to_owned(),
        contact: contact.map(str::to_owned),
        name: Some("Bek".into()),
        phone: phone.map(str::to_owned),
        email: Some(format!("{key}@example.kz")),
        interest: None,
        message: None,
        language: None,
        consent: false,
        submitted_at_ms: NOW,
    };
    validate::queued(&submission, "KZ").unwrap()
}

/// Creates a lead the way the service does on a first attempt.
async fn create(store: &dyn LeadStore, t: &TenantId, lead: &ValidLead, now_ms: i64) -> String {
    let capture::Decision::Create { cid } = capture::first_attempt(lead) else {
        panic!("a first attempt creates");
    };
    let (plan, _) = capture::create(&ctx(t, now_ms), lead, &cid);
    store.apply(&plan).await.expect("a new lead commits");
    cid
}

async fn tenant(env: &TestEnv) -> TenantId {
    env.tenant_with(|_| {}, Default::default()).await
}

#[tokio::test]
async fn a_plan_commits_whole_or_comes_back_stale() {
    let env = TestEnv::new().await;
    let store = store(&env);
    let t = tenant(&env).await;
    let lead = sub(&t, "k1", None, Some("+77011234567"));
    let cid = create(&store, &t, &lead, NOW).await;
    assert_eq!(cid, "wa-77011234567");

    // The same new lead again: the lead, identities and idempotency record exist.
    let (again, _) = capture::create(&ctx(&t, NOW + 1), &lead, &cid);
    match store.apply(&again).await {
        Err(PlanError::Stale(reasons)) => {
            assert_eq!(reasons.len(), again.len(), "one reason per step");
            assert_eq!(reasons[0], CancelReason::ConditionFailed, "{reasons:?}");
        }
        other => panic!("a lost race is stale: {other:?}"),
    }
    let (slot, history) = store.slot_and_history(&t, &cid).await.unwrap();
    assert!(matches!(slot, Some(LeadSlot::Lead(_))));
    assert_eq!(history.len(), 1, "the failed plan wrote nothing");
    let counters = env.counters(&t, "2026-11-24").await;
    assert_eq!(counters.get("leads_new_agent"), Some(&1), "{counters:?}");
}

#[tokio::test]
async fn capture_state_follows_links_and_identities_to_their_leads() {
    let env = TestEnv::new().await;
    let store = store(&env);
    let t = tenant(&env).await;
    let form = sub(&t, "k-form", None, Some("+77011234567"));
    let home = create(&store, &t, &form, NOW).await;

    // The customer writes from Telegram with the same phone: a merge that links the chat.
    let chat = sub(&t, "k-chat", Some("tg-9"), Some("+77011234567"));
    let lookup = capture::lookup(&t, &chat);
    let state = store.capture_state(&t, &lookup).await.unwrap();
    assert!(state.idem.is_none());
    assert!(state.home.is_none(), "the chat has no lead yet");
    assert_eq!(state.phone_owner.as_deref(), Some(home.as_str()));
    assert!(
        state.leads.contains_key(&home),
        "the owner's lead is read too"
    );
    let decision = capture::decide(&chat, state, NOW + 1);
    let (plan, captured) = capture::plan(&ctx(&t, NOW + 1), &chat, decision).unwrap();
    store.apply(&plan).await.unwrap();
    assert_eq!(captured.lead.linked_contacts, ["tg-9"]);

    let state = store.capture_state(&t, &lookup).await.unwrap();
    let idem = state.idem.clone().expect("the submission is recorded");
    assert_eq!(idem.contact, home);
    assert_eq!(idem.history_id, captured.history_id);
    assert_eq!(
        state.home,
        Some(LeadSlot::Link { to: home.clone() }),
        "the chat's slot links to the lead"
    );
    assert_eq!(state.leads[&home].submissions, 2);
    assert!(matches!(
        capture::decide(&chat, state, NOW + 2),
        capture::Decision::Duplicate(_)
    ));

    // Any conversation finds the lead, its history and both conversations' profiles.
    let lead = store.lead(&t, "tg-9").await.unwrap().unwrap();
    assert_eq!(lead.contact, home);
    let view = store.view(&t, "tg-9").await.unwrap().unwrap();
    let kinds: Vec<String> = view
        .history
        .iter()
        .map(|h| {
            serde_json::to_value(&h.kind)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(kinds, ["created", "merged"], "oldest first");
    assert_eq!(
        view.conversations,
        [("tg-9".to_owned(), false), (home.clone(), false)]
    );
    assert!(store.view(&t, "tg-404").await.unwrap().is_none());

    // Another tenant sees none of it.
    let other = tenant(&env).await;
    assert!(store.lead(&other, &home).await.unwrap().is_none());
    let state = store
        .capture_state(&other, &capture::lookup(&other, &chat))
        .await
        .unwrap();
    assert!(state.phone_owner.is_none() && state.leads.is_empty());
}

#[tokio::test]
async fn refusals_and_stale_plans_are_told_apart() {
    let env = TestEnv::new().await;
    let store = store(&env);
    let t = tenant(&env).await;
    let actor = Actor::Operator;

    // A plan whose failed condition has an answer gives that answer.
    let (resume, _) = changes::resume_agent(&ctx(&t, NOW), None, "tg-404", &actor);
    assert!(matches!(
        store.apply(&resume).await,
        Err(PlanError::Rejected(Refusal::NotFound))
    ));
    assert!(matches!(
        store.apply(&changes::clear_intent(&t, "tg-404")).await,
        Err(PlanError::Rejected(Refusal::NotFound))
    ));
    assert!(
        store.slot(&t, "tg-404").await.unwrap().is_none(),
        "a refused update creates nothing"
    );

    // Two moves planned from the same read: the second finds the stage changed.
    let cid = create(&store, &t, &sub(&t, "k2", Some("tg-5"), None), NOW).await;
    let lead = store.lead(&t, &cid).await.unwrap().unwrap();
    let to = |stage| StageMove {
        to: stage,
        expected: None,
        reason: None,
    };
    let plan =
        |stage| match changes::move_stage(&ctx(&t, NOW + 1), lead.clone(), &to(stage), &actor) {
            Ok(changes::Planned::Write(plan, _)) => plan,
            other => panic!("a move: {other:?}"),
        };
    let (first, second) = (plan(Stage::Qualification), plan(Stage::Offer));
    store.apply(&first).await.unwrap();
    assert!(matches!(
        store.apply(&second).await,
        Err(PlanError::Stale(_))
    ));
    let after = store.lead(&t, &cid).await.unwrap().unwrap();
    assert_eq!(after.stage, Stage::Qualification);
    let (pk, sk) = ContactProfile::key(&t, &cid);
    let profile = env
        .clients
        .dynamo
        .get_item()
        .table_name(&env.stack.table)
        .key("PK", sauda_shared::dynamo::s(pk))
        .key("SK", sauda_shared::dynamo::s(sk))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        sauda_shared::dynamo::item_s(&profile, "stage"),
        "qualification"
    );
}

#[tokio::test]
async fn listing_pages_newest_first_within_the_tenant() {
    let env = TestEnv::new().await;
    let store = store(&env);
    let t = tenant(&env).await;
    let other = tenant(&env).await;
    for i in 0..5 {
        let chat = format!("tg-{i}");
        create(
            &store,
            &t,
            &sub(&t, &format!("k{i}"), Some(&chat), None),
            NOW + i,
        )
        .await;
    }
    create(
        &store,
        &other,
        &sub(&other, "ko", Some("tg-0"), None),
        NOW + 10,
    )
    .await;

    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let (leads, next) = store.list(&t, Stage::New, 2, after).await.unwrap();
        pages += 1;
        assert!(leads.len() <= 2);
        seen.extend(leads.into_iter().map(|l| {
            assert!(l.pk.starts_with(&format!("T#{t}#")), "{}", l.pk);
            l.contact
        }));
        match next {
            Some(position) => after = Some(position),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["tg-4", "tg-3", "tg-2", "tg-1", "tg-0"]);
    let (offer, next) = store.list(&t, Stage::Offer, 2, None).await.unwrap();
    assert!(offer.is_empty() && next.is_none());
}

#[tokio::test]
async fn partners_tenants_quiet_contacts_and_many_profiles() {
    let env = TestEnv::new().await;
    let store = store(&env);
    let t = tenant(&env).await;
    let suspended = tenant(&env).await;
    sauda_infra::tenant::set_tenant_status(
        &env.clients.dynamo,
        &env.stack.table,
        &suspended,
        TenantStatus::Suspended,
    )
    .await
    .unwrap();
    let active = store.active_tenants().await.unwrap();
    assert!(active.contains(&t) && !active.contains(&suspended));

    let (pk, sk) = Partner::key(&t, "guide-bek");
    env.put(Partner {
        pk,
        sk,
        partner_id: "guide-bek".into(),
        name: "Bek".into(),
        status: PartnerStatus::Active,
        kind: "guide".into(),
        telegram_chat_id: Some(7),
        cashback_bp: None,
        services: vec![],
        created_ms: 1,
        updated_ms: 1,
    })
    .await;
    assert_eq!(
        store.partner(&t, "guide-bek").await.unwrap().unwrap().name,
        "Bek"
    );
    assert!(store
        .partner(&suspended, "guide-bek")
        .await
        .unwrap()
        .is_none());

    // 150 profiles: more than one BatchGetItem holds; every one is read.
    let contacts: Vec<String> = (0..150).map(|i| format!("tg-{i}")).collect();
    for (i, c) in contacts.iter().enumerate() {
        let (pk, sk) = ContactProfile::key(&t, c);
        let quiet = i < 3;
        env.put(ContactProfile {
            pk,
            sk,
            contact: c.clone(),
            intent_at_ms: quiet.then_some(NOW - 10 + i as i64),
            last_inbound_ms: Some(NOW - 10 + i as i64),
            agent_paused: i % 2 == 0,
            ..Default::default()
        })
        .await;
        if quiet {
            let (pk, sk) = ContactProfile::key(&t, c);
            env.clients
                .dynamo
                .update_item()
                .table_name(&env.stack.table)
                .key("PK", sauda_shared::dynamo::s(pk))
                .key("SK", sauda_shared::dynamo::s(sk))
                .update_expression("SET GSI1PK = :p, GSI1SK = :s")
                .expression_attribute_values(":p", sauda_shared::dynamo::s(contact::intent_gsi(&t)))
                .expression_attribute_values(
                    ":s",
                    sauda_shared::dynamo::s(contact::intent_gsi_sk(NOW - 10 + i as i64, c)),
                )
                .send()
                .await
                .unwrap();
        }
    }
    let states = store.agent_states(&t, &contacts).await.unwrap();
    assert_eq!(states.len(), 150);
    assert_eq!(states.iter().filter(|(_, paused)| *paused).count(), 75);
    assert!(store
        .agent_states(&suspended, &contacts)
        .await
        .unwrap()
        .is_empty());

    let quiet = store.quiet_contacts(&t, NOW, 2).await.unwrap();
    let names: Vec<&str> = quiet.iter().map(|q| q.contact.as_str()).collect();
    assert_eq!(names, ["tg-0", "tg-1"], "oldest first, at most the limit");
    assert_eq!(quiet[0].intent_at_ms, Some(NOW - 10));
    assert!(!quiet[0].has_lead);
    assert!(store
        .quiet_contacts(&t, NOW - 100, 10)
        .await
        .unwrap()
        .is_empty());
}
