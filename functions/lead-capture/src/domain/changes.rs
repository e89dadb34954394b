//! A lead's changes after capture: moves through the funnel, handoffs to a partner,
//! notes and resuming the agent. Each is one plan, conditional on the lead being in
//! the stage it was read in, so concurrent changes cannot interleave.

use super::{Assignment, Ctx, Plan, Refusal, StageChange};
use crate::error::LeadError;
use crate::model::{Actor, HistoryEntry, HistoryKind, Lead};
use sauda_shared::contact::{self, ContactProfile};
use sauda_shared::funnel::Stage;
use sauda_shared::keys;
use sauda_shared::partner::Partner;
use sauda_shared::plan::{Cond, Op, Update};
use sauda_shared::stats::{metric, CounterDelta};
use sauda_shared::TenantId;
use serde_json::json;

/// A requested stage change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageMove {
    pub to: Stage,
    /// Apply only if the lead is still in this stage: guards against a stale screen.
    pub expected: Option<Stage>,
    /// Why; required for `lost`.
    pub reason: Option<String>,
}

/// A change decided: nothing to write, or a plan and what it makes.
#[derive(Debug)]
pub enum Planned<T> {
    Unchanged(T),
    Write(Plan, T),
}

/// The lead as it was read: still a lead (not a link), still in that stage. GSI1PK
/// follows the stage, so this also keeps the listing in step.
fn as_read(lead: &Lead) -> Cond {
    Cond::item_exists()
        .and(Cond::absent("link_to"))
        .and(Cond::eq("stage", lead.stage.as_str()))
}

/// A move by the funnel's one table (`Stage::can_move_to`). The checks run in the
/// order a manager can act on: a stale screen, no-op, the move itself, the reason.
pub fn move_stage(
    ctx: &Ctx,
    lead: Lead,
    change: &StageMove,
    actor: &Actor,
) -> Result<Planned<StageChange>, LeadError> {
    let from = lead.stage;
    let to = change.to;
    if let Some(expected) = change.expected.filter(|e| *e != from) {
        return Err(LeadError::StageConflict {
            current: from,
            expected,
        });
    }
    if from == to {
        return Ok(Planned::Unchanged(StageChange::Unchanged(Box::new(lead))));
    }
    if !from.can_move_to(to) {
        return Err(LeadError::TransitionNotAllowed { from, to });
    }
    if to == Stage::Lost && change.reason.is_none() {
        return Err(LeadError::ReasonRequired);
    }
    let now = ctx.now_ms;
    let cid = lead.contact.clone();
    let gsi1pk = keys::leads_by_stage_gsi(ctx.tenant, to.as_str());
    let gsi1sk = keys::leads_by_stage_gsi_sk(now, &cid);
    // A lead counts as won once, however often it steps around the won stages.
    let first_win = to.is_won() && lead.won_ms.is_none();
    let mut u = Update::new((lead.pk.clone(), lead.sk.clone()))
        .set("stage", to.as_str())
        .set("stage_changed_ms", now)
        .set("updated_ms", now)
        .set("GSI1PK", gsi1pk.as_str())
        .set("GSI1SK", gsi1sk.as_str());
    if first_win {
        u = u.set("won_ms", now);
    }
    let u = u.when(as_read(&lead));

    let mut after = lead.clone();
    after.stage = to;
    after.stage_changed_ms = now;
    after.updated_ms = now;
    after.gsi1pk = gsi1pk;
    after.gsi1sk = gsi1sk;
    if first_win {
        after.won_ms = Some(now);
    }

    let mut history = HistoryEntry::new(
        ctx.tenant,
        &cid,
        HistoryKind::StageChanged,
        &actor.label(),
        now,
    );
    history.from_stage = Some(from);
    history.to_stage = Some(to);
    history.reason = change.reason.clone();

    let mut delta = CounterDelta::default();
    delta.add(&metric::leads_entered(to.as_str()), 1);
    if first_win {
        delta.add(metric::LEADS_WON, 1);
    }
    if to == Stage::Lost {
        delta.add(metric::LEADS_LOST, 1);
    }
    let mut plan = ctx.plan();
    plan.update(u);
    plan.put(history.clone(), None);
    plan.update(ctx.counters(&delta));
    // Every conversation of the customer mirrors the stage, for the agent's prompt.
    for c in lead.contacts() {
        plan.update(
            Update::new(ContactProfile::key(ctx.tenant, &c))
                .set_if_absent("contact", c.as_str())
                .set("stage", to.as_str()),
        );
    }
    Ok(Planned::Write(
        plan,
        StageChange::Changed {
            lead: Box::new(after),
            from,
            history: Box::new(history),
        },
    ))
}

