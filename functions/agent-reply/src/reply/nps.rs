//! NPS in chat: after a purchase at a partner (an accrual confirmed in the partner's
//! chat), the customer gets one 0-10 survey on their channel (Telegram buttons, a
//! WhatsApp list), during the day in the tenant's time zone. The score is recorded per
//! partner through loyalty's NPS (once per purchase: the purchase keeps its score); a
//! score of 6 or less tells the partner and the managers, and asks what went wrong: the
//! customer's next text within [`COMMENT_WINDOW_MS`] goes to them as the comment.
//!
//! No state of its own: the score button is signed data carrying the partner and the
//! purchase, and a comment is recognised from the conversation history the job already
//! read (our "what went wrong?" answer to a low score's button, just before it).

use super::compose::{Reply, ReplyKind};
use super::load::Context;
use super::partner_chat::{
    self, addressed_to, button_for, failure, plain, with_partner, Ports, Then,
};
use super::JobError;
use crate::conversation::Stored;
use loyalty::error::LoyaltyError;
use loyalty::input::CustomerRef;
use loyalty::ops::{Nps, NpsInput};
use loyalty::store::{self as ledger, LoyaltyStore};
use sauda_shared::chat::{self, Pressed};
use sauda_shared::i18n::{chat as chat_texts, partner_chat as t, Lang};
use sauda_shared::keys;
use sauda_shared::message::{Channel, Direction, MessageKind};
use sauda_shared::notify::{self, Notice, Recipients};
use sauda_shared::outbox::Button;
use sauda_shared::telegram_api::escape_html;

const SCORE: &str = "n";
/// How long after "what went wrong?" a text counts as the comment.
pub const COMMENT_WINDOW_MS: i64 = 30 * 60 * 1000;
/// Surveys go out between these local hours; outside them none is sent.
pub const DAY_FROM_HOUR: i8 = 9;
pub const DAY_TO_HOUR: i8 = 21;
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

/// Whether a survey may go out now: during the day in the tenant's time zone.
pub fn daytime(timezone: &str, now_ms: i64) -> bool {
    let Ok(tz) = jiff::tz::TimeZone::get(timezone) else {
        return false;
    };
    let Ok(at) = jiff::Timestamp::from_millisecond(now_ms) else {
        return false;
    };
    let hour = at.to_zoned(tz).hour();
    (DAY_FROM_HOUR..DAY_TO_HOUR).contains(&hour)
}

/// The survey after an accrual (`body`: the accrual's answer). Best effort: a survey that
/// cannot be sent is logged; the purchase stays rateable by a later survey.
pub async fn offer(ports: &Ports<'_>, ctx: &Context, partner_id: &str, body: &serde_json::Value) {
    let tenant = &ctx.message.tenant;
    let (Some(contact), Some(purchase_ref)) =
        (body["contact_id"].as_str(), body["purchase_ref"].as_str())
    else {
        return;
    };
    if !daytime(&ctx.config.timezone, ctx.now_ms) {
        tracing::info!(tenant = %tenant, partner = %partner_id, "NPS survey not sent at night");
        return;
    }
    let Some(to) = addressed_to(ctx, contact) else {
        return;
    };
    let lang = Lang::pick(None, &ctx.config.default_language);
    let name = body["partner_name"].as_str().unwrap_or(partner_id);
    // A WhatsApp list holds ten rows: there the scale starts at 1.
    let lowest = match to.channel {
        Channel::Telegram => 0,
        Channel::Whatsapp => 1,
    };
    let buttons: Vec<Button> = (lowest..=10u8)
        .filter_map(|score| {
            button_for(
                tenant,
                contact,
                &score.to_string(),
                SCORE,
                &encode(score, partner_id, purchase_ref),
            )
        })
        .collect();
    if buttons.len() != usize::from(11 - lowest) {
        tracing::warn!(tenant = %tenant, partner = %partner_id, "NPS buttons too long; survey not sent");
        return;
    }
    let text = t::NPS_ASK.render(lang, &[("partner", &name)]);
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

    #[test]
    fn surveys_only_during_the_day() {
        // 2026-01-15 12:00 UTC: 17:00 in Almaty (UTC+5), 04:00 in Los Angeles.
        let noon_utc = 1_768_478_400_000;
        assert!(daytime("Asia/Almaty", noon_utc));
        assert!(!daytime("America/Los_Angeles", noon_utc));
        assert!(!daytime("Mars/Olympus", noon_utc));
    }
}
