//! The notifier's DynamoDB adapters: the delivery log (`T#{t}#NOTICE#{id}` /
//! `TO#{chat}`, one marker per recipient, kept 30 days) and the inbox store (customer
//! message markers `T#{t}#CMSG#{id}`, thread reads, cards `T#{t}#CARD#{chat}#{msg}`).

use crate::store::{
    AlreadyRecorded, DeliveryLog, DeliveryState, Finished, InboxStore, LeadSummary, SentMessage,
};
use async_trait::async_trait;
use sauda_shared::contact::ContactProfile;
use sauda_shared::dynamo::{self, item_n};
use sauda_shared::inbox::CardItem;
use sauda_shared::keys;
use sauda_shared::message::MessageItem;
use sauda_shared::plan::{PlanError, WritePlan};
use sauda_shared::ports::StoreError;
use sauda_shared::TenantId;
use serde::Serialize;
use std::collections::HashSet;

/// Markers live 30 days: far longer than any redelivery of the notice.
const MARKER_TTL_S: i64 = 30 * 24 * 3600;

pub struct DynamoDeliveryLog {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoDeliveryLog {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

#[derive(Serialize)]
struct Marker {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    chat_id: i64,
    state: &'static str,
    at_ms: i64,
    expires_at: i64,
}

#[async_trait]
impl DeliveryLog for DynamoDeliveryLog {
    async fn finished(
        &self,
        tenant: &TenantId,
        notice_id: &str,
    ) -> Result<HashSet<i64>, StoreError> {
        let (pk, _) = keys::notice_delivery(tenant, notice_id, 0);
        let items = dynamo::query_partition(&self.client, &self.table, &pk, None).await?;
        Ok(items
            .iter()
            .filter(|item| item.contains_key("chat_id"))
            .map(|item| item_n(item, "chat_id"))
            .collect())
    }

    async fn record(
        &self,
        tenant: &TenantId,
        notice_id: &str,
        chat_id: i64,
        state: DeliveryState,
    ) -> Result<(), StoreError> {
        self.record_card_or_notice(tenant, notice_id, chat_id, state, Vec::new())
            .await
    }

    async fn record_card(
        &self,
        tenant: &TenantId,
        notice_id: &str,
        chat_id: i64,
        cards: Vec<CardItem>,
    ) -> Result<(), StoreError> {
        self.record_card_or_notice(tenant, notice_id, chat_id, DeliveryState::Sent, cards)
            .await
    }
}

impl DynamoDeliveryLog {
    async fn record_card_or_notice(
        &self,
        tenant: &TenantId,
        notice_id: &str,
        chat_id: i64,
        state: DeliveryState,
        cards: Vec<CardItem>,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::notice_delivery(tenant, notice_id, chat_id);
        let now = sauda_shared::now_ms();
        let mut plan = WritePlan::<()>::new();
        let marker = Marker {
            pk,
            sk,
            chat_id,
            state: state.as_str(),
            at_ms: now,
            expires_at: now / 1000 + MARKER_TTL_S,
        };
        plan.put(marker, None);
        for card in cards {
            plan.put(card, None);
        }
        dynamo::execute(&self.client, &self.table, &plan)
            .await
            .map_err(|e| match e {
                PlanError::Store(e) => e,
                other => StoreError::Unavailable(format!("record notice delivery: {other:?}")),
            })
    }
}

/// The inbox side: markers, thread reads, cards and the `/who` read.
pub struct DynamoInbox {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoInbox {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn get(&self, key: (String, String)) -> Result<Option<dynamo::Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(dynamo::key_attrs(&key)))
            .send()
            .await
            .map_err(|e| dynamo::store_err("get item", e))?;
        Ok(out.item)
    }
}

#[derive(serde::Deserialize)]
struct Pointer {
    message_pk: String,
    message_sk: String,
}

#[async_trait]
impl InboxStore for DynamoInbox {
    async fn before_send(
        &self,
        tenant: &TenantId,
        id: &str,
        contact: &str,
    ) -> Result<(Option<Finished>, Option<ContactProfile>), StoreError> {
        let marker = keys::customer_message(tenant, id);
        let profile = ContactProfile::key(tenant, contact);
        let reads = dynamo::batch_get(
            &self.client,
            &self.table,
            &[marker.clone(), profile.clone()],
            true,
        )
        .await?;
        Ok((reads.get(&marker)?, reads.get(&profile)?))
    }

