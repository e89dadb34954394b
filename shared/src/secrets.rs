//! Secret values and the shape of the per-tenant secret (`sauda/{stage}/tenant/{t}`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A secret string whose `Debug` and `Display` never show the value, so it cannot leak
/// through logs or error messages by accident.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Channel and payment secrets of one tenant. All optional: a tenant enables channels
/// one by one, and a route whose secret is absent answers `channel_not_configured`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSecrets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram_bot_token: Option<Secret>,
    /// Sent by Telegram in `X-Telegram-Bot-Api-Secret-Token`; set with `setWebhook`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram_webhook_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp_app_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp_verify_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp_access_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_webhook_secret: Option<Secret>,
    /// The tenant's own LLM key; when absent the platform key is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_api_key: Option<Secret>,
    /// Signs outbound CRM webhook deliveries (HMAC-SHA256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crm_webhook_secret: Option<Secret>,
}

impl TenantSecrets {
    /// Every key the functions read; the CLI refuses others, so a typo cannot pass unnoticed.
    pub const KEYS: &'static [&'static str] = &[
        "telegram_bot_token",
        "telegram_webhook_secret",
        "whatsapp_app_secret",
        "whatsapp_verify_token",
        "whatsapp_access_token",
        "stripe_webhook_secret",
        "llm_api_key",
        "crm_webhook_secret",
    ];
}

/// Platform-wide secrets (`sauda/{stage}/platform`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformSecrets {
    /// Default key for the platform's OpenAI-compatible LLM endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_api_key: Option<Secret>,
}

impl PlatformSecrets {
    pub const KEYS: &'static [&'static str] = &["llm_api_key"];
}

/// Merges two secret documents field by field: keys present in `update` replace those in
/// `existing`, a JSON `null` removes a key, everything else is kept. Working on the JSON
/// object keeps fields this build does not know about, so an older CLI never drops them.
pub fn merge_json(
    existing: &mut serde_json::Map<String, serde_json::Value>,
    update: serde_json::Map<String, serde_json::Value>,
) {
    for (key, value) in update {
        if value.is_null() {
            existing.remove(&key);
        } else {
            existing.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_values() {
        let secrets = TenantSecrets {
            telegram_bot_token: Some(Secret::new("123:ABC-very-secret")),
            ..Default::default()
        };
        let shown = format!("{secrets:?} {}", Secret::new("x1y2"));
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(!shown.contains("x1y2"), "{shown}");
    }

    #[test]
    fn merge_replaces_removes_and_keeps() {
        let mut existing = serde_json::json!({"a": "1", "b": "2", "future": "x"});
        let update = serde_json::json!({"a": "9", "b": null, "c": "3"});
        merge_json(
            existing.as_object_mut().unwrap(),
            update.as_object().unwrap().clone(),
        );
        assert_eq!(
            existing,
            serde_json::json!({"a": "9", "c": "3", "future": "x"})
        );
    }

    #[test]
    fn round_trips_as_plain_json() {
        let raw = r#"{"telegram_webhook_secret":"s3cr3t","unknown_field":1}"#;
        let secrets: TenantSecrets = serde_json::from_str(raw).unwrap();
        assert_eq!(
            secrets.telegram_webhook_secret.as_ref().map(Secret::expose),
            Some("s3cr3t")
        );
    }
}
