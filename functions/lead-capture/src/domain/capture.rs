//! Capture: create a lead, or merge a submission into the customer's lead.
//!
//! The first attempt is optimistic ([`first_attempt`]): a plan that creates the lead
//! with conditional puts on the lead, the identity lookups and the idempotency record.
//! If any of them already exists (a repeat customer, a concurrent submission, a
//! redelivery) the whole plan fails; the caller reads a [`CaptureState`] and
//! [`decide`]s again: the same submission seen before ([`Decision::Duplicate`]: nothing
//! is written), or a merge into the lead that owns the conversation, phone or email.

use super::{Applied, Captured, Ctx, Plan};
use crate::model::{
    Actor, HistoryEntry, HistoryKind, IdemRecord, IdentityItem, Lead, LeadSlot, LinkItem,
};
use crate::validate::ValidLead;
use sauda_shared::contact::ContactProfile;
use sauda_shared::funnel::Stage;
use sauda_shared::lead::LeadSource;
use sauda_shared::plan::{Cond, Key, Update};
use sauda_shared::stats::{metric, CounterDelta};
use sauda_shared::{keys, phone, TenantId};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// A form resubmission with the same content within this window is the same submission.
pub const FORM_IDEMPOTENCY_S: i64 = 24 * 3600;
/// Longer than the leads queue's retention (14 days), so a redriven message is still a no-op.
pub const QUEUE_IDEMPOTENCY_S: i64 = 15 * 24 * 3600;
/// Conversations linked to one lead at most; more is a data problem, not a customer.
pub const MAX_LINKED: usize = 20;

/// The conversation a submission belongs to: the chat it came from, or, for a form with
/// a phone, the WhatsApp conversation that number would have (its `wa_id` is the E.164
/// digits), so a customer who fills the form and then writes on WhatsApp is one contact.
pub fn home_contact(lead: &ValidLead) -> Option<String> {
    lead.contact
        .clone()
        .or_else(|| lead.phone.as_deref().map(phone::whatsapp_contact))
}

/// A form lead with only an email lives at a fresh web contact.
fn new_web_contact() -> String {
    format!("web-{}", ulid::Ulid::new().to_string().to_ascii_lowercase())
}

/// The idempotency record's key: a digest, so the client's key never reaches a table key.
pub fn idempotency_key(tenant: &TenantId, lead: &ValidLead) -> Key {
    let digest = Sha256::digest(format!("{}:{}", lead.source.as_str(), lead.idempotency_key));
    keys::idempotency(tenant, &format!("lead:{}", &hex::encode(digest)[..40]))
}

/// What to read after a lost race: the idempotency record, the home contact's `LEAD`
/// item, and the identity lookups of the submission's phone and email.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureLookup {
    pub idem: Key,
    pub home: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

pub fn lookup(tenant: &TenantId, lead: &ValidLead) -> CaptureLookup {
    CaptureLookup {
        idem: idempotency_key(tenant, lead),
        home: home_contact(lead),
        phone: lead.phone.clone(),
        email: lead.email.clone(),
    }
}

/// What the table says about a submission's identities (read consistently).
#[derive(Clone, Debug, Default)]
pub struct CaptureState {
    pub idem: Option<IdemRecord>,
    pub home: Option<LeadSlot>,
    pub phone_owner: Option<String>,
    pub email_owner: Option<String>,
    /// The leads the home slot, the phone and the email point at, by contact.
    pub leads: HashMap<String, Lead>,
}

