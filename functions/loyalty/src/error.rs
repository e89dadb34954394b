//! The loyalty error layer and its one mapping to HTTP (`status`, stable `code`).

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use sauda_shared::partner::PartnerStatus;
use sauda_shared::ApiError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoyaltyError {
    // --- the request itself
    #[error("the request body is not valid: {0}")]
    InvalidBody(String),
    #[error("request body exceeds {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{message}")]
    InvalidField { code: &'static str, message: String },
    #[error("an Idempotency-Key header is required on every mutating request")]
    IdempotencyKeyRequired,
    #[error("Idempotency-Key must be 1-128 characters of A-Z a-z 0-9 . _ : -")]
    InvalidIdempotencyKey,
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    #[error("the cursor is not valid for this customer")]
    InvalidCursor,

    // --- who is asking
    #[error("an API key is required (Authorization: Bearer sk_…)")]
    ApiKeyRequired,
    #[error("the API key is malformed")]
    MalformedApiKey,
    #[error("the API key is not valid for this tenant")]
    InvalidApiKey,
    #[error("this API key may not {0}")]
    Forbidden(&'static str),
    #[error("no such tenant")]
    UnknownTenant,
    #[error("the tenant is suspended")]
    TenantSuspended,
    #[error("the loyalty programme is not enabled for this tenant")]
    LoyaltyDisabled,
    #[error("the partner of this API key does not exist")]
    PartnerMissing,
    #[error("the partner is {0:?}; only active partners may do this")]
    PartnerInactive(PartnerStatus),
    #[error("too many requests; retry in {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },

    // --- ledger rules
    #[error("no loyalty member with this contact id or phone")]
    UnknownCustomer,
    #[error("the customer is already a member")]
    AlreadyMember,
    #[error("this phone number belongs to another member")]
    PhoneTaken,
    #[error("amount_minor must be a positive integer")]
    AmountNotPositive,
    #[error("amount_minor must not exceed {max}")]
    AmountOutOfRange { max: i64 },
    #[error("points must be a positive integer")]
    PointsNotPositive,
    #[error("points must not exceed {max}")]
    PointsOutOfRange { max: i64 },
    #[error("currency must be {expected}")]
    CurrencyMismatch { expected: String },
    #[error("insufficient points: balance {balance}, requested {requested}")]
    InsufficientPoints { balance: i64, requested: i64 },
    #[error("at most {max} points may be redeemed on this purchase ({percent} % of its amount)")]
    RedeemLimitExceeded { max: i64, percent: u32 },
    #[error("this purchase was already {0} by this partner")]
    DuplicatePurchase(&'static str),
    #[error("only {remaining} of this purchase is left to refund")]
    RefundExceedsPurchase { remaining: i64 },
    #[error("this purchase reference belongs to another customer")]
    PurchaseCustomerMismatch,
    #[error("no purchase with this reference at this partner")]
    UnknownPurchase,
    #[error("this purchase was already rated")]
    AlreadyRated,
    #[error("no such referral code")]
    UnknownReferralCode,
    #[error("a member cannot use their own referral code")]
    SelfReferral,

    // --- partners (admin)
    #[error("no such partner")]
    UnknownPartner,
    #[error("a partner with this id already exists")]
    PartnerExists,
    #[error("a {from:?} partner cannot be {action}")]
    InvalidTransition {
        from: PartnerStatus,
        action: &'static str,
    },
    #[error("no such service")]
    UnknownService,

    // --- dependencies
    #[error(
        "too many concurrent changes to the same account; retry with the same Idempotency-Key"
    )]
    Contention,
    #[error("store: {0}")]
    Store(String),
    #[error("queue: {0}")]
    Queue(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl LoyaltyError {
    pub fn field(code: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidField {
            code,
            message: message.into(),
        }
    }

    /// Status and stable code: the one place HTTP semantics are decided.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use LoyaltyError::*;
        match self {
            InvalidBody(_) => (StatusCode::BAD_REQUEST, "invalid_body"),
            PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            InvalidField { code, .. } => (StatusCode::BAD_REQUEST, code),
            IdempotencyKeyRequired => (StatusCode::BAD_REQUEST, "idempotency_key_required"),
            InvalidIdempotencyKey => (StatusCode::BAD_REQUEST, "invalid_idempotency_key"),
            IdempotencyKeyReused => (StatusCode::CONFLICT, "idempotency_key_reused"),
            InvalidCursor => (StatusCode::BAD_REQUEST, "invalid_cursor"),
            ApiKeyRequired => (StatusCode::UNAUTHORIZED, "api_key_required"),
            MalformedApiKey => (StatusCode::UNAUTHORIZED, "malformed_api_key"),
            InvalidApiKey => (StatusCode::UNAUTHORIZED, "invalid_api_key"),
            Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            UnknownTenant => (StatusCode::NOT_FOUND, "unknown_tenant"),
            TenantSuspended => (StatusCode::FORBIDDEN, "tenant_suspended"),
            LoyaltyDisabled => (StatusCode::FORBIDDEN, "loyalty_disabled"),
            PartnerMissing => (StatusCode::FORBIDDEN, "partner_missing"),
            PartnerInactive(PartnerStatus::Pending) => (StatusCode::FORBIDDEN, "partner_pending"),
            PartnerInactive(PartnerStatus::Suspended) => {
                (StatusCode::FORBIDDEN, "partner_suspended")
            }
            PartnerInactive(_) => (StatusCode::FORBIDDEN, "partner_rejected"),
            RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            UnknownCustomer => (StatusCode::NOT_FOUND, "unknown_customer"),
            AlreadyMember => (StatusCode::CONFLICT, "already_member"),
            PhoneTaken => (StatusCode::CONFLICT, "phone_taken"),
            AmountNotPositive => (StatusCode::BAD_REQUEST, "amount_not_positive"),
            AmountOutOfRange { .. } => (StatusCode::BAD_REQUEST, "amount_out_of_range"),
            PointsNotPositive => (StatusCode::BAD_REQUEST, "points_not_positive"),
            PointsOutOfRange { .. } => (StatusCode::BAD_REQUEST, "points_out_of_range"),
            CurrencyMismatch { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "currency_mismatch"),
            InsufficientPoints { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "insufficient_points"),
            RedeemLimitExceeded { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "redeem_limit_exceeded")
            }
            DuplicatePurchase(_) => (StatusCode::CONFLICT, "duplicate_purchase"),
            RefundExceedsPurchase { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "refund_exceeds_purchase")
            }
            PurchaseCustomerMismatch => (StatusCode::CONFLICT, "purchase_customer_mismatch"),
            UnknownPurchase => (StatusCode::NOT_FOUND, "unknown_purchase"),
            AlreadyRated => (StatusCode::CONFLICT, "already_rated"),
            UnknownReferralCode => (StatusCode::NOT_FOUND, "unknown_referral_code"),
            SelfReferral => (StatusCode::UNPROCESSABLE_ENTITY, "self_referral"),
            UnknownPartner => (StatusCode::NOT_FOUND, "unknown_partner"),
            PartnerExists => (StatusCode::CONFLICT, "partner_exists"),
            InvalidTransition { .. } => (StatusCode::CONFLICT, "invalid_transition"),
            UnknownService => (StatusCode::NOT_FOUND, "unknown_service"),
            Contention => (StatusCode::SERVICE_UNAVAILABLE, "contention"),
            Store(_) | Queue(_) => (StatusCode::SERVICE_UNAVAILABLE, "dependency_unavailable"),
            Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        }
    }

    pub fn to_api_error(&self) -> ApiError {
        let (status, code) = self.status_and_code();
        let message = match self {
            // Never echo dependency details to callers; they are logged instead.
            Self::Store(_) | Self::Queue(_) => "a dependency is unavailable; retry later".into(),
            Self::Internal(_) => "internal error".into(),
            other => other.to_string(),
        };
        ApiError::new(status, code, message)
    }
}

