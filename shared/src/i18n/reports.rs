//! Texts of the scheduled reports: the HTML page (headings, rows, chart titles and
//! legends, units), the managers' Telegram summary, and the names of funnel stages, lead
//! sources and fallback reasons as reports show them. A report is in the tenant's
//! `reports.language`, else its `default_language`.

use super::Text;
use crate::tenant::ReportPeriodKind;

pub const DAILY: Text = Text {
    key: "reports.daily",
    ru: "Отчёт за день",
    en: "Daily report",
    kk: "Күндік есеп",
    ky: "Күндүк отчёт",
};

pub const WEEKLY: Text = Text {
    key: "reports.weekly",
    ru: "Отчёт за неделю",
    en: "Weekly report",
    kk: "Апталық есеп",
    ky: "Жумалык отчёт",
};

pub const MONTHLY: Text = Text {
    key: "reports.monthly",
    ru: "Отчёт за месяц",
    en: "Monthly report",
    kk: "Айлық есеп",
    ky: "Айлык отчёт",
};

pub const COMPARED_WITH: Text = Text {
    key: "reports.compared_with",
    ru: "по сравнению с {previous}",
    en: "compared with {previous}",
    kk: "{previous} кезеңімен салыстырғанда",
    ky: "{previous} мезгили менен салыштырганда",
};

pub const HOURS: Text = Text {
    key: "reports.hours",
    ru: "{hours} ч",
    en: "{hours} h",
    kk: "{hours} сағ",
    ky: "{hours} саат",
};

pub const FIGURE: Text = Text {
    key: "reports.figure",
    ru: "Показатель",
    en: "Figure",
    kk: "Көрсеткіш",
    ky: "Көрсөткүч",
};

pub const VALUE: Text = Text {
    key: "reports.value",
    ru: "Значение",
    en: "Value",
    kk: "Мәні",
    ky: "Маани",
};

pub const PREVIOUS: Text = Text {
    key: "reports.previous",
    ru: "Ранее",
    en: "Previous",
    kk: "Бұрын",
    ky: "Мурун",
};

pub const CHANGE: Text = Text {
    key: "reports.change",
    ru: "Изменение",
    en: "Change",
    kk: "Өзгеріс",
    ky: "Өзгөрүү",
};

pub const CONVERSATIONS: Text = Text {
    key: "reports.conversations",
    ru: "Диалоги",
    en: "Conversations",
    kk: "Диалогтар",
    ky: "Диалогдор",
};

pub const MESSAGES_IN: Text = Text {
    key: "reports.messages_in",
    ru: "Входящие сообщения",
    en: "Messages in",
    kk: "Кіріс хабарлар",
    ky: "Кирген билдирүүлөр",
};

pub const MESSAGES_OUT: Text = Text {
    key: "reports.messages_out",
    ru: "Исходящие сообщения",
    en: "Messages out",
    kk: "Шығыс хабарлар",
    ky: "Чыккан билдирүүлөр",
};

pub const CONTACTS_NEW: Text = Text {
    key: "reports.contacts_new",
    ru: "Новые контакты",
    en: "New contacts",
    kk: "Жаңа контактілер",
    ky: "Жаңы байланыштар",
};

pub const REPLIES_LLM: Text = Text {
    key: "reports.replies_llm",
    ru: "Ответы ИИ",
    en: "AI replies",
    kk: "ЖИ жауаптары",
    ky: "ЖИ жооптору",
};

pub const REPLIES_FALLBACK: Text = Text {
    key: "reports.replies_fallback",
    ru: "Резервные ответы",
    en: "Fallback replies",
    kk: "Резервтік жауаптар",
    ky: "Резервдик жооптор",
};

pub const LLM_SHARE: Text = Text {
    key: "reports.llm_share",
    ru: "Доля ответов ИИ",
    en: "AI share of replies",
    kk: "ЖИ жауаптарының үлесі",
    ky: "ЖИ жоопторунун үлүшү",
};

pub const MEDIAN_LATENCY: Text = Text {
    key: "reports.median_latency",
    ru: "Медианное время ответа",
    en: "Median reply time",
    kk: "Жауаптың медианалық уақыты",
    ky: "Жооптун медианалык убактысы",
};

pub const P90_LATENCY: Text = Text {
    key: "reports.p90_latency",
    ru: "90% ответов быстрее",
    en: "90% of replies within",
    kk: "Жауаптардың 90%-ы",
    ky: "Жооптордун 90%ы",
};

