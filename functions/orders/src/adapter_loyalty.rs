//! The loyalty ledger as the [`Cashback`] adapter: its idempotent accrue and refund,
//! the purchase reference being the order id and the partner `orders.loyalty_partner_id`.
//! A customer who is not a member yet joins first (the programme is the tenant's; the
//! order is their first purchase in it).

use crate::cashback::{Cashback, CashbackError, CashbackResult};
use async_trait::async_trait;
use loyalty::input::CustomerRef;
use loyalty::ops::{Accrue, AccrueInput, Actor, Join, JoinInput, Refund, RefundInput, Scope};
use loyalty::store::{self, Idempotency, LoyaltyStore, Planner};
use loyalty::LoyaltyError;
use sauda_shared::order::Order;
use sauda_shared::tenant::TenantConfig;

pub struct LoyaltyCashback {
    pub store: std::sync::Arc<dyn LoyaltyStore>,
}

impl LoyaltyCashback {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            store: std::sync::Arc::new(loyalty::dynamo::DynamoStore::new(client, table)),
        }
    }

    async fn run(
        &self,
        config: &TenantConfig,
        key: String,
        planner: &dyn Planner,
    ) -> Result<serde_json::Value, LoyaltyError> {
        let idempotency = Idempotency::new(&config.tenant, "orders", &key, key.clone());
        store::execute(
            self.store.as_ref(),
            Some(&idempotency),
            None,
            &config.tenant,
            planner,
        )
        .await
        .map(|outcome| outcome.body)
    }
}

fn classify(e: LoyaltyError) -> Result<CashbackResult, CashbackError> {
    match e {
        LoyaltyError::Contention | LoyaltyError::Store(_) | LoyaltyError::Queue(_) => {
            Err(CashbackError::Transient(e.to_string()))
        }
        LoyaltyError::DuplicatePurchase(_) | LoyaltyError::UnknownPurchase => {
            Ok(CashbackResult::Skipped(e.to_string()))
        }
        other => Err(CashbackError::Refused(other.to_string())),
    }
}

fn points(body: &serde_json::Value) -> i64 {
    body.get("points")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(0)
}

#[async_trait]
impl Cashback for LoyaltyCashback {
    async fn accrue_for_order(
        &self,
        config: &TenantConfig,
        partner_id: &str,
        order: &Order,
    ) -> Result<CashbackResult, CashbackError> {
        let scope = Scope {
            tenant: &config.tenant,
            config,
        };
        let input = AccrueInput {
            customer: CustomerRef::Contact(order.contact.clone()),
            purchase_ref: order.order_id.clone(),
            amount_minor: order.total_minor,
            currency: order.currency.clone(),
        };
        let accrue = Accrue {
            scope,
            partner_id,
            input: &input,
        };
        let key = format!("accrue:{}", order.order_id);
        match self.run(config, key.clone(), &accrue).await {
            Ok(body) => return Ok(CashbackResult::Points(points(&body))),
            Err(LoyaltyError::UnknownCustomer) => {}
            Err(e) => return classify(e),
        }
        let join_input = JoinInput {
            contact_id: Some(order.contact.clone()),
            phone: None,
            referral_code: None,
        };
        let join = Join {
            scope,
            actor: &Actor::Admin,
            input: &join_input,
        };
        match self
            .run(config, format!("join:{}", order.contact), &join)
            .await
        {
            Ok(_) | Err(LoyaltyError::AlreadyMember) => {}
            Err(e) => return classify(e),
        }
        match self.run(config, key, &accrue).await {
            Ok(body) => Ok(CashbackResult::Points(points(&body))),
            Err(e) => classify(e),
        }
    }

    async fn refund_for_order(
        &self,
        config: &TenantConfig,
        partner_id: &str,
        order: &Order,
        refund_id: &str,
        goods_minor: i64,
    ) -> Result<CashbackResult, CashbackError> {
        let input = RefundInput {
            customer: CustomerRef::Contact(order.contact.clone()),
            purchase_ref: order.order_id.clone(),
            amount_minor: Some(goods_minor),
            reason: Some(format!("order refund {refund_id}")),
        };
        let refund = Refund {
            scope: Scope {
                tenant: &config.tenant,
                config,
            },
            partner_id,
            input: &input,
        };
        let key = format!("refund:{}", sauda_shared::notify::notice_id(&[refund_id]));
        match self.run(config, key, &refund).await {
            Ok(body) => Ok(CashbackResult::Points(
                body.get("cashback_taken_back")
                    .and_then(serde_json::Value::as_i64)
                    .unwrap_or(0),
            )),
            Err(LoyaltyError::UnknownCustomer) => {
                Ok(CashbackResult::Skipped("not a member".into()))
            }
            Err(e) => classify(e),
        }
    }
}
