//! Orders as stored, and the write plan of every transition. Pure: no AWS type here;
//! `dynamo.rs` executes the plans.
//!
//! A transition is ONE transaction: the order item conditioned on the `revision` it was
//! computed from, a history item (`HIST#{ts}#{revision}`: actor, action, reason), the
//! day's counters, and, as the transition requires, the append-only payment-ledger item
//! (`PAY#{provider}#{reference}#{event}`, put only if absent: the ledger is unique on
//! provider, reference and event type), the provider's event mark (Stripe `event.id`),
//! the expiry pointer of an unpaid order and the contact's "my orders" pointer.

use sauda_shared::keys;
use sauda_shared::order::{
    Change, FulfillmentStatus, Order, OrderEvent, OrderLine, OrderStatus, PaymentEffect,
    PaymentStatus, Provider,
};
use sauda_shared::plan::{Cond, Key, Op, Record, WritePlan};
use sauda_shared::stats::{self, metric, CounterDelta};
use sauda_shared::TenantId;
use serde::{Deserialize, Serialize};

/// A planned write the store refused for good (the rest means "read again").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conflict {
    /// An order with this id exists already: a retried create.
    OrderExists,
    /// This payment event is in the ledger already (a redelivery): its ledger key.
    DuplicatePayment(Key),
    /// This provider event (Stripe `event.id`) was applied already.
    DuplicateEvent,
}

/// How long a provider's event mark is kept (Stripe retries for 3 days).
pub const EVENT_MARK_TTL_S: i64 = 30 * 86_400;

/// The order item: the order with its keys and its place in the by-status listing.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OrderRecord {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(rename = "GSI1PK")]
    pub gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    pub gsi1sk: String,
    #[serde(flatten)]
    pub order: Order,
}

impl OrderRecord {
    pub fn new(order: Order) -> Self {
        let (pk, sk) = keys::order(&order.tenant, &order.order_id);
        Self {
            pk,
            sk,
            gsi1pk: keys::orders_by_status_gsi(&order.tenant, order.status.as_str()),
            gsi1sk: keys::orders_by_status_gsi_sk(order.updated_ms, &order.order_id),
            order,
        }
    }
}

/// One change of an order, kept forever in its partition.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HistoryRecord {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub order_id: String,
    pub revision: i64,
    #[serde(flatten)]
    pub event: OrderEvent,
}

/// One provider event about money (a charge, a refund, a mismatch), append-only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRecord {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub order_id: String,
    pub provider: Provider,
    pub reference: String,
    /// `paid`, `refund@{cumulative}`, …
    pub event: String,
    pub amount_minor: i64,
    pub currency: String,
    /// What the worker did about it (queued again as is on a redelivery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<PaymentEffect>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_id: Option<i64>,
    pub actor: String,
    pub at_ms: i64,
}

impl PaymentRecord {
    pub fn key(&self) -> Key {
        (self.pk.clone(), self.sk.clone())
    }
}

/// An unpaid placed order, by the time it expires (read by the hourly sweep).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExpiryPointer {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub order_id: String,
    pub expires_at_ms: i64,
}

/// "My orders": one per order in the contact's partition.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ContactPointer {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub order_id: String,
    pub created_ms: i64,
}

/// A provider's payment reference → its order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PaymentPointer {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub order_id: String,
}

/// A provider event applied (deduplication; expires with DynamoDB's TTL).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EventMark {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub order_id: String,
    pub event_type: String,
    pub at_ms: i64,
    /// TTL attribute of the table (epoch seconds).
    pub expires_at: i64,
}

/// A provider event to deduplicate on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderEvent {
    pub provider: Provider,
    pub id: String,
    pub event_type: String,
}

/// One transition, ready to plan.
pub struct Transition<'a> {
    pub tenant: &'a TenantId,
    /// The tenant's zone: counters go to its local day.
    pub timezone: &'a str,
    /// `None` for a new order.
    pub before: Option<&'a Order>,
    pub change: &'a Change,
    pub counters: CounterDelta,
    /// A ledger item to append (put only if absent).
    pub payment: Option<PaymentRecord>,
    /// A provider event to mark applied (put only if absent).
    pub event: Option<ProviderEvent>,
}

