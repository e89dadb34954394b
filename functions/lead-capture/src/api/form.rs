//! The public web form: `POST /t/{tenant}/leads` and its CORS preflight.
//!
//! Order of checks, cheapest and most telling first: tenant, origin, size, per-IP rate
//! limit (one UpdateItem), body, honeypot, validation; then the capture (one
//! transaction) and two queue sends. The answer never waits on Telegram or the CRM.
//!
//! The answer is `202 {"ok": true}` whether the lead was new, merged or a repeat, and
//! also for a bot caught by the honeypot: a stranger learns nothing about who is
//! already a customer.

use crate::cors;
use crate::service;
use crate::validate::{self, ValidLead};
use crate::Deps;
use axum::extract::{FromRequestParts, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use http::request::Parts;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use lambda_http::request::RequestContext;
use sauda_shared::api::body::{parse_json, IDEMPOTENCY_HEADER};
use sauda_shared::api::{IdempotencyKey, Tenant};
use sauda_shared::redact::Address;
use sauda_shared::tenant::TenantConfig;
use sauda_shared::ApiError;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// A form body is a few fields; anything bigger is not a person typing.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// The caller's address as API Gateway saw it (`requestContext.http.sourceIp`).
/// Headers such as `X-Forwarded-For` are not used: a client can write them.
#[allow(irrefutable_let_patterns)]
pub fn client_ip(extensions: &http::Extensions) -> Option<IpAddr> {
    let RequestContext::ApiGatewayV2(ctx) = extensions.get::<RequestContext>()? else {
        return None;
    };
    ctx.http.source_ip.as_deref()?.trim().parse().ok()
}

/// The rate-limit scope of an address: IPv6 clients usually hold a whole /64.
fn ip_scope(ip: Option<IpAddr>) -> String {
    match ip {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "unknown".to_owned(),
    }
}

pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(ClientIp(client_ip(&parts.extensions)))
    }
}

/// The request's origin, if the tenant allows it; `Err` for a foreign one.
fn allowed_origin(
    headers: &HeaderMap,
    config: &TenantConfig,
) -> Result<Option<HeaderValue>, ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        // Not a browser (a server posting for the business): CORS does not apply.
        return Ok(None);
    };
    let ok = origin
        .to_str()
        .is_ok_and(|o| cors::is_allowed(o, &config.leads.allowed_origins));
    if ok {
        Ok(Some(origin.clone()))
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "this site may not submit leads for the tenant",
        ))
    }
}

pub async fn preflight(Tenant(config): Tenant, headers: HeaderMap) -> Response {
    let tenant = &config.tenant;
    match allowed_origin(&headers, &config) {
        Ok(Some(origin)) => {
            (StatusCode::NO_CONTENT, cors::preflight_headers(&origin)).into_response()
        }
        Ok(None) => (
            StatusCode::NO_CONTENT,
            [(
                header::ALLOW,
                HeaderValue::from_static(cors::ALLOWED_METHODS),
            )],
        )
            .into_response(),
        Err(e) => {
            info!(%tenant, origin = ?headers.get(header::ORIGIN), "preflight from a foreign origin");
            e.into_response()
        }
    }
}

pub async fn submit(
    State(deps): State<Arc<Deps>>,
    Tenant(config): Tenant,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let tenant = &config.tenant;
    let origin = match allowed_origin(&headers, &config) {
        Ok(o) => o,
        Err(e) => {
            info!(%tenant, origin = ?headers.get(header::ORIGIN), "form post from a foreign origin refused");
            return e.into_response();
        }
    };
    let mut response = match accept(&deps, &config, ip, &headers, &body).await {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({"ok": true}))).into_response(),
        Err(e) => e.into_response(),
    };
    if let Some(origin) = origin {
        response
            .headers_mut()
            .extend(cors::response_headers(&origin));
    }
    response
}

async fn accept(
    deps: &Deps,
    config: &TenantConfig,
    ip: Option<IpAddr>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(), ApiError> {
    let tenant = &config.tenant;
    if body.len() > MAX_FORM_BYTES {
        return Err(ApiError::payload_too_large(MAX_FORM_BYTES));
    }
    let limit = config.leads.form_rate_limit_per_hour;
    if limit == 0 {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "form_disabled",
            "this tenant does not take leads from a web form",
        ));
    }
    // Logs and the rate-limit window name the client by a keyed digest, never by its
    // address (the window is stored for an hour).
    let client = Address(tenant, &ip_scope(ip)).to_string();
    let scope = format!("form#{client}");
    let now = sauda_shared::now_ms();
    let decision = deps
        .api
        .limiter
        .hit(tenant, &scope, limit, Duration::from_secs(3600), now)
        .await
        .map_err(|e| {
            warn!(%tenant, error = %e, "rate limiter unavailable");
            ApiError::dependency("rate limiter unavailable")
        })?;
    if !decision.allowed {
        info!(%tenant, %client, "form rate limit reached");
        return Err(ApiError::too_many_requests(
            format!("at most {limit} submissions per hour from one address"),
            decision.retry_after_s,
        ));
    }
    let fields = parse_body(headers, body)?;
    if validate::is_honeypot_filled(&fields) {
        info!(%tenant, %client, "honeypot filled: submission dropped");
        return Ok(());
    }
    let key = idempotency_key(headers, &fields)?;
    let lead: ValidLead = validate::web_form(&fields, &config.leads.default_region, key, now)
        .map_err(ApiError::validation)?;
    service::capture(deps, config, &lead).await?;
    Ok(())
}

