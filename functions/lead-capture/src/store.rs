//! The lead store on the single table: capture (create or merge, exactly once), reads,
//! listing by stage, and the manager's changes. Every change is one `TransactWriteItems`
//! that writes the lead, its history entry, the contact profiles that mirror its stage
//! and the tenant's day counters together, so no reader ever sees half of a change.

use crate::error::LeadError;
use crate::expr::{n, s, Expr};
use crate::model::{Actor, HistoryEntry, HistoryKind, Lead, LeadSlot};
use crate::validate::ValidLead;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};
use aws_smithy_types::error::display::DisplayErrorContext;
use rand::Rng;
use sauda_shared::funnel::Stage;
use sauda_shared::lead::LeadSource;
use sauda_shared::partner::Partner;
use sauda_shared::ports::StoreError;
use sauda_shared::stats::{self, metric, CounterDelta};
use sauda_shared::tenant::{RegistryEntry, TenantConfig, TenantStatus};
use sauda_shared::{contact, keys, phone, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;

type Item = HashMap<String, AttributeValue>;

/// Attempts of one capture or change before giving up (lost races and conflicts).
const MAX_ATTEMPTS: u32 = 8;
/// A form resubmission with the same content within this window is the same submission.
const FORM_IDEMPOTENCY_S: i64 = 24 * 3600;
/// Longer than the leads queue's retention (14 days), so a redriven message is still a no-op.
const QUEUE_IDEMPOTENCY_S: i64 = 15 * 24 * 3600;
/// Conversations linked to one lead at most; more is a data problem, not a customer.
const MAX_LINKED: usize = 20;

/// What a capture did to the funnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    Created,
    Merged,
    /// Merged into a `lost` lead, which moved back to `qualification`.
    Reopened,
}

#[derive(Clone, Debug)]
pub struct Captured {
    pub applied: Applied,
    /// The same submission was captured before: nothing was written this time, and the
    /// caller re-sends its notices (their ids are stable, so nobody gets them twice).
    pub duplicate: bool,
    /// The lead as it is after the capture.
    pub lead: Lead,
    pub history_id: String,
    pub at_ms: i64,
}

/// A requested stage change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageMove {
    pub to: Stage,
    /// Apply only if the lead is still in this stage: guards against a stale screen.
    pub expected: Option<Stage>,
    /// Why; required for `lost`.
    pub reason: Option<String>,
}

#[derive(Clone, Debug)]
pub enum StageChange {
    Unchanged(Box<Lead>),
    Changed {
        lead: Box<Lead>,
        from: Stage,
        history: Box<HistoryEntry>,
    },
}

#[derive(Clone, Debug)]
pub enum Assignment {
    Unchanged(Box<Lead>),
    Assigned {
        lead: Box<Lead>,
        previous: Option<String>,
        history: Box<HistoryEntry>,
    },
}

/// A lead with its history and the state of its conversations.
#[derive(Clone, Debug)]
pub struct LeadView {
    pub lead: Lead,
    pub history: Vec<HistoryEntry>,
    /// `(contact, agent_paused)` of each conversation that has a profile.
    pub conversations: Vec<(String, bool)>,
}

/// A contact who showed intent and went quiet (from the intent index).
#[derive(Clone, Debug, PartialEq)]
pub struct QuietContact {
    pub contact: String,
    pub intent_at_ms: Option<i64>,
    pub last_inbound_ms: Option<i64>,
    pub display_name: Option<String>,
    pub language: Option<String>,
    pub has_lead: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct IdemRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    contact: String,
    history_id: String,
    applied: Applied,
    at_ms: i64,
    expires_at: i64,
}

#[derive(Serialize)]
struct LinkItem<'a> {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: &'a str,
    contact: &'a str,
    link_to: &'a str,
    linked_ms: i64,
}

/// What the table says about a submission's identities, read after a lost race.
#[derive(Default, Debug)]
struct Reads {
    idem: Option<IdemRecord>,
    home: Option<LeadSlot>,
    phone_owner: Option<String>,
    email_owner: Option<String>,
    leads: HashMap<String, Lead>,
}

enum Plan {
    Duplicate(IdemRecord),
    Create {
        cid: String,
    },
    Merge {
        lead: Box<Lead>,
        claim_phone: bool,
        claim_email: bool,
        /// Another lead already owns one of the submission's identities.
        conflicts: Vec<(String, String)>,
    },
}

enum TxOutcome {
    Committed,
    Cancelled(Vec<String>),
}

pub struct LeadStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn store_err<E: std::error::Error>(context: &str, e: E) -> StoreError {
    StoreError::Unavailable(format!("{context}: {}", DisplayErrorContext(&e)))
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(format!("build request: {e}"))
}

fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value)
        .map_err(|e| StoreError::Unavailable(format!("serialise item: {e}")))
}

fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([("PK".to_owned(), s(pk)), ("SK".to_owned(), s(sk))])
}

fn put(table: &str, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_owned))
        .build()
        .map_err(build_err)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

fn update(u: Update) -> TransactWriteItem {
    TransactWriteItem::builder().update(u).build()
}

/// The conversation a submission belongs to: the chat it came from, or, for a form with
/// a phone, the WhatsApp conversation that number would have (its `wa_id` is the E.164
/// digits), so a customer who fills the form and then writes on WhatsApp is one contact.
pub fn home_contact(lead: &ValidLead) -> Option<String> {
    lead.contact
        .clone()
        .or_else(|| lead.phone.as_deref().map(phone::whatsapp_contact))
}

