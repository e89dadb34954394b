//! The managers' inbox: one row per conversation (`T#{t}#C#{cid}` / `CONV`), listed
//! most recent first through GSI1 (`T#{t}#CONVS` / `{last_activity_ms:013}#{cid}`),
//! and the jobs that let managers answer from their own Telegram chat.
//!
//! The row is written in the same writes that store a conversation's messages:
//! agent-reply's record transaction (every inbound message it handles, with its reply)
//! and the notifier's outbound transaction (every customer message it sends). The
//! webhook does not write it (its hot path stays at one write per message), so an
//! inbound message reaches the row when agent-reply handles it, normally within
//! seconds; while agent-reply is down the inbox lags by its queue, never loses a row.
//!
//! One GSI partition per tenant: a tenant's conversations change far below the
//! 1,000 writes per second a partition takes, and one partition keeps listing one Query.

use crate::funnel::Stage;
use crate::keys;
use crate::message::{Channel, Direction};
use crate::outbox::Author;
use crate::plan::Update;
use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};

/// Characters of the last message kept on the row.
pub const PREVIEW_CHARS: usize = 200;
/// Messages a thread card shows.
pub const THREAD_MESSAGES: usize = 5;
/// A card keeps answering replies this long (Telegram keeps the chat forever).
pub const CARD_TTL_S: i64 = 180 * 24 * 3600;

/// The conversation's row, as stored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(default)]
    pub contact: String,
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub reply_to: Option<String>,
    #[serde(default)]
    pub last_activity_ms: i64,
    #[serde(default)]
    pub last_preview: Option<String>,
    #[serde(default)]
    pub last_direction: Option<Direction>,
    /// `customer`, `agent`, `fallback`, `manager` or `system`.
    #[serde(default)]
    pub last_author: Option<String>,
    #[serde(default)]
    pub last_author_name: Option<String>,
    #[serde(default)]
    pub last_inbound_ms: Option<i64>,
    /// The customer wrote last and nobody (agent or manager) answered yet.
    #[serde(default)]
    pub needs_reply: bool,
    /// Customer messages since the managers last marked the conversation read.
    #[serde(default)]
    pub unread: i64,
    #[serde(default)]
    pub read_at_ms: Option<i64>,
    /// The agent handed the customer to a person; cleared when the agent resumes.
    #[serde(default)]
    pub handed_off: bool,
    #[serde(default)]
    pub agent_paused: bool,
    #[serde(default)]
    pub assignee_chat_id: Option<i64>,
    #[serde(default)]
    pub assignee_name: Option<String>,
    /// The lead's stage when the row was last written (the listing reads the profile's).
    #[serde(default)]
    pub stage: Option<Stage>,
}

pub fn key(tenant: &TenantId, contact: &str) -> (String, String) {
    (
        keys::contact_pk(tenant, contact),
        keys::CONVERSATION_SK.to_owned(),
    )
}

/// The author's kind as the row and the transcript name it.
pub fn author_kind(author: &Author) -> &'static str {
    match author {
        Author::Agent => "agent",
        Author::Fallback => "fallback",
        Author::Manager { .. } => "manager",
        Author::System { .. } => "system",
    }
}

fn author_name(author: &Author) -> Option<&str> {
    match author {
        Author::Manager { name, .. } => Some(name),
        Author::System { kind } => Some(kind),
        _ => None,
    }
}

/// The first [`PREVIEW_CHARS`] characters, on one line.
pub fn preview(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= PREVIEW_CHARS {
        return flat;
    }
    let mut cut: String = flat.chars().take(PREVIEW_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// A customer message the row takes in.
#[derive(Clone, Debug)]
pub struct Seen<'a> {
    pub at_ms: i64,
    /// The newest customer message's time (the WhatsApp window runs from it).
    pub last_inbound_ms: i64,
    pub preview: &'a str,
}

/// A message sent to the customer.
#[derive(Clone, Debug)]
pub struct Said<'a> {
    pub at_ms: i64,
    pub preview: &'a str,
    pub author: &'a Author,
}

