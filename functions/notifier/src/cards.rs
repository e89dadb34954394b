//! What managers read in their Telegram chat about a conversation (HTML, in the
//! tenant's language): the thread card's recent messages, who the customer is, and why
//! a message did not go out, in plain words.

use crate::store::LeadSummary;
use sauda_shared::contact::{self, ContactProfile};
use sauda_shared::i18n::{inbox as t, Lang};
use sauda_shared::inbox;
use sauda_shared::message::{Direction, MessageItem};
use sauda_shared::outbox::Author;
use sauda_shared::telegram_api::escape_html;
use sauda_shared::tenant::TenantConfig;
use sauda_shared::whatsapp_api;

/// Characters of one message a card shows.
const LINE_CHARS: usize = 300;

/// Managers read the tenant's default language.
pub fn lang(config: &TenantConfig) -> Lang {
    Lang::pick(None, &config.default_language)
}

/// The customer as a manager sees them: name and a link to the chat.
pub fn customer(lang: Lang, profile: Option<&ContactProfile>, contact_id: &str) -> String {
    let name = profile
        .and_then(|p| p.display_name.as_deref())
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| t::CUSTOMER.get(lang));
    match contact::conversation_link(contact_id) {
        Some(link) => format!(
            "{} (<a href=\"{}\">{}</a>)",
            escape_html(name),
            escape_html(&link),
            escape_html(contact_id)
        ),
        None => format!("{} ({})", escape_html(name), escape_html(contact_id)),
    }
}

fn cut(text: &str) -> String {
    let flat = inbox::preview(text);
    if flat.chars().count() <= LINE_CHARS {
        flat
    } else {
        flat.chars().take(LINE_CHARS).collect()
    }
}

/// One message of the thread: who (an emoji, a manager's name) and what.
fn line(m: &MessageItem) -> String {
    let text = escape_html(&cut(m.text.as_deref().unwrap_or("…")));
    match (m.direction, &m.author) {
        (Direction::In, _) => format!("👤 {text}"),
        (Direction::Out, Some(Author::Manager { name, .. })) => {
            format!("👩‍💼 <b>{}</b>: {text}", escape_html(name))
        }
        (Direction::Out, Some(Author::System { .. })) => format!("⚙️ {text}"),
        (Direction::Out, _) => format!("🤖 {text}"),
    }
}

/// A notice made into a thread card: the notice, the latest messages (oldest first)
/// unless it forwards one message itself, and how to answer.
pub fn thread_card(lang: Lang, html: &str, newest_first: &[MessageItem], history: bool) -> String {
    let mut card = html.trim_end().to_owned();
    if history && !newest_first.is_empty() {
        card.push_str("\n\n<i>");
        card.push_str(t::RECENT.get(lang));
        card.push_str("</i>");
        for m in newest_first.iter().rev() {
            card.push('\n');
            card.push_str(&line(m));
        }
    }
    card.push_str("\n\n<i>");
    card.push_str(t::REPLY_HINT.get(lang));
    card.push_str("</i>");
    card
}

