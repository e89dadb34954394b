//! Orders: the model every capability shares (the agent creates them, the webhook
//! confirms payments, the orders API and the payments worker manage them, reports count
//! them) and the pure rules of their three independent axes:
//!
//! - order status: `draft → placed → completed`, or `canceled` / `expired`;
//! - payment status: `unpaid → pending → paid → partially_refunded → refunded`, plus
//!   `failed` (a declined attempt; a new attempt may follow) and `overpaid` (paid twice);
//! - fulfillment status: `unfulfilled → fulfilled → delivered`.
//!
//! Every rule here takes an order and returns the changed order with one history entry,
//! or a refusal; nothing here knows about storage. Prices come from the catalog when
//! the order is made, never from a model's text: lines carry the unit price read then.

use crate::keys;
use crate::message::Channel;
use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Draft,
    Placed,
    Completed,
    Canceled,
    Expired,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Unpaid,
    Pending,
    Paid,
    PartiallyRefunded,
    Refunded,
    Failed,
    Overpaid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FulfillmentStatus {
    Unfulfilled,
    Fulfilled,
    Delivered,
}

macro_rules! names {
    ($t:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            pub const ALL: &'static [$t] = &[$(<$t>::$v),*];
            pub fn as_str(self) -> &'static str {
                match self { $(<$t>::$v => $s),* }
            }
            pub fn parse(raw: &str) -> Option<Self> {
                match raw { $($s => Some(<$t>::$v),)* _ => None }
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names!(OrderStatus { Draft => "draft", Placed => "placed", Completed => "completed", Canceled => "canceled", Expired => "expired" });
names!(PaymentStatus { Unpaid => "unpaid", Pending => "pending", Paid => "paid", PartiallyRefunded => "partially_refunded", Refunded => "refunded", Failed => "failed", Overpaid => "overpaid" });
names!(FulfillmentStatus { Unfulfilled => "unfulfilled", Fulfilled => "fulfilled", Delivered => "delivered" });

/// How the customer pays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Telegram Payments through the tenant's payment provider token.
    Telegram,
    /// Telegram Stars (`XTR`), for digital goods.
    TelegramStars,
    Stripe,
    Kaspi,
}

names!(Provider { Telegram => "telegram", TelegramStars => "telegram_stars", Stripe => "stripe", Kaspi => "kaspi" });

/// Where an order came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderSource {
    /// The agent's `create_order` tool.
    Agent,
    /// A "Buy" button in chat.
    Button,
    /// The manager API.
    Manager,
}

/// One line, priced from the catalog when the order was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub sku: String,
    pub name: String,
    pub unit_price_minor: i64,
    pub quantity: u32,
    pub line_total_minor: i64,
}

/// The most lines, and units of one line, an order may have.
pub const MAX_LINES: usize = 50;
pub const MAX_QUANTITY: u32 = 10_000;
/// No order may total more than this many minor units (10^13: far above any real
/// order, far below overflow).
pub const MAX_TOTAL_MINOR: i64 = 10_000_000_000_000;

/// Refusals of the order rules; each maps to one stable API code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("an order needs 1-{MAX_LINES} lines")]
    NoLines,
    #[error("quantity must be 1-{MAX_QUANTITY}")]
    BadQuantity,
    #[error("item {0} is not in the active catalog")]
    UnknownItem(String),
    #[error("item {0} has no price in the catalog")]
    Unpriced(String),
    #[error("the order total is out of range")]
    TotalOutOfRange,
    #[error("an order in {status} cannot {action}")]
    Transition {
        status: String,
        action: &'static str,
    },
    #[error("the order expired and can no longer be paid")]
    Expired,
    #[error("the order is already paid")]
    AlreadyPaid,
    #[error("only {remaining} is left to refund")]
    RefundTooLarge { remaining: i64 },
    #[error("a refund must be positive")]
    RefundNotPositive,
    #[error("the discount is larger than the order")]
    DiscountTooLarge,
    #[error("no payment {0} on this order")]
    UnknownPayment(String),
    #[error("price of {0} is not a whole amount in this currency")]
    FractionalPrice(String),
    #[error("item {sku} is priced in {currency}, orders are in {expected}")]
    CurrencyMismatch {
        sku: String,
        currency: String,
        expected: String,
    },
}

impl OrderError {
    pub fn code(&self) -> &'static str {
        match self {
            OrderError::NoLines => "order_lines_required",
            OrderError::BadQuantity => "quantity_out_of_range",
            OrderError::UnknownItem(_) => "item_not_found",
            OrderError::Unpriced(_) => "item_not_priced",
            OrderError::TotalOutOfRange => "total_out_of_range",
            OrderError::Transition { .. } => "transition_not_allowed",
            OrderError::Expired => "order_expired",
            OrderError::AlreadyPaid => "order_already_paid",
            OrderError::RefundTooLarge { .. } => "refund_exceeds_payment",
            OrderError::RefundNotPositive => "refund_not_positive",
            OrderError::DiscountTooLarge => "discount_too_large",
            OrderError::UnknownPayment(_) => "payment_not_found",
            OrderError::FractionalPrice(_) => "item_not_priced",
            OrderError::CurrencyMismatch { .. } => "currency_mismatch",
        }
    }
}

/// A catalog item as the order sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PricedItem {
    pub sku: String,
    pub name: String,
    pub price_minor: Option<i64>,
}

