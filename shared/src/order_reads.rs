//! Reading a customer's orders outside the orders crate (the chat's "my orders", an
//! `o-ID` deep link): a port, and its DynamoDB adapter, which the orders store also
//! uses for the same reads. Only reads: every change goes through the orders crate.

use crate::dynamo::{self, item_s, Item};
use crate::keys;
use crate::order::Order;
use crate::plan::Key;
use crate::ports::StoreError;
use crate::TenantId;
use async_trait::async_trait;

#[async_trait]
pub trait OrderReads: Send + Sync {
    /// The order, read consistently (one GetItem).
    async fn order(&self, tenant: &TenantId, order_id: &str) -> Result<Option<Order>, StoreError>;

    /// A contact's newest orders (one Query of its pointers, one BatchGetItem).
    async fn of_contact(
        &self,
        tenant: &TenantId,
        contact: &str,
        limit: i32,
    ) -> Result<Vec<Order>, StoreError>;
}

pub struct DynamoOrderReads {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoOrderReads {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// An item by its key, read consistently.
    pub async fn item(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(dynamo::key_attrs(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo::store_err("get order item", e))?;
        Ok(out.item)
    }
}

/// The order of a stored order item (its keys are ignored).
pub fn order_of(item: Item) -> Result<Order, StoreError> {
    dynamo::from_item::<Order>(item)
}

#[async_trait]
impl OrderReads for DynamoOrderReads {
    async fn order(&self, tenant: &TenantId, order_id: &str) -> Result<Option<Order>, StoreError> {
        self.item(&keys::order(tenant, order_id))
            .await?
            .map(order_of)
            .transpose()
    }

    async fn of_contact(
        &self,
        tenant: &TenantId,
        contact: &str,
        limit: i32,
    ) -> Result<Vec<Order>, StoreError> {
        let pointers = dynamo::query_newest(
            &self.client,
            &self.table,
            &keys::contact_pk(tenant, contact),
            keys::CONTACT_ORDER_SK_PREFIX,
            limit,
        )
        .await?;
        let wanted: Vec<Key> = pointers
            .iter()
            .map(|i| keys::order(tenant, item_s(i, "order_id")))
            .collect();
        let reads = dynamo::batch_get(&self.client, &self.table, &wanted, false).await?;
        let mut orders = Vec::new();
        for key in &wanted {
            if let Some(order) = reads.get::<Order>(key)? {
                orders.push(order);
            }
        }
        Ok(orders)
    }
}