pub const HANDOFFS: Text = Text {
    key: "reports.handoffs",
    ru: "Передано менеджеру",
    en: "Handed to a manager",
    kk: "Менеджерге берілді",
    ky: "Менеджерге өткөрүлдү",
};

pub const REPLIES_NOT_SENT: Text = Text {
    key: "reports.replies_not_sent",
    ru: "Ответы не доставлены",
    en: "Replies not delivered",
    kk: "Жеткізілмеген жауаптар",
    ky: "Жеткирилбеген жооптор",
};

pub const RATE_LIMITED: Text = Text {
    key: "reports.rate_limited",
    ru: "Ограничено по частоте",
    en: "Rate-limited messages",
    kk: "Жиілік шектеуі",
    ky: "Жыштык чектөөсү",
};

pub const FALLBACK: Text = Text {
    key: "reports.fallback",
    ru: "Резервный ответ",
    en: "Fallback",
    kk: "Резервтік жауап",
    ky: "Резервдик жооп",
};

pub const LEADS_HEADING: Text = Text {
    key: "reports.leads_heading",
    ru: "Лиды и воронка",
    en: "Leads and funnel",
    kk: "Лидтер және воронка",
    ky: "Лиддер жана воронка",
};

pub const LEADS_NEW: Text = Text {
    key: "reports.leads_new",
    ru: "Новые лиды",
    en: "New leads",
    kk: "Жаңа лидтер",
    ky: "Жаңы лиддер",
};

pub const SOURCE: Text = Text {
    key: "reports.source",
    ru: "Источник",
    en: "Source",
    kk: "Көзі",
    ky: "Булак",
};

pub const ENTERED: Text = Text {
    key: "reports.entered",
    ru: "Вошли",
    en: "Entered",
    kk: "Кірді",
    ky: "Кирди",
};

pub const CONVERSION: Text = Text {
    key: "reports.conversion",
    ru: "Конверсия",
    en: "Conversion",
    kk: "Конверсия",
    ky: "Конверсия",
};

pub const WON: Text = Text {
    key: "reports.won",
    ru: "Выиграно",
    en: "Won",
    kk: "Сәтті",
    ky: "Ийгиликтүү",
};

pub const LOST: Text = Text {
    key: "reports.lost",
    ru: "Потеряно",
    en: "Lost",
    kk: "Жоғалған",
    ky: "Жоголгон",
};

pub const MERGED: Text = Text {
    key: "reports.merged",
    ru: "Повторные заявки",
    en: "Repeat requests merged",
    kk: "Қайталанған өтінімдер",
    ky: "Кайталанган өтүнмөлөр",
};

pub const CRM_DELIVERED: Text = Text {
    key: "reports.crm_delivered",
    ru: "Отправлено в CRM",
    en: "Sent to CRM",
    kk: "CRM-ге жіберілді",
    ky: "CRMге жөнөтүлдү",
};

pub const CRM_FAILED: Text = Text {
    key: "reports.crm_failed",
    ru: "Ошибки отправки в CRM",
    en: "CRM attempts failed",
    kk: "CRM қателері",
    ky: "CRM каталары",
};

pub const CRM_GAVE_UP: Text = Text {
    key: "reports.crm_gave_up",
    ru: "Не доставлено в CRM",
    en: "CRM deliveries given up",
    kk: "CRM-ге жеткізілмеді",
    ky: "CRMге жеткирилген жок",
};

pub const LOYALTY_HEADING: Text = Text {
    key: "reports.loyalty_heading",
    ru: "Лояльность",
    en: "Loyalty",
    kk: "Адалдық бағдарламасы",
    ky: "Лоялдуулук программасы",
};

pub const ACCRUED: Text = Text {
    key: "reports.accrued",
    ru: "Начислено баллов",
    en: "Points accrued",
    kk: "Есептелген ұпай",
    ky: "Эсептелген упайлар",
};

pub const REDEEMED: Text = Text {
    key: "reports.redeemed",
    ru: "Списано баллов",
    en: "Points redeemed",
    kk: "Жұмсалған ұпай",
    ky: "Сарпталган упайлар",
};

pub const EXPIRED: Text = Text {
    key: "reports.expired",
    ru: "Сгорело баллов",
    en: "Points expired",
    kk: "Күйген ұпай",
    ky: "Күйүп кеткен упайлар",
};

