//! What the managers' inbox says to managers in their Telegram chat (HTML): thread
//! cards, acknowledgements of their replies, commands, and why a message to a customer
//! could not go out, in plain words (Meta's template errors included).

use super::Text;

// ---- Thread cards -------------------------------------------------------------------

pub const RECENT: Text = Text {
    key: "inbox.recent",
    ru: "Последние сообщения:",
    en: "Latest messages:",
    kk: "Соңғы хабарламалар:",
    ky: "Акыркы билдирүүлөр:",
};

pub const REPLY_HINT: Text = Text {
    key: "inbox.reply_hint",
    ru: "↩️ Ответьте на это сообщение, чтобы написать клиенту. В ответе: /who — профиль и заявка, /resume — вернуть клиента агенту.",
    en: "↩️ Reply to this message to write to the customer. In a reply: /who shows the profile and lead, /resume hands the customer back to the agent.",
    kk: "↩️ Клиентке жазу үшін осы хабарламаға жауап беріңіз. Жауапта: /who — профиль мен өтінім, /resume — клиентті агентке қайтару.",
    ky: "↩️ Кардарга жазуу үчүн ушул билдирүүгө жооп бериңиз. Жоопто: /who — профиль жана өтүнмө, /resume — кардарды агентке кайтаруу.",
};

pub const FORWARDED: Text = Text {
    key: "inbox.forwarded",
    ru: "💬 {customer} пишет (агент на паузе):",
    en: "💬 {customer} writes (the agent is paused):",
    kk: "💬 {customer} жазады (агент кідіртілген):",
    ky: "💬 {customer} жазып жатат (агент тындырылган):",
};

pub const CUSTOMER: Text = Text {
    key: "inbox.customer",
    ru: "Клиент",
    en: "Customer",
    kk: "Клиент",
    ky: "Кардар",
};

// ---- Replies from Telegram ------------------------------------------------------------

pub const ACK_SENT: Text = Text {
    key: "inbox.ack_sent",
    ru: "✓ Отправлено клиенту {customer}.",
    en: "✓ Sent to {customer}.",
    kk: "✓ {customer} клиентіне жіберілді.",
    ky: "✓ {customer} кардарына жөнөтүлдү.",
};

pub const ACK_FAILED: Text = Text {
    key: "inbox.ack_failed",
    ru: "✗ Не отправлено клиенту {customer}: {reason}",
    en: "✗ Not sent to {customer}: {reason}",
    kk: "✗ {customer} клиентіне жіберілмеді: {reason}",
    ky: "✗ {customer} кардарына жөнөтүлгөн жок: {reason}",
};

pub const RESUMED: Text = Text {
    key: "inbox.resumed",
    ru: "✓ Агент снова отвечает клиенту {customer}.",
    en: "✓ The agent answers {customer} again.",
    kk: "✓ Агент {customer} клиентіне қайтадан жауап береді.",
    ky: "✓ Агент {customer} кардарына кайрадан жооп берет.",
};

pub const HELP: Text = Text {
    key: "inbox.help",
    ru: "Чтобы ответить клиенту, ответьте на его карточку (свайп влево или «Ответить»). Команды в ответе на карточку: /who — профиль и заявка, /resume — вернуть клиента агенту.",
    en: "To answer a customer, reply to their card (swipe left or tap Reply). Commands in a reply to a card: /who shows the profile and lead, /resume hands the customer back to the agent.",
    kk: "Клиентке жауап беру үшін оның карточкасына жауап беріңіз (солға сырғытыңыз немесе «Жауап беру»). Карточкаға жауаптағы командалар: /who — профиль мен өтінім, /resume — клиентті агентке қайтару.",
    ky: "Кардарга жооп берүү үчүн анын карточкасына жооп бериңиз (солго сүрүңүз же «Жооп берүү»). Карточкага жооптогу буйруктар: /who — профиль жана өтүнмө, /resume — кардарды агентке кайтаруу.",
};

pub const UNSUPPORTED: Text = Text {
    key: "inbox.unsupported",
    ru: "Клиенту можно переслать только текст или фото.",
    en: "Only text or a photo can be passed on to the customer.",
    kk: "Клиентке тек мәтін немесе фото жіберуге болады.",
    ky: "Кардарга текст же сүрөт гана жөнөтүүгө болот.",
};

