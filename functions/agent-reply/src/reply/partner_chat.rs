//! Stage 2a: partners and the loyalty program's admins in their Telegram chats with the
//! bot, answered without a model.
//!
//! A chat applies to become a partner (`/apply Name`: a pending partner `tg-{chat}` in
//! the loyalty crate's model, and the admins of `loyalty.admin_chats` get the application
//! with Approve / Reject buttons). Once approved, the partner finds a client by phone,
//! accrues, redeems, refunds (each a typed command answered with a confirmation and
//! Confirm / Cancel buttons) and sees today's figures. Everything runs through the
//! loyalty library's executor with the partner as actor, so the partner API's rules,
//! idempotency and rate limit hold here too.
//!
//! No per-chat state: the Confirm button's signed data (`sauda_shared::chat`) carries
//! the operation and a nonce derived from the command message, and the nonce is the
//! idempotency key, so pressing Confirm twice (or a redelivery) never moves points twice.

use super::compose::{Reply, ReplyKind};
use super::deliver::Outbox;
use super::load::Context;
use super::nps;
use super::{transient, JobError};
use async_trait::async_trait;
use loyalty::error::LoyaltyError;
use loyalty::input::{normalise_phone, CustomerRef};
use loyalty::model::Key;
use loyalty::ops::{Accrue, AccrueInput, Redeem, RedeemInput, Refund, RefundInput, Scope};
use loyalty::partners::{self, CreatePartner, ModeratePartner, Moderation, NewPartner};
use loyalty::store::{self as ledger, Idempotency, LoyaltyStore, Plan, Planner, RateLimit};
use sauda_shared::changes::{self, Change};
use sauda_shared::chat::{self, ButtonError};
use sauda_shared::dynamo::Reads;
use sauda_shared::i18n::{partner_chat as t, Lang};
use sauda_shared::message::{Channel, InboundMessage};
use sauda_shared::outbox::Button;
use sauda_shared::partner::{Partner, PartnerStatus};
use sauda_shared::ports::MessageQueue;
use sauda_shared::stats::{self, metric};
use sauda_shared::{keys, TenantId};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::time::Duration;

#[derive(Clone, Copy)]
pub struct Ports<'a> {
    pub ledger: Option<&'a dyn LoyaltyStore>,
    pub outbox: &'a dyn Outbox,
    pub notify: &'a dyn MessageQueue,
    /// `inbound.fifo`, for surveys due outside the tenant's window.
    pub inbound: Option<&'a dyn sauda_shared::ports::JobQueue>,
    pub max_wait: Duration,
}

/// Button actions of this stage (short: the data has 64 bytes in all).
const CONFIRM: &str = "pc";
const CANCEL: &str = "px";
const TODAY: &str = "pt";
const APPROVE: &str = "ma";
const REJECT: &str = "mr";

/// A partner's typed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Typed {
    Menu,
    Apply(String),
    Client(String),
    Accrue {
        phone: String,
        amount: String,
    },
    Redeem {
        phone: String,
        amount: String,
        points: String,
    },
    Refund {
        phone: String,
        purchase: String,
    },
    Today,
}

/// What the message asks this stage for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Asked {
    Typed(Typed),
    Confirm(Pending),
    Cancel,
    Today,
    Moderate { partner_id: String, approve: bool },
    Nps(nps::Asked),
}

/// An operation waiting for the partner's Confirm: what the button carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// E.164 digits of the client's phone.
    pub phone: u64,
    /// The idempotency key (and the purchase reference of accruals and redeems).
    pub nonce: String,
    pub op: Op,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Accrue { amount_minor: i64 },
    Redeem { amount_minor: i64, points: i64 },
    Refund { purchase_ref: String },
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn from36(s: &str) -> Option<u64> {
    u64::from_str_radix(s, 36).ok()
}

impl Pending {
    /// `{a|r|f}.{phone}.{nonce}.{rest}`, numbers in base 36.
    pub fn encode(&self) -> String {
        let (kind, rest) = match &self.op {
            Op::Accrue { amount_minor } => ("a", base36(*amount_minor as u64)),
            Op::Redeem {
                amount_minor,
                points,
            } => (
                "r",
                format!(
                    "{}.{}",
                    base36(*amount_minor as u64),
                    base36(*points as u64)
                ),
            ),
            Op::Refund { purchase_ref } => ("f", purchase_ref.clone()),
        };
        format!("{kind}.{}.{}.{rest}", base36(self.phone), self.nonce)
    }

