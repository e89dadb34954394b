//! What the AI consultant (agent-reply) says without a model: the retrieval fallback,
//! its notices to customers, and its notices to managers (Telegram HTML).

use super::Text;

// ---- To the customer ----------------------------------------------------------------

pub const FOUND: Text = Text {
    key: "agent.found",
    ru: "Вот что нашлось в каталоге:",
    en: "Here is what I found in our catalog:",
    kk: "Каталогтан табылғаны:",
    ky: "Каталогдон табылганы:",
};

pub const NOTHING_FOUND: Text = Text {
    key: "agent.nothing_found",
    ru: "Спасибо за сообщение! Уточните, пожалуйста, название или артикул товара — я подберу варианты.",
    en: "Thanks for your message! Please tell me the product name or SKU and I will find options for you.",
    kk: "Хабарламаңызға рахмет! Тауардың атауын немесе артикулын жазыңызшы — нұсқаларды таңдап беремін.",
    ky: "Билдирүүңүз үчүн рахмат! Товардын аталышын же артикулун жазыңызчы — ылайыктуу варианттарды тандап берем.",
};

pub const OFFER_MANAGER: Text = Text {
    key: "agent.offer_manager",
    ru: "Если нужен менеджер, напишите «менеджер» — он свяжется с вами.",
    en: "If you would like a manager, just write \"manager\" and they will contact you.",
    kk: "Менеджер керек болса, «менеджер» деп жазыңыз — ол сізбен байланысады.",
    ky: "Менеджер керек болсо, «менеджер» деп жазыңыз — ал сиз менен байланышат.",
};

pub const HANDOFF_DONE: Text = Text {
    key: "agent.handoff_done",
    ru: "Передал ваш вопрос менеджеру — он скоро ответит вам здесь.",
    en: "I have passed your question to a manager; they will reply to you here soon.",
    kk: "Сұрағыңызды менеджерге жібердім — ол жақын арада осында жауап береді.",
    ky: "Сурооңузду менеджерге өткөрдүм — ал жакында ушул жерден жооп берет.",
};

pub const LEAD_THANKS: Text = Text {
    key: "agent.lead_thanks",
    ru: "Спасибо, контакты получили — менеджер свяжется с вами.",
    en: "Thank you, we have your contact details; a manager will get in touch.",
    kk: "Рахмет, байланыс деректеріңізді алдық — менеджер хабарласады.",
    ky: "Рахмат, байланыш маалыматыңызды алдык — менеджер сиз менен байланышат.",
};

pub const RATE_LIMITED: Text = Text {
    key: "agent.rate_limited",
    ru: "Вы пишете очень часто. Пожалуйста, подождите минуту и напишите снова — я отвечу.",
    en: "You are sending messages very quickly. Please wait a minute and write again; I will answer.",
    kk: "Сіз тым жиі жазып жатырсыз. Бір минут күтіп, қайта жазыңыз — жауап беремін.",
    ky: "Сиз өтө тез-тез жазып жатасыз. Бир мүнөт күтүп, кайра жазыңызчы — жооп берем.",
};

pub const VOICE_UNSUPPORTED: Text = Text {
    key: "agent.voice_unsupported",
    ru: "Голосовые сообщения я пока не слушаю — напишите, пожалуйста, текстом.",
    en: "I cannot listen to voice messages yet; please write your question in text.",
    kk: "Дауыстық хабарламаларды әзірге тыңдай алмаймын — сұрағыңызды мәтінмен жазыңызшы.",
    ky: "Үн билдирүүлөрүн азырынча уга албайм — сурооңузду текст менен жазыңызчы.",
};

pub const IN_STOCK: Text = Text {
    key: "agent.in_stock",
    ru: "в наличии",
    en: "in stock",
    kk: "қоймада бар",
    ky: "кампада бар",
};

pub const OUT_OF_STOCK: Text = Text {
    key: "agent.out_of_stock",
    ru: "нет в наличии",
    en: "out of stock",
    kk: "қоймада жоқ",
    ky: "кампада жок",
};

pub const ON_ORDER: Text = Text {
    key: "agent.on_order",
    ru: "под заказ",
    en: "on order",
    kk: "тапсырыспен",
    ky: "буйрутма менен",
};

pub const PRICE_ON_REQUEST: Text = Text {
    key: "agent.price_on_request",
    ru: "цена по запросу",
    en: "price on request",
    kk: "бағасы сұраныс бойынша",
    ky: "баасы суроо боюнча",
};

