//! CORS for the public form: only the tenant's configured origins get CORS headers.
//! A browser on any other site cannot read the answer, and its POST is refused.

use http::{HeaderMap, HeaderName, HeaderValue};

/// Request headers a form page may send.
pub const ALLOWED_HEADERS: &str = "content-type, idempotency-key";
pub const ALLOWED_METHODS: &str = "POST, OPTIONS";
/// Browsers cache a preflight this long (seconds).
pub const MAX_AGE_S: u32 = 600;

/// `https://Shop.KZ:443/` and `https://shop.kz` are the same origin.
pub fn normalise_origin(raw: &str) -> Option<String> {
    let lower = raw.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, rest) = lower.split_once("://")?;
    if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains('/') {
        return None;
    }
    let host = match (scheme, rest.rsplit_once(':')) {
        ("https", Some((host, "443"))) | ("http", Some((host, "80"))) => host,
        _ => rest,
    };
    Some(format!("{scheme}://{host}"))
}

/// Whether `origin` (the request's `Origin` header) is one of the tenant's origins.
/// `*` in the configuration allows every origin.
pub fn is_allowed(origin: &str, allowed: &[String]) -> bool {
    let Some(origin) = normalise_origin(origin) else {
        return false;
    };
    allowed
        .iter()
        .any(|a| a.trim() == "*" || normalise_origin(a).as_deref() == Some(origin.as_str()))
}

/// Headers for an allowed origin's actual request (and its error answers, so that the
/// page's script can read the field errors).
pub fn response_headers(origin: &HeaderValue) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    h.insert(http::header::VARY, HeaderValue::from_static("Origin"));
    h.insert(
        http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("retry-after"),
    );
    h
}

pub fn preflight_headers(origin: &HeaderValue) -> HeaderMap {
    let mut h = response_headers(origin);
    h.remove(http::header::ACCESS_CONTROL_EXPOSE_HEADERS);
    let pairs: [(HeaderName, HeaderValue); 3] = [
        (
            http::header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOWED_METHODS),
        ),
        (
            http::header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOWED_HEADERS),
        ),
        (
            http::header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from(MAX_AGE_S),
        ),
    ];
    for (k, v) in pairs {
        h.insert(k, v);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_normalised() {
        let allowed = vec![
            "https://Shop.kz/".to_owned(),
            "http://localhost:3000".to_owned(),
        ];
        assert!(is_allowed("https://shop.kz", &allowed));
        assert!(is_allowed("https://shop.kz:443", &allowed));
        assert!(is_allowed("http://localhost:3000", &allowed));
        assert!(!is_allowed("http://shop.kz", &allowed), "scheme matters");
        assert!(!is_allowed("https://evil-shop.kz", &allowed));
        assert!(!is_allowed("https://shop.kz.evil.com", &allowed));
        assert!(!is_allowed("null", &allowed));
        assert!(!is_allowed("https://shop.kz", &[]));
        assert!(is_allowed("https://any.example", &["*".to_owned()]));
    }

    #[test]
    fn preflight_names_methods_and_headers() {
        let h = preflight_headers(&HeaderValue::from_static("https://shop.kz"));
        assert_eq!(
            h[http::header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://shop.kz"
        );
        assert_eq!(
            h[http::header::ACCESS_CONTROL_ALLOW_METHODS],
            ALLOWED_METHODS
        );
        assert_eq!(h[http::header::VARY], "Origin");
    }
}