/// Currencies whose minor unit is the whole unit (Telegram Stars, yen, …).
pub fn is_zero_decimal(currency: &str) -> bool {
    matches!(
        currency.to_ascii_uppercase().as_str(),
        "XTR" | "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "UGX" | "XAF" | "XOF"
    )
}

/// A catalog price (always hundredths of the listed price, whatever the currency) in
/// minor units of `currency`: the same number, except for zero-decimal currencies,
/// where a price with a fraction cannot be charged and is refused.
pub fn minor_from_catalog(sku: &str, hundredths: i64, currency: &str) -> Result<i64, OrderError> {
    if !is_zero_decimal(currency) {
        return Ok(hundredths);
    }
    if hundredths % 100 != 0 {
        return Err(OrderError::FractionalPrice(sku.to_owned()));
    }
    Ok(hundredths / 100)
}

/// A catalog entry as pricing reads it: its price in hundredths of the listed price
/// (as catalog imports store every price) and the currency it is listed in, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogPrice {
    pub sku: String,
    pub name: String,
    pub price_hundredths: Option<i64>,
    pub currency: Option<String>,
}

/// Prices `requests` from catalog entries (`lookup` finds one by its exact SKU) in the
/// orders' `currency`: an entry listed in another currency is refused, and so is a
/// fraction in a zero-decimal currency. SKUs are trimmed; the rest is [`price_lines`].
pub fn price_from_catalog(
    requests: &[LineRequest],
    lookup: impl Fn(&str) -> Option<CatalogPrice>,
    currency: &str,
) -> Result<(Vec<OrderLine>, i64), OrderError> {
    let trimmed: Vec<LineRequest> = requests
        .iter()
        .map(|r| LineRequest {
            sku: r.sku.trim().to_owned(),
            quantity: r.quantity,
        })
        .collect();
    let mut priced: Vec<PricedItem> = Vec::new();
    for request in &trimmed {
        let Some(entry) = lookup(&request.sku) else {
            continue; // price_lines reports it as unknown
        };
        if let Some(listed) = entry.currency.as_deref() {
            if !listed.eq_ignore_ascii_case(currency) {
                return Err(OrderError::CurrencyMismatch {
                    sku: request.sku.clone(),
                    currency: listed.to_owned(),
                    expected: currency.to_owned(),
                });
            }
        }
        let price_minor = entry
            .price_hundredths
            .map(|p| minor_from_catalog(&request.sku, p, currency))
            .transpose()?;
        priced.push(PricedItem {
            sku: entry.sku,
            name: entry.name,
            price_minor,
        });
    }
    price_lines(&trimmed, |sku| {
        priced.iter().find(|p| p.sku.trim() == sku).cloned()
    })
}

/// A new order id: a ULID (time-ordered, 26 characters of Crockford base32).
pub fn new_id(now_ms: i64) -> String {
    ulid::Ulid::from_parts(u64::try_from(now_ms).unwrap_or(0), rand::random()).to_string()
}

/// A stable order id for a caller that retries (the agent: its message; the API: an
/// Idempotency-Key): a ULID whose time is `at_ms` and whose randomness is a digest of
/// `seed`.
pub fn stable_id(at_ms: i64, seed: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(seed.as_bytes());
    let mut random = [0u8; 16];
    random.copy_from_slice(&digest[..16]);
    ulid::Ulid::from_parts(
        u64::try_from(at_ms).unwrap_or(0),
        u128::from_be_bytes(random),
    )
    .to_string()
}

/// Order ids in paths and payloads: 1-64 of `[A-Za-z0-9_-]` (a ULID or a caller's id;
/// Telegram's invoice payload holds up to 128 bytes).
pub fn valid_id(raw: &str) -> bool {
    (1..=64).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// What was asked for: a SKU and a quantity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineRequest {
    pub sku: String,
    pub quantity: u32,
}

/// Prices `requests` from the catalog (`lookup` finds an item by SKU); the same SKU twice
/// is one line. Overflow and absurd totals are refused, never wrapped.
pub fn price_lines(
    requests: &[LineRequest],
    lookup: impl Fn(&str) -> Option<PricedItem>,
) -> Result<(Vec<OrderLine>, i64), OrderError> {
    if requests.is_empty() || requests.len() > MAX_LINES {
        return Err(OrderError::NoLines);
    }
    let mut lines: Vec<OrderLine> = Vec::new();
    for request in requests {
        if request.quantity == 0 || request.quantity > MAX_QUANTITY {
            return Err(OrderError::BadQuantity);
        }
        let item =
            lookup(&request.sku).ok_or_else(|| OrderError::UnknownItem(request.sku.clone()))?;
        let price = item
            .price_minor
            .filter(|p| *p > 0)
            .ok_or_else(|| OrderError::Unpriced(request.sku.clone()))?;
        match lines.iter_mut().find(|l| l.sku == item.sku) {
            Some(line) => {
                line.quantity = line
                    .quantity
                    .checked_add(request.quantity)
                    .filter(|q| *q <= MAX_QUANTITY)
                    .ok_or(OrderError::BadQuantity)?;
            }
            None => lines.push(OrderLine {
                sku: item.sku,
                name: item.name,
                unit_price_minor: price,
                quantity: request.quantity,
                line_total_minor: 0,
            }),
        }
    }
    let mut subtotal: i64 = 0;
    for line in &mut lines {
        line.line_total_minor = line
            .unit_price_minor
            .checked_mul(i64::from(line.quantity))
            .ok_or(OrderError::TotalOutOfRange)?;
        subtotal = subtotal
            .checked_add(line.line_total_minor)
            .filter(|s| *s <= MAX_TOTAL_MINOR)
            .ok_or(OrderError::TotalOutOfRange)?;
    }
    Ok((lines, subtotal))
}

