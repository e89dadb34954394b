//! What the bot's deterministic chat side says to customers: deep links, the menu,
//! balance, referral link, language, stale buttons. Button titles stay within
//! WhatsApp's 20 characters.

use super::Text;

pub const JOINED: Text = Text {
    key: "chat.joined",
    ru: "Добро пожаловать в программу лояльности! Приветственный бонус: {bonus} баллов. Ваш баланс: {balance}.",
    en: "Welcome to the loyalty program! Welcome bonus: {bonus} points. Your balance: {balance}.",
    kk: "Адалдық бағдарламасына қош келдіңіз! Сәлемдесу бонусы: {bonus} ұпай. Сіздің балансыңыз: {balance}.",
    ky: "Лоялдуулук программасына кош келиңиз! Саламдашуу бонусу: {bonus} упай. Сиздин балансыңыз: {balance}.",
};

pub const REFERRED: Text = Text {
    key: "chat.referred",
    ru: "Вас пригласил друг: он получит бонус после вашей первой покупки.",
    en: "A friend invited you: they get a bonus after your first purchase.",
    kk: "Сізді досыңыз шақырды: ол сіздің алғашқы сатып алуыңыздан кейін бонус алады.",
    ky: "Сизди досуңуз чакырды: ал сиздин биринчи сатып алууңуздан кийин бонус алат.",
};

pub const UNKNOWN_CODE: Text = Text {
    key: "chat.unknown_code",
    ru: "Код приглашения не найден, но вы всё равно в программе.",
    en: "That invitation code is unknown, but you have joined anyway.",
    kk: "Шақыру коды табылмады, бірақ сіз бәрібір бағдарламадасыз.",
    ky: "Чакыруу коду табылган жок, бирок сиз баары бир программадасыз.",
};

pub const ALREADY_MEMBER: Text = Text {
    key: "chat.already_member",
    ru: "Вы уже участвуете в программе лояльности. Ваш баланс: {balance} баллов.",
    en: "You are already in the loyalty program. Your balance: {balance} points.",
    kk: "Сіз адалдық бағдарламасына қатысып жүрсіз. Сіздің балансыңыз: {balance} ұпай.",
    ky: "Сиз лоялдуулук программасына катышып жатасыз. Сиздин балансыңыз: {balance} упай.",
};

pub const WELCOME: Text = Text {
    key: "chat.welcome",
    ru: "Здравствуйте! Спросите меня о товарах или выберите в меню.",
    en: "Hello! Ask me about our products or pick from the menu.",
    kk: "Сәлеметсіз бе! Тауарлар туралы сұраңыз немесе мәзірден таңдаңыз.",
    ky: "Саламатсызбы! Товарлар жөнүндө сураңыз же менюдан тандаңыз.",
};

pub const BALANCE: Text = Text {
    key: "chat.balance",
    ru: "Ваш баланс: {balance} баллов.",
    en: "Your balance: {balance} points.",
    kk: "Сіздің балансыңыз: {balance} ұпай.",
    ky: "Сиздин балансыңыз: {balance} упай.",
};

pub const EXPIRING: Text = Text {
    key: "chat.expiring",
    ru: "{points} баллов сгорят {date}.",
    en: "{points} points expire on {date}.",
    kk: "{points} ұпай {date} күні күйеді.",
    ky: "{points} упай {date} күнү күйөт.",
};

pub const NOT_MEMBER: Text = Text {
    key: "chat.not_member",
    ru: "Вы ещё не участвуете в программе лояльности. Нажмите «Вступить».",
    en: "You are not in the loyalty program yet. Press “Join”.",
    kk: "Сіз әлі адалдық бағдарламасына қатыспайсыз. «Қосылу» түймесін басыңыз.",
    ky: "Сиз азырынча лоялдуулук программасына катышпайсыз. «Кошулуу» баскычын басыңыз.",
};

pub const LOYALTY_OFF: Text = Text {
    key: "chat.loyalty_off",
    ru: "Программа лояльности здесь пока не работает.",
    en: "There is no loyalty program here yet.",
    kk: "Мұнда адалдық бағдарламасы әлі жұмыс істемейді.",
    ky: "Бул жерде лоялдуулук программасы азырынча иштебейт.",
};

