//! Language, prompts and the retrieval fallback's reply (its texts live in the
//! `sauda_shared::i18n::agent` catalog).

use crate::catalog::{Availability, CatalogItem};
use sauda_shared::funnel::Stage;
use sauda_shared::i18n::{agent as t, Lang};
use sauda_shared::tenant::TenantConfig;

/// Letters only Kazakh uses (Russian and Kyrgyz do not).
const KAZAKH_LETTERS: &[char] = &['ә', 'ғ', 'қ', 'ұ', 'һ', 'і', 'Ә', 'Ғ', 'Қ', 'Ұ', 'Һ', 'І'];
/// Letters Kazakh and Kyrgyz share and Russian does not.
const TURKIC_LETTERS: &[char] = &['ң', 'ө', 'ү', 'Ң', 'Ө', 'Ү'];

fn iso639_1(lang: whatlang::Lang) -> Option<&'static str> {
    use whatlang::Lang::*;
    Some(match lang {
        Rus => "ru",
        Eng => "en",
        Ukr => "uk",
        Bel => "be",
        Deu => "de",
        Fra => "fr",
        Spa => "es",
        Ita => "it",
        Por => "pt",
        Pol => "pl",
        Tur => "tr",
        Uzb => "uz",
        Ara => "ar",
        Cmn => "zh",
        Jpn => "ja",
        Kor => "ko",
        Hin => "hi",
        _ => return None,
    })
}

/// The language to answer in: the text's own language when it is clear, else the
/// language the customer used before or their app's, else the tenant's default.
pub fn detect_language(text: &str, known: Option<&str>, default: &str) -> String {
    let known = known
        .map(|l| l.split(['-', '_']).next().unwrap_or(l).to_ascii_lowercase())
        .filter(|l| (2..=3).contains(&l.len()));
    if text.chars().any(|c| KAZAKH_LETTERS.contains(&c)) {
        return "kk".into();
    }
    if text.chars().any(|c| TURKIC_LETTERS.contains(&c)) {
        // Without Kazakh's own letters, ң/ө/ү are most likely Kyrgyz.
        return match known.as_deref() {
            Some("kk") => "kk".into(),
            _ => "ky".into(),
        };
    }
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    if letters >= 12 {
        if let Some(info) = whatlang::detect(text) {
            if info.is_reliable() {
                if let Some(code) = iso639_1(info.lang()) {
                    return code.into();
                }
            }
        }
    }
    let cyrillic = text
        .chars()
        .filter(|c| ('\u{0400}'..='\u{04FF}').contains(c))
        .count();
    let latin = text.chars().filter(|c| c.is_ascii_alphabetic()).count();
    const CYRILLIC_LANGS: [&str; 6] = ["ru", "kk", "uk", "be", "ky", "bg"];
    if cyrillic > latin {
        return match known {
            Some(k) if CYRILLIC_LANGS.contains(&k.as_str()) => k,
            _ => "ru".into(),
        };
    }
    if latin > 0 {
        return match known {
            Some(k) if !CYRILLIC_LANGS.contains(&k.as_str()) => k,
            _ => "en".into(),
        };
    }
    known.unwrap_or_else(|| default.to_owned())
}

/// Built-in guidance per funnel stage; tenants override any of them in
/// `agent.stage_prompts`.
pub fn default_stage_prompt(stage: Stage) -> &'static str {
    match stage {
        Stage::New => "This is a new customer. Greet them briefly, understand what they need and point them to matching items.",
        Stage::Qualification => "Qualify the need: which item, quantity, key specifications, deadline and delivery city. Ask one question at a time.",
        Stage::Warming => "The customer is weighing options. Explain differences between suitable items, share useful facts, build trust; do not push.",
        Stage::Offer => "Make a concrete offer: the one to three best-matching items with price and availability, and suggest the next step (order, invoice, a call).",
        Stage::Negotiation => "Handle objections honestly: alternatives, delivery, payment terms. Never invent discounts; offer a manager for special terms.",
        Stage::Sale => "The customer is buying. Confirm items and quantities and collect a name and phone or email with capture_lead so a manager can issue the invoice.",
        Stage::Service => "The customer has bought. Help with delivery, installation and warranty questions; hand over to a manager what you cannot resolve.",
        Stage::Feedback => "Ask how the purchase went and whether they are satisfied; thank them; hand complaints to a manager right away.",
        Stage::RepeatSale => "Suggest consumables, spare parts and related items for what the customer bought before.",
        Stage::Lost => "Be warm; find out whether the need is still there and what would help, and offer current items.",
    }
}

pub fn stage_prompt(config: &TenantConfig, stage: Stage) -> String {
    config
        .agent
        .stage_prompts
        .get(stage.as_str())
        .filter(|p| !p.trim().is_empty())
        .cloned()
        .unwrap_or_else(|| default_stage_prompt(stage).to_owned())
}