    pub fn decode(arg: &str) -> Option<Self> {
        let mut parts = arg.splitn(4, '.');
        let (kind, phone, nonce, rest) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let number = |s: &str| from36(s).and_then(|n| i64::try_from(n).ok());
        let op = match kind {
            "a" => Op::Accrue {
                amount_minor: number(rest)?,
            },
            "r" => {
                let (amount, points) = rest.split_once('.')?;
                Op::Redeem {
                    amount_minor: number(amount)?,
                    points: number(points)?,
                }
            }
            "f" => Op::Refund {
                purchase_ref: rest.to_owned(),
            },
            _ => return None,
        };
        Some(Self {
            phone: from36(phone)?,
            nonce: nonce.to_owned(),
            op,
        })
    }

    fn phone(&self) -> String {
        format!("+{}", self.phone)
    }

    fn purchase_ref(&self) -> String {
        match &self.op {
            Op::Refund { purchase_ref } => purchase_ref.clone(),
            _ => format!("chat-{}", self.nonce),
        }
    }
}

/// The Telegram chat of the message, when it is a private one.
fn private_chat(ctx: &Context) -> Option<i64> {
    (ctx.message.channel == Channel::Telegram)
        .then(|| ctx.message.reply_to.parse::<i64>().ok())
        .flatten()
        .filter(|chat| *chat > 0)
}

/// The partner id a chat applies under.
pub fn partner_id_of(chat: i64) -> String {
    format!("tg-{chat}")
}

fn typed(text: &str, bot: Option<&str>) -> Option<Typed> {
    let rest = text.trim().strip_prefix('/')?;
    let (head, args) = match rest.split_once(char::is_whitespace) {
        Some((head, args)) => (head, args.trim()),
        None => (rest, ""),
    };
    let name = match (head.split_once('@'), bot) {
        (Some((name, to)), Some(ours)) if to.eq_ignore_ascii_case(ours.trim_start_matches('@')) => {
            name
        }
        (Some(_), _) => return None,
        (None, _) => head,
    };
    // The last words are the figures; everything before them is the phone (spaces allowed).
    let split_last = |s: &str| -> (String, String) {
        match s.rsplit_once(char::is_whitespace) {
            Some((a, b)) => (a.trim().to_owned(), b.to_owned()),
            None => (String::new(), s.to_owned()),
        }
    };
    Some(match name.to_ascii_lowercase().as_str() {
        "partner" => Typed::Menu,
        "apply" => Typed::Apply(args.to_owned()),
        "client" => Typed::Client(args.to_owned()),
        "accrue" => {
            let (phone, amount) = split_last(args);
            Typed::Accrue { phone, amount }
        }
        "redeem" => {
            let (rest, points) = split_last(args);
            let (phone, amount) = split_last(&rest);
            Typed::Redeem {
                phone,
                amount,
                points,
            }
        }
        "refund" => {
            let (phone, purchase) = split_last(args);
            Typed::Refund { phone, purchase }
        }
        "today" => Typed::Today,
        _ => return None,
    })
}

/// Reads the message: this stage's signed buttons, a partner command in a private
/// Telegram chat, or an NPS answer; `None` leaves it to the customer commands and the model.
pub fn asked(ctx: &Context) -> Option<Asked> {
    let text = ctx.message.text.as_deref()?.trim();
    match chat::verify_button(ctx.message.tenant.as_str(), &ctx.message.contact, text) {
        Ok(pressed) => {
            return match pressed.action.as_str() {
                CONFIRM => Pending::decode(&pressed.arg).map(Asked::Confirm),
                CANCEL => Some(Asked::Cancel),
                TODAY => Some(Asked::Today),
                APPROVE | REJECT => Some(Asked::Moderate {
                    partner_id: pressed.arg,
                    approve: pressed.action == APPROVE,
                }),
                _ => nps::asked_button(&pressed).map(Asked::Nps),
            }
        }
        Err(ButtonError::Forged) => return None,
        Err(ButtonError::NotButton) => {}
    }
    if let Some(asked) = nps::asked_comment(ctx) {
        return Some(Asked::Nps(asked));
    }
    private_chat(ctx)?;
    typed(text, ctx.config.telegram_bot_username.as_deref()).map(Asked::Typed)
}

pub(super) fn reply(text: String, buttons: Vec<Button>) -> Reply {
    Reply {
        buttons,
        ..Reply::plain(text, ReplyKind::Command)
    }
}

