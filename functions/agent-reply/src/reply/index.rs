//! The conversation's row in the managers' inbox (`sauda_shared::inbox`), written in
//! the job's one transaction: the customer's message (unread, needs a reply), the
//! agent's answer when one went out, and a handoff.

use super::load::Context;
use super::record::Outcome;
use crate::reply::compose::ReplyKind;
use sauda_shared::inbox::{self, Activity, Said, Seen};
use sauda_shared::message::Attachment;
use sauda_shared::outbox::Author;
use sauda_shared::plan::Update;

/// What a manager's list shows of a message without text.
fn preview(ctx: &Context) -> String {
    let m = &ctx.message;
    let text = m.text.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let icon = m.attachment.as_ref().map(|a| match a {
        Attachment::Voice { .. } => "🎤",
        Attachment::Photo { .. } => "📷",
        Attachment::Contact { .. } => "👤",
        Attachment::Location { .. } => "📍",
    });
    match (icon, text) {
        (Some(i), Some(t)) => format!("{i} {t}"),
        (Some(i), None) => i.to_owned(),
        (None, Some(t)) => t.to_owned(),
        (None, None) => "…".to_owned(),
    }
}

/// The row's update for this job (an upsert that never fails the transaction).
pub fn row(ctx: &Context, outcome: &Outcome) -> Update {
    let m = &ctx.message;
    let profile = ctx.conv.profile.as_ref();
    let last_inbound = profile
        .and_then(|p| p.last_inbound_ms)
        .unwrap_or(m.timestamp_ms)
        .max(m.timestamp_ms);
    let seen = preview(ctx);
    let author = match outcome.reply.map(|r| r.kind) {
        Some(ReplyKind::Fallback) => Author::Fallback,
        _ => Author::Agent,
    };
    let said = match (outcome.reply, &outcome.delivered.sent) {
        (Some(reply), Some(sent)) => Some((reply.text.as_str(), sent.sent_ms)),
        _ => None,
    };
    inbox::index_update(&Activity {
        tenant: &m.tenant,
        contact: &m.contact,
        channel: m.channel,
        reply_to: &m.reply_to,
        display_name: m.display_name.as_deref(),
        stage: profile.and_then(|p| p.stage),
        inbound: Some(Seen {
            at_ms: m.timestamp_ms.min(ctx.now_ms),
            last_inbound_ms: last_inbound,
            preview: &seen,
        }),
        outbound: said.map(|(text, at_ms)| Said {
            at_ms,
            preview: text,
            author: &author,
        }),
        handoff: outcome.reply.is_some_and(|r| r.handoff.is_some()),
        pause: None,
    })
}