fn date(config: &TenantConfig, ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|ts| ts.to_zoned(config.zone()).strftime("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// `/who`: the profile and the lead.
pub fn who(
    config: &TenantConfig,
    contact_id: &str,
    profile: Option<&ContactProfile>,
    lead: Option<&LeadSummary>,
) -> String {
    let lang = lang(config);
    let mut lines = vec![format!("<b>{}</b>", customer(lang, profile, contact_id))];
    let field = |label: &sauda_shared::i18n::Text, value: &str| {
        format!("{}: {}", label.get(lang), escape_html(value))
    };
    if let Some(p) = profile {
        if let Some(channel) = p.channel {
            let name = match channel {
                sauda_shared::message::Channel::Telegram => "Telegram",
                sauda_shared::message::Channel::Whatsapp => "WhatsApp",
            };
            lines.push(field(&t::WHO_CHANNEL, name));
        }
        if let Some(language) = &p.language {
            lines.push(field(&t::WHO_LANGUAGE, language));
        }
        if let Some(first) = p.first_seen_ms {
            lines.push(field(&t::WHO_SINCE, &date(config, first)));
        }
    }
    match lead {
        Some(lead) => {
            let stage = lead
                .stage
                .clone()
                .or_else(|| profile.and_then(|p| p.stage.map(|s| s.as_str().to_owned())));
            for (label, value) in [
                (&t::WHO_STAGE, stage),
                (&t::WHO_PHONE, lead.phone.clone()),
                (&t::WHO_EMAIL, lead.email.clone()),
                (&t::WHO_INTEREST, lead.interest.clone()),
            ] {
                if let Some(value) = value.filter(|v| !v.is_empty()) {
                    lines.push(field(label, &value));
                }
            }
        }
        None => lines.push(t::WHO_NO_LEAD.get(lang).to_owned()),
    }
    let paused = profile.is_some_and(|p| p.agent_paused);
    lines.push(
        if paused {
            &t::WHO_AGENT_PAUSED
        } else {
            &t::WHO_AGENT_ACTIVE
        }
        .get(lang)
        .to_owned(),
    );
    lines.join("\n")
}

/// Why a customer message did not go out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotSent {
    /// WhatsApp's 24-hour window is closed and the message is not a template.
    Window,
    /// Longer than WhatsApp's 4,096 characters.
    TooLong,
    TemplateOnTelegram,
    NotConfigured,
    /// A photo from Telegram could not be passed on to WhatsApp.
    Photo,
    /// The customer blocked the bot, or the number cannot get messages.
    Blocked {
        platform: &'static str,
        detail: String,
    },
    /// One of Meta's template errors (132xxx).
    Template {
        code: i64,
        detail: String,
    },
    Refused {
        platform: &'static str,
        code: i64,
        detail: String,
    },
}

impl NotSent {
    /// The code stored on the message (`delivery_error_code`): the platform's, or 0.
    pub fn code(&self) -> i64 {
        match self {
            NotSent::Window => whatsapp_api::CODE_OUTSIDE_WINDOW,
            NotSent::Template { code, .. } | NotSent::Refused { code, .. } => *code,
            _ => 0,
        }
    }

    /// A stable name of the reason (`delivery_error_title`, the API's transcript).
    pub fn name(&self) -> &'static str {
        match self {
            NotSent::Window => "window_closed",
            NotSent::TooLong => "text_too_long",
            NotSent::TemplateOnTelegram => "template_on_telegram",
            NotSent::NotConfigured => "channel_not_configured",
            NotSent::Photo => "photo_not_passed_on",
            NotSent::Blocked { .. } => "undeliverable",
            NotSent::Template { .. } => "template_refused",
            NotSent::Refused { .. } => "refused",
        }
    }

    /// A failed WhatsApp status's code and title, in the same terms.
    pub fn from_whatsapp(code: i64, detail: &str) -> Self {
        if code == whatsapp_api::CODE_OUTSIDE_WINDOW {
            NotSent::Window
        } else if whatsapp_api::is_template_error(code) {
            NotSent::Template {
                code,
                detail: detail.to_owned(),
            }
        } else if matches!(code, 131_026 | 131_030) {
            // Not a WhatsApp user / not on the allowed list.
            NotSent::Blocked {
                platform: "WhatsApp",
                detail: detail.to_owned(),
            }
        } else {
            NotSent::Refused {
                platform: "WhatsApp",
                code,
                detail: detail.to_owned(),
            }
        }
    }

    /// The reason in plain words (HTML-escaped).
    pub fn reason(&self, lang: Lang) -> String {
        let detail = |d: &str| escape_html(&cut(d));
        match self {
            NotSent::Window => t::REASON_WINDOW.get(lang).to_owned(),
            NotSent::TooLong => t::REASON_TOO_LONG.get(lang).to_owned(),
            NotSent::TemplateOnTelegram => t::REASON_TEMPLATE_ON_TELEGRAM.get(lang).to_owned(),
            NotSent::NotConfigured => t::REASON_NOT_CONFIGURED.get(lang).to_owned(),
            NotSent::Photo => t::REASON_PHOTO.get(lang).to_owned(),
            NotSent::Blocked {
                platform,
                detail: d,
            } => t::REASON_BLOCKED.render(lang, &[("platform", platform), ("detail", &detail(d))]),
            NotSent::Template { code, detail: d } => match t::template_error(*code) {
                Some(text) => text.get(lang).to_owned(),
                None => t::TEMPLATE_OTHER.render(lang, &[("code", code), ("detail", &detail(d))]),
            },
            NotSent::Refused {
                platform,
                code,
                detail: d,
            } => t::REFUSED.render(
                lang,
                &[
                    ("platform", platform),
                    ("code", code),
                    ("detail", &detail(d)),
                ],
            ),
        }
    }
}

