//! The customer's shop in chat, without a model: a product card (`/start p-SKU`) with
//! its Buy button, the Buy press itself, "my orders", and one order (`/start o-ID`).
//!
//! A Buy button carries the SKU and the second its card was shown (`{nonce}.{sku}`),
//! signed for this chat: the order id derives from them, so every press of the same
//! button names the same order. A press whose order exists answers with its status
//! and queues nothing; otherwise the order goes to the payments queue as an
//! `OrderJob::Create` (the orders crate's one entry point), whose worker places it
//! and sends the invoice, exactly as for the agent's `create_order`.

use super::commands::{button, menu, reply};
use super::compose::Reply;
use super::load::Context;
use super::{transient, JobError};
use crate::catalog::{CatalogIndex, CatalogItem};
use sauda_shared::envelope::Envelope;
use sauda_shared::i18n::{shop as t, Lang, Text};
use sauda_shared::order::{
    self, format_amount, CatalogPrice, Customer, LineRequest, Order, OrderJob, OrderRequest,
    OrderSource, OrderStatus, PaymentStatus,
};
use sauda_shared::order_reads::OrderReads;
use sauda_shared::outbox::Button;
use sauda_shared::ports::MessageQueue;

/// How many orders "my orders" lists.
pub const MY_ORDERS: i32 = 5;

#[derive(Clone, Copy)]
pub struct Ports<'a> {
    /// `None`: the deployment reads no orders ("my orders" is empty).
    pub orders: Option<&'a dyn OrderReads>,
    /// The payments queue; `None`: Buy is not offered.
    pub payments: Option<&'a dyn MessageQueue>,
}

/// A catalog item's price as the orders crate prices it.
pub fn catalog_price(catalog: &CatalogIndex, sku: &str) -> Option<CatalogPrice> {
    catalog.by_sku(sku).map(|i| CatalogPrice {
        sku: i.sku,
        name: i.name,
        price_hundredths: i.price_minor,
        currency: i.currency,
    })
}

/// Orders in chat: the tenant takes payments and this deployment has the queue.
fn buying(ports: &Ports<'_>, ctx: &Context) -> bool {
    ports.payments.is_some() && !ctx.config.orders.providers.is_empty()
}

/// The short number customers see: the id's last 8 characters.
pub fn number(order_id: &str) -> &str {
    &order_id[order_id.len().saturating_sub(8)..]
}

fn status(order: &Order) -> &'static Text {
    match (order.status, order.payment_status) {
        (_, PaymentStatus::Paid | PaymentStatus::Overpaid)
            if order.status == OrderStatus::Placed =>
        {
            &t::STATUS_PAID
        }
        (OrderStatus::Completed, _) => &t::STATUS_COMPLETED,
        (OrderStatus::Canceled, _) => &t::STATUS_CANCELED,
        (OrderStatus::Expired, _) => &t::STATUS_EXPIRED,
        _ => &t::STATUS_AWAITING,
    }
}

fn order_line(order: &Order, lang: Lang) -> String {
    t::ORDER_LINE.render(
        lang,
        &[
            ("number", &number(&order.order_id)),
            ("total", &format_amount(order.total_minor, &order.currency)),
            ("status", &status(order).get(lang)),
        ],
    )
}

fn orders_button(ctx: &Context, lang: Lang) -> Option<Button> {
    button(ctx, t::BTN_ORDERS.get(lang), "orders", "")
}

/// A Buy button's argument: the card's second in base 36, then the SKU.
fn buy_arg(ctx: &Context, sku: &str) -> String {
    let mut n = u64::try_from(ctx.message.timestamp_ms / 1000).unwrap_or(0);
    let mut digits = Vec::new();
    loop {
        digits.push(char::from_digit((n % 36) as u32, 36).unwrap_or('0'));
        n /= 36;
        if n == 0 {
            break;
        }
    }
    let nonce: String = digits.into_iter().rev().collect();
    format!("{nonce}.{sku}")
}

/// `{nonce}.{sku}` back into the card's time (ms) and the SKU.
fn parse_buy_arg(arg: &str) -> Option<(i64, &str)> {
    let (nonce, sku) = arg.split_once('.')?;
    let seconds = i64::from_str_radix(nonce, 36).ok()?;
    (!sku.is_empty()).then_some((seconds.checked_mul(1000)?, sku))
}

/// Items a "more like this" page shows.
pub const PAGE: usize = 3;
/// The furthest "next page" goes (a catalog search is cheap, but not endless).
const MAX_OFFSET: usize = 30;

