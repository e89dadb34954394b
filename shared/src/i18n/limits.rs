//! What a tenant's managers read about their plan: warnings at 80 % and 100 % of a
//! monthly limit (HTML, in the tenant's default language).

use super::Text;

pub const NEARLY: Text = Text {
    key: "limits.nearly",
    ru: "⚠️ Использовано {used} из {limit} ({what}) по тарифу «{plan}» в этом месяце. Чтобы не упереться в лимит, смените тариф.",
    en: "⚠️ {used} of {limit} {what} of the “{plan}” plan used this month. Upgrade the plan before you reach the limit.",
    kk: "⚠️ Осы айда «{plan}» тарифі бойынша {limit} ішінен {used} пайдаланылды ({what}). Шектеуге жетпес үшін тарифті ауыстырыңыз.",
    ky: "⚠️ Бул айда «{plan}» тарифи боюнча {limit} ичинен {used} колдонулду ({what}). Чекке жетпеш үчүн тарифти алмаштырыңыз.",
};

pub const REACHED: Text = Text {
    key: "limits.reached",
    ru: "🚫 Лимит тарифа «{plan}» достигнут: {used} из {limit} ({what}) в этом месяце. Покупатели по-прежнему могут оформлять заказы, но смените тариф.",
    en: "🚫 The “{plan}” plan's limit is reached: {used} of {limit} {what} this month. Customers can still order, but please upgrade the plan.",
    kk: "🚫 «{plan}» тарифінің шектеуіне жетті: осы айда {limit} ішінен {used} ({what}). Сатып алушылар әлі де тапсырыс бере алады, бірақ тарифті ауыстырыңыз.",
    ky: "🚫 «{plan}» тарифинин чеги толду: бул айда {limit} ичинен {used} ({what}). Сатып алуучулар дагы эле буйрутма бере алышат, бирок тарифти алмаштырыңыз.",
};

/// The AI budget at 80 %: the agent still answers with the model.
pub const AI_BUDGET_NEARLY: Text = Text {
    key: "limits.ai_budget_nearly",
    ru: "⚠️ <b>Бюджет на ИИ почти исчерпан</b> за {month}: {spent} из {budget} USD. Когда он закончится, ассистент будет отвечать только по каталогу; повысьте бюджет или смените тариф.",
    en: "⚠️ <b>AI budget nearly spent</b> for {month}: {spent} of {budget} USD. Once it is spent the assistant answers from the catalog only; raise the budget or upgrade the plan.",
    kk: "⚠️ <b>ЖИ бюджеті таусылуға жақын</b> ({month}): {budget} USD ішінен {spent} жұмсалды. Ол біткенде ассистент тек каталог бойынша жауап береді; бюджетті көбейтіңіз немесе тарифті ауыстырыңыз.",
    ky: "⚠️ <b>ЖИ бюджети түгөнүп калды</b> ({month}): {budget} USD ичинен {spent} сарпталды. Ал бүткөндө ассистент каталог боюнча гана жооп берет; бюджетти көбөйтүңүз же тарифти алмаштырыңыз.",
};

pub const ORDERS: Text = Text {
    key: "limits.orders",
    ru: "заказов",
    en: "orders",
    kk: "тапсырыс",
    ky: "буйрутма",
};

pub const CONVERSATIONS: Text = Text {
    key: "limits.conversations",
    ru: "диалогов",
    en: "conversations",
    kk: "сұхбат",
    ky: "маек",
};

pub const CHANNELS: Text = Text {
    key: "limits.channels",
    ru: "каналов",
    en: "channels",
    kk: "арна",
    ky: "канал",
};

pub const CATALOG_ITEMS: Text = Text {
    key: "limits.catalog_items",
    ru: "товаров в каталоге",
    en: "catalog items",
    kk: "каталогтағы тауар",
    ky: "каталогдогу товар",
};

pub const ALL: &[&Text] = &[
    &NEARLY,
    &REACHED,
    &AI_BUDGET_NEARLY,
    &ORDERS,
    &CONVERSATIONS,
    &CHANNELS,
    &CATALOG_ITEMS,
];
