//! Texts of the loyalty ledger: partners' status notices (Telegram HTML; `{name}` is
//! already escaped) and the reasons written on ledger entries that the system makes
//! itself (rendered in the tenant's language when the entry is written).

use super::Text;

pub const PARTNER_APPROVED: Text = Text {
    key: "loyalty.partner_approved",
    ru: "✅ <b>{name}</b>: партнёрство в программе лояльности одобрено.",
    en: "✅ <b>{name}</b>: your loyalty partnership is approved.",
    kk: "✅ <b>{name}</b>: адалдық бағдарламасындағы серіктестігіңіз мақұлданды.",
    ky: "✅ <b>{name}</b>: лоялдуулук программасындагы өнөктөштүгүңүз жактырылды.",
};

pub const PARTNER_REJECTED: Text = Text {
    key: "loyalty.partner_rejected",
    ru: "❌ <b>{name}</b>: заявка на партнёрство отклонена.",
    en: "❌ <b>{name}</b>: your partnership request was rejected.",
    kk: "❌ <b>{name}</b>: серіктестікке берген өтініміңіз қабылданбады.",
    ky: "❌ <b>{name}</b>: өнөктөштүккө берген арызыңыз четке кагылды.",
};

pub const PARTNER_SUSPENDED: Text = Text {
    key: "loyalty.partner_suspended",
    ru: "⏸ <b>{name}</b>: партнёрство приостановлено.",
    en: "⏸ <b>{name}</b>: your partnership is suspended.",
    kk: "⏸ <b>{name}</b>: серіктестігіңіз уақытша тоқтатылды.",
    ky: "⏸ <b>{name}</b>: өнөктөштүгүңүз убактылуу токтотулду.",
};

pub const REASON_WELCOME: Text = Text {
    key: "loyalty.reason.welcome",
    ru: "приветственный бонус",
    en: "welcome bonus",
    kk: "қош келдіңіз бонусы",
    ky: "куттуктоо бонусу",
};

pub const REASON_REFERRAL_BONUS: Text = Text {
    key: "loyalty.reason.referral_bonus",
    ru: "бонус за приглашение: приглашённый участник совершил первую покупку",
    en: "referral bonus: a referred member made a first purchase",
    kk: "шақыру бонусы: шақырылған қатысушы алғашқы сатып алуын жасады",
    ky: "чакыруу бонусу: чакырылган катышуучу биринчи сатып алуусун жасады",
};

pub const REASON_MERGE: Text = Text {
    key: "loyalty.reason.merge",
    ru: "объединение счетов одного клиента по номеру телефона",
    en: "accounts of one customer merged by phone number",
    kk: "бір клиенттің шоттары телефон нөмірі бойынша біріктірілді",
    ky: "бир кардардын эсептери телефон номери боюнча бириктирилди",
};

pub const REASON_CASHBACK: Text = Text {
    key: "loyalty.reason.cashback",
    ru: "кешбэк {percent} % за покупку {purchase}",
    en: "cashback {percent} % on purchase {purchase}",
    kk: "{purchase} сатып алуы үшін {percent} % кешбэк",
    ky: "{purchase} сатып алуусу үчүн {percent} % кешбэк",
};

pub const REASON_REDEEM: Text = Text {
    key: "loyalty.reason.redeem",
    ru: "оплата баллами покупки {purchase}",
    en: "paid with points on purchase {purchase}",
    kk: "{purchase} сатып алуы ұпайлармен төленді",
    ky: "{purchase} сатып алуусу упайлар менен төлөндү",
};

pub const REASON_REFUND: Text = Text {
    key: "loyalty.reason.refund",
    ru: "возврат по покупке {purchase}",
    en: "refund on purchase {purchase}",
    kk: "{purchase} сатып алуы бойынша қайтару",
    ky: "{purchase} сатып алуусу боюнча кайтаруу",
};

pub const REASON_REFUND_WHY: Text = Text {
    key: "loyalty.reason.refund_why",
    ru: "возврат по покупке {purchase}: {why}",
    en: "refund on purchase {purchase}: {why}",
    kk: "{purchase} сатып алуы бойынша қайтару: {why}",
    ky: "{purchase} сатып алуусу боюнча кайтаруу: {why}",
};

pub const REASON_EXPIRED: Text = Text {
    key: "loyalty.reason.expired",
    ru: "сгорели баллы, начисленные по {day} включительно",
    en: "points credited on or before {day} expired",
    kk: "{day} қоса алғанға дейін есептелген ұпайлардың мерзімі өтті",
    ky: "{day} кошо алганга чейин эсептелген упайлардын мөөнөтү бүттү",
};

pub const ALL: &[&Text] = &[
    &REASON_MERGE,
    &PARTNER_APPROVED,
    &PARTNER_REJECTED,
    &PARTNER_SUSPENDED,
    &REASON_WELCOME,
    &REASON_REFERRAL_BONUS,
    &REASON_CASHBACK,
    &REASON_REDEEM,
    &REASON_REFUND,
    &REASON_REFUND_WHY,
    &REASON_EXPIRED,
];