// ---- To the managers (Telegram HTML; placeholders are escaped by the caller) --------

/// Stands in for a customer who has no display name.
pub const CUSTOMER: Text = Text {
    key: "agent.customer",
    ru: "Клиент",
    en: "Customer",
    kk: "Клиент",
    ky: "Кардар",
};

/// What a customer sent, in a notice, when it is not text.
pub const SENT_VOICE: Text = Text {
    key: "agent.sent_voice",
    ru: "[голосовое сообщение]",
    en: "[voice message]",
    kk: "[дауыстық хабарлама]",
    ky: "[үн билдирүү]",
};

pub const SENT_PHOTO: Text = Text {
    key: "agent.sent_photo",
    ru: "[фото]",
    en: "[photo]",
    kk: "[фото]",
    ky: "[сүрөт]",
};

pub const SENT_CONTACT: Text = Text {
    key: "agent.sent_contact",
    ru: "[контакт: {phone}]",
    en: "[contact: {phone}]",
    kk: "[байланыс: {phone}]",
    ky: "[байланыш: {phone}]",
};

pub const SENT_LOCATION: Text = Text {
    key: "agent.sent_location",
    ru: "[геолокация: {place}]",
    en: "[location: {place}]",
    kk: "[орналасқан жер: {place}]",
    ky: "[жайгашкан жер: {place}]",
};

pub const SENT_OTHER: Text = Text {
    key: "agent.sent_other",
    ru: "[сообщение, которое нельзя показать]",
    en: "[a message that cannot be shown]",
    kk: "[көрсетуге болмайтын хабарлама]",
    ky: "[көрсөтүүгө мүмкүн болбогон билдирүү]",
};

pub const NOTICE_PAUSED: Text = Text {
    key: "agent.notice_paused",
    ru: "<b>{customer}</b> написал(а), пока ассистент для этого клиента на паузе:\n{text}",
    en: "<b>{customer}</b> wrote while the assistant is paused for them:\n{text}",
    kk: "<b>{customer}</b> жазды, ал ассистент бұл клиент үшін кідіртілген:\n{text}",
    ky: "<b>{customer}</b> жазды, бирок ассистент бул кардар үчүн тындырылган:\n{text}",
};

pub const NOTICE_WINDOW: Text = Text {
    key: "agent.notice_window",
    ru: "<b>{customer}</b> ждёт ответа, но 24-часовое окно WhatsApp закрылось: напишите клиенту шаблонным сообщением.\nПоследнее сообщение: {text}",
    en: "<b>{customer}</b> is waiting for an answer, but WhatsApp's 24-hour window has closed: contact them with a template message.\nLast message: {text}",
    kk: "<b>{customer}</b> жауап күтіп отыр, бірақ WhatsApp-тың 24 сағаттық терезесі жабылды: клиентке үлгі хабарламамен жазыңыз.\nСоңғы хабарлама: {text}",
    ky: "<b>{customer}</b> жооп күтүп жатат, бирок WhatsApp'тын 24 сааттык терезеси жабылды: кардарга шаблон билдирүү менен жазыңыз.\nАкыркы билдирүү: {text}",
};

pub const NOTICE_HANDOFF: Text = Text {
    key: "agent.notice_handoff",
    ru: "<b>Передача менеджеру</b>: {customer} нужен менеджер. Ассистент для этого клиента на паузе, пока вы его не возобновите.\nПричина: {reason}\nПоследнее сообщение: {text}",
    en: "<b>Handoff</b>: {customer} needs a manager. The assistant is paused for this customer until you resume it.\nReason: {reason}\nLast message: {text}",
    kk: "<b>Менеджерге беру</b>: {customer} менеджерді қажет етеді. Сіз қайта қоспайынша, ассистент бұл клиент үшін кідіртіледі.\nСебебі: {reason}\nСоңғы хабарлама: {text}",
    ky: "<b>Менеджерге өткөрүү</b>: {customer} менеджерге муктаж. Сиз кайра иштетмейинче, ассистент бул кардар үчүн тындырылат.\nСебеби: {reason}\nАкыркы билдирүү: {text}",
};

/// The handoff reason when the customer asked for a person in so many words.
pub const HANDOFF_ASKED: Text = Text {
    key: "agent.handoff_asked",
    ru: "клиент попросил менеджера",
    en: "the customer asked for a manager",
    kk: "клиент менеджерді сұрады",
    ky: "кардар менеджерди сурады",
};

