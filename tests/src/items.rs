//! Items read and seeded directly, for tests that check what an adapter stored.

use crate::TestEnv;
use aws_sdk_dynamodb::types::AttributeValue;
use sauda_shared::partner::Partner;
use sauda_shared::TenantId;
use std::collections::HashMap;

impl TestEnv {
    /// The item at `key`, read consistently.
    pub async fn item(&self, key: &(String, String)) -> Option<HashMap<String, AttributeValue>> {
        self.clients
            .dynamo
            .get_item()
            .table_name(&self.stack.table)
            .key("PK", AttributeValue::S(key.0.clone()))
            .key("SK", AttributeValue::S(key.1.clone()))
            .consistent_read(true)
            .send()
            .await
            .expect("get_item")
            .item
    }

    /// An active partner of `tenant`, as the partner API stores it.
    pub async fn put_partner(&self, tenant: &TenantId, id: &str, name: &str) {
        self.put_partner_as(tenant, id, name, Default::default())
            .await
    }

    /// A partner of `tenant` in `status`, as the partner API stores it.
    pub async fn put_partner_as(
        &self,
        tenant: &TenantId,
        id: &str,
        name: &str,
        status: sauda_shared::partner::PartnerStatus,
    ) {
        let (pk, sk) = Partner::key(tenant, id);
        self.put(Partner {
            pk,
            sk,
            partner_id: id.into(),
            name: name.into(),
            status,
            kind: "cafe".into(),
            telegram_chat_id: None,
            cashback_bp: None,
            services: vec![],
            created_ms: 0,
            updated_ms: 0,
        })
        .await;
    }
}
