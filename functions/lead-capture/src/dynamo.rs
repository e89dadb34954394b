//! The lead store on the single DynamoDB table: plans executed with
//! `sauda_shared::dynamo::execute` (one `TransactWriteItems`, cancellation reasons
//! decoded there), consistent reads with `batch_get` (unprocessed keys asked again),
//! and the Queries of a lead's history, a stage's listing and the intent index.

use crate::domain::{CaptureLookup, CaptureState, Plan, Refusal};
use crate::model::{HistoryEntry, Lead, LeadSlot};
use crate::store::{LeadStore, ListPosition, QuietContact};
use async_trait::async_trait;
use sauda_shared::contact::{self, ContactProfile};
use sauda_shared::dynamo::{self, from_item, item_n, item_s, s, store_err, Item};
use sauda_shared::funnel::Stage;
use sauda_shared::partner::Partner;
use sauda_shared::plan::{Key, PlanError};
use sauda_shared::ports::StoreError;
use sauda_shared::registry::{self, DynamoTenantRegistry};
use sauda_shared::tenant::TenantStatus;
use sauda_shared::{keys, TenantId};

pub struct DynamoLeadStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoLeadStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn get(&self, (pk, sk): Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_err("get item", e))?;
        Ok(out.item)
    }
}

fn lead_key(tenant: &TenantId, cid: &str) -> Key {
    (keys::contact_pk(tenant, cid), keys::LEAD_SK.to_owned())
}

/// A `LEAD` item is a link when it carries `link_to`.
fn slot_from_item(item: Item) -> Result<LeadSlot, StoreError> {
    match item_s(&item, "link_to") {
        "" => Ok(LeadSlot::Lead(Box::new(from_item(item)?))),
        to => Ok(LeadSlot::Link { to: to.to_owned() }),
    }
}

#[async_trait]
impl LeadStore for DynamoLeadStore {
    async fn slot(&self, tenant: &TenantId, cid: &str) -> Result<Option<LeadSlot>, StoreError> {
        self.get(lead_key(tenant, cid))
            .await?
            .map(slot_from_item)
            .transpose()
    }

    /// One consistent BatchGetItem for the idempotency record, the home slot and the
    /// identities, and a second one for the leads they point at (if not read already).
    async fn capture_state(
        &self,
        tenant: &TenantId,
        lookup: &CaptureLookup,
    ) -> Result<CaptureState, StoreError> {
        let home = lookup.home.as_deref().map(|h| lead_key(tenant, h));
        let phone = lookup
            .phone
            .as_deref()
            .map(|p| keys::identity(tenant, "phone", p));
        let email = lookup
            .email
            .as_deref()
            .map(|m| keys::identity(tenant, "email", m));
        let mut wanted = vec![lookup.idem.clone()];
        wanted.extend(home.iter().chain(&phone).chain(&email).cloned());
        let reads = dynamo::batch_get(&self.client, &self.table, &wanted, true).await?;
        let owner = |key: &Option<Key>| {
            key.as_ref()
                .and_then(|k| reads.raw(k))
                .map(|item| item_s(item, "contact").to_owned())
                .filter(|c| !c.is_empty())
        };
        let mut state = CaptureState {
            idem: reads.get(&lookup.idem)?,
            home: home
                .as_ref()
                .and_then(|k| reads.raw(k).cloned())
                .map(slot_from_item)
                .transpose()?,
            phone_owner: owner(&phone),
            email_owner: owner(&email),
            leads: Default::default(),
        };
        if let Some(LeadSlot::Lead(lead)) = &state.home {
            state.leads.insert(lead.contact.clone(), (**lead).clone());
        }
        let targets: Vec<Key> = state
            .targets()
            .iter()
            .map(|c| lead_key(tenant, c))
            .collect();
        if !targets.is_empty() {
            let reads = dynamo::batch_get(&self.client, &self.table, &targets, true).await?;
            for (_, item) in reads.into_items() {
                if let LeadSlot::Lead(lead) = slot_from_item(item)? {
                    state.leads.insert(lead.contact.clone(), *lead);
                }
            }
        }
        Ok(state)
    }