    async fn commit(&self, plan: &WritePlan<AlreadyRecorded>) -> Result<bool, StoreError> {
        match dynamo::execute(&self.client, &self.table, plan).await {
            Ok(()) => Ok(true),
            Err(PlanError::Rejected(AlreadyRecorded)) => Ok(false),
            Err(PlanError::Stale(reasons)) => Err(StoreError::Unavailable(format!(
                "outbound write cancelled: {reasons:?}"
            ))),
            Err(PlanError::Store(e)) => Err(e),
        }
    }

    async fn thread(
        &self,
        tenant: &TenantId,
        contact: &str,
        n: usize,
    ) -> Result<(Option<ContactProfile>, Vec<MessageItem>), StoreError> {
        // `PROFILE` sorts after every `MSG#` key: descending from it, the profile and
        // the newest messages come in one page (as agent-reply reads them).
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK >= :msg")
            .expression_attribute_values(":pk", dynamo::s(keys::contact_pk(tenant, contact)))
            .expression_attribute_values(":msg", dynamo::s(keys::MESSAGE_SK_PREFIX))
            .scan_index_forward(false)
            .limit(i32::try_from(n + 1).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| dynamo::store_err("read thread", e))?;
        let mut profile = None;
        let mut messages = Vec::new();
        for item in out.items.unwrap_or_default() {
            let sk = dynamo::item_s(&item, "SK");
            if sk == keys::CONTACT_PROFILE_SK {
                profile = Some(dynamo::from_item(item)?);
            } else if sk.starts_with(keys::MESSAGE_SK_PREFIX) {
                messages.push(dynamo::from_item(item)?);
            }
        }
        messages.truncate(n);
        Ok((profile, messages))
    }

    async fn card(
        &self,
        tenant: &TenantId,
        chat_id: i64,
        message_id: i64,
    ) -> Result<Option<CardItem>, StoreError> {
        self.get(keys::manager_card(tenant, chat_id, message_id))
            .await?
            .map(dynamo::from_item)
            .transpose()
    }

    async fn who(
        &self,
        tenant: &TenantId,
        contact: &str,
    ) -> Result<(Option<ContactProfile>, Option<LeadSummary>), StoreError> {
        let profile = ContactProfile::key(tenant, contact);
        let lead = (keys::contact_pk(tenant, contact), keys::LEAD_SK.to_owned());
        let reads = dynamo::batch_get(
            &self.client,
            &self.table,
            &[profile.clone(), lead.clone()],
            false,
        )
        .await?;
        Ok((reads.get(&profile)?, reads.get(&lead)?))
    }

    async fn sent_message(
        &self,
        tenant: &TenantId,
        platform_message_id: &str,
    ) -> Result<Option<SentMessage>, StoreError> {
        let Some(pointer) = self
            .get(keys::outbound_pointer(tenant, platform_message_id))
            .await?
        else {
            return Ok(None);
        };
        let pointer: Pointer = dynamo::from_item(pointer)?;
        // The pointer was written under this tenant's prefix, and so was its target.
        if !pointer.message_pk.starts_with(&keys::tenant_prefix(tenant)) {
            return Ok(None);
        }
        let Some(item) = self.get((pointer.message_pk, pointer.message_sk)).await? else {
            return Ok(None);
        };
        let item: MessageItem = dynamo::from_item(item)?;
        Ok(Some(SentMessage {
            contact: item.contact.clone(),
            item,
        }))
    }
}
