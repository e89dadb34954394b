//! Contract of the `OrderStore` port, on its DynamoDB adapter against moto: a created
//! order is read back whole; a second create is `OrderExists`; a stale revision is
//! `Stale`; a repeated ledger item is `DuplicatePayment` with its key; listings page by
//! status, newest change first; history and ledger come with the order; pointers lead
//! from a contact and from a payment reference to orders; expiry pointers are read up
//! to now; nothing crosses tenants.

use orders::domain::{self, Conflict, ProviderEvent, Transition};
use orders::dynamo::DynamoOrders;
use orders::store::OrderStore;
use sauda_shared::message::Channel;
use sauda_shared::order::{
    Confirmation, Customer, Order, OrderLine, OrderRequest, OrderSource, OrderStatus, Payment,
    Provider,
};
use sauda_shared::plan::PlanError;
use sauda_shared::stats::metric;
use sauda_shared::TenantId;
use sauda_tests::TestEnv;

fn request(contact: &str) -> OrderRequest {
    OrderRequest {
        order_id: None,
        customer: Customer {
            contact: contact.into(),
            channel: Channel::Telegram,
            reply_to: contact.trim_start_matches("tg-").into(),
            language: None,
        },
        items: vec![],
        source: OrderSource::Manager,
        actor: "manager:k".into(),
        catalog_version: None,
        delivery: None,
    }
}

fn draft(tenant: &TenantId, id: &str, contact: &str, now_ms: i64) -> Order {
    let lines = vec![OrderLine {
        sku: "A".into(),
        name: "A".into(),
        unit_price_minor: 1_000,
        quantity: 1,
        line_total_minor: 1_000,
    }];
    Order::draft(
        tenant.clone(),
        id.into(),
        &request(contact),
        lines,
        1_000,
        "KZT",
        now_ms,
    )
}

async fn place(
    store: &DynamoOrders,
    tenant: &TenantId,
    id: &str,
    contact: &str,
    now_ms: i64,
) -> Order {
    let change = draft(tenant, id, contact, now_ms)
        .place(now_ms, 3_600_000, "manager:k")
        .unwrap();
    store
        .commit(&domain::placement(tenant, "UTC", &change))
        .await
        .unwrap();
    change.order
}

#[tokio::test]
async fn orders_are_created_once_and_changed_only_at_the_revision_read() {
    let env = TestEnv::new().await;
    let t = env.tenant().await.id;
    let store = DynamoOrders::new(env.clients.dynamo.clone(), &env.stack.table);
    let placed = place(&store, &t, "O1", "tg-1", 1_000_000).await;
    assert_eq!(store.get(&t, "O1").await.unwrap(), Some(placed.clone()));

    // The same create again: a definite answer, nothing written.
    let again = draft(&t, "O1", "tg-1", 2_000_000)
        .place(2_000_000, 1, "x")
        .unwrap();
    let plan = Transition {
        tenant: &t,
        timezone: "UTC",
        before: None,
        change: &again,
        counters: Default::default(),
        payment: None,
        event: None,
    }
    .plan();
    assert!(matches!(
        store.commit(&plan).await,
        Err(PlanError::Rejected(Conflict::OrderExists))
    ));

    // A payment at the revision read, with its ledger item and event mark.
    let payment = Payment {
        provider: Provider::Stripe,
        reference: "pi_1".into(),
        amount_minor: 1_000,
        currency: "KZT".into(),
        payer_id: None,
    };
    let Confirmation::Paid(paid) = placed.clone().confirm_payment(&payment, 3_000_000) else {
        panic!()
    };
    let ledger = domain::payment_record(
        &placed,
        Provider::Stripe,
        "pi_1",
        "paid",
        1_000,
        "KZT",
        None,
        None,
        "provider:stripe",
        3_000_000,
    );
    let plan = |before: &Order, event_id: &str| {
        Transition {
            tenant: &t,
            timezone: "UTC",
            before: Some(before),
            change: &paid,
            counters: domain::paid_counters(&paid.order, Provider::Stripe, 1_000),
            payment: Some(ledger.clone()),
            event: Some(ProviderEvent {
                provider: Provider::Stripe,
                id: event_id.into(),
                event_type: "checkout.session.completed".into(),
            }),
        }
        .plan()
    };
    store.commit(&plan(&placed, "evt_1")).await.unwrap();
    // The same ledger item again: reported with its key.
    match store.commit(&plan(&placed, "evt_2")).await {
        Err(PlanError::Rejected(Conflict::DuplicatePayment(key))) => {
            assert_eq!(key, ledger.key());
            assert_eq!(store.payment(&key).await.unwrap().unwrap(), ledger);
        }
        other => panic!("{other:?}"),
    }
    // A stale revision without a ledger item: read again.
    let cancel = placed.clone().cancel(4_000_000, "m", None).unwrap();
    let stale = Transition {
        tenant: &t,
        timezone: "UTC",
        before: Some(&placed),
        change: &cancel,
        counters: Default::default(),
        payment: None,
        event: None,
    }
    .plan();
    assert!(matches!(
        store.commit(&stale).await,
        Err(PlanError::Stale(_))
    ));

    let detail = store.detail(&t, "O1").await.unwrap().unwrap();
    assert_eq!(detail.order, paid.order);
    let actions: Vec<&str> = detail
        .history
        .iter()
        .map(|h| h.event.action.as_str())
        .collect();
    assert_eq!(actions, ["placed", "paid"]);
    assert_eq!(detail.payments, vec![ledger]);
    assert_eq!(
        store
            .order_of_payment(&t, Provider::Stripe, "pi_1")
            .await
            .unwrap(),
        Some("O1".into())
    );
    assert_eq!(
        store
            .order_of_payment(&t, Provider::Kaspi, "pi_1")
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .due_expiries(&t, i64::MAX / 2, 10)
            .await
            .unwrap()
            .is_empty(),
        "paid: no expiry"
    );
    let counters = env.counters(&t, "1970-01-01").await;
    assert_eq!(counters.get(metric::ORDERS_PLACED), Some(&1));
    assert_eq!(counters.get(metric::ORDERS_PAID), Some(&1));
}

