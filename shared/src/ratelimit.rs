//! Fixed-window rate limits in the table: one conditional `UpdateItem` per check, with
//! a TTL so windows clean themselves up.

use crate::keys;
use crate::ports::StoreError;
use crate::tenant::TenantId;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_smithy_types::error::display::DisplayErrorContext;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Hits in the window, this one included when allowed.
    pub count: u32,
    /// Seconds until the window resets.
    pub retry_after_s: u64,
}

pub struct RateLimiter {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl RateLimiter {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Counts one hit for `scope` (e.g. `form#203.0.113.9`) and says whether it is within
    /// `limit` per `window`. Rejected hits are not counted.
    pub async fn hit(
        &self,
        tenant: &TenantId,
        scope: &str,
        limit: u32,
        window: Duration,
        now_ms: i64,
    ) -> Result<Decision, StoreError> {
        let window_s = i64::try_from(window.as_secs().max(1)).unwrap_or(i64::MAX);
        let now_s = now_ms.div_euclid(1000);
        let start = now_s - now_s.rem_euclid(window_s);
        let retry_after_s = u64::try_from(start + window_s - now_s).unwrap_or(0);
        let (pk, sk) = keys::rate_limit(tenant, scope, start);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(pk))
            .key("SK", AttributeValue::S(sk))
            .update_expression("ADD hits :one SET expires_at = if_not_exists(expires_at, :exp)")
            .condition_expression("attribute_not_exists(hits) OR hits < :limit")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            // Kept a window past its end, then removed by TTL.
            .expression_attribute_values(
                ":exp",
                AttributeValue::N((start + 2 * window_s).to_string()),
            )
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let count = out
                    .attributes()
                    .and_then(|a| a.get("hits"))
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                Ok(Decision {
                    allowed: true,
                    count,
                    retry_after_s,
                })
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(Decision {
                    allowed: false,
                    count: limit,
                    retry_after_s,
                })
            }
            Err(e) => Err(StoreError::Unavailable(format!(
                "rate limit: {}",
                DisplayErrorContext(&e)
            ))),
        }
    }
}
