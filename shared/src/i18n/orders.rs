//! Orders and payments (`functions/orders`): what the customer reads (invoices,
//! payment links, receipts, refusals at checkout) and the managers' order cards
//! (Telegram HTML).

use super::Text;

// ---- To the customer ----------------------------------------------------------------

pub const RECEIPT: Text = Text {
    key: "orders.receipt",
    ru: "✅ Оплата получена. Заказ {order}: {total}.\n{lines}\nСпасибо за покупку!",
    en: "✅ Payment received. Order {order}: {total}.\n{lines}\nThank you for your purchase!",
    kk: "✅ Төлем қабылданды. Тапсырыс {order}: {total}.\n{lines}\nСатып алғаныңызға рахмет!",
    ky: "✅ Төлөм кабыл алынды. Буйрутма {order}: {total}.\n{lines}\nСатып алганыңыз үчүн рахмат!",
};

pub const LINE: Text = Text {
    key: "orders.line",
    ru: "{name} × {quantity} — {amount}",
    en: "{name} × {quantity} — {amount}",
    kk: "{name} × {quantity} — {amount}",
    ky: "{name} × {quantity} — {amount}",
};

pub const CASHBACK: Text = Text {
    key: "orders.cashback",
    ru: "+{amount} бонусами на ваш счёт",
    en: "+{amount} in bonus points to your account",
    kk: "Шотыңызға +{amount} бонус",
    ky: "Эсебиңизге +{amount} бонус",
};

pub const INVOICE_TITLE: Text = Text {
    key: "orders.invoice_title",
    ru: "Заказ {order}",
    en: "Order {order}",
    kk: "Тапсырыс {order}",
    ky: "Буйрутма {order}",
};

pub const INVOICE_DESCRIPTION: Text = Text {
    key: "orders.invoice_description",
    ru: "Оплата заказа {order}: {items}",
    en: "Payment for order {order}: {items}",
    kk: "{order} тапсырысының төлемі: {items}",
    ky: "{order} буйрутмасынын төлөмү: {items}",
};

pub const PAY_LINK: Text = Text {
    key: "orders.pay_link",
    ru: "Заказ {order}: {total}.\n{lines}\nОплатить можно по ссылке:",
    en: "Order {order}: {total}.\n{lines}\nYou can pay securely via the link:",
    kk: "Тапсырыс {order}: {total}.\n{lines}\nСілтеме арқылы төлей аласыз:",
    ky: "Буйрутма {order}: {total}.\n{lines}\nШилтеме аркылуу төлөй аласыз:",
};

pub const PAY_BUTTON: Text = Text {
    key: "orders.pay_button",
    ru: "Оплатить {total}",
    en: "Pay {total}",
    kk: "{total} төлеу",
    ky: "{total} төлөө",
};

pub const PAY_KASPI: Text = Text {
    key: "orders.pay_kaspi",
    ru: "Заказ {order}: {total}.\n{lines}\nОплатите через Kaspi.kz по ссылке:",
    en: "Order {order}: {total}.\n{lines}\nPay with Kaspi.kz via the link:",
    kk: "Тапсырыс {order}: {total}.\n{lines}\nKaspi.kz арқылы сілтеме бойынша төлеңіз:",
    ky: "Буйрутма {order}: {total}.\n{lines}\nKaspi.kz аркылуу шилтеме боюнча төлөңүз:",
};

pub const PAY_KASPI_BUTTON: Text = Text {
    key: "orders.pay_kaspi_button",
    ru: "Оплатить в Kaspi",
    en: "Pay with Kaspi",
    kk: "Kaspi арқылы төлеу",
    ky: "Kaspi аркылуу төлөө",
};

pub const REFUNDED: Text = Text {
    key: "orders.refunded",
    ru: "↩️ Мы вернули {amount} за заказ {order}.",
    en: "↩️ We have refunded {amount} for order {order}.",
    kk: "↩️ {order} тапсырысы бойынша {amount} қайтардық.",
    ky: "↩️ {order} буйрутмасы үчүн {amount} кайтардык.",
};

// Refusals at Telegram's checkout (`answerPreCheckoutQuery` `error_message`).

pub const CHECKOUT_EXPIRED: Text = Text {
    key: "orders.checkout_expired",
    ru: "Срок оплаты этого заказа истёк. Напишите нам — оформим новый.",
    en: "This order has expired and can no longer be paid. Write to us and we will make a new one.",
    kk: "Бұл тапсырысты төлеу мерзімі өтіп кетті. Бізге жазыңыз — жаңасын рәсімдейміз.",
    ky: "Бул буйрутманы төлөө мөөнөтү өтүп кетти. Бизге жазыңыз — жаңысын тариздейбиз.",
};

pub const CHECKOUT_PAID: Text = Text {
    key: "orders.checkout_paid",
    ru: "Этот заказ уже оплачен.",
    en: "This order is already paid.",
    kk: "Бұл тапсырыс төленген.",
    ky: "Бул буйрутма төлөнгөн.",
};

pub const CHECKOUT_CHANGED: Text = Text {
    key: "orders.checkout_changed",
    ru: "Сумма заказа изменилась. Попросите, пожалуйста, новый счёт.",
    en: "The order's amount has changed. Please ask for a new invoice.",
    kk: "Тапсырыс сомасы өзгерді. Жаңа шот сұраңызшы.",
    ky: "Буйрутманын суммасы өзгөрдү. Жаңы эсеп сураңызчы.",
};

