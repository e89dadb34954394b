//! What the bot says to partners and to the loyalty program's admins in their Telegram
//! chats (applications, client lookup, accrue / redeem / refund with a confirmation,
//! today's figures, moderation), and the NPS survey customers get after a purchase.
//! Button titles stay within WhatsApp's 20 characters.

use super::Text;

pub const APPLY_HOW: Text = Text {
    key: "partner_chat.apply_how",
    ru: "Чтобы стать партнёром, отправьте /apply и название вашего бизнеса, например: /apply Кофейня на Абая.",
    en: "To become a partner, send /apply and the name of your business, e.g. /apply Coffee House.",
    kk: "Серіктес болу үшін /apply және бизнесіңіздің атауын жіберіңіз, мысалы: /apply Абай көшесіндегі кофехана.",
    ky: "Өнөктөш болуу үчүн /apply жана бизнесиңиздин аталышын жөнөтүңүз, мисалы: /apply Абай көчөсүндөгү кофейня.",
};

pub const APPLIED: Text = Text {
    key: "partner_chat.applied",
    ru: "Заявка «{name}» принята и ждёт одобрения администратора. Мы сообщим о решении здесь.",
    en: "Your application \"{name}\" is received and waits for the administrator's approval. We will tell you the decision here.",
    kk: "«{name}» өтінімі қабылданды және әкімшінің мақұлдауын күтуде. Шешімді осында хабарлаймыз.",
    ky: "«{name}» арызы кабыл алынды жана администратордун макулдугун күтүүдө. Чечимди ушул жерден билдиребиз.",
};

pub const PENDING: Text = Text {
    key: "partner_chat.pending",
    ru: "Ваша заявка ещё ждёт одобрения администратора.",
    en: "Your application is still waiting for the administrator's approval.",
    kk: "Сіздің өтініміңіз әлі әкімшінің мақұлдауын күтуде.",
    ky: "Сиздин арызыңыз дагы эле администратордун макулдугун күтүүдө.",
};

pub const REFUSED: Text = Text {
    key: "partner_chat.refused",
    ru: "Это действие доступно только одобренным партнёрам.",
    en: "This action is for approved partners only.",
    kk: "Бұл әрекет тек мақұлданған серіктестерге қолжетімді.",
    ky: "Бул аракет жалаң гана макулданган өнөктөштөргө жеткиликтүү.",
};

pub const MENU: Text = Text {
    key: "partner_chat.menu",
    ru: "Меню партнёра «{name}»:\n/client ТЕЛЕФОН — найти клиента\n/accrue ТЕЛЕФОН СУММА — начислить кешбэк\n/redeem ТЕЛЕФОН СУММА БАЛЛЫ — оплатить баллами\n/refund ТЕЛЕФОН ЧЕК — возврат покупки\n/today — итоги дня",
    en: "Partner menu of \"{name}\":\n/client PHONE — find a client\n/accrue PHONE AMOUNT — accrue cashback\n/redeem PHONE AMOUNT POINTS — pay with points\n/refund PHONE RECEIPT — refund a purchase\n/today — today's figures",
    kk: "«{name}» серіктесінің мәзірі:\n/client ТЕЛЕФОН — клиентті табу\n/accrue ТЕЛЕФОН СОМА — кешбэк есептеу\n/redeem ТЕЛЕФОН СОМА ҰПАЙ — ұпаймен төлеу\n/refund ТЕЛЕФОН ЧЕК — сатып алуды қайтару\n/today — күннің қорытындысы",
    ky: "«{name}» өнөктөшүнүн менюсу:\n/client ТЕЛЕФОН — кардарды табуу\n/accrue ТЕЛЕФОН СУММА — кешбэк эсептөө\n/redeem ТЕЛЕФОН СУММА УПАЙ — упай менен төлөө\n/refund ТЕЛЕФОН ЧЕК — сатып алууну кайтаруу\n/today — күндүн жыйынтыгы",
};

