//! The tenant's catalog: items imported from CSV/XLSX, a tantivy index per version
//! in S3 (blue-green: tenant config names the active version), and search with
//! Russian/English stemming and typo tolerance.

pub mod cache;
pub mod generate;
pub mod import;
pub mod index;
pub mod publish;
pub mod store;

pub use cache::CatalogCache;
pub use import::{ImportReport, RejectedRow};
pub use index::{CatalogIndex, Hit};
pub use store::{CatalogStore, Manifest};

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{0}")]
    Format(String),
    #[error("index: {0}")]
    Index(String),
    #[error("storage: {0}")]
    Storage(String),
    #[error("catalog version {0} was not found")]
    VersionNotFound(String),
}

impl From<tantivy::TantivyError> for CatalogError {
    fn from(e: tantivy::TantivyError) -> Self {
        CatalogError::Index(e.to_string())
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    InStock,
    OutOfStock,
    /// Made or delivered to order.
    OnOrder,
    #[default]
    Unknown,
}

impl Availability {
    /// Reads the spellings found in real price lists (ru/en/kk, yes/no, counts).
    pub fn parse(raw: &str) -> Option<(Self, Option<i64>)> {
        let v = raw.trim().to_lowercase();
        if v.is_empty() {
            return Some((Self::Unknown, None));
        }
        if let Ok(n) = v.replace([' ', '\u{a0}'], "").parse::<f64>() {
            if n.is_finite() && n >= 0.0 {
                let n = n.floor() as i64;
                let state = if n > 0 {
                    Self::InStock
                } else {
                    Self::OutOfStock
                };
                return Some((state, Some(n)));
            }
            return None;
        }
        let state = match v.as_str() {
            "да"
            | "есть"
            | "в наличии"
            | "yes"
            | "y"
            | "true"
            | "in stock"
            | "available"
            | "бар"
            | "+"
            | "в наявності" => Self::InStock,
            "нет"
            | "нет в наличии"
            | "no"
            | "n"
            | "false"
            | "out of stock"
            | "unavailable"
            | "жоқ"
            | "-"
            | "отсутствует" => Self::OutOfStock,
            "под заказ"
            | "на заказ"
            | "preorder"
            | "pre-order"
            | "on order"
            | "to order"
            | "ожидается"
            | "backorder"
            | "тапсырыспен" => Self::OnOrder,
            _ => return None,
        };
        Some((state, None))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InStock => "in_stock",
            Self::OutOfStock => "out_of_stock",
            Self::OnOrder => "on_order",
            Self::Unknown => "unknown",
        }
    }
}

/// One catalog item as imported, stored in the index's document store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CatalogItem {
    pub sku: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_en: Option<String>,
    /// Price in minor units (cents, tiyn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_minor: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default)]
    pub availability: Availability,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl CatalogItem {
    /// An item with only its SKU and name (the rest unknown), to fill in field by field.
    pub fn new(sku: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            sku: sku.into(),
            name: name.into(),
            name_en: None,
            price_minor: None,
            currency: None,
            availability: Availability::Unknown,
            quantity: None,
            url: None,
            photo_url: None,
            category: None,
            brand: None,
            description: None,
        }
    }

    /// `12 500 KZT`, `1 299.90 USD`; `None` without a price.
    pub fn price_label(&self) -> Option<String> {
        let minor = self.price_minor?;
        let units = minor / 100;
        let cents = (minor % 100).abs();
        let digits = units.abs().to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push('\u{a0}');
            }
            grouped.push(c);
        }
        let sign = if minor < 0 { "-" } else { "" };
        let amount = if cents == 0 {
            format!("{sign}{grouped}")
        } else {
            format!("{sign}{grouped}.{cents:02}")
        };
        Some(match &self.currency {
            Some(c) => format!("{amount} {c}"),
            None => amount,
        })
    }

    /// The compact shape handed to the model (and to the fallback templates).
    pub fn for_model(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "sku": self.sku,
            "name": self.name,
            "availability": self.availability.as_str(),
        });
        let obj = v.as_object_mut().expect("object literal");
        if let Some(p) = self.price_label() {
            obj.insert("price".into(), p.into());
        }
        if let Some(q) = self.quantity {
            obj.insert("quantity".into(), q.into());
        }
        for (key, value) in [
            ("name_en", &self.name_en),
            ("brand", &self.brand),
            ("category", &self.category),
            ("url", &self.url),
            ("photo_url", &self.photo_url),
        ] {
            if let Some(value) = value {
                obj.insert(key.into(), value.clone().into());
            }
        }
        if let Some(d) = &self.description {
            let short: String = d.chars().take(200).collect();
            obj.insert("description".into(), short.into());
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn availability_spellings() {
        assert_eq!(
            Availability::parse("В наличии"),
            Some((Availability::InStock, None))
        );
        assert_eq!(
            Availability::parse("12"),
            Some((Availability::InStock, Some(12)))
        );
        assert_eq!(
            Availability::parse("0"),
            Some((Availability::OutOfStock, Some(0)))
        );
        assert_eq!(
            Availability::parse("под заказ"),
            Some((Availability::OnOrder, None))
        );
        assert_eq!(Availability::parse(""), Some((Availability::Unknown, None)));
        assert_eq!(Availability::parse("maybe"), None);
        assert_eq!(Availability::parse("-3"), None);
    }

    #[test]
    fn price_labels_group_thousands() {
        let mut item = CatalogItem {
            price_minor: Some(1_250_050),
            currency: Some("KZT".into()),
            ..CatalogItem::new("A", "x")
        };
        assert_eq!(item.price_label().unwrap(), "12\u{a0}500.50 KZT");
        item.price_minor = Some(99_900);
        item.currency = None;
        assert_eq!(item.price_label().unwrap(), "999");
    }
}