/// Hands the lead to a partner (the caller has checked that the partner is active).
pub fn assign(
    ctx: &Ctx,
    lead: Lead,
    partner: &Partner,
    note: Option<String>,
    actor: &Actor,
) -> Planned<Assignment> {
    if lead.partner_id.as_deref() == Some(partner.partner_id.as_str()) {
        return Planned::Unchanged(Assignment::Unchanged(Box::new(lead)));
    }
    let now = ctx.now_ms;
    let cid = lead.contact.clone();
    let gsi1sk = keys::leads_by_stage_gsi_sk(now, &cid);
    let u = Update::new((lead.pk.clone(), lead.sk.clone()))
        .set("partner_id", partner.partner_id.as_str())
        .set("partner_name", partner.name.as_str())
        .set("assigned_ms", now)
        .set("updated_ms", now)
        .set("GSI1SK", gsi1sk.as_str())
        .when(as_read(&lead));
    let mut history =
        HistoryEntry::new(ctx.tenant, &cid, HistoryKind::Assigned, &actor.label(), now);
    history.partner_id = Some(partner.partner_id.clone());
    history.note = note;
    history.details = json!({"previous_partner": lead.partner_id, "partner_name": partner.name});
    let mut delta = CounterDelta::default();
    delta.add(metric::LEADS_ASSIGNED, 1).add(
        &metric::partner(&partner.partner_id, metric::PARTNER_LEADS),
        1,
    );
    let mut plan = ctx.plan();
    plan.update(u);
    plan.put(history.clone(), None);
    plan.update(ctx.counters(&delta));

    let previous = lead.partner_id.clone();
    let mut after = lead;
    after.partner_id = Some(partner.partner_id.clone());
    after.partner_name = Some(partner.name.clone());
    after.assigned_ms = Some(now);
    after.updated_ms = now;
    after.gsi1sk = gsi1sk;
    Planned::Write(
        plan,
        Assignment::Assigned {
            lead: Box::new(after),
            previous,
            history: Box::new(history),
        },
    )
}

/// A manager's note in the lead's history; the lead moves to the top of its stage.
pub fn note(ctx: &Ctx, lead: &Lead, text: String, actor: &Actor) -> (Plan, HistoryEntry) {
    let now = ctx.now_ms;
    let mut history = HistoryEntry::new(
        ctx.tenant,
        &lead.contact,
        HistoryKind::Note,
        &actor.label(),
        now,
    );
    history.note = Some(text);
    let u = Update::new((lead.pk.clone(), lead.sk.clone()))
        .set("updated_ms", now)
        .set(
            "GSI1SK",
            keys::leads_by_stage_gsi_sk(now, &lead.contact).as_str(),
        )
        .when(as_read(lead));
    let mut plan = ctx.plan();
    plan.update(u);
    plan.put(history.clone(), None);
    (plan, history)
}

fn clear_pause(tenant: &TenantId, cid: &str) -> Update {
    Update::new(ContactProfile::key(tenant, cid))
        .set_if_absent("contact", cid)
        .set("agent_paused", false)
        .remove("agent_paused_reason")
        .remove("agent_paused_at_ms")
}

/// Lets the agent answer again in every conversation of the lead, or in the one
/// conversation when it has no lead (a handoff before any lead): that profile must
/// exist, else the answer is [`Refusal::NotFound`]. Returns the conversations.
pub fn resume_agent(
    ctx: &Ctx,
    lead: Option<&Lead>,
    cid: &str,
    actor: &Actor,
) -> (Plan, Vec<String>) {
    let mut plan = ctx.plan();
    let Some(lead) = lead else {
        plan.push_or(
            Op::Update(clear_pause(ctx.tenant, cid).when(Cond::item_exists())),
            Refusal::NotFound,
        );
        return (plan, vec![cid.to_owned()]);
    };
    let conversations: Vec<String> = lead
        .contacts()
        .into_iter()
        .filter(|c| contact::conversation_link(c).is_some() || c == cid)
        .collect();
    let mut history = HistoryEntry::new(
        ctx.tenant,
        &lead.contact,
        HistoryKind::AgentResumed,
        &actor.label(),
        ctx.now_ms,
    );
    history.details = json!({"contacts": conversations});
    plan.put(history, None);
    for c in &conversations {
        plan.update(clear_pause(ctx.tenant, c));
    }
    (plan, conversations)
}