fn idempotency_key(tenant: &TenantId, lead: &ValidLead) -> (String, String) {
    let digest = Sha256::digest(format!("{}:{}", lead.source.as_str(), lead.idempotency_key));
    keys::idempotency(tenant, &format!("lead:{}", &hex::encode(digest)[..40]))
}

fn slot_from_item(item: Item) -> Result<LeadSlot, StoreError> {
    if let Some(to) = item.get("link_to").and_then(|v| v.as_s().ok()) {
        return Ok(LeadSlot::Link { to: to.clone() });
    }
    let lead: Lead = serde_dynamo::from_item(item)
        .map_err(|e| StoreError::Unavailable(format!("lead item: {e}")))?;
    Ok(LeadSlot::Lead(Box::new(lead)))
}

fn history_details(lead: &ValidLead, conflicts: &[(String, String)]) -> Value {
    let mut details = json!({
        "name": lead.name,
        "phone": lead.phone,
        "email": lead.email,
        "interest": lead.interest,
        "message": lead.message,
        "form_source": lead.form_source,
        "contact": lead.contact,
    });
    if !lead.dropped.is_empty() {
        details["dropped"] = serde_json::to_value(&lead.dropped).unwrap_or(Value::Null);
    }
    if !conflicts.is_empty() {
        details["also_on"] = conflicts
            .iter()
            .map(|(kind, owner)| json!({"identity": kind, "lead": owner}))
            .collect();
    }
    // Keep the stored history compact: only what was actually submitted.
    if let Value::Object(map) = &mut details {
        map.retain(|_, v| !v.is_null());
    }
    details
}

/// The day-counter update inside a transaction. The shard is random, so concurrent
/// transactions rarely touch the same counter item (which would make them conflict).
fn counters(
    table: &str,
    tenant: &TenantId,
    timezone: &str,
    now_ms: i64,
    delta: &CounterDelta,
) -> Result<TransactWriteItem, StoreError> {
    let day = stats::local_day(timezone, now_ms);
    let seed = rand::rng().random::<u64>();
    Ok(update(stats::transact_update(
        table, tenant, &day, seed, delta,
    )?))
}

/// The contact profile's share of a lead (see `sauda_shared::contact`): its stage, its
/// lead's phone and email, and out of the intent index now that a lead exists.
fn profile_for_lead(
    table: &str,
    tenant: &TenantId,
    cid: &str,
    stage: Stage,
    lead: &Lead,
    now_ms: i64,
) -> Result<TransactWriteItem, StoreError> {
    let mut e = Expr::default();
    e.set_if_absent("contact", s(cid))
        .set("stage", s(stage.as_str()))
        .set_if_absent("lead_created_ms", n(now_ms));
    if let Some(p) = &lead.phone {
        e.set_if_absent("phone", s(p));
    }
    if let Some(m) = &lead.email {
        e.set_if_absent("email", s(m));
    }
    e.remove("GSI1PK").remove("GSI1SK");
    let (pk, sk) = contact::ContactProfile::key(tenant, cid);
    Ok(update(e.into_update(table, pk, sk).map_err(build_err)?))
}

fn profile_stage(
    table: &str,
    tenant: &TenantId,
    cid: &str,
    stage: Stage,
) -> Result<TransactWriteItem, StoreError> {
    let mut e = Expr::default();
    e.set_if_absent("contact", s(cid))
        .set("stage", s(stage.as_str()));
    let (pk, sk) = contact::ContactProfile::key(tenant, cid);
    Ok(update(e.into_update(table, pk, sk).map_err(build_err)?))
}