/// One change of an order, as its history keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderEvent {
    pub at_ms: i64,
    /// `agent`, `customer`, `manager:{key_id}`, `provider:stripe`, `system:expiry`, …
    pub actor: String,
    /// `placed`, `canceled`, `paid`, `refunded`, `fulfilled`, …
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub status: OrderStatus,
    pub payment_status: PaymentStatus,
    pub fulfillment_status: FulfillmentStatus,
}

/// A tenant's order. Stored at `T#{t}#O#{id}` / `ORDER`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub tenant: TenantId,
    pub order_id: String,
    pub contact: String,
    pub channel: Channel,
    /// Telegram chat id or WhatsApp `wa_id`, for receipts and invoices.
    pub reply_to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    pub source: OrderSource,
    pub lines: Vec<OrderLine>,
    pub currency: String,
    pub subtotal_minor: i64,
    /// Loyalty points spent on this order (one point = one minor unit).
    #[serde(default)]
    pub discount_points: i64,
    pub total_minor: i64,
    pub status: OrderStatus,
    pub payment_status: PaymentStatus,
    pub fulfillment_status: FulfillmentStatus,
    /// Money received and returned, in minor units of `currency`.
    #[serde(default)]
    pub paid_minor: i64,
    #[serde(default)]
    pub refunded_minor: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    /// The provider's reference of the successful charge (for refunds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_ref: Option<String>,
    /// A payment whose amount or currency did not match arrived; managers were told.
    #[serde(default)]
    pub payment_mismatch: bool,
    /// Every charge accepted for this order (two when it was paid twice), with what was
    /// refunded of each: refunds go back through the charge they return.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payments: Vec<PaymentPart>,
    /// Delivery address and notes the customer gave (sensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// Unpaid after this, the order expires and can no longer be paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_ms: Option<i64>,
    /// Incremented by every change; writes are conditioned on it.
    pub revision: i64,
}

/// Who an order is for and where to reach them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// `{channel}-{external id}`.
    pub contact: String,
    pub channel: Channel,
    /// Telegram chat id or WhatsApp `wa_id`.
    pub reply_to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// A request for an order (manager API, the agent's `create_order` tool, a "Buy"
/// button): SKUs and quantities only; `create_order` reads the prices from the catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    /// Set by callers that retry (the agent derives it from the message), so a retry
    /// finds the order it made; otherwise a new id is drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    pub customer: Customer,
    pub items: Vec<LineRequest>,
    pub source: OrderSource,
    /// `agent`, `customer`, `manager:{key_id}`.
    pub actor: String,
    /// The catalog version the caller showed prices from; the active one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
}

/// What a confirmed payment event leaves for the payments worker to do (receipt,
/// managers' card, cashback), named so that a redelivery repeats none of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PaymentEffect {
    Paid {
        reference: String,
    },
    /// Paid after it expired or was canceled: kept, managers decide.
    PaidLate {
        reference: String,
    },
    Overpaid {
        reference: String,
        amount_minor: i64,
    },
    /// Money that did not match the order: not paid, managers told.
    Mismatch {
        reference: String,
        amount_minor: i64,
        currency: String,
    },
    Refunded {
        /// The provider's id of the refund (unique per refund).
        refund_id: String,
        amount_minor: i64,
        /// Of which goods: the share cashback is taken back on.
        goods_minor: i64,
    },
}

/// Jobs on the payments queue (envelope kind `order`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OrderJob {
    /// Create and place an order, then send its invoice (the agent, a "Buy" button).
    Create {
        request: OrderRequest,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider: Option<Provider>,
    },
    /// Receipt, managers' card and cashback after a payment event.
    Effects {
        order_id: String,
        effect: PaymentEffect,
    },
    /// Ask Kaspi for a QR payment's status; queued again (with a delay of the API's
    /// polling interval) until it is processed, failed or past `until_ms`.
    KaspiPoll {
        order_id: String,
        qr_payment_id: String,
        until_ms: i64,
        interval_s: u32,
    },
}

impl Order {
    pub fn key(tenant: &TenantId, order_id: &str) -> (String, String) {
        keys::order(tenant, order_id)
    }

    /// A new order in `draft`, priced already (see [`price_lines`]).
    pub fn draft(
        tenant: TenantId,
        order_id: String,
        request: &OrderRequest,
        lines: Vec<OrderLine>,
        subtotal_minor: i64,
        currency: &str,
        now_ms: i64,
    ) -> Order {
        Order {
            tenant,
            order_id,
            contact: request.customer.contact.clone(),
            channel: request.customer.channel,
            reply_to: request.customer.reply_to.clone(),
            language: request.customer.language.clone(),
            source: request.source,
            lines,
            currency: currency.to_ascii_uppercase(),
            subtotal_minor,
            discount_points: 0,
            total_minor: subtotal_minor,
            status: OrderStatus::Draft,
            payment_status: PaymentStatus::Unpaid,
            fulfillment_status: FulfillmentStatus::Unfulfilled,
            paid_minor: 0,
            refunded_minor: 0,
            provider: None,
            payment_ref: None,
            payment_mismatch: false,
            payments: Vec::new(),
            delivery: request.delivery.clone(),
            created_ms: now_ms,
            updated_ms: now_ms,
            expires_at_ms: None,
            paid_ms: None,
            revision: 0,
        }
    }

