//! The orders store: a port, so the rules and handlers run without AWS; the DynamoDB
//! adapter is `dynamo::DynamoOrders` (contract-tested on moto in `tests/orders_store.rs`).

use crate::domain::{Conflict, ExpiryPointer, HistoryRecord, PaymentRecord};
use async_trait::async_trait;
use sauda_shared::order::{Order, OrderStatus, Provider};
use sauda_shared::plan::{Key, PlanError, WritePlan};
use sauda_shared::ports::StoreError;
use sauda_shared::TenantId;

/// An order with everything that happened to it.
#[derive(Clone, Debug)]
pub struct OrderDetail {
    pub order: Order,
    /// Oldest first.
    pub history: Vec<HistoryRecord>,
    pub payments: Vec<PaymentRecord>,
}

/// One page of a listing, newest change first.
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub orders: Vec<Order>,
    /// The position after the last order (opaque to callers; cursors carry it).
    pub next: Option<String>,
}

#[async_trait]
pub trait OrderStore: Send + Sync {
    /// The order, read consistently (one GetItem).
    async fn get(&self, tenant: &TenantId, order_id: &str) -> Result<Option<Order>, StoreError>;

    /// The order with its history and payment ledger (one Query of its partition).
    async fn detail(
        &self,
        tenant: &TenantId,
        order_id: &str,
    ) -> Result<Option<OrderDetail>, StoreError>;

    /// Orders in `status`, newest change first, after `after` (a [`Page::next`]).
    async fn list(
        &self,
        tenant: &TenantId,
        status: OrderStatus,
        after: Option<&str>,
        limit: i32,
    ) -> Result<Page, StoreError>;

    /// A contact's newest orders ("my orders").
    async fn of_contact(
        &self,
        tenant: &TenantId,
        contact: &str,
        limit: i32,
    ) -> Result<Vec<Order>, StoreError>;

    /// Executes a transition's plan (one transaction).
    async fn commit(&self, plan: &WritePlan<Conflict>) -> Result<(), PlanError<Conflict>>;

    /// A ledger item by its key.
    async fn payment(&self, key: &Key) -> Result<Option<PaymentRecord>, StoreError>;

    /// The order a provider's payment reference belongs to.
    async fn order_of_payment(
        &self,
        tenant: &TenantId,
        provider: Provider,
        reference: &str,
    ) -> Result<Option<String>, StoreError>;

    /// Unpaid orders whose expiry is at or before `now_ms`, oldest first.
    async fn due_expiries(
        &self,
        tenant: &TenantId,
        now_ms: i64,
        limit: i32,
    ) -> Result<Vec<ExpiryPointer>, StoreError>;
}