pub const WELCOME: Text = Text {
    key: "reports.welcome",
    ru: "Приветственные бонусы",
    en: "Welcome bonuses",
    kk: "Сәлемдесу бонустары",
    ky: "Саламдашуу бонустары",
};

pub const REFERRAL_BONUS: Text = Text {
    key: "reports.referral_bonus",
    ru: "Реферальные бонусы",
    en: "Referral bonuses",
    kk: "Реферал бонустары",
    ky: "Реферал бонустары",
};

pub const REFERRAL_JOINS: Text = Text {
    key: "reports.referral_joins",
    ru: "Пришли по приглашению",
    en: "Referral joins",
    kk: "Шақыру бойынша келгендер",
    ky: "Чакыруу боюнча келгендер",
};

pub const MEMBERS_NEW: Text = Text {
    key: "reports.members_new",
    ru: "Новые участники",
    en: "New members",
    kk: "Жаңа қатысушылар",
    ky: "Жаңы катышуучулар",
};

pub const ACTIVE_MEMBERS: Text = Text {
    key: "reports.active_members",
    ru: "Активные участники",
    en: "Active members",
    kk: "Белсенді қатысушылар",
    ky: "Активдүү катышуучулар",
};

pub const PURCHASES: Text = Text {
    key: "reports.purchases",
    ru: "Покупки",
    en: "Purchases",
    kk: "Сатып алулар",
    ky: "Сатып алуулар",
};

pub const TURNOVER: Text = Text {
    key: "reports.turnover",
    ru: "Оборот",
    en: "Turnover",
    kk: "Айналым",
    ky: "Жүгүртүү",
};

pub const NPS: Text = Text {
    key: "reports.nps",
    ru: "NPS",
    en: "NPS",
    kk: "NPS",
    ky: "NPS",
};

pub const RATINGS: Text = Text {
    key: "reports.ratings",
    ru: "Оценки",
    en: "Ratings",
    kk: "Бағалар",
    ky: "Баалар",
};

pub const PARTNERS: Text = Text {
    key: "reports.partners",
    ru: "Партнёры",
    en: "Partners",
    kk: "Серіктестер",
    ky: "Өнөктөштөр",
};

pub const PARTNER: Text = Text {
    key: "reports.partner",
    ru: "Партнёр",
    en: "Partner",
    kk: "Серіктес",
    ky: "Өнөктөш",
};

pub const AI_HEADING: Text = Text {
    key: "reports.ai_heading",
    ru: "Использование ИИ",
    en: "AI usage",
    kk: "ЖИ пайдалану",
    ky: "ЖИ колдонуу",
};

pub const AI_CALLS: Text = Text {
    key: "reports.ai_calls",
    ru: "Запросы к ИИ",
    en: "AI calls",
    kk: "ЖИ сұраулары",
    ky: "ЖИге суроо-талаптар",
};

pub const TOKENS: Text = Text {
    key: "reports.tokens",
    ru: "Токены",
    en: "Tokens",
    kk: "Токендер",
    ky: "Токендер",
};

pub const PROMPT_TOKENS: Text = Text {
    key: "reports.prompt_tokens",
    ru: "Токены (запрос)",
    en: "Tokens (prompt)",
    kk: "Токендер (сұрау)",
    ky: "Токендер (суроо)",
};

pub const COMPLETION_TOKENS: Text = Text {
    key: "reports.completion_tokens",
    ru: "Токены (ответ)",
    en: "Tokens (completion)",
    kk: "Токендер (жауап)",
    ky: "Токендер (жооп)",
};

pub const COST: Text = Text {
    key: "reports.cost",
    ru: "Расходы на ИИ",
    en: "AI cost",
    kk: "ЖИ шығыны",
    ky: "ЖИ чыгымы",
};

pub const COST_PER_CONVERSATION: Text = Text {
    key: "reports.cost_per_conversation",
    ru: "Стоимость диалога",
    en: "Cost per conversation",
    kk: "Бір диалог құны",
    ky: "Бир диалогдун баасы",
};

pub const BUDGET: Text = Text {
    key: "reports.budget",
    ru: "Месячный бюджет",
    en: "Monthly budget",
    kk: "Айлық бюджет",
    ky: "Айлык бюджет",
};

pub const BUDGET_USED: Text = Text {
    key: "reports.budget_used",
    ru: "Использовано бюджета",
    en: "Budget used",
    kk: "Бюджеттің жұмсалғаны",
    ky: "Бюджеттин колдонулганы",
};