pub const REFERRAL: Text = Text {
    key: "chat.referral",
    ru: "Ваша ссылка для друзей: {link}\nДруг получит приветственный бонус, а вы — бонус после его первой покупки. Уже пришли: {joined}.",
    en: "Your link for friends: {link}\nA friend gets a welcome bonus, and you get a bonus after their first purchase. Joined so far: {joined}.",
    kk: "Достарыңызға арналған сілтеме: {link}\nДосыңыз сәлемдесу бонусын алады, ал сіз оның алғашқы сатып алуынан кейін бонус аласыз. Қосылғандар: {joined}.",
    ky: "Досторуңуз үчүн шилтеме: {link}\nДосуңуз саламдашуу бонусун алат, ал эми сиз анын биринчи сатып алуусунан кийин бонус аласыз. Кошулгандар: {joined}.",
};

pub const HELP: Text = Text {
    key: "chat.help",
    ru: "Я могу показать баланс, дать ссылку для друзей, сменить язык и позвать менеджера. Или просто спросите о товаре.\nКоманды: /balance /referral /language /manager /phone /help",
    en: "I can show your balance, give you a link for friends, switch the language and call a manager. Or just ask about a product.\nCommands: /balance /referral /language /manager /phone /help",
    kk: "Мен балансты көрсетіп, достарға сілтеме беріп, тілді ауыстырып, менеджерді шақыра аламын. Немесе жай ғана тауар туралы сұраңыз.\nПәрмендер: /balance /referral /language /manager /phone /help",
    ky: "Мен балансты көрсөтүп, досторго шилтеме берип, тилди алмаштырып, менеджерди чакыра алам. Же жөн эле товар жөнүндө сураңыз.\nБуйруктар: /balance /referral /language /manager /phone /help",
};

pub const LANGUAGE_PICK: Text = Text {
    key: "chat.language_pick",
    ru: "Выберите язык:",
    en: "Choose a language:",
    kk: "Тілді таңдаңыз:",
    ky: "Тилди тандаңыз:",
};

pub const LANGUAGE_SET: Text = Text {
    key: "chat.language_set",
    ru: "Готово: теперь я отвечаю по-русски.",
    en: "Done: I will answer in English from now on.",
    kk: "Дайын: енді мен қазақша жауап беремін.",
    ky: "Даяр: эми мен кыргызча жооп берем.",
};

pub const STALE_BUTTON: Text = Text {
    key: "chat.stale_button",
    ru: "Эта кнопка больше не действует. Вот актуальное меню:",
    en: "This button is no longer valid. Here is the current menu:",
    kk: "Бұл түйме енді жарамсыз. Міне, өзекті мәзір:",
    ky: "Бул баскыч мындан ары жарабайт. Мына учурдагы меню:",
};

pub const SHARE_PHONE: Text = Text {
    key: "chat.share_phone",
    ru: "Нажмите «Поделиться номером», чтобы связать этот чат с вашей картой по номеру телефона.",
    en: "Press “Share my phone” to link this chat to your card by phone number.",
    kk: "Осы чатты телефон нөміріңіз бойынша картаңызбен байланыстыру үшін «Нөмірмен бөлісу» түймесін басыңыз.",
    ky: "Бул чатты телефон номериңиз боюнча картаңыз менен байланыштыруу үчүн «Номер менен бөлүшүү» баскычын басыңыз.",
};

pub const BTN_BALANCE: Text = Text {
    key: "chat.btn_balance",
    ru: "💰 Баланс",
    en: "💰 Balance",
    kk: "💰 Баланс",
    ky: "💰 Баланс",
};

pub const BTN_REFERRAL: Text = Text {
    key: "chat.btn_referral",
    ru: "🎁 Пригласить друга",
    en: "🎁 Invite a friend",
    kk: "🎁 Досты шақыру",
    ky: "🎁 Досту чакыруу",
};

pub const BTN_MANAGER: Text = Text {
    key: "chat.btn_manager",
    ru: "👤 Менеджер",
    en: "👤 Manager",
    kk: "👤 Менеджер",
    ky: "👤 Менеджер",
};

