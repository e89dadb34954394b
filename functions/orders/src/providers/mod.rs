//! Payment providers' HTTP APIs and webhook formats. Base URLs come from the
//! environment (fakes in tests and locally); answers are read under a cap; a provider's
//! error text is kept, its credentials never (keys travel in headers, not URLs).

pub mod kaspi;
pub mod stripe;
pub mod telegram;

use sauda_shared::order::Provider;
use std::time::Duration;

/// The most of a provider's answer read (a Checkout Session is a few KB).
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The tenant lacks a credential or setting the provider needs.
    #[error("{provider} is not configured for this tenant: {missing}")]
    NotConfigured {
        provider: Provider,
        missing: &'static str,
    },
    /// The provider said no, for good (bad request, declined, already refunded, …).
    #[error("{provider} refused ({status}): {message}")]
    Refused {
        provider: Provider,
        status: u16,
        message: String,
    },
    /// Network failure, timeout, 429 or 5xx: a retry may succeed.
    #[error("{provider} unavailable: {message}")]
    Unavailable { provider: Provider, message: String },
}

impl ProviderError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ProviderError::Unavailable { .. })
    }
}

/// The HTTP client of every provider call: short timeouts, no redirects (an answer
/// that redirects is not one of these APIs').
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// Sends a request and reads its answer under [`MAX_ANSWER_BYTES`]: `(status, body)`.
pub(crate) async fn exchange(
    provider: Provider,
    request: reqwest::RequestBuilder,
) -> Result<(u16, Vec<u8>), ProviderError> {
    let unavailable = |message: String| ProviderError::Unavailable { provider, message };
    let response = request
        .send()
        .await
        .map_err(|e| unavailable(e.without_url().to_string()))?;
    let status = response.status().as_u16();
    let body = sauda_shared::outbound::read_capped(response, MAX_ANSWER_BYTES)
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    if status == 429 || status >= 500 {
        return Err(unavailable(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body)
                .chars()
                .take(300)
                .collect::<String>()
        )));
    }
    Ok((status, body.to_vec()))
}

/// `12345` minor units as the decimal providers quoting whole units expect (`123.45`).
pub fn minor_to_decimal(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// A decimal amount (`123`, `123.4`, `123.45`, as a JSON number or string) in minor
/// units. Strict: only digits and at most one point with one or two decimals (no
/// sign, no grouping, no exponent); the arithmetic is the catalog's price reader's.
pub fn decimal_to_minor(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, "00"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let strict = digits(whole) && digits(fraction) && whole.len() <= 13 && fraction.len() <= 2;
    strict
        .then(|| agent_reply::catalog::import::parse_price(raw))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_round_trip_exactly() {
        assert_eq!(minor_to_decimal(4_500_050), "45000.50");
        assert_eq!(minor_to_decimal(5), "0.05");
        for (raw, minor) in [("45000", 4_500_000), ("45000.5", 4_500_050), ("0.05", 5)] {
            assert_eq!(decimal_to_minor(raw), Some(minor), "{raw}");
        }
        for bad in [
            "",
            "-1",
            "1.234",
            "1e3",
            "abc",
            "1.",
            ".5",
            "99999999999999",
        ] {
            assert_eq!(decimal_to_minor(bad), None, "{bad}");
        }
    }
}
