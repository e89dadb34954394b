//! The ledger's errors and their one mapping to HTTP (`From<LoyaltyError> for ApiError`).
//!
//! Only domain answers live here; what every API answers the same way (bodies, keys,
//! roles, tenants, cursors, Idempotency-Key syntax) is `sauda_shared::api`'s.

use crate::domain::LedgerError;
use http::StatusCode;
use sauda_shared::partner::PartnerStatus;
use sauda_shared::ports::StoreError;
use sauda_shared::ApiError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoyaltyError {
    // --- the request
    #[error("{message}")]
    InvalidField { code: &'static str, message: String },
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,

    // --- who is asking (beyond the key's role)
    #[error("this API key may not {0}")]
    Forbidden(&'static str),
    #[error("the loyalty programme is not enabled for this tenant")]
    LoyaltyDisabled,
    #[error("the partner of this API key does not exist")]
    PartnerMissing,
    #[error("the partner is {0:?}; only active partners may do this")]
    PartnerInactive(PartnerStatus),
    /// The ledger's own per-key window, counted inside its transactions.
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
    /// A sum or difference of amounts that does not fit the ledger's numbers.
    #[error("the amounts of this request are out of range")]
    AmountOverflow,
    #[error("points must be a positive integer")]
    PointsNotPositive,
    #[error("points must be within ±{max}")]
    PointsOutOfRange { max: i64 },
    /// A balance or total that would leave the ledger's range.
    #[error("this would take the member's points out of range")]
    PointsOverflow,
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
    #[error(transparent)]
    Store(StoreError),
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

    /// A definite answer to the request (4xx), as opposed to a failure to give one.
    pub fn is_refusal(&self) -> bool {
        status_and_code(self).0.is_client_error()
    }

    /// The stable code clients branch on.
    pub fn code(&self) -> &'static str {
        status_and_code(self).1
    }
}

/// Status and stable code: the one place the ledger's HTTP semantics are decided.
fn status_and_code(e: &LoyaltyError) -> (StatusCode, &'static str) {
    use LoyaltyError::*;
    match e {
        InvalidField { code, .. } => (StatusCode::BAD_REQUEST, code),
        IdempotencyKeyReused => (StatusCode::CONFLICT, "idempotency_key_reused"),
        Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
        LoyaltyDisabled => (StatusCode::FORBIDDEN, "loyalty_disabled"),
        PartnerMissing => (StatusCode::FORBIDDEN, "partner_missing"),
        PartnerInactive(PartnerStatus::Pending) => (StatusCode::FORBIDDEN, "partner_pending"),
        PartnerInactive(PartnerStatus::Suspended) => (StatusCode::FORBIDDEN, "partner_suspended"),
        PartnerInactive(_) => (StatusCode::FORBIDDEN, "partner_rejected"),
        RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        UnknownCustomer => (StatusCode::NOT_FOUND, "unknown_customer"),
        AlreadyMember => (StatusCode::CONFLICT, "already_member"),
        PhoneTaken => (StatusCode::CONFLICT, "phone_taken"),
        AmountNotPositive => (StatusCode::BAD_REQUEST, "amount_not_positive"),
        AmountOutOfRange { .. } | AmountOverflow => {
            (StatusCode::BAD_REQUEST, "amount_out_of_range")
        }
        PointsNotPositive => (StatusCode::BAD_REQUEST, "points_not_positive"),
        PointsOutOfRange { .. } | PointsOverflow => {
            (StatusCode::BAD_REQUEST, "points_out_of_range")
        }
        CurrencyMismatch { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "currency_mismatch"),
        InsufficientPoints { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "insufficient_points"),
        RedeemLimitExceeded { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "redeem_limit_exceeded"),
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
        // The store refused the request itself (an item too large): retrying cannot help.
        Store(StoreError::Rejected(_)) => (StatusCode::UNPROCESSABLE_ENTITY, "request_rejected"),
        Store(StoreError::Unavailable(_)) | Queue(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, "dependency_unavailable")
        }
        Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
    }
}

impl From<LoyaltyError> for ApiError {
    fn from(e: LoyaltyError) -> Self {
        let (status, code) = status_and_code(&e);
        let message = match &e {
            // Never echo dependency details to callers; they are logged here instead.
            LoyaltyError::Store(StoreError::Unavailable(_)) | LoyaltyError::Queue(_) => {
                "a dependency is unavailable; retry later".into()
            }
            LoyaltyError::Store(StoreError::Rejected(_)) => {
                "the store refused this request; it is too large".into()
            }
            LoyaltyError::Internal(_) => "internal error".into(),
            other => other.to_string(),
        };
        if status.is_server_error() || matches!(e, LoyaltyError::Store(_)) {
            tracing::warn!(error = %scrub(&e.to_string()), code, "loyalty request failed");
        }
        let api = ApiError::new(status, code, message);
        match e {
            LoyaltyError::RateLimited { retry_after_s } => api.with_retry_after(retry_after_s),
            LoyaltyError::Contention => api.with_retry_after(1),
            _ => api,
        }
    }
}

/// A message fit for logs: a dependency's message may quote a key, and keys hold contact
/// ids (`T#acme#C#wa-77011234567`), so runs of 7 or more digits are masked.
pub fn scrub(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 7 {
            out.push_str("<digits>");
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in message.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

impl From<LedgerError> for LoyaltyError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Insufficient { balance, requested } => {
                Self::InsufficientPoints { balance, requested }
            }
            LedgerError::OutOfRange => Self::PointsOverflow,
        }
    }
}

impl From<StoreError> for LoyaltyError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
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
                LoyaltyError::Store(StoreError::Unavailable("x".into())),
                503,
                "dependency_unavailable",
            ),
            (
                LoyaltyError::field("invalid_phone", "bad"),
                400,
                "invalid_phone",
            ),
            (LoyaltyError::PointsOverflow, 400, "points_out_of_range"),
            (LoyaltyError::AmountOverflow, 400, "amount_out_of_range"),
        ];
        for (error, status, code) in cases {
            let api = ApiError::from(error.clone());
            assert_eq!(api.status.as_u16(), status, "{error}");
            assert_eq!(api.code, code);
            assert_eq!(error.code(), code);
        }
        let hidden = ApiError::from(LoyaltyError::Store(StoreError::Unavailable(
            "secret detail".into(),
        )));
        assert!(!hidden.message.contains("secret"));
        let limited = ApiError::from(LoyaltyError::RateLimited { retry_after_s: 7 });
        assert_eq!(limited.retry_after_s, Some(7));
        assert!(LoyaltyError::UnknownCustomer.is_refusal());
        assert_eq!(
            scrub("item T#acme#C#wa-77011234567 is malformed (2026, +7701234)"),
            "item T#acme#C#wa-<digits> is malformed (2026, +<digits>)"
        );
        assert!(!LoyaltyError::Contention.is_refusal());
    }
}
