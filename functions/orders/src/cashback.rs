//! Loyalty cashback for paid orders, behind a small port: the loyalty ledger is the
//! adapter (`adapter_loyalty.rs`), written against the loyalty crate as it is, kept
//! thin so a change of that crate touches one file.

use async_trait::async_trait;
use sauda_shared::order::Order;
use sauda_shared::tenant::TenantConfig;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CashbackResult {
    /// Points credited (accrue) or taken back (refund).
    Points(i64),
    /// Nothing to do, and never will be (no member account possible, already done by
    /// an earlier run whose answer is gone, no cashback on this purchase, …).
    Skipped(String),
}

#[derive(Debug, thiserror::Error)]
pub enum CashbackError {
    /// The ledger is unavailable or contended: retry the job.
    #[error("cashback unavailable: {0}")]
    Transient(String),
    /// The ledger refuses for good (partner missing or inactive, currency): the
    /// managers see the order without cashback; the job is not retried.
    #[error("cashback refused: {0}")]
    Refused(String),
}

#[async_trait]
pub trait Cashback: Send + Sync {
    /// Credits cashback on a paid order, once per order (keyed by the order id).
    async fn accrue_for_order(
        &self,
        config: &TenantConfig,
        partner_id: &str,
        order: &Order,
    ) -> Result<CashbackResult, CashbackError>;

    /// Takes back the cashback of `goods_minor` refunded, once per `refund_id`.
    async fn refund_for_order(
        &self,
        config: &TenantConfig,
        partner_id: &str,
        order: &Order,
        refund_id: &str,
        goods_minor: i64,
    ) -> Result<CashbackResult, CashbackError>;
}

/// The partner cashback is booked to, when the tenant's programme applies to `order`.
pub fn partner_for<'a>(config: &'a TenantConfig, order: &Order) -> Option<&'a str> {
    let partner = config.orders.loyalty_partner_id.as_deref()?;
    let applies = config.loyalty.enabled
        && config
            .loyalty
            .currency
            .eq_ignore_ascii_case(&order.currency)
        && order.total_minor > 0;
    applies.then_some(partner)
}