pub const CLIENT: Text = Text {
    key: "partner_chat.client",
    ru: "Клиент {phone}: баланс {balance} баллов.",
    en: "Client {phone}: balance {balance} points.",
    kk: "Клиент {phone}: балансы {balance} ұпай.",
    ky: "Кардар {phone}: балансы {balance} упай.",
};

pub const NO_CLIENT: Text = Text {
    key: "partner_chat.no_client",
    ru: "Участник программы с таким телефоном не найден.",
    en: "No member of the program has this phone number.",
    kk: "Бұл телефон нөмірімен бағдарлама қатысушысы табылмады.",
    ky: "Бул телефон номери менен программанын катышуучусу табылган жок.",
};

pub const CONFIRM_ACCRUE: Text = Text {
    key: "partner_chat.confirm_accrue",
    ru: "Начислить кешбэк за покупку на {amount} {currency} клиенту {phone}?",
    en: "Accrue cashback on a purchase of {amount} {currency} to client {phone}?",
    kk: "{phone} клиентіне {amount} {currency} сатып алу үшін кешбэк есептелсін бе?",
    ky: "{phone} кардарына {amount} {currency} сатып алуу үчүн кешбэк эсептелсинби?",
};

pub const CONFIRM_REDEEM: Text = Text {
    key: "partner_chat.confirm_redeem",
    ru: "Списать {points} баллов в оплату покупки на {amount} {currency} клиента {phone}?",
    en: "Pay {points} points of a purchase of {amount} {currency} for client {phone}?",
    kk: "{phone} клиентінің {amount} {currency} сатып алуын төлеуге {points} ұпай есептен шығарылсын ба?",
    ky: "{phone} кардарынын {amount} {currency} сатып алуусун төлөөгө {points} упай эсептен чыгарылсынбы?",
};

pub const CONFIRM_REFUND: Text = Text {
    key: "partner_chat.confirm_refund",
    ru: "Оформить возврат покупки {purchase} клиента {phone}?",
    en: "Refund purchase {purchase} of client {phone}?",
    kk: "{phone} клиентінің {purchase} сатып алуын қайтару рәсімделсін бе?",
    ky: "{phone} кардарынын {purchase} сатып алуусун кайтаруу таризделсинби?",
};

pub const ACCRUED: Text = Text {
    key: "partner_chat.accrued",
    ru: "Готово: начислено {points} баллов, чек {purchase}. Баланс клиента: {balance}.",
    en: "Done: {points} points accrued, receipt {purchase}. The client's balance: {balance}.",
    kk: "Дайын: {points} ұпай есептелді, чек {purchase}. Клиенттің балансы: {balance}.",
    ky: "Даяр: {points} упай эсептелди, чек {purchase}. Кардардын балансы: {balance}.",
};

pub const REDEEMED: Text = Text {
    key: "partner_chat.redeemed",
    ru: "Готово: списано {points} баллов, к оплате {due} {currency}, чек {purchase}. Баланс клиента: {balance}.",
    en: "Done: {points} points paid, {due} {currency} left to pay, receipt {purchase}. The client's balance: {balance}.",
    kk: "Дайын: {points} ұпай есептен шығарылды, төлеуге {due} {currency}, чек {purchase}. Клиенттің балансы: {balance}.",
    ky: "Даяр: {points} упай эсептен чыгарылды, төлөөгө {due} {currency}, чек {purchase}. Кардардын балансы: {balance}.",
};

pub const REFUNDED: Text = Text {
    key: "partner_chat.refunded",
    ru: "Готово: покупка {purchase} возвращена. Баланс клиента: {balance}.",
    en: "Done: purchase {purchase} refunded. The client's balance: {balance}.",
    kk: "Дайын: {purchase} сатып алуы қайтарылды. Клиенттің балансы: {balance}.",
    ky: "Даяр: {purchase} сатып алуусу кайтарылды. Кардардын балансы: {balance}.",
};

