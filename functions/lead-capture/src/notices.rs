//! Lead cards for managers and partners in Telegram (HTML), in the tenant's language.
//!
//! Notice ids are derived from what happened (the history entry's id), so a producer
//! that retries sends the same id and the notifier delivers it once per chat.

use crate::model::Lead;
use crate::store::Applied;
use sauda_shared::funnel::Stage;
use sauda_shared::lead::LeadSource;
use sauda_shared::notify::{notice_id, Notice, Recipients};
use sauda_shared::telegram_api::escape_html;
use sauda_shared::TenantId;

/// Repeat submissions of one lead notify managers at most once per this window.
pub const REPEAT_NOTICE_WINDOW_MS: i64 = 10 * 60 * 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lang {
    En,
    Ru,
}

impl Lang {
    /// Russian for the CIS languages the product serves (ru, kk, ky, uz, ...), else English.
    fn of(language: &str) -> Self {
        let primary = language.split('-').next().unwrap_or_default();
        match primary {
            "ru" | "kk" | "ky" | "uz" | "tg" | "be" | "uk" => Lang::Ru,
            _ => Lang::En,
        }
    }
}

struct Labels {
    new_lead: &'static str,
    repeat: &'static str,
    reopened: &'static str,
    moved: &'static str,
    handed: &'static str,
    phone: &'static str,
    email: &'static str,
    interest: &'static str,
    message: &'static str,
    source: &'static str,
    open: &'static str,
    partner: &'static str,
    by: &'static str,
    reason: &'static str,
    note: &'static str,
}

const EN: Labels = Labels {
    new_lead: "New lead",
    repeat: "Lead got in touch again",
    reopened: "Lost lead is back",
    moved: "Lead moved",
    handed: "A lead for you",
    phone: "Phone",
    email: "Email",
    interest: "Interest",
    message: "Message",
    source: "Source",
    open: "Open the conversation",
    partner: "Partner",
    by: "by",
    reason: "Reason",
    note: "Note",
};

const RU: Labels = Labels {
    new_lead: "Новая заявка",
    repeat: "Клиент обратился снова",
    reopened: "Потерянный клиент вернулся",
    moved: "Заявка перемещена",
    handed: "Вам передан клиент",
    phone: "Телефон",
    email: "Email",
    interest: "Интерес",
    message: "Сообщение",
    source: "Источник",
    open: "Открыть диалог",
    partner: "Партнёр",
    by: "кто",
    reason: "Причина",
    note: "Заметка",
};

fn labels(language: &str) -> &'static Labels {
    match Lang::of(language) {
        Lang::Ru => &RU,
        Lang::En => &EN,
    }
}

fn source_label(lead: &Lead, source: LeadSource) -> String {
    match &lead.form_source {
        Some(detail) if source == LeadSource::Form => format!("form · {detail}"),
        _ => source.as_str().to_owned(),
    }
}

/// The body every card shares: who, how to reach them, what they want, where from.
fn card(lead: &Lead, l: &Labels, title: &str, source: Option<LeadSource>) -> String {
    let mut lines = vec![format!("<b>{}</b>", escape_html(title))];
    lines.push(format!(
        "👤 <b>{}</b>",
        escape_html(lead.name.as_deref().unwrap_or("—"))
    ));
    if let Some(p) = &lead.phone {
        lines.push(format!("📞 {}: {}", l.phone, escape_html(p)));
    }
    if let Some(m) = &lead.email {
        lines.push(format!("✉️ {}: {}", l.email, escape_html(m)));
    }
    if let Some(i) = &lead.interest {
        lines.push(format!("🎯 {}: {}", l.interest, escape_html(i)));
    }
    if let Some(m) = &lead.message {
        let short = crate::validate::truncate(m, 400);
        lines.push(format!("💬 {}: {}", l.message, escape_html(&short)));
    }
    if let Some(source) = source {
        lines.push(format!(
            "📥 {}: {}",
            l.source,
            escape_html(&source_label(lead, source))
        ));
    }
    if let Some(link) = lead.conversation_link() {
        lines.push(format!(
            "🔗 <a href=\"{}\">{}</a>",
            escape_html(&link),
            l.open
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
    let l = labels(language);
    let (id, kind, title) = match applied {
        Applied::Created => (
            notice_id(&["lead", &lead.contact, "new"]),
            "lead_new",
            l.new_lead,
        ),
        Applied::Reopened => (
            notice_id(&["lead", &lead.contact, "reopened", history_id]),
            "lead_reopened",
            l.reopened,
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
            l.repeat,
        ),
    };
    Some(Notice {
        tenant: tenant.clone(),
        id,
        kind: kind.to_owned(),
        to: Recipients::Managers,
        html: card(lead, l, title, Some(source)),
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
    let l = labels(language);
    let mut html = card(lead, l, l.moved, None);
    html.push_str(&format!(
        "\n\n<b>{from} → {}</b> ({} {})",
        lead.stage,
        l.by,
        escape_html(actor)
    ));
    if let Some(r) = reason {
        html.push_str(&format!("\n{}: {}", l.reason, escape_html(r)));
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
    let l = labels(language);
    let mut html = card(lead, l, l.handed, None);
    html.push_str(&format!("\n\n{}: {}", l.partner, escape_html(partner_name)));
    if let Some(n) = note {
        html.push_str(&format!("\n📝 {}: {}", l.note, escape_html(n)));
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
        assert!(n.html.contains("Issyk-Kul &amp; back"));
        assert!(n.html.contains("form · landing"));
        assert!(n.html.contains("https://wa.me/77011234567"));
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