/// Under a catalog answer about `first`: its photo, Buy, and "more like this" (from
/// the start, or the page at `next`).
pub fn extras(
    ports: &Ports<'_>,
    ctx: &Context,
    first: &CatalogItem,
    next: Option<(usize, &str)>,
) -> (Option<String>, Vec<Button>) {
    let lang = ctx.lang;
    let mut buttons = Vec::new();
    if buying(ports, ctx) && first.price_minor.is_some() {
        buttons.extend(button(
            ctx,
            t::BTN_BUY.get(lang),
            "buy",
            &buy_arg(ctx, &first.sku),
        ));
    }
    match next {
        Some((offset, sku)) => buttons.extend(button(
            ctx,
            t::BTN_NEXT.get(lang),
            "more",
            &format!("{offset}.{sku}"),
        )),
        None => buttons.extend(button(
            ctx,
            t::BTN_MORE.get(lang),
            "more",
            &format!("0.{}", first.sku),
        )),
    }
    (first.photo_url.clone(), buttons)
}

/// "More like this" (`{offset}.{sku}`): the items found by the item's own name, past
/// the item itself, a page at a time, with "next page" while more remain.
pub fn more_like(
    ports: &Ports<'_>,
    ctx: &Context,
    catalog: Option<&CatalogIndex>,
    arg: &str,
) -> Reply {
    let lang = ctx.lang;
    let parsed = arg
        .split_once('.')
        .and_then(|(offset, sku)| Some((offset.parse::<usize>().ok()?, sku)))
        .filter(|(offset, _)| *offset <= MAX_OFFSET);
    let (Some(catalog), Some((offset, sku))) = (catalog, parsed) else {
        return reply(t::PRODUCT_UNKNOWN.get(lang).to_owned(), menu(ctx, lang));
    };
    let Some(item) = catalog.by_sku(sku) else {
        return reply(t::PRODUCT_UNKNOWN.get(lang).to_owned(), menu(ctx, lang));
    };
    let similar: Vec<CatalogItem> = catalog
        .search(&item.name, offset + PAGE + 2)
        .into_iter()
        .map(|hit| hit.item)
        .filter(|i| i.sku != item.sku)
        .collect();
    let page: Vec<CatalogItem> = similar.iter().skip(offset).take(PAGE).cloned().collect();
    let text = crate::prompt::fallback_reply(lang, &page);
    let Some(first) = page.first() else {
        return reply(text, menu(ctx, lang));
    };
    let more = similar.len() > offset + PAGE && offset + PAGE <= MAX_OFFSET;
    let next = more.then_some((offset + PAGE, item.sku.as_str()));
    let (photo, mut buttons) = extras(ports, ctx, first, next);
    if !more {
        buttons.retain(|b| !b.data.as_deref().is_some_and(|d| d.starts_with("s1|more|")));
    }
    Reply {
        photo,
        ..reply(text, buttons)
    }
}

/// The product card: name, price, availability, link, photo; Buy when it can be bought.
pub fn product(
    ports: &Ports<'_>,
    ctx: &Context,
    catalog: Option<&CatalogIndex>,
    sku: &str,
) -> Reply {
    let lang = ctx.lang;
    let Some(item) = catalog.and_then(|c| c.by_sku(sku)) else {
        return reply(t::PRODUCT_UNKNOWN.get(lang).to_owned(), menu(ctx, lang));
    };
    let mut buttons = Vec::new();
    if buying(ports, ctx) && item.price_minor.is_some() {
        buttons.extend(button(
            ctx,
            t::BTN_BUY.get(lang),
            "buy",
            &buy_arg(ctx, &item.sku),
        ));
    }
    buttons.extend(orders_button(ctx, lang));
    Reply {
        photo: item.photo_url.clone(),
        ..reply(card(&item, lang), buttons)
    }
}

fn card(item: &CatalogItem, lang: Lang) -> String {
    let mut text = item.name.clone();
    text.push('\n');
    match (item.price_minor, item.currency.as_deref()) {
        (Some(price), Some(currency)) => {
            let amount = order::minor_from_catalog(&item.sku, price, currency)
                .map_or_else(|_| format!("{price}"), |m| format_amount(m, currency));
            text.push_str(&t::PRODUCT_PRICE.render(lang, &[("price", &amount)]));
        }
        _ => text.push_str(t::PRODUCT_NO_PRICE.get(lang)),
    }
    if let Some(url) = &item.url {
        text.push('\n');
        text.push_str(url);
    }
    text
}