pub fn language_name(code: &str) -> &str {
    match code {
        "ru" => "Russian",
        "en" => "English",
        "kk" => "Kazakh",
        "ky" => "Kyrgyz",
        "uz" => "Uzbek",
        "uk" => "Ukrainian",
        "de" => "German",
        "tr" => "Turkish",
        "zh" => "Chinese",
        other => other,
    }
}

pub struct PromptContext<'a> {
    pub config: &'a TenantConfig,
    pub stage: Stage,
    pub language: &'a str,
    pub loyalty: bool,
    pub matches: &'a [CatalogItem],
    pub has_catalog: bool,
    pub customer_name: Option<&'a str>,
    pub today: &'a str,
}

pub fn system_prompt(ctx: &PromptContext<'_>) -> String {
    let c = ctx.config;
    let persona = if c.agent.persona.trim().is_empty() {
        format!(
            "a friendly, knowledgeable sales consultant of {}",
            if c.name.is_empty() {
                "the shop"
            } else {
                &c.name
            }
        )
    } else {
        c.agent.persona.trim().to_owned()
    };
    let mut p = format!(
        "You are {persona}. You chat with a customer in a messenger on behalf of the business.\n\
         Today is {}.\n\n\
         Rules:\n\
         - Reply in {} (the language of the customer's last message), in plain text without Markdown, in at most 6 short sentences or a short list.\n\
         - State prices, availability and links only from catalog results. Never invent items, prices, discounts or delivery terms.\n\
         - When the customer names an item, a need or a SKU, use search_catalog if the matches below do not fit.\n\
         - When the customer wants to buy, asks for an invoice or a call back, or shares a name, phone or email, call capture_lead.\n\
         - When the customer asks for a human, is upset, or needs something you cannot do, call handoff_to_manager and tell them a manager will reply soon.\n\
         - Ask at most one question per message.\n",
        ctx.today,
        language_name(ctx.language),
    );
    if ctx.loyalty {
        p.push_str("- The customer may ask about their loyalty points: use get_loyalty_balance.\n");
    }
    if let Some(name) = ctx.customer_name {
        p.push_str(&format!(
            "\nThe customer's name in the messenger: {name}.\n"
        ));
    }
    p.push_str(&format!(
        "\nFunnel stage: {}. {}\n",
        ctx.stage.as_str(),
        stage_prompt(c, ctx.stage)
    ));
    if !c.agent.system_prompt.trim().is_empty() {
        p.push_str("\nBusiness instructions:\n");
        p.push_str(c.agent.system_prompt.trim());
        p.push('\n');
    }
    if !ctx.has_catalog {
        p.push_str("\nNo catalog is loaded: do not quote prices; offer a manager for specifics.\n");
    } else if ctx.matches.is_empty() {
        p.push_str("\nNo catalog items matched the last message.\n");
    } else {
        p.push_str("\nCatalog items matching the last message (JSON):\n");
        for item in ctx.matches {
            p.push_str(&item.for_model().to_string());
            p.push('\n');
        }
    }
    p
}