impl IntoResponse for LoyaltyError {
    fn into_response(self) -> Response {
        let (status, _) = self.status_and_code();
        if status.is_server_error() {
            tracing::warn!(error = %self, "loyalty request failed");
        }
        let mut response = self.to_api_error().into_response();
        if let Self::RateLimited { retry_after_s } = self {
            if let Ok(value) = HeaderValue::from_str(&retry_after_s.max(1).to_string()) {
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, value);
            }
        }
        response
    }
}

impl From<sauda_shared::ports::StoreError> for LoyaltyError {
    fn from(e: sauda_shared::ports::StoreError) -> Self {
        Self::Store(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_statuses_fit() {
        let cases = [
            (
                LoyaltyError::InsufficientPoints {
                    balance: 1,
                    requested: 2,
                },
                422,
                "insufficient_points",
            ),
            (
                LoyaltyError::PartnerInactive(PartnerStatus::Pending),
                403,
                "partner_pending",
            ),
            (
                LoyaltyError::IdempotencyKeyReused,
                409,
                "idempotency_key_reused",
            ),
            (
                LoyaltyError::Store("x".into()),
                503,
                "dependency_unavailable",
            ),
            (
                LoyaltyError::field("invalid_phone", "bad"),
                400,
                "invalid_phone",
            ),
        ];
        for (error, status, code) in cases {
            let api = error.to_api_error();
            assert_eq!(api.status.as_u16(), status, "{error}");
            assert_eq!(api.code, code);
        }
        let hidden = LoyaltyError::Store("secret detail".into()).to_api_error();
        assert!(!hidden.message.contains("secret"));
    }
}