pub const CHECKOUT_UNAVAILABLE: Text = Text {
    key: "orders.checkout_unavailable",
    ru: "Этот заказ нельзя оплатить. Пожалуйста, напишите нам.",
    en: "This order cannot be paid. Please write to us.",
    kk: "Бұл тапсырысты төлеу мүмкін емес. Бізге жазыңызшы.",
    ky: "Бул буйрутманы төлөөгө болбойт. Бизге жазыңызчы.",
};

// ---- To the managers (Telegram HTML) --------------------------------------------------

pub const CARD_PAID: Text = Text {
    key: "orders.card_paid",
    ru: "💳 <b>Заказ {order} оплачен</b>: {total} через {provider}\n{lines}\nКлиент: {contact}",
    en: "💳 <b>Order {order} paid</b>: {total} via {provider}\n{lines}\nCustomer: {contact}",
    kk: "💳 <b>{order} тапсырысы төленді</b>: {total}, {provider} арқылы\n{lines}\nКлиент: {contact}",
    ky: "💳 <b>{order} буйрутмасы төлөндү</b>: {total}, {provider} аркылуу\n{lines}\nКардар: {contact}",
};

pub const CARD_PAID_LATE: Text = Text {
    key: "orders.card_paid_late",
    ru: "⚠️ <b>Заказ {order} оплачен после отмены или истечения срока</b>: {total} через {provider}. Выполните заказ или верните деньги.\nКлиент: {contact}",
    en: "⚠️ <b>Order {order} was paid after it was canceled or had expired</b>: {total} via {provider}. Fulfil it or refund the customer.\nCustomer: {contact}",
    kk: "⚠️ <b>{order} тапсырысы тоқтатылғаннан немесе мерзімі өткеннен кейін төленді</b>: {total}, {provider} арқылы. Тапсырысты орындаңыз немесе ақшаны қайтарыңыз.\nКлиент: {contact}",
    ky: "⚠️ <b>{order} буйрутмасы жокко чыгарылгандан же мөөнөтү өткөндөн кийин төлөндү</b>: {total}, {provider} аркылуу. Буйрутманы аткарыңыз же акчаны кайтарыңыз.\nКардар: {contact}",
};

pub const CARD_OVERPAID: Text = Text {
    key: "orders.card_overpaid",
    ru: "⚠️ <b>Заказ {order} оплачен дважды</b>: ещё {amount} через {provider}. Верните второй платёж.\nКлиент: {contact}",
    en: "⚠️ <b>Order {order} was paid twice</b>: another {amount} via {provider}. Refund the second charge.\nCustomer: {contact}",
    kk: "⚠️ <b>{order} тапсырысы екі рет төленді</b>: тағы {amount}, {provider} арқылы. Екінші төлемді қайтарыңыз.\nКлиент: {contact}",
    ky: "⚠️ <b>{order} буйрутмасы эки жолу төлөндү</b>: дагы {amount}, {provider} аркылуу. Экинчи төлөмдү кайтарыңыз.\nКардар: {contact}",
};

pub const CARD_MISMATCH: Text = Text {
    key: "orders.card_mismatch",
    ru: "⚠️ <b>Платёж по заказу {order} не совпадает</b>: получено {received}, ожидалось {expected} ({provider}). Заказ не отмечен оплаченным.\nКлиент: {contact}",
    en: "⚠️ <b>A payment for order {order} does not match</b>: received {received}, expected {expected} ({provider}). The order is not marked paid.\nCustomer: {contact}",
    kk: "⚠️ <b>{order} тапсырысы бойынша төлем сәйкес емес</b>: {received} түсті, {expected} күтілген ({provider}). Тапсырыс төленді деп белгіленбеді.\nКлиент: {contact}",
    ky: "⚠️ <b>{order} буйрутмасы боюнча төлөм дал келбейт</b>: {received} түштү, {expected} күтүлгөн ({provider}). Буйрутма төлөндү деп белгиленген жок.\nКардар: {contact}",
};

pub const CARD_REFUNDED: Text = Text {
    key: "orders.card_refunded",
    ru: "↩️ <b>Возврат по заказу {order}</b>: {amount} через {provider}.",
    en: "↩️ <b>Refund for order {order}</b>: {amount} via {provider}.",
    kk: "↩️ <b>{order} тапсырысы бойынша қайтарым</b>: {amount}, {provider} арқылы.",
    ky: "↩️ <b>{order} буйрутмасы боюнча кайтаруу</b>: {amount}, {provider} аркылуу.",
};

pub const CARD_CASHBACK: Text = Text {
    key: "orders.card_cashback",
    ru: "Кешбэк: +{amount} баллами",
    en: "Cashback: +{amount} in points",
    kk: "Кэшбэк: +{amount} ұпаймен",
    ky: "Кешбэк: +{amount} упай менен",
};

pub const ALL: &[&Text] = &[
    &RECEIPT,
    &LINE,
    &CASHBACK,
    &INVOICE_TITLE,
    &INVOICE_DESCRIPTION,
    &PAY_LINK,
    &PAY_BUTTON,
    &PAY_KASPI,
    &PAY_KASPI_BUTTON,
    &REFUNDED,
    &CHECKOUT_EXPIRED,
    &CHECKOUT_PAID,
    &CHECKOUT_CHANGED,
    &CHECKOUT_UNAVAILABLE,
    &CARD_PAID,
    &CARD_PAID_LATE,
    &CARD_OVERPAID,
    &CARD_MISMATCH,
    &CARD_REFUNDED,
    &CARD_CASHBACK,
];