/// JSON (what a widget's `fetch` sends) or `application/x-www-form-urlencoded` (what a
/// plain HTML form sends). Both become one map of fields.
fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|| "application/json".to_owned());
    match content_type.as_str() {
        // `text/plain` is what `fetch` sends to skip a preflight; it must still be JSON.
        "application/json" | "text/plain" => parse_json(body, MAX_FORM_BYTES),
        "application/x-www-form-urlencoded" => {
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_bytes(body).map_err(|_| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "malformed_form",
                        "the body is not valid form data",
                    )
                })?;
            Ok(pairs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect())
        }
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("{other} is not accepted; send application/json or a form"),
        )),
    }
}

/// The client's `Idempotency-Key`, or else a digest of the content: a double click or a
/// browser retry of the same form is one submission, not a merge.
fn idempotency_key(headers: &HeaderMap, fields: &Map<String, Value>) -> Result<String, ApiError> {
    if let IdempotencyKey(Some(key)) = IdempotencyKey::parse(headers.get(IDEMPOTENCY_HEADER))? {
        return Ok(format!("key:{key}"));
    }
    let mut digest = Sha256::new();
    for field in [
        "name", "phone", "email", "interest", "message", "source", "language",
    ] {
        let value = match fields.get(field) {
            Some(Value::String(s)) => s.trim().to_owned(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        digest.update(field.as_bytes());
        digest.update([0]);
        digest.update(value.as_bytes());
        digest.update([0]);
    }
    Ok(format!("content:{}", hex::encode(digest.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_share_their_prefix() {
        let a: IpAddr = "2a02:1234:5678:9abc::1".parse().unwrap();
        let b: IpAddr = "2a02:1234:5678:9abc:ffff::2".parse().unwrap();
        assert_eq!(ip_scope(Some(a)), ip_scope(Some(b)));
        assert_eq!(
            ip_scope(Some("203.0.113.9".parse().unwrap())),
            "203.0.113.9"
        );
        assert_eq!(ip_scope(None), "unknown");
    }

    #[test]
    fn same_content_same_key_unless_the_client_names_one() {
        let a = json!({"name": "Aida", "phone": "87011234567", "consent": true});
        let b = json!({"phone": "87011234567", "name": "Aida ", "consent": "on"});
        let c = json!({"name": "Aida", "phone": "87011234568"});
        let none = HeaderMap::new();
        let key = |v: &Value, h: &HeaderMap| idempotency_key(h, v.as_object().unwrap()).unwrap();
        assert_eq!(key(&a, &none), key(&b, &none));
        assert_ne!(key(&a, &none), key(&c, &none));
        let mut named = HeaderMap::new();
        named.insert(IDEMPOTENCY_HEADER, "abc-1".parse().unwrap());
        assert_eq!(key(&a, &named), "key:abc-1");
        named.insert(IDEMPOTENCY_HEADER, "".parse().unwrap());
        assert!(idempotency_key(&named, a.as_object().unwrap()).is_err());
    }

    #[test]
    fn bodies_are_json_or_form_data() {
        let mut h = HeaderMap::new();
        let m = parse_body(&h, &Bytes::from_static(br#"{"name":"A"}"#)).unwrap();
        assert_eq!(m["name"], "A");
        h.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap(),
        );
        let m = parse_body(&h, &Bytes::from_static(b"name=A+B&consent=on")).unwrap();
        assert_eq!(m["name"], "A B");
        assert_eq!(m["consent"], "on");
        h.insert(header::CONTENT_TYPE, "application/xml".parse().unwrap());
        let e = parse_body(&h, &Bytes::from_static(b"<a/>")).unwrap_err();
        assert_eq!(e.code, "unsupported_media_type");
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        assert_eq!(
            parse_body(&h, &Bytes::from_static(b"[1]"))
                .unwrap_err()
                .code,
            "invalid_body"
        );
        assert_eq!(
            parse_body(&h, &Bytes::from_static(b"{")).unwrap_err().code,
            "malformed_json"
        );
    }
}