impl CaptureState {
    /// The contacts whose leads must be read too (the home's link target and the
    /// identities' owners), without those already read.
    pub fn targets(&self) -> Vec<String> {
        let mut targets: Vec<String> = Vec::new();
        if let Some(LeadSlot::Link { to }) = &self.home {
            targets.push(to.clone());
        }
        targets.extend(self.phone_owner.iter().cloned());
        targets.extend(self.email_owner.iter().cloned());
        targets.retain(|c| !self.leads.contains_key(c));
        targets.sort();
        targets.dedup();
        targets
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// The same submission was captured before: nothing to write.
    Duplicate(IdemRecord),
    Create {
        cid: String,
    },
    Merge {
        lead: Box<Lead>,
        claim_phone: bool,
        claim_email: bool,
        /// Identities of the submission that another lead already owns: `(kind, owner)`.
        conflicts: Vec<(String, String)>,
    },
}

/// The optimistic first attempt: a new lead at the home contact.
pub fn first_attempt(lead: &ValidLead) -> Decision {
    Decision::Create {
        cid: home_contact(lead).unwrap_or_else(new_web_contact),
    }
}

/// Chooses what a capture does, given what the table holds. The lead to merge into is
/// the home conversation's (or the one it links to), else the phone's, else the email's.
pub fn decide(sub: &ValidLead, state: CaptureState, now_ms: i64) -> Decision {
    let home = home_contact(sub);
    let CaptureState {
        idem,
        home: home_slot,
        phone_owner,
        email_owner,
        mut leads,
    } = state;
    // An expired record (TTL deletion is lazy) no longer counts.
    if let Some(record) = idem.filter(|r| r.expires_at >= now_ms / 1000) {
        return Decision::Duplicate(record);
    }
    let target = match home_slot {
        Some(LeadSlot::Lead(lead)) => Some(*lead),
        Some(LeadSlot::Link { to }) => leads.remove(&to),
        None => None,
    }
    .or_else(|| phone_owner.as_ref().and_then(|o| leads.remove(o)))
    .or_else(|| email_owner.as_ref().and_then(|o| leads.remove(o)));
    let Some(target) = target else {
        return Decision::Create {
            cid: home.unwrap_or_else(new_web_contact),
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
    Decision::Merge {
        lead: Box::new(target),
        claim_phone,
        claim_email,
        conflicts,
    }
}

/// The plan of a decision, and what the caller gets once it commits; `None` for a
/// duplicate, which writes nothing.
pub fn plan(ctx: &Ctx, sub: &ValidLead, decision: Decision) -> Option<(Plan, Captured)> {
    match decision {
        Decision::Duplicate(_) => None,
        Decision::Create { cid } => Some(create(ctx, sub, &cid)),
        Decision::Merge {
            lead,
            claim_phone,
            claim_email,
            conflicts,
        } => Some(merge(ctx, sub, *lead, claim_phone, claim_email, &conflicts)),
    }
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

/// The idempotency record, put unless a live one exists (TTL deletion is lazy).
fn idem_put(
    ctx: &Ctx,
    sub: &ValidLead,
    cid: &str,
    history_id: &str,
    applied: Applied,
) -> (IdemRecord, Cond) {
    let (pk, sk) = idempotency_key(ctx.tenant, sub);
    let ttl = match sub.source {
        LeadSource::Form => FORM_IDEMPOTENCY_S,
        _ => QUEUE_IDEMPOTENCY_S,
    };
    let now_s = ctx.now_ms / 1000;
    let record = IdemRecord {
        pk,
        sk,
        contact: cid.to_owned(),
        history_id: history_id.to_owned(),
        applied,
        at_ms: ctx.now_ms,
        expires_at: now_s + ttl,
    };
    (
        record,
        Cond::item_absent().or(Cond::lt("expires_at", now_s)),
    )
}

fn identity(ctx: &Ctx, kind: &str, value: &str, cid: &str) -> IdentityItem {
    let (pk, sk) = keys::identity(ctx.tenant, kind, value);
    IdentityItem {
        pk,
        sk,
        contact: cid.to_owned(),
        kind: kind.to_owned(),
        created_ms: ctx.now_ms,
    }
}

/// The contact profile's share of a lead (see `sauda_shared::contact`): its stage, its
/// lead's phone and email, and out of the intent index now that a lead exists.
pub fn profile_for_lead(ctx: &Ctx, cid: &str, stage: Stage, lead: &Lead) -> Update {
    let mut u = Update::new(ContactProfile::key(ctx.tenant, cid))
        .set_if_absent("contact", cid)
        .set("stage", stage.as_str())
        .set_if_absent("lead_created_ms", ctx.now_ms);
    if let Some(p) = &lead.phone {
        u = u.set_if_absent("phone", p);
    }
    if let Some(m) = &lead.email {
        u = u.set_if_absent("email", m);
    }
    u.remove("GSI1PK").remove("GSI1SK")
}

/// A new lead at `cid`, with its `created` history entry, identities, idempotency
/// record, profile and counters; every put conditional on its key being free.
pub fn create(ctx: &Ctx, sub: &ValidLead, cid: &str) -> (Plan, Captured) {
    let now = ctx.now_ms;
    let lead = Lead {
        pk: keys::contact_pk(ctx.tenant, cid),
        sk: keys::LEAD_SK.to_owned(),
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
        consent_at_ms: sub.consent.then_some(now),
        created_ms: now,
        updated_ms: now,
        stage_changed_ms: now,
        won_ms: None,
        partner_id: None,
        partner_name: None,
        assigned_ms: None,
        submissions: 1,
        linked_contacts: Vec::new(),
        gsi1pk: keys::leads_by_stage_gsi(ctx.tenant, Stage::New.as_str()),
        gsi1sk: keys::leads_by_stage_gsi_sk(now, cid),
    };
    let actor = Actor::Source(sub.source).label();
    let mut history = HistoryEntry::new(ctx.tenant, cid, HistoryKind::Created, &actor, now);
    history.source = Some(sub.source);
    history.to_stage = Some(Stage::New);
    history.details = history_details(sub, &[]);

    let mut plan = ctx.plan();
    plan.put(lead.clone(), Some(Cond::item_absent()));
    plan.put(history.clone(), None);
    let (idem, idem_cond) = idem_put(ctx, sub, cid, &history.history_id, Applied::Created);
    plan.put(idem, Some(idem_cond));
    plan.update(profile_for_lead(ctx, cid, Stage::New, &lead));
    if let Some(p) = &sub.phone {
        plan.put(identity(ctx, "phone", p, cid), Some(Cond::item_absent()));
    }
    if let Some(m) = &sub.email {
        plan.put(identity(ctx, "email", m, cid), Some(Cond::item_absent()));
    }
    let mut delta = CounterDelta::default();
    delta
        .add(&metric::leads_new(sub.source.as_str()), 1)
        .add(&metric::leads_entered(Stage::New.as_str()), 1);
    plan.update(ctx.counters(&delta));
    let captured = Captured {
        applied: Applied::Created,
        duplicate: false,
        lead,
        history_id: history.history_id,
        at_ms: now,
    };
    (plan, captured)
}

/// The submission merged into `existing`: new phone and email claimed, the latest
/// interest and message, `submissions + 1`, a `merged` history entry; a `lost` lead
/// moves back to `qualification` (the customer came back). A chat other than the
/// lead's own gets a link item and mirrors the lead's stage in its profile.
pub fn merge(
    ctx: &Ctx,
    sub: &ValidLead,
    existing: Lead,
    claim_phone: bool,
    claim_email: bool,
    conflicts: &[(String, String)],
) -> (Plan, Captured) {
    let now = ctx.now_ms;
    let cid = existing.contact.clone();
    let mut after = existing.clone();
    let reopen = existing.stage == Stage::Lost;
    let chat = sub.contact.clone().filter(|c| *c != cid);
    let link_new = chat
        .as_ref()
        .is_some_and(|c| !existing.linked_contacts.contains(c))
        && existing.linked_contacts.len() < MAX_LINKED;

    let gsi1sk = keys::leads_by_stage_gsi_sk(now, &cid);
    let mut u = Update::new((existing.pk.clone(), existing.sk.clone()))
        .set("updated_ms", now)
        .set("GSI1SK", gsi1sk.as_str())
        .set("last_source", sub.source.as_str())
        .add("submissions", 1);
    after.updated_ms = now;
    after.gsi1sk = gsi1sk;
    after.last_source = Some(sub.source);
    after.submissions += 1;
    if let Some(v) = &sub.name {
        u = u.set_if_absent("name", v);
        after.name.get_or_insert_with(|| v.clone());
    }
    if let Some(p) = &sub.phone {
        u = u
            .set_if_absent("phone", p)
            .add_to_set("phones", vec![p.clone()]);
        after.phone.get_or_insert_with(|| p.clone());
        if !after.phones.contains(p) {
            after.phones.push(p.clone());
        }
    }
    if let Some(m) = &sub.email {
        u = u
            .set_if_absent("email", m)
            .add_to_set("emails", vec![m.clone()]);
        after.email.get_or_insert_with(|| m.clone());
        if !after.emails.contains(m) {
            after.emails.push(m.clone());
        }
    }
    if let Some(v) = &sub.interest {
        u = u.set("interest", v);
        after.interest = Some(v.clone());
    }
    if let Some(v) = &sub.message {
        u = u.set("message", v);
        after.message = Some(v.clone());
    }
    if let Some(v) = &sub.language {
        u = u.set_if_absent("language", v);
        after.language.get_or_insert_with(|| v.clone());
    }
    if let Some(v) = &sub.form_source {
        u = u.set("form_source", v);
        after.form_source = Some(v.clone());
    }
    if sub.consent {
        u = u.set("consent", true).set("consent_at_ms", now);
        after.consent = true;
        after.consent_at_ms = Some(now);
    }
    if let (true, Some(c)) = (link_new, &chat) {
        u = u.add_to_set("linked_contacts", vec![c.clone()]);
        after.linked_contacts.push(c.clone());
    }
    if reopen {
        let gsi1pk = keys::leads_by_stage_gsi(ctx.tenant, Stage::Qualification.as_str());
        u = u
            .set("stage", Stage::Qualification.as_str())
            .set("stage_changed_ms", now)
            .set("GSI1PK", gsi1pk.as_str());
        after.stage = Stage::Qualification;
        after.stage_changed_ms = now;
        after.gsi1pk = gsi1pk;
    }
    // The lead as it was read: still a lead (not a link), still in that stage.
    let u = u
        .when(Cond::item_exists())
        .when(Cond::absent("link_to"))
        .when(Cond::eq("stage", existing.stage.as_str()));

    let actor = Actor::Source(sub.source).label();
    let mut history = HistoryEntry::new(ctx.tenant, &cid, HistoryKind::Merged, &actor, now);
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

    let mut plan = ctx.plan();
    plan.update(u);
    plan.put(history.clone(), None);
    let (idem, idem_cond) = idem_put(ctx, sub, &cid, &history.history_id, applied);
    plan.put(idem, Some(idem_cond));
    plan.update(profile_for_lead(ctx, &cid, after.stage, &after));
    if let Some(c) = &chat {
        if link_new {
            let link = LinkItem {
                pk: keys::contact_pk(ctx.tenant, c),
                sk: keys::LEAD_SK.to_owned(),
                contact: c.clone(),
                link_to: cid.clone(),
                linked_ms: now,
            };
            plan.put(link, Some(Cond::item_absent()));
        }
        plan.update(profile_for_lead(ctx, c, after.stage, &after));
    }
    if let (true, Some(p)) = (claim_phone, &sub.phone) {
        plan.put(identity(ctx, "phone", p, &cid), Some(Cond::item_absent()));
    }
    if let (true, Some(m)) = (claim_email, &sub.email) {
        plan.put(identity(ctx, "email", m, &cid), Some(Cond::item_absent()));
    }
    let mut delta = CounterDelta::default();
    delta.add(metric::LEADS_MERGED, 1);
    if reopen {
        delta.add(&metric::leads_entered(Stage::Qualification.as_str()), 1);
    }
    plan.update(ctx.counters(&delta));
    let captured = Captured {
        applied,
        duplicate: false,
        lead: after,
        history_id: history.history_id,
        at_ms: now,
    };
    (plan, captured)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Refusal;
    use sauda_shared::plan::{CmpOp, Op, SetValue, Val};

    fn tenant() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    fn ctx(t: &TenantId) -> Ctx<'_> {
        Ctx {
            tenant: t,
            timezone: "Asia/Almaty",
            now_ms: 1_795_552_200_000,
            seed: 3,
        }
    }

    fn form(phone: Option<&str>, email: Option<&str>) -> ValidLead {
        ValidLead {
            source: LeadSource::Form,
            idempotency_key: "content:abc".into(),
            contact: None,
            name: Some("Aida".into()),
            phone: phone.map(str::to_owned),
            email: email.map(str::to_owned),
            interest: Some("Issyk-Kul".into()),
            message: Some("for three".into()),
            language: None,
            consent: true,
            form_source: Some("landing".into()),
            submitted_at_ms: 1,
            dropped: Vec::new(),
        }
    }

    fn chat(contact: &str, phone: Option<&str>) -> ValidLead {
        ValidLead {
            source: LeadSource::Agent,
            idempotency_key: "tool-1".into(),
            contact: Some(contact.into()),
            consent: false,
            form_source: None,
            ..form(phone, None)
        }
    }

    fn keys_of(plan: &Plan) -> Vec<(String, String)> {
        plan.steps
            .iter()
            .map(|s| match &s.op {
                Op::Put { record, .. } => {
                    let v = serde_json::to_value(record.as_serialize()).unwrap();
                    (
                        v["PK"].as_str().unwrap().to_owned(),
                        v["SK"].as_str().unwrap().to_owned(),
                    )
                }
                Op::Update(u) => u.key.clone(),
                Op::Delete { key, .. } | Op::Check { key, .. } => key.clone(),
            })
            .collect()
    }

    fn existing(t: &TenantId, cid: &str, stage: Stage) -> Lead {
        let (plan, captured) = create(&ctx(t), &form(Some("+77011234567"), None), cid);
        assert!(!plan.is_empty());
        Lead {
            stage,
            ..captured.lead
        }
    }

    #[test]
    fn a_form_with_a_phone_lives_at_the_whatsapp_contact() {
        let lead = form(Some("+77011234567"), None);
        assert_eq!(home_contact(&lead).as_deref(), Some("wa-77011234567"));
        assert_eq!(
            first_attempt(&lead),
            Decision::Create {
                cid: "wa-77011234567".into()
            }
        );
        let Decision::Create { cid } = first_attempt(&form(None, Some("a@b.kz"))) else {
            panic!("a new lead");
        };
        assert!(cid.starts_with("web-"), "{cid}");
        assert_eq!(
            home_contact(&chat("tg-42", Some("+77011234567"))).as_deref(),
            Some("tg-42"),
            "a chat lead stays in its chat"
        );
    }

    #[test]
    fn a_new_lead_is_one_plan_of_conditional_puts_under_the_tenant() {
        let t = tenant();
        let (plan, captured) = create(
            &ctx(&t),
            &form(Some("+77011234567"), Some("a@b.kz")),
            "wa-77011234567",
        );
        assert!(plan.token.is_some(), "retries are idempotent");
        let keys = keys_of(&plan);
        assert_eq!(keys.len(), 7, "{keys:?}");
        assert!(
            keys.iter().all(|(pk, _)| pk.starts_with("T#acme#")),
            "{keys:?}"
        );
        assert_eq!(keys[0], ("T#acme#C#wa-77011234567".into(), "LEAD".into()));
        assert!(keys.contains(&("T#acme#ID#phone#+77011234567".into(), "ID".into())));
        assert!(keys.contains(&("T#acme#ID#email#a@b.kz".into(), "ID".into())));
        assert!(keys.contains(&("T#acme#C#wa-77011234567".into(), "PROFILE".into())));
        // Lead, identities and idempotency record may not exist yet; nothing fails
        // with a definite answer, so a lost race re-reads and re-plans.
        let conditional = plan
            .steps
            .iter()
            .filter(|s| matches!(&s.op, Op::Put { cond: Some(_), .. }))
            .count();
        assert_eq!(conditional, 4);
        assert!(plan.steps.iter().all(|s| s.on_fail.is_none()));
        assert_eq!(captured.applied, Applied::Created);
        assert_eq!(captured.lead.stage, Stage::New);
        assert_eq!(captured.lead.gsi1pk, "T#acme#LEADS#new");
        assert_eq!(captured.lead.phones, ["+77011234567"]);
        // Counters: a new form lead and the `new` stage, on the tenant's day (Almaty).
        let Op::Update(counters) = &plan.steps.last().unwrap().op else {
            panic!("counters last");
        };
        assert!(
            counters.key.0.starts_with("T#acme#STATS#2026-11-25"),
            "{:?}",
            counters.key
        );
        assert_eq!(
            counters.add,
            [
                ("leads_new_form".to_owned(), Val::N(1)),
                ("leads_stage_new".to_owned(), Val::N(1))
            ]
        );
    }

    #[test]
    fn an_expired_idempotency_record_does_not_count() {
        let t = tenant();
        let sub = form(Some("+77011234567"), None);
        let now = ctx(&t).now_ms;
        let record = IdemRecord {
            pk: "p".into(),
            sk: "IDEM".into(),
            contact: "wa-77011234567".into(),
            history_id: "h1".into(),
            applied: Applied::Created,
            at_ms: now - 1000,
            expires_at: now / 1000 + 10,
        };
        let live = CaptureState {
            idem: Some(record.clone()),
            ..Default::default()
        };
        assert_eq!(decide(&sub, live, now), Decision::Duplicate(record.clone()));
        let expired = CaptureState {
            idem: Some(IdemRecord {
                expires_at: now / 1000 - 1,
                ..record
            }),
            ..Default::default()
        };
        assert_eq!(
            decide(&sub, expired, now),
            Decision::Create {
                cid: "wa-77011234567".into()
            }
        );
        let (plan, _) = create(&ctx(&t), &sub, "wa-77011234567");
        let idem = plan
            .steps
            .iter()
            .find_map(|s| match &s.op {
                Op::Put {
                    cond: Some(Cond::Or(any)),
                    ..
                } => Some(any.clone()),
                _ => None,
            })
            .expect("the idempotency put replaces an expired record");
        assert_eq!(
            idem[1],
            Cond::Cmp("expires_at".into(), CmpOp::Lt, Val::N(now / 1000))
        );
    }

    #[test]
    fn merges_follow_home_then_phone_then_email_and_report_conflicts() {
        let t = tenant();
        let home = existing(&t, "tg-42", Stage::Offer);
        let phone_lead = existing(&t, "wa-77011234567", Stage::New);
        let sub = chat("tg-42", Some("+77011234567"));

        // The chat's own lead wins; the phone belongs to another lead: not claimed.
        let state = CaptureState {
            home: Some(LeadSlot::Lead(Box::new(home.clone()))),
            phone_owner: Some("wa-77011234567".into()),
            leads: HashMap::from([("wa-77011234567".into(), phone_lead.clone())]),
            ..Default::default()
        };
        assert!(state.targets().is_empty(), "the owner's lead was read");
        let Decision::Merge {
            lead,
            claim_phone,
            conflicts,
            ..
        } = decide(&sub, state, 5)
        else {
            panic!("a merge");
        };
        assert_eq!(lead.contact, "tg-42");
        assert!(!claim_phone);
        assert_eq!(
            conflicts,
            [("phone".to_owned(), "wa-77011234567".to_owned())]
        );

        // A link is followed; without a home slot, the phone's owner is the lead.
        let linked = CaptureState {
            home: Some(LeadSlot::Link {
                to: "wa-77011234567".into(),
            }),
            ..Default::default()
        };
        assert_eq!(linked.targets(), ["wa-77011234567"]);
        let by_phone = CaptureState {
            phone_owner: Some("wa-77011234567".into()),
            leads: HashMap::from([("wa-77011234567".into(), phone_lead)]),
            ..Default::default()
        };
        let Decision::Merge {
            lead, claim_phone, ..
        } = decide(&sub, by_phone, 5)
        else {
            panic!("a merge");
        };
        assert_eq!(lead.contact, "wa-77011234567");
        assert!(!claim_phone, "already its own");

        // Nothing known: a new lead at the chat.
        assert_eq!(
            decide(&sub, CaptureState::default(), 5),
            Decision::Create {
                cid: "tg-42".into()
            }
        );
    }

    #[test]
    fn a_merge_is_conditional_on_the_stage_read_and_links_the_new_chat() {
        let t = tenant();
        let lead = existing(&t, "wa-77011234567", Stage::Offer);
        let sub = chat("tg-7", Some("+77011234567"));
        let (plan, captured) = merge(&ctx(&t), &sub, lead, false, false, &[]);
        assert_eq!(captured.applied, Applied::Merged);
        assert_eq!(captured.lead.submissions, 2);
        assert_eq!(captured.lead.linked_contacts, ["tg-7"]);
        assert_eq!(captured.lead.stage, Stage::Offer);
        let Op::Update(u) = &plan.steps[0].op else {
            panic!("the lead is updated in place");
        };
        assert_eq!(
            u.cond,
            Some(Cond::And(vec![
                Cond::item_exists(),
                Cond::absent("link_to"),
                Cond::eq("stage", "offer"),
            ]))
        );
        assert!(u
            .set
            .contains(&("name".to_owned(), SetValue::IfAbsent(Val::S("Aida".into())))));
        let keys = keys_of(&plan);
        assert!(
            keys.contains(&("T#acme#C#tg-7".into(), "LEAD".into())),
            "the link"
        );
        assert!(
            keys.contains(&("T#acme#C#tg-7".into(), "PROFILE".into())),
            "the chat's stage"
        );
        assert!(
            !keys.iter().any(|(pk, _)| pk.contains("#ID#")),
            "nothing claimed"
        );
    }

    #[test]
    fn a_lost_customer_who_comes_back_is_reopened() {
        let t = tenant();
        let lead = existing(&t, "wa-77011234567", Stage::Lost);
        let (plan, captured) = merge(
            &ctx(&t),
            &form(Some("+77011234567"), None),
            lead,
            false,
            false,
            &[],
        );
        assert_eq!(captured.applied, Applied::Reopened);
        assert_eq!(captured.lead.stage, Stage::Qualification);
        assert_eq!(captured.lead.gsi1pk, "T#acme#LEADS#qualification");
        let Op::Update(counters) = &plan.steps.last().unwrap().op else {
            panic!("counters last");
        };
        assert_eq!(
            counters.add,
            [
                ("leads_merged".to_owned(), Val::N(1)),
                ("leads_stage_qualification".to_owned(), Val::N(1))
            ]
        );
        let _: Option<Refusal> = plan.steps[0].on_fail;
    }
}
