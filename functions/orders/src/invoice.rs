//! Asking the customer for the money, through the provider the tenant chose: a
//! Telegram invoice (provider token or Stars), a Stripe Checkout link or a Kaspi
//! payment link (links are queued to the customer as a message with a Pay button, so
//! they work on Telegram and WhatsApp alike). The order moves to `pending`, and a
//! Kaspi link starts the status polling.

use crate::domain::{display_number, Transition};
use crate::providers::kaspi::Merchant;
use crate::providers::stripe::Return;
use crate::providers::{telegram, ProviderError};
use crate::Deps;
use sauda_shared::envelope::Envelope;
use sauda_shared::i18n::{orders as t, Lang};
use sauda_shared::message::Channel;
use sauda_shared::notify::notice_id;
use sauda_shared::order::{format_amount, Order, OrderError, OrderJob, Provider};
use sauda_shared::outbound::UrlPolicy;
use sauda_shared::outbox::{self, Author, Body, Button, CustomerMessage, OutsideWindow};
use sauda_shared::plan::PlanError;
use sauda_shared::ports::StoreError;
use sauda_shared::retry::Backoff;
use sauda_shared::secrets::Secret;
use sauda_shared::tenant::TenantConfig;

#[derive(Debug, thiserror::Error)]
pub enum InvoiceError {
    #[error("no such order")]
    NotFound,
    #[error(transparent)]
    Order(#[from] OrderError),
    /// No provider the tenant enabled can take this order on its channel and currency.
    #[error("{0}")]
    NoProvider(String),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for InvoiceError {
    fn from(e: StoreError) -> Self {
        InvoiceError::Unavailable(e.to_string())
    }
}

#[derive(Clone, Debug)]
pub struct Invoiced {
    pub order: Order,
    pub provider: Provider,
    /// The payment link sent (Stripe, Kaspi).
    pub url: Option<String>,
}

/// Whether `provider` can take `order` (channel and currency).
pub fn fits(provider: Provider, order: &Order) -> bool {
    let stars = order.currency.eq_ignore_ascii_case("XTR");
    match provider {
        Provider::Telegram => order.channel == Channel::Telegram && !stars,
        Provider::TelegramStars => order.channel == Channel::Telegram && stars,
        Provider::Stripe => !stars,
        Provider::Kaspi => order.currency.eq_ignore_ascii_case("KZT"),
    }
}

/// The provider asked for (if the tenant enabled it), else the tenant's first that fits.
pub fn choose(
    config: &TenantConfig,
    order: &Order,
    requested: Option<Provider>,
) -> Result<Provider, InvoiceError> {
    let enabled = &config.orders.providers;
    match requested {
        Some(p) if !enabled.contains(&p) => Err(InvoiceError::NoProvider(format!(
            "{p} is not enabled for this tenant (orders.providers)"
        ))),
        Some(p) if !fits(p, order) => Err(InvoiceError::NoProvider(format!(
            "{p} cannot take a {} order on {}",
            order.currency,
            order.channel.prefix()
        ))),
        Some(p) => Ok(p),
        None => enabled
            .iter()
            .copied()
            .find(|p| fits(*p, order))
            .ok_or_else(|| {
                InvoiceError::NoProvider(format!(
                    "no enabled provider takes a {} order on {}",
                    order.currency,
                    order.channel.prefix()
                ))
            }),
    }
}

fn secret<'a>(
    value: &'a Option<Secret>,
    provider: Provider,
    missing: &'static str,
) -> Result<&'a Secret, ProviderError> {
    value
        .as_ref()
        .ok_or(ProviderError::NotConfigured { provider, missing })
}

/// A Stripe return page of the tenant's settings: it must be an https URL.
fn return_page<'a>(url: &'a Option<String>, name: &'static str) -> Result<&'a str, ProviderError> {
    url.as_deref()
        .filter(|u| UrlPolicy::default().check(u).is_ok())
        .ok_or(ProviderError::NotConfigured {
            provider: Provider::Stripe,
            missing: name,
        })
}