pub const NO_BUDGET: Text = Text {
    key: "reports.no_budget",
    ru: "бюджет не задан",
    en: "no budget set",
    kk: "бюджет белгіленбеген",
    ky: "бюджет белгиленген эмес",
};

pub const MONTH_TO_DATE: Text = Text {
    key: "reports.month_to_date",
    ru: "с начала месяца",
    en: "month to date",
    kk: "ай басынан бері",
    ky: "ай башынан бери",
};

pub const CHART_MESSAGES: Text = Text {
    key: "reports.chart_messages",
    ru: "Сообщения по дням",
    en: "Messages per day",
    kk: "Күн сайынғы хабарлар",
    ky: "Күн сайынкы билдирүүлөр",
};

pub const CHART_FUNNEL: Text = Text {
    key: "reports.chart_funnel",
    ru: "Лиды по этапам воронки",
    en: "Leads entering each stage",
    kk: "Воронка кезеңдері бойынша лидтер",
    ky: "Воронканын этаптары боюнча лиддер",
};

pub const CHART_LOYALTY: Text = Text {
    key: "reports.chart_loyalty",
    ru: "Начислено и списано баллов",
    en: "Points accrued and redeemed",
    kk: "Есептелген және жұмсалған ұпайлар",
    ky: "Эсептелген жана сарпталган упайлар",
};

pub const CHART_AI: Text = Text {
    key: "reports.chart_ai",
    ru: "Расходы на ИИ за месяц и бюджет",
    en: "AI cost this month against the budget",
    kk: "Айдағы ЖИ шығыны және бюджет",
    ky: "Айдагы ЖИ чыгымы жана бюджет",
};

pub const POINTS: Text = Text {
    key: "reports.points",
    ru: "{points} баллов",
    en: "{points} pts",
    kk: "{points} ұпай",
    ky: "{points} упай",
};

pub const OPEN_REPORT: Text = Text {
    key: "reports.open_report",
    ru: "Открыть полный отчёт",
    en: "Open the full report",
    kk: "Толық есепті ашу",
    ky: "Толук отчётту ачуу",
};

pub const FOOTER: Text = Text {
    key: "reports.footer",
    ru: "Данные взяты из дневных счётчиков в часовом поясе компании; изменения — по сравнению с предыдущим периодом того же типа.",
    en: "Figures come from daily counters in the tenant's time zone; changes compare with the previous period of the same kind.",
    kk: "Деректер компанияның уақыт белдеуіндегі күндік есептегіштерден алынған; өзгерістер алдыңғы осындай кезеңмен салыстырылады.",
    ky: "Маалыматтар компаниянын убакыт алкагындагы күндүк эсептегичтерден алынган; өзгөрүүлөр ушундай эле мурунку мезгил менен салыштырылат.",
};

pub const LATENCY_MS: Text = Text {
    key: "reports.latency_ms",
    ru: "≤ {ms} мс",
    en: "≤ {ms} ms",
    kk: "≤ {ms} мс",
    ky: "≤ {ms} мс",
};

pub const LATENCY_S: Text = Text {
    key: "reports.latency_s",
    ru: "≤ {s} с",
    en: "≤ {s} s",
    kk: "≤ {s} с",
    ky: "≤ {s} сек",
};

pub const ABOVE: Text = Text {
    key: "reports.above",
    ru: "более {s} с",
    en: "over {s} s",
    kk: "{s} с-тан астам",
    ky: "{s} сек ашык",
};

pub const CHANGE_PP: Text = Text {
    key: "reports.change_pp",
    ru: "{change} п.п.",
    en: "{change} pp",
    kk: "{change} п.т.",
    ky: "{change} п.п.",
};

pub const STAGE_NEW: Text = Text {
    key: "reports.stage.new",
    ru: "Новый",
    en: "New",
    kk: "Жаңа",
    ky: "Жаңы",
};

pub const STAGE_QUALIFICATION: Text = Text {
    key: "reports.stage.qualification",
    ru: "Квалификация",
    en: "Qualification",
    kk: "Біліктілік",
    ky: "Квалификация",
};

pub const STAGE_WARMING: Text = Text {
    key: "reports.stage.warming",
    ru: "Прогрев",
    en: "Warming",
    kk: "Жылыту",
    ky: "Жылытуу",
};

