//! Stage 2b: commands and buttons, answered without a model (so also in fallback
//! mode): `/start` with its deep link (`ref-CODE` joins the loyalty program with the
//! referral attributed, exactly once however often it is sent), balance with the points
//! about to expire, the referral link, language, help, contact a manager.
//!
//! Buttons carry data signed for the tenant and this chat (`sauda_shared::chat`): a
//! stale, forged or foreign press is answered with a short message and the menu, and
//! changes nothing. The ledger is reached through the loyalty library's executor, so
//! its rules (idempotent join, no double bonus) hold here as in the API.

use super::compose::{Reply, ReplyKind};
use super::load::Context;
use super::shop;
use super::{transient, JobError};
use crate::agent::ToolPorts;
use crate::catalog::CatalogIndex;
use crate::notices;
use loyalty::error::LoyaltyError;
use loyalty::input::CustomerRef;
use loyalty::merge::LinkPhone;
use loyalty::model::{account_key, Account};
use loyalty::ops::{Actor, Join, JoinInput, ReferralCodeFor, Scope};
use loyalty::store::{self as ledger, LoyaltyStore};
use sauda_shared::chat::{self, ButtonError, Command, DeepLink};
use sauda_shared::i18n::{agent as agent_texts, chat as t, shop as shop_texts, Lang};
use sauda_shared::message::{Attachment, Channel};
use sauda_shared::outbox::Button;

#[derive(Clone, Copy)]
pub struct Ports<'a> {
    /// `None` without a loyalty store (the program's commands then say so).
    pub ledger: Option<&'a dyn LoyaltyStore>,
    pub tools: ToolPorts<'a>,
    pub shop: shop::Ports<'a>,
}

/// What the message asks for, if it is a command or a button.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Asked {
    Command(Command),
    Join,
    /// A Buy button (its argument: `{nonce}.{sku}`).
    Buy(String),
    /// "More like this" / "next page" (`{offset}.{sku}`).
    More(String),
    /// Button data that is not this chat's: stale, forged or someone else's.
    Forged,
    /// A Telegram contact shared in this chat (the "share my phone" button's answer).
    SharedPhone {
        phone: String,
        user_id: Option<String>,
    },
}

/// Reads the message: signed button data first, then a typed command.
pub fn asked(ctx: &Context) -> Option<Asked> {
    // Only Telegram verifies a shared contact's owner; a WhatsApp contact card is anyone's.
    if let (Channel::Telegram, Some(Attachment::Contact { phone, user_id, .. })) =
        (ctx.message.channel, &ctx.message.attachment)
    {
        return Some(Asked::SharedPhone {
            phone: phone.clone(),
            user_id: user_id.clone(),
        });
    }
    let text = ctx.message.text.as_deref()?.trim();
    let tenant = ctx.message.tenant.as_str();
    match chat::verify_button(tenant, &ctx.message.contact, text) {
        Ok(pressed) if pressed.action == "join" => return Some(Asked::Join),
        Ok(pressed) if pressed.action == "buy" => return Some(Asked::Buy(pressed.arg)),
        Ok(pressed) if pressed.action == "more" => return Some(Asked::More(pressed.arg)),
        Ok(pressed) => return Some(pressed.command().map_or(Asked::Forged, Asked::Command)),
        Err(ButtonError::Forged) => return Some(Asked::Forged),
        Err(ButtonError::NotButton) => {}
    }
    chat::parse_command(text, ctx.config.telegram_bot_username.as_deref()).map(Asked::Command)
}

impl Asked {
    /// Whether the answer reads the catalog (loaded only then).
    pub fn needs_catalog(&self) -> bool {
        matches!(
            self,
            Asked::Buy(_)
                | Asked::More(_)
                | Asked::Command(Command::Start(Some(DeepLink::Product(_))))
        )
    }
}

/// A command's answer: text, buttons, and what it changed.
pub(super) fn reply(text: String, buttons: Vec<Button>) -> Reply {
    Reply {
        buttons,
        ..Reply::plain(text, ReplyKind::Command)
    }
}

/// A button of this chat.
pub fn button(ctx: &Context, title: &str, action: &str, arg: &str) -> Option<Button> {
    chat::button_data(
        ctx.message.tenant.as_str(),
        &ctx.message.contact,
        action,
        arg,
    )
    .map(|data| Button {
        title: title.to_owned(),
        data: Some(data),
        url: None,
        request_contact: false,
    })
}

