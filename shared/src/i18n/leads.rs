//! What managers and partners read about leads in Telegram (lead-capture's cards).
//! Values are HTML-escaped by the caller before they fill a placeholder.

use super::Text;
use crate::funnel::Stage;
use crate::lead::LeadSource;

pub const NEW_LEAD: Text = Text {
    key: "leads.card.new",
    ru: "Новая заявка",
    en: "New lead",
    kk: "Жаңа өтінім",
    ky: "Жаңы өтүнмө",
};

pub const REPEAT: Text = Text {
    key: "leads.card.repeat",
    ru: "Клиент обратился снова",
    en: "The lead got in touch again",
    kk: "Клиент қайта хабарласты",
    ky: "Кардар кайра кайрылды",
};

pub const REOPENED: Text = Text {
    key: "leads.card.reopened",
    ru: "Потерянный клиент вернулся",
    en: "A lost lead is back",
    kk: "Жоғалған клиент қайта оралды",
    ky: "Жоголгон кардар кайтып келди",
};

pub const MOVED: Text = Text {
    key: "leads.card.moved",
    ru: "Заявка перешла на другой этап",
    en: "The lead moved",
    kk: "Өтінім басқа кезеңге өтті",
    ky: "Өтүнмө башка этапка өттү",
};

pub const HANDED: Text = Text {
    key: "leads.card.handed",
    ru: "Вам передан клиент",
    en: "A lead for you",
    kk: "Сізге клиент берілді",
    ky: "Сизге кардар берилди",
};

pub const PHONE: Text = Text {
    key: "leads.card.phone",
    ru: "Телефон: {phone}",
    en: "Phone: {phone}",
    kk: "Телефон: {phone}",
    ky: "Телефон: {phone}",
};

pub const EMAIL: Text = Text {
    key: "leads.card.email",
    ru: "Эл. почта: {email}",
    en: "Email: {email}",
    kk: "Эл. пошта: {email}",
    ky: "Электрондук почта: {email}",
};

pub const INTEREST: Text = Text {
    key: "leads.card.interest",
    ru: "Интересует: {interest}",
    en: "Interested in: {interest}",
    kk: "Қызығушылығы: {interest}",
    ky: "Кызыктырганы: {interest}",
};

pub const MESSAGE: Text = Text {
    key: "leads.card.message",
    ru: "Сообщение: {message}",
    en: "Message: {message}",
    kk: "Хабарлама: {message}",
    ky: "Билдирүү: {message}",
};

pub const SOURCE: Text = Text {
    key: "leads.card.source",
    ru: "Источник: {source}",
    en: "Source: {source}",
    kk: "Дереккөзі: {source}",
    ky: "Булагы: {source}",
};

pub const OPEN: Text = Text {
    key: "leads.card.open",
    ru: "Открыть диалог",
    en: "Open the conversation",
    kk: "Диалогты ашу",
    ky: "Баарлашууну ачуу",
};

pub const MOVE_LINE: Text = Text {
    key: "leads.card.move_line",
    ru: "{from} → {to} (изменил: {actor})",
    en: "{from} → {to} (by {actor})",
    kk: "{from} → {to} (өзгерткен: {actor})",
    ky: "{from} → {to} (өзгөрткөн: {actor})",
};

pub const REASON: Text = Text {
    key: "leads.card.reason",
    ru: "Причина: {reason}",
    en: "Reason: {reason}",
    kk: "Себебі: {reason}",
    ky: "Себеби: {reason}",
};

pub const PARTNER: Text = Text {
    key: "leads.card.partner",
    ru: "Партнёр: {partner}",
    en: "Partner: {partner}",
    kk: "Серіктес: {partner}",
    ky: "Өнөктөш: {partner}",
};

pub const NOTE: Text = Text {
    key: "leads.card.note",
    ru: "Заметка: {note}",
    en: "Note: {note}",
    kk: "Ескертпе: {note}",
    ky: "Эскертме: {note}",
};

pub const SOURCE_FORM: Text = Text {
    key: "leads.source.form",
    ru: "форма на сайте",
    en: "web form",
    kk: "сайттағы форма",
    ky: "сайттагы форма",
};

pub const SOURCE_AGENT: Text = Text {
    key: "leads.source.agent",
    ru: "ИИ-ассистент в чате",
    en: "AI assistant in the chat",
    kk: "чаттағы ЖИ-көмекші",
    ky: "чаттагы ЖИ-жардамчы",
};

pub const SOURCE_SWEEP: Text = Text {
    key: "leads.source.sweep",
    ru: "спросил о цене и замолчал",
    en: "asked about a price, then went quiet",
    kk: "бағасын сұрап, үнсіз қалды",
    ky: "баасын сурап, унчукпай калды",
};

