//! The one confirmation of every provider's payment events (Telegram, Stripe, Kaspi,
//! a manager's manual refund): read the order, decide, write the ledger item, the
//! order's transition, its history and the day's counters in ONE conditional
//! transaction, then queue the follow-up (receipt, managers' card, cashback).
//!
//! It is idempotent however events arrive: the ledger is unique on (provider,
//! reference, event type) and Stripe's `event.id` is marked in the same transaction,
//! so a redelivery, or a webhook racing a Kaspi poll, applies once; the order is
//! conditioned on the revision it was read at, so a concurrent change makes it read
//! again. A redelivery queues the follow-up again under the same ids, which the
//! worker and the notifier apply once.
//!
//! AWS calls of a first delivery: GetItem (order) + TransactWriteItems + SendMessage.

use crate::domain::{self, Conflict, ProviderEvent, Transition};
use crate::store::OrderStore;
use crate::Clock;
use sauda_shared::envelope::Envelope;
use sauda_shared::order::{
    Change, Confirmation, Order, OrderJob, OrderStatus, Payment, PaymentEffect, PaymentStatus,
    Provider,
};
use sauda_shared::plan::PlanError;
use sauda_shared::ports::{MessageQueue, QueueError, StoreError};
use sauda_shared::redact::Contact;
use sauda_shared::retry::Backoff;
use sauda_shared::stats::{self, metric, CounterBatch, CounterDelta, CounterSink};
use sauda_shared::tenant::TenantConfig;
use std::sync::Arc;

/// What a provider reported about an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentEvent {
    /// Money received.
    Paid(Payment),
    /// A payment started but not settled (an asynchronous method at Stripe).
    Pending { provider: Provider },
    /// The attempt was declined or lapsed; the order may be paid again.
    Failed { provider: Provider, reason: String },
    /// Money returned through the charge `reference`: everything refunded of that
    /// charge so far is `cumulative_minor` (Stripe's `amount_refunded`), so a report
    /// seen twice, or a manager's refund and the provider's report of it, apply once.
    Refunded {
        provider: Provider,
        reference: String,
        cumulative_minor: i64,
        actor: String,
    },
}

/// A provider event about one order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incoming {
    pub order_id: String,
    pub event: PaymentEvent,
    /// Deduplicate on the provider's own event id as well (Stripe).
    pub provider_event: Option<ProviderEvent>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The order changed; the follow-up (if any) is queued.
    Applied {
        order: Box<Order>,
        effect: Option<PaymentEffect>,
    },
    /// Applied before (a redelivery, or the loser of a race); its follow-up is queued
    /// again under the same ids.
    Duplicate { order: Box<Order> },
    /// Nothing to do in the order's state: an `expired` after `completed`, a failure
    /// of an attempt that is not the current one, …
    Ignored { order: Box<Order>, reason: String },
    /// A refund of a charge not recorded yet (its payment event has not arrived):
    /// the provider should deliver it again later.
    NotYet,
    /// No such order in this tenant: logged and counted, answered 200.
    UnknownOrder,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the follow-up could not be queued: {0}")]
    Queue(#[from] QueueError),
    #[error("the order kept changing; try again")]
    Contention,
}

/// Read attempts before a contended confirmation gives up (and the provider retries).
const ATTEMPTS: u32 = 6;

/// What confirming payments needs; the webhook, the worker and the manager API hold one.
#[derive(Clone)]
pub struct Payments {
    pub store: Arc<dyn OrderStore>,
    /// The payments queue (follow-ups, polls).
    pub jobs: Arc<dyn MessageQueue>,
    pub counters: Arc<dyn CounterSink>,
    pub clock: Clock,
}

/// What an applicable event writes.
struct Write {
    change: Change,
    counters: CounterDelta,
    /// The ledger event (`paid`, `refund@…`) and its amount and currency.
    ledger: Option<(Provider, String, String, i64, String)>,
    effect: Option<PaymentEffect>,
    payer_id: Option<i64>,
}

/// The decision for one event in one order state.
enum Decision {
    Write(Box<Write>),
    Duplicate(Option<PaymentEffect>),
    Ignore(String),
    NotYet,
}

impl Payments {
    pub fn now_ms(&self) -> i64 {
        (self.clock)()
    }