/// The main menu: balance and referral link only where the loyalty program runs.
pub fn menu(ctx: &Context, lang: Lang) -> Vec<Button> {
    let loyalty = ctx.config.loyalty.enabled;
    let mut items = Vec::new();
    if loyalty {
        items.push((t::BTN_BALANCE.get(lang), "balance"));
        items.push((t::BTN_REFERRAL.get(lang), "referral"));
    }
    // Without payments the customer has no orders to list.
    if !ctx.config.orders.providers.is_empty() {
        items.push((shop_texts::BTN_ORDERS.get(lang), "orders"));
    }
    items.push((t::BTN_MANAGER.get(lang), "manager"));
    items.push((t::BTN_LANGUAGE.get(lang), "language"));
    items.push((t::BTN_HELP.get(lang), "help"));
    items
        .into_iter()
        .filter_map(|(title, action)| button(ctx, title, action, ""))
        .collect()
}

fn join_button(ctx: &Context, lang: Lang) -> Vec<Button> {
    button(ctx, t::BTN_JOIN.get(lang), "join", "")
        .into_iter()
        .collect()
}

fn scope(ctx: &Context) -> Scope<'_> {
    Scope {
        tenant: &ctx.message.tenant,
        config: &ctx.config,
    }
}

fn ledger_failure(e: LoyaltyError) -> JobError {
    transient("loyalty", e)
}

/// The answer to a command or a button; `None` for anything else (the model answers).
pub async fn answer(
    ports: &Ports<'_>,
    ctx: &Context,
    catalog: Option<&CatalogIndex>,
) -> Result<Option<Reply>, JobError> {
    let Some(asked) = asked(ctx) else {
        return Ok(None);
    };
    let lang = ctx.lang;
    let out = match asked {
        Asked::Forged => {
            tracing::info!(tenant = %ctx.message.tenant, contact = %ctx.who(), "stale or foreign button refused");
            reply(t::STALE_BUTTON.get(lang).to_owned(), menu(ctx, lang))
        }
        Asked::Join => start(ports, ctx, None).await?,
        Asked::SharedPhone { phone, user_id } => {
            shared_phone(ports, ctx, &phone, user_id.as_deref()).await?
        }
        Asked::Buy(arg) => shop::buy(&ports.shop, ctx, catalog, &arg).await?,
        Asked::More(arg) => shop::more_like(&ports.shop, ctx, catalog, &arg),
        Asked::Command(command) => match command {
            Command::Start(Some(DeepLink::Product(sku))) => {
                shop::product(&ports.shop, ctx, catalog, &sku)
            }
            Command::Start(Some(DeepLink::Order(id))) => {
                shop::one_order(&ports.shop, ctx, &id).await?
            }
            Command::Orders => shop::my_orders(&ports.shop, ctx).await?,
            Command::Start(link) => start(ports, ctx, link).await?,
            Command::Balance => balance(ports, ctx).await?,
            Command::Referral => referral(ports, ctx).await?,
            Command::Phone => phone(ports, ctx).await?,
            Command::Help => reply(t::HELP.get(lang).to_owned(), menu(ctx, lang)),
            Command::Language(None) => reply(
                t::LANGUAGE_PICK.get(lang).to_owned(),
                [
                    ("Русский", Lang::Ru),
                    ("English", Lang::En),
                    ("Қазақша", Lang::Kk),
                    ("Кыргызча", Lang::Ky),
                ]
                .into_iter()
                .filter_map(|(title, l)| button(ctx, title, "lang", l.code()))
                .collect(),
            ),
            Command::Language(Some(chosen)) => Reply {
                language: Some(chosen),
                ..reply(t::LANGUAGE_SET.get(chosen).to_owned(), menu(ctx, chosen))
            },
            Command::Manager => {
                let reason = agent_texts::HANDOFF_ASKED
                    .get(notices::managers_lang(&ctx.config))
                    .to_owned();
                ports
                    .tools
                    .hand_off(&ctx.config, &ctx.message, &reason)
                    .await
                    .map_err(|e| transient("notify", e))?;
                Reply {
                    handoff: Some(reason),
                    tools: vec!["handoff_to_manager".into()],
                    ..reply(agent_texts::HANDOFF_DONE.get(lang).to_owned(), Vec::new())
                }
            }
        },
    };
    Ok(Some(out))
}

/// The ledger, when the tenant runs the program and this deployment has one.
fn ledger<'a>(ports: &Ports<'a>, ctx: &Context) -> Option<&'a dyn LoyaltyStore> {
    ports.ledger.filter(|_| ctx.config.loyalty.enabled)
}