pub(super) fn plain(text: impl Into<String>) -> Reply {
    reply(text.into(), Vec::new())
}

/// A button signed for chat `contact` of this tenant.
pub fn button_for(
    tenant: &TenantId,
    contact: &str,
    title: &str,
    action: &str,
    arg: &str,
) -> Option<Button> {
    chat::button_data(tenant.as_str(), contact, action, arg).map(|data| Button {
        title: title.to_owned(),
        data: Some(data),
        url: None,
        request_contact: false,
    })
}

fn button(ctx: &Context, title: &str, action: &str, arg: &str) -> Option<Button> {
    button_for(
        &ctx.message.tenant,
        &ctx.message.contact,
        title,
        action,
        arg,
    )
}

pub(super) fn scope(ctx: &Context) -> Scope<'_> {
    Scope {
        tenant: &ctx.message.tenant,
        config: &ctx.config,
    }
}

pub(super) fn failure(e: LoyaltyError) -> JobError {
    transient("loyalty", e)
}

/// A message to another chat of this tenant (an admin's, a customer's): the outbox
/// sends to a message's channel and `reply_to`.
pub fn addressed_to(ctx: &Context, contact: &str) -> Option<InboundMessage> {
    let (prefix, id) = contact.split_once('-')?;
    let channel = match prefix {
        "tg" => Channel::Telegram,
        "wa" => Channel::Whatsapp,
        _ => return None,
    };
    Some(InboundMessage {
        channel,
        contact: contact.to_owned(),
        reply_to: id.to_owned(),
        language: None,
        display_name: None,
        // Another chat: the source message's forum topic is not theirs.
        thread_id: None,
        ..ctx.message.clone()
    })
}

/// The answer of this stage; `None` when the message is not for it.
pub async fn answer(ports: &Ports<'_>, ctx: &Context) -> Result<Option<Reply>, JobError> {
    let Some(asked) = asked(ctx) else {
        return Ok(None);
    };
    let lang = ctx.lang;
    let Some(store) = ports.ledger.filter(|_| ctx.config.loyalty.enabled) else {
        return Ok(Some(plain(t::REFUSED.get(lang))));
    };
    let out = match asked {
        Asked::Nps(asked) => nps::answer(ports, store, ctx, asked).await?,
        Asked::Moderate {
            partner_id,
            approve,
        } => moderate(ports, store, ctx, &partner_id, approve).await?,
        Asked::Typed(Typed::Apply(name)) => apply(ports, store, ctx, &name).await?,
        Asked::Cancel => plain(t::CANCELLED.get(lang)),
        Asked::Typed(typed) => match partner_of_chat(store, ctx).await? {
            Ok(partner) => partner_command(store, ctx, &partner, typed).await?,
            Err(refusal) => refusal,
        },
        Asked::Today => match partner_of_chat(store, ctx).await? {
            Ok(partner) => today(store, ctx, &partner).await?,
            Err(refusal) => refusal,
        },
        Asked::Confirm(pending) => confirm(ports, store, ctx, &pending).await?,
    };
    Ok(Some(out))
}

/// The approved partner behind this chat, or the answer refusing the chat.
async fn partner_of_chat(
    store: &dyn LoyaltyStore,
    ctx: &Context,
) -> Result<Result<Partner, Reply>, JobError> {
    let lang = ctx.lang;
    let Some(chat) = private_chat(ctx) else {
        return Ok(Err(plain(t::REFUSED.get(lang))));
    };
    let partner = match find_partner(store, &ctx.message.tenant, chat).await? {
        Some(p) => p,
        None => {
            return Ok(Err(plain(format!(
                "{}\n{}",
                t::REFUSED.get(lang),
                t::APPLY_HOW.get(lang)
            ))))
        }
    };
    Ok(match partner.status {
        PartnerStatus::Active => Ok(partner),
        PartnerStatus::Pending => Err(plain(t::PENDING.get(lang))),
        PartnerStatus::Rejected | PartnerStatus::Suspended => {
            tracing::info!(tenant = %ctx.message.tenant, partner = %partner.partner_id, "partner action from an inactive partner's chat refused");
            Err(plain(t::REFUSED.get(lang)))
        }
    })
}

/// The partner whose Telegram chat this is: the one that applied from it (`tg-{chat}`,
/// one read), else one the admin API gave this chat (one Query of the partners).
async fn find_partner(
    store: &dyn LoyaltyStore,
    tenant: &TenantId,
    chat: i64,
) -> Result<Option<Partner>, JobError> {
    if let Some(partner) =
        ledger::get::<Partner>(store, &keys::partner(tenant, &partner_id_of(chat)))
            .await
            .map_err(|e| transient("loyalty", e))?
    {
        return Ok(Some(partner));
    }
    by_chat(store, tenant, chat).await
}