    /// Applies one provider event, exactly once.
    pub async fn apply(
        &self,
        config: &TenantConfig,
        incoming: &Incoming,
    ) -> Result<Outcome, ConfirmError> {
        let tenant = &config.tenant;
        for attempt in 1..=ATTEMPTS {
            let Some(order) = self.store.get(tenant, &incoming.order_id).await? else {
                let what = format!(
                    "order {} ({})",
                    incoming.order_id,
                    event_name(&incoming.event)
                );
                self.count_unknown(config, &what).await;
                return Ok(Outcome::UnknownOrder);
            };
            let now_ms = self.now_ms();
            let Write {
                change,
                counters,
                ledger,
                effect,
                payer_id,
            } = match decide(&order, &incoming.event, now_ms) {
                Decision::Write(write) => *write,
                Decision::Duplicate(effect) => {
                    self.follow_up(config, &order.order_id, effect).await?;
                    return Ok(Outcome::Duplicate {
                        order: Box::new(order),
                    });
                }
                Decision::Ignore(reason) => {
                    tracing::info!(%tenant, order = %order.order_id, %reason, "payment event changes nothing");
                    return Ok(Outcome::Ignored {
                        order: Box::new(order),
                        reason,
                    });
                }
                Decision::NotYet => return Ok(Outcome::NotYet),
            };
            let payment = ledger.map(|(provider, reference, event, amount, currency)| {
                domain::payment_record(
                    &order,
                    provider,
                    &reference,
                    &event,
                    amount,
                    &currency,
                    effect.clone(),
                    payer_id,
                    &change.event.actor,
                    now_ms,
                )
            });
            let plan = Transition {
                tenant,
                timezone: &config.timezone,
                before: Some(&order),
                change: &change,
                counters,
                payment,
                event: incoming.provider_event.clone(),
            }
            .plan();
            match self.store.commit(&plan).await {
                Ok(()) => {
                    tracing::info!(%tenant, order = %order.order_id, contact = %Contact(tenant, &order.contact), action = %change.event.action, payment_status = %change.order.payment_status, "payment event applied");
                    self.follow_up(config, &order.order_id, effect.clone())
                        .await?;
                    return Ok(Outcome::Applied {
                        order: Box::new(change.order),
                        effect,
                    });
                }
                Err(PlanError::Rejected(Conflict::DuplicatePayment(key))) => {
                    let effect = self.store.payment(&key).await?.and_then(|p| p.effect);
                    self.follow_up(config, &order.order_id, effect).await?;
                    return Ok(Outcome::Duplicate {
                        order: Box::new(order),
                    });
                }
                Err(PlanError::Rejected(_)) => {
                    return Ok(Outcome::Duplicate {
                        order: Box::new(order),
                    })
                }
                Err(PlanError::Stale(_)) => Backoff::STORE.sleep(attempt).await,
                Err(PlanError::Store(e)) => return Err(e.into()),
            }
        }
        Err(ConfirmError::Contention)
    }

    /// Queues the worker's follow-up of an effect (ids derive from the order and the
    /// provider's reference, so queueing it again is harmless).
    pub async fn follow_up(
        &self,
        config: &TenantConfig,
        order_id: &str,
        effect: Option<PaymentEffect>,
    ) -> Result<(), QueueError> {
        let Some(effect) = effect else {
            return Ok(());
        };
        let job = OrderJob::Effects {
            order_id: order_id.to_owned(),
            effect,
        };
        self.jobs
            .send(&Envelope::order(config.tenant.clone(), job), 0)
            .await
    }

    /// Logs and counts a payment event that names no order of this tenant.
    pub async fn count_unknown(&self, config: &TenantConfig, what: &str) {
        let tenant = &config.tenant;
        tracing::warn!(%tenant, %what, "payment event for an unknown order");
        let mut batch = CounterBatch::default();
        let day = stats::local_day(&config.timezone, self.now_ms());
        batch
            .day(tenant, &day)
            .add(metric::PAYMENTS_UNKNOWN_ORDER, 1);
        if let Err(e) = self.counters.flush(&batch, self.now_ms() as u64).await {
            tracing::warn!(%tenant, error = %e, "unknown-order counter not written");
        }
    }
}