pub const SOURCE_MANUAL: Text = Text {
    key: "leads.source.manual",
    ru: "внесён вручную",
    en: "entered by hand",
    kk: "қолмен енгізілді",
    ky: "кол менен киргизилди",
};

pub const STAGE_NEW: Text = Text {
    key: "leads.stage.new",
    ru: "Новая",
    en: "New",
    kk: "Жаңа",
    ky: "Жаңы",
};

pub const STAGE_QUALIFICATION: Text = Text {
    key: "leads.stage.qualification",
    ru: "Квалификация",
    en: "Qualification",
    kk: "Саралау",
    ky: "Баалоо",
};

pub const STAGE_WARMING: Text = Text {
    key: "leads.stage.warming",
    ru: "Прогрев",
    en: "Warming up",
    kk: "Қызығушылықты арттыру",
    ky: "Кызыгууну арттыруу",
};

pub const STAGE_OFFER: Text = Text {
    key: "leads.stage.offer",
    ru: "Предложение",
    en: "Offer",
    kk: "Ұсыныс",
    ky: "Сунуш",
};

pub const STAGE_NEGOTIATION: Text = Text {
    key: "leads.stage.negotiation",
    ru: "Переговоры",
    en: "Negotiation",
    kk: "Келіссөз",
    ky: "Сүйлөшүү",
};

pub const STAGE_SALE: Text = Text {
    key: "leads.stage.sale",
    ru: "Продажа",
    en: "Sale",
    kk: "Сату",
    ky: "Сатуу",
};

pub const STAGE_SERVICE: Text = Text {
    key: "leads.stage.service",
    ru: "Обслуживание",
    en: "Service",
    kk: "Қызмет көрсету",
    ky: "Тейлөө",
};

pub const STAGE_FEEDBACK: Text = Text {
    key: "leads.stage.feedback",
    ru: "Отзыв",
    en: "Feedback",
    kk: "Пікір",
    ky: "Пикир",
};

pub const STAGE_REPEAT_SALE: Text = Text {
    key: "leads.stage.repeat_sale",
    ru: "Повторная продажа",
    en: "Repeat sale",
    kk: "Қайта сату",
    ky: "Кайра сатуу",
};

pub const STAGE_LOST: Text = Text {
    key: "leads.stage.lost",
    ru: "Потерян",
    en: "Lost",
    kk: "Жоғалды",
    ky: "Жоголду",
};

/// A stage's name as managers read it.
pub fn stage(stage: Stage) -> &'static Text {
    match stage {
        Stage::New => &STAGE_NEW,
        Stage::Qualification => &STAGE_QUALIFICATION,
        Stage::Warming => &STAGE_WARMING,
        Stage::Offer => &STAGE_OFFER,
        Stage::Negotiation => &STAGE_NEGOTIATION,
        Stage::Sale => &STAGE_SALE,
        Stage::Service => &STAGE_SERVICE,
        Stage::Feedback => &STAGE_FEEDBACK,
        Stage::RepeatSale => &STAGE_REPEAT_SALE,
        Stage::Lost => &STAGE_LOST,
    }
}

/// Where a lead came from, as managers read it.
pub fn source(source: LeadSource) -> &'static Text {
    match source {
        LeadSource::Form => &SOURCE_FORM,
        LeadSource::Agent => &SOURCE_AGENT,
        LeadSource::Sweep => &SOURCE_SWEEP,
        LeadSource::Manual => &SOURCE_MANUAL,
    }
}

pub const ALL: &[&Text] = &[
    &NEW_LEAD,
    &REPEAT,
    &REOPENED,
    &MOVED,
    &HANDED,
    &PHONE,
    &EMAIL,
    &INTEREST,
    &MESSAGE,
    &SOURCE,
    &OPEN,
    &MOVE_LINE,
    &REASON,
    &PARTNER,
    &NOTE,
    &SOURCE_FORM,
    &SOURCE_AGENT,
    &SOURCE_SWEEP,
    &SOURCE_MANUAL,
    &STAGE_NEW,
    &STAGE_QUALIFICATION,
    &STAGE_WARMING,
    &STAGE_OFFER,
    &STAGE_NEGOTIATION,
    &STAGE_SALE,
    &STAGE_SERVICE,
    &STAGE_FEEDBACK,
    &STAGE_REPEAT_SALE,
    &STAGE_LOST,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_and_source_has_a_name_in_the_catalog() {
        for s in Stage::ALL {
            assert!(ALL.iter().any(|t| t.key == stage(s).key), "{s}");
        }
        for s in [
            LeadSource::Form,
            LeadSource::Agent,
            LeadSource::Sweep,
            LeadSource::Manual,
        ] {
            assert!(ALL.iter().any(|t| t.key == source(s).key), "{s:?}");
        }
    }
}
