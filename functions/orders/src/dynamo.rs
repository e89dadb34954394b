//! The DynamoDB adapter of [`OrderStore`]: plans run through `sauda_shared::dynamo`.

use crate::domain::{
    Conflict, ExpiryPointer, HistoryRecord, OrderRecord, PaymentPointer, PaymentRecord,
};
use crate::store::{OrderDetail, OrderStore, Page};
use async_trait::async_trait;
use sauda_shared::dynamo::{self, item_s, s, store_err, Item};
use sauda_shared::keys;
use sauda_shared::order::{Order, OrderStatus, Provider};
use sauda_shared::order_reads::{DynamoOrderReads, OrderReads};
use sauda_shared::plan::{Key, PlanError, WritePlan};
use sauda_shared::ports::StoreError;
use sauda_shared::TenantId;
use std::collections::HashMap;

pub struct DynamoOrders {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// The reads the chat shares (an order, a contact's orders).
    reads: DynamoOrderReads,
}

impl DynamoOrders {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        let table = table.into();
        Self {
            reads: DynamoOrderReads::new(client.clone(), table.clone()),
            client,
            table,
        }
    }

    async fn get_item(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.reads.item(key).await
    }
}

fn order_of(item: Item) -> Result<Order, StoreError> {
    dynamo::from_item::<OrderRecord>(item).map(|r| r.order)
}

/// `{updated:013}#{order id}`: the only positions a listing hands out.
fn valid_position(raw: &str) -> bool {
    raw.split_once('#').is_some_and(|(ms, id)| {
        ms.len() == 13
            && ms.bytes().all(|b| b.is_ascii_digit())
            && crate::domain::valid_order_id(id)
    })
}

#[async_trait]
impl OrderStore for DynamoOrders {
    async fn get(&self, tenant: &TenantId, order_id: &str) -> Result<Option<Order>, StoreError> {
        self.reads.order(tenant, order_id).await
    }

    async fn detail(
        &self,
        tenant: &TenantId,
        order_id: &str,
    ) -> Result<Option<OrderDetail>, StoreError> {
        let (pk, _) = keys::order(tenant, order_id);
        let items = dynamo::query_partition(&self.client, &self.table, &pk, None).await?;
        let mut order = None;
        let mut history = Vec::new();
        let mut payments = Vec::new();
        for item in items {
            let sk = item_s(&item, "SK").to_owned();
            if sk == keys::ORDER_SK {
                order = Some(order_of(item)?);
            } else if sk.starts_with(keys::ORDER_HISTORY_SK_PREFIX) {
                history.push(dynamo::from_item::<HistoryRecord>(item)?);
            } else if sk.starts_with(keys::ORDER_PAYMENT_SK_PREFIX) {
                payments.push(dynamo::from_item::<PaymentRecord>(item)?);
            }
        }
        payments.sort_by_key(|p| p.at_ms);
        Ok(order.map(|order| OrderDetail {
            order,
            history,
            payments,
        }))
    }

    async fn list(
        &self,
        tenant: &TenantId,
        status: OrderStatus,
        after: Option<&str>,
        limit: i32,
    ) -> Result<Page, StoreError> {
        let gsi_pk = keys::orders_by_status_gsi(tenant, status.as_str());
        let start = match after {
            None => None,
            Some(position) if valid_position(position) => {
                let order_id = position.split_once('#').map(|(_, id)| id).unwrap_or("");
                let (pk, sk) = keys::order(tenant, order_id);
                Some(HashMap::from([
                    ("PK".to_owned(), s(pk)),
                    ("SK".to_owned(), s(sk)),
                    ("GSI1PK".to_owned(), s(gsi_pk.clone())),
                    ("GSI1SK".to_owned(), s(position)),
                ]))
            }
            Some(_) => return Err(StoreError::Rejected("not a listing position".into())),
        };
        let (items, last) =
            dynamo::query_gsi1_page(&self.client, &self.table, &gsi_pk, start, limit).await?;
        let next = last
            .as_ref()
            .map(|k| item_s(k, "GSI1SK").to_owned())
            .filter(|p| !p.is_empty());
        let orders = items
            .into_iter()
            .map(order_of)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page { orders, next })
    }

    async fn of_contact(
        &self,
        tenant: &TenantId,
        contact: &str,
        limit: i32,
    ) -> Result<Vec<Order>, StoreError> {
        self.reads.of_contact(tenant, contact, limit).await
    }

    async fn commit(&self, plan: &WritePlan<Conflict>) -> Result<(), PlanError<Conflict>> {
        dynamo::execute(&self.client, &self.table, plan).await
    }

    async fn payment(&self, key: &Key) -> Result<Option<PaymentRecord>, StoreError> {
        self.get_item(key)
            .await?
            .map(dynamo::from_item::<PaymentRecord>)
            .transpose()
    }

    async fn order_of_payment(
        &self,
        tenant: &TenantId,
        provider: Provider,
        reference: &str,
    ) -> Result<Option<String>, StoreError> {
        let key = keys::payment_reference(tenant, provider.as_str(), reference);
        Ok(self
            .get_item(&key)
            .await?
            .map(dynamo::from_item::<PaymentPointer>)
            .transpose()?
            .map(|p| p.order_id))
    }

    async fn due_expiries(
        &self,
        tenant: &TenantId,
        now_ms: i64,
        limit: i32,
    ) -> Result<Vec<ExpiryPointer>, StoreError> {
        // `~` sorts after `#` and every id character: every pointer at `now_ms`.
        let upto = format!("{now_ms:013}#~");
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK <= :upto")
            .expression_attribute_values(":pk", s(keys::order_expiry_pk(tenant)))
            .expression_attribute_values(":upto", s(upto))
            .limit(limit)
            .send()
            .await
            .map_err(|e| store_err("due order expiries", e))?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(dynamo::from_item::<ExpiryPointer>)
            .collect()
    }
}
