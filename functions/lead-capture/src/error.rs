//! Errors of the lead domain and their one mapping to HTTP answers.
//!
//! Every answer keeps the `{"error":{"code","message"}}` contract; some add one more
//! field (`fields` for validation, `allowed` for a forbidden transition).
//!
//! Errors are logged (queue failures, 5xx), so their `Display` never carries a
//! contact id: those are phone numbers (`wa-77011234567`). Answers to the caller may.

use crate::domain::Refusal;
use http::StatusCode;
use sauda_shared::funnel::Stage;
use sauda_shared::plan::PlanError;
use sauda_shared::ports::{QueueError, StoreError};
use sauda_shared::ApiError;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum LeadError {
    #[error("no lead for this contact")]
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
    #[error("the lead changed concurrently too often; try again")]
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
        match self {
            LeadError::Store(e) => !e.is_permanent(),
            LeadError::Queue(_) | LeadError::Contention(_) => true,
            _ => false,
        }
    }

    /// A plan that did not commit. A refusal is a definite "not there"; a stale plan
    /// that is not retried is contention.
    pub fn from_plan(cid: &str, e: PlanError<Refusal>) -> Self {
        match e {
            PlanError::Rejected(Refusal::NotFound) => LeadError::NotFound(cid.to_owned()),
            PlanError::Stale(_) => LeadError::Contention(cid.to_owned()),
            PlanError::Store(e) => LeadError::Store(e),
        }
    }
}

impl From<LeadError> for ApiError {
    fn from(e: LeadError) -> Self {
        match e {
            LeadError::NotFound(cid) => Self::new(
                StatusCode::NOT_FOUND,
                "lead_not_found",
                format!("no lead for contact {cid}"),
            ),
            LeadError::TransitionNotAllowed { from, .. } => {
                let allowed: Vec<&str> = from.next_stages().iter().map(|s| s.as_str()).collect();
                Self::new(
                    StatusCode::CONFLICT,
                    "transition_not_allowed",
                    e.to_string(),
                )
                .with("allowed", json!(allowed))
            }
            LeadError::StageConflict { current, expected } => Self::new(
                StatusCode::CONFLICT,
                "stage_conflict",
                format!("the lead is in {current} now, not {expected}; reload and retry"),
            )
            .with("current_stage", json!(current)),
            LeadError::ReasonRequired => Self::field(
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
            LeadError::Contention(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the lead is being changed concurrently; retry",
            )
            .with_retry_after(1),
            LeadError::Store(StoreError::Rejected(err)) => {
                tracing::warn!(error = %err, "lead store refused a request");
                Self::unprocessable(
                    "request_rejected",
                    "the request cannot be stored (too large?); shorten it",
                )
            }
            LeadError::Store(err) => {
                tracing::warn!(error = %err, "lead store unavailable");
                ApiError::dependency("lead store unavailable")
            }
            LeadError::Queue(err) => {
                tracing::warn!(error = %err, "queue unavailable");
                ApiError::dependency("queue unavailable")
            }
        }
    }
}
