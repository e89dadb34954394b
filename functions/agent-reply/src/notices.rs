//! Notices to the tenant's managers (Telegram HTML through the notify queue), in the
//! tenant's language. Ids are stable per cause, so a retried job never notifies twice.

use crate::usage::Marker;
use sauda_shared::contact;
use sauda_shared::i18n::{agent as t, Lang};
use sauda_shared::message::{Attachment, InboundMessage};
use sauda_shared::notify::{self, Notice, Recipients};
use sauda_shared::telegram_api::escape_html;
use sauda_shared::tenant::TenantConfig;

/// A notice sent at most once per tenant-month (remembered on the usage item).
#[derive(Clone, Debug, PartialEq)]
pub struct OnceNotice {
    pub marker: Marker,
    pub month: String,
    pub notice: Notice,
}

/// The managers read the tenant's default language.
pub fn managers_lang(config: &TenantConfig) -> Lang {
    Lang::pick(None, &config.default_language)
}

fn customer_label(lang: Lang, message: &InboundMessage) -> String {
    let name = message
        .display_name
        .as_deref()
        .unwrap_or_else(|| t::CUSTOMER.get(lang));
    match contact::conversation_link(&message.contact) {
        Some(link) => format!(
            "{} (<a href=\"{}\">{}</a>)",
            escape_html(name),
            escape_html(&link),
            escape_html(&message.contact)
        ),
        None => format!("{} ({})", escape_html(name), escape_html(&message.contact)),
    }
}

/// What the customer sent, for a manager: the text, with what was attached.
fn customer_words(lang: Lang, message: &InboundMessage) -> String {
    let text = message
        .text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let attached = message.attachment.as_ref().map(|a| match a {
        Attachment::Voice { .. } => t::SENT_VOICE.get(lang).to_owned(),
        Attachment::Photo { .. } => t::SENT_PHOTO.get(lang).to_owned(),
        Attachment::Contact { phone, .. } => t::SENT_CONTACT.render(lang, &[("phone", phone)]),
        Attachment::Location {
            latitude,
            longitude,
        } => t::SENT_LOCATION.render(lang, &[("place", &format!("{latitude}, {longitude}"))]),
    });
    match (attached, text) {
        (Some(a), Some(t)) => format!("{a} {t}"),
        (Some(a), None) => a,
        (None, Some(t)) => t.to_owned(),
        (None, None) => t::SENT_OTHER.get(lang).to_owned(),
    }
}

/// A card of the conversation's thread: the notifier adds its latest messages, and a
/// manager who replies to it answers the customer (`sauda_shared::inbox`).
fn about_message(message: &InboundMessage, kind: &str, html: String) -> Notice {
    Notice {
        tenant: message.tenant.clone(),
        id: notify::notice_id(&[kind, &message.contact, &message.platform_message_id]),
        kind: kind.to_owned(),
        to: Recipients::thread(&message.contact),
        html,
    }
}

/// A customer wrote while a manager has the conversation.
pub fn paused(config: &TenantConfig, message: &InboundMessage) -> Notice {
    let lang = managers_lang(config);
    let html = t::NOTICE_PAUSED.render(
        lang,
        &[
            ("customer", &customer_label(lang, message)),
            ("text", &escape_html(&customer_words(lang, message))),
        ],
    );
    about_message(message, "paused", html)
}

/// A WhatsApp customer waits, but only a template may reach them now.
pub fn window_closed(config: &TenantConfig, message: &InboundMessage) -> Notice {
    let lang = managers_lang(config);
    let html = t::NOTICE_WINDOW.render(
        lang,
        &[
            ("customer", &customer_label(lang, message)),
            ("text", &escape_html(&customer_words(lang, message))),
        ],
    );
    about_message(message, "window", html)
}

/// A customer needs a person; the agent pauses for them.
pub fn handoff(config: &TenantConfig, message: &InboundMessage, reason: &str) -> Notice {
    let lang = managers_lang(config);
    let html = t::NOTICE_HANDOFF.render(
        lang,
        &[
            ("customer", &customer_label(lang, message)),
            ("reason", &escape_html(reason)),
            ("text", &escape_html(&customer_words(lang, message))),
        ],
    );
    about_message(message, "handoff", html)
}

fn once(
    config: &TenantConfig,
    marker: Marker,
    month: &str,
    kind: &str,
    html: String,
) -> OnceNotice {
    OnceNotice {
        marker,
        month: month.to_owned(),
        notice: Notice {
            tenant: config.tenant.clone(),
            id: notify::notice_id(&[marker.notice_prefix(), month]),
            kind: kind.to_owned(),
            to: Recipients::Managers,
            html,
        },
    }
}

