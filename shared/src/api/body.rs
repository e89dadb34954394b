//! Request bodies, query strings and path parameters with the same rules and stable
//! codes on every route.

use super::ApiError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use http::request::Parts;
use serde::de::DeserializeOwned;

/// Bodies of API requests are small JSON documents.
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;

/// A JSON body of at most `MAX` bytes.
///
/// - over `MAX`: 413 `payload_too_large`;
/// - a content type other than JSON (absent is read as JSON): 415 `unsupported_media_type`;
/// - empty or blank: read as `{}`, so a body whose fields are all optional may be left
///   out, and a missing required field is reported like any other;
/// - not JSON: 400 `malformed_json`; JSON of the wrong shape: 422 `invalid_body`.
#[derive(Debug)]
pub struct JsonBody<T, const MAX: usize = DEFAULT_MAX_BODY>(pub T);

/// Parses `bytes` by the rules of [`JsonBody`] (content type already checked).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8], max: usize) -> Result<T, ApiError> {
    if bytes.len() > max {
        return Err(ApiError::payload_too_large(max));
    }
    let raw: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(raw).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::bad_request("malformed_json", "the body is not valid JSON")
        } else {
            ApiError::unprocessable("invalid_body", e.to_string())
        }
    })
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<S, T, const MAX: usize> FromRequest<S> for JsonBody<T, MAX>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        if let Some(content_type) = req.headers().get(http::header::CONTENT_TYPE) {
            let ok = content_type.to_str().is_ok_and(is_json);
            if !ok {
                return Err(ApiError::new(
                    http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body as application/json",
                ));
            }
        }
        // One byte over the cap is enough to know it is too large.
        let bytes = axum::body::to_bytes(req.into_body(), MAX.saturating_add(1))
            .await
            .map_err(|_| ApiError::payload_too_large(MAX))?;
        parse_json(&bytes, MAX).map(JsonBody)
    }
}

/// A query string, with a JSON 400 `invalid_query` instead of axum's text answer.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| ApiError::bad_request("invalid_query", format!("query string: {e}")))
    }
}

/// Path parameters, with a JSON 404 `route_not_found` when they do not parse.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| ApiPath(v))
            .map_err(|_| ApiError::route_not_found())
    }
}

pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// The optional `Idempotency-Key` header: 1-128 characters of `A-Z a-z 0-9 . _ : -`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(pub Option<String>);

impl IdempotencyKey {
    pub fn parse(raw: Option<&http::HeaderValue>) -> Result<Self, ApiError> {
        let Some(raw) = raw else {
            return Ok(Self(None));
        };
        let key = raw.to_str().unwrap_or_default().trim();
        let ok = (1..=128).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if ok {
            Ok(Self(Some(key.to_owned())))
        } else {
            Err(ApiError::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1-128 characters of A-Z a-z 0-9 . _ : -",
            ))
        }
    }

    /// The key, or 400 `idempotency_key_required`.
    pub fn required(self) -> Result<String, ApiError> {
        self.0.ok_or_else(|| {
            ApiError::bad_request(
                "idempotency_key_required",
                "an Idempotency-Key header is required on this request",
            )
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Self::parse(parts.headers.get(IDEMPOTENCY_HEADER))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(default)]
        note: Option<String>,
    }

    #[derive(Deserialize, Debug)]
    struct Required {
        #[allow(dead_code)]
        amount: i64,
    }

    #[test]
    fn one_rule_for_every_body() {
        assert!(
            parse_json::<Body>(b"", 10).unwrap().note.is_none(),
            "empty is {{}}"
        );
        assert!(parse_json::<Body>(b"  \n", 10).is_ok());
        assert_eq!(
            parse_json::<Body>(b"{", 10).unwrap_err().code,
            "malformed_json"
        );
        assert_eq!(
            parse_json::<Body>(b"[1]", 10).unwrap_err().code,
            "invalid_body"
        );
        assert_eq!(
            parse_json::<Body>(br#"{"x":1}"#, 10).unwrap_err().code,
            "invalid_body"
        );
        assert_eq!(
            parse_json::<Required>(b"", 10).unwrap_err().code,
            "invalid_body"
        );
        assert_eq!(
            parse_json::<Body>(&[b' '; 11], 10).unwrap_err().code,
            "payload_too_large"
        );
    }

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/x-www-form-urlencoded"));
    }

    #[test]
    fn idempotency_keys() {
        let ok = http::HeaderValue::from_static("order-1:retry.2");
        assert_eq!(
            IdempotencyKey::parse(Some(&ok)).unwrap().0.as_deref(),
            Some("order-1:retry.2")
        );
        let bad = http::HeaderValue::from_static("a b");
        assert_eq!(
            IdempotencyKey::parse(Some(&bad)).unwrap_err().code,
            "invalid_idempotency_key"
        );
        assert_eq!(
            IdempotencyKey(None).required().unwrap_err().code,
            "idempotency_key_required"
        );
    }
}
