//! Errors of the lead domain and their one mapping to HTTP answers.
//!
//! Every answer keeps the `{"error":{"code","message"}}` contract; some add one more
//! field (`fields` for validation, `allowed` for a forbidden transition).

use crate::validate::FieldError;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use sauda_shared::apikey::AuthError;
use sauda_shared::funnel::Stage;
use sauda_shared::ports::{QueueError, StoreError};
use sauda_shared::ApiError;
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum LeadError {
    #[error("no lead for contact {0}")]
    NotFound(String),
    #[error("a lead in {from} cannot move to {to}; allowed: {}", allowed(*from))]
    TransitionNotAllowed { from: Stage, to: Stage },
    #[error("the lead is in stage {current}, not {expected}")]
    StageConflict { current: Stage, expected: Stage },
    #[error("a reason is required to mark a lead lost")]
    ReasonRequired,
    #[error("no partner {0}")]
    PartnerNotFound(String),
    #[error("partner {0} is not active")]
    PartnerNotActive(String),
    #[error("the lead of {0} changed concurrently too often; try again")]
    Contention(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

fn allowed(from: Stage) -> String {
    let names: Vec<&str> = from.next_stages().iter().map(|s| s.as_str()).collect();
    names.join(", ")
}

impl LeadError {
    /// Worth retrying later (a dependency or a race), as opposed to a wrong request.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            LeadError::Store(_) | LeadError::Queue(_) | LeadError::Contention(_)
        )
    }
}

/// An HTTP error answer.
#[derive(Debug)]
pub struct HttpError {
    pub error: ApiError,
    /// One extra field inside `error`, e.g. `fields` or `allowed`.
    pub extra: Option<(&'static str, Value)>,
    pub retry_after_s: Option<u64>,
}

impl HttpError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(status, code, message).into()
    }

    pub fn validation(fields: Vec<FieldError>) -> Self {
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "some fields are invalid; see `fields`",
        );
        e.extra = Some(("fields", json!(fields)));
        e
    }

    pub fn invalid(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut e = Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message.clone());
        e.extra = Some((
            "fields",
            json!([{"field": field, "code": code, "message": message}]),
        ));
        e
    }

    pub fn body(&self) -> Value {
        let mut body = self.error.body();
        if let Some((k, v)) = &self.extra {
            body["error"][*k] = v.clone();
        }
        body
    }
}

impl From<ApiError> for HttpError {
    fn from(error: ApiError) -> Self {
        Self {
            error,
            extra: None,
            retry_after_s: None,
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut response = (self.error.status, axum::Json(self.body())).into_response();
        if let Some(s) = self.retry_after_s {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(s));
        }
        response
    }
}

impl From<LeadError> for HttpError {
    fn from(e: LeadError) -> Self {
        match e {
            LeadError::NotFound(cid) => Self::new(
                StatusCode::NOT_FOUND,
                "lead_not_found",
                format!("no lead for contact {cid}"),
            ),
            LeadError::TransitionNotAllowed { from, .. } => {
                let allowed: Vec<&str> = from.next_stages().iter().map(|s| s.as_str()).collect();
                let mut e = Self::new(
                    StatusCode::CONFLICT,
                    "transition_not_allowed",
                    e.to_string(),
                );
                e.extra = Some(("allowed", json!(allowed)));
                e
            }
            LeadError::StageConflict { current, expected } => {
                let mut e = Self::new(
                    StatusCode::CONFLICT,
                    "stage_conflict",
                    format!("the lead is in {current} now, not {expected}; reload and retry"),
                );
                e.extra = Some(("current_stage", json!(current)));
                e
            }
            LeadError::ReasonRequired => Self::invalid(
                "reason",
                "reason_required",
                "say why the lead is lost (`reason`)",
            ),
            LeadError::PartnerNotFound(id) => Self::new(
                StatusCode::NOT_FOUND,
                "partner_not_found",
                format!("no partner {id}"),
            ),
            LeadError::PartnerNotActive(id) => Self::new(
                StatusCode::CONFLICT,
                "partner_not_active",
                format!("partner {id} is not active"),
            ),
            LeadError::Contention(_) => {
                let mut e: HttpError = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "the lead is being changed concurrently; retry",
                )
                .into();
                e.retry_after_s = Some(1);
                e
            }
            LeadError::Store(err) => {
                tracing::warn!(error = %err, "lead store unavailable");
                ApiError::dependency("lead store unavailable").into()
            }
            LeadError::Queue(err) => {
                tracing::warn!(error = %err, "queue unavailable");
                ApiError::dependency("queue unavailable").into()
            }
        }
    }
}

impl From<AuthError> for HttpError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing => Self::new(
                StatusCode::UNAUTHORIZED,
                "api_key_required",
                "send the tenant's API key as `Authorization: Bearer sk_…`",
            ),
            AuthError::Invalid => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_api_key",
                "the API key is not valid for this tenant",
            ),
            AuthError::Store(err) => {
                tracing::warn!(error = %err, "api key store unavailable");
                ApiError::dependency("api key store unavailable").into()
            }
        }
    }
}
