//! NPS in chat: after a purchase at a partner (an accrual confirmed in the partner's
//! chat), the customer gets one 0-10 survey on their channel (Telegram buttons, a
//! WhatsApp list), inside the tenant's `loyalty.nps_window` (local hours): one [`due`]
//! path for every purchase, a survey due at night waiting for the window's start. The score is recorded per
//! partner through loyalty's NPS (once per purchase: the purchase keeps its score); a
//! score of 6 or less tells the partner and the managers, and asks what went wrong: the
//! customer's next text within [`COMMENT_WINDOW_MS`] goes to them as the comment.
//!
//! Its only state is the purchase's `nps_asked_ms` marker; the score button is signed data carrying the partner and the
//! purchase, and a comment is recognised from the conversation history the job already
//! read (our "what went wrong?" answer to a low score's button, just before it).

use super::compose::{Reply, ReplyKind};
use super::load::Context;
use super::partner_chat::{self, button_for, failure, plain, with_partner, Ports, Then};
use super::JobError;
use crate::conversation::Stored;
use loyalty::error::LoyaltyError;
use loyalty::input::CustomerRef;
use loyalty::model::{purchase_key, Purchase};
use loyalty::ops::{Nps, NpsInput};
use loyalty::store::{self as ledger, LoyaltyStore, Plan, Planner};
use sauda_shared::chat::{self, Pressed};
use sauda_shared::dynamo::Reads;
use sauda_shared::i18n::{chat as chat_texts, partner_chat as t, Lang};
use sauda_shared::keys;
use sauda_shared::message::InboundMessage;
use sauda_shared::message::{Channel, Direction, MessageKind};
use sauda_shared::notify::{self, Notice, Recipients};
use sauda_shared::nps::{self, NpsDue};
use sauda_shared::outbox::Button;
use sauda_shared::plan::{Cond, Op, Update, WritePlan};
use sauda_shared::telegram_api::escape_html;
use sauda_shared::tenant::TenantConfig;

const SCORE: &str = "n";
/// How long after "what went wrong?" a text counts as the comment.
pub const COMMENT_WINDOW_MS: i64 = 30 * 60 * 1000;
/// The highest score that tells the partner and the managers (NPS detractors).
pub const LOW: u8 = 6;
const MAX_COMMENT: usize = 1_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asked {
    pub partner_id: String,
    pub purchase_ref: String,
    pub score: u8,
    /// The text sent after a low score.
    pub comment: Option<String>,
}

fn encode(score: u8, partner_id: &str, purchase_ref: &str) -> String {
    format!("{score}.{partner_id}.{purchase_ref}")
}

/// A score button pressed.
pub fn asked_button(pressed: &Pressed) -> Option<Asked> {
    if pressed.action != SCORE {
        return None;
    }
    let mut parts = pressed.arg.splitn(3, '.');
    let score: u8 = parts.next()?.parse().ok().filter(|s| *s <= 10)?;
    let (partner_id, purchase_ref) = (parts.next()?, parts.next()?);
    Some(Asked {
        partner_id: partner_id.to_owned(),
        purchase_ref: purchase_ref.to_owned(),
        score,
        comment: None,
    })
}

fn is_what_wrong(m: &Stored) -> bool {
    m.direction == Direction::Out
        && m.text.as_deref().is_some_and(|text| {
            Lang::ALL
                .iter()
                .any(|lang| text == t::NPS_WHAT_WRONG.get(*lang))
        })
}

/// A text right after our "what went wrong?" to a low score, within the window.
pub fn asked_comment(ctx: &Context) -> Option<Asked> {
    if ctx.message.kind != MessageKind::Text {
        return None;
    }
    let text = ctx.message.text.as_deref()?.trim();
    if text.is_empty() || text.starts_with('/') || chat::is_button_data(text) {
        return None;
    }
    let mut earlier = ctx
        .conv
        .messages
        .iter()
        .filter(|m| m.sk != ctx.inbound_sk && m.timestamp_ms <= ctx.message.timestamp_ms);
    let ours = earlier.next()?;
    if !is_what_wrong(ours) || ctx.now_ms - ours.timestamp_ms > COMMENT_WINDOW_MS {
        return None;
    }
    let press = earlier.next().filter(|m| m.direction == Direction::In)?;
    let pressed = chat::verify_button(
        ctx.message.tenant.as_str(),
        &ctx.message.contact,
        press.text.as_deref()?,
    )
    .ok()?;
    let asked = asked_button(&pressed).filter(|a| a.score <= LOW)?;
    Some(Asked {
        comment: Some(text.chars().take(MAX_COMMENT).collect()),
        ..asked
    })
}

