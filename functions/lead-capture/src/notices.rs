//! Lead cards for managers and partners in Telegram (HTML), in the tenant's language;
//! the texts are the `leads` catalog of `sauda_shared::i18n`.
//!
//! Notice ids are derived from what happened (the history entry's id), so a producer
//! that retries sends the same id and the notifier delivers it once per chat.

use crate::domain::Applied;
use crate::model::Lead;
use sauda_shared::funnel::Stage;
use sauda_shared::i18n::{leads as text, Lang};
use sauda_shared::lead::LeadSource;
use sauda_shared::notify::{notice_id, Notice, Recipients};
use sauda_shared::telegram_api::escape_html;
use sauda_shared::TenantId;

/// Repeat submissions of one lead notify managers at most once per this window.
pub const REPEAT_NOTICE_WINDOW_MS: i64 = 10 * 60 * 1000;

/// The tenant's language; the region's other languages (uz, tg, ...) read Russian
/// better than English.
fn lang(language: &str) -> Lang {
    Lang::parse(language).unwrap_or_else(|| {
        let primary = language.split(['-', '_']).next().unwrap_or_default();
        match primary.to_ascii_lowercase().as_str() {
            "uz" | "tg" | "tk" | "be" | "uk" => Lang::Ru,
            _ => Lang::En,
        }
    })
}

fn source_label(lang: Lang, lead: &Lead, source: LeadSource) -> String {
    let name = text::source(source).get(lang);
    match &lead.form_source {
        Some(detail) if source == LeadSource::Form => format!("{name} · {detail}"),
        _ => name.to_owned(),
    }
}

/// The body every card shares: who, how to reach them, what they want, where from.
fn card(lead: &Lead, lang: Lang, title: &str, source: Option<LeadSource>) -> String {
    let mut lines = vec![format!("<b>{}</b>", escape_html(title))];
    lines.push(format!(
        "👤 <b>{}</b>",
        escape_html(lead.name.as_deref().unwrap_or("—"))
    ));
    if let Some(p) = &lead.phone {
        let p = escape_html(p);
        lines.push(format!("📞 {}", text::PHONE.render(lang, &[("phone", &p)])));
    }
    if let Some(m) = &lead.email {
        let m = escape_html(m);
        lines.push(format!("✉️ {}", text::EMAIL.render(lang, &[("email", &m)])));
    }
    if let Some(i) = &lead.interest {
        let i = escape_html(i);
        lines.push(format!(
            "🎯 {}",
            text::INTEREST.render(lang, &[("interest", &i)])
        ));
    }
    if let Some(m) = &lead.message {
        let short = escape_html(&crate::validate::truncate(m, 400));
        lines.push(format!(
            "💬 {}",
            text::MESSAGE.render(lang, &[("message", &short)])
        ));
    }
    if let Some(source) = source {
        let label = escape_html(&source_label(lang, lead, source));
        lines.push(format!(
            "📥 {}",
            text::SOURCE.render(lang, &[("source", &label)])
        ));
    }
    if let Some(link) = lead.conversation_link() {
        lines.push(format!(
            "🔗 <a href=\"{}\">{}</a>",
            escape_html(&link),
            escape_html(text::OPEN.get(lang))
        ));
    }
    lines.join("\n")
}

/// The managers' card for a captured lead, or `None` when it is not worth a message.
pub fn captured(
    tenant: &TenantId,
    language: &str,
    lead: &Lead,
    applied: Applied,
    source: LeadSource,
    history_id: &str,
    at_ms: i64,
) -> Option<Notice> {
    let lang = lang(language);
    let (id, kind, title) = match applied {
        Applied::Created => (
            notice_id(&["lead", &lead.contact, "new"]),
            "lead_new",
            &text::NEW_LEAD,
        ),
        Applied::Reopened => (
            notice_id(&["lead", &lead.contact, "reopened", history_id]),
            "lead_reopened",
            &text::REOPENED,
        ),
        // A quiet-contact sweep adds nothing a manager must act on for a live lead.
        Applied::Merged if source == LeadSource::Sweep => return None,
        // Bursts of resubmissions make one message per window: the notifier drops
        // repeats of an id it has delivered.
        Applied::Merged => (
            notice_id(&[
                "lead",
                &lead.contact,
                "repeat",
                &(at_ms / REPEAT_NOTICE_WINDOW_MS).to_string(),
            ]),
            "lead_repeat",
            &text::REPEAT,
        ),
    };
    Some(Notice {
        tenant: tenant.clone(),
        id,
        kind: kind.to_owned(),
        to: Recipients::Managers,
        html: card(lead, lang, title.get(lang), Some(source)),
    })
}

pub fn stage_changed(
    tenant: &TenantId,
    language: &str,
    lead: &Lead,
    from: Stage,
    actor: &str,
    reason: Option<&str>,
    history_id: &str,
) -> Notice {
    let lang = lang(language);
    let mut html = card(lead, lang, text::MOVED.get(lang), None);
    let from_name = escape_html(text::stage(from).get(lang));
    let to_name = escape_html(text::stage(lead.stage).get(lang));
    let actor = escape_html(actor);
    html.push_str("\n\n");
    html.push_str(&text::MOVE_LINE.render(
        lang,
        &[("from", &from_name), ("to", &to_name), ("actor", &actor)],
    ));
    if let Some(r) = reason {
        let r = escape_html(r);
        html.push('\n');
        html.push_str(&text::REASON.render(lang, &[("reason", &r)]));
    }
    Notice {
        tenant: tenant.clone(),
        id: notice_id(&["lead", &lead.contact, "stage", history_id]),
        kind: "lead_stage".into(),
        to: Recipients::Managers,
        html,
    }
}