pub const STAGE_OFFER: Text = Text {
    key: "reports.stage.offer",
    ru: "Предложение",
    en: "Offer",
    kk: "Ұсыныс",
    ky: "Сунуш",
};

pub const STAGE_NEGOTIATION: Text = Text {
    key: "reports.stage.negotiation",
    ru: "Переговоры",
    en: "Negotiation",
    kk: "Келіссөз",
    ky: "Сүйлөшүүлөр",
};

pub const STAGE_SALE: Text = Text {
    key: "reports.stage.sale",
    ru: "Продажа",
    en: "Sale",
    kk: "Сату",
    ky: "Сатуу",
};

pub const STAGE_SERVICE: Text = Text {
    key: "reports.stage.service",
    ru: "Обслуживание",
    en: "Service",
    kk: "Қызмет көрсету",
    ky: "Тейлөө",
};

pub const STAGE_FEEDBACK: Text = Text {
    key: "reports.stage.feedback",
    ru: "Отзыв",
    en: "Feedback",
    kk: "Пікір",
    ky: "Пикир",
};

pub const STAGE_REPEAT_SALE: Text = Text {
    key: "reports.stage.repeat_sale",
    ru: "Повторная продажа",
    en: "Repeat sale",
    kk: "Қайта сату",
    ky: "Кайра сатуу",
};

pub const STAGE_LOST: Text = Text {
    key: "reports.stage.lost",
    ru: "Потерян",
    en: "Lost",
    kk: "Жоғалған",
    ky: "Жоголгон",
};

pub const SOURCE_AGENT: Text = Text {
    key: "reports.source.agent",
    ru: "ИИ-консультант",
    en: "AI consultant",
    kk: "ЖИ-кеңесші",
    ky: "ЖИ-кеңешчи",
};

pub const SOURCE_FORM: Text = Text {
    key: "reports.source.form",
    ru: "Веб-форма",
    en: "Web form",
    kk: "Веб-форма",
    ky: "Веб-форма",
};

pub const SOURCE_SWEEP: Text = Text {
    key: "reports.source.sweep",
    ru: "Замолчавшие клиенты",
    en: "Went quiet",
    kk: "Үнсіз қалған клиенттер",
    ky: "Унчукпай калган кардарлар",
};

pub const SOURCE_MANUAL: Text = Text {
    key: "reports.source.manual",
    ru: "Вручную",
    en: "Manual",
    kk: "Қолмен",
    ky: "Кол менен",
};

pub const FALLBACK_NO_LLM: Text = Text {
    key: "reports.fallback.no_llm",
    ru: "ИИ не настроен",
    en: "no AI configured",
    kk: "ЖИ бапталмаған",
    ky: "ЖИ жөндөлгөн эмес",
};

pub const FALLBACK_LLM_ERROR: Text = Text {
    key: "reports.fallback.llm_error",
    ru: "ошибка ИИ",
    en: "AI error",
    kk: "ЖИ қатесі",
    ky: "ЖИ катасы",
};

pub const FALLBACK_BUDGET: Text = Text {
    key: "reports.fallback.budget",
    ru: "бюджет исчерпан",
    en: "budget spent",
    kk: "бюджет таусылды",
    ky: "бюджет түгөндү",
};

pub const FALLBACK_QUOTA: Text = Text {
    key: "reports.fallback.quota",
    ru: "квота провайдера",
    en: "provider quota",
    kk: "провайдер квотасы",
    ky: "провайдердин квотасы",
};

// ---- The sales section (orders and payments) ----

pub const SALES_HEADING: Text = Text {
    key: "reports.sales_heading",
    ru: "Продажи",
    en: "Sales",
    kk: "Сату",
    ky: "Сатуу",
};

pub const ORDERS_PLACED: Text = Text {
    key: "reports.orders_placed",
    ru: "Оформлено заказов",
    en: "Orders placed",
    kk: "Рәсімделген тапсырыстар",
    ky: "Таризделген буйрутмалар",
};

pub const ORDERS_PAID: Text = Text {
    key: "reports.orders_paid",
    ru: "Оплачено заказов",
    en: "Orders paid",
    kk: "Төленген тапсырыстар",
    ky: "Төлөнгөн буйрутмалар",
};

pub const REVENUE: Text = Text {
    key: "reports.revenue",
    ru: "Выручка",
    en: "Revenue",
    kk: "Түсім",
    ky: "Киреше",
};

pub const AVERAGE_ORDER: Text = Text {
    key: "reports.average_order",
    ru: "Средний чек",
    en: "Average order value",
    kk: "Орташа чек",
    ky: "Орточо чек",
};