    /// One Query: `LEAD` sorts right before `LEADHIST#…`, so `begins_with(SK, "LEAD")`
    /// reads both (and stays below the agent's `MSG#` items).
    async fn slot_and_history(
        &self,
        tenant: &TenantId,
        cid: &str,
    ) -> Result<(Option<LeadSlot>, Vec<HistoryEntry>), StoreError> {
        let mut slot = None;
        let mut history = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :lead)")
                .expression_attribute_values(":pk", s(keys::contact_pk(tenant, cid)))
                .expression_attribute_values(":lead", s(keys::LEAD_SK))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_err("query lead", e))?;
            for item in out.items.unwrap_or_default() {
                let sk = item_s(&item, "SK");
                if sk == keys::LEAD_SK {
                    slot = Some(slot_from_item(item)?);
                } else if sk.starts_with(keys::LEAD_HISTORY_SK_PREFIX) {
                    history.push(from_item(item)?);
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok((slot, history));
            }
        }
    }

    async fn agent_states(
        &self,
        tenant: &TenantId,
        contacts: &[String],
    ) -> Result<Vec<(String, bool)>, StoreError> {
        let wanted: Vec<Key> = contacts
            .iter()
            .map(|c| ContactProfile::key(tenant, c))
            .collect();
        let reads = dynamo::batch_get(&self.client, &self.table, &wanted, true).await?;
        Ok(wanted
            .iter()
            .filter_map(|k| reads.raw(k))
            .map(|p| {
                let paused = p
                    .get("agent_paused")
                    .and_then(|v| v.as_bool().ok())
                    .copied()
                    .unwrap_or(false);
                (item_s(p, "contact").to_owned(), paused)
            })
            .filter(|(c, _)| !c.is_empty())
            .collect())
    }

    /// Keys are rebuilt here from the tenant, so a position can never point into
    /// another tenant's partition. One more than asked tells whether another page
    /// exists; a 1 MB page may stop short, and the loop continues where it left off.
    async fn list(
        &self,
        tenant: &TenantId,
        stage: Stage,
        limit: usize,
        after: Option<ListPosition>,
    ) -> Result<(Vec<Lead>, Option<ListPosition>), StoreError> {
        let gsi1pk = keys::leads_by_stage_gsi(tenant, stage.as_str());
        let mut start = after.map(|p| {
            let (pk, sk) = lead_key(tenant, &p.contact);
            Item::from([
                ("PK".to_owned(), s(pk)),
                ("SK".to_owned(), s(sk)),
                ("GSI1PK".to_owned(), s(&gsi1pk)),
                ("GSI1SK".to_owned(), s(p.gsi1sk)),
            ])
        });
        let mut leads = Vec::new();
        while leads.len() <= limit {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("GSI1")
                .key_condition_expression("GSI1PK = :pk")
                .expression_attribute_values(":pk", s(&gsi1pk))
                .scan_index_forward(false)
                .limit(i32::try_from(limit + 1 - leads.len()).unwrap_or(101))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_err("list leads", e))?;
            for item in out.items.unwrap_or_default() {
                if let LeadSlot::Lead(lead) = slot_from_item(item)? {
                    leads.push(*lead);
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        let next = if leads.len() > limit {
            leads.truncate(limit);
            leads.last().map(|l| ListPosition {
                gsi1sk: l.gsi1sk.clone(),
                contact: l.contact.clone(),
            })
        } else {
            None
        };
        Ok((leads, next))
    }

    async fn partner(
        &self,
        tenant: &TenantId,
        partner_id: &str,
    ) -> Result<Option<Partner>, StoreError> {
        self.get(Partner::key(tenant, partner_id))
            .await?
            .map(from_item)
            .transpose()
    }

    async fn active_tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        let registry = DynamoTenantRegistry::new(self.client.clone(), &self.table);
        Ok(registry::all(&registry)
            .await?
            .into_iter()
            .filter(|entry| entry.status == TenantStatus::Active)
            .map(|entry| entry.tenant)
            .collect())
    }

    async fn quiet_contacts(
        &self,
        tenant: &TenantId,
        cutoff_ms: i64,
        limit: usize,
    ) -> Result<Vec<QuietContact>, StoreError> {
        let prefix = keys::contact_pk(tenant, "");
        let mut found = Vec::new();
        let mut start = None;
        while found.len() < limit {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("GSI1")
                .key_condition_expression("GSI1PK = :pk AND GSI1SK < :cut")
                .expression_attribute_values(":pk", s(contact::intent_gsi(tenant)))
                .expression_attribute_values(":cut", s(format!("{cutoff_ms:013}")))
                .limit(i32::try_from(limit - found.len()).unwrap_or(100))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_err("query intent index", e))?;
            for item in out.items.unwrap_or_default() {
                let Some(cid) = item_s(&item, "PK").strip_prefix(&prefix) else {
                    continue;
                };
                let text = |k: &str| Some(item_s(&item, k).to_owned()).filter(|v| !v.is_empty());
                // Absent and NULL are both "never".
                let number = |k: &str| {
                    item.get(k)
                        .is_some_and(|v| v.as_n().is_ok())
                        .then(|| item_n(&item, k))
                };
                found.push(QuietContact {
                    contact: cid.to_owned(),
                    intent_at_ms: number("intent_at_ms"),
                    last_inbound_ms: number("last_inbound_ms"),
                    display_name: text("display_name"),
                    language: text("language"),
                    has_lead: number("lead_created_ms").is_some(),
                });
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        Ok(found)
    }

    async fn apply(&self, plan: &Plan) -> Result<(), PlanError<Refusal>> {
        dynamo::execute(&self.client, &self.table, plan).await
    }
}