/// A Buy press: the order of this button, placed once.
pub async fn buy(
    ports: &Ports<'_>,
    ctx: &Context,
    catalog: Option<&CatalogIndex>,
    arg: &str,
) -> Result<Reply, JobError> {
    let lang = ctx.lang;
    let (Some(queue), Some((card_ms, sku))) = (
        ports.payments.filter(|_| buying(ports, ctx)),
        parse_buy_arg(arg),
    ) else {
        return Ok(reply(t::ORDERS_OFF.get(lang).to_owned(), menu(ctx, lang)));
    };
    let m = &ctx.message;
    let order_id = order::stable_id(card_ms, &format!("buy:{}:{sku}:{card_ms}", m.contact));
    if let Some(orders) = ports.orders {
        if let Some(existing) = orders
            .order(&m.tenant, &order_id)
            .await
            .map_err(|e| transient("orders", e))?
        {
            let text = t::BUY_AGAIN.render(
                lang,
                &[
                    ("number", &number(&existing.order_id)),
                    ("status", &status(&existing).get(lang)),
                ],
            );
            return Ok(reply(text, orders_button(ctx, lang).into_iter().collect()));
        }
    }
    let currency = ctx.config.orders.currency.to_ascii_uppercase();
    let items = vec![LineRequest {
        sku: sku.to_owned(),
        quantity: 1,
    }];
    let priced = catalog
        .map(|catalog| order::price_from_catalog(&items, |s| catalog_price(catalog, s), &currency));
    let Some(Ok((lines, total))) = priced else {
        return Ok(reply(
            t::PRODUCT_UNKNOWN.get(lang).to_owned(),
            menu(ctx, lang),
        ));
    };
    let request = OrderRequest {
        order_id: Some(order_id.clone()),
        customer: Customer {
            contact: m.contact.clone(),
            channel: m.channel,
            reply_to: m.reply_to.clone(),
            language: Some(lang.code().to_owned()),
        },
        items,
        source: OrderSource::Button,
        actor: "customer".into(),
        catalog_version: ctx.config.catalog.active_version.clone(),
        delivery: None,
    };
    let job = OrderJob::Create {
        request,
        provider: None,
    };
    queue
        .send(&Envelope::order(m.tenant.clone(), job), 0)
        .await
        .map_err(|e| transient("payments queue", e))?;
    let name = lines.first().map(|l| l.name.as_str()).unwrap_or(sku);
    let text = t::BUY_PLACED.render(
        lang,
        &[
            ("number", &number(&order_id)),
            ("name", &name),
            ("total", &format_amount(total, &currency)),
        ],
    );
    Ok(reply(text, orders_button(ctx, lang).into_iter().collect()))
}

/// "My orders": the newest few, with their status.
pub async fn my_orders(ports: &Ports<'_>, ctx: &Context) -> Result<Reply, JobError> {
    let lang = ctx.lang;
    let orders = match ports.orders {
        Some(store) => store
            .of_contact(&ctx.message.tenant, &ctx.message.contact, MY_ORDERS)
            .await
            .map_err(|e| transient("orders", e))?,
        None => Vec::new(),
    };
    if orders.is_empty() {
        return Ok(reply(t::ORDERS_NONE.get(lang).to_owned(), menu(ctx, lang)));
    }
    let mut text = t::ORDERS_TITLE.get(lang).to_owned();
    for order in &orders {
        text.push('\n');
        text.push_str(&order_line(order, lang));
    }
    Ok(reply(text, menu(ctx, lang)))
}

/// One of the customer's own orders; another customer's order is "not found", like an
/// unknown id, so an id tells nobody whether it exists.
pub async fn one_order(
    ports: &Ports<'_>,
    ctx: &Context,
    order_id: &str,
) -> Result<Reply, JobError> {
    let lang = ctx.lang;
    let found = match ports.orders {
        Some(store) if order::valid_id(order_id) => store
            .order(&ctx.message.tenant, order_id)
            .await
            .map_err(|e| transient("orders", e))?,
        _ => None,
    };
    let Some(order) = found.filter(|o| o.contact == ctx.message.contact) else {
        tracing::info!(tenant = %ctx.message.tenant, contact = %ctx.who(), "order link refused: unknown or not this customer's");
        return Ok(reply(
            t::ORDER_UNKNOWN.get(lang).to_owned(),
            menu(ctx, lang),
        ));
    };
    let mut text = order_line(&order, lang);
    for line in &order.lines {
        text.push_str(&format!("\n• {} × {}", line.name, line.quantity));
    }
    Ok(reply(text, orders_button(ctx, lang).into_iter().collect()))
}
