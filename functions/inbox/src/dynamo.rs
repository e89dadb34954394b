//! The inbox store on DynamoDB: the listing is one Query of GSI1 (`T#{t}#CONVS`,
//! newest activity first) with the filters as a filter expression; a transcript is one
//! Query of the contact partition's `MSG#` keys; a send reads the row, the profile and
//! the idempotency record with one `BatchGetItem`.

use crate::domain::{IdemRecord, Position, Refusal, Stored};
use crate::store::{InboxStore, Page, SendContext};
use async_trait::async_trait;
use sauda_shared::contact::ContactProfile;
use sauda_shared::dynamo::{self, item_s, s, Expr, Item};
use sauda_shared::inbox::{self, ConversationItem};
use sauda_shared::keys;
use sauda_shared::plan::{Cond, PlanError, WritePlan};
use sauda_shared::ports::StoreError;
use sauda_shared::TenantId;
use std::collections::HashMap;

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
}

fn page_size(n: usize) -> i32 {
    i32::try_from(n.max(1)).unwrap_or(i32::MAX)
}

#[async_trait]
impl InboxStore for DynamoInbox {
    async fn list(
        &self,
        tenant: &TenantId,
        filter: Option<&Cond>,
        limit: usize,
        scan: usize,
        after: Option<&Position>,
    ) -> Result<Page<ConversationItem>, StoreError> {
        let gsi = keys::conversations_gsi(tenant);
        let mut e = Expr::default();
        let pk_name = e.name("GSI1PK");
        let pk_value = e.value(s(gsi.clone()));
        let filter_expression = filter.map(|c| e.condition(c));
        let (names, values) = e.into_maps();
        let start = after.map(|p| {
            let (pk, sk) = inbox::key(tenant, &p.contact);
            HashMap::from([
                ("GSI1PK".to_owned(), s(gsi.clone())),
                ("GSI1SK".to_owned(), s(p.activity.clone())),
                ("PK".to_owned(), s(pk)),
                ("SK".to_owned(), s(sk)),
            ])
        });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("GSI1")
            .key_condition_expression(format!("{pk_name} = {pk_value}"))
            .set_filter_expression(filter_expression)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .scan_index_forward(false)
            .limit(page_size(if filter.is_some() { scan } else { limit }))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| dynamo::store_err("list conversations", e))?;
        let mut items: Vec<ConversationItem> = Vec::new();
        for item in out.items.unwrap_or_default() {
            // The row's own key must be this tenant's (it always is: the index is).
            if !item_s(&item, "PK").starts_with(&keys::tenant_prefix(tenant)) {
                continue;
            }
            items.push(dynamo::from_item(item)?);
        }
        let more = out.last_evaluated_key.is_some() || items.len() > limit;
        items.truncate(limit);
        let next = if more {
            items
                .last()
                .map(|last| Position {
                    activity: keys::conversations_gsi_sk(last.last_activity_ms, &last.contact),
                    contact: last.contact.clone(),
                })
                .or_else(|| {
                    // Nothing matched in what was read: continue after the last row read.
                    out.last_evaluated_key.as_ref().map(|k| Position {
                        activity: item_s(k, "GSI1SK").to_owned(),
                        contact: item_s(k, "PK")
                            .rsplit_once("#C#")
                            .map(|(_, c)| c.to_owned())
                            .unwrap_or_default(),
                    })
                })
        } else {
            None
        };
        Ok(Page { items, next })
    }

    async fn profiles(
        &self,
        tenant: &TenantId,
        contacts: &[String],
    ) -> Result<HashMap<String, ContactProfile>, StoreError> {
        if contacts.is_empty() {
            return Ok(HashMap::new());
        }
        let keys: Vec<_> = contacts
            .iter()
            .map(|c| ContactProfile::key(tenant, c))
            .collect();
        let reads = dynamo::batch_get(&self.client, &self.table, &keys, false).await?;
        let mut found = HashMap::new();
        for (contact, key) in contacts.iter().zip(&keys) {
            if let Some(profile) = reads.get::<ContactProfile>(key)? {
                found.insert(contact.clone(), profile);
            }
        }
        Ok(found)
    }

    async fn transcript(
        &self,
        tenant: &TenantId,
        contact: &str,
        limit: usize,
        before: Option<&str>,
    ) -> Result<(Vec<Stored>, Option<String>), StoreError> {
        let pk = keys::contact_pk(tenant, contact);
        let start: Option<Item> = before
            .map(|sk| HashMap::from([("PK".to_owned(), s(pk.clone())), ("SK".to_owned(), s(sk))]));
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :msg)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":msg", s(keys::MESSAGE_SK_PREFIX))
            .scan_index_forward(false)
            .limit(page_size(limit))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| dynamo::store_err("read transcript", e))?;
        let next = out
            .last_evaluated_key
            .as_ref()
            .map(|k| item_s(k, "SK").to_owned());
        let messages = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(dynamo::from_item)
            .collect::<Result<Vec<Stored>, _>>()?;
        Ok((messages, next))
    }

    async fn send_context(
        &self,
        tenant: &TenantId,
        contact: &str,
        idem: &(String, String),
    ) -> Result<SendContext, StoreError> {
        let row = inbox::key(tenant, contact);
        let profile = ContactProfile::key(tenant, contact);
        let reads = dynamo::batch_get(
            &self.client,
            &self.table,
            &[row.clone(), profile.clone(), idem.clone()],
            true,
        )
        .await?;
        Ok(SendContext {
            row: reads.get(&row)?,
            profile: reads.get(&profile)?,
            earlier: reads.get::<IdemRecord>(idem)?,
        })
    }

    async fn apply(&self, plan: &WritePlan<Refusal>) -> Result<(), PlanError<Refusal>> {
        dynamo::execute(&self.client, &self.table, plan).await
    }
}