/// The order's lines as the customer reads them.
pub fn lines_text(order: &Order, lang: Lang) -> String {
    order
        .lines
        .iter()
        .map(|l| {
            t::LINE.render(
                lang,
                &[
                    ("name", &l.name),
                    ("quantity", &l.quantity),
                    (
                        "amount",
                        &format_amount(l.line_total_minor, &order.currency),
                    ),
                ],
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn customer_lang(config: &TenantConfig, order: &Order) -> Lang {
    Lang::pick(order.language.as_deref(), &config.default_language)
}

/// A message to the order's customer, once per `id`.
pub fn to_customer(order: &Order, id: &str, kind: &str, body: Body) -> CustomerMessage {
    CustomerMessage {
        tenant: order.tenant.clone(),
        id: notice_id(&[id]),
        contact: order.contact.clone(),
        channel: order.channel,
        reply_to: order.reply_to.clone(),
        author: Author::System {
            kind: kind.to_owned(),
        },
        body,
        thread_id: None,
        outside_window: OutsideWindow::default(),
    }
}

/// Outside WhatsApp's 24-hour window only a registered template is delivered: the one the
/// tenant named for this kind of order message, with `params` in order. Without one (or
/// when it does not fit the registration), the notifier tells the managers instead.
pub fn with_template(
    message: CustomerMessage,
    config: &TenantConfig,
    template: Option<&str>,
    params: Vec<String>,
) -> CustomerMessage {
    let Some(name) = template.filter(|_| message.channel == Channel::Whatsapp) else {
        return message;
    };
    match message.clone().or_template(config, name, params) {
        Ok(with_template) => with_template,
        Err(e) => {
            tracing::warn!(tenant = %config.tenant, template = name, error = %e,
                "order template does not fit its registration; managers are told instead");
            message
        }
    }
}

fn link_message(
    order: &Order,
    lang: Lang,
    provider: Provider,
    url: &str,
    attempt: &str,
) -> CustomerMessage {
    let number = display_number(&order.order_id);
    let total = format_amount(order.total_minor, &order.currency);
    let lines = lines_text(order, lang);
    let args: [(&str, &dyn std::fmt::Display); 3] =
        [("order", &number), ("total", &total), ("lines", &lines)];
    let (text, button) = match provider {
        Provider::Kaspi => (
            t::PAY_KASPI.render(lang, &args),
            t::PAY_KASPI_BUTTON.get(lang).to_owned(),
        ),
        _ => (
            t::PAY_LINK.render(lang, &args),
            t::PAY_BUTTON.render(lang, &[("total", &total)]),
        ),
    };
    to_customer(
        order,
        &format!("invoice:{}:{provider}:{attempt}", order.order_id),
        "invoice",
        Body::Text {
            text,
            buttons: vec![Button {
                title: button,
                data: None,
                url: Some(url.to_owned()),
                request_contact: false,
            }],
        },
    )
}

/// Sends the order's invoice or payment link and marks the payment `pending`.
pub async fn send_invoice(
    deps: &Deps,
    config: &TenantConfig,
    order_id: &str,
    requested: Option<Provider>,
    actor: &str,
) -> Result<Invoiced, InvoiceError> {
    let store = deps.payments.store.as_ref();
    let tenant = &config.tenant;
    let order = store
        .get(tenant, order_id)
        .await?
        .ok_or(InvoiceError::NotFound)?;
    let now_ms = deps.now_ms();
    order.payable_at(now_ms)?;
    let provider = choose(config, &order, requested)?;
    let secrets = deps
        .tenant_secrets(tenant)
        .await
        .map_err(|e| InvoiceError::Unavailable(e.to_string()))?;
    let lang = customer_lang(config, &order);
    let mut url = None;
    match provider {
        Provider::Telegram | Provider::TelegramStars => {
            let bot = secret(&secrets.telegram_bot_token, provider, "telegram_bot_token")?;
            telegram::send_invoice(
                &deps.providers.telegram,
                bot,
                secrets.telegram_provider_token.as_ref(),
                &order,
                lang,
            )
            .await?;
        }
        Provider::Stripe => {
            let key = secret(&secrets.stripe_secret_key, provider, "stripe_secret_key")?;
            let back = Return {
                success_url: return_page(
                    &config.orders.stripe_success_url,
                    "orders.stripe_success_url",
                )?,
                cancel_url: return_page(
                    &config.orders.stripe_cancel_url,
                    "orders.stripe_cancel_url",
                )?,
            };
            let session = deps
                .providers
                .stripe
                .create_checkout_session(key, &order, &back, order.revision, now_ms)
                .await?;
            let message = with_template(
                link_message(&order, lang, provider, &session.url, &session.id),
                config,
                config.orders.whatsapp_templates.payment_link.as_deref(),
                vec![
                    display_number(&order.order_id).to_owned(),
                    format_amount(order.total_minor, &order.currency),
                    session.url.clone(),
                ],
            );
            outbox::send(deps.notify.as_ref(), message)
                .await
                .map_err(|e| InvoiceError::Unavailable(e.to_string()))?;
            url = Some(session.url);
        }
        Provider::Kaspi => {
            let merchant = Merchant {
                api_key: secret(&secrets.kaspi_api_key, provider, "kaspi_api_key")?,
                device_token: secret(&secrets.kaspi_merchant_id, provider, "kaspi_merchant_id")?,
            };
            let link = deps
                .providers
                .kaspi
                .create_link(&merchant, &order.order_id, order.total_minor)
                .await?;
            let message = with_template(
                link_message(&order, lang, provider, &link.url, &link.qr_payment_id),
                config,
                config.orders.whatsapp_templates.payment_link.as_deref(),
                vec![
                    display_number(&order.order_id).to_owned(),
                    format_amount(order.total_minor, &order.currency),
                    link.url.clone(),
                ],
            );
            outbox::send(deps.notify.as_ref(), message)
                .await
                .map_err(|e| InvoiceError::Unavailable(e.to_string()))?;
            // Poll until Kaspi's link lapses, and never past the order's own expiry.
            let until = link
                .expires_at_ms
                .into_iter()
                .chain(order.expires_at_ms)
                .min()
                .unwrap_or(now_ms + 3_600_000);
            let poll = OrderJob::KaspiPoll {
                order_id: order.order_id.clone(),
                qr_payment_id: link.qr_payment_id.clone(),
                until_ms: until,
                interval_s: link.poll_interval_s,
            };
            deps.payments
                .jobs
                .send(
                    &Envelope::order(tenant.clone(), poll),
                    link.poll_interval_s as i32,
                )
                .await
                .map_err(|e| InvoiceError::Unavailable(e.to_string()))?;
            url = Some(link.url);
        }
    }
    let order = mark_pending(deps, config, order, provider, actor).await?;
    Ok(Invoiced {
        order,
        provider,
        url,
    })
}

/// `unpaid/failed → pending` (already pending with this provider: nothing to write).
async fn mark_pending(
    deps: &Deps,
    config: &TenantConfig,
    mut order: Order,
    provider: Provider,
    actor: &str,
) -> Result<Order, InvoiceError> {
    let store = deps.payments.store.as_ref();
    for attempt in 1..=4 {
        let change = match order.clone().start_payment(provider, deps.now_ms(), actor) {
            Ok(change) => change,
            // Paid or expired meanwhile: the invoice went out; nothing more to mark.
            Err(_) => return Ok(order),
        };
        let plan = Transition {
            tenant: &config.tenant,
            timezone: &config.timezone,
            before: Some(&order),
            change: &change,
            counters: Default::default(),
            payment: None,
            event: None,
        }
        .plan();
        match store.commit(&plan).await {
            Ok(()) => return Ok(change.order),
            Err(PlanError::Store(e)) => return Err(e.into()),
            Err(_) => {
                Backoff::STORE.sleep(attempt).await;
                order = store
                    .get(&config.tenant, &order.order_id)
                    .await?
                    .ok_or(InvoiceError::NotFound)?;
            }
        }
    }
    Err(InvoiceError::Unavailable("order store contended".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tests::order;
    use sauda_shared::TenantId;

    #[test]
    fn providers_fit_channel_and_currency() {
        let mut config = TenantConfig::new(TenantId::parse("acme").unwrap(), "x");
        config.orders.providers = vec![Provider::TelegramStars, Provider::Kaspi, Provider::Stripe];
        let o = order(); // Telegram, KZT
        assert_eq!(choose(&config, &o, None).unwrap(), Provider::Kaspi);
        assert_eq!(
            choose(&config, &o, Some(Provider::Stripe)).unwrap(),
            Provider::Stripe
        );
        assert!(matches!(
            choose(&config, &o, Some(Provider::TelegramStars)),
            Err(InvoiceError::NoProvider(_))
        ));
        assert!(matches!(
            choose(&config, &o, Some(Provider::Telegram)),
            Err(InvoiceError::NoProvider(m)) if m.contains("not enabled")
        ));
        let mut wa = order();
        wa.channel = Channel::Whatsapp;
        wa.currency = "USD".into();
        assert_eq!(choose(&config, &wa, None).unwrap(), Provider::Stripe);
    }
}

#[cfg(test)]
mod template_tests {
    use super::*;
    use sauda_shared::tenant::{TemplateParamSpec, WhatsappTemplate};

    fn message(channel: Channel) -> CustomerMessage {
        CustomerMessage {
            tenant: sauda_shared::TenantId::parse("acme").unwrap(),
            id: "m".into(),
            contact: "wa-77011234567".into(),
            channel,
            reply_to: "77011234567".into(),
            author: Author::System {
                kind: "receipt".into(),
            },
            body: Body::text("paid"),
            thread_id: None,
            outside_window: OutsideWindow::default(),
        }
    }

    #[test]
    fn order_messages_take_the_tenants_template_outside_whatsapps_window() {
        let mut config = TenantConfig::new(sauda_shared::TenantId::parse("acme").unwrap(), "A");
        config.whatsapp_templates = vec![WhatsappTemplate {
            name: "order_paid".into(),
            language: "ru".into(),
            category: "utility".into(),
            params: ["order", "total"]
                .map(|p| TemplateParamSpec {
                    name: p.into(),
                    example: "x".into(),
                })
                .to_vec(),
        }];
        let params = || vec!["ZA5GM97M".to_owned(), "172 600 ₸".to_owned()];
        let whatsapp = with_template(
            message(Channel::Whatsapp),
            &config,
            Some("order_paid"),
            params(),
        );
        assert!(matches!(
            whatsapp.outside_window,
            OutsideWindow::Template { ref name, ref params, .. }
                if name == "order_paid" && params.len() == 2
        ));
        // Telegram has no window; no template named, or one that does not fit: the
        // managers are told instead.
        for (channel, name, params) in [
            (Channel::Telegram, Some("order_paid"), params()),
            (Channel::Whatsapp, None, params()),
            (
                Channel::Whatsapp,
                Some("order_paid"),
                vec!["one".to_owned()],
            ),
            (Channel::Whatsapp, Some("unknown"), params()),
        ] {
            let sent = with_template(message(channel), &config, name, params);
            assert_eq!(sent.outside_window, OutsideWindow::default());
        }
    }
}