/// A purchase's survey claimed for sending: the purchase is the customer's, not yet
/// rated and not yet asked; `nps_asked_ms` is set on it conditionally, so redelivered
/// or duplicated jobs ask once. Answers the partner's name.
struct Claim<'a> {
    due: &'a NpsDue,
}

#[async_trait::async_trait]
impl Planner for Claim<'_> {
    fn keys(&self) -> Vec<loyalty::model::Key> {
        let (t, pid) = (&self.due.tenant, self.due.partner_id.as_str());
        vec![
            keys::partner(t, pid),
            purchase_key(t, pid, &self.due.purchase_ref),
        ]
    }

    async fn plan(
        &self,
        _store: &dyn LoyaltyStore,
        reads: &mut Reads,
        now_ms: i64,
    ) -> Result<Plan, LoyaltyError> {
        let (t, pid) = (&self.due.tenant, self.due.partner_id.as_str());
        let key = purchase_key(t, pid, &self.due.purchase_ref);
        let purchase: Purchase = reads.get(&key)?.ok_or(LoyaltyError::UnknownPurchase)?;
        if purchase.contact != self.due.contact {
            return Err(LoyaltyError::PurchaseCustomerMismatch);
        }
        if purchase.nps_score.is_some()
            || reads
                .get::<AskedMark>(&key)?
                .and_then(|a| a.nps_asked_ms)
                .is_some()
        {
            return Err(LoyaltyError::AlreadyRated);
        }
        let partner: Option<sauda_shared::partner::Partner> = reads.get(&keys::partner(t, pid))?;
        let mut writes = WritePlan::new();
        writes.push_or(
            Op::Update(
                Update::new(key).set("nps_asked_ms", now_ms).when(
                    Cond::item_exists()
                        .and(Cond::absent("nps_asked_ms"))
                        .and(Cond::absent("nps_score")),
                ),
            ),
            LoyaltyError::AlreadyRated,
        );
        Ok(Plan::new(
            writes,
            http::StatusCode::OK,
            serde_json::json!({ "partner_name": partner.map(|p| p.name) }),
        ))
    }
}

#[derive(serde::Deserialize)]
struct AskedMark {
    #[serde(default)]
    nps_asked_ms: Option<i64>,
}

/// Where a survey stands after [`due`].
#[derive(Debug, PartialEq, Eq)]
pub enum Survey {
    Sent,
    /// Outside the tenant's window: try again after this long.
    Deferred(std::time::Duration),
    /// Asked or rated already, no such purchase, or no channel to ask on.
    Skipped,
}