/// The notice that tells managers a message did not go out.
pub fn not_sent(lang: Lang, customer: &str, reason: &str, text: &str) -> String {
    t::NOT_SENT.render(
        lang,
        &[
            ("customer", &customer),
            ("reason", &reason),
            ("text", &escape_html(&cut(text))),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sauda_shared::message::{Channel, DeliveryState};

    fn config(lang: &str) -> TenantConfig {
        let mut c = TenantConfig::new(sauda_shared::TenantId::parse("acme").unwrap(), "Acme");
        c.default_language = lang.into();
        c
    }

    fn message(direction: Direction, text: &str, author: Option<Author>) -> MessageItem {
        MessageItem {
            pk: "p".into(),
            sk: "s".into(),
            direction,
            channel: Channel::Telegram,
            contact: "tg-1".into(),
            platform_message_id: "1".into(),
            timestamp_ms: 1,
            kind: None,
            text: Some(text.into()),
            attachment: None,
            display_name: None,
            language: None,
            in_reply_to: None,
            delivery_state: Some(DeliveryState::Sent),
            delivery_rank: None,
            delivery_error_code: None,
            delivery_error_title: None,
            author,
            stored_at_ms: 1,
            order_ms: None,
        }
    }

    #[test]
    fn a_card_shows_the_thread_oldest_first_and_how_to_answer() {
        let newest_first = vec![
            message(
                Direction::Out,
                "Здравствуйте!",
                Some(Author::Manager {
                    name: "Айгерим".into(),
                    key_id: None,
                    chat_id: Some(5),
                }),
            ),
            message(Direction::In, "<b>Скидка?</b>", None),
        ];
        let card = thread_card(Lang::Kk, "<b>Handoff</b>", &newest_first, true);
        let discount = card.find("Скидка").unwrap();
        let hello = card.find("Здравствуйте").unwrap();
        assert!(discount < hello, "oldest first: {card}");
        assert!(card.contains("&lt;b&gt;Скидка?"), "escaped: {card}");
        assert!(card.contains("<b>Айгерим</b>"));
        assert!(card.contains("Соңғы хабарламалар"));
        assert!(card.ends_with("</i>") && card.contains("/resume"));
        let forward = thread_card(Lang::Ru, "fwd", &newest_first, false);
        assert!(
            !forward.contains("Скидка"),
            "a forward carries its one message"
        );
    }

    #[test]
    fn reasons_are_plain_words_in_the_managers_language() {
        let r = NotSent::from_whatsapp(132_001, "template name does not exist").reason(Lang::Ky);
        assert!(r.contains("132001") && r.contains("шаблон"), "{r}");
        assert_eq!(NotSent::from_whatsapp(131_047, "").name(), "window_closed");
        let other = NotSent::from_whatsapp(132_999, "<weird>").reason(Lang::En);
        assert!(
            other.contains("132999") && other.contains("&lt;weird&gt;"),
            "{other}"
        );
        let who = who(&config("ru"), "wa-77011234567", None, None);
        assert!(
            who.contains("https://wa.me/77011234567") && who.contains("Заявки пока нет"),
            "{who}"
        );
    }
}