/// Takes a contact out of the intent index (its lead exists and is live). A profile
/// that is gone needs nothing: [`Refusal::NotFound`], which the caller ignores.
pub fn clear_intent(tenant: &TenantId, cid: &str) -> Plan {
    let mut plan = Plan::new();
    plan.push_or(
        Op::Update(
            Update::new(ContactProfile::key(tenant, cid))
                .remove("GSI1PK")
                .remove("GSI1SK")
                .when(Cond::item_exists()),
        ),
        Refusal::NotFound,
    );
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::capture;
    use crate::validate::ValidLead;
    use sauda_shared::lead::LeadSource;
    use sauda_shared::partner::PartnerStatus;
    use sauda_shared::plan::{SetValue, Val};

    fn t() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    fn ctx(t: &TenantId) -> Ctx<'_> {
        Ctx {
            tenant: t,
            timezone: "UTC",
            now_ms: 1_795_552_200_000,
            seed: 0,
        }
    }

    fn lead(t: &TenantId, stage: Stage) -> Lead {
        let sub = ValidLead {
            source: LeadSource::Agent,
            idempotency_key: "k".into(),
            contact: Some("tg-42".into()),
            name: Some("Bek".into()),
            phone: None,
            email: None,
            interest: None,
            message: None,
            language: None,
            consent: false,
            form_source: None,
            submitted_at_ms: 1,
            dropped: Vec::new(),
        };
        let (_, captured) = capture::create(&ctx(t), &sub, "tg-42");
        Lead {
            stage,
            linked_contacts: vec!["wa-77011234567".into()],
            ..captured.lead
        }
    }

    fn to(stage: Stage) -> StageMove {
        StageMove {
            to: stage,
            expected: None,
            reason: None,
        }
    }

    fn manager() -> Actor {
        Actor::Manager {
            key_id: "k1".into(),
        }
    }

    fn counters(plan: &Plan) -> Vec<(String, Val)> {
        plan.steps
            .iter()
            .find_map(|s| match &s.op {
                Op::Update(u) if u.key.0.contains("#STATS#") => Some(u.add.clone()),
                _ => None,
            })
            .unwrap_or_default()
    }

    #[test]
    fn the_funnel_decides_which_moves_are_planned() {
        let t = t();
        let c = ctx(&t);
        assert!(matches!(
            move_stage(&c, lead(&t, Stage::Offer), &to(Stage::New), &manager()),
            Err(LeadError::TransitionNotAllowed {
                from: Stage::Offer,
                to: Stage::New
            })
        ));
        assert!(matches!(
            move_stage(&c, lead(&t, Stage::Offer), &to(Stage::Lost), &manager()),
            Err(LeadError::ReasonRequired)
        ));
        let stale = StageMove {
            expected: Some(Stage::Warming),
            ..to(Stage::Sale)
        };
        assert!(matches!(
            move_stage(&c, lead(&t, Stage::Offer), &stale, &manager()),
            Err(LeadError::StageConflict {
                current: Stage::Offer,
                expected: Stage::Warming
            })
        ));
        assert!(matches!(
            move_stage(&c, lead(&t, Stage::Offer), &to(Stage::Offer), &manager()),
            Ok(Planned::Unchanged(StageChange::Unchanged(_)))
        ));
    }

    #[test]
    fn a_move_writes_lead_history_counters_and_every_profile_together() {
        let t = t();
        let Ok(Planned::Write(
            plan,
            StageChange::Changed {
                lead: after,
                from,
                history,
            },
        )) = move_stage(
            &ctx(&t),
            lead(&t, Stage::Offer),
            &to(Stage::Sale),
            &manager(),
        )
        else {
            panic!("a move");
        };
        assert_eq!((from, after.stage), (Stage::Offer, Stage::Sale));
        assert_eq!(after.won_ms, Some(ctx(&t).now_ms), "won the first time");
        assert_eq!(after.gsi1pk, "T#acme#LEADS#sale");
        assert_eq!(history.actor, "manager:k1");
        let Op::Update(u) = &plan.steps[0].op else {
            panic!("the lead first");
        };
        assert_eq!(u.cond, Some(as_read(&lead(&t, Stage::Offer))));
        assert!(
            plan.steps.iter().all(|s| s.on_fail.is_none()),
            "a race re-reads"
        );
        assert_eq!(
            counters(&plan),
            [
                ("leads_stage_sale".to_owned(), Val::N(1)),
                ("leads_won".to_owned(), Val::N(1))
            ]
        );
        let profiles: Vec<&str> = plan
            .steps
            .iter()
            .filter_map(|s| match &s.op {
                Op::Update(u) if u.key.1 == "PROFILE" => Some(u.key.0.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(profiles, ["T#acme#C#tg-42", "T#acme#C#wa-77011234567"]);

        // Back within the won stages and forward again: won is not counted twice.
        let won = Lead {
            won_ms: Some(1),
            ..lead(&t, Stage::Service)
        };
        let Ok(Planned::Write(plan, _)) = move_stage(&ctx(&t), won, &to(Stage::Sale), &manager())
        else {
            panic!("a move");
        };
        assert_eq!(
            counters(&plan),
            [("leads_stage_sale".to_owned(), Val::N(1))]
        );
    }

    #[test]
    fn lost_needs_a_reason_and_counts() {
        let t = t();
        let change = StageMove {
            reason: Some("chose a competitor".into()),
            ..to(Stage::Lost)
        };
        let Ok(Planned::Write(plan, StageChange::Changed { history, .. })) =
            move_stage(&ctx(&t), lead(&t, Stage::New), &change, &Actor::Operator)
        else {
            panic!("a move");
        };
        assert_eq!(history.reason.as_deref(), Some("chose a competitor"));
        assert_eq!(history.actor, "operator");
        assert_eq!(
            counters(&plan),
            [
                ("leads_lost".to_owned(), Val::N(1)),
                ("leads_stage_lost".to_owned(), Val::N(1))
            ]
        );
    }

    #[test]
    fn assigning_the_same_partner_twice_is_a_no_op() {
        let t = t();
        let (pk, sk) = Partner::key(&t, "guide-bek");
        let partner = Partner {
            pk,
            sk,
            partner_id: "guide-bek".into(),
            name: "Bek".into(),
            status: PartnerStatus::Active,
            kind: "guide".into(),
            telegram_chat_id: Some(7),
            cashback_bp: None,
            services: vec![],
            created_ms: 1,
            updated_ms: 1,
        };
        let Planned::Write(
            plan,
            Assignment::Assigned {
                lead: after,
                previous,
                ..
            },
        ) = assign(&ctx(&t), lead(&t, Stage::Offer), &partner, None, &manager())
        else {
            panic!("assigned");
        };
        assert_eq!(previous, None);
        assert_eq!(after.partner_id.as_deref(), Some("guide-bek"));
        assert_eq!(
            counters(&plan),
            [
                ("leads_assigned".to_owned(), Val::N(1)),
                ("p_guide-bek_leads".to_owned(), Val::N(1))
            ]
        );
        assert!(matches!(
            assign(&ctx(&t), *after, &partner, None, &manager()),
            Planned::Unchanged(Assignment::Unchanged(_))
        ));
    }

    #[test]
    fn resuming_reaches_every_chat_or_needs_the_one_profile() {
        let t = t();
        let with_web = Lead {
            linked_contacts: vec!["wa-77011234567".into(), "web-01j".into()],
            ..lead(&t, Stage::New)
        };
        let (plan, resumed) = resume_agent(&ctx(&t), Some(&with_web), "tg-42", &manager());
        assert_eq!(
            resumed,
            ["tg-42", "wa-77011234567"],
            "web contacts have no chat"
        );
        assert_eq!(plan.len(), 3, "history and two profiles");
        let Op::Update(u) = &plan.steps[1].op else {
            panic!("a profile");
        };
        assert!(u.set.contains(&(
            "agent_paused".to_owned(),
            SetValue::Always(Val::Bool(false))
        )));
        assert_eq!(u.remove, ["agent_paused_reason", "agent_paused_at_ms"]);

        let (plan, resumed) = resume_agent(&ctx(&t), None, "tg-9", &manager());
        assert_eq!(resumed, ["tg-9"]);
        assert_eq!(plan.steps[0].on_fail, Some(Refusal::NotFound));
        assert_eq!(
            clear_intent(&t, "tg-9").steps[0].on_fail,
            Some(Refusal::NotFound)
        );
    }
}
