//! The conversation as the agent reads it: the contact profile (the one shared
//! `contact::ContactProfile`) and the newest messages, with the rules that only need
//! them: the reply states, the per-customer rate window and what the customer said.

use sauda_shared::contact::ContactProfile;
use sauda_shared::message::{Attachment, Direction, MessageKind};
use serde::Deserialize;

/// Messages read with the profile (one Query of `HISTORY + 1` items).
pub const HISTORY: usize = 20;

/// A stored message as the agent reads it (`message::MessageItem` plus its reply state).
#[derive(Clone, Debug, Deserialize)]
pub struct Stored {
    #[serde(rename = "SK")]
    pub sk: String,
    pub direction: Direction,
    pub timestamp_ms: i64,
    #[serde(default)]
    pub kind: Option<MessageKind>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub attachment: Option<Attachment>,
    #[serde(default)]
    pub stored_at_ms: Option<i64>,
    /// Set on inbound messages once they are handled: `replied`, `fallback`, ...
    #[serde(default)]
    pub reply_state: Option<String>,
    /// Set on outbound messages: `llm`, `fallback`, `rate_limit_notice`.
    #[serde(default)]
    pub reply_kind: Option<String>,
    /// The webhook's clamp of a future-dated platform time (see `MessageItem::order_ms`).
    #[serde(default)]
    pub order_ms: Option<i64>,
}

impl Stored {
    /// Position in the conversation: its time as clamped on arrival, then its key.
    pub fn order(&self) -> (i64, &str) {
        (self.order_ms.unwrap_or(self.timestamp_ms), &self.sk)
    }
}

#[derive(Clone, Debug, Default)]
pub struct Conversation {
    pub profile: Option<ContactProfile>,
    /// Newest first, at most [`HISTORY`].
    pub messages: Vec<Stored>,
}

/// What a job decided about one inbound message; stored on it so that a redelivery
/// sees it was handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyState {
    /// Answered by the model.
    Replied,
    /// Answered from retrieval alone (no model, model failed, budget spent).
    Fallback,
    /// Over the rate limit: told once per minute to slow down.
    RateLimitNotice,
    /// Over the rate limit, notice already sent this minute: no reply.
    RateLimited,
    /// A manager has the conversation: the agent stays silent.
    Paused,
    /// A newer message of the customer was waiting; that one gets the answer.
    Superseded,
    /// WhatsApp's 24-hour window had closed: nothing may be sent.
    OutsideWindow,
    /// The platform refused the reply for good (bot blocked, number invalid).
    Undeliverable,
    /// The tenant has no credentials for this channel.
    ChannelNotConfigured,
    /// The tenant switched the agent off.
    AgentDisabled,
    /// A command or button, answered without a model.
    Command,
}

impl ReplyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replied => "replied",
            Self::Fallback => "fallback",
            Self::RateLimitNotice => "rate_limit_notice",
            Self::RateLimited => "rate_limited",
            Self::Paused => "paused",
            Self::Superseded => "superseded",
            Self::OutsideWindow => "outside_window",
            Self::Undeliverable => "undeliverable",
            Self::ChannelNotConfigured => "channel_not_configured",
            Self::AgentDisabled => "agent_disabled",
            Self::Command => "command",
        }
    }
}

/// Sliding-window rate (Cloudflare's approximation): this minute's count plus the
/// previous minute's, weighted by how much of it still overlaps the last 60 s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateWindow {
    pub window: i64,
    pub count: i64,
    pub previous: i64,
}

impl RateWindow {
    /// The window after one more message at `ts_ms`.
    pub fn after(profile: Option<&ContactProfile>, ts_ms: i64) -> Self {
        let window = ts_ms.div_euclid(60_000);
        let (stored_window, count, prev) = profile
            .map(|p| {
                (
                    p.rl_window.unwrap_or(i64::MIN),
                    p.rl_count.unwrap_or(0),
                    p.rl_prev.unwrap_or(0),
                )
            })
            .unwrap_or((i64::MIN, 0, 0));
        if stored_window == window {
            Self {
                window,
                count: count + 1,
                previous: prev,
            }
        } else if stored_window == window - 1 {
            Self {
                window,
                count: 1,
                previous: count,
            }
        } else if stored_window > window {
            // An older message processed late: count it in the newer window.
            Self {
                window: stored_window,
                count: count + 1,
                previous: prev,
            }
        } else {
            Self {
                window,
                count: 1,
                previous: 0,
            }
        }
    }

    /// Messages in the 60 s up to `ts_ms`, estimated.
    pub fn rate(&self, ts_ms: i64) -> f64 {
        let elapsed = (ts_ms.rem_euclid(60_000)) as f64 / 60_000.0;
        let overlap = if ts_ms.div_euclid(60_000) == self.window {
            1.0 - elapsed
        } else {
            0.0
        };
        self.count as f64 + self.previous as f64 * overlap
    }
}