impl Transition<'_> {
    /// The one transaction of this transition.
    pub fn plan(self) -> WritePlan<Conflict> {
        let after = &self.change.order;
        let t = self.tenant;
        let now_ms = self.change.event.at_ms;
        let mut plan = WritePlan::new();
        // Ledger and event marks first: when a redelivery fails on them *and* on the
        // revision, the definite answer (a duplicate) is the one reported.
        if let Some(payment) = self.payment {
            let key = payment.key();
            plan.push_or(
                Op::Put {
                    record: Record::new(payment),
                    cond: Some(Cond::item_absent()),
                },
                Conflict::DuplicatePayment(key),
            );
        }
        if let Some(event) = self.event {
            let (pk, sk) = keys::provider_event(t, event.provider.as_str(), &event.id);
            plan.push_or(
                Op::Put {
                    record: Record::new(EventMark {
                        pk,
                        sk,
                        order_id: after.order_id.clone(),
                        event_type: event.event_type,
                        at_ms: now_ms,
                        expires_at: now_ms / 1000 + EVENT_MARK_TTL_S,
                    }),
                    cond: Some(Cond::item_absent()),
                },
                Conflict::DuplicateEvent,
            );
        }
        let order_cond = match self.before {
            None => Cond::item_absent(),
            Some(before) => Cond::eq("revision", before.revision),
        };
        let record = OrderRecord::new(after.clone());
        match self.before {
            None => plan.push_or(
                Op::Put {
                    record: Record::new(record),
                    cond: Some(order_cond),
                },
                Conflict::OrderExists,
            ),
            Some(_) => plan.push(Op::Put {
                record: Record::new(record),
                cond: Some(order_cond),
            }),
        };
        let (pk, sk) = keys::order_history(t, &after.order_id, now_ms, after.revision);
        plan.put(
            HistoryRecord {
                pk,
                sk,
                order_id: after.order_id.clone(),
                revision: after.revision,
                event: self.change.event.clone(),
            },
            Some(Cond::item_absent()),
        );
        if self.before.is_none() {
            let pk = keys::contact_pk(t, &after.contact);
            plan.put(
                ContactPointer {
                    pk,
                    sk: keys::contact_order_sk(after.created_ms, &after.order_id),
                    order_id: after.order_id.clone(),
                    created_ms: after.created_ms,
                },
                None,
            );
        }
        // The expiry pointer lives exactly while the order awaits money.
        let waiting_before = self
            .before
            .filter(|b| b.awaits_payment())
            .and_then(|b| b.expires_at_ms);
        let waiting_after = Some(after)
            .filter(|a| a.awaits_payment())
            .and_then(|a| a.expires_at_ms);
        if waiting_before != waiting_after {
            if let Some(at) = waiting_before {
                plan.push(Op::Delete {
                    key: keys::order_expiry(t, at, &after.order_id),
                    cond: None,
                });
            }
            if let Some(at) = waiting_after {
                let (pk, sk) = keys::order_expiry(t, at, &after.order_id);
                plan.put(
                    ExpiryPointer {
                        pk,
                        sk,
                        order_id: after.order_id.clone(),
                        expires_at_ms: at,
                    },
                    None,
                );
            }
        }
        // A newly accepted charge: its reference leads back to the order.
        let before_parts = self.before.map_or(0, |b| b.payments.len());
        for part in after.payments.iter().skip(before_parts) {
            let (pk, sk) = keys::payment_reference(t, part.provider.as_str(), &part.reference);
            plan.put(
                PaymentPointer {
                    pk,
                    sk,
                    order_id: after.order_id.clone(),
                },
                None,
            );
        }
        if !self.counters.is_empty() {
            let day = stats::local_day(self.timezone, now_ms);
            plan.update(self.counters.plan_update(t, &day, now_ms as u64));
        }
        plan
    }
}

/// The transaction that writes a new, placed order (`change` from `Order::place`).
pub fn placement(tenant: &TenantId, timezone: &str, change: &Change) -> WritePlan<Conflict> {
    Transition {
        tenant,
        timezone,
        before: None,
        change,
        counters: placed_counters(),
        payment: None,
        event: None,
    }
    .plan()
}

/// A ledger item for `order`'s partition.
#[allow(clippy::too_many_arguments)]
pub fn payment_record(
    order: &Order,
    provider: Provider,
    reference: &str,
    event: &str,
    amount_minor: i64,
    currency: &str,
    effect: Option<PaymentEffect>,
    payer_id: Option<i64>,
    actor: &str,
    at_ms: i64,
) -> PaymentRecord {
    let (pk, sk) = keys::order_payment(
        &order.tenant,
        &order.order_id,
        provider.as_str(),
        reference,
        event,
    );
    PaymentRecord {
        pk,
        sk,
        order_id: order.order_id.clone(),
        provider,
        reference: reference.to_owned(),
        event: event.to_owned(),
        amount_minor,
        currency: currency.to_ascii_uppercase(),
        effect,
        payer_id,
        actor: actor.to_owned(),
        at_ms,
    }
}

