//! What follows a payment event, run by the payments worker: loyalty cashback, the
//! customer's receipt in their language, the managers' order card. Every step is
//! keyed by the order and the provider's reference (cashback through the ledger's
//! idempotent accrue and refund, messages and notices by id), so running a job twice,
//! or two copies of it, does each step once.

use crate::cashback::{partner_for, CashbackError, CashbackResult};
use crate::domain::display_number;
use crate::invoice::{customer_lang, lines_text, to_customer, with_template};
use crate::Deps;
use sauda_shared::i18n::{orders as t, Lang};
use sauda_shared::notify::{self, notice_id, Notice, Recipients};
use sauda_shared::order::{format_amount, Order, PaymentEffect, Provider};
use sauda_shared::outbox::{self, Body};
use sauda_shared::telegram_api::escape_html;
use sauda_shared::tenant::TenantConfig;

#[derive(Debug, thiserror::Error)]
pub enum EffectError {
    /// Retry the job (a dependency failed).
    #[error("{0}")]
    Transient(String),
    /// The job can never succeed (its order is gone).
    #[error("{0}")]
    Poison(String),
}

fn managers_lang(config: &TenantConfig) -> Lang {
    Lang::pick(config.reports.language.as_deref(), &config.default_language)
}

fn provider_of(order: &Order, reference: &str) -> Provider {
    order
        .payments
        .iter()
        .find(|p| p.reference == reference)
        .map(|p| p.provider)
        .or(order.provider)
        .unwrap_or(Provider::Stripe)
}

fn provider_name(p: Provider) -> &'static str {
    match p {
        Provider::Telegram => "Telegram",
        Provider::TelegramStars => "Telegram Stars",
        Provider::Stripe => "Stripe",
        Provider::Kaspi => "Kaspi",
    }
}

fn transient<E: std::fmt::Display>(e: E) -> EffectError {
    EffectError::Transient(e.to_string())
}

/// Cashback on a paid order: points credited, or `None` when it does not apply.
async fn accrue(
    deps: &Deps,
    config: &TenantConfig,
    order: &Order,
) -> Result<Option<i64>, EffectError> {
    let Some(partner) = partner_for(config, order) else {
        return Ok(None);
    };
    match deps.cashback.accrue_for_order(config, partner, order).await {
        Ok(CashbackResult::Points(points)) => Ok(Some(points)),
        Ok(CashbackResult::Skipped(why)) => {
            tracing::info!(tenant = %config.tenant, order = %order.order_id, %why, "no cashback");
            Ok(None)
        }
        Err(CashbackError::Transient(e)) => Err(EffectError::Transient(e)),
        Err(CashbackError::Refused(why)) => {
            tracing::warn!(tenant = %config.tenant, order = %order.order_id, %why, "cashback refused by the loyalty ledger");
            Ok(None)
        }
    }
}

/// A paid order booked at the programme's partner is a purchase there: the customer's
/// NPS survey is queued (agent-reply sends it in the tenant's window, once per purchase;
/// the FIFO deduplication and the purchase's marker absorb reruns of this job).
async fn survey_due(deps: &Deps, config: &TenantConfig, order: &Order) -> Result<(), EffectError> {
    let (Some(queue), Some(partner)) = (deps.surveys.as_deref(), partner_for(config, order)) else {
        return Ok(());
    };
    let due = sauda_shared::nps::NpsDue {
        tenant: order.tenant.clone(),
        contact: order.contact.clone(),
        partner_id: partner.to_owned(),
        purchase_ref: order.order_id.clone(),
    };
    sauda_shared::nps::enqueue(queue, due)
        .await
        .map_err(transient)
}

async fn tell_managers(
    deps: &Deps,
    order: &Order,
    id: &str,
    kind: &str,
    html: String,
) -> Result<(), EffectError> {
    notify::send(
        deps.notify.as_ref(),
        Notice {
            tenant: order.tenant.clone(),
            id: notice_id(&[id]),
            kind: kind.to_owned(),
            to: Recipients::Managers,
            html,
        },
    )
    .await
    .map_err(transient)
}