async fn backoff(attempt: u32) {
    let cap = (20u64 << attempt.min(5)).min(400);
    let wait = rand::rng().random_range(5..=cap);
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

impl LeadStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<TxOutcome, StoreError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            // Makes the SDK's own retries of this request idempotent for 10 minutes.
            .client_request_token(ulid::Ulid::new().to_string())
            .send()
            .await;
        match result {
            Ok(_) => Ok(TxOutcome::Committed),
            Err(e) => match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    Ok(TxOutcome::Cancelled(
                        c.cancellation_reasons()
                            .iter()
                            .map(|r| r.code().unwrap_or("None").to_owned())
                            .collect(),
                    ))
                }
                // Another transaction on the same items is still in flight.
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => {
                    Ok(TxOutcome::Cancelled(vec!["TransactionConflict".into()]))
                }
                _ => Err(store_err("transact write", e)),
            },
        }
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
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

    /// Consistent BatchGetItem of up to 100 keys; retries unprocessed keys.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        let mut pending = keys;
        let mut round = 0;
        while !pending.is_empty() {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .consistent_read(true)
                .build()
                .map_err(build_err)?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| store_err("batch get", e))?;
            if let Some(mut items) = out.responses {
                found.extend(items.remove(&self.table).unwrap_or_default());
            }
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
            round += 1;
            if !pending.is_empty() {
                if round >= 5 {
                    return Err(StoreError::Unavailable(
                        "batch get: keys left unprocessed".into(),
                    ));
                }
                backoff(round).await;
            }
        }
        Ok(found)
    }

    // ---------------------------------------------------------------- capture

    /// Creates the lead, or merges the submission into the customer's existing lead.
    ///
    /// The first attempt is optimistic: it writes a new lead with conditional puts on the
    /// lead, the identity lookups and the idempotency record. If any already exists (a
    /// repeat customer, a concurrent submission, a redelivery), the transaction is
    /// cancelled as a whole; the store then reads what is there and merges instead.
    /// A new lead thus costs one write call, and 20 concurrent submissions of one phone
    /// leave exactly one lead with 19 merges in its history.
    pub async fn capture(
        &self,
        config: &TenantConfig,
        lead: &ValidLead,
        now_ms: i64,
    ) -> Result<Captured, LeadError> {
        let (tenant, timezone) = (&config.tenant, config.timezone.as_str());
        let home = home_contact(lead);
        let mut plan = Plan::Create {
            cid: home.clone().unwrap_or_else(|| {
                format!("web-{}", ulid::Ulid::new().to_string().to_ascii_lowercase())
            }),
        };
        for attempt in 1..=MAX_ATTEMPTS {
            let (items, result) = match plan {
                Plan::Duplicate(record) => return self.duplicate(tenant, record).await,
                Plan::Create { cid } => self.create_items(tenant, timezone, lead, &cid, now_ms)?,
                Plan::Merge {
                    lead: existing,
                    claim_phone,
                    claim_email,
                    conflicts,
                } => self.merge_items(
                    tenant,
                    timezone,
                    lead,
                    *existing,
                    claim_phone,
                    claim_email,
                    &conflicts,
                    now_ms,
                )?,
            };
            match self.transact(items).await? {
                TxOutcome::Committed => return Ok(result),
                TxOutcome::Cancelled(reasons) => {
                    tracing::debug!(%tenant, attempt, ?reasons, "lead capture lost a race; re-reading");
                    if reasons.iter().any(|r| r == "TransactionConflict") {
                        backoff(attempt).await;
                    }
                }
            }
            let reads = self.read_state(tenant, lead, home.as_deref()).await?;
            plan = decide(lead, home.as_deref(), reads);
        }
        Err(LeadError::Contention(home.unwrap_or_default()))
    }

    async fn duplicate(
        &self,
        tenant: &TenantId,
        record: IdemRecord,
    ) -> Result<Captured, LeadError> {
        let lead = self
            .lead(tenant, &record.contact)
            .await?
            .ok_or_else(|| LeadError::NotFound(record.contact.clone()))?;
        Ok(Captured {
            applied: record.applied,
            duplicate: true,
            lead,
            history_id: record.history_id,
            at_ms: record.at_ms,
        })
    }

    fn idem_item(
        &self,
        tenant: &TenantId,
        lead: &ValidLead,
        cid: &str,
        history_id: &str,
        applied: Applied,
        now_ms: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = idempotency_key(tenant, lead);
        let ttl = match lead.source {
            LeadSource::Form => FORM_IDEMPOTENCY_S,
            _ => QUEUE_IDEMPOTENCY_S,
        };
        let record = IdemRecord {
            pk,
            sk,
            contact: cid.to_owned(),
            history_id: history_id.to_owned(),
            applied,
            at_ms: now_ms,
            expires_at: now_ms / 1000 + ttl,
        };
        let item = to_item(&record)?;
        // An expired record (TTL deletion is lazy) no longer counts.
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK) OR expires_at < :now")
            .expression_attribute_values(":now", n(now_ms / 1000))
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn identity_item(
        &self,
        tenant: &TenantId,
        kind: &str,
        value: &str,
        cid: &str,
        now_ms: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = keys::identity(tenant, kind, value);
        let mut item = key(pk, sk);
        item.insert("contact".into(), s(cid));
        item.insert("kind".into(), s(kind));
        item.insert("created_ms".into(), n(now_ms));
        put(&self.table, item, Some("attribute_not_exists(PK)"))
    }

    fn create_items(
        &self,
        tenant: &TenantId,
        timezone: &str,
        sub: &ValidLead,
        cid: &str,
        now_ms: i64,
    ) -> Result<(Vec<TransactWriteItem>, Captured), StoreError> {
        let (pk, sk) = (keys::contact_pk(tenant, cid), keys::LEAD_SK.to_owned());
        let lead = Lead {
            pk,
            sk,
            contact: cid.to_owned(),
            stage: Stage::New,
            source: sub.source,
            last_source: None,
            name: sub.name.clone(),
            phone: sub.phone.clone(),
            email: sub.email.clone(),
            phones: sub.phone.iter().cloned().collect(),
            emails: sub.email.iter().cloned().collect(),
            interest: sub.interest.clone(),
            message: sub.message.clone(),
            language: sub.language.clone(),
            form_source: sub.form_source.clone(),
            consent: sub.consent,
            consent_at_ms: sub.consent.then_some(now_ms),
            created_ms: now_ms,
            updated_ms: now_ms,
            stage_changed_ms: now_ms,
            won_ms: None,
            partner_id: None,
            partner_name: None,
            assigned_ms: None,
            submissions: 1,
            linked_contacts: Vec::new(),
            gsi1pk: keys::leads_by_stage_gsi(tenant, Stage::New.as_str()),
            gsi1sk: keys::leads_by_stage_gsi_sk(now_ms, cid),
        };
        let actor = Actor::Source(sub.source).label();
        let mut history = HistoryEntry::new(tenant, cid, HistoryKind::Created, &actor, now_ms);
        history.source = Some(sub.source);
        history.to_stage = Some(Stage::New);
        history.details = history_details(sub, &[]);

        let mut items = vec![
            put(
                &self.table,
                to_item(&lead)?,
                Some("attribute_not_exists(PK)"),
            )?,
            put(&self.table, to_item(&history)?, None)?,
            self.idem_item(
                tenant,
                sub,
                cid,
                &history.history_id,
                Applied::Created,
                now_ms,
            )?,
            profile_for_lead(&self.table, tenant, cid, Stage::New, &lead, now_ms)?,
        ];
        if let Some(p) = &sub.phone {
            items.push(self.identity_item(tenant, "phone", p, cid, now_ms)?);
        }
        if let Some(m) = &sub.email {
            items.push(self.identity_item(tenant, "email", m, cid, now_ms)?);
        }
        let mut delta = CounterDelta::default();
        delta
            .add(&metric::leads_new(sub.source.as_str()), 1)
            .add(&metric::leads_entered(Stage::New.as_str()), 1);
        items.push(counters(&self.table, tenant, timezone, now_ms, &delta)?);
        let captured = Captured {
            applied: Applied::Created,
            duplicate: false,
            lead,
            history_id: history.history_id,
            at_ms: now_ms,
        };
        Ok((items, captured))
    }

    #[allow(clippy::too_many_arguments)]
    fn merge_items(
        &self,
        tenant: &TenantId,
        timezone: &str,
        sub: &ValidLead,
        existing: Lead,
        claim_phone: bool,
        claim_email: bool,
        conflicts: &[(String, String)],
        now_ms: i64,
    ) -> Result<(Vec<TransactWriteItem>, Captured), StoreError> {
        let cid = existing.contact.clone();
        let mut after = existing.clone();
        let reopen = existing.stage == Stage::Lost;
        let chat = sub.contact.clone().filter(|c| *c != cid);
        let link_new = chat
            .as_ref()
            .is_some_and(|c| !existing.linked_contacts.contains(c))
            && existing.linked_contacts.len() < MAX_LINKED;

        let mut e = Expr::default();
        e.set("updated_ms", n(now_ms))
            .set("GSI1SK", s(keys::leads_by_stage_gsi_sk(now_ms, &cid)))
            .set("last_source", s(sub.source.as_str()))
            .add("submissions", n(1));
        after.updated_ms = now_ms;
        after.gsi1sk = keys::leads_by_stage_gsi_sk(now_ms, &cid);
        after.last_source = Some(sub.source);
        after.submissions += 1;
        if let Some(v) = &sub.name {
            e.set_if_absent("name", s(v));
            after.name.get_or_insert_with(|| v.clone());
        }
        if let Some(p) = &sub.phone {
            e.set_if_absent("phone", s(p))
                .add("phones", AttributeValue::Ss(vec![p.clone()]));
            after.phone.get_or_insert_with(|| p.clone());
            if !after.phones.contains(p) {
                after.phones.push(p.clone());
            }
        }
        if let Some(m) = &sub.email {
            e.set_if_absent("email", s(m))
                .add("emails", AttributeValue::Ss(vec![m.clone()]));
            after.email.get_or_insert_with(|| m.clone());
            if !after.emails.contains(m) {
                after.emails.push(m.clone());
            }
        }
        if let Some(v) = &sub.interest {
            e.set("interest", s(v));
            after.interest = Some(v.clone());
        }
        if let Some(v) = &sub.message {
            e.set("message", s(v));
            after.message = Some(v.clone());
        }
        if let Some(v) = &sub.language {
            e.set_if_absent("language", s(v));
            after.language.get_or_insert_with(|| v.clone());
        }
        if let Some(v) = &sub.form_source {
            e.set("form_source", s(v));
            after.form_source = Some(v.clone());
        }
        if sub.consent {
            e.set("consent", AttributeValue::Bool(true))
                .set("consent_at_ms", n(now_ms));
            after.consent = true;
            after.consent_at_ms = Some(now_ms);
        }
        if link_new {
            if let Some(c) = &chat {
                e.add("linked_contacts", AttributeValue::Ss(vec![c.clone()]));
                after.linked_contacts.push(c.clone());
            }
        }
        if reopen {
            let gsi1pk = keys::leads_by_stage_gsi(tenant, Stage::Qualification.as_str());
            e.set("stage", s(Stage::Qualification.as_str()))
                .set("stage_changed_ms", n(now_ms))
                .set("GSI1PK", s(&gsi1pk));
            after.stage = Stage::Qualification;
            after.stage_changed_ms = now_ms;
            after.gsi1pk = gsi1pk;
        }
        e.require_exists("PK")
            .require_absent("link_to")
            .require_eq("stage", s(existing.stage.as_str()));

        let actor = Actor::Source(sub.source).label();
        let mut history = HistoryEntry::new(tenant, &cid, HistoryKind::Merged, &actor, now_ms);
        history.source = Some(sub.source);
        history.details = history_details(sub, conflicts);
        if reopen {
            history.from_stage = Some(Stage::Lost);
            history.to_stage = Some(Stage::Qualification);
            history.reason = Some("the customer came back".into());
        }
        let applied = if reopen {
            Applied::Reopened
        } else {
            Applied::Merged
        };

        let mut items = vec![
            update(
                e.into_update(&self.table, existing.pk.clone(), existing.sk.clone())
                    .map_err(build_err)?,
            ),
            put(&self.table, to_item(&history)?, None)?,
            self.idem_item(tenant, sub, &cid, &history.history_id, applied, now_ms)?,
            profile_for_lead(&self.table, tenant, &cid, after.stage, &after, now_ms)?,
        ];
        if let Some(c) = &chat {
            if link_new {
                let link = LinkItem {
                    pk: keys::contact_pk(tenant, c),
                    sk: keys::LEAD_SK,
                    contact: c,
                    link_to: &cid,
                    linked_ms: now_ms,
                };
                items.push(put(
                    &self.table,
                    to_item(&link)?,
                    Some("attribute_not_exists(PK)"),
                )?);
            }
            items.push(profile_for_lead(
                &self.table,
                tenant,
                c,
                after.stage,
                &after,
                now_ms,
            )?);
        }
        if let (true, Some(p)) = (claim_phone, &sub.phone) {
            items.push(self.identity_item(tenant, "phone", p, &cid, now_ms)?);
        }
        if let (true, Some(m)) = (claim_email, &sub.email) {
            items.push(self.identity_item(tenant, "email", m, &cid, now_ms)?);
        }
        let mut delta = CounterDelta::default();
        delta.add(metric::LEADS_MERGED, 1);
        if reopen {
            delta.add(&metric::leads_entered(Stage::Qualification.as_str()), 1);
        }
        items.push(counters(&self.table, tenant, timezone, now_ms, &delta)?);
        let captured = Captured {
            applied,
            duplicate: false,
            lead: after,
            history_id: history.history_id,
            at_ms: now_ms,
        };
        Ok((items, captured))
    }

    /// Reads the idempotency record, the home contact's `LEAD` item and the identity
    /// lookups in one BatchGetItem, then the leads they point at in a second one.
    async fn read_state(
        &self,
        tenant: &TenantId,
        sub: &ValidLead,
        home: Option<&str>,
    ) -> Result<Reads, StoreError> {
        let (idem_pk, idem_sk) = idempotency_key(tenant, sub);
        let home_pk = home.map(|h| keys::contact_pk(tenant, h));
        let phone_key = sub
            .phone
            .as_deref()
            .map(|p| keys::identity(tenant, "phone", p));
        let email_key = sub
            .email
            .as_deref()
            .map(|m| keys::identity(tenant, "email", m));
        let mut wanted = vec![key(idem_pk.clone(), idem_sk)];
        if let Some(pk) = &home_pk {
            wanted.push(key(pk.clone(), keys::LEAD_SK));
        }
        for (pk, sk) in phone_key.iter().chain(email_key.iter()) {
            wanted.push(key(pk.clone(), sk.clone()));
        }
        let mut reads = Reads::default();
        for item in self.batch_get(wanted).await? {
            let pk = item
                .get("PK")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            let owner = || item.get("contact").and_then(|v| v.as_s().ok()).cloned();
            if pk == idem_pk {
                let record: IdemRecord = serde_dynamo::from_item(item)
                    .map_err(|e| StoreError::Unavailable(format!("idempotency item: {e}")))?;
                if record.expires_at >= sauda_shared::now_ms() / 1000 {
                    reads.idem = Some(record);
                }
            } else if Some(&pk) == home_pk.as_ref() {
                reads.home = Some(slot_from_item(item)?);
            } else if phone_key.as_ref().is_some_and(|(p, _)| *p == pk) {
                reads.phone_owner = owner();
            } else if email_key.as_ref().is_some_and(|(p, _)| *p == pk) {
                reads.email_owner = owner();
            }
        }
        if let Some(LeadSlot::Lead(lead)) = &reads.home {
            reads.leads.insert(lead.contact.clone(), (**lead).clone());
        }
        let mut targets: Vec<String> = Vec::new();
        if let Some(LeadSlot::Link { to }) = &reads.home {
            targets.push(to.clone());
        }
        targets.extend(reads.phone_owner.iter().cloned());
        targets.extend(reads.email_owner.iter().cloned());
        targets.retain(|c| !reads.leads.contains_key(c));
        targets.sort();
        targets.dedup();
        if !targets.is_empty() {
            let wanted = targets
                .iter()
                .map(|c| key(keys::contact_pk(tenant, c), keys::LEAD_SK))
                .collect();
            for item in self.batch_get(wanted).await? {
                if let LeadSlot::Lead(lead) = slot_from_item(item)? {
                    reads.leads.insert(lead.contact.clone(), *lead);
                }
            }
        }
        Ok(reads)
    }

    // ---------------------------------------------------------------- reads

    async fn slot(&self, tenant: &TenantId, cid: &str) -> Result<Option<LeadSlot>, StoreError> {
        self.get(keys::contact_pk(tenant, cid), keys::LEAD_SK)
            .await?
            .map(slot_from_item)
            .transpose()
    }

    /// The lead of a contact, following a link from a secondary conversation.
    pub async fn lead(&self, tenant: &TenantId, cid: &str) -> Result<Option<Lead>, StoreError> {
        match self.slot(tenant, cid).await? {
            None => Ok(None),
            Some(LeadSlot::Lead(lead)) => Ok(Some(*lead)),
            Some(LeadSlot::Link { to }) => match self.slot(tenant, &to).await? {
                Some(LeadSlot::Lead(lead)) => Ok(Some(*lead)),
                _ => Ok(None),
            },
        }
    }

    /// The lead, its whole history (oldest first) and its conversations' agent state.
    pub async fn view(&self, tenant: &TenantId, cid: &str) -> Result<Option<LeadView>, StoreError> {
        let (mut lead, mut history) = self.lead_and_history(tenant, cid).await?;
        if lead.is_none() {
            if let Some(LeadSlot::Link { to }) = self.slot(tenant, cid).await? {
                (lead, history) = self.lead_and_history(tenant, &to).await?;
            }
        }
        let Some(lead) = lead else {
            return Ok(None);
        };
        let profiles = self
            .batch_get(
                lead.contacts()
                    .iter()
                    .map(|c| {
                        let (pk, sk) = contact::ContactProfile::key(tenant, c);
                        key(pk, sk)
                    })
                    .collect(),
            )
            .await?;
        let mut conversations: Vec<(String, bool)> = profiles
            .iter()
            .filter_map(|p| {
                let cid = p.get("contact")?.as_s().ok()?.clone();
                let paused = p
                    .get("agent_paused")
                    .and_then(|v| v.as_bool().ok())
                    .copied()
                    .unwrap_or(false);
                Some((cid, paused))
            })
            .collect();
        conversations.sort();
        Ok(Some(LeadView {
            lead,
            history,
            conversations,
        }))
    }

    /// One Query: `LEAD` sorts right before `LEADHIST#…`, so `begins_with(SK, "LEAD")` is both.
    async fn lead_and_history(
        &self,
        tenant: &TenantId,
        cid: &str,
    ) -> Result<(Option<Lead>, Vec<HistoryEntry>), StoreError> {
        let mut lead = None;
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
                let sk = item
                    .get("SK")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                if sk == keys::LEAD_SK {
                    if let LeadSlot::Lead(l) = slot_from_item(item)? {
                        lead = Some(*l);
                    }
                } else if sk.starts_with(keys::LEAD_HISTORY_SK_PREFIX) {
                    history.push(
                        serde_dynamo::from_item(item)
                            .map_err(|e| StoreError::Unavailable(format!("history item: {e}")))?,
                    );
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok((lead, history));
            }
        }
    }

    /// One page of a stage, most recently active first. `after` is the last lead of the
    /// previous page: `(GSI1SK, contact)`. Keys are rebuilt here from the tenant, so a
    /// cursor can never point into another tenant's partition.
    pub async fn list(
        &self,
        tenant: &TenantId,
        stage: Stage,
        limit: usize,
        after: Option<(String, String)>,
    ) -> Result<(Vec<Lead>, Option<(String, String)>), StoreError> {
        let gsi1pk = keys::leads_by_stage_gsi(tenant, stage.as_str());
        let start = after.map(|(gsi1sk, cid)| {
            let mut k = key(keys::contact_pk(tenant, &cid), keys::LEAD_SK);
            k.insert("GSI1PK".into(), s(&gsi1pk));
            k.insert("GSI1SK".into(), s(gsi1sk));
            k
        });
        let mut leads = Vec::new();
        let mut start = start;
        // One more than asked tells whether another page exists; a 1 MB page may stop
        // short, in which case the loop continues where DynamoDB left off.
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
            leads.last().map(|l| (l.gsi1sk.clone(), l.contact.clone()))
        } else {
            None
        };
        Ok((leads, next))
    }

    pub async fn partner(
        &self,
        tenant: &TenantId,
        partner_id: &str,
    ) -> Result<Option<Partner>, StoreError> {
        let (pk, sk) = Partner::key(tenant, partner_id);
        self.get(pk, &sk)
            .await?
            .map(|item| {
                serde_dynamo::from_item(item)
                    .map_err(|e| StoreError::Unavailable(format!("partner item: {e}")))
            })
            .transpose()
    }

    // ---------------------------------------------------------------- changes

    /// Moves a lead to another stage if the funnel allows it.
    pub async fn change_stage(
        &self,
        config: &TenantConfig,
        cid: &str,
        change: StageMove,
        actor: &Actor,
        now_ms: i64,
    ) -> Result<StageChange, LeadError> {
        let (tenant, timezone) = (&config.tenant, config.timezone.as_str());
        let StageMove {
            to,
            expected,
            reason,
        } = change;
        for attempt in 1..=MAX_ATTEMPTS {
            let lead = self
                .lead(tenant, cid)
                .await?
                .ok_or_else(|| LeadError::NotFound(cid.to_owned()))?;
            let from = lead.stage;
            if let Some(expected) = expected.filter(|e| *e != from) {
                return Err(LeadError::StageConflict {
                    current: from,
                    expected,
                });
            }
            if from == to {
                return Ok(StageChange::Unchanged(Box::new(lead)));
            }
            if !from.can_move_to(to) {
                return Err(LeadError::TransitionNotAllowed { from, to });
            }
            if to == Stage::Lost && reason.is_none() {
                return Err(LeadError::ReasonRequired);
            }
            let lead_cid = lead.contact.clone();
            let mut after = lead.clone();
            let gsi1pk = keys::leads_by_stage_gsi(tenant, to.as_str());
            let gsi1sk = keys::leads_by_stage_gsi_sk(now_ms, &lead_cid);
            let mut e = Expr::default();
            e.set("stage", s(to.as_str()))
                .set("stage_changed_ms", n(now_ms))
                .set("updated_ms", n(now_ms))
                .set("GSI1PK", s(&gsi1pk))
                .set("GSI1SK", s(&gsi1sk));
            let first_win = to.is_won() && lead.won_ms.is_none();
            if first_win {
                e.set("won_ms", n(now_ms));
                after.won_ms = Some(now_ms);
            }
            e.require_exists("PK")
                .require_absent("link_to")
                .require_eq("stage", s(from.as_str()));
            after.stage = to;
            after.stage_changed_ms = now_ms;
            after.updated_ms = now_ms;
            after.gsi1pk = gsi1pk;
            after.gsi1sk = gsi1sk;

            let mut history = HistoryEntry::new(
                tenant,
                &lead_cid,
                HistoryKind::StageChanged,
                &actor.label(),
                now_ms,
            );
            history.from_stage = Some(from);
            history.to_stage = Some(to);
            history.reason = reason.clone();

            let mut delta = CounterDelta::default();
            delta.add(&metric::leads_entered(to.as_str()), 1);
            if first_win {
                delta.add(metric::LEADS_WON, 1);
            }
            if to == Stage::Lost {
                delta.add(metric::LEADS_LOST, 1);
            }
            let mut items = vec![
                update(
                    e.into_update(&self.table, lead.pk.clone(), lead.sk.clone())
                        .map_err(build_err)?,
                ),
                put(&self.table, to_item(&history)?, None)?,
                counters(&self.table, tenant, timezone, now_ms, &delta)?,
            ];
            for c in lead.contacts() {
                items.push(profile_stage(&self.table, tenant, &c, to)?);
            }
            match self.transact(items).await? {
                TxOutcome::Committed => {
                    return Ok(StageChange::Changed {
                        lead: Box::new(after),
                        from,
                        history: Box::new(history),
                    })
                }
                TxOutcome::Cancelled(reasons) => {
                    tracing::debug!(%tenant, cid, attempt, ?reasons, "stage change raced; re-reading");
                    // Someone else moved the lead: the next read reports where it is now,
                    // and without `expected` the move is re-checked from there.
                    if expected.is_some() {
                        let current = self
                            .lead(tenant, cid)
                            .await?
                            .map(|l| l.stage)
                            .unwrap_or(from);
                        return Err(LeadError::StageConflict {
                            current,
                            expected: from,
                        });
                    }
                    backoff(attempt).await;
                }
            }
        }
        Err(LeadError::Contention(cid.to_owned()))
    }

    /// Hands the lead to a partner. The caller has checked the partner.
    pub async fn assign(
        &self,
        config: &TenantConfig,
        cid: &str,
        partner: &Partner,
        note: Option<String>,
        actor: &Actor,
        now_ms: i64,
    ) -> Result<Assignment, LeadError> {
        let (tenant, timezone) = (&config.tenant, config.timezone.as_str());
        let lead = self
            .lead(tenant, cid)
            .await?
            .ok_or_else(|| LeadError::NotFound(cid.to_owned()))?;
        if lead.partner_id.as_deref() == Some(partner.partner_id.as_str()) {
            return Ok(Assignment::Unchanged(Box::new(lead)));
        }
        let lead_cid = lead.contact.clone();
        let gsi1sk = keys::leads_by_stage_gsi_sk(now_ms, &lead_cid);
        let mut e = Expr::default();
        e.set("partner_id", s(&partner.partner_id))
            .set("partner_name", s(&partner.name))
            .set("assigned_ms", n(now_ms))
            .set("updated_ms", n(now_ms))
            .set("GSI1SK", s(&gsi1sk))
            .require_exists("PK")
            .require_absent("link_to")
            // GSI1PK follows the stage; keep both in step with what was read.
            .require_eq("stage", s(lead.stage.as_str()));
        let mut history = HistoryEntry::new(
            tenant,
            &lead_cid,
            HistoryKind::Assigned,
            &actor.label(),
            now_ms,
        );
        history.partner_id = Some(partner.partner_id.clone());
        history.note = note;
        history.details =
            json!({"previous_partner": lead.partner_id, "partner_name": partner.name});
        let mut delta = CounterDelta::default();
        delta.add(metric::LEADS_ASSIGNED, 1).add(
            &metric::partner(&partner.partner_id, metric::PARTNER_LEADS),
            1,
        );
        let items = vec![
            update(
                e.into_update(&self.table, lead.pk.clone(), lead.sk.clone())
                    .map_err(build_err)?,
            ),
            put(&self.table, to_item(&history)?, None)?,
            counters(&self.table, tenant, timezone, now_ms, &delta)?,
        ];
        match self.transact(items).await? {
            TxOutcome::Committed => {
                let previous = lead.partner_id.clone();
                let mut after = lead;
                after.partner_id = Some(partner.partner_id.clone());
                after.partner_name = Some(partner.name.clone());
                after.assigned_ms = Some(now_ms);
                after.updated_ms = now_ms;
                after.gsi1sk = gsi1sk;
                Ok(Assignment::Assigned {
                    lead: Box::new(after),
                    previous,
                    history: Box::new(history),
                })
            }
            TxOutcome::Cancelled(_) => Err(LeadError::Contention(cid.to_owned())),
        }
    }

    /// Adds a manager's note to the lead's history.
    pub async fn add_note(
        &self,
        tenant: &TenantId,
        cid: &str,
        text: String,
        actor: &Actor,
        now_ms: i64,
    ) -> Result<(Lead, HistoryEntry), LeadError> {
        let lead = self
            .lead(tenant, cid)
            .await?
            .ok_or_else(|| LeadError::NotFound(cid.to_owned()))?;
        let mut history = HistoryEntry::new(
            tenant,
            &lead.contact,
            HistoryKind::Note,
            &actor.label(),
            now_ms,
        );
        history.note = Some(text);
        let mut e = Expr::default();
        e.set("updated_ms", n(now_ms))
            .set(
                "GSI1SK",
                s(keys::leads_by_stage_gsi_sk(now_ms, &lead.contact)),
            )
            .require_exists("PK")
            .require_absent("link_to")
            .require_eq("stage", s(lead.stage.as_str()));
        let items = vec![
            update(
                e.into_update(&self.table, lead.pk.clone(), lead.sk.clone())
                    .map_err(build_err)?,
            ),
            put(&self.table, to_item(&history)?, None)?,
        ];
        match self.transact(items).await? {
            TxOutcome::Committed => Ok((lead, history)),
            TxOutcome::Cancelled(_) => Err(LeadError::Contention(cid.to_owned())),
        }
    }

    /// Lets the agent answer again in every conversation of the lead (or of the contact,
    /// when it has no lead): clears `agent_paused` on their profiles.
    pub async fn resume_agent(
        &self,
        tenant: &TenantId,
        cid: &str,
        actor: &Actor,
        now_ms: i64,
    ) -> Result<Vec<String>, LeadError> {
        let clear = |c: &str, must_exist: bool| -> Result<TransactWriteItem, StoreError> {
            let mut e = Expr::default();
            e.set_if_absent("contact", s(c))
                .set("agent_paused", AttributeValue::Bool(false))
                .remove("agent_paused_reason")
                .remove("agent_paused_at_ms");
            if must_exist {
                e.require_exists("PK");
            }
            let (pk, sk) = contact::ContactProfile::key(tenant, c);
            Ok(update(
                e.into_update(&self.table, pk, sk).map_err(build_err)?,
            ))
        };
        let Some(lead) = self.lead(tenant, cid).await? else {
            // A handoff without a lead: resume that one conversation if it exists.
            let items = vec![clear(cid, true)?];
            return match self.transact(items).await? {
                TxOutcome::Committed => Ok(vec![cid.to_owned()]),
                TxOutcome::Cancelled(_) => Err(LeadError::NotFound(cid.to_owned())),
            };
        };
        let conversations: Vec<String> = lead
            .contacts()
            .into_iter()
            .filter(|c| contact::conversation_link(c).is_some() || c == cid)
            .collect();
        let mut history = HistoryEntry::new(
            tenant,
            &lead.contact,
            HistoryKind::AgentResumed,
            &actor.label(),
            now_ms,
        );
        history.details = json!({"contacts": conversations});
        let mut items = vec![put(&self.table, to_item(&history)?, None)?];
        for c in &conversations {
            items.push(clear(c, false)?);
        }
        match self.transact(items).await? {
            TxOutcome::Committed => Ok(conversations),
            TxOutcome::Cancelled(_) => Err(LeadError::Contention(cid.to_owned())),
        }
    }

    // ---------------------------------------------------------------- sweep

    /// Active tenants from the platform registry (the only non-tenant partition).
    pub async fn active_tenants(&self) -> Result<Vec<RegistryEntry>, StoreError> {
        let mut tenants = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :t)")
                .expression_attribute_values(":pk", s(keys::PLATFORM_PK))
                .expression_attribute_values(":t", s("TENANT#"))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_err("query tenant registry", e))?;
            for item in out.items.unwrap_or_default() {
                match serde_dynamo::from_item::<_, RegistryEntry>(item) {
                    Ok(entry) if entry.status == TenantStatus::Active => tenants.push(entry),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "malformed registry entry skipped"),
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(tenants);
            }
        }
    }

    /// Contacts in the intent index whose last message is older than `cutoff_ms`, oldest first.
    pub async fn quiet_contacts(
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
                let str_of = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
                let num_of = |k: &str| {
                    item.get(k)
                        .and_then(|v| v.as_n().ok())
                        .and_then(|v| v.parse::<i64>().ok())
                };
                let Some(cid) =
                    str_of("PK").and_then(|pk| pk.strip_prefix(&prefix).map(str::to_owned))
                else {
                    continue;
                };
                found.push(QuietContact {
                    contact: cid,
                    intent_at_ms: num_of("intent_at_ms"),
                    last_inbound_ms: num_of("last_inbound_ms"),
                    display_name: str_of("display_name"),
                    language: str_of("language"),
                    has_lead: num_of("lead_created_ms").is_some(),
                });
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        Ok(found)
    }

    /// Takes a contact out of the intent index (it has a lead already).
    pub async fn clear_intent(&self, tenant: &TenantId, cid: &str) -> Result<(), StoreError> {
        let mut e = Expr::default();
        e.remove("GSI1PK").remove("GSI1SK").require_exists("PK");
        let (pk, sk) = contact::ContactProfile::key(tenant, cid);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .update_expression(e.update_expression())
            .set_condition_expression(e.condition_expression())
            .set_expression_attribute_names(Some(e.names().clone()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(store_err("clear intent", err)),
        }
    }
}