fn event_name(event: &PaymentEvent) -> &'static str {
    match event {
        PaymentEvent::Paid(_) => "paid",
        PaymentEvent::Pending { .. } => "pending",
        PaymentEvent::Failed { .. } => "failed",
        PaymentEvent::Refunded { .. } => "refunded",
    }
}

/// The follow-up of a charge already on the order (a redelivery found before writing).
fn effect_of_known_charge(order: &Order, reference: &str) -> Option<PaymentEffect> {
    let index = order
        .payments
        .iter()
        .position(|p| p.reference == reference)?;
    let reference = reference.to_owned();
    Some(if index == 0 {
        if matches!(order.status, OrderStatus::Expired | OrderStatus::Canceled) {
            PaymentEffect::PaidLate { reference }
        } else {
            PaymentEffect::Paid { reference }
        }
    } else {
        PaymentEffect::Overpaid {
            reference,
            amount_minor: order.payments[index].amount_minor,
        }
    })
}

/// The rule: what `event` does to `order` now.
fn decide(order: &Order, event: &PaymentEvent, now_ms: i64) -> Decision {
    match event {
        PaymentEvent::Paid(payment) => {
            if let Some(effect) = effect_of_known_charge(order, &payment.reference) {
                return Decision::Duplicate(Some(effect));
            }
            let reference = payment.reference.clone();
            let confirmation = order.clone().confirm_payment(payment, now_ms);
            let (counters, effect) = match &confirmation {
                Confirmation::Paid(c) | Confirmation::PaidLate(c) => (
                    domain::paid_counters(&c.order, payment.provider, payment.amount_minor),
                    if matches!(confirmation, Confirmation::Paid(_)) {
                        PaymentEffect::Paid { reference }
                    } else {
                        PaymentEffect::PaidLate { reference }
                    },
                ),
                Confirmation::Overpaid(_) => (
                    domain::overpaid_counters(payment.provider, payment.amount_minor),
                    PaymentEffect::Overpaid {
                        reference,
                        amount_minor: payment.amount_minor,
                    },
                ),
                Confirmation::Mismatch(_) => (
                    domain::one(metric::ORDERS_PAYMENT_MISMATCH),
                    PaymentEffect::Mismatch {
                        reference,
                        amount_minor: payment.amount_minor,
                        currency: payment.currency.to_ascii_uppercase(),
                    },
                ),
            };
            Decision::Write(Box::new(Write {
                change: confirmation.into_change(),
                counters,
                ledger: Some((
                    payment.provider,
                    payment.reference.clone(),
                    "paid".into(),
                    payment.amount_minor,
                    payment.currency.clone(),
                )),
                effect: Some(effect),
                payer_id: payment.payer_id,
            }))
        }
        PaymentEvent::Pending { provider } => {
            if order.payment_status == PaymentStatus::Pending && order.provider == Some(*provider) {
                return Decision::Ignore("already pending".into());
            }
            match order
                .clone()
                .start_payment(*provider, now_ms, &format!("provider:{provider}"))
            {
                Ok(change) => Decision::Write(Box::new(Write {
                    change,
                    counters: CounterDelta::default(),
                    ledger: None,
                    effect: None,
                    payer_id: None,
                })),
                Err(e) => Decision::Ignore(e.to_string()),
            }
        }
        PaymentEvent::Failed { provider, reason } => {
            let current =
                order.payment_status == PaymentStatus::Pending && order.provider == Some(*provider);
            if !current {
                return Decision::Ignore(format!(
                    "a {provider} failure while the payment is {}",
                    order.payment_status
                ));
            }
            match order
                .clone()
                .fail_payment(now_ms, &format!("provider:{provider}"), reason)
            {
                Ok(change) => Decision::Write(Box::new(Write {
                    change,
                    counters: domain::one(metric::ORDERS_PAYMENT_FAILED),
                    ledger: None,
                    effect: None,
                    payer_id: None,
                })),
                Err(e) => Decision::Ignore(e.to_string()),
            }
        }
        PaymentEvent::Refunded {
            provider,
            reference,
            cumulative_minor,
            actor,
        } => {
            let Some(part) = order.payments.iter().find(|p| p.reference == *reference) else {
                return Decision::NotYet;
            };
            let delta = cumulative_minor - part.refunded_minor;
            if delta <= 0 {
                // Recorded already: by the manager's refund that caused this report, or
                // by an earlier delivery of it.
                return Decision::Duplicate(None);
            }
            match order.clone().refund_payment(
                Some(reference),
                Some(delta),
                now_ms,
                actor,
                Some(format!("{provider} refund")),
            ) {
                Ok(refunded) => {
                    let refund_id = format!("{reference}@{cumulative_minor}");
                    Decision::Write(Box::new(Write {
                        counters: domain::refund_counters(refunded.amount_minor),
                        ledger: Some((
                            *provider,
                            reference.clone(),
                            format!("refund@{cumulative_minor}"),
                            refunded.amount_minor,
                            order.currency.clone(),
                        )),
                        effect: Some(PaymentEffect::Refunded {
                            refund_id,
                            amount_minor: refunded.amount_minor,
                            goods_minor: refunded.goods_refunded_minor,
                        }),
                        change: refunded.change,
                        payer_id: None,
                    }))
                }
                Err(e) => Decision::Ignore(e.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tests::order;

    fn pay(reference: &str, amount: i64) -> PaymentEvent {
        PaymentEvent::Paid(Payment {
            provider: Provider::Kaspi,
            reference: reference.into(),
            amount_minor: amount,
            currency: "KZT".into(),
            payer_id: None,
        })
    }

    fn placed() -> Order {
        order().place(1_000, 86_400_000, "m").unwrap().order
    }

    fn write(decision: Decision) -> Write {
        match decision {
            Decision::Write(w) => *w,
            _ => panic!("not a write"),
        }
    }

    #[test]
    fn a_known_charge_is_a_duplicate_before_any_write() {
        let Write { change, .. } = write(decide(&placed(), &pay("q1", 90_000), 2_000));
        assert!(matches!(
            decide(&change.order, &pay("q1", 90_000), 3_000),
            Decision::Duplicate(Some(PaymentEffect::Paid { .. }))
        ));
        let Write { effect, .. } = write(decide(&change.order, &pay("q2", 90_000), 3_000));
        assert_eq!(
            effect,
            Some(PaymentEffect::Overpaid {
                reference: "q2".into(),
                amount_minor: 90_000
            })
        );
    }

    #[test]
    fn a_failure_of_a_paid_or_other_attempt_is_ignored() {
        let Write { change, .. } = write(decide(&placed(), &pay("q1", 90_000), 2_000));
        let failed = PaymentEvent::Failed {
            provider: Provider::Kaspi,
            reason: "expired".into(),
        };
        assert!(matches!(
            decide(&change.order, &failed, 3_000),
            Decision::Ignore(_)
        ));
        assert!(
            matches!(decide(&placed(), &failed, 3_000), Decision::Ignore(_)),
            "not pending"
        );
    }

    #[test]
    fn refunds_apply_the_difference_to_what_was_recorded() {
        let Write { change, .. } = write(decide(&placed(), &pay("q1", 90_000), 2_000));
        let refund = |cumulative| PaymentEvent::Refunded {
            provider: Provider::Kaspi,
            reference: "q1".into(),
            cumulative_minor: cumulative,
            actor: "manager:k".into(),
        };
        let Write { change, effect, .. } = write(decide(&change.order, &refund(30_000), 3_000));
        assert_eq!(change.order.refunded_minor, 30_000);
        assert!(matches!(
            effect,
            Some(PaymentEffect::Refunded { amount_minor: 30_000, goods_minor: 30_000, ref refund_id }) if refund_id == "q1@30000"
        ));
        assert!(matches!(
            decide(&change.order, &refund(30_000), 4_000),
            Decision::Duplicate(None)
        ));
        let Write { change, .. } = write(decide(&change.order, &refund(90_000), 5_000));
        assert_eq!(change.order.payment_status, PaymentStatus::Refunded);
        let unknown = PaymentEvent::Refunded {
            provider: Provider::Stripe,
            reference: "pi_later".into(),
            cumulative_minor: 1,
            actor: "provider:stripe".into(),
        };
        assert!(matches!(
            decide(&change.order, &unknown, 6_000),
            Decision::NotYet
        ));
    }
}
