//! A manager writing in their Telegram chat with the tenant's bot (routed here by the
//! webhook, never to the agent). A reply to a thread card answers that card's
//! customer, on Telegram or WhatsApp, as a customer message of its own
//! (`relay:{chat}:{message}`, sent once however often the update is redelivered); the
//! manager gets ✓ or the reason it failed as a reply. In a reply to a card, `/resume`
//! hands the customer back to the agent and `/who` shows the profile and the lead.
//! Anything else gets a short help.

use crate::cards;
use crate::customer::{self, Outcome, Relay};
use crate::deliver::deliver_with;
use crate::{transient, Deps};
use sauda_shared::consumer::JobFailure;
use sauda_shared::i18n::inbox as t;
use sauda_shared::inbox::{self, Activity, ManagerUpdate};
use sauda_shared::message::Channel;
use sauda_shared::notify::{self, Notice, Recipients};
use sauda_shared::outbox::{Author, Body, CustomerMessage, TELEGRAM_FILE};
use sauda_shared::plan::WritePlan;
use sauda_shared::stats::CounterBatch;
use sauda_shared::telegram_api::Extras;
use sauda_shared::tenant::TenantConfig;
use std::sync::Mutex;
use tracing::{info, warn};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Resume,
    Who,
    Help,
    /// Anything else: words (or a photo) for the customer.
    Say,
}

/// `/resume`, `/who`, `/help`, `/start` (also `/who@shop_bot`); the rest is for the customer.
pub fn command(text: Option<&str>) -> Command {
    let Some(first) = text.and_then(|t| t.split_whitespace().next()) else {
        return Command::Say;
    };
    let name = first.split('@').next().unwrap_or_default();
    match name {
        "/resume" => Command::Resume,
        "/who" => Command::Who,
        "/help" | "/start" => Command::Help,
        _ => Command::Say,
    }
}

pub async fn handle(
    deps: &Deps,
    update: &ManagerUpdate,
    counters: &Mutex<CounterBatch>,
) -> Result<(), JobFailure> {
    let tenant = &update.tenant;
    let Some(config) = deps.config(tenant, "manager update").await? else {
        return Ok(());
    };
    // Checked again here: the managers may have changed since the webhook routed it.
    let Some(manager) = config.managers.iter().find(|m| m.chat_id == update.chat_id) else {
        warn!(%tenant, "an update from a chat that is no longer a manager's ignored");
        return Ok(());
    };
    let lang = cards::lang(&config);
    let say = |what: &'static str, html: String| {
        let notice = Notice {
            tenant: tenant.clone(),
            id: notify::notice_id(&[
                "reply",
                &update.chat_id.to_string(),
                &update.message_id.to_string(),
                what,
            ]),
            kind: format!("inbox_{what}"),
            to: Recipients::Chats(vec![update.chat_id]),
            html,
        };
        async move {
            let extras = Extras {
                reply_to_message_id: i32::try_from(update.message_id).ok(),
                ..Extras::default()
            };
            deliver_with(deps, &notice, counters, &extras).await
        }
    };
    let command = command(update.text.as_deref());
    let card = match update.replying_to {
        Some(card_id) if command != Command::Help => deps
            .inbox
            .card(tenant, update.chat_id, card_id)
            .await
            .map_err(|e| transient("card", e))?,
        _ => None,
    };
    let Some(card) = card else {
        return say("help", t::HELP.get(lang).to_owned()).await;
    };
    let contact = card.contact.as_str();
    match command {
        Command::Help => say("help", t::HELP.get(lang).to_owned()).await,
        Command::Who => {
            let (profile, lead) = deps
                .inbox
                .who(tenant, contact)
                .await
                .map_err(|e| transient("who", e))?;
            say(
                "who",
                cards::who(&config, contact, profile.as_ref(), lead.as_ref()),
            )
            .await
        }
        Command::Resume => {
            resume(deps, &config, contact).await?;
            let (profile, _) = deps
                .inbox
                .who(tenant, contact)
                .await
                .map_err(|e| transient("who", e))?;
            let customer = cards::customer(lang, profile.as_ref(), contact);
            info!(%tenant, "a manager resumed the agent from Telegram");
            say(
                "resumed",
                t::RESUMED.render(lang, &[("customer", &customer)]),
            )
            .await
        }
        Command::Say => {
            let text = update.text.clone().filter(|t| !t.trim().is_empty());
            let body = match (&update.photo_file_id, text) {
                (Some(file_id), caption) => Body::Image {
                    url: format!("{TELEGRAM_FILE}{file_id}"),
                    caption,
                    buttons: Vec::new(),
                },
                (None, Some(text)) => Body::text(text),
                (None, None) => {
                    return say("unsupported", t::UNSUPPORTED.get(lang).to_owned()).await
                }
            };
            let name = [Some(manager.name.as_str()), update.sender_name.as_deref()]
                .into_iter()
                .flatten()
                .map(str::trim)
                .find(|n| !n.is_empty())
                .unwrap_or("Manager")
                .to_owned();
            let id = notify::notice_id(&[
                "relay",
                &update.chat_id.to_string(),
                &update.message_id.to_string(),
            ]);
            let Some(message) = CustomerMessage::to_contact(
                tenant,
                id,
                contact,
                Author::Manager {
                    name: name.clone(),
                    key_id: None,
                    chat_id: Some(update.chat_id),
                },
                body,
            ) else {
                return say("help", t::HELP.get(lang).to_owned()).await;
            };
            let relay = Relay {
                chat_id: update.chat_id,
                name,
            };
            let (outcome, profile) =
                customer::send_once(deps, &config, &message, Some(&relay), counters).await?;
            let customer = cards::customer(lang, profile.as_ref(), contact);
            match outcome {
                Outcome::Sent(_) => {
                    say("sent", t::ACK_SENT.render(lang, &[("customer", &customer)])).await
                }
                Outcome::Failed(reason) => {
                    say(
                        "failed",
                        t::ACK_FAILED.render(lang, &[("customer", &customer), ("reason", &reason)]),
                    )
                    .await
                }
            }
        }
    }
}

/// Hands the customer back to the agent: the profile (which the agent reads) and the
/// inbox row, in one transaction.
async fn resume(deps: &Deps, config: &TenantConfig, contact: &str) -> Result<(), JobFailure> {
    let tenant = &config.tenant;
    let now = sauda_shared::now_ms();
    let channel = if contact.starts_with("wa-") {
        Channel::Whatsapp
    } else {
        Channel::Telegram
    };
    let reply_to = contact.split_once('-').map(|(_, r)| r).unwrap_or_default();
    let mut plan = WritePlan::new();
    plan.update(inbox::profile_pause(tenant, contact, false, "", now));
    plan.update(inbox::index_update(&Activity {
        tenant,
        contact,
        channel,
        reply_to,
        display_name: None,
        stage: None,
        inbound: None,
        outbound: None,
        handoff: false,
        pause: Some(false),
    }));
    deps.inbox
        .commit(&plan)
        .await
        .map_err(|e| transient("resume", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_read_from_the_first_word() {
        assert_eq!(command(Some("/resume")), Command::Resume);
        assert_eq!(command(Some("  /who@shop_bot ")), Command::Who);
        assert_eq!(command(Some("/start")), Command::Help);
        assert_eq!(command(Some("Добрый день! /resume")), Command::Say);
        assert_eq!(command(None), Command::Say, "a photo without a caption");
    }
}