/// Chooses what a capture does, given what the table holds.
fn decide(sub: &ValidLead, home: Option<&str>, reads: Reads) -> Plan {
    if let Some(record) = reads.idem {
        return Plan::Duplicate(record);
    }
    let Reads {
        home: home_slot,
        phone_owner,
        email_owner,
        mut leads,
        ..
    } = reads;
    let target = match home_slot {
        Some(LeadSlot::Lead(lead)) => Some(*lead),
        Some(LeadSlot::Link { to }) => leads.remove(&to),
        None => None,
    }
    .or_else(|| phone_owner.as_ref().and_then(|o| leads.remove(o)))
    .or_else(|| email_owner.as_ref().and_then(|o| leads.remove(o)));
    let Some(target) = target else {
        return Plan::Create {
            cid: home.map(str::to_owned).unwrap_or_else(|| {
                format!("web-{}", ulid::Ulid::new().to_string().to_ascii_lowercase())
            }),
        };
    };
    let mut conflicts = Vec::new();
    let mut claim = |kind: &str, given: bool, owner: &Option<String>| -> bool {
        match owner {
            _ if !given => false,
            None => true,
            Some(o) if *o == target.contact => false,
            Some(o) => {
                conflicts.push((kind.to_owned(), o.clone()));
                false
            }
        }
    };
    let claim_phone = claim("phone", sub.phone.is_some(), &phone_owner);
    let claim_email = claim("email", sub.email.is_some(), &email_owner);
    Plan::Merge {
        lead: Box::new(target),
        claim_phone,
        claim_email,
        conflicts,
    }
}