    /// Whether the order still waits for money (and so may expire).
    pub fn awaits_payment(&self) -> bool {
        self.status == OrderStatus::Placed
            && matches!(
                self.payment_status,
                PaymentStatus::Unpaid | PaymentStatus::Pending | PaymentStatus::Failed
            )
    }

    /// Whether the customer may still pay it now.
    pub fn payable_at(&self, now_ms: i64) -> Result<(), OrderError> {
        if self.status == OrderStatus::Expired || self.expires_at_ms.is_some_and(|at| now_ms >= at)
        {
            return Err(OrderError::Expired);
        }
        if self.status != OrderStatus::Placed {
            return Err(self.refusal("be paid"));
        }
        match self.payment_status {
            PaymentStatus::Unpaid | PaymentStatus::Pending | PaymentStatus::Failed => Ok(()),
            _ => Err(OrderError::AlreadyPaid),
        }
    }

    fn refusal(&self, action: &'static str) -> OrderError {
        OrderError::Transition {
            status: format!(
                "{}/{}/{}",
                self.status, self.payment_status, self.fulfillment_status
            ),
            action,
        }
    }

    fn changed(mut self, now_ms: i64, actor: &str, action: &str, reason: Option<String>) -> Change {
        self.updated_ms = now_ms;
        self.revision += 1;
        let event = OrderEvent {
            at_ms: now_ms,
            actor: actor.to_owned(),
            action: action.to_owned(),
            reason,
            status: self.status,
            payment_status: self.payment_status,
            fulfillment_status: self.fulfillment_status,
        };
        Change { order: self, event }
    }

    /// `draft → placed`: the customer confirmed; unpaid it expires after `expiry_ms`.
    pub fn place(mut self, now_ms: i64, expiry_ms: i64, actor: &str) -> Result<Change, OrderError> {
        if self.status != OrderStatus::Draft {
            return Err(self.refusal("be placed"));
        }
        self.status = OrderStatus::Placed;
        self.expires_at_ms = Some(now_ms.saturating_add(expiry_ms));
        Ok(self.changed(now_ms, actor, "placed", None))
    }

    /// An invoice, checkout session or QR was issued: `unpaid/failed → pending`.
    pub fn start_payment(
        mut self,
        provider: Provider,
        now_ms: i64,
        actor: &str,
    ) -> Result<Change, OrderError> {
        self.payable_at(now_ms)?;
        self.payment_status = PaymentStatus::Pending;
        self.provider = Some(provider);
        Ok(self.changed(
            now_ms,
            actor,
            "payment_started",
            Some(provider.as_str().into()),
        ))
    }

    /// The provider declined or the attempt lapsed: `pending → failed` (payable again).
    pub fn fail_payment(
        mut self,
        now_ms: i64,
        actor: &str,
        reason: &str,
    ) -> Result<Change, OrderError> {
        if !matches!(
            self.payment_status,
            PaymentStatus::Pending | PaymentStatus::Unpaid
        ) {
            return Err(self.refusal("fail a payment"));
        }
        self.payment_status = PaymentStatus::Failed;
        Ok(self.changed(now_ms, actor, "payment_failed", Some(reason.to_owned())))
    }

    /// Applies a provider's report of money received. Never refuses money: a second
    /// charge makes the order `overpaid`, a charge after expiry or cancellation is kept
    /// and flagged; only a wrong amount or currency leaves the order unpaid and flagged.
    pub fn confirm_payment(mut self, payment: &Payment, now_ms: i64) -> Confirmation {
        let actor = format!("provider:{}", payment.provider);
        let matches = payment.currency.eq_ignore_ascii_case(&self.currency)
            && payment.amount_minor == self.total_minor;
        if !matches {
            self.payment_mismatch = true;
            let reason = format!(
                "received {} {}, expected {} {}",
                payment.amount_minor, payment.currency, self.total_minor, self.currency
            );
            return Confirmation::Mismatch(self.changed(
                now_ms,
                &actor,
                "payment_mismatch",
                Some(reason),
            ));
        }
        let already_paid = matches!(
            self.payment_status,
            PaymentStatus::Paid
                | PaymentStatus::Overpaid
                | PaymentStatus::PartiallyRefunded
                | PaymentStatus::Refunded
        );
        self.paid_minor = self.paid_minor.saturating_add(payment.amount_minor);
        self.payments.push(PaymentPart {
            provider: payment.provider,
            reference: payment.reference.clone(),
            amount_minor: payment.amount_minor,
            refunded_minor: 0,
            payer_id: payment.payer_id,
            at_ms: now_ms,
        });
        if already_paid {
            self.payment_status = PaymentStatus::Overpaid;
            return Confirmation::Overpaid(self.changed(
                now_ms,
                &actor,
                "paid_twice",
                Some(format!("second charge {}", payment.reference)),
            ));
        }
        let late = match self.status {
            OrderStatus::Expired | OrderStatus::Canceled => Some(self.status),
            _ => None,
        };
        self.payment_status = PaymentStatus::Paid;
        self.provider = Some(payment.provider);
        self.payment_ref = Some(payment.reference.clone());
        self.paid_ms = Some(now_ms);
        if self.status == OrderStatus::Draft {
            self.status = OrderStatus::Placed;
        }
        match late {
            Some(status) => {
                self.payment_mismatch = true;
                Confirmation::PaidLate(self.changed(
                    now_ms,
                    &actor,
                    "paid",
                    Some(format!("paid although {status}: refund or fulfil")),
                ))
            }
            None => Confirmation::Paid(self.changed(now_ms, &actor, "paid", None)),
        }
    }

