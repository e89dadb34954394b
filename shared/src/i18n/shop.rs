//! What the chat says about products and orders without a model: a product card
//! (`/start p-SKU`), "Buy", "my orders", one order (`/start o-ID`). Button titles stay
//! within WhatsApp's 20 characters.

use super::Text;

pub const PRODUCT_PRICE: Text = Text {
    key: "shop.product_price",
    ru: "Цена: {price}",
    en: "Price: {price}",
    kk: "Бағасы: {price}",
    ky: "Баасы: {price}",
};

pub const PRODUCT_NO_PRICE: Text = Text {
    key: "shop.product_no_price",
    ru: "Цену уточнит менеджер.",
    en: "A manager will confirm the price.",
    kk: "Бағасын менеджер нақтылайды.",
    ky: "Баасын менеджер тактайт.",
};

pub const PRODUCT_UNKNOWN: Text = Text {
    key: "shop.product_unknown",
    ru: "Этот товар не найден в каталоге. Спросите меня, я подберу похожий.",
    en: "That product is not in the catalog. Ask me and I will find a similar one.",
    kk: "Бұл тауар каталогта табылмады. Маған жазыңыз, ұқсасын табамын.",
    ky: "Бул товар каталогдо табылган жок. Мага жазыңыз, окшошун табам.",
};

pub const BUY_PLACED: Text = Text {
    key: "shop.buy_placed",
    ru: "Заказ №{number}: {name} — {total}. Счёт на оплату придёт следующим сообщением.",
    en: "Order #{number}: {name} — {total}. The invoice comes in the next message.",
    kk: "№{number} тапсырыс: {name} — {total}. Төлем шоты келесі хабарламада келеді.",
    ky: "№{number} буйрутма: {name} — {total}. Төлөм эсеби кийинки билдирүүдө келет.",
};

pub const BUY_AGAIN: Text = Text {
    key: "shop.buy_again",
    ru: "Этот заказ уже оформлен: №{number}, {status}.",
    en: "This order is already placed: #{number}, {status}.",
    kk: "Бұл тапсырыс рәсімделген: №{number}, {status}.",
    ky: "Бул буйрутма катталган: №{number}, {status}.",
};

pub const ORDERS_OFF: Text = Text {
    key: "shop.orders_off",
    ru: "Оформить заказ в чате сейчас нельзя. Напишите менеджеру, он поможет.",
    en: "Orders cannot be placed in chat right now. Write to a manager, they will help.",
    kk: "Қазір чатта тапсырыс беру мүмкін емес. Менеджерге жазыңыз, ол көмектеседі.",
    ky: "Азыр чатта буйрутма берүүгө болбойт. Менеджерге жазыңыз, ал жардам берет.",
};

pub const ORDERS_NONE: Text = Text {
    key: "shop.orders_none",
    ru: "У вас пока нет заказов.",
    en: "You have no orders yet.",
    kk: "Сізде әзірге тапсырыс жоқ.",
    ky: "Сизде азырынча буйрутма жок.",
};

pub const ORDERS_TITLE: Text = Text {
    key: "shop.orders_title",
    ru: "Ваши заказы:",
    en: "Your orders:",
    kk: "Сіздің тапсырыстарыңыз:",
    ky: "Сиздин буйрутмаларыңыз:",
};

pub const ORDER_LINE: Text = Text {
    key: "shop.order_line",
    ru: "№{number} — {total}, {status}",
    en: "#{number} — {total}, {status}",
    kk: "№{number} — {total}, {status}",
    ky: "№{number} — {total}, {status}",
};

pub const ORDER_UNKNOWN: Text = Text {
    key: "shop.order_unknown",
    ru: "Заказ не найден.",
    en: "Order not found.",
    kk: "Тапсырыс табылмады.",
    ky: "Буйрутма табылган жок.",
};

pub const STATUS_AWAITING: Text = Text {
    key: "shop.status_awaiting",
    ru: "ожидает оплаты",
    en: "awaiting payment",
    kk: "төлемді күтуде",
    ky: "төлөмдү күтүүдө",
};

pub const STATUS_PAID: Text = Text {
    key: "shop.status_paid",
    ru: "оплачен",
    en: "paid",
    kk: "төленді",
    ky: "төлөндү",
};

pub const STATUS_COMPLETED: Text = Text {
    key: "shop.status_completed",
    ru: "выполнен",
    en: "completed",
    kk: "орындалды",
    ky: "аткарылды",
};

pub const STATUS_CANCELED: Text = Text {
    key: "shop.status_canceled",
    ru: "отменён",
    en: "canceled",
    kk: "бас тартылды",
    ky: "жокко чыгарылды",
};

pub const STATUS_EXPIRED: Text = Text {
    key: "shop.status_expired",
    ru: "срок оплаты истёк",
    en: "payment time ran out",
    kk: "төлем мерзімі өтті",
    ky: "төлөм мөөнөтү өттү",
};

pub const BTN_BUY: Text = Text {
    key: "shop.btn_buy",
    ru: "Купить",
    en: "Buy",
    kk: "Сатып алу",
    ky: "Сатып алуу",
};

pub const BTN_ORDERS: Text = Text {
    key: "shop.btn_orders",
    ru: "Мои заказы",
    en: "My orders",
    kk: "Тапсырыстарым",
    ky: "Буйрутмаларым",
};

pub const BTN_MORE: Text = Text {
    key: "shop.btn_more",
    ru: "Похожие",
    en: "More like this",
    kk: "Ұқсастары",
    ky: "Окшоштору",
};

pub const BTN_NEXT: Text = Text {
    key: "shop.btn_next",
    ru: "Ещё",
    en: "Next page",
    kk: "Тағы",
    ky: "Дагы",
};

pub const ALL: &[&Text] = &[
    &BTN_MORE,
    &BTN_NEXT,
    &PRODUCT_PRICE,
    &PRODUCT_NO_PRICE,
    &PRODUCT_UNKNOWN,
    &BUY_PLACED,
    &BUY_AGAIN,
    &ORDERS_OFF,
    &ORDERS_NONE,
    &ORDERS_TITLE,
    &ORDER_LINE,
    &ORDER_UNKNOWN,
    &STATUS_AWAITING,
    &STATUS_PAID,
    &STATUS_COMPLETED,
    &STATUS_CANCELED,
    &STATUS_EXPIRED,
    &BTN_BUY,
    &BTN_ORDERS,
];