fn usd(micros: i64) -> String {
    format!("{:.2}", micros as f64 / 1e6)
}

pub fn budget_spent(config: &TenantConfig, month: &str, spent: i64, budget: i64) -> OnceNotice {
    let html = t::NOTICE_BUDGET.render(
        managers_lang(config),
        &[
            ("month", &month),
            ("spent", &usd(spent)),
            ("budget", &usd(budget)),
        ],
    );
    once(config, Marker::Budget, month, "budget_spent", html)
}

/// 80 % of the month's AI budget is spent: the managers hear it before the model stops.
pub fn budget_nearly(config: &TenantConfig, month: &str, spent: i64, budget: i64) -> OnceNotice {
    let html = sauda_shared::i18n::limits::AI_BUDGET_NEARLY.render(
        managers_lang(config),
        &[
            ("month", &month),
            ("spent", &usd(spent)),
            ("budget", &usd(budget)),
        ],
    );
    once(config, Marker::BudgetNearly, month, "budget_nearly", html)
}

/// The host of a URL, for a notice (never its path or query).
fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

pub fn llm_key_missing(config: &TenantConfig, month: &str, url: &str) -> OnceNotice {
    let html = t::NOTICE_LLM_KEY_MISSING.render(
        managers_lang(config),
        &[("host", &escape_html(&host_of(url)))],
    );
    once(
        config,
        Marker::LlmKeyMissing,
        month,
        "llm_key_missing",
        html,
    )
}

pub fn llm_url_refused(config: &TenantConfig, month: &str, url: &str) -> OnceNotice {
    let html = t::NOTICE_LLM_URL_REFUSED.render(
        managers_lang(config),
        &[("host", &escape_html(&host_of(url)))],
    );
    once(
        config,
        Marker::LlmUrlRefused,
        month,
        "llm_url_refused",
        html,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sauda_shared::message::{Channel, MessageKind};
    use sauda_shared::TenantId;

    fn config(lang: &str) -> TenantConfig {
        let mut c = TenantConfig::new(TenantId::parse("acme").unwrap(), "Acme");
        c.default_language = lang.into();
        c
    }

    fn message() -> InboundMessage {
        InboundMessage {
            tenant: TenantId::parse("acme").unwrap(),
            channel: Channel::Whatsapp,
            contact: "wa-77011234567".into(),
            platform_message_id: "wamid.1".into(),
            timestamp_ms: 1,
            kind: MessageKind::Text,
            text: Some("<b>hi</b>".into()),
            attachment: None,
            display_name: None,
            language: None,
            reply_to: "77011234567".into(),
            thread_id: None,
        }
    }

    #[test]
    fn notices_speak_the_tenants_language_and_escape_the_customer() {
        let n = paused(&config("kk"), &message());
        assert!(n.html.contains("кідіртілген"), "{}", n.html);
        assert!(n.html.contains("&lt;b&gt;hi"), "escaped: {}", n.html);
        assert!(n.html.contains("https://wa.me/77011234567"));
        assert!(n.html.contains("Клиент"), "no name: the word for customer");
        assert_eq!(n.id, "paused:wa-77011234567:wamid.1");
        let voice = InboundMessage {
            text: None,
            attachment: Some(Attachment::Voice {
                file_id: "f".into(),
                duration_s: None,
            }),
            ..message()
        };
        let ky = window_closed(&config("ky"), &voice);
        assert!(ky.html.contains("терезеси жабылды"), "{}", ky.html);
        assert!(ky.html.contains("[үн билдирүү]"), "{}", ky.html);
    }

    #[test]
    fn monthly_notices_show_only_the_host() {
        let n = llm_key_missing(
            &config("en"),
            "2026-11",
            "https://llm.example.com/v1?key=secret",
        );
        assert!(n.notice.html.contains("llm.example.com"));
        assert!(!n.notice.html.contains("secret"));
        assert_eq!(
            (n.marker, n.notice.id.as_str()),
            (Marker::LlmKeyMissing, "llm_key:2026-11")
        );
        let b = budget_spent(&config("ru"), "2026-11", 1_500_000, 1_000_000);
        assert!(
            b.notice.html.contains("1.50 из 1.00 USD"),
            "{}",
            b.notice.html
        );
    }
}
