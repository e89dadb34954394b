//! A manager's refund, whole or in part, through the provider that took the money:
//! Stripe refunds, Telegram Stars' `refundStarPayment`, Kaspi's payment return. A
//! payment made with a Telegram provider token is refunded in that provider's own
//! dashboard: Sauda records it as a manual refund. Then the one confirmation applies
//! it, as it applies the provider's own report of it: both name the charge and what
//! has been refunded of it in total, so whichever comes second changes nothing.

use crate::confirm::{ConfirmError, Incoming, Outcome, PaymentEvent};
use crate::providers::kaspi::Merchant;
use crate::providers::{telegram, ProviderError};
use crate::Deps;
use sauda_shared::order::{OrderError, Provider};
use sauda_shared::tenant::TenantConfig;

#[derive(Debug, thiserror::Error)]
pub enum RefundError {
    #[error("no such order")]
    NotFound,
    #[error(transparent)]
    Order(#[from] OrderError),
    #[error("Telegram Stars payments are refunded whole")]
    PartialNotSupported,
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Confirm(#[from] ConfirmError),
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
}

#[derive(Clone, Debug, Default)]
pub struct RefundRequest {
    /// What to return now; the rest of the charge when absent.
    pub amount_minor: Option<i64>,
    /// The charge to refund; the latest with money left when absent.
    pub payment_ref: Option<String>,
    pub reason: Option<String>,
}

/// How the refund went out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Provider,
    /// Recorded only: the provider's dashboard does it (Telegram provider tokens).
    Manual,
}

fn secret<'a>(
    v: &'a Option<sauda_shared::secrets::Secret>,
    provider: Provider,
    missing: &'static str,
) -> Result<&'a sauda_shared::secrets::Secret, ProviderError> {
    v.as_ref()
        .ok_or(ProviderError::NotConfigured { provider, missing })
}

pub async fn refund(
    deps: &Deps,
    config: &TenantConfig,
    order_id: &str,
    request: &RefundRequest,
    actor: &str,
) -> Result<(Outcome, Route), RefundError> {
    let tenant = &config.tenant;
    let order = deps
        .order(tenant, order_id)
        .await
        .map_err(|e| RefundError::Unavailable(e.to_string()))?
        .ok_or(RefundError::NotFound)?;
    let part = order
        .refundable_payment(request.payment_ref.as_deref())?
        .clone();
    // The rules first: nothing reaches the provider that the order would refuse.
    let checked = order.clone().refund_payment(
        Some(&part.reference),
        request.amount_minor,
        deps.now_ms(),
        actor,
        request.reason.clone(),
    )?;
    let amount = checked.amount_minor;
    let cumulative = part.refunded_minor + amount;
    let secrets = deps
        .tenant_secrets(tenant)
        .await
        .map_err(|e| RefundError::Unavailable(e.to_string()))?;
    let route = match part.provider {
        Provider::Stripe => {
            let key = secret(
                &secrets.stripe_secret_key,
                part.provider,
                "stripe_secret_key",
            )?;
            deps.providers
                .stripe
                .refund(
                    key,
                    &part.reference,
                    amount,
                    order_id,
                    &format!("refund:{order_id}:{}:{cumulative}", part.reference),
                )
                .await?;
            Route::Provider
        }
        Provider::TelegramStars => {
            if part.refunded_minor != 0 || amount != part.amount_minor {
                return Err(RefundError::PartialNotSupported);
            }
            let bot = secret(
                &secrets.telegram_bot_token,
                part.provider,
                "telegram_bot_token",
            )?;
            let user = part
                .payer_id
                .or_else(|| order.reply_to.parse().ok())
                .ok_or(RefundError::Order(OrderError::UnknownPayment(
                    part.reference.clone(),
                )))?;
            telegram::refund_stars(&deps.providers.telegram, bot, user, &part.reference).await?;
            Route::Provider
        }
        Provider::Kaspi => {
            let merchant = Merchant {
                api_key: secret(&secrets.kaspi_api_key, part.provider, "kaspi_api_key")?,
                device_token: secret(
                    &secrets.kaspi_merchant_id,
                    part.provider,
                    "kaspi_merchant_id",
                )?,
            };
            deps.providers
                .kaspi
                .refund(&merchant, &part.reference, amount)
                .await?;
            Route::Provider
        }
        Provider::Telegram => Route::Manual,
    };
    let outcome = deps
        .payments
        .apply(
            config,
            &Incoming {
                order_id: order_id.to_owned(),
                event: PaymentEvent::Refunded {
                    provider: part.provider,
                    reference: part.reference.clone(),
                    cumulative_minor: cumulative,
                    actor: actor.to_owned(),
                },
                provider_event: None,
            },
        )
        .await?;
    Ok((outcome, route))
}