pub const REFUNDS: Text = Text {
    key: "reports.refunds",
    ru: "Возвраты",
    en: "Refunds",
    kk: "Қайтарымдар",
    ky: "Кайтаруулар",
};

pub const REFUNDED: Text = Text {
    key: "reports.refunded",
    ru: "Возвращено денег",
    en: "Money refunded",
    kk: "Қайтарылған ақша",
    ky: "Кайтарылган акча",
};

pub const NET_REVENUE: Text = Text {
    key: "reports.net_revenue",
    ru: "Выручка за вычетом возвратов",
    en: "Revenue net of refunds",
    kk: "Қайтарымдарды шегергендегі түсім",
    ky: "Кайтарууларды чегергендеги киреше",
};

pub const ORDERS_CANCELED: Text = Text {
    key: "reports.orders_canceled",
    ru: "Отменено заказов",
    en: "Orders canceled",
    kk: "Тоқтатылған тапсырыстар",
    ky: "Жокко чыгарылган буйрутмалар",
};

pub const ORDERS_EXPIRED: Text = Text {
    key: "reports.orders_expired",
    ru: "Истекло без оплаты",
    en: "Expired unpaid",
    kk: "Төленбей мерзімі өткендер",
    ky: "Төлөнбөй мөөнөтү өткөндөр",
};

pub const ORDERS_OVERPAID: Text = Text {
    key: "reports.orders_overpaid",
    ru: "Оплачено дважды",
    en: "Paid twice",
    kk: "Екі рет төленгендер",
    ky: "Эки жолу төлөнгөндөр",
};

pub const PAYMENT_MISMATCH: Text = Text {
    key: "reports.payment_mismatch",
    ru: "Платежи с неверной суммой",
    en: "Payments with a wrong amount",
    kk: "Сомасы қате төлемдер",
    ky: "Суммасы туура эмес төлөмдөр",
};

pub const PAYMENT_FAILED: Text = Text {
    key: "reports.payment_failed",
    ru: "Неудачные оплаты",
    en: "Failed payments",
    kk: "Сәтсіз төлемдер",
    ky: "Ийгиликсиз төлөмдөр",
};

pub const PAYMENT_METHODS: Text = Text {
    key: "reports.payment_methods",
    ru: "Способы оплаты",
    en: "Payment methods",
    kk: "Төлем тәсілдері",
    ky: "Төлөө ыкмалары",
};

pub const PAYMENT_METHOD: Text = Text {
    key: "reports.payment_method",
    ru: "Способ",
    en: "Method",
    kk: "Тәсіл",
    ky: "Ыкма",
};

pub const TOP_PRODUCTS: Text = Text {
    key: "reports.top_products",
    ru: "Лучшие товары по выручке",
    en: "Top products by revenue",
    kk: "Түсім бойынша үздік тауарлар",
    ky: "Киреше боюнча алдыңкы товарлар",
};

pub const PRODUCT: Text = Text {
    key: "reports.product",
    ru: "Товар (артикул)",
    en: "Product (SKU)",
    kk: "Тауар (артикул)",
    ky: "Товар (артикул)",
};

pub const UNITS: Text = Text {
    key: "reports.units",
    ru: "Штук",
    en: "Units",
    kk: "Дана",
    ky: "Даана",
};