/// What happened in a conversation, for its row.
#[derive(Clone, Debug)]
pub struct Activity<'a> {
    pub tenant: &'a TenantId,
    pub contact: &'a str,
    pub channel: Channel,
    pub reply_to: &'a str,
    pub display_name: Option<&'a str>,
    pub stage: Option<Stage>,
    pub inbound: Option<Seen<'a>>,
    pub outbound: Option<Said<'a>>,
    /// The agent handed the customer to a manager (pauses the agent too).
    pub handoff: bool,
    /// The agent was paused (`true`) or resumed (`false`).
    pub pause: Option<bool>,
}

fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Telegram => "telegram",
        Channel::Whatsapp => "whatsapp",
    }
}

/// The row's update for `a`: an upsert (`SET`/`ADD` only, no condition), so it can ride
/// in any transaction without ever failing it. The newest write wins the "last
/// message" fields; two writers racing over one conversation within milliseconds may
/// leave the older of two messages shown until the next one.
pub fn index_update(a: &Activity) -> Update {
    let mut u = Update::new(key(a.tenant, a.contact))
        .set("contact", a.contact)
        .set("channel", channel_name(a.channel))
        .set("reply_to", a.reply_to)
        .set_opt("display_name", a.display_name)
        .set_opt("stage", a.stage.map(|s| s.as_str()));
    let mut last: Option<(i64, Direction, String, &'static str, Option<&str>)> = None;
    let mut needs_reply = None;
    if let Some(seen) = &a.inbound {
        u = u
            .add("unread", 1)
            .set("last_inbound_ms", seen.last_inbound_ms);
        needs_reply = Some(true);
        last = Some((
            seen.at_ms,
            Direction::In,
            preview(seen.preview),
            "customer",
            None,
        ));
    }
    if let Some(said) = &a.outbound {
        if !matches!(said.author, Author::System { .. }) {
            // Somebody answered; a receipt or reminder leaves the question open.
            needs_reply = Some(false);
        }
        if last.as_ref().is_none_or(|(at, ..)| said.at_ms >= *at) {
            last = Some((
                said.at_ms,
                Direction::Out,
                preview(said.preview),
                author_kind(said.author),
                author_name(said.author),
            ));
        }
    }
    u = u.set_opt("needs_reply", needs_reply);
    if let Some((at, direction, text, kind, name)) = last {
        u = u
            .set("last_activity_ms", at)
            .set("last_preview", text)
            .set("last_direction", direction.as_str())
            .set("last_author", kind)
            .set(
                "last_author_name",
                name.map(str::to_owned).unwrap_or_default(),
            )
            .set("GSI1PK", keys::conversations_gsi(a.tenant))
            .set("GSI1SK", keys::conversations_gsi_sk(at, a.contact));
    }
    // One SET per attribute: DynamoDB refuses overlapping paths in one update.
    match (a.handoff, a.pause) {
        (_, Some(false)) => u.set("agent_paused", false).set("handed_off", false),
        (true, _) => u.set("handed_off", true).set("agent_paused", true),
        (false, Some(true)) => u.set("agent_paused", true),
        (false, None) => u,
    }
}

/// The profile side of a pause or resume (agent-reply reads `agent_paused` there).
pub fn profile_pause(
    tenant: &TenantId,
    contact: &str,
    paused: bool,
    reason: &str,
    now_ms: i64,
) -> Update {
    let u = Update::new(crate::contact::ContactProfile::key(tenant, contact));
    if paused {
        u.set("agent_paused", true)
            .set("agent_paused_reason", reason)
            .set("agent_paused_at_ms", now_ms)
    } else {
        u.set("agent_paused", false)
            .remove("agent_paused_reason")
            .set("agent_resumed_at_ms", now_ms)
    }
}

/// A card a manager's chat got: the reply to it answers this conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub contact: String,
    pub chat_id: i64,
    pub message_id: i64,
    /// The notice it came from.
    pub notice_id: String,
    pub expires_at: i64,
}

impl CardItem {
    pub fn new(
        tenant: &TenantId,
        chat_id: i64,
        message_id: i64,
        contact: &str,
        notice_id: &str,
        now_ms: i64,
    ) -> Self {
        let (pk, sk) = keys::manager_card(tenant, chat_id, message_id);
        Self {
            pk,
            sk,
            contact: contact.to_owned(),
            chat_id,
            message_id,
            notice_id: notice_id.to_owned(),
            expires_at: now_ms / 1000 + CARD_TTL_S,
        }
    }
}