/// A partner the admin API gave this chat (one Query of the tenant's partners).
async fn by_chat(
    store: &dyn LoyaltyStore,
    tenant: &TenantId,
    chat: i64,
) -> Result<Option<Partner>, JobError> {
    let all = store
        .partners(tenant, None)
        .await
        .map_err(|e| transient("loyalty", e))?;
    Ok(all
        .into_iter()
        .filter(|p| p.telegram_chat_id == Some(chat))
        .min_by_key(|p| (p.status != PartnerStatus::Active, p.created_ms)))
}

const MAX_NAME: usize = 100;

async fn apply(
    ports: &Ports<'_>,
    store: &dyn LoyaltyStore,
    ctx: &Context,
    name: &str,
) -> Result<Reply, JobError> {
    let lang = ctx.lang;
    let Some(chat) = private_chat(ctx) else {
        return Ok(plain(t::REFUSED.get(lang)));
    };
    let name: String = name.trim().chars().take(MAX_NAME).collect();
    if name.is_empty() {
        return Ok(plain(t::APPLY_HOW.get(lang)));
    }
    let partner_id = partner_id_of(chat);
    let new = NewPartner {
        partner_id: partner_id.clone(),
        name: name.clone(),
        kind: String::new(),
        telegram_chat_id: Some(chat),
        cashback_bp: None,
    };
    let planner = CreatePartner {
        tenant: &ctx.message.tenant,
        new: &new,
    };
    match ledger::execute(store, None, None, &ctx.message.tenant, &planner).await {
        Ok(_) => {}
        // Applied before: the status answers (a redelivery lands here too).
        Err(LoyaltyError::PartnerExists) => {
            return Ok(match partner_of_chat(store, ctx).await? {
                Ok(partner) => menu(ctx, &partner),
                Err(refusal) => refusal,
            })
        }
        Err(e) => return Err(failure(e)),
    }
    tracing::info!(tenant = %ctx.message.tenant, partner = %partner_id, "partner application from chat");
    tell_admins(ports, ctx, &partner_id, &name).await;
    Ok(plain(t::APPLIED.render(lang, &[("name", &name)])))
}

/// The admins get the application with Approve / Reject buttons signed for their chat.
/// A failed send is logged, not retried: the application waits in the admin API's list.
async fn tell_admins(ports: &Ports<'_>, ctx: &Context, partner_id: &str, name: &str) {
    let lang = Lang::pick(None, &ctx.config.default_language);
    let text = t::NEW_APPLICATION.render(lang, &[("name", &name), ("partner", &partner_id)]);
    for admin in &ctx.config.loyalty.admin_chats {
        let contact = Channel::Telegram.contact_id(&admin.to_string());
        let Some(to) = addressed_to(ctx, &contact) else {
            continue;
        };
        let tenant = &ctx.message.tenant;
        let buttons: Vec<Button> = [
            (t::BTN_APPROVE.get(lang), APPROVE),
            (t::BTN_REJECT.get(lang), REJECT),
        ]
        .into_iter()
        .filter_map(|(title, action)| button_for(tenant, &contact, title, action, partner_id))
        .collect();
        if let Err(e) = ports
            .outbox
            .send(
                &ctx.config,
                &to,
                &Reply {
                    buttons,
                    ..Reply::plain(text.to_string(), ReplyKind::Command)
                },
                ports.max_wait,
            )
            .await
        {
            tracing::warn!(tenant = %tenant, partner = %partner_id, error = %e, "admin not told of a partner application");
        }
    }
}

/// A planner with something added to what it planned (a write, a field of the answer).
pub(super) struct Then<'a> {
    pub inner: &'a dyn Planner,
    pub then: &'a (dyn Fn(&mut Plan, &Reads, i64) -> Result<(), LoyaltyError> + Send + Sync),
}

#[async_trait]
impl Planner for Then<'_> {
    fn keys(&self) -> Vec<Key> {
        self.inner.keys()
    }

    async fn plan(
        &self,
        store: &dyn LoyaltyStore,
        reads: &mut Reads,
        now_ms: i64,
    ) -> Result<Plan, LoyaltyError> {
        let mut plan = self.inner.plan(store, reads, now_ms).await?;
        (self.then)(&mut plan, reads, now_ms)?;
        Ok(plan)
    }
}