pub const NOTICE_BUDGET: Text = Text {
    key: "agent.notice_budget",
    ru: "<b>Бюджет на ИИ исчерпан</b> за {month}: {spent} из {budget} USD. До повышения бюджета или конца месяца ассистент отвечает только по каталогу.",
    en: "<b>AI budget spent</b> for {month}: {spent} of {budget} USD. The assistant now answers from the catalog only, until the budget is raised or the month ends.",
    kk: "<b>ЖИ бюджеті таусылды</b> ({month}): {budget} USD ішінен {spent} жұмсалды. Бюджет көбейтілгенше немесе ай біткенше ассистент тек каталог бойынша жауап береді.",
    ky: "<b>ЖИ бюджети түгөндү</b> ({month}): {budget} USD ичинен {spent} сарпталды. Бюджет көбөйтүлгөнчө же ай бүткөнчө ассистент каталог боюнча гана жооп берет.",
};

pub const NOTICE_LLM_KEY_MISSING: Text = Text {
    key: "agent.notice_llm_key_missing",
    ru: "<b>Ассистент не может обратиться к вашей модели</b>: указан ваш собственный адрес модели ({host}), но ваш ключ LLM не сохранён, а ключ платформы на другие адреса не отправляется. Пока вы не добавите ключ (или не уберёте адрес), ассистент отвечает только по каталогу.",
    en: "<b>The assistant cannot use your model</b>: it is set to your own model address ({host}), but no LLM key of yours is stored, and the platform's key is never sent to another address. Until you add your key (or remove the address), the assistant answers from the catalog only.",
    kk: "<b>Ассистент сіздің модельге жүгіне алмайды</b>: өз модельіңіздің мекенжайы ({host}) көрсетілген, бірақ сіздің LLM кілтіңіз сақталмаған, ал платформаның кілті басқа мекенжайларға жіберілмейді. Кілтті қоспайынша (немесе мекенжайды алып тастамайынша) ассистент тек каталог бойынша жауап береді.",
    ky: "<b>Ассистент сиздин моделге кайрыла албайт</b>: өз моделиңиздин дареги ({host}) көрсөтүлгөн, бирок сиздин LLM ачкычыңыз сакталган эмес, ал эми платформанын ачкычы башка даректерге жөнөтүлбөйт. Ачкычты кошмоюнча (же даректи алып салмайынча) ассистент каталог боюнча гана жооп берет.",
};

pub const NOTICE_LLM_URL_REFUSED: Text = Text {
    key: "agent.notice_llm_url_refused",
    ru: "<b>Адрес модели ассистента не разрешён</b>: {host} должен быть публичным https-адресом (частные, локальные и link-local адреса запрещены). Пока адрес не исправлен, ассистент отвечает только по каталогу.",
    en: "<b>The assistant's model address is not allowed</b>: {host} must be a public https address (private, loopback and link-local addresses are refused). Until it is fixed, the assistant answers from the catalog only.",
    kk: "<b>Ассистент моделінің мекенжайына рұқсат жоқ</b>: {host} жария https мекенжайы болуы керек (жеке, локальды және link-local мекенжайларға тыйым салынған). Мекенжай түзетілгенше ассистент тек каталог бойынша жауап береді.",
    ky: "<b>Ассистенттин моделинин дарегине уруксат жок</b>: {host} ачык https дареги болушу керек (жеке, локалдык жана link-local даректерге тыюу салынган). Дарек оңдолгончо ассистент каталог боюнча гана жооп берет.",
};

pub const ALL: &[&Text] = &[
    &FOUND,
    &NOTHING_FOUND,
    &OFFER_MANAGER,
    &HANDOFF_DONE,
    &LEAD_THANKS,
    &RATE_LIMITED,
    &VOICE_UNSUPPORTED,
    &IN_STOCK,
    &OUT_OF_STOCK,
    &ON_ORDER,
    &PRICE_ON_REQUEST,
    &CUSTOMER,
    &SENT_VOICE,
    &SENT_PHOTO,
    &SENT_CONTACT,
    &SENT_LOCATION,
    &SENT_OTHER,
    &NOTICE_PAUSED,
    &NOTICE_WINDOW,
    &NOTICE_HANDOFF,
    &HANDOFF_ASKED,
    &NOTICE_BUDGET,
    &NOTICE_LLM_KEY_MISSING,
    &NOTICE_LLM_URL_REFUSED,
];
