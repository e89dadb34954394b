//! Tenant identity and configuration.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A validated tenant id: 2-40 chars of `[a-z0-9-]`, starting with a letter or digit.
///
/// The alphabet excludes `#`, so a tenant id can never forge another key's prefix.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TenantId(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("tenant id must be 2-40 characters of a-z, 0-9 and '-', starting with a letter or digit")]
pub struct InvalidTenantId;

impl TenantId {
    pub fn parse(raw: &str) -> Result<Self, InvalidTenantId> {
        let bytes = raw.as_bytes();
        let valid_len = (2..=40).contains(&bytes.len());
        let valid_first = bytes
            .first()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let valid_chars = bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if valid_len && valid_first && valid_chars {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidTenantId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        TenantId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    #[default]
    Active,
    Suspended,
}

/// Per-tenant settings stored at `T#{t}#CONFIG` / `CONFIG`.
///
/// Later capabilities add fields; every field has a default so older items still load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TenantConfig {
    pub tenant: TenantId,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: TenantStatus,
    /// IANA zone, e.g. `Asia/Almaty`; reports and day counters follow it.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Language used when the customer's is unknown (`ru`, `en`, `kk`, ...).
    #[serde(default = "default_language")]
    pub default_language: String,
    /// WhatsApp Cloud API phone number id; payloads for other numbers are ignored.
    #[serde(default)]
    pub whatsapp_phone_number_id: Option<String>,
    #[serde(default)]
    pub telegram_bot_username: Option<String>,
    #[serde(default)]
    pub created_at_ms: i64,
}

fn default_timezone() -> String {
    "UTC".to_owned()
}

fn default_language() -> String {
    "en".to_owned()
}

impl TenantConfig {
    pub fn new(tenant: TenantId, name: impl Into<String>) -> Self {
        Self {
            tenant,
            name: name.into(),
            status: TenantStatus::Active,
            timezone: default_timezone(),
            default_language: default_language(),
            whatsapp_phone_number_id: None,
            telegram_bot_username: None,
            created_at_ms: crate::now_ms(),
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == TenantStatus::Active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_ids() {
        for ok in ["demo", "acme-shop", "t1", "0x"] {
            assert_eq!(TenantId::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_ids_that_could_forge_keys() {
        for bad in [
            "",
            "a",
            "-lead",
            "Demo",
            "a#b",
            "a/b",
            "x".repeat(41).as_str(),
            "tenant#C#x",
        ] {
            assert_eq!(TenantId::parse(bad), Err(InvalidTenantId), "{bad}");
        }
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<TenantId>("\"ok-1\"").is_ok());
        assert!(serde_json::from_str::<TenantId>("\"BAD#\"").is_err());
    }
}