/// `/start`: joins the program (with the referral of a `ref-` link); a member hears
/// their balance instead. The join is the ledger's: the account is created only if it
/// does not exist, so a repeated `/start` never pays a second welcome bonus.
async fn start(
    ports: &Ports<'_>,
    ctx: &Context,
    link: Option<DeepLink>,
) -> Result<Reply, JobError> {
    let lang = ctx.lang;
    let Some(store) = ledger(ports, ctx) else {
        return Ok(reply(t::WELCOME.get(lang).to_owned(), menu(ctx, lang)));
    };
    let mut notes = Vec::new();
    let code = match &link {
        Some(DeepLink::Referral(code)) => match loyalty::input::referral_code_valid(code) {
            Ok(code) => Some(code),
            Err(_) => {
                notes.push(t::UNKNOWN_CODE.get(lang).to_owned());
                None
            }
        },
        _ => None,
    };
    let joined = match join(store, ctx, code).await {
        // An unknown (or own) code still joins, without a referral, and says so.
        Err(LoyaltyError::UnknownReferralCode | LoyaltyError::SelfReferral) => {
            notes.push(t::UNKNOWN_CODE.get(lang).to_owned());
            join(store, ctx, None).await
        }
        other => other,
    };
    let text = match joined {
        Ok(body) => {
            let bonus = body["welcome_bonus"].as_i64().unwrap_or(0);
            let balance = body["balance"].as_i64().unwrap_or(0);
            let mut text = t::JOINED.render(lang, &[("bonus", &bonus), ("balance", &balance)]);
            if body["referred"].as_bool() == Some(true) {
                text.push('\n');
                text.push_str(t::REFERRED.get(lang));
            }
            for note in notes {
                text.push('\n');
                text.push_str(&note);
            }
            text
        }
        Err(LoyaltyError::AlreadyMember) => {
            let balance = account(store, ctx).await?.map_or(0, |a| a.balance);
            t::ALREADY_MEMBER.render(lang, &[("balance", &balance)])
        }
        Err(e) => return Err(ledger_failure(e)),
    };
    Ok(reply(text, menu(ctx, lang)))
}

async fn join(
    store: &dyn LoyaltyStore,
    ctx: &Context,
    referral_code: Option<String>,
) -> Result<serde_json::Value, LoyaltyError> {
    let input = JoinInput {
        contact_id: Some(ctx.message.contact.clone()),
        phone: None,
        referral_code,
    };
    let planner = Join {
        scope: scope(ctx),
        actor: &Actor::Manager,
        input: &input,
    };
    ledger::execute(store, None, None, &ctx.message.tenant, &planner)
        .await
        .map(|o| o.body)
}

/// This chat's account; when a linked phone merged it into another chat's, that one
/// (one hop: the survivor of a merge is never itself merged).
async fn account(store: &dyn LoyaltyStore, ctx: &Context) -> Result<Option<Account>, JobError> {
    let tenant = &ctx.message.tenant;
    let read = |contact: String| async move {
        ledger::get::<Account>(store, &account_key(tenant, &contact))
            .await
            .map_err(|e| transient("loyalty", e))
    };
    match read(ctx.message.contact.clone()).await? {
        Some(Account {
            merged_into: Some(survivor),
            ..
        }) => read(survivor).await,
        other => Ok(other),
    }
}

/// How many expiry dates the balance lists.
const EXPIRY_LINES: usize = 2;

async fn balance(ports: &Ports<'_>, ctx: &Context) -> Result<Reply, JobError> {
    let lang = ctx.lang;
    let Some(store) = ledger(ports, ctx) else {
        return Ok(reply(t::LOYALTY_OFF.get(lang).to_owned(), menu(ctx, lang)));
    };
    let Some(account) = account(store, ctx).await? else {
        return Ok(reply(
            t::NOT_MEMBER.get(lang).to_owned(),
            join_button(ctx, lang),
        ));
    };
    let mut text = t::BALANCE.render(lang, &[("balance", &account.balance)]);
    if let Some(days) = ctx.config.loyalty.expiry_days {
        for (date, points) in account
            .ledger()
            .expiring(days)
            .into_iter()
            .filter(|(date, points)| *points > 0 && date.as_str() >= ctx.day.as_str())
            .take(EXPIRY_LINES)
        {
            text.push('\n');
            text.push_str(&t::EXPIRING.render(lang, &[("points", &points), ("date", &date)]));
        }
    }
    Ok(reply(text, menu(ctx, lang)))
}

