//! Every text a customer, manager or partner reads, in Russian, English, Kazakh and
//! Kyrgyz, in one mechanism: each capability keeps a catalog of [`Text`]s (one file
//! here per capability), and one test checks that every text exists in every
//! language with the same placeholders.
//!
//! Placeholders are `{name}`; [`Text::render`] fills them. A text a person reads is
//! chosen by the customer's language when known, else by the tenant's default.

pub mod agent;
pub mod chat;
pub mod common;
pub mod inbox;
pub mod leads;
pub mod limits;
pub mod loyalty;
pub mod orders;
pub mod partner_chat;
pub mod reports;
pub mod shop;

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Ru,
    En,
    Kk,
    Ky,
}

impl Lang {
    pub const ALL: [Lang; 4] = [Lang::Ru, Lang::En, Lang::Kk, Lang::Ky];

    /// `ru`, `en`, `kk`, `ky` (also `ru-RU`, `kz` and similar spellings).
    pub fn parse(code: &str) -> Option<Lang> {
        let primary = code
            .trim()
            .split(['-', '_'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match primary.as_str() {
            "ru" => Some(Lang::Ru),
            "en" => Some(Lang::En),
            "kk" | "kz" => Some(Lang::Kk),
            "ky" | "kg" => Some(Lang::Ky),
            _ => None,
        }
    }

    /// The customer's language if Sauda speaks it, else the tenant's default, else English.
    pub fn pick(preferred: Option<&str>, default: &str) -> Lang {
        preferred
            .and_then(Lang::parse)
            .or_else(|| Lang::parse(default))
            .unwrap_or(Lang::En)
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Ru => "ru",
            Lang::En => "en",
            Lang::Kk => "kk",
            Lang::Ky => "ky",
        }
    }

    /// The language's own name (for a language menu).
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::Ru => "Русский",
            Lang::En => "English",
            Lang::Kk => "Қазақша",
            Lang::Ky => "Кыргызча",
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One text in every language.
#[derive(Debug)]
pub struct Text {
    pub key: &'static str,
    pub ru: &'static str,
    pub en: &'static str,
    pub kk: &'static str,
    pub ky: &'static str,
}

impl Text {
    pub fn get(&self, lang: Lang) -> &'static str {
        match lang {
            Lang::Ru => self.ru,
            Lang::En => self.en,
            Lang::Kk => self.kk,
            Lang::Ky => self.ky,
        }
    }

    /// The text with `{name}` placeholders filled; unknown placeholders stay as written.
    pub fn render(&self, lang: Lang, args: &[(&str, &dyn fmt::Display)]) -> String {
        render(self.get(lang), args)
    }
}

/// Fills `{name}` placeholders in `template`.
pub fn render(template: &str, args: &[(&str, &dyn fmt::Display)]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                match args.iter().find(|(n, _)| *n == name) {
                    Some((_, value)) => out.push_str(&value.to_string()),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every catalog, for the completeness test and for tools that list texts.
pub fn catalogs() -> Vec<&'static [&'static Text]> {
    vec![
        common::ALL,
        agent::ALL,
        leads::ALL,
        loyalty::ALL,
        reports::ALL,
        inbox::ALL,
        orders::ALL,
        limits::ALL,
        chat::ALL,
        shop::ALL,
        partner_chat::ALL,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashSet};

    fn placeholders(s: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let mut rest = s;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else { break };
            found.insert(after[..close].to_owned());
            rest = &after[close + 1..];
        }
        found
    }

    #[test]
    fn every_text_is_in_every_language_with_the_same_placeholders() {
        let mut keys = HashSet::new();
        for catalog in catalogs() {
            for text in catalog {
                assert!(keys.insert(text.key), "duplicate key {}", text.key);
                let expected = placeholders(text.en);
                for lang in Lang::ALL {
                    let s = text.get(lang);
                    assert!(!s.trim().is_empty(), "{} has no {lang} text", text.key);
                    assert_eq!(placeholders(s), expected, "{} in {lang}", text.key);
                }
            }
        }
    }

    #[test]
    fn renders_and_picks() {
        assert_eq!(
            render("{n} points, {who}!", &[("n", &5), ("who", &"Aida")]),
            "5 points, Aida!"
        );
        assert_eq!(render("left {x} and {", &[]), "left {x} and {");
        assert_eq!(Lang::pick(Some("ky-KG"), "ru"), Lang::Ky);
        assert_eq!(Lang::pick(Some("de"), "kk"), Lang::Kk);
        assert_eq!(Lang::pick(None, "xx"), Lang::En);
    }
}