#[tokio::test]
async fn listings_pointers_and_expiries_stay_inside_their_tenant() {
    let env = TestEnv::new().await;
    let t = env.tenant().await.id;
    let other = env.tenant().await.id;
    let store = DynamoOrders::new(env.clients.dynamo.clone(), &env.stack.table);
    for (i, id) in ["A1", "A2", "A3", "A4", "A5"].iter().enumerate() {
        place(
            &store,
            &t,
            id,
            if i < 3 { "tg-1" } else { "tg-2" },
            1_000_000 + i as i64 * 1_000,
        )
        .await;
    }
    place(&store, &other, "B1", "tg-1", 1_000_500).await;

    let first = store.list(&t, OrderStatus::Placed, None, 2).await.unwrap();
    let ids = |orders: &[Order]| {
        orders
            .iter()
            .map(|o| o.order_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&first.orders), ["A5", "A4"]);
    let second = store
        .list(&t, OrderStatus::Placed, first.next.as_deref(), 2)
        .await
        .unwrap();
    assert_eq!(ids(&second.orders), ["A3", "A2"]);
    let third = store
        .list(&t, OrderStatus::Placed, second.next.as_deref(), 2)
        .await
        .unwrap();
    assert_eq!(ids(&third.orders), ["A1"]);
    assert!(store
        .list(&t, OrderStatus::Canceled, None, 10)
        .await
        .unwrap()
        .orders
        .is_empty());
    assert!(store
        .list(&t, OrderStatus::Placed, Some("not a position"), 2)
        .await
        .is_err());

    let mine = store.of_contact(&t, "tg-1", 10).await.unwrap();
    assert_eq!(
        ids(&mine),
        ["A3", "A2", "A1"],
        "newest first, this tenant only"
    );
    assert_eq!(
        ids(&store.of_contact(&other, "tg-1", 10).await.unwrap()),
        ["B1"]
    );

    // Placed at 1 000 000 + i·1 000 with a one-hour expiry.
    let due = store
        .due_expiries(&t, 1_000_000 + 3_600_000 + 1_000, 10)
        .await
        .unwrap();
    let due: Vec<&str> = due.iter().map(|p| p.order_id.as_str()).collect();
    assert_eq!(due, ["A1", "A2"]);
    assert_eq!(store.due_expiries(&t, 0, 10).await.unwrap().len(), 0);
    assert!(store.get(&other, "A1").await.unwrap().is_none());
    assert!(store.detail(&other, "A1").await.unwrap().is_none());
}