/// Text shown to the model (and searched) for a message, whatever its kind. The notes
/// about attachments are for the model, in English; people never read them.
pub fn message_text(text: Option<&str>, attachment: Option<&Attachment>) -> String {
    let text = text.map(str::trim).filter(|t| !t.is_empty());
    let note = attachment.map(|a| match a {
        Attachment::Voice { duration_s, .. } => format!(
            "[voice message{} that cannot be listened to: ask the customer to write in text]",
            duration_s.map(|d| format!(", {d} s")).unwrap_or_default()
        ),
        Attachment::Photo { .. } => "[photo that cannot be viewed]".to_owned(),
        Attachment::Contact { phone, name, .. } => format!(
            "[shared a contact: {}{phone}]",
            name.as_deref()
                .map(|n| format!("{n}, "))
                .unwrap_or_default()
        ),
        Attachment::Location {
            latitude,
            longitude,
        } => format!("[shared a location: {latitude}, {longitude}]"),
    });
    match (text, note) {
        (Some(t), Some(n)) => format!("{n} {t}"),
        (Some(t), None) => t.to_owned(),
        (None, Some(n)) => n,
        (None, None) => "[an unsupported message]".to_owned(),
    }
}

impl Conversation {
    /// What the customer wrote since our last reply, oldest first, ending with
    /// `current`: messages superseded by a newer one in the same burst are answered
    /// together with it (a question, then a voice note, is still a question).
    pub fn unanswered_words(&self, inbound_sk: &str, current: Option<&str>) -> String {
        let mut words: Vec<&str> = self
            .messages
            .iter()
            .filter(|m| m.sk.as_str() < inbound_sk)
            .take_while(|m| m.direction == Direction::In)
            .filter_map(|m| m.text.as_deref())
            .collect();
        words.reverse();
        words.extend(current);
        let joined = words
            .iter()
            .map(|w| w.trim())
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        joined.chars().take(4_000).collect()
    }

    /// The newest inbound message's time, counting `ts_ms` (the one being handled).
    pub fn last_customer_ms(&self, ts_ms: i64) -> i64 {
        self.messages
            .iter()
            .filter(|m| m.direction == Direction::In)
            .map(|m| m.timestamp_ms)
            .fold(ts_ms, i64::max)
    }

    /// When the customer wrote before `inbound_sk` (from the profile, or the history).
    pub fn previous_inbound_ms(&self, inbound_sk: &str, ts_ms: i64) -> Option<i64> {
        self.profile
            .as_ref()
            .and_then(|p| p.last_inbound_ms)
            .filter(|p| *p < ts_ms)
            .or_else(|| {
                self.messages
                    .iter()
                    .filter(|m| m.direction == Direction::In && m.sk.as_str() < inbound_sk)
                    .map(|m| m.timestamp_ms)
                    .max()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(w: RateWindow) -> ContactProfile {
        ContactProfile {
            rl_window: Some(w.window),
            rl_count: Some(w.count),
            rl_prev: Some(w.previous),
            ..Default::default()
        }
    }

    #[test]
    fn sliding_window_counts_the_last_minute() {
        let start = 1_795_552_200_000; // a whole minute
        let mut w = RateWindow::after(None, start);
        for i in 1..30 {
            w = RateWindow::after(Some(&profile(w)), start + i * 1_000);
        }
        assert_eq!(w.count, 30);
        assert!((w.rate(start + 29_000) - 30.0).abs() < 1e-9);
        // 30 s into the next minute, half of the previous minute still counts.
        let next = RateWindow::after(Some(&profile(w)), start + 90_000);
        assert_eq!((next.count, next.previous), (1, 30));
        assert!((next.rate(start + 90_000) - 16.0).abs() < 1e-9);
        // Two minutes of silence clear it.
        let later = RateWindow::after(Some(&profile(next)), start + 240_000);
        assert_eq!((later.count, later.previous), (1, 0));
    }

    fn stored(sk: &str, direction: Direction, text: &str) -> Stored {
        Stored {
            sk: sk.into(),
            direction,
            timestamp_ms: 0,
            kind: None,
            text: Some(text.into()),
            attachment: None,
            stored_at_ms: None,
            reply_state: None,
            reply_kind: None,
            order_ms: None,
        }
    }

    #[test]
    fn unanswered_words_stop_at_our_last_reply() {
        let conv = Conversation {
            profile: None,
            messages: vec![
                stored("MSG#4", Direction::In, "voice"),
                stored("MSG#3", Direction::In, "сколько стоит?"),
                stored("MSG#2", Direction::Out, "здравствуйте"),
                stored("MSG#1", Direction::In, "привет"),
            ],
        };
        assert_eq!(
            conv.unanswered_words("MSG#4", None),
            "сколько стоит?",
            "a voice note carries the question before it"
        );
        assert_eq!(conv.unanswered_words("MSG#3", Some("ещё")), "ещё");
    }
}