/// The one place a survey goes out, for every purchase path: the chat's accrual and
/// the `NpsDue` jobs of the partner API, the till and paid orders. `now_ms` comes from
/// the ledger's clock (replaceable in tests).
pub async fn due(
    ports: &Ports<'_>,
    config: &TenantConfig,
    due: &NpsDue,
) -> Result<Survey, JobError> {
    let tenant = &due.tenant;
    let Some(store) = ports.ledger.filter(|_| config.loyalty.enabled) else {
        return Ok(Survey::Skipped);
    };
    let now_ms = store.now_ms();
    if let Some(wait) = nps::wait_for_window(&config.loyalty.nps_window, &config.timezone, now_ms) {
        return Ok(Survey::Deferred(wait));
    }
    let Some(to) = address(tenant, &due.contact) else {
        return Ok(Survey::Skipped);
    };
    let lang = Lang::pick(None, &config.default_language);
    // A WhatsApp list holds ten rows: there the scale starts at 1.
    let lowest = match to.channel {
        Channel::Telegram => 0,
        Channel::Whatsapp => 1,
    };
    let buttons: Vec<Button> = (lowest..=10u8)
        .filter_map(|score| {
            button_for(
                tenant,
                &due.contact,
                &score.to_string(),
                SCORE,
                &encode(score, &due.partner_id, &due.purchase_ref),
            )
        })
        .collect();
    if buttons.len() != usize::from(11 - lowest) {
        tracing::warn!(tenant = %tenant, partner = %due.partner_id, "NPS buttons too long; survey not sent");
        return Ok(Survey::Skipped);
    }
    let body = match ledger::execute(store, None, None, tenant, &Claim { due }).await {
        Ok(outcome) => outcome.body,
        Err(e) if e.is_refusal() || matches!(e, LoyaltyError::AlreadyRated) => {
            tracing::info!(tenant = %tenant, partner = %due.partner_id, code = e.code(), "NPS survey not due");
            return Ok(Survey::Skipped);
        }
        Err(e) => return Err(failure(e)),
    };
    let name = body["partner_name"].as_str().unwrap_or(&due.partner_id);
    let text = t::NPS_ASK.render(lang, &[("partner", &name)]);
    // Claimed before sending: a failed send loses this survey rather than risk two.
    if let Err(e) = ports
        .outbox
        .send(
            config,
            &to,
            &Reply {
                buttons,
                ..Reply::plain(text.to_string(), ReplyKind::Command)
            },
            ports.max_wait,
        )
        .await
    {
        tracing::warn!(tenant = %tenant, partner = %due.partner_id, error = %e, "NPS survey not sent");
    }
    Ok(Survey::Sent)
}

/// A message "from" `contact`, so that the outbox replies to them.
fn address(tenant: &sauda_shared::TenantId, contact: &str) -> Option<InboundMessage> {
    let (prefix, id) = contact.split_once('-')?;
    let channel = match prefix {
        "tg" => Channel::Telegram,
        "wa" => Channel::Whatsapp,
        _ => return None,
    };
    Some(InboundMessage {
        tenant: tenant.clone(),
        channel,
        contact: contact.to_owned(),
        platform_message_id: String::new(),
        timestamp_ms: 0,
        kind: MessageKind::Text,
        text: None,
        attachment: None,
        display_name: None,
        language: None,
        reply_to: id.to_owned(),
        thread_id: None,
    })
}

