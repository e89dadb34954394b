//! Creating an order: the one entry point of the manager API, the agent's
//! `create_order` tool (through the payments queue) and a chat "Buy" button.
//!
//! The caller names SKUs and quantities; prices, names and the currency come from the
//! tenant's catalog ([`PriceBook`]), never from the caller. The order is written
//! `placed` (the customer confirmed what they buy) with its history, the contact's
//! "my orders" pointer, its expiry pointer and the day's counters in one transaction.
//! A caller that retries with the same `order_id` gets the order it made.

use crate::catalog::{PriceBook, PriceError};
use crate::domain::{self, Conflict};
use crate::store::OrderStore;
use sauda_shared::limits::{self, Metric};
use sauda_shared::message::Channel;
use sauda_shared::order::{self, CatalogPrice, LineRequest, Order, OrderError, OrderRequest};
use sauda_shared::plan::PlanError;
use sauda_shared::ports::StoreError;
use sauda_shared::retry::Backoff;
use sauda_shared::tenant::TenantConfig;

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The request itself is wrong (`code` is stable).
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error(transparent)]
    Order(#[from] OrderError),
    #[error("the tenant has no active catalog to price from")]
    NoCatalog,
    /// The id belongs to another customer's order.
    #[error("order {0} exists for another customer")]
    IdTaken(String),
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for CreateError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rejected(m) => CreateError::Invalid {
                code: "order_rejected",
                message: m,
            },
            StoreError::Unavailable(m) => CreateError::Unavailable(m),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Created {
    pub order: Order,
    /// `false` when the same request made it before (a retry).
    pub new: bool,
}

/// `{channel}-{id}` with a channel Sauda speaks: the channel and the chat to reply to.
pub fn customer_of(contact: &str) -> Option<(Channel, String)> {
    let (prefix, id) = contact.split_once('-')?;
    let channel = match prefix {
        "tg" => Channel::Telegram,
        "wa" => Channel::Whatsapp,
        _ => return None,
    };
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
    ok.then(|| (channel, id.to_owned()))
}

fn invalid(code: &'static str, message: impl Into<String>) -> CreateError {
    CreateError::Invalid {
        code,
        message: message.into(),
    }
}

fn check(request: &OrderRequest) -> Result<(), CreateError> {
    match customer_of(&request.customer.contact) {
        Some((channel, _)) if channel == request.customer.channel => {}
        _ => {
            return Err(invalid(
                "invalid_contact_id",
                "contact_id must look like tg-123456 or wa-77011234567",
            ))
        }
    }
    let reply_to = &request.customer.reply_to;
    if reply_to.is_empty() || reply_to.len() > 64 {
        return Err(invalid(
            "invalid_reply_to",
            "reply_to must be 1-64 characters",
        ));
    }
    if let Some(id) = &request.order_id {
        if !order::valid_id(id) {
            return Err(invalid(
                "invalid_order_id",
                "order ids are 1-64 characters of A-Z a-z 0-9 _ -",
            ));
        }
    }
    if request
        .delivery
        .as_ref()
        .is_some_and(|d| d.chars().count() > 1_000)
    {
        return Err(invalid(
            "delivery_too_long",
            "delivery is at most 1000 characters",
        ));
    }
    if request
        .items
        .iter()
        .any(|i| i.sku.trim().is_empty() || i.sku.len() > 200)
    {
        return Err(invalid(
            "invalid_sku",
            "every item needs a SKU of 1-200 characters",
        ));
    }
    Ok(())
}

/// Prices `items` from the catalog entries found, in the orders' currency.
pub fn price(
    items: &[LineRequest],
    found: &[agent_reply::catalog::CatalogItem],
    currency: &str,
) -> Result<(Vec<order::OrderLine>, i64), OrderError> {
    order::price_from_catalog(
        items,
        |sku| {
            found
                .iter()
                .find(|i| i.sku.trim() == sku)
                .map(|i| CatalogPrice {
                    sku: i.sku.clone(),
                    name: i.name.clone(),
                    price_hundredths: i.price_minor,
                    currency: i.currency.clone(),
                })
        },
        currency,
    )
}

/// Creates and places an order for `request.customer` from the catalog's prices. The
/// month's order counter of the plan is counted in the placement's transaction; past the
/// plan's orders the order is still placed (a buyer is never blocked) and the managers
/// and the operator are told (`limits::after_consumption`).
pub async fn create_order(
    store: &dyn OrderStore,
    book: &dyn PriceBook,
    watch: &limits::Watch<'_>,
    config: &TenantConfig,
    request: &OrderRequest,
    now_ms: i64,
) -> Result<Created, CreateError> {
    check(request)?;
    if let Some(id) = &request.order_id {
        if let Some(existing) = store.get(&config.tenant, id).await? {
            return same_customer(existing, request);
        }
    }
    let skus: Vec<String> = request
        .items
        .iter()
        .map(|i| i.sku.trim().to_owned())
        .collect();
    let found = book
        .items(config, request.catalog_version.as_deref(), &skus)
        .await
        .map_err(|e| match e {
            PriceError::NoCatalog => CreateError::NoCatalog,
            PriceError::Unavailable(m) => CreateError::Unavailable(m),
        })?;
    let currency = config.orders.currency.to_ascii_uppercase();
    let (lines, subtotal) = price(&request.items, &found, &currency)?;
    let order_id = request
        .order_id
        .clone()
        .unwrap_or_else(|| order::new_id(now_ms));
    let draft = Order::draft(
        config.tenant.clone(),
        order_id.clone(),
        request,
        lines,
        subtotal,
        &currency,
        now_ms,
    );
    let change = draft.place(now_ms, config.orders.expiry_ms(), &request.actor)?;
    let mut plan = domain::placement(&config.tenant, &config.timezone, &change);
    let month = limits::month_of(config, now_ms);
    if let Some(count) = limits::count(&config.tenant, &month, Metric::OrdersPerMonth, 1) {
        plan.update(count);
    }
    for attempt in 1..=3 {
        match store.commit(&plan).await {
            Ok(()) => {
                tracing::info!(tenant = %config.tenant, order = %order_id, total = change.order.total_minor, source = ?request.source, "order placed");
                limits::after_consumption(watch, config, Metric::OrdersPerMonth, now_ms).await;
                return Ok(Created {
                    order: change.order,
                    new: true,
                });
            }
            Err(PlanError::Rejected(Conflict::OrderExists)) => {
                let existing = store
                    .get(&config.tenant, &order_id)
                    .await?
                    .ok_or_else(|| CreateError::Unavailable("order vanished".into()))?;
                return same_customer(existing, request);
            }
            Err(PlanError::Rejected(_)) | Err(PlanError::Stale(_)) => {
                Backoff::STORE.sleep(attempt).await
            }
            Err(PlanError::Store(e)) => return Err(e.into()),
        }
    }
    Err(CreateError::Unavailable("order store contended".into()))
}

fn same_customer(existing: Order, request: &OrderRequest) -> Result<Created, CreateError> {
    if existing.contact == request.customer.contact {
        Ok(Created {
            order: existing,
            new: false,
        })
    } else {
        Err(CreateError::IdTaken(existing.order_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_reply::catalog::CatalogItem;

    fn item(sku: &str, price: Option<i64>, currency: Option<&str>) -> CatalogItem {
        CatalogItem {
            price_minor: price,
            currency: currency.map(Into::into),
            ..CatalogItem::new(sku, format!("Item {sku}"))
        }
    }

    fn req(sku: &str, quantity: u32) -> LineRequest {
        LineRequest {
            sku: sku.into(),
            quantity,
        }
    }

    #[test]
    fn catalog_items_are_read_as_catalog_prices() {
        let found = [
            item("A", Some(4_500_000), Some("KZT")),
            item("B", None, None),
        ];
        let (lines, total) = price(&[req("A", 2)], &found, "KZT").unwrap();
        assert_eq!((lines[0].name.as_str(), total), ("Item A", 9_000_000));
        assert_eq!(
            price(&[req("B", 1)], &found, "KZT").unwrap_err(),
            OrderError::Unpriced("B".into())
        );
    }

    #[test]
    fn contact_ids_name_the_channel_and_chat() {
        assert_eq!(
            customer_of("tg-123"),
            Some((Channel::Telegram, "123".into()))
        );
        assert_eq!(
            customer_of("wa-77011234567"),
            Some((Channel::Whatsapp, "77011234567".into()))
        );
        assert_eq!(customer_of("vk-1"), None);
        assert_eq!(customer_of("tg-"), None);
        assert_eq!(customer_of("tg-1#x"), None);
    }
}