// ---- Counters of each transition ------------------------------------------------------

pub fn placed_counters() -> CounterDelta {
    let mut d = CounterDelta::default();
    d.add(metric::ORDERS_PLACED, 1);
    d
}

/// Money received: the first charge counts the order as paid, with its lines.
pub fn paid_counters(order: &Order, provider: Provider, amount_minor: i64) -> CounterDelta {
    let mut d = CounterDelta::default();
    d.add(metric::ORDERS_PAID, 1)
        .add(metric::ORDERS_REVENUE_MINOR, amount_minor)
        .add(&metric::orders_paid_by(provider.as_str()), 1)
        .add(&metric::orders_revenue_by(provider.as_str()), amount_minor);
    add_lines(&mut d, &order.lines);
    d
}

fn add_lines(d: &mut CounterDelta, lines: &[OrderLine]) {
    for line in lines {
        d.add(&metric::sku_revenue(&line.sku), line.line_total_minor)
            .add(&metric::sku_units(&line.sku), i64::from(line.quantity));
    }
}

/// A second charge: money counted, the order not again.
pub fn overpaid_counters(provider: Provider, amount_minor: i64) -> CounterDelta {
    let mut d = CounterDelta::default();
    d.add(metric::ORDERS_OVERPAID, 1)
        .add(metric::ORDERS_REVENUE_MINOR, amount_minor)
        .add(&metric::orders_revenue_by(provider.as_str()), amount_minor);
    d
}

pub fn one(metric_name: &str) -> CounterDelta {
    let mut d = CounterDelta::default();
    d.add(metric_name, 1);
    d
}

pub fn refund_counters(amount_minor: i64) -> CounterDelta {
    let mut d = CounterDelta::default();
    d.add(metric::ORDERS_REFUNDS, 1)
        .add(metric::ORDERS_REFUNDED_MINOR, amount_minor);
    d
}

/// Counters of a manager's fulfilment step.
pub fn fulfil_counters(to: FulfillmentStatus) -> CounterDelta {
    match to {
        FulfillmentStatus::Fulfilled => one(metric::ORDERS_FULFILLED),
        FulfillmentStatus::Delivered => one(metric::ORDERS_DELIVERED),
        FulfillmentStatus::Unfulfilled => CounterDelta::default(),
    }
}

/// Whether an order's payment state counts as paid (for views and effects).
pub fn is_paid(status: PaymentStatus) -> bool {
    matches!(
        status,
        PaymentStatus::Paid
            | PaymentStatus::Overpaid
            | PaymentStatus::PartiallyRefunded
            | PaymentStatus::Refunded
    )
}

/// Whether an order is finished (for the expiry of its invoice links).
pub fn is_closed(order: &Order) -> bool {
    matches!(
        order.status,
        OrderStatus::Canceled | OrderStatus::Expired | OrderStatus::Completed
    )
}

pub use sauda_shared::order::{
    new_id as new_order_id, stable_id as stable_order_id, valid_id as valid_order_id,
};

