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
//!
//! Every route passes the shared extractors: [`Tenant`](sauda_shared::api::Tenant)
//! (unknown: 404 `tenant_not_found`; suspended: 404 `tenant_suspended`), and on the
//! manager routes [`Caller<Managers>`](sauda_shared::api::Caller) (key, role, per-key
//! rate limit).

mod form;
mod manager;

pub use form::{client_ip, MAX_FORM_BYTES};

use crate::Deps;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use sauda_shared::api::json_fallbacks;
use std::sync::Arc;

/// Bodies of manager requests are small JSON documents.
pub const MAX_MANAGER_BYTES: usize = 16 * 1024;

pub fn router(deps: Arc<Deps>) -> Router {
    json_fallbacks(
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
            // Limits are enforced by the form and `JsonBody`, so a 413 carries the
            // JSON error body.
            .layer(DefaultBodyLimit::disable()),
    )
    .with_state(deps)
}