/// The survey after an accrual confirmed in the partner's chat (`body`: the accrual's
/// answer): sent now inside the window, else queued as an `NpsDue` job that waits for
/// it. Best effort: a survey that cannot be sent or queued is logged.
pub async fn offer(ports: &Ports<'_>, ctx: &Context, partner_id: &str, body: &serde_json::Value) {
    let tenant = &ctx.message.tenant;
    let (Some(contact), Some(purchase_ref)) =
        (body["contact_id"].as_str(), body["purchase_ref"].as_str())
    else {
        return;
    };
    let job = NpsDue {
        tenant: tenant.clone(),
        contact: contact.to_owned(),
        partner_id: partner_id.to_owned(),
        purchase_ref: purchase_ref.to_owned(),
    };
    let queued = match due(ports, &ctx.config, &job).await {
        Ok(Survey::Deferred(_)) => match ports.inbound {
            Some(queue) => nps::enqueue(queue, job).await.map_err(|e| e.to_string()),
            None => Err("no inbound queue".into()),
        },
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = queued {
        tracing::warn!(tenant = %tenant, partner = %partner_id, error = %e, "NPS survey not sent");
    }
}

/// The partner's chat and the managers.
fn recipients(partner_chat: Option<i64>) -> Vec<Recipients> {
    let mut to = vec![Recipients::Managers];
    to.extend(partner_chat.map(|chat| Recipients::Chats(vec![chat])));
    to
}

async fn tell(
    ports: &Ports<'_>,
    ctx: &Context,
    kind: &str,
    id: &str,
    partner_chat: Option<i64>,
    html: String,
) -> Result<(), JobError> {
    for to in recipients(partner_chat) {
        let whom = match &to {
            Recipients::Managers => "managers",
            _ => "partner",
        };
        let notice = Notice {
            tenant: ctx.message.tenant.clone(),
            id: notify::notice_id(&[id, whom]),
            kind: kind.into(),
            to,
            html: html.clone(),
        };
        notify::send(ports.notify, notice)
            .await
            .map_err(|e| super::transient("notify", e))?;
    }
    Ok(())
}

pub async fn answer(
    ports: &Ports<'_>,
    store: &dyn LoyaltyStore,
    ctx: &Context,
    asked: Asked,
) -> Result<Reply, JobError> {
    let lang = ctx.lang;
    let managers_lang = Lang::pick(None, &ctx.config.default_language);
    let tenant = &ctx.message.tenant;
    let id = format!("nps:{}:{}", asked.partner_id, asked.purchase_ref);
    if let Some(comment) = &asked.comment {
        let partner = ledger::get::<sauda_shared::partner::Partner>(
            store,
            &keys::partner(tenant, &asked.partner_id),
        )
        .await
        .map_err(|e| super::transient("loyalty", e))?;
        let name = partner
            .as_ref()
            .map_or(asked.partner_id.as_str(), |p| p.name.as_str());
        let html = t::NPS_COMMENT.render(
            managers_lang,
            &[
                ("score", &asked.score),
                ("partner", &escape_html(name)),
                ("comment", &escape_html(comment)),
            ],
        );
        let chat = partner.and_then(|p| p.telegram_chat_id);
        tell(
            ports,
            ctx,
            "nps_comment",
            &format!("{id}:comment"),
            chat,
            html,
        )
        .await?;
        return Ok(plain(t::NPS_THANKS.get(lang)));
    }
    let input = NpsInput {
        customer: CustomerRef::Contact(ctx.message.contact.clone()),
        purchase_ref: asked.purchase_ref.clone(),
        score: asked.score,
        comment: None,
    };
    let inner = Nps {
        scope: partner_chat::scope(ctx),
        partner_id: &asked.partner_id,
        require_active: false,
        input: &input,
    };
    let named = with_partner(keys::partner(tenant, &asked.partner_id));
    let planner = Then {
        inner: &inner,
        then: &named,
    };
    let body = match ledger::execute(store, None, None, tenant, &planner).await {
        Ok(outcome) => outcome.body,
        Err(LoyaltyError::AlreadyRated) => return Ok(plain(t::NPS_ALREADY.get(lang))),
        Err(e) if e.is_refusal() => {
            tracing::info!(tenant = %tenant, contact = %ctx.who(), code = e.code(), "NPS answer refused");
            return Ok(plain(chat_texts::STALE_BUTTON.get(lang)));
        }
        Err(e) => return Err(failure(e)),
    };
    if asked.score > LOW {
        return Ok(plain(t::NPS_THANKS.get(lang)));
    }
    let name = body["partner_name"].as_str().unwrap_or(&asked.partner_id);
    let html = t::NPS_LOW.render(
        managers_lang,
        &[
            ("score", &asked.score),
            ("partner", &escape_html(name)),
            ("purchase", &escape_html(&asked.purchase_ref)),
        ],
    );
    tell(
        ports,
        ctx,
        "nps_low",
        &id,
        body["partner_chat"].as_i64(),
        html,
    )
    .await?;
    Ok(plain(t::NPS_WHAT_WRONG.get(lang)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_buttons_carry_partner_and_purchase() {
        let pressed = Pressed {
            action: SCORE.into(),
            arg: encode(3, "tg-42", "chat-0a1b2c3d4e"),
        };
        assert_eq!(
            asked_button(&pressed),
            Some(Asked {
                partner_id: "tg-42".into(),
                purchase_ref: "chat-0a1b2c3d4e".into(),
                score: 3,
                comment: None,
            })
        );
        for arg in ["11.tg-42.x", "x.tg-42.x", "3.tg-42"] {
            let pressed = Pressed {
                action: SCORE.into(),
                arg: arg.into(),
            };
            assert_eq!(asked_button(&pressed), None, "{arg}");
        }
    }
}