/// Provider references and event ids inside keys: 1-200 of `[A-Za-z0-9_.:-]`.
pub fn valid_reference(raw: &str) -> bool {
    (1..=200).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

/// What a customer sees as the order number: the id's last 8 characters.
pub fn display_number(order_id: &str) -> &str {
    let n = order_id.len();
    &order_id[n.saturating_sub(8)..]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use sauda_shared::message::Channel;
    use sauda_shared::order::{
        Confirmation, Customer, LineRequest, OrderRequest, OrderSource, Payment,
    };
    use sauda_shared::plan::{CmpOp, Val};

    pub fn order() -> Order {
        let request = OrderRequest {
            order_id: None,
            customer: Customer {
                contact: "tg-1".into(),
                channel: Channel::Telegram,
                reply_to: "1".into(),
                language: Some("ru".into()),
            },
            items: vec![LineRequest {
                sku: "PUMP-1".into(),
                quantity: 2,
            }],
            source: OrderSource::Manager,
            actor: "manager:k1".into(),
            catalog_version: None,
            delivery: None,
        };
        let lines = vec![OrderLine {
            sku: "PUMP-1".into(),
            name: "Pump".into(),
            unit_price_minor: 45_000,
            quantity: 2,
            line_total_minor: 90_000,
        }];
        Order::draft(
            TenantId::parse("acme").unwrap(),
            "01JORDER".into(),
            &request,
            lines,
            90_000,
            "kzt",
            1_000,
        )
    }

    fn kinds(plan: &WritePlan<Conflict>) -> Vec<String> {
        plan.steps
            .iter()
            .map(|s| match &s.op {
                Op::Put { .. } => "put".to_owned(),
                Op::Update(u) => format!("update {}", u.key.0),
                Op::Delete { key, .. } => format!("delete {}", key.0),
                Op::Check { .. } => "check".to_owned(),
            })
            .collect()
    }

    #[test]
    fn placing_writes_order_history_pointers_and_counters_at_once() {
        let t = TenantId::parse("acme").unwrap();
        let change = order().place(1_000, 86_400_000, "manager:k1").unwrap();
        let plan = Transition {
            tenant: &t,
            timezone: "Asia/Almaty",
            before: None,
            change: &change,
            counters: placed_counters(),
            payment: None,
            event: None,
        }
        .plan();
        assert_eq!(
            kinds(&plan),
            ["put", "put", "put", "put", "update T#acme#STATS#1970-01-01"],
            "order, history, my-orders pointer, expiry pointer, counters"
        );
        assert!(matches!(plan.steps[0].on_fail, Some(Conflict::OrderExists)));
        assert!(matches!(
            &plan.steps[0].op,
            Op::Put { cond: Some(c), .. } if *c == Cond::item_absent()
        ));
    }

    #[test]
    fn a_payment_is_ledgered_first_and_the_order_is_conditioned_on_its_revision() {
        let t = TenantId::parse("acme").unwrap();
        let placed = order().place(1_000, 86_400_000, "m").unwrap().order;
        let payment = Payment {
            provider: Provider::Telegram,
            reference: "ch1".into(),
            amount_minor: 90_000,
            currency: "KZT".into(),
            payer_id: Some(1),
        };
        let Confirmation::Paid(change) = placed.clone().confirm_payment(&payment, 2_000) else {
            panic!()
        };
        let record = payment_record(
            &placed,
            Provider::Telegram,
            "ch1",
            "paid",
            90_000,
            "KZT",
            None,
            Some(1),
            "provider:telegram",
            2_000,
        );
        let plan = Transition {
            tenant: &t,
            timezone: "UTC",
            before: Some(&placed),
            change: &change,
            counters: paid_counters(&change.order, Provider::Telegram, 90_000),
            payment: Some(record),
            event: Some(ProviderEvent {
                provider: Provider::Stripe,
                id: "evt_1".into(),
                event_type: "x".into(),
            }),
        }
        .plan();
        assert_eq!(
            kinds(&plan),
            [
                "put",
                "put",
                "put",
                "put",
                "delete T#acme#OEXP",
                "put",
                "update T#acme#STATS#1970-01-01"
            ],
            "ledger, event mark, order, history, expiry gone, payment pointer, counters"
        );
        assert!(matches!(
            &plan.steps[0].on_fail,
            Some(Conflict::DuplicatePayment((_, sk))) if sk == "PAY#telegram#ch1#paid"
        ));
        assert!(matches!(
            plan.steps[1].on_fail,
            Some(Conflict::DuplicateEvent)
        ));
        assert!(
            plan.steps[2].on_fail.is_none(),
            "a moved revision: read again"
        );
        assert!(matches!(
            &plan.steps[2].op,
            Op::Put { cond: Some(Cond::Cmp(a, CmpOp::Eq, Val::N(1))), .. } if a == "revision"
        ));
        let Op::Update(counters) = &plan.steps[6].op else {
            panic!()
        };
        let added: Vec<&str> = counters.add.iter().map(|(a, _)| a.as_str()).collect();
        assert!(added.contains(&"orders_paid_telegram"), "{added:?}");
        assert!(added.contains(&"sku_rev_PUMP-1"), "{added:?}");
    }

    #[test]
    fn references_are_bounded() {
        assert!(valid_reference("pi_3Nx:1.2-a"));
        assert!(!valid_reference("a b"));
        assert!(!valid_reference(&"x".repeat(201)));
        assert_eq!(display_number("01JAAAAAAAAAAAAAAAAAAB1234"), "AAAB1234");
        assert_eq!(display_number("abc"), "abc");
    }
}