    /// Money returned, whole or in part. `amount_minor = None` refunds what is left of
    /// the charge refunded (the latest one with anything left).
    pub fn refund(
        self,
        amount_minor: Option<i64>,
        now_ms: i64,
        actor: &str,
        reason: Option<String>,
    ) -> Result<(Change, i64), OrderError> {
        self.refund_payment(None, amount_minor, now_ms, actor, reason)
            .map(|r| (r.change, r.amount_minor))
    }

    /// The charge a refund goes back through: `reference`, or the latest with money left.
    pub fn refundable_payment(&self, reference: Option<&str>) -> Result<&PaymentPart, OrderError> {
        match reference {
            Some(r) => self
                .payments
                .iter()
                .find(|p| p.reference == r)
                .ok_or_else(|| OrderError::UnknownPayment(r.to_owned())),
            None => self
                .payments
                .iter()
                .rev()
                .find(|p| p.remaining_minor() > 0)
                .ok_or_else(|| self.refusal("be refunded")),
        }
    }

    /// Money returned through one charge, whole or in part; the order's payment status
    /// follows from what is still held: nothing → `refunded`, less than the total →
    /// `partially_refunded`, the total → `paid`, more → `overpaid`.
    pub fn refund_payment(
        mut self,
        reference: Option<&str>,
        amount_minor: Option<i64>,
        now_ms: i64,
        actor: &str,
        reason: Option<String>,
    ) -> Result<Refunded, OrderError> {
        if !matches!(
            self.payment_status,
            PaymentStatus::Paid | PaymentStatus::Overpaid | PaymentStatus::PartiallyRefunded
        ) {
            return Err(self.refusal("be refunded"));
        }
        let part = self.refundable_payment(reference)?.clone();
        let remaining = part.remaining_minor();
        if remaining <= 0 {
            return Err(self.refusal("be refunded"));
        }
        let amount = amount_minor.unwrap_or(remaining);
        if amount <= 0 {
            return Err(OrderError::RefundNotPositive);
        }
        if amount > remaining {
            return Err(OrderError::RefundTooLarge { remaining });
        }
        let goods_before = self.goods_refunded_minor();
        if let Some(p) = self
            .payments
            .iter_mut()
            .find(|p| p.reference == part.reference)
        {
            p.refunded_minor += amount;
        }
        self.refunded_minor += amount;
        let held = self.paid_minor - self.refunded_minor;
        self.payment_status = if held <= 0 {
            PaymentStatus::Refunded
        } else if held < self.total_minor {
            PaymentStatus::PartiallyRefunded
        } else if held == self.total_minor {
            PaymentStatus::Paid
        } else {
            PaymentStatus::Overpaid
        };
        let goods_refunded = self.goods_refunded_minor() - goods_before;
        Ok(Refunded {
            change: self.changed(now_ms, actor, "refunded", reason),
            amount_minor: amount,
            goods_refunded_minor: goods_refunded,
            payment: part,
        })
    }

    /// How much of the goods' price has been given back: refunds beyond an overpayment.
    /// Cashback follows this, not the money refunded (returning a duplicate charge
    /// keeps the cashback of the purchase).
    pub fn goods_refunded_minor(&self) -> i64 {
        let held = self.paid_minor - self.refunded_minor;
        if self.paid_minor < self.total_minor {
            return 0;
        }
        (self.total_minor - held).clamp(0, self.total_minor)
    }

    /// Only an order nobody paid for can be canceled; a paid one is refunded instead.
    pub fn cancel(
        mut self,
        now_ms: i64,
        actor: &str,
        reason: Option<String>,
    ) -> Result<Change, OrderError> {
        let open = matches!(self.status, OrderStatus::Draft | OrderStatus::Placed);
        let unpaid = matches!(
            self.payment_status,
            PaymentStatus::Unpaid | PaymentStatus::Pending | PaymentStatus::Failed
        );
        if !open || !unpaid {
            return Err(self.refusal("be canceled"));
        }
        self.status = OrderStatus::Canceled;
        Ok(self.changed(now_ms, actor, "canceled", reason))
    }

    /// An unpaid placed order past its expiry expires.
    pub fn expire(mut self, now_ms: i64) -> Result<Change, OrderError> {
        let due = self.expires_at_ms.is_some_and(|at| now_ms >= at);
        let unpaid = matches!(
            self.payment_status,
            PaymentStatus::Unpaid | PaymentStatus::Pending | PaymentStatus::Failed
        );
        if self.status != OrderStatus::Placed || !unpaid || !due {
            return Err(self.refusal("expire"));
        }
        self.status = OrderStatus::Expired;
        Ok(self.changed(now_ms, "system:expiry", "expired", None))
    }