/// A message in a manager's Telegram chat with the tenant's bot, routed by the webhook
/// to the notifier instead of the agent: a reply to a card answers the customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagerUpdate {
    pub tenant: TenantId,
    pub chat_id: i64,
    pub message_id: i64,
    /// The card (bot message) the manager replied to.
    #[serde(default)]
    pub replying_to: Option<i64>,
    #[serde(default)]
    pub text: Option<String>,
    /// A photo the manager sent (Telegram `file_id` of the largest size).
    #[serde(default)]
    pub photo_file_id: Option<String>,
    /// The Telegram name of who wrote (managers' group chats have several people).
    #[serde(default)]
    pub sender_name: Option<String>,
    pub at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{SetValue, Val};

    fn sets(u: &Update, attr: &str) -> Option<Val> {
        u.set.iter().find(|(a, _)| a == attr).map(|(_, v)| match v {
            SetValue::Always(v) | SetValue::IfAbsent(v) => v.clone(),
        })
    }

    fn activity<'a>(t: &'a TenantId) -> Activity<'a> {
        Activity {
            tenant: t,
            contact: "tg-1",
            channel: Channel::Telegram,
            reply_to: "1",
            display_name: Some("Aida"),
            stage: Some(Stage::Offer),
            inbound: None,
            outbound: None,
            handoff: false,
            pause: None,
        }
    }

    #[test]
    fn a_customer_message_answered_by_the_agent() {
        let t = TenantId::parse("acme").unwrap();
        let agent = Author::Agent;
        let u = index_update(&Activity {
            inbound: Some(Seen {
                at_ms: 1_000,
                last_inbound_ms: 1_000,
                preview: "сколько стоит?",
            }),
            outbound: Some(Said {
                at_ms: 2_000,
                preview: "12 500 ₸",
                author: &agent,
            }),
            ..activity(&t)
        });
        assert_eq!(u.key, ("T#acme#C#tg-1".to_owned(), "CONV".to_owned()));
        assert!(u.cond.is_none(), "an upsert never fails a transaction");
        assert_eq!(u.add, [("unread".to_owned(), Val::N(1))]);
        assert_eq!(sets(&u, "needs_reply"), Some(Val::Bool(false)));
        assert_eq!(sets(&u, "last_preview"), Some(Val::from("12 500 ₸")));
        assert_eq!(sets(&u, "last_author"), Some(Val::from("agent")));
        assert_eq!(sets(&u, "GSI1SK"), Some(Val::from("0000000002000#tg-1")));
        assert_eq!(sets(&u, "stage"), Some(Val::from("offer")));
    }

    #[test]
    fn an_unanswered_message_needs_a_reply_and_a_receipt_does_not_answer_it() {
        let t = TenantId::parse("acme").unwrap();
        let u = index_update(&Activity {
            inbound: Some(Seen {
                at_ms: 1_000,
                last_inbound_ms: 1_000,
                preview: "алло",
            }),
            handoff: true,
            ..activity(&t)
        });
        assert_eq!(sets(&u, "needs_reply"), Some(Val::Bool(true)));
        assert_eq!(sets(&u, "agent_paused"), Some(Val::Bool(true)));
        assert_eq!(sets(&u, "handed_off"), Some(Val::Bool(true)));
        let receipt = Author::System {
            kind: "receipt".into(),
        };
        let u = index_update(&Activity {
            outbound: Some(Said {
                at_ms: 3_000,
                preview: "Оплачено",
                author: &receipt,
            }),
            ..activity(&t)
        });
        assert_eq!(sets(&u, "needs_reply"), None);
        assert_eq!(sets(&u, "last_author_name"), Some(Val::from("receipt")));
        let u = index_update(&Activity {
            pause: Some(false),
            ..activity(&t)
        });
        assert_eq!(sets(&u, "agent_paused"), Some(Val::Bool(false)));
        assert_eq!(sets(&u, "GSI1SK"), None, "a resume is no activity");
    }

    #[test]
    fn previews_are_short_and_flat() {
        assert_eq!(preview("a\n\nb  c"), "a b c");
        let long = preview(&"я".repeat(500));
        assert_eq!(long.chars().count(), PREVIEW_CHARS);
        assert!(long.ends_with('…'));
    }
}