/// Runs the follow-up of `effect` on order `order_id`.
pub async fn run(
    deps: &Deps,
    config: &TenantConfig,
    order_id: &str,
    effect: &PaymentEffect,
) -> Result<(), EffectError> {
    let order = deps
        .order(&config.tenant, order_id)
        .await
        .map_err(transient)?
        .ok_or_else(|| EffectError::Poison(format!("order {order_id} does not exist")))?;
    let lang = customer_lang(config, &order);
    let mlang = managers_lang(config);
    let number = display_number(&order.order_id);
    let id = &order.order_id;
    let total = format_amount(order.total_minor, &order.currency);
    let contact = escape_html(&order.contact);
    let html_lines = escape_html(&lines_text(&order, mlang));
    match effect {
        PaymentEffect::Paid { reference } | PaymentEffect::PaidLate { reference } => {
            let points = accrue(deps, config, &order).await?;
            let mut receipt = t::RECEIPT.render(
                lang,
                &[
                    ("order", &number),
                    ("total", &total),
                    ("lines", &lines_text(&order, lang)),
                ],
            );
            // One point is worth one minor unit of the programme's currency (the order's:
            // cashback accrues only then), so people read points as money.
            let cashback = points
                .filter(|p| *p > 0)
                .map(|p| format_amount(p, &order.currency));
            if let Some(amount) = &cashback {
                receipt.push('\n');
                receipt.push_str(&t::CASHBACK.render(lang, &[("amount", amount)]));
            }
            outbox::send(
                deps.notify.as_ref(),
                with_template(
                    to_customer(
                        &order,
                        &format!("receipt:{id}"),
                        "receipt",
                        Body::text(receipt),
                    ),
                    config,
                    config.orders.whatsapp_templates.receipt.as_deref(),
                    vec![number.to_owned(), total.clone()],
                ),
            )
            .await
            .map_err(transient)?;
            let provider = provider_name(provider_of(&order, reference));
            let args: [(&str, &dyn std::fmt::Display); 5] = [
                ("order", id),
                ("total", &total),
                ("provider", &provider),
                ("lines", &html_lines),
                ("contact", &contact),
            ];
            let mut html = match effect {
                PaymentEffect::PaidLate { .. } => t::CARD_PAID_LATE.render(mlang, &args),
                _ => t::CARD_PAID.render(mlang, &args),
            };
            if let Some(amount) = &cashback {
                html.push('\n');
                html.push_str(&t::CARD_CASHBACK.render(mlang, &[("amount", amount)]));
            }
            tell_managers(
                deps,
                &order,
                &format!("order:{id}:paid"),
                "order_paid",
                html,
            )
            .await?;
            survey_due(deps, config, &order).await
        }
        PaymentEffect::Overpaid {
            reference,
            amount_minor,
        } => {
            let html = t::CARD_OVERPAID.render(
                mlang,
                &[
                    ("order", id),
                    ("amount", &format_amount(*amount_minor, &order.currency)),
                    ("provider", &provider_name(provider_of(&order, reference))),
                    ("contact", &contact),
                ],
            );
            let notice = format!("order:{id}:overpaid:{reference}");
            tell_managers(deps, &order, &notice, "order_overpaid", html).await
        }
        PaymentEffect::Mismatch {
            reference,
            amount_minor,
            currency,
        } => {
            let provider = order.provider.map_or("?", provider_name);
            let html = t::CARD_MISMATCH.render(
                mlang,
                &[
                    ("order", id),
                    ("received", &format_amount(*amount_minor, currency)),
                    ("expected", &total),
                    ("provider", &provider),
                    ("contact", &contact),
                ],
            );
            let notice = format!("order:{id}:mismatch:{reference}");
            tell_managers(deps, &order, &notice, "order_payment_mismatch", html).await
        }
        PaymentEffect::Refunded {
            refund_id,
            amount_minor,
            goods_minor,
        } => {
            if *goods_minor > 0 {
                if let Some(partner) = partner_for(config, &order) {
                    match deps
                        .cashback
                        .refund_for_order(config, partner, &order, refund_id, *goods_minor)
                        .await
                    {
                        Ok(_) => {}
                        Err(CashbackError::Transient(e)) => return Err(EffectError::Transient(e)),
                        Err(CashbackError::Refused(why)) => {
                            tracing::warn!(tenant = %config.tenant, order = %id, %why, "cashback take-back refused")
                        }
                    }
                }
            }
            let amount = format_amount(*amount_minor, &order.currency);
            let text = t::REFUNDED.render(lang, &[("amount", &amount), ("order", &number)]);
            outbox::send(
                deps.notify.as_ref(),
                with_template(
                    to_customer(
                        &order,
                        &format!("refund:{id}:{refund_id}"),
                        "refund",
                        Body::text(text),
                    ),
                    config,
                    config.orders.whatsapp_templates.refund.as_deref(),
                    vec![number.to_owned(), amount.clone()],
                ),
            )
            .await
            .map_err(transient)?;
            let reference = refund_id.split('@').next().unwrap_or_default();
            let html = t::CARD_REFUNDED.render(
                mlang,
                &[
                    ("order", id),
                    ("amount", &amount),
                    ("provider", &provider_name(provider_of(&order, reference))),
                ],
            );
            let notice = format!("order:{id}:refund:{refund_id}");
            tell_managers(deps, &order, &notice, "order_refunded", html).await
        }
    }
}