    /// `unfulfilled → fulfilled → delivered`; a paid order that is delivered is completed.
    pub fn fulfil(
        mut self,
        to: FulfillmentStatus,
        now_ms: i64,
        actor: &str,
    ) -> Result<Change, OrderError> {
        let allowed = matches!(
            (self.fulfillment_status, to),
            (FulfillmentStatus::Unfulfilled, FulfillmentStatus::Fulfilled)
                | (FulfillmentStatus::Unfulfilled, FulfillmentStatus::Delivered)
                | (FulfillmentStatus::Fulfilled, FulfillmentStatus::Delivered)
        );
        if !allowed || !matches!(self.status, OrderStatus::Placed | OrderStatus::Completed) {
            return Err(self.refusal("be fulfilled"));
        }
        self.fulfillment_status = to;
        let paid = matches!(
            self.payment_status,
            PaymentStatus::Paid | PaymentStatus::Overpaid
        );
        if to == FulfillmentStatus::Delivered && paid {
            self.status = OrderStatus::Completed;
        }
        Ok(self.changed(now_ms, actor, to.as_str(), None))
    }
}

/// A changed order and the history entry that explains it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub order: Order,
    pub event: OrderEvent,
}

/// A refund applied to an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refunded {
    pub change: Change,
    /// Money returned now.
    pub amount_minor: i64,
    /// Of which goods (the rest returned an overpayment): what cashback is taken back on.
    pub goods_refunded_minor: i64,
    /// The charge it went back through, as it was before.
    pub payment: PaymentPart,
}

/// One charge accepted for an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentPart {
    pub provider: Provider,
    pub reference: String,
    pub amount_minor: i64,
    #[serde(default)]
    pub refunded_minor: i64,
    /// Telegram user who paid (Stars refunds name the user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_id: Option<i64>,
    #[serde(default)]
    pub at_ms: i64,
}

impl PaymentPart {
    pub fn remaining_minor(&self) -> i64 {
        self.amount_minor - self.refunded_minor
    }
}

/// A provider's report of money received for an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub provider: Provider,
    /// The provider's own id of this charge (Telegram `telegram_payment_charge_id`,
    /// Stripe payment intent, Kaspi `QrPaymentId`): the ledger is unique on it.
    pub reference: String,
    pub amount_minor: i64,
    pub currency: String,
    /// Telegram user who paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_id: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Confirmation {
    Paid(Change),
    /// Paid after the order expired or was canceled: kept, flagged, managers told.
    PaidLate(Change),
    /// A second charge for a paid order.
    Overpaid(Change),
    /// Amount or currency did not match: not paid, flagged, managers told.
    Mismatch(Change),
}

impl Confirmation {
    pub fn change(&self) -> &Change {
        match self {
            Confirmation::Paid(c)
            | Confirmation::PaidLate(c)
            | Confirmation::Overpaid(c)
            | Confirmation::Mismatch(c) => c,
        }
    }

    pub fn into_change(self) -> Change {
        match self {
            Confirmation::Paid(c)
            | Confirmation::PaidLate(c)
            | Confirmation::Overpaid(c)
            | Confirmation::Mismatch(c) => c,
        }
    }
}