pub const NOT_DONE: Text = Text {
    key: "partner_chat.not_done",
    ru: "Не выполнено: {reason}",
    en: "Not done: {reason}",
    kk: "Орындалмады: {reason}",
    ky: "Аткарылган жок: {reason}",
};

pub const CANCELLED: Text = Text {
    key: "partner_chat.cancelled",
    ru: "Отменено, ничего не изменилось.",
    en: "Cancelled; nothing changed.",
    kk: "Болдырылмады, ештеңе өзгерген жоқ.",
    ky: "Жокко чыгарылды, эч нерсе өзгөргөн жок.",
};

pub const TODAY: Text = Text {
    key: "partner_chat.today",
    ru: "Сегодня: покупок {purchases}, оборот {turnover} {currency}, начислено {accrued} баллов, списано {redeemed}.",
    en: "Today: {purchases} purchases, turnover {turnover} {currency}, {accrued} points accrued, {redeemed} redeemed.",
    kk: "Бүгін: {purchases} сатып алу, айналым {turnover} {currency}, {accrued} ұпай есептелді, {redeemed} есептен шығарылды.",
    ky: "Бүгүн: {purchases} сатып алуу, жүгүртүү {turnover} {currency}, {accrued} упай эсептелди, {redeemed} эсептен чыгарылды.",
};

pub const NEW_APPLICATION: Text = Text {
    key: "partner_chat.new_application",
    ru: "Новая заявка партнёра: {name} (id {partner}).",
    en: "New partner application: {name} (id {partner}).",
    kk: "Серіктестің жаңа өтінімі: {name} (id {partner}).",
    ky: "Өнөктөштүн жаңы арызы: {name} (id {partner}).",
};

pub const DECIDED_APPROVED: Text = Text {
    key: "partner_chat.decided_approved",
    ru: "Партнёр {name} одобрен.",
    en: "Partner {name} approved.",
    kk: "{name} серіктесі мақұлданды.",
    ky: "{name} өнөктөшү макулданды.",
};

pub const DECIDED_REJECTED: Text = Text {
    key: "partner_chat.decided_rejected",
    ru: "Заявка партнёра {name} отклонена.",
    en: "The application of partner {name} is rejected.",
    kk: "{name} серіктесінің өтінімі қабылданбады.",
    ky: "{name} өнөктөшүнүн арызы четке кагылды.",
};

pub const NOT_ADMIN: Text = Text {
    key: "partner_chat.not_admin",
    ru: "Это действие доступно только администраторам программы.",
    en: "This action is for the program's administrators only.",
    kk: "Бұл әрекет тек бағдарлама әкімшілеріне қолжетімді.",
    ky: "Бул аракет жалаң гана программанын администраторлоруна жеткиликтүү.",
};

pub const NPS_ASK: Text = Text {
    key: "partner_chat.nps_ask",
    ru: "Спасибо за покупку в «{partner}»! Насколько вероятно, что вы порекомендуете нас другу? 0 — точно нет, 10 — обязательно.",
    en: "Thank you for your purchase at \"{partner}\"! How likely are you to recommend us to a friend? 0 — not at all, 10 — certainly.",
    kk: "«{partner}» дүкенінен сатып алғаныңызға рақмет! Бізді досыңызға ұсыну ықтималдығы қандай? 0 — мүлдем жоқ, 10 — міндетті түрде.",
    ky: "«{partner}» дүкөнүнөн сатып алганыңыз үчүн рахмат! Бизди досуңузга сунуштоо ыктымалдыгы кандай? 0 — такыр жок, 10 — сөзсүз.",
};

pub const NPS_THANKS: Text = Text {
    key: "partner_chat.nps_thanks",
    ru: "Спасибо за оценку!",
    en: "Thank you for your rating!",
    kk: "Бағаңызға рақмет!",
    ky: "Баалооңуз үчүн рахмат!",
};