/// Adds the partner's name and chat to an answer (read in the same batch anyway).
pub(super) fn with_partner(
    partner: Key,
) -> impl Fn(&mut Plan, &Reads, i64) -> Result<(), LoyaltyError> + Send + Sync {
    move |plan, reads, _| {
        if let Some(p) = reads.get::<Partner>(&partner)? {
            plan.body["partner_name"] = json!(p.name);
            plan.body["partner_chat"] = json!(p.telegram_chat_id);
        }
        Ok(())
    }
}

async fn moderate(
    ports: &Ports<'_>,
    store: &dyn LoyaltyStore,
    ctx: &Context,
    partner_id: &str,
    approve: bool,
) -> Result<Reply, JobError> {
    let lang = ctx.lang;
    let admin = private_chat(ctx).filter(|chat| ctx.config.loyalty.admin_chats.contains(chat));
    let Some(admin) = admin else {
        tracing::info!(tenant = %ctx.message.tenant, "moderation from a chat that is not a loyalty admin's refused");
        return Ok(plain(t::NOT_ADMIN.get(lang)));
    };
    let tenant = &ctx.message.tenant;
    let action = if approve {
        Moderation::Approve
    } else {
        Moderation::Reject
    };
    let inner = ModeratePartner {
        tenant,
        partner_id,
        action,
    };
    // Who decided goes into the tenant's history of changes (the one the tenant admin
    // API lists), in the same transaction as the decision.
    let actor = format!("telegram_admin:{admin}");
    let verb = if approve {
        "partner.approve"
    } else {
        "partner.reject"
    };
    let record = |plan: &mut Plan, _: &Reads, now_ms: i64| {
        if !plan.writes.is_empty() {
            let change = Change::new(&actor, verb, partner_id, now_ms)
                .with(json!({"status": plan.body["status"]}));
            plan.writes.push(changes::history_put(tenant, &change));
        }
        Ok(())
    };
    let planner = Then {
        inner: &inner,
        then: &record,
    };
    let view = match ledger::execute(store, None, None, tenant, &planner).await {
        Ok(outcome) => outcome.body,
        Err(e) if e.is_refusal() => {
            return Ok(plain(
                t::NOT_DONE.render(lang, &[("reason", &e.to_string())]),
            ))
        }
        Err(e) => return Err(failure(e)),
    };
    let name = view["name"].as_str().unwrap_or_default();
    if view["changed"] == json!(true) {
        partners::notify_status(
            ports.notify,
            &ctx.config,
            partner_id,
            name,
            view["telegram_chat_id"].as_i64(),
            view["status"].as_str().unwrap_or_default(),
            view["updated"].as_str().unwrap_or_default(),
        )
        .await
        .map_err(failure)?;
    }
    let text = if view["status"] == json!("active") {
        &t::DECIDED_APPROVED
    } else {
        &t::DECIDED_REJECTED
    };
    Ok(plain(text.render(lang, &[("name", &name)])))
}

fn menu(ctx: &Context, partner: &Partner) -> Reply {
    let lang = ctx.lang;
    reply(
        t::MENU.render(lang, &[("name", &partner.name)]),
        button(ctx, t::BTN_TODAY.get(lang), TODAY, "")
            .into_iter()
            .collect(),
    )
}