/// Amounts for people: `4 500 ₸`, `12.50 USD`. Minor units are hundredths except in
/// zero-decimal currencies (Telegram Stars, JPY, …); `.00` is not shown.
pub fn format_amount(minor: i64, currency: &str) -> String {
    let cur = currency.to_ascii_uppercase();
    let (whole, frac) = if is_zero_decimal(&cur) {
        (minor, None)
    } else {
        (minor / 100, Some((minor % 100).abs()))
    };
    let digits = whole.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push('\u{a0}');
        }
        grouped.push(c);
    }
    let sign = if minor < 0 { "-" } else { "" };
    let number = match frac {
        Some(f) if f > 0 => format!("{sign}{grouped}.{f:02}"),
        _ => format!("{sign}{grouped}"),
    };
    match cur.as_str() {
        "KZT" => format!("{number}\u{a0}₸"),
        "XTR" => format!("{number}\u{a0}⭐"),
        _ => format!("{number}\u{a0}{cur}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(sku: &str) -> Option<PricedItem> {
        match sku {
            "PUMP-1" => Some(PricedItem {
                sku: "PUMP-1".into(),
                name: "Pump".into(),
                price_minor: Some(45_000),
            }),
            "FREE" => Some(PricedItem {
                sku: "FREE".into(),
                name: "Ask us".into(),
                price_minor: None,
            }),
            "HUGE" => Some(PricedItem {
                sku: "HUGE".into(),
                name: "Huge".into(),
                price_minor: Some(i64::MAX / 2),
            }),
            _ => None,
        }
    }

    fn req(sku: &str, quantity: u32) -> LineRequest {
        LineRequest {
            sku: sku.into(),
            quantity,
        }
    }

    fn placed(total: i64) -> Order {
        let request = OrderRequest {
            order_id: None,
            customer: Customer {
                contact: "tg-1".into(),
                channel: Channel::Telegram,
                reply_to: "1".into(),
                language: None,
            },
            items: Vec::new(),
            source: OrderSource::Agent,
            actor: "agent".into(),
            catalog_version: None,
            delivery: None,
        };
        let tenant = TenantId::parse("acme").unwrap();
        Order::draft(tenant, "o1".into(), &request, Vec::new(), total, "KZT", 0)
            .place(1_000, 86_400_000, "agent")
            .unwrap()
            .order
    }

    fn pay(amount: i64, reference: &str) -> Payment {
        Payment {
            provider: Provider::Telegram,
            reference: reference.into(),
            amount_minor: amount,
            currency: "KZT".into(),
            payer_id: None,
        }
    }

    #[test]
    fn prices_come_from_the_catalog_and_merge_per_sku() {
        let (lines, subtotal) =
            price_lines(&[req("PUMP-1", 2), req("PUMP-1", 1)], catalog).unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].quantity, 3);
        assert_eq!(subtotal, 135_000);
        assert_eq!(price_lines(&[], catalog), Err(OrderError::NoLines));
        assert_eq!(
            price_lines(&[req("NOPE", 1)], catalog),
            Err(OrderError::UnknownItem("NOPE".into()))
        );
        assert_eq!(
            price_lines(&[req("FREE", 1)], catalog),
            Err(OrderError::Unpriced("FREE".into()))
        );
        assert_eq!(
            price_lines(&[req("PUMP-1", 0)], catalog),
            Err(OrderError::BadQuantity)
        );
        assert_eq!(
            price_lines(&[req("HUGE", 3)], catalog),
            Err(OrderError::TotalOutOfRange)
        );
        assert_eq!(
            price_lines(&[req("PUMP-1", MAX_QUANTITY), req("PUMP-1", 1)], catalog),
            Err(OrderError::BadQuantity)
        );
    }

    #[test]
    fn a_payment_marks_paid_once_and_a_second_charge_overpays() {
        let order = placed(45_000);
        let first = order.confirm_payment(&pay(45_000, "ch1"), 2_000);
        let Confirmation::Paid(change) = first else {
            panic!("{first:?}")
        };
        assert_eq!(change.order.payment_status, PaymentStatus::Paid);
        assert_eq!(change.order.payment_ref.as_deref(), Some("ch1"));
        assert_eq!(change.order.revision, 2);
        let second = change.order.confirm_payment(&pay(45_000, "ch2"), 3_000);
        let Confirmation::Overpaid(change) = second else {
            panic!("{second:?}")
        };
        assert_eq!(change.order.paid_minor, 90_000);
        assert_eq!(change.order.payment_status, PaymentStatus::Overpaid);
    }

    #[test]
    fn a_wrong_amount_or_currency_never_marks_paid() {
        for payment in [
            pay(44_999, "x"),
            Payment {
                currency: "USD".into(),
                ..pay(45_000, "x")
            },
        ] {
            let c = placed(45_000).confirm_payment(&payment, 2_000);
            let Confirmation::Mismatch(change) = c else {
                panic!("{c:?}")
            };
            assert_eq!(change.order.payment_status, PaymentStatus::Unpaid);
            assert!(change.order.payment_mismatch);
            assert_eq!(change.order.paid_minor, 0);
        }
    }

    #[test]
    fn expired_orders_cannot_be_paid_but_late_money_is_kept() {
        let order = placed(100);
        assert_eq!(
            order.payable_at(1_000 + 86_400_000),
            Err(OrderError::Expired)
        );
        let expired = order.expire(1_000 + 86_400_000).unwrap().order;
        assert_eq!(expired.status, OrderStatus::Expired);
        assert!(matches!(
            expired.confirm_payment(&pay(100, "late"), 90_000_000),
            Confirmation::PaidLate(c) if c.order.payment_status == PaymentStatus::Paid && c.order.payment_mismatch
        ));
        assert!(placed(100).expire(5_000).is_err(), "not due yet");
    }

    #[test]
    fn refunds_add_up_and_never_exceed_what_was_paid() {
        let paid = match placed(10_000).confirm_payment(&pay(10_000, "c"), 2) {
            Confirmation::Paid(c) => c.order,
            other => panic!("{other:?}"),
        };
        let (c, amount) = paid.refund(Some(4_000), 3, "manager:k", None).unwrap();
        assert_eq!(
            (amount, c.order.payment_status),
            (4_000, PaymentStatus::PartiallyRefunded)
        );
        assert_eq!(
            c.order
                .clone()
                .refund(Some(7_000), 4, "m", None)
                .unwrap_err(),
            OrderError::RefundTooLarge { remaining: 6_000 }
        );
        let (c, amount) = c.order.refund(None, 5, "m", None).unwrap();
        assert_eq!(
            (amount, c.order.payment_status),
            (6_000, PaymentStatus::Refunded)
        );
        assert!(c.order.refund(None, 6, "m", None).is_err());
        assert!(placed(1).refund(Some(1), 1, "m", None).is_err(), "unpaid");
    }

    #[test]
    fn only_unpaid_orders_cancel_and_delivery_completes_a_paid_order() {
        assert_eq!(
            placed(5).cancel(2, "m", None).unwrap().order.status,
            OrderStatus::Canceled
        );
        let paid = match placed(5).confirm_payment(&pay(5, "c"), 2) {
            Confirmation::Paid(c) => c.order,
            other => panic!("{other:?}"),
        };
        assert!(paid.clone().cancel(3, "m", None).is_err());
        let fulfilled = paid
            .fulfil(FulfillmentStatus::Fulfilled, 4, "m")
            .unwrap()
            .order;
        assert_eq!(fulfilled.status, OrderStatus::Placed);
        let delivered = fulfilled
            .fulfil(FulfillmentStatus::Delivered, 5, "m")
            .unwrap()
            .order;
        assert_eq!(delivered.status, OrderStatus::Completed);
        assert!(
            delivered
                .fulfil(FulfillmentStatus::Fulfilled, 6, "m")
                .is_err(),
            "never backwards"
        );
    }

    #[test]
    fn refunding_a_duplicate_charge_leaves_the_order_paid_and_its_cashback() {
        let order = placed(45_000);
        let Confirmation::Paid(c) = order.confirm_payment(&pay(45_000, "ch1"), 2) else {
            panic!()
        };
        let Confirmation::Overpaid(c) = c.order.confirm_payment(&pay(45_000, "ch2"), 3) else {
            panic!()
        };
        assert_eq!(c.order.payments.len(), 2);
        let r = c.order.refund_payment(None, None, 4, "m", None).unwrap();
        assert_eq!(
            r.payment.reference, "ch2",
            "the latest charge goes back first"
        );
        assert_eq!(r.amount_minor, 45_000);
        assert_eq!(r.goods_refunded_minor, 0, "an overpayment is not goods");
        assert_eq!(r.change.order.payment_status, PaymentStatus::Paid);
        let r = r
            .change
            .order
            .refund_payment(Some("ch1"), Some(5_000), 5, "m", None)
            .unwrap();
        assert_eq!(r.goods_refunded_minor, 5_000);
        assert_eq!(
            r.change.order.payment_status,
            PaymentStatus::PartiallyRefunded
        );
        assert_eq!(
            r.change
                .order
                .clone()
                .refund_payment(Some("ch2"), Some(1), 6, "m", None)
                .unwrap_err(),
            OrderError::Transition {
                status: "placed/partially_refunded/unfulfilled".into(),
                action: "be refunded"
            },
            "nothing left of that charge"
        );
        assert_eq!(
            r.change
                .order
                .refund_payment(Some("nope"), None, 6, "m", None)
                .unwrap_err(),
            OrderError::UnknownPayment("nope".into())
        );
    }

    #[test]
    fn catalog_prices_convert_to_the_orders_minor_units() {
        assert_eq!(minor_from_catalog("A", 1_250_050, "KZT"), Ok(1_250_050));
        assert_eq!(minor_from_catalog("A", 5_000, "XTR"), Ok(50));
        assert_eq!(
            minor_from_catalog("A", 5_050, "xtr"),
            Err(OrderError::FractionalPrice("A".into()))
        );
    }

    #[test]
    fn catalog_entries_price_in_the_orders_currency() {
        let entry = |sku: &str, price: Option<i64>, currency: Option<&str>| CatalogPrice {
            sku: sku.into(),
            name: format!("Item {sku}"),
            price_hundredths: price,
            currency: currency.map(Into::into),
        };
        let catalog = |sku: &str| match sku {
            "A" => Some(entry("A", Some(4_500_000), Some("KZT"))),
            "B" => Some(entry("B", Some(5_000), None)),
            "C" => Some(entry("C", None, None)),
            _ => None,
        };
        let (lines, total) =
            price_from_catalog(&[req(" A ", 2), req("B", 1)], catalog, "KZT").unwrap();
        assert_eq!(lines[0].sku, "A");
        assert_eq!(total, 9_005_000);
        assert_eq!(
            price_from_catalog(&[req("A", 1)], catalog, "USD").unwrap_err(),
            OrderError::CurrencyMismatch {
                sku: "A".into(),
                currency: "KZT".into(),
                expected: "USD".into()
            }
        );
        let (_, stars) = price_from_catalog(&[req("B", 3)], catalog, "XTR").unwrap();
        assert_eq!(stars, 150, "50 stars each");
        assert_eq!(
            price_from_catalog(&[req("Z", 1)], catalog, "KZT").unwrap_err(),
            OrderError::UnknownItem("Z".into())
        );
        assert_eq!(
            price_from_catalog(&[req("C", 1)], catalog, "KZT").unwrap_err(),
            OrderError::Unpriced("C".into())
        );
    }

    #[test]
    fn ids_are_stable_when_seeded_and_bounded() {
        assert!(valid_id(&new_id(1)));
        assert_eq!(stable_id(5, "a"), stable_id(5, "a"));
        assert_ne!(stable_id(5, "a"), stable_id(5, "b"));
        assert!(!valid_id("a#b"));
        assert!(!valid_id(""));
    }

    #[test]
    fn jobs_round_trip_with_their_tags() {
        let job = OrderJob::Effects {
            order_id: "o1".into(),
            effect: PaymentEffect::Paid {
                reference: "ch1".into(),
            },
        };
        let json = serde_json::to_value(&job).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "effects", "order_id": "o1", "effect": {"kind": "paid", "reference": "ch1"}})
        );
        assert_eq!(serde_json::from_value::<OrderJob>(json).unwrap(), job);
    }

    #[test]
    fn amounts_read_naturally() {
        assert_eq!(format_amount(450_000, "KZT"), "4\u{a0}500\u{a0}₸");
        assert_eq!(format_amount(1_250, "usd"), "12.50\u{a0}USD");
        assert_eq!(format_amount(50, "XTR"), "50\u{a0}⭐");
        assert_eq!(
            format_amount(-123_456_700, "KZT"),
            "-1\u{a0}234\u{a0}567\u{a0}₸"
        );
    }
}
