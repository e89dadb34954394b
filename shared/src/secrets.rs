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
    fn round_trips_as_plain_json() {
        let raw = r#"{"telegram_webhook_secret":"s3cr3t","unknown_field":1}"#;
        let secrets: TenantSecrets = serde_json::from_str(raw).unwrap();
        assert_eq!(
            secrets.telegram_webhook_secret.as_ref().map(Secret::expose),
            Some("s3cr3t")
        );
    }
}