/// `5000`, `5000.50`, `5 000,5` in the currency's major units → minor units.
fn amount_minor(raw: &str) -> Option<i64> {
    let cleaned: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    let (whole, fraction) = match cleaned.split_once(['.', ',']) {
        Some((w, f)) => (w, f),
        None => (cleaned.as_str(), ""),
    };
    if whole.is_empty() || fraction.len() > 2 || !whole.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let fraction: i64 = format!("{fraction:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(fraction)
}

/// `12.50` from 1250.
fn major(minor: i64) -> String {
    if minor % 100 == 0 {
        (minor / 100).to_string()
    } else {
        format!("{}.{:02}", minor / 100, (minor % 100).abs())
    }
}

/// The nonce of a command message: a digest of where it came from, so a redelivered
/// command offers the same Confirm and any press of it is one operation.
fn nonce(ctx: &Context) -> String {
    let digest = Sha256::digest(
        format!(
            "{}\n{}\n{}",
            ctx.message.tenant, ctx.message.contact, ctx.message.platform_message_id
        )
        .as_bytes(),
    );
    hex::encode(&digest[..5])
}

async fn partner_command(
    store: &dyn LoyaltyStore,
    ctx: &Context,
    partner: &Partner,
    typed: Typed,
) -> Result<Reply, JobError> {
    let lang = ctx.lang;
    let region = &ctx.config.leads.default_region;
    let not_done = |reason: &str| plain(t::NOT_DONE.render(lang, &[("reason", &reason)]));
    let phone_of = |raw: &str| normalise_phone(raw, region);
    let currency = &ctx.config.loyalty.currency;
    let pending = |phone: &str, op: Op| -> Result<Pending, LoyaltyError> {
        let e164 = phone_of(phone)?;
        let digits = e164
            .trim_start_matches('+')
            .parse::<u64>()
            .map_err(|_| LoyaltyError::field("invalid_phone", "phone: not a number"))?;
        Ok(Pending {
            phone: digits,
            nonce: nonce(ctx),
            op,
        })
    };
    let (pending, text) = match typed {
        Typed::Menu | Typed::Apply(_) => return Ok(menu(ctx, partner)),
        Typed::Today => return today(store, ctx, partner).await,
        Typed::Client(phone) => return client(store, ctx, &phone).await,
        Typed::Accrue { phone, amount } => {
            let Some(amount_minor) = amount_minor(&amount) else {
                return Ok(menu(ctx, partner));
            };
            match pending(&phone, Op::Accrue { amount_minor }) {
                Ok(p) => {
                    let text = t::CONFIRM_ACCRUE.render(
                        lang,
                        &[
                            ("amount", &major(amount_minor)),
                            ("currency", currency),
                            ("phone", &p.phone()),
                        ],
                    );
                    (p, text)
                }
                Err(e) => return Ok(not_done(&e.to_string())),
            }
        }
        Typed::Redeem {
            phone,
            amount,
            points,
        } => {
            let (Some(amount_minor), Ok(points)) = (amount_minor(&amount), points.parse::<i64>())
            else {
                return Ok(menu(ctx, partner));
            };
            if points <= 0 {
                return Ok(menu(ctx, partner));
            }
            match pending(
                &phone,
                Op::Redeem {
                    amount_minor,
                    points,
                },
            ) {
                Ok(p) => {
                    let text = t::CONFIRM_REDEEM.render(
                        lang,
                        &[
                            ("points", &points),
                            ("amount", &major(amount_minor)),
                            ("currency", currency),
                            ("phone", &p.phone()),
                        ],
                    );
                    (p, text)
                }
                Err(e) => return Ok(not_done(&e.to_string())),
            }
        }
        Typed::Refund { phone, purchase } => {
            let purchase_ref = match loyalty::input::purchase_ref_valid(&purchase) {
                Ok(r) => r,
                Err(e) => return Ok(not_done(&e.to_string())),
            };
            match pending(&phone, Op::Refund { purchase_ref }) {
                Ok(p) => {
                    let text = t::CONFIRM_REFUND.render(
                        lang,
                        &[("purchase", &p.purchase_ref()), ("phone", &p.phone())],
                    );
                    (p, text)
                }
                Err(e) => return Ok(not_done(&e.to_string())),
            }
        }
    };
    let Some(confirm) = button(ctx, t::BTN_CONFIRM.get(lang), CONFIRM, &pending.encode()) else {
        // Only a refund's receipt can make the button's data too long.
        return Ok(not_done(
            "receipt number too long for a button (at most 20 characters)",
        ));
    };
    let buttons = [
        Some(confirm),
        button(ctx, t::BTN_CANCEL.get(lang), CANCEL, ""),
    ]
    .into_iter()
    .flatten()
    .collect();
    Ok(reply(text, buttons))
}

/// `/client PHONE`: the member's balance (one read: the phone's identity and the
/// WhatsApp account it most likely is; a second only for another contact).
async fn client(store: &dyn LoyaltyStore, ctx: &Context, phone: &str) -> Result<Reply, JobError> {
    let lang = ctx.lang;
    let customer = match normalise_phone(phone, &ctx.config.leads.default_region) {
        Ok(e164) => CustomerRef::Phone(e164),
        Err(e) => {
            return Ok(plain(
                t::NOT_DONE.render(lang, &[("reason", &e.to_string())]),
            ))
        }
    };
    let shown = match &customer {
        CustomerRef::Phone(p) => p.clone(),
        CustomerRef::Contact(c) => c.clone(),
    };
    match loyalty::views::account_of(store, &ctx.message.tenant, &customer, &[]).await {
        Ok((_, account, _)) => Ok(plain(
            t::CLIENT.render(lang, &[("phone", &shown), ("balance", &account.balance)]),
        )),
        Err(LoyaltyError::UnknownCustomer) => Ok(plain(t::NO_CLIENT.get(lang))),
        Err(e) => Err(failure(e)),
    }
}

/// Today's figures of the partner from the tenant's day counters (one read of the shards).
async fn today(
    store: &dyn LoyaltyStore,
    ctx: &Context,
    partner: &Partner,
) -> Result<Reply, JobError> {
    let tenant = &ctx.message.tenant;
    let day = stats::local_day(&ctx.config.timezone, ctx.now_ms);
    let shards: Vec<Key> = (0..stats::SHARDS)
        .map(|shard| keys::daily_stats(tenant, &day, shard))
        .collect();
    let reads = store
        .read(&shards)
        .await
        .map_err(|e| transient("loyalty", e))?;
    let pid = &partner.partner_id;
    let figure = |name: &str| -> i64 {
        let attr = metric::partner(pid, name);
        shards
            .iter()
            .filter_map(|k| {
                reads
                    .get::<serde_json::Map<String, serde_json::Value>>(k)
                    .ok()
                    .flatten()
            })
            .filter_map(|item| item.get(&attr).and_then(serde_json::Value::as_i64))
            .sum()
    };
    let text = t::TODAY.render(
        ctx.lang,
        &[
            ("purchases", &figure("purchases")),
            ("turnover", &major(figure("turnover_minor"))),
            ("currency", &ctx.config.loyalty.currency),
            ("accrued", &figure("accrued")),
            ("redeemed", &figure("redeemed")),
        ],
    );
    Ok(reply(text, Vec::new()))
}

/// Confirm pressed: the operation, with the nonce as the idempotency key and the partner
/// key's rate window, exactly as through the partner API.
async fn confirm(
    ports: &Ports<'_>,
    store: &dyn LoyaltyStore,
    ctx: &Context,
    pending: &Pending,
) -> Result<Reply, JobError> {
    let lang = ctx.lang;
    let Some(chat) = private_chat(ctx) else {
        return Ok(plain(t::REFUSED.get(lang)));
    };
    let tenant = &ctx.message.tenant;
    // The chat's own application first (no extra read); another partner id only when
    // the admin API gave this chat to one.
    let mut partner_id = partner_id_of(chat);
    let outcome = loop {
        match run(store, ctx, &partner_id, pending).await {
            Err(LoyaltyError::PartnerMissing) if partner_id == partner_id_of(chat) => {
                match by_chat(store, tenant, chat).await? {
                    Some(p) if p.partner_id != partner_id => partner_id = p.partner_id,
                    _ => break Err(LoyaltyError::PartnerMissing),
                }
            }
            other => break other,
        }
    };
    let body = match outcome {
        Ok(outcome) => {
            if !outcome.replayed {
                if let Op::Accrue { .. } = pending.op {
                    nps::offer(ports, ctx, &partner_id, &outcome.body).await;
                }
            }
            outcome.body
        }
        Err(LoyaltyError::PartnerMissing | LoyaltyError::PartnerInactive(_)) => {
            tracing::info!(tenant = %tenant, "partner action from a chat that is not an approved partner's refused");
            return Ok(plain(t::REFUSED.get(lang)));
        }
        Err(e) if e.is_refusal() => {
            return Ok(plain(
                t::NOT_DONE.render(lang, &[("reason", &e.to_string())]),
            ))
        }
        Err(e) => return Err(failure(e)),
    };
    let balance = body["balance"].as_i64().unwrap_or(0);
    let purchase = pending.purchase_ref();
    let text = match &pending.op {
        Op::Accrue { .. } => t::ACCRUED.render(
            lang,
            &[
                ("points", &body["points"].as_i64().unwrap_or(0)),
                ("purchase", &purchase),
                ("balance", &balance),
            ],
        ),
        Op::Redeem { points, .. } => t::REDEEMED.render(
            lang,
            &[
                ("points", points),
                (
                    "due",
                    &major(body["amount_due_minor"].as_i64().unwrap_or(0)),
                ),
                ("currency", &ctx.config.loyalty.currency),
                ("purchase", &purchase),
                ("balance", &balance),
            ],
        ),
        Op::Refund { .. } => {
            t::REFUNDED.render(lang, &[("purchase", &purchase), ("balance", &balance)])
        }
    };
    Ok(reply(text, Vec::new()))
}

async fn run(
    store: &dyn LoyaltyStore,
    ctx: &Context,
    partner_id: &str,
    pending: &Pending,
) -> Result<ledger::Outcome, LoyaltyError> {
    let tenant = &ctx.message.tenant;
    let config = &ctx.config;
    let customer = CustomerRef::Phone(pending.phone());
    let hash = hex::encode(Sha256::digest(pending.encode().as_bytes()));
    let idempotency = Idempotency::new(
        tenant,
        &format!("p:{partner_id}"),
        &format!("chat:{}", pending.nonce),
        hash,
    );
    let rate = RateLimit {
        scope: format!("loyalty#chat:{partner_id}"),
        per_minute: config.loyalty.rate_limit_per_minute.max(1),
    };
    let scope = scope(ctx);
    let purchase_ref = pending.purchase_ref();
    let currency = config.loyalty.currency.clone();
    let (accrue, redeem, refund);
    let inner: &dyn Planner = match &pending.op {
        Op::Accrue { amount_minor } => {
            accrue = AccrueInput {
                customer,
                purchase_ref,
                amount_minor: *amount_minor,
                currency,
            };
            &Accrue {
                scope,
                partner_id,
                input: &accrue,
            }
        }
        Op::Redeem {
            amount_minor,
            points,
        } => {
            redeem = RedeemInput {
                customer,
                purchase_ref,
                amount_minor: *amount_minor,
                currency,
                points: *points,
            };
            loyalty::ops::check_redeem_cap(&config.loyalty, &redeem)?;
            &Redeem {
                scope,
                partner_id,
                input: &redeem,
            }
        }
        Op::Refund { .. } => {
            refund = RefundInput {
                customer,
                purchase_ref,
                amount_minor: None,
                reason: None,
            };
            &Refund {
                scope,
                partner_id,
                input: &refund,
            }
        }
    };
    let named = with_partner(keys::partner(tenant, partner_id));
    let planner = Then {
        inner,
        then: &named,
    };
    ledger::execute(store, Some(&idempotency), Some(&rate), tenant, &planner).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_operations_fit_a_button_and_round_trip() {
        for op in [
            Op::Accrue {
                amount_minor: 999_999_999_999,
            },
            Op::Redeem {
                amount_minor: 999_999_999_999,
                points: 9_999_999_999,
            },
            Op::Refund {
                purchase_ref: "chat-0123456789".into(),
            },
        ] {
            let pending = Pending {
                phone: 999_999_999_999_999,
                nonce: "0123456789".into(),
                op,
            };
            let arg = pending.encode();
            assert_eq!(Pending::decode(&arg), Some(pending));
            let data =
                chat::button_data("a-tenant-id-of-some-len", "tg-1234567890123", CONFIRM, &arg);
            assert!(data.is_some(), "{arg} fits");
        }
        assert_eq!(Pending::decode("z.1.2.3"), None);
        assert_eq!(Pending::decode("a.1.2"), None);
        assert_eq!(Pending::decode("a.1.2.-"), None);
    }

    #[test]
    fn commands_and_amounts() {
        assert_eq!(
            typed("/accrue +7 701 123 45 67 5000", None),
            Some(Typed::Accrue {
                phone: "+7 701 123 45 67".into(),
                amount: "5000".into()
            })
        );
        assert_eq!(
            typed("/redeem 87011234567 5000 300", None),
            Some(Typed::Redeem {
                phone: "87011234567".into(),
                amount: "5000".into(),
                points: "300".into()
            })
        );
        assert_eq!(
            typed("/today@shop_bot", Some("shop_bot")),
            Some(Typed::Today)
        );
        assert_eq!(typed("/today@other_bot", Some("shop_bot")), None);
        assert_eq!(typed("/balance", None), None);
        assert_eq!(amount_minor("5000"), Some(500_000));
        assert_eq!(amount_minor("5 000,5"), Some(500_050));
        assert_eq!(amount_minor("12.34"), Some(1234));
        assert_eq!(amount_minor("1.234"), None);
        assert_eq!(amount_minor("-5"), None);
        assert_eq!(amount_minor(""), None);
        assert_eq!(amount_minor("99999999999999999999"), None);
        assert_eq!(major(500_050), "5000.50");
        assert_eq!(major(500_000), "5000");
        assert_eq!(base36(0), "0");
        assert_eq!(from36(&base36(u64::MAX)), Some(u64::MAX));
    }
}