// ---- /who ---------------------------------------------------------------------------

pub const WHO_CHANNEL: Text = Text {
    key: "inbox.who_channel",
    ru: "Канал",
    en: "Channel",
    kk: "Арна",
    ky: "Канал",
};

pub const WHO_LANGUAGE: Text = Text {
    key: "inbox.who_language",
    ru: "Язык",
    en: "Language",
    kk: "Тіл",
    ky: "Тил",
};

pub const WHO_SINCE: Text = Text {
    key: "inbox.who_since",
    ru: "Пишет с",
    en: "Writing since",
    kk: "Жаза бастаған күні",
    ky: "Жаза баштаган күнү",
};

pub const WHO_STAGE: Text = Text {
    key: "inbox.who_stage",
    ru: "Этап воронки",
    en: "Funnel stage",
    kk: "Воронка кезеңі",
    ky: "Воронка баскычы",
};

pub const WHO_PHONE: Text = Text {
    key: "inbox.who_phone",
    ru: "Телефон",
    en: "Phone",
    kk: "Телефон",
    ky: "Телефон",
};

pub const WHO_EMAIL: Text = Text {
    key: "inbox.who_email",
    ru: "Email",
    en: "Email",
    kk: "Email",
    ky: "Email",
};

pub const WHO_INTEREST: Text = Text {
    key: "inbox.who_interest",
    ru: "Интерес",
    en: "Interest",
    kk: "Қызығушылық",
    ky: "Кызыгуусу",
};

pub const WHO_NO_LEAD: Text = Text {
    key: "inbox.who_no_lead",
    ru: "Заявки пока нет.",
    en: "No lead yet.",
    kk: "Әзірге өтінім жоқ.",
    ky: "Азырынча өтүнмө жок.",
};

pub const WHO_AGENT_PAUSED: Text = Text {
    key: "inbox.who_agent_paused",
    ru: "Агент на паузе: клиенту отвечают менеджеры.",
    en: "The agent is paused: managers answer this customer.",
    kk: "Агент кідіртілген: клиентке менеджерлер жауап береді.",
    ky: "Агент тындырылган: кардарга менеджерлер жооп берет.",
};

pub const WHO_AGENT_ACTIVE: Text = Text {
    key: "inbox.who_agent_active",
    ru: "Агент отвечает клиенту.",
    en: "The agent answers this customer.",
    kk: "Клиентке агент жауап береді.",
    ky: "Кардарга агент жооп берет.",
};

// ---- A message that did not go out ----------------------------------------------------

pub const NOT_SENT: Text = Text {
    key: "inbox.not_sent",
    ru: "⚠️ Сообщение клиенту {customer} не отправлено: {reason}\n\n{text}",
    en: "⚠️ A message to {customer} was not sent: {reason}\n\n{text}",
    kk: "⚠️ {customer} клиентіне хабарлама жіберілмеді: {reason}\n\n{text}",
    ky: "⚠️ {customer} кардарына билдирүү жөнөтүлгөн жок: {reason}\n\n{text}",
};

pub const REASON_WINDOW: Text = Text {
    key: "inbox.reason_window",
    ru: "клиент писал больше 24 часов назад, а в WhatsApp после этого можно отправить только одобренный шаблон.",
    en: "the customer last wrote more than 24 hours ago, and after that WhatsApp delivers only an approved template.",
    kk: "клиент 24 сағаттан бұрын жазған, ал одан кейін WhatsApp тек мақұлданған үлгіні жеткізеді.",
    ky: "кардар 24 сааттан мурда жазган, андан кийин WhatsApp бекитилген шаблонду гана жеткирет.",
};

pub const REASON_TOO_LONG: Text = Text {
    key: "inbox.reason_too_long",
    ru: "текст длиннее 4096 символов, которые допускает WhatsApp.",
    en: "the text is longer than the 4,096 characters WhatsApp allows.",
    kk: "мәтін WhatsApp рұқсат ететін 4096 таңбадан ұзын.",
    ky: "текст WhatsApp уруксат берген 4096 белгиден узун.",
};