pub const ALL: &[&Text] = &[
    &DAILY,
    &WEEKLY,
    &MONTHLY,
    &COMPARED_WITH,
    &HOURS,
    &FIGURE,
    &VALUE,
    &PREVIOUS,
    &CHANGE,
    &CONVERSATIONS,
    &MESSAGES_IN,
    &MESSAGES_OUT,
    &CONTACTS_NEW,
    &REPLIES_LLM,
    &REPLIES_FALLBACK,
    &LLM_SHARE,
    &MEDIAN_LATENCY,
    &P90_LATENCY,
    &HANDOFFS,
    &REPLIES_NOT_SENT,
    &RATE_LIMITED,
    &FALLBACK,
    &LEADS_HEADING,
    &LEADS_NEW,
    &SOURCE,
    &ENTERED,
    &CONVERSION,
    &WON,
    &LOST,
    &MERGED,
    &CRM_DELIVERED,
    &CRM_FAILED,
    &CRM_GAVE_UP,
    &LOYALTY_HEADING,
    &ACCRUED,
    &REDEEMED,
    &EXPIRED,
    &WELCOME,
    &REFERRAL_BONUS,
    &REFERRAL_JOINS,
    &MEMBERS_NEW,
    &ACTIVE_MEMBERS,
    &PURCHASES,
    &TURNOVER,
    &NPS,
    &RATINGS,
    &PARTNERS,
    &PARTNER,
    &AI_HEADING,
    &AI_CALLS,
    &TOKENS,
    &PROMPT_TOKENS,
    &COMPLETION_TOKENS,
    &COST,
    &COST_PER_CONVERSATION,
    &BUDGET,
    &BUDGET_USED,
    &NO_BUDGET,
    &MONTH_TO_DATE,
    &CHART_MESSAGES,
    &CHART_FUNNEL,
    &CHART_LOYALTY,
    &CHART_AI,
    &POINTS,
    &OPEN_REPORT,
    &FOOTER,
    &LATENCY_MS,
    &LATENCY_S,
    &ABOVE,
    &CHANGE_PP,
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
    &SOURCE_AGENT,
    &SOURCE_FORM,
    &SOURCE_SWEEP,
    &SOURCE_MANUAL,
    &FALLBACK_NO_LLM,
    &FALLBACK_LLM_ERROR,
    &FALLBACK_BUDGET,
    &FALLBACK_QUOTA,
    &SALES_HEADING,
    &ORDERS_PLACED,
    &ORDERS_PAID,
    &REVENUE,
    &AVERAGE_ORDER,
    &REFUNDS,
    &REFUNDED,
    &NET_REVENUE,
    &ORDERS_CANCELED,
    &ORDERS_EXPIRED,
    &ORDERS_OVERPAID,
    &PAYMENT_MISMATCH,
    &PAYMENT_FAILED,
    &PAYMENT_METHODS,
    &PAYMENT_METHOD,
    &TOP_PRODUCTS,
    &PRODUCT,
    &UNITS,
];

/// The title of a report of `kind` (the period id follows it).
pub fn title(kind: ReportPeriodKind) -> &'static Text {
    match kind {
        ReportPeriodKind::Daily => &DAILY,
        ReportPeriodKind::Weekly => &WEEKLY,
        ReportPeriodKind::Monthly => &MONTHLY,
    }
}

/// A funnel stage's name (`new`, `qualification`, …); `None` for a stage this catalog
/// does not know, which reports then show by its code.
pub fn stage(code: &str) -> Option<&'static Text> {
    Some(match code {
        "new" => &STAGE_NEW,
        "qualification" => &STAGE_QUALIFICATION,
        "warming" => &STAGE_WARMING,
        "offer" => &STAGE_OFFER,
        "negotiation" => &STAGE_NEGOTIATION,
        "sale" => &STAGE_SALE,
        "service" => &STAGE_SERVICE,
        "feedback" => &STAGE_FEEDBACK,
        "repeat_sale" => &STAGE_REPEAT_SALE,
        "lost" => &STAGE_LOST,
        _ => return None,
    })
}

/// A lead source's name (`agent`, `form`, `sweep`, `manual`).
pub fn source(code: &str) -> Option<&'static Text> {
    Some(match code {
        "agent" => &SOURCE_AGENT,
        "form" => &SOURCE_FORM,
        "sweep" => &SOURCE_SWEEP,
        "manual" => &SOURCE_MANUAL,
        _ => return None,
    })
}

/// Why a fallback reply was sent (the `fallback_{reason}` counters).
pub fn fallback_reason(code: &str) -> Option<&'static Text> {
    Some(match code {
        "no_llm" => &FALLBACK_NO_LLM,
        "llm_error" => &FALLBACK_LLM_ERROR,
        "budget" => &FALLBACK_BUDGET,
        "quota" => &FALLBACK_QUOTA,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::funnel::Stage;
    use crate::i18n::Lang;

    #[test]
    fn every_stage_has_a_name_and_kyrgyz_is_kyrgyz() {
        for s in Stage::ALL {
            assert!(stage(s.as_str()).is_some(), "{s}");
        }
        assert_eq!(
            title(ReportPeriodKind::Monthly).get(Lang::Ky),
            "Айлык отчёт"
        );
        assert_eq!(
            stage("repeat_sale").unwrap().get(Lang::Ru),
            "Повторная продажа"
        );
        assert!(source("partner-x").is_none() && fallback_reason("other").is_none());
    }
}