/// The reply from retrieval alone, in the customer's language: the best matches, then
/// the way to a manager.
pub fn fallback_reply(lang: Lang, matches: &[CatalogItem]) -> String {
    if matches.is_empty() {
        return format!(
            "{}\n{}",
            t::NOTHING_FOUND.get(lang),
            t::OFFER_MANAGER.get(lang)
        );
    }
    let mut out = String::from(t::FOUND.get(lang));
    for (i, item) in matches.iter().take(5).enumerate() {
        let name = match (lang, &item.name_en) {
            (Lang::En, Some(en)) => en,
            _ => &item.name,
        };
        let availability = match item.availability {
            Availability::InStock => Some(&t::IN_STOCK),
            Availability::OutOfStock => Some(&t::OUT_OF_STOCK),
            Availability::OnOrder => Some(&t::ON_ORDER),
            Availability::Unknown => None,
        };
        let price = item
            .price_label()
            .unwrap_or_else(|| t::PRICE_ON_REQUEST.get(lang).to_owned());
        out.push_str(&format!("\n{}. {name} ({}) — {price}", i + 1, item.sku));
        if let Some(a) = availability {
            out.push_str(&format!(", {}", a.get(lang)));
        }
        if let Some(url) = &item.url {
            out.push_str(&format!("\n   {url}"));
        }
    }
    out.push('\n');
    out.push_str(t::OFFER_MANAGER.get(lang));
    out
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A question about price or availability: purchase intent, for the lead sweep.
pub fn shows_intent(text: &str) -> bool {
    const STEMS: &[&str] = &[
        "цен",
        "стоим",
        "стоит",
        "сколько",
        "налич",
        "купит",
        "куплю",
        "заказ",
        "счет",
        "счёт",
        "доставк",
        "оплат",
        "price",
        "cost",
        "how much",
        "available",
        "in stock",
        "buy",
        "order",
        "invoice",
        "delivery",
        "quote",
        "баға",
        "қанша",
        "сатып",
        "тапсырыс",
        "жеткіз",
        "баасы",
        "канча",
        "буйрутма",
        "жеткир",
    ];
    let lowered = text.to_lowercase();
    STEMS.iter().any(|s| lowered.contains(s))
}

/// The customer asks for a person (used when no model decides it).
pub fn asks_for_manager(text: &str) -> bool {
    const WORDS: &[&str] = &[
        "менеджер",
        "менеджера",
        "менеджеру",
        "оператор",
        "оператора",
        "человек",
        "человека",
        "manager",
        "human",
        "operator",
        "agent",
        "person",
        "маман",
    ];
    words(text).iter().any(|w| WORDS.contains(&w.as_str()))
}

/// Phone numbers and emails typed in a message, for capturing a lead without a model.
pub fn contact_details(text: &str, region: &str) -> (Option<String>, Option<String>) {
    let email = text
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '<' | '>' | '(' | ')'))
        .map(|w| w.trim_matches(|c: char| matches!(c, '.' | ':' | '!' | '?' | '"' | '\'')))
        .find(|w| {
            let Some((local, domain)) = w.split_once('@') else {
                return false;
            };
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        .map(str::to_owned);
    // Runs of digits with the usual separators, 10 to 15 digits long.
    let mut phone = None;
    let mut run = String::new();
    let mut flush = |run: &mut String| {
        let digits = run.chars().filter(char::is_ascii_digit).count();
        if phone.is_none() && (10..=15).contains(&digits) {
            if let Ok(p) = sauda_shared::phone::normalise(run, region) {
                phone = Some(p);
            }
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')') {
            run.push(c);
        } else {
            flush(&mut run);
        }
    }
    flush(&mut run);
    (phone, email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages() {
        assert_eq!(
            detect_language("Здравствуйте! Сколько стоит насос Grundfos?", None, "en"),
            "ru"
        );
        assert_eq!(
            detect_language("Hello! Do you deliver to Bishkek?", Some("ru"), "ru"),
            "en"
        );
        assert_eq!(
            detect_language("Сәлеметсіз бе, сорғы қанша тұрады?", Some("ru"), "ru"),
            "kk"
        );
        assert_eq!(
            detect_language("привет", Some("en"), "en"),
            "ru",
            "script beats the app language"
        );
        assert_eq!(detect_language("ok", Some("de"), "ru"), "de");
        assert_eq!(detect_language("👍", Some("kk"), "ru"), "kk");
        assert_eq!(detect_language("👍", None, "ru"), "ru");
        assert_eq!(
            detect_language(
                "Саламатсызбы, бул насостун баасы канча, үйгө жеткиресизби?",
                None,
                "ru"
            ),
            "ky",
            "ү without Kazakh's own letters"
        );
        assert_eq!(
            detect_language("баасы канча?", Some("ky"), "ru"),
            "ky",
            "short Cyrillic with a Kyrgyz app keeps Kyrgyz"
        );
    }

    #[test]
    fn intent_and_manager_words() {
        assert!(shows_intent("Сколько стоит насос?"));
        assert!(shows_intent("is it in stock?"));
        assert!(!shows_intent("Привет"));
        assert!(asks_for_manager("Позовите менеджера, пожалуйста"));
        assert!(asks_for_manager("I want to talk to a human"));
        assert!(!asks_for_manager("Насос для дома"));
    }

    #[test]
    fn contact_details_in_text() {
        let (phone, email) =
            contact_details("Меня зовут Айдар, +7 701 123-45-67, aidar@mail.kz.", "KZ");
        assert_eq!(phone.as_deref(), Some("+77011234567"));
        assert_eq!(email.as_deref(), Some("aidar@mail.kz"));
        assert_eq!(
            contact_details("насос CR 10-2 за 12500", "KZ"),
            (None, None)
        );
    }

    #[test]
    fn fallback_lists_matches_in_the_customer_language() {
        let item = CatalogItem {
            sku: "GR-1".into(),
            name: "Насос Grundfos".into(),
            name_en: Some("Grundfos pump".into()),
            price_minor: Some(1_250_000),
            currency: Some("KZT".into()),
            availability: Availability::InStock,
            quantity: None,
            url: Some("https://shop.kz/gr-1".into()),
            photo_url: None,
            category: None,
            brand: None,
            description: None,
        };
        let ru = fallback_reply(Lang::Ru, std::slice::from_ref(&item));
        assert!(
            ru.contains("Насос Grundfos (GR-1) — 12\u{a0}500 KZT, в наличии"),
            "{ru}"
        );
        assert!(ru.contains("https://shop.kz/gr-1") && ru.contains("менеджер"));
        let en = fallback_reply(Lang::En, std::slice::from_ref(&item));
        assert!(
            en.contains("Grundfos pump (GR-1)")
                && en.contains("in stock")
                && en.contains("manager")
        );
        assert!(fallback_reply(Lang::Kk, &[]).contains("менеджер"));
        let ky = fallback_reply(Lang::Ky, &[item]);
        assert!(
            ky.contains("кампада бар") && ky.contains("Каталогдон"),
            "{ky}"
        );
    }
}