/// The partner's card: enough to call the customer back.
pub fn handed_to_partner(
    tenant: &TenantId,
    language: &str,
    lead: &Lead,
    partner_name: &str,
    chat_id: i64,
    note: Option<&str>,
    history_id: &str,
) -> Notice {
    let lang = lang(language);
    let mut html = card(lead, lang, text::HANDED.get(lang), None);
    let partner = escape_html(partner_name);
    html.push_str("\n\n");
    html.push_str(&text::PARTNER.render(lang, &[("partner", &partner)]));
    if let Some(n) = note {
        let n = escape_html(n);
        html.push_str("\n📝 ");
        html.push_str(&text::NOTE.render(lang, &[("note", &n)]));
    }
    Notice {
        tenant: tenant.clone(),
        id: notice_id(&["lead", &lead.contact, "assigned", history_id]),
        kind: "lead_assigned".into(),
        to: Recipients::Chats(vec![chat_id]),
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sauda_shared::keys;

    fn lead() -> Lead {
        let t = TenantId::parse("acme").unwrap();
        Lead {
            pk: keys::contact_pk(&t, "wa-77011234567"),
            sk: "LEAD".into(),
            contact: "wa-77011234567".into(),
            stage: Stage::New,
            source: LeadSource::Form,
            last_source: None,
            name: Some("Aida <script>".into()),
            phone: Some("+77011234567".into()),
            email: None,
            phones: vec![],
            emails: vec![],
            interest: Some("Issyk-Kul & back".into()),
            message: None,
            language: None,
            form_source: Some("landing".into()),
            consent: true,
            consent_at_ms: Some(1),
            created_ms: 1,
            updated_ms: 1,
            stage_changed_ms: 1,
            won_ms: None,
            partner_id: None,
            partner_name: None,
            assigned_ms: None,
            submissions: 1,
            linked_contacts: vec!["tg-5".into()],
            gsi1pk: String::new(),
            gsi1sk: String::new(),
        }
    }

    #[test]
    fn new_lead_card_escapes_and_links() {
        let t = TenantId::parse("acme").unwrap();
        let n = captured(
            &t,
            "ru",
            &lead(),
            Applied::Created,
            LeadSource::Form,
            "h1",
            5,
        )
        .unwrap();
        assert_eq!(n.id, "lead:wa-77011234567:new");
        assert_eq!(n.to, Recipients::Managers);
        assert!(n.html.starts_with("<b>Новая заявка</b>"), "{}", n.html);
        assert!(n.html.contains("Aida &lt;script&gt;"));
        assert!(n.html.contains("Интересует: Issyk-Kul &amp; back"));
        assert!(n.html.contains("Источник: форма на сайте · landing"));
        assert!(n.html.contains("https://wa.me/77011234567"));
    }

    #[test]
    fn cards_speak_the_tenants_language() {
        let t = TenantId::parse("acme").unwrap();
        let title = |language: &str| {
            let n = captured(
                &t,
                language,
                &lead(),
                Applied::Created,
                LeadSource::Form,
                "h",
                1,
            )
            .unwrap();
            n.html.lines().next().unwrap().to_owned()
        };
        assert_eq!(title("kk"), "<b>Жаңа өтінім</b>");
        assert_eq!(title("ky"), "<b>Жаңы өтүнмө</b>");
        assert_eq!(title("en-GB"), "<b>New lead</b>");
        assert_eq!(title("uz"), "<b>Новая заявка</b>");
        assert_eq!(title("de"), "<b>New lead</b>");
        let moved = stage_changed(
            &t,
            "kk",
            &Lead {
                stage: Stage::Offer,
                ..lead()
            },
            Stage::New,
            "manager:k1",
            Some("<b>cheap</b>"),
            "h2",
        );
        assert!(
            moved.html.contains("Жаңа → Ұсыныс (өзгерткен: manager:k1)"),
            "{}",
            moved.html
        );
        assert!(moved.html.contains("Себебі: &lt;b&gt;cheap&lt;/b&gt;"));
        assert_eq!(moved.id, "lead:wa-77011234567:stage:h2");
    }

    #[test]
    fn repeats_share_an_id_per_window_and_sweeps_stay_quiet() {
        let t = TenantId::parse("acme").unwrap();
        let a = captured(
            &t,
            "en",
            &lead(),
            Applied::Merged,
            LeadSource::Form,
            "h1",
            1_000,
        )
        .unwrap();
        let b = captured(
            &t,
            "en",
            &lead(),
            Applied::Merged,
            LeadSource::Agent,
            "h2",
            2_000,
        )
        .unwrap();
        let later = captured(
            &t,
            "en",
            &lead(),
            Applied::Merged,
            LeadSource::Form,
            "h3",
            REPEAT_NOTICE_WINDOW_MS + 1,
        )
        .unwrap();
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, later.id);
        assert!(captured(
            &t,
            "en",
            &lead(),
            Applied::Merged,
            LeadSource::Sweep,
            "h4",
            1
        )
        .is_none());
    }

    #[test]
    fn partner_card_goes_to_the_partner_chat() {
        let t = TenantId::parse("acme").unwrap();
        let n = handed_to_partner(
            &t,
            "en",
            &lead(),
            "Guide Bek",
            777,
            Some("call after 6pm"),
            "h9",
        );
        assert_eq!(n.to, Recipients::Chats(vec![777]));
        assert!(n.html.contains("A lead for you") && n.html.contains("call after 6pm"));
        assert!(n.html.contains("+77011234567"));
    }
}
