//! The one HTTP API layer every Sauda function is built on.
//!
//! - [`ApiError`]: the error contract, and [`json_fallbacks`] for unknown routes.
//! - Extractors, in the order every request passes them: [`Tenant`] (the path's
//!   tenant, which must exist and be active: a suspended tenant is 404
//!   `tenant_suspended` on every route) → [`Caller`] (the API key, looked up inside
//!   that tenant only, its role, then the per-key rate limit).
//! - [`JsonBody`]: size cap, content type, an empty body read as `{}`, stable codes.
//! - [`ApiQuery`] / [`ApiPath`]: query strings and path parameters with JSON errors.
//! - [`cursor`]: opaque page cursors bound to tenant and route.

pub mod body;
pub mod cursor;
mod error;
pub mod extract;

pub use body::{ApiPath, ApiQuery, IdempotencyKey, JsonBody};
pub use error::{json_fallbacks, ApiError};
pub use extract::{
    Admins, AnyKey, ApiDeps, Caller, HasApi, Managers, Partners, Roles, Tenant, TenantAdmins,
};
