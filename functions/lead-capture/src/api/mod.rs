//! HTTP routes of `lead-api`: the public web form and the manager API.
//!
//! | method | path | who |
//! |---|---|---|
//! | `POST` | `/t/{tenant}/leads` | anyone (web form; CORS for the tenant's origins) |
//! | `OPTIONS` | `/t/{tenant}/leads` | browsers (CORS preflight) |
//! | `GET` | `/t/{tenant}/leads?stage=&limit=&cursor=` | manager / admin key |
//! | `GET` | `/t/{tenant}/leads/{contact}` | manager / admin key |
//! | `POST` | `/t/{tenant}/leads/{contact}/stage` | manager / admin key |
//! | `POST` | `/t/{tenant}/leads/{contact}/assign` | manager / admin key |
//! | `POST` | `/t/{tenant}/leads/{contact}/notes` | manager / admin key |
//! | `POST` | `/t/{tenant}/leads/{contact}/resume-agent` | manager / admin key |

mod form;
mod manager;

pub use form::{client_ip, MAX_FORM_BYTES};

use crate::error::HttpError;
use crate::Deps;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use http::StatusCode;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// Bodies of manager requests are small JSON documents.
pub const MAX_MANAGER_BYTES: usize = 16 * 1024;

pub fn router(deps: Arc<Deps>) -> Router {
    Router::new()
        .route(
            "/t/{tenant}/leads",
            post(form::submit)
                .options(form::preflight)
                .get(manager::list),
        )
        .route("/t/{tenant}/leads/{contact}", get(manager::get))
        .route("/t/{tenant}/leads/{contact}/stage", post(manager::stage))
        .route("/t/{tenant}/leads/{contact}/assign", post(manager::assign))
        .route("/t/{tenant}/leads/{contact}/notes", post(manager::note))
        .route(
            "/t/{tenant}/leads/{contact}/resume-agent",
            post(manager::resume_agent),
        )
        .fallback(|| async {
            HttpError::new(StatusCode::NOT_FOUND, "route_not_found", "no such route")
        })
        .method_not_allowed_fallback(|| async {
            HttpError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route",
            )
        })
        // Limits are enforced in the handlers, so a 413 carries the JSON error body.
        .layer(DefaultBodyLimit::disable())
        .with_state(deps)
}

/// Parses a JSON request body; an empty body reads as `{}`.
fn json_body<T: DeserializeOwned>(body: &Bytes, limit: usize) -> Result<T, HttpError> {
    if body.len() > limit {
        return Err(sauda_shared::ApiError::payload_too_large(limit).into());
    }
    let raw: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(raw).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            HttpError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                "the body is not valid JSON",
            )
        } else {
            HttpError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                e.to_string(),
            )
        }
    })
}