pub const NPS_WHAT_WRONG: Text = Text {
    key: "partner_chat.nps_what_wrong",
    ru: "Спасибо за честную оценку. Что пошло не так? Напишите пару слов — мы передадим их.",
    en: "Thank you for an honest rating. What went wrong? Write a few words and we will pass them on.",
    kk: "Адал бағаңызға рақмет. Не дұрыс болмады? Бірнеше сөз жазыңыз — біз жеткіземіз.",
    ky: "Чынчыл баалооңуз үчүн рахмат. Эмне туура эмес болду? Бир-эки сөз жазыңыз — биз жеткиребиз.",
};

pub const NPS_ALREADY: Text = Text {
    key: "partner_chat.nps_already",
    ru: "Эта покупка уже оценена. Спасибо!",
    en: "This purchase is already rated. Thank you!",
    kk: "Бұл сатып алу бағаланып қойған. Рақмет!",
    ky: "Бул сатып алуу бааланып калган. Рахмат!",
};

pub const NPS_LOW: Text = Text {
    key: "partner_chat.nps_low",
    ru: "Низкая оценка {score}/10 для «{partner}» (покупка {purchase}).",
    en: "A low rating of {score}/10 for \"{partner}\" (purchase {purchase}).",
    kk: "«{partner}» үшін төмен баға {score}/10 (сатып алу {purchase}).",
    ky: "«{partner}» үчүн төмөн баа {score}/10 (сатып алуу {purchase}).",
};

pub const NPS_COMMENT: Text = Text {
    key: "partner_chat.nps_comment",
    ru: "Комментарий клиента к оценке {score}/10 для «{partner}»: {comment}",
    en: "The customer's comment on the rating of {score}/10 for \"{partner}\": {comment}",
    kk: "«{partner}» үшін {score}/10 бағасына клиенттің пікірі: {comment}",
    ky: "«{partner}» үчүн {score}/10 баасына кардардын пикири: {comment}",
};

pub const BTN_CONFIRM: Text = Text {
    key: "partner_chat.btn_confirm",
    ru: "Подтвердить",
    en: "Confirm",
    kk: "Растау",
    ky: "Ырастоо",
};

pub const BTN_CANCEL: Text = Text {
    key: "partner_chat.btn_cancel",
    ru: "Отмена",
    en: "Cancel",
    kk: "Болдырмау",
    ky: "Жокко чыгаруу",
};

pub const BTN_TODAY: Text = Text {
    key: "partner_chat.btn_today",
    ru: "Итоги дня",
    en: "Today",
    kk: "Күн қорытындысы",
    ky: "Күндүн жыйынтыгы",
};

pub const BTN_APPROVE: Text = Text {
    key: "partner_chat.btn_approve",
    ru: "Одобрить",
    en: "Approve",
    kk: "Мақұлдау",
    ky: "Макулдоо",
};

pub const BTN_REJECT: Text = Text {
    key: "partner_chat.btn_reject",
    ru: "Отклонить",
    en: "Reject",
    kk: "Қабылдамау",
    ky: "Четке кагуу",
};

pub const ALL: &[&Text] = &[
    &APPLY_HOW,
    &APPLIED,
    &PENDING,
    &REFUSED,
    &MENU,
    &CLIENT,
    &NO_CLIENT,
    &CONFIRM_ACCRUE,
    &CONFIRM_REDEEM,
    &CONFIRM_REFUND,
    &ACCRUED,
    &REDEEMED,
    &REFUNDED,
    &NOT_DONE,
    &CANCELLED,
    &TODAY,
    &NEW_APPLICATION,
    &DECIDED_APPROVED,
    &DECIDED_REJECTED,
    &NOT_ADMIN,
    &NPS_ASK,
    &NPS_THANKS,
    &NPS_WHAT_WRONG,
    &NPS_ALREADY,
    &NPS_LOW,
    &NPS_COMMENT,
    &BTN_CONFIRM,
    &BTN_CANCEL,
    &BTN_TODAY,
    &BTN_APPROVE,
    &BTN_REJECT,
];