pub const BTN_LANGUAGE: Text = Text {
    key: "chat.btn_language",
    ru: "🌐 Язык",
    en: "🌐 Language",
    kk: "🌐 Тіл",
    ky: "🌐 Тил",
};

pub const BTN_HELP: Text = Text {
    key: "chat.btn_help",
    ru: "❓ Помощь",
    en: "❓ Help",
    kk: "❓ Көмек",
    ky: "❓ Жардам",
};

pub const BTN_JOIN: Text = Text {
    key: "chat.btn_join",
    ru: "✅ Вступить",
    en: "✅ Join",
    kk: "✅ Қосылу",
    ky: "✅ Кошулуу",
};

pub const BTN_SHARE_PHONE: Text = Text {
    key: "chat.btn_share_phone",
    ru: "📱 Поделиться номером",
    en: "📱 Share my phone",
    kk: "📱 Нөмірмен бөлісу",
    ky: "📱 Номер менен бөлүшүү",
};

pub const MENU: Text = Text {
    key: "chat.menu",
    ru: "Меню",
    en: "Menu",
    kk: "Мәзір",
    ky: "Меню",
};

pub const PHONE_LINKED: Text = Text {
    key: "chat.phone_linked",
    ru: "Номер привязан к этому чату. Баланс: {balance} баллов.",
    en: "Your number is linked to this chat. Balance: {balance} points.",
    kk: "Нөміріңіз осы чатқа байланыстырылды. Баланс: {balance} ұпай.",
    ky: "Номериңиз бул чатка байланыштырылды. Баланс: {balance} упай.",
};

pub const PHONE_MERGED: Text = Text {
    key: "chat.phone_merged",
    ru: "Номер привязан, и ваша карта с этим номером объединена с чатом: перенесено {points} баллов. Баланс: {balance} баллов.",
    en: "Your number is linked and your card with this number is merged into this chat: {points} points moved. Balance: {balance} points.",
    kk: "Нөміріңіз байланыстырылды, осы нөмірдегі картаңыз чатпен біріктірілді: {points} ұпай ауыстырылды. Баланс: {balance} ұпай.",
    ky: "Номериңиз байланыштырылды, бул номердеги картаңыз чат менен бириктирилди: {points} упай которулду. Баланс: {balance} упай.",
};

pub const PHONE_NOT_OWN: Text = Text {
    key: "chat.phone_not_own",
    ru: "Привязать можно только свой номер: нажмите кнопку «Поделиться номером» в личном чате с ботом.",
    en: "Only your own number can be linked: press “Share my phone” in your private chat with the bot.",
    kk: "Тек өз нөміріңізді байланыстыруға болады: ботпен жеке чатта «Нөмірмен бөлісу» түймесін басыңыз.",
    ky: "Өз номериңизди гана байланыштырууга болот: бот менен жеке чатта «Номер менен бөлүшүү» баскычын басыңыз.",
};

pub const PHONE_TAKEN: Text = Text {
    key: "chat.phone_taken",
    ru: "Этот чат уже объединён с другой картой. Напишите менеджеру, он поможет.",
    en: "This chat is already merged into another card. Write to a manager, they will help.",
    kk: "Бұл чат басқа картамен біріктіріліп қойған. Менеджерге жазыңыз, ол көмектеседі.",
    ky: "Бул чат башка карта менен бириктирилген. Менеджерге жазыңыз, ал жардам берет.",
};

pub const ALL: &[&Text] = &[
    &PHONE_LINKED,
    &PHONE_MERGED,
    &PHONE_NOT_OWN,
    &PHONE_TAKEN,
    &JOINED,
    &REFERRED,
    &UNKNOWN_CODE,
    &ALREADY_MEMBER,
    &WELCOME,
    &BALANCE,
    &EXPIRING,
    &NOT_MEMBER,
    &LOYALTY_OFF,
    &REFERRAL,
    &HELP,
    &LANGUAGE_PICK,
    &LANGUAGE_SET,
    &STALE_BUTTON,
    &SHARE_PHONE,
    &BTN_BALANCE,
    &BTN_REFERRAL,
    &BTN_MANAGER,
    &BTN_LANGUAGE,
    &BTN_HELP,
    &BTN_JOIN,
    &BTN_SHARE_PHONE,
    &MENU,
];