async fn referral(ports: &Ports<'_>, ctx: &Context) -> Result<Reply, JobError> {
    let lang = ctx.lang;
    let Some(store) = ledger(ports, ctx) else {
        return Ok(reply(t::LOYALTY_OFF.get(lang).to_owned(), menu(ctx, lang)));
    };
    let customer = CustomerRef::Contact(ctx.message.contact.clone());
    let planner = ReferralCodeFor {
        scope: scope(ctx),
        actor: &Actor::Manager,
        customer: &customer,
    };
    let body = match ledger::execute(store, None, None, &ctx.message.tenant, &planner).await {
        Ok(outcome) => outcome.body,
        Err(LoyaltyError::UnknownCustomer) => {
            return Ok(reply(
                t::NOT_MEMBER.get(lang).to_owned(),
                join_button(ctx, lang),
            ))
        }
        Err(e) => return Err(ledger_failure(e)),
    };
    let code = body["code"].as_str().unwrap_or_default();
    // Without a Telegram bot the code itself is what friends type.
    let link = body["link"]
        .as_str()
        .map_or_else(|| format!("ref-{code}"), str::to_owned);
    let joined = body["referrals_joined"].as_i64().unwrap_or(0);
    Ok(reply(
        t::REFERRAL.render(lang, &[("link", &link), ("joined", &joined)]),
        menu(ctx, lang),
    ))
}

/// `/phone`: on Telegram the "share my phone" reply-keyboard button; on WhatsApp the
/// sender's number is the phone itself, so it is linked at once.
async fn phone(ports: &Ports<'_>, ctx: &Context) -> Result<Reply, JobError> {
    let lang = ctx.lang;
    match ctx.message.channel {
        Channel::Whatsapp => {
            let digits = ctx.message.contact.trim_start_matches("wa-");
            link_phone(ports, ctx, &format!("+{digits}")).await
        }
        _ => Ok(reply(
            t::SHARE_PHONE.get(lang).to_owned(),
            vec![Button {
                title: t::BTN_SHARE_PHONE.get(lang).to_owned(),
                data: None,
                url: None,
                request_contact: true,
            }],
        )),
    }
}

/// A contact shared on Telegram: linked only when it is the sender's own, shared in
/// their own chat (in a private chat the chat id is the user id).
async fn shared_phone(
    ports: &Ports<'_>,
    ctx: &Context,
    raw: &str,
    user_id: Option<&str>,
) -> Result<Reply, JobError> {
    let own = user_id.is_some_and(|id| ctx.message.contact == Channel::Telegram.contact_id(id));
    if !own {
        tracing::info!(tenant = %ctx.message.tenant, contact = %ctx.who(), "a contact that is not the sender's own refused");
        return Ok(reply(
            t::PHONE_NOT_OWN.get(ctx.lang).to_owned(),
            menu(ctx, ctx.lang),
        ));
    }
    // Telegram sends the number in international form, often without the `+`.
    let raw = raw.trim();
    let international = if raw.starts_with('+') {
        raw.to_owned()
    } else {
        format!("+{raw}")
    };
    link_phone(ports, ctx, &international).await
}

/// Links a verified number to this chat, merging the till's account for it.
async fn link_phone(ports: &Ports<'_>, ctx: &Context, raw: &str) -> Result<Reply, JobError> {
    let lang = ctx.lang;
    let Some(store) = ledger(ports, ctx) else {
        return Ok(reply(t::LOYALTY_OFF.get(lang).to_owned(), menu(ctx, lang)));
    };
    let Ok(phone) = sauda_shared::phone::normalise(raw, &ctx.config.leads.default_region) else {
        return Ok(reply(
            t::PHONE_NOT_OWN.get(lang).to_owned(),
            menu(ctx, lang),
        ));
    };
    let planner = LinkPhone {
        scope: scope(ctx),
        contact: &ctx.message.contact,
        phone: &phone,
    };
    let body = match ledger::execute(store, None, None, &ctx.message.tenant, &planner).await {
        Ok(outcome) => outcome.body,
        Err(LoyaltyError::PhoneTaken) => {
            return Ok(reply(t::PHONE_TAKEN.get(lang).to_owned(), menu(ctx, lang)))
        }
        Err(e) => return Err(ledger_failure(e)),
    };
    let balance = body["balance"].as_i64().unwrap_or(0);
    let text = match body["merged_from"].as_str() {
        Some(_) => {
            let points = body["merged_points"].as_i64().unwrap_or(0);
            t::PHONE_MERGED.render(lang, &[("points", &points), ("balance", &balance)])
        }
        None => t::PHONE_LINKED.render(lang, &[("balance", &balance)]),
    };
    Ok(reply(text, menu(ctx, lang)))
}