pub const REASON_TEMPLATE_ON_TELEGRAM: Text = Text {
    key: "inbox.reason_template_on_telegram",
    ru: "шаблоны бывают только в WhatsApp, а клиент пишет в Telegram — отправьте обычный текст.",
    en: "templates exist only on WhatsApp and this customer writes on Telegram; send plain text instead.",
    kk: "үлгілер тек WhatsApp-та бар, ал клиент Telegram-да жазады — қарапайым мәтін жіберіңіз.",
    ky: "шаблондор WhatsApp'та гана бар, ал кардар Telegram'да жазат — жөнөкөй текст жөнөтүңүз.",
};

pub const REASON_NOT_CONFIGURED: Text = Text {
    key: "inbox.reason_not_configured",
    ru: "этот канал не настроен для компании (нет токена или номера WhatsApp).",
    en: "this channel is not set up for the business (no token or WhatsApp number).",
    kk: "бұл арна компания үшін бапталмаған (токен немесе WhatsApp нөмірі жоқ).",
    ky: "бул канал компания үчүн жөндөлгөн эмес (токен же WhatsApp номери жок).",
};

pub const REASON_BLOCKED: Text = Text {
    key: "inbox.reason_blocked",
    ru: "{platform} не доставит сообщение (клиент заблокировал бота или номер недоступен): {detail}",
    en: "{platform} will not deliver it (the customer blocked the bot or the number is unreachable): {detail}",
    kk: "{platform} хабарламаны жеткізбейді (клиент ботты бұғаттаған немесе нөмір қолжетімсіз): {detail}",
    ky: "{platform} билдирүүнү жеткирбейт (кардар ботту бөгөттөгөн же номер жеткиликсиз): {detail}",
};

pub const REASON_PHOTO: Text = Text {
    key: "inbox.reason_photo",
    ru: "фото не удалось получить из Telegram или загрузить в WhatsApp.",
    en: "the photo could not be fetched from Telegram or uploaded to WhatsApp.",
    kk: "фотоны Telegram-нан алу немесе WhatsApp-қа жүктеу мүмкін болмады.",
    ky: "сүрөттү Telegram'дан алуу же WhatsApp'ка жүктөө мүмкүн болгон жок.",
};

// Meta's template errors, in plain words.

pub const TEMPLATE_PARAMS: Text = Text {
    key: "inbox.template_132000",
    ru: "число параметров не совпадает с шаблоном, одобренным Meta (ошибка 132000).",
    en: "the number of parameters does not match the template Meta approved (error 132000).",
    kk: "параметрлер саны Meta мақұлдаған үлгіге сәйкес емес (132000 қатесі).",
    ky: "параметрлердин саны Meta бекиткен шаблонго дал келбейт (132000 катасы).",
};

pub const TEMPLATE_MISSING: Text = Text {
    key: "inbox.template_132001",
    ru: "такого шаблона нет на этом языке или он ещё не одобрен Meta (ошибка 132001).",
    en: "the template does not exist in this language or Meta has not approved it yet (error 132001).",
    kk: "бұл тілде мұндай үлгі жоқ немесе Meta оны әлі мақұлдамаған (132001 қатесі).",
    ky: "бул тилде мындай шаблон жок же Meta аны али беките элек (132001 катасы).",
};

pub const TEMPLATE_TOO_LONG: Text = Text {
    key: "inbox.template_132005",
    ru: "с подставленными параметрами текст шаблона слишком длинный (ошибка 132005).",
    en: "with its parameters filled in, the template's text is too long (error 132005).",
    kk: "параметрлер қойылғанда үлгі мәтіні тым ұзын болады (132005 қатесі).",
    ky: "параметрлер коюлганда шаблондун тексти өтө узун болуп калат (132005 катасы).",
};

pub const TEMPLATE_POLICY: Text = Text {
    key: "inbox.template_132007",
    ru: "содержание шаблона нарушает правила WhatsApp (ошибка 132007).",
    en: "the template's content breaks WhatsApp's policy (error 132007).",
    kk: "үлгінің мазмұны WhatsApp ережелерін бұзады (132007 қатесі).",
    ky: "шаблондун мазмуну WhatsApp эрежелерин бузат (132007 катасы).",
};

pub const TEMPLATE_FORMAT: Text = Text {
    key: "inbox.template_132012",
    ru: "формат параметра не совпадает с одобренным шаблоном (ошибка 132012).",
    en: "a parameter's format does not match the approved template (error 132012).",
    kk: "параметр пішімі мақұлданған үлгіге сәйкес емес (132012 қатесі).",
    ky: "параметрдин форматы бекитилген шаблонго дал келбейт (132012 катасы).",
};

pub const TEMPLATE_PAUSED: Text = Text {
    key: "inbox.template_132015",
    ru: "Meta приостановила шаблон из-за низкого качества (ошибка 132015).",
    en: "Meta paused the template for low quality (error 132015).",
    kk: "Meta үлгіні сапасы төмен болғандықтан тоқтатты (132015 қатесі).",
    ky: "Meta шаблонду сапасы төмөн болгондуктан токтотту (132015 катасы).",
};

pub const TEMPLATE_DISABLED: Text = Text {
    key: "inbox.template_132016",
    ru: "Meta отключила шаблон (ошибка 132016).",
    en: "Meta disabled the template (error 132016).",
    kk: "Meta үлгіні өшірді (132016 қатесі).",
    ky: "Meta шаблонду өчүрдү (132016 катасы).",
};

pub const TEMPLATE_OTHER: Text = Text {
    key: "inbox.template_other",
    ru: "Meta отклонила шаблон (ошибка {code}): {detail}",
    en: "Meta refused the template (error {code}): {detail}",
    kk: "Meta үлгіні қабылдамады ({code} қатесі): {detail}",
    ky: "Meta шаблонду кабыл алган жок ({code} катасы): {detail}",
};

pub const REFUSED: Text = Text {
    key: "inbox.refused",
    ru: "{platform} отклонил сообщение (ошибка {code}): {detail}",
    en: "{platform} refused the message (error {code}): {detail}",
    kk: "{platform} хабарламаны қабылдамады ({code} қатесі): {detail}",
    ky: "{platform} билдирүүнү кабыл алган жок ({code} катасы): {detail}",
};

/// The plain words for a WhatsApp error code Meta answered a template with.
pub fn template_error(code: i64) -> Option<&'static Text> {
    Some(match code {
        132_000 => &TEMPLATE_PARAMS,
        132_001 => &TEMPLATE_MISSING,
        132_005 => &TEMPLATE_TOO_LONG,
        132_007 => &TEMPLATE_POLICY,
        132_012 => &TEMPLATE_FORMAT,
        132_015 => &TEMPLATE_PAUSED,
        132_016 => &TEMPLATE_DISABLED,
        _ => return None,
    })
}

pub const ALL: &[&Text] = &[
    &RECENT,
    &REPLY_HINT,
    &FORWARDED,
    &CUSTOMER,
    &ACK_SENT,
    &ACK_FAILED,
    &RESUMED,
    &HELP,
    &UNSUPPORTED,
    &WHO_CHANNEL,
    &WHO_LANGUAGE,
    &WHO_SINCE,
    &WHO_STAGE,
    &WHO_PHONE,
    &WHO_EMAIL,
    &WHO_INTEREST,
    &WHO_NO_LEAD,
    &WHO_AGENT_PAUSED,
    &WHO_AGENT_ACTIVE,
    &NOT_SENT,
    &REASON_WINDOW,
    &REASON_TOO_LONG,
    &REASON_TEMPLATE_ON_TELEGRAM,
    &REASON_NOT_CONFIGURED,
    &REASON_BLOCKED,
    &REASON_PHOTO,
    &TEMPLATE_PARAMS,
    &TEMPLATE_MISSING,
    &TEMPLATE_TOO_LONG,
    &TEMPLATE_POLICY,
    &TEMPLATE_FORMAT,
    &TEMPLATE_PAUSED,
    &TEMPLATE_DISABLED,
    &TEMPLATE_OTHER,
    &REFUSED,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    #[test]
    fn metas_template_codes_have_plain_words() {
        for code in [
            132_000, 132_001, 132_005, 132_007, 132_012, 132_015, 132_016,
        ] {
            let text = template_error(code).expect("a text");
            assert!(text.get(Lang::Ru).contains(&code.to_string()));
            assert!(ALL.iter().any(|t| t.key == text.key));
        }
        assert!(template_error(131_047).is_none());
    }
}
