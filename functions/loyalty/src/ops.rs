//! The ledger's mutations as planners for [`store::execute`](crate::store::execute):
//! join, accrue, redeem, refund, adjust, referral code, NPS. Each reads what it needs in
//! one batch and plans one atomic write: the account change conditioned on its `rev`, the
//! append-only entry, the purchase, the partner's aggregates and the day's counters.
//!
//! All points and amounts arithmetic is checked: what would leave the ledger's range is
//! refused (`points_out_of_range` / `amount_out_of_range`), never wrapped or panicking.

use crate::domain::{self, Ledger, NpsClass, MAX_POINTS};
use crate::error::LoyaltyError;
use crate::input::{self, CustomerRef};
use crate::model::*;
use crate::store::{LoyaltyStore, Plan, Planner};
use async_trait::async_trait;
use http::StatusCode;
use sauda_shared::dynamo::Reads;
use sauda_shared::i18n::{loyalty as texts, Lang};
use sauda_shared::partner::{Partner, PartnerStatus};
use sauda_shared::plan::{Cond, Update, Val, WritePlan};
use sauda_shared::redact;
use sauda_shared::stats::{self, metric, CounterDelta, FirstOf};
use sauda_shared::tenant::{LoyaltySettings, TenantConfig};
use sauda_shared::{keys, TenantId};
use serde_json::json;

/// The writes of one operation; a failed condition without an answer re-plans.
pub type Writes = WritePlan<LoyaltyError>;

/// What every operation needs to know about the tenant.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    pub tenant: &'a TenantId,
    pub config: &'a TenantConfig,
}

impl Scope<'_> {
    fn loyalty(&self) -> &LoyaltySettings {
        &self.config.loyalty
    }

    fn day(&self, now_ms: i64) -> String {
        stats::local_day(&self.config.timezone, now_ms)
    }

    /// Expiry date of points credited on `day`, while expiry is on.
    fn expires_on(&self, day: &str) -> Option<String> {
        self.loyalty()
            .expiry_days
            .and_then(|days| domain::expiry_date(day, days))
    }

    /// The language of texts written on entries: the tenant's (entries outlive requests).
    pub fn lang(&self) -> Lang {
        Lang::pick(None, &self.config.default_language)
    }
}

/// Who acts: decides which partner an operation is booked to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    Partner { partner_id: String },
    Admin,
    Manager,
}

impl Actor {
    pub fn partner_id(&self) -> Option<&str> {
        match self {
            Self::Partner { partner_id } => Some(partner_id),
            _ => None,
        }
    }
}

/// The partner of the request, which must be active.
pub fn active_partner(
    reads: &Reads,
    tenant: &TenantId,
    partner_id: &str,
) -> Result<Partner, LoyaltyError> {
    let partner: Partner = reads
        .get(&keys::partner(tenant, partner_id))?
        .ok_or(LoyaltyError::PartnerMissing)?;
    if partner.is_active() {
        Ok(partner)
    } else {
        Err(LoyaltyError::PartnerInactive(partner.status))
    }
}

pub fn new_entry_id(now_ms: i64) -> String {
    ulid::Ulid::from_parts(u64::try_from(now_ms).unwrap_or(0), rand::random()).to_string()
}

fn rev_value(rev: u64) -> Result<i64, LoyaltyError> {
    i64::try_from(rev).map_err(|_| LoyaltyError::Internal("account revision out of range".into()))
}

/// The rev-conditioned write of an account's ledger state (only the attributes the
/// ledger owns: joins and referral codes update theirs without touching `rev`).
pub fn account_write(before: &Account, after: &Account) -> Result<Update, LoyaltyError> {
    let update = Update::new((after.pk.clone(), after.sk.clone()))
        .set("balance", after.balance)
        .set("credited", after.credited)
        .set("debited", after.debited)
        .set("credit_days", Val::NumMap(after.credit_days.clone()))
        .set("settled_credits", after.settled_credits)
        .set("rev", rev_value(after.rev)?)
        .set("updated_ms", after.updated_ms)
        .set("purchases", after.purchases)
        .set_opt("last_active_ms", after.last_active_ms)
        .set_opt("referral_bonus_paid_ms", after.referral_bonus_paid_ms);
    let update = match (&after.gsi1pk, &after.gsi1sk) {
        (Some(pk), Some(sk)) => update.set("GSI1PK", pk).set("GSI1SK", sk),
        _ => update.remove("GSI1PK").remove("GSI1SK"),
    };
    Ok(update.when(Cond::eq("rev", rev_value(before.rev)?)))
}

/// Applies a new ledger state to an account: revision, time and expiry index.
pub fn apply_ledger(
    tenant: &TenantId,
    account: &mut Account,
    ledger: Ledger,
    now_ms: i64,
) -> Result<(), LoyaltyError> {
    account.rev = account
        .rev
        .checked_add(1)
        .ok_or_else(|| LoyaltyError::Internal("account revision out of range".into()))?;
    account.set_ledger(ledger);
    account.updated_ms = now_ms;
    index_credits(tenant, account);
    Ok(())
}

/// Keeps the account's place in the expiry index: its oldest credit day with points.
pub fn index_credits(tenant: &TenantId, account: &mut Account) {
    match account.ledger().oldest_outstanding_day() {
        Some(day) => {
            account.gsi1pk = Some(credits_gsi(tenant));
            account.gsi1sk = Some(credits_gsi_sk(&day, &account.contact));
        }
        None => {
            account.gsi1pk = None;
            account.gsi1sk = None;
        }
    }
}

pub struct EntryDraft<'a> {
    pub kind: EntryKind,
    pub points: i64,
    pub reason: String,
    pub partner_id: Option<&'a str>,
    pub purchase_ref: Option<&'a str>,
    pub amount_minor: Option<i64>,
    pub currency: Option<&'a str>,
    pub expires_on: Option<String>,
    pub related_contact: Option<&'a str>,
}

impl<'a> EntryDraft<'a> {
    /// An entry with no partner, purchase, expiry or related member (set what applies).
    pub fn plain(kind: EntryKind, points: i64, reason: String) -> Self {
        Self {
            kind,
            points,
            reason,
            partner_id: None,
            purchase_ref: None,
            amount_minor: None,
            currency: None,
            expires_on: None,
            related_contact: None,
        }
    }

    pub fn build(self, tenant: &TenantId, account: &Account, now_ms: i64) -> LedgerEntry {
        let entry_id = new_entry_id(now_ms);
        let (pk, sk) = ledger_key(tenant, &account.contact, &entry_id);
        LedgerEntry {
            pk,
            sk,
            entry_id,
            contact: account.contact.clone(),
            kind: self.kind,
            points: self.points,
            balance_after: account.balance,
            reason: self.reason,
            partner_id: self.partner_id.map(str::to_owned),
            purchase_ref: self.purchase_ref.map(str::to_owned),
            amount_minor: self.amount_minor,
            currency: self.currency.map(str::to_owned),
            expires_on: self.expires_on,
            related_contact: self.related_contact.map(str::to_owned),
            at_ms: now_ms,
        }
    }
}

/// An append-only entry: never overwrites one.
pub fn push_entry(writes: &mut Writes, entry: &LedgerEntry) {
    writes.put(entry.clone(), Some(Cond::item_absent()));
}

/// The day's counters, in the same plan as the ledger so that reports always agree.
pub fn push_counters(writes: &mut Writes, tenant: &TenantId, day: &str, delta: &CounterDelta) {
    if !delta.is_empty() {
        writes.update(delta.plan_update(tenant, day, rand::random()));
    }
}

/// Counts a member operation in the "active members" counters, exactly once per period.
fn count_activity(
    scope: &Scope<'_>,
    delta: &mut CounterDelta,
    previous_ms: Option<i64>,
    now_ms: i64,
) {
    FirstOf::between(&scope.config.timezone, previous_ms, now_ms).count(
        delta,
        metric::LOYALTY_ACTIVE_DAY,
        metric::LOYALTY_ACTIVE_WEEK,
        metric::LOYALTY_ACTIVE_MONTH,
    );
}

/// Figures one operation adds to a partner's all-time aggregates and its client's record.
#[derive(Default)]
struct PartnerFigures {
    turnover_minor: i64,
    purchases: i64,
    accrued: i64,
    redeemed: i64,
}

/// One customer's operation at one partner.
struct Booking<'a> {
    tenant: &'a TenantId,
    partner_id: &'a str,
    contact: &'a str,
    now_ms: i64,
}

impl Booking<'_> {
    /// The partner-client record and the partner's aggregates. Returns whether the
    /// customer is new to the partner.
    fn partner_writes(
        &self,
        existing: Option<&PartnerClient>,
        figures: &PartnerFigures,
        writes: &mut Writes,
    ) -> bool {
        let now_ms = self.now_ms;
        let (pk, sk) = partner_client_key(self.tenant, self.partner_id, self.contact);
        let new_client = existing.is_none();
        if new_client {
            writes.put(
                PartnerClient {
                    pk,
                    sk,
                    contact: self.contact.to_owned(),
                    first_ms: now_ms,
                    last_ms: now_ms,
                    purchases: figures.purchases,
                    turnover_minor: figures.turnover_minor,
                    accrued: figures.accrued,
                    redeemed: figures.redeemed,
                },
                Some(Cond::item_absent()),
            );
        } else {
            writes.update(
                Update::new((pk, sk))
                    .set("last_ms", now_ms)
                    .add("purchases", figures.purchases)
                    .add("turnover_minor", figures.turnover_minor)
                    .add("accrued", figures.accrued)
                    .add("redeemed", figures.redeemed)
                    .when(Cond::item_exists()),
            );
        }
        writes.update(
            Update::new(partner_stats_key(self.tenant, self.partner_id))
                .set("partner_id", self.partner_id)
                .set("updated_ms", now_ms)
                .add("turnover_minor", figures.turnover_minor)
                .add("purchases", figures.purchases)
                .add("accrued", figures.accrued)
                .add("redeemed", figures.redeemed)
                .add("clients", i64::from(new_client)),
        );
        new_client
    }

    /// Records the purchase's accrual (`accrue`) or redemption (`redeem`), at most once
    /// per reference and always for the same customer.
    fn purchase_write(
        &self,
        purchase_ref: &str,
        side: &'static str,
        entry_id: &str,
        amount_minor: i64,
        points: i64,
    ) -> Update {
        let entry_field = format!("{side}_entry");
        Update::new(purchase_key(self.tenant, self.partner_id, purchase_ref))
            .set("contact", self.contact)
            .set("purchase_ref", purchase_ref)
            .set("partner_id", self.partner_id)
            .set(&entry_field, entry_id)
            .set(&format!("{side}_amount_minor"), amount_minor)
            .set(&format!("{side}_points"), points)
            .set("updated_ms", self.now_ms)
            .set_if_absent("created_ms", self.now_ms)
            .when(
                Cond::item_absent()
                    .or(Cond::eq("contact", self.contact))
                    .and(Cond::absent(&entry_field)),
            )
    }
}

fn entry_json(entry: &LedgerEntry) -> serde_json::Value {
    crate::views::entry_view(entry)
}

/// What a purchase operation (accrue, redeem, refund) reads in its first batch: the
/// partner, the account and partner-client record of the contact the request names, the
/// purchase, and the phone identity when the request names a phone.
fn purchase_keys(
    t: &TenantId,
    partner_id: &str,
    customer: &CustomerRef,
    purchase_ref: &str,
) -> Vec<Key> {
    let candidate = customer.candidate();
    let mut keys = vec![
        keys::partner(t, partner_id),
        account_key(t, &candidate),
        partner_client_key(t, partner_id, &candidate),
        purchase_key(t, partner_id, purchase_ref),
    ];
    keys.extend(customer.identity_key(t));
    keys
}

/// The member's contact id and account. A phone may resolve to another contact than the
/// first batch guessed; only then does this read again.
async fn member_account(
    store: &dyn LoyaltyStore,
    reads: &mut Reads,
    t: &TenantId,
    partner_id: &str,
    customer: &CustomerRef,
) -> Result<(String, Account), LoyaltyError> {
    let contact = customer.resolve(t, reads)?;
    store
        .read_more(
            reads,
            &[
                account_key(t, &contact),
                partner_client_key(t, partner_id, &contact),
            ],
        )
        .await?;
    let account = reads
        .get(&account_key(t, &contact))?
        .ok_or(LoyaltyError::UnknownCustomer)?;
    Ok((contact, account))
}

/// A purchase may take one accrue and one redeem, by its own customer, until refunded.
fn purchase_open(
    purchase: Option<&Purchase>,
    contact: &str,
    side: impl Fn(&Purchase) -> &Option<String>,
    done: &'static str,
) -> Result<(), LoyaltyError> {
    let Some(purchase) = purchase else {
        return Ok(());
    };
    if purchase.contact != contact {
        return Err(LoyaltyError::PurchaseCustomerMismatch);
    }
    if purchase.refund_entry.is_some() {
        return Err(LoyaltyError::DuplicatePurchase("refunded"));
    }
    if side(purchase).is_some() {
        return Err(LoyaltyError::DuplicatePurchase(done));
    }
    Ok(())
}

// ---------------------------------------------------------------------------- accrue

pub struct AccrueInput {
    pub customer: CustomerRef,
    pub purchase_ref: String,
    pub amount_minor: i64,
    pub currency: String,
}

pub struct Accrue<'a> {
    pub scope: Scope<'a>,
    pub partner_id: &'a str,
    pub input: &'a AccrueInput,
}

/// Cashback points of a purchase: refused as `amount_out_of_range` when they would
/// exceed what one operation may move.
pub fn accrual_points(
    loyalty: &LoyaltySettings,
    cashback_bp: u32,
    amount_minor: i64,
) -> Result<i64, LoyaltyError> {
    domain::cashback_points(amount_minor, cashback_bp, loyalty.rounding)
        .filter(|points| (0..=MAX_POINTS).contains(points))
        .ok_or(LoyaltyError::AmountOutOfRange {
            max: domain::MAX_AMOUNT_MINOR,
        })
}

/// `cashback 5.00 %`: the rate as people read it.
fn percent(bp: u32) -> String {
    format!("{}.{:02}", bp / 100, bp % 100)
}

#[async_trait]
impl Planner for Accrue<'_> {
    fn keys(&self) -> Vec<Key> {
        purchase_keys(
            self.scope.tenant,
            self.partner_id,
            &self.input.customer,
            &self.input.purchase_ref,
        )
    }

    async fn plan(
        &self,
        store: &dyn LoyaltyStore,
        reads: &mut Reads,
        now_ms: i64,
    ) -> Result<Plan, LoyaltyError> {
        let (t, pid, input) = (self.scope.tenant, self.partner_id, self.input);
        let loyalty = self.scope.loyalty();
        let partner = active_partner(reads, t, pid)?;
        let (contact, account) = member_account(store, reads, t, pid, &input.customer).await?;
        let purchase = reads.get::<Purchase>(&purchase_key(t, pid, &input.purchase_ref))?;
        purchase_open(purchase.as_ref(), &contact, |p| &p.accrue_entry, "accrued")?;
        let cashback_bp = partner.cashback_bp.unwrap_or(loyalty.cashback_bp);
        let points = accrual_points(loyalty, cashback_bp, input.amount_minor)?;
        let day = self.scope.day(now_ms);
        let expires_on = (points > 0).then(|| self.scope.expires_on(&day)).flatten();
        let mut delta = CounterDelta::default();
        let mut referral_writes = Writes::new();

        let mut after = account.clone();
        let mut ledger = after.ledger();
        ledger.credit(&day, points)?;
        after.purchases = after
            .purchases
            .checked_add(1)
            .ok_or(LoyaltyError::AmountOverflow)?;
        after.last_active_ms = Some(now_ms);

        // The referrer's bonus: on the newcomer's first purchase, decided once, because
        // this account write is conditioned on the revision that still lacked the flag.
        let mut referral_bonus = 0;
        if let (Some(referrer), None) = (&account.referred_by, account.referral_bonus_paid_ms) {
            after.referral_bonus_paid_ms = Some(now_ms);
            if loyalty.referral_bonus > 0 {
                let referrer_key = account_key(t, referrer);
                store
                    .read_more(reads, std::slice::from_ref(&referrer_key))
                    .await?;
                match reads.get::<Account>(&referrer_key)? {
                    Some(referrer_account) => {
                        referral_bonus = loyalty.referral_bonus;
                        let mut referrer_after = referrer_account.clone();
                        let mut referrer_ledger = referrer_after.ledger();
                        referrer_ledger.credit(&day, referral_bonus)?;
                        apply_ledger(t, &mut referrer_after, referrer_ledger, now_ms)?;
                        let entry = EntryDraft {
                            kind: EntryKind::ReferralBonus,
                            points: referral_bonus,
                            reason: texts::REASON_REFERRAL_BONUS.get(self.scope.lang()).into(),
                            partner_id: Some(pid),
                            purchase_ref: Some(&input.purchase_ref),
                            amount_minor: None,
                            currency: None,
                            expires_on: self.scope.expires_on(&day),
                            related_contact: Some(&contact),
                        }
                        .build(t, &referrer_after, now_ms);
                        referral_writes.update(account_write(&referrer_account, &referrer_after)?);
                        push_entry(&mut referral_writes, &entry);
                        delta.add(metric::LOYALTY_REFERRAL_BONUS, referral_bonus);
                    }
                    None => tracing::warn!(
                        tenant = %t,
                        contact = %redact::Contact(t, &contact),
                        referrer = %redact::Contact(t, referrer),
                        "referrer has no account; referral bonus not paid"
                    ),
                }
            }
        }

        apply_ledger(t, &mut after, ledger, now_ms)?;
        let entry = EntryDraft {
            kind: EntryKind::Accrue,
            points,
            reason: texts::REASON_CASHBACK.render(
                self.scope.lang(),
                &[
                    ("percent", &percent(cashback_bp)),
                    ("purchase", &input.purchase_ref),
                ],
            ),
            partner_id: Some(pid),
            purchase_ref: Some(&input.purchase_ref),
            amount_minor: Some(input.amount_minor),
            currency: Some(&input.currency),
            expires_on: expires_on.clone(),
            related_contact: None,
        }
        .build(t, &after, now_ms);
        let mut writes = Writes::new();
        writes.update(account_write(&account, &after)?);
        push_entry(&mut writes, &entry);
        writes.extend(referral_writes);
        let booking = Booking {
            tenant: t,
            partner_id: pid,
            contact: &contact,
            now_ms,
        };
        writes.update(booking.purchase_write(
            &input.purchase_ref,
            "accrue",
            &entry.entry_id,
            input.amount_minor,
            points,
        ));
        let client: Option<PartnerClient> = reads.get(&partner_client_key(t, pid, &contact))?;
        let figures = PartnerFigures {
            turnover_minor: input.amount_minor,
            purchases: 1,
            accrued: points,
            redeemed: 0,
        };
        let new_client = booking.partner_writes(client.as_ref(), &figures, &mut writes);

        delta
            .add(metric::LOYALTY_ACCRUED, points)
            .add(metric::LOYALTY_PURCHASES, 1)
            .add(metric::LOYALTY_TURNOVER_MINOR, input.amount_minor)
            .add(&metric::partner(pid, "turnover_minor"), input.amount_minor)
            .add(&metric::partner(pid, "accrued"), points)
            .add(&metric::partner(pid, "purchases"), 1)
            .add(
                &metric::partner(pid, metric::PARTNER_CLIENTS_NEW),
                i64::from(new_client),
            );
        count_activity(&self.scope, &mut delta, account.last_active_ms, now_ms);
        push_counters(&mut writes, t, &day, &delta);

        let mut body = entry_json(&entry);
        body["contact_id"] = json!(contact);
        body["balance"] = json!(after.balance);
        body["cashback_bp"] = json!(cashback_bp);
        body["referral_bonus_points"] = json!(referral_bonus);
        Ok(Plan::new(writes, StatusCode::OK, body))
    }
}

// ---------------------------------------------------------------------------- redeem

pub struct RedeemInput {
    pub customer: CustomerRef,
    pub purchase_ref: String,
    pub amount_minor: i64,
    pub currency: String,
    pub points: i64,
}

pub struct Redeem<'a> {
    pub scope: Scope<'a>,
    pub partner_id: &'a str,
    pub input: &'a RedeemInput,
}

/// The redeem cap, checked before any read.
pub fn check_redeem_cap(
    loyalty: &LoyaltySettings,
    input: &RedeemInput,
) -> Result<(), LoyaltyError> {
    let max = domain::max_redeemable(input.amount_minor, loyalty.max_redeem_percent);
    if input.points > max {
        return Err(LoyaltyError::RedeemLimitExceeded {
            max,
            percent: loyalty.max_redeem_percent,
        });
    }
    Ok(())
}

#[async_trait]
impl Planner for Redeem<'_> {
    fn keys(&self) -> Vec<Key> {
        purchase_keys(
            self.scope.tenant,
            self.partner_id,
            &self.input.customer,
            &self.input.purchase_ref,
        )
    }

    async fn plan(
        &self,
        store: &dyn LoyaltyStore,
        reads: &mut Reads,
        now_ms: i64,
    ) -> Result<Plan, LoyaltyError> {
        let (t, pid, input) = (self.scope.tenant, self.partner_id, self.input);
        active_partner(reads, t, pid)?;
        let (contact, account) = member_account(store, reads, t, pid, &input.customer).await?;
        let purchase = reads.get::<Purchase>(&purchase_key(t, pid, &input.purchase_ref))?;
        purchase_open(purchase.as_ref(), &contact, |p| &p.redeem_entry, "redeemed")?;
        let amount_due = input
            .amount_minor
            .checked_sub(input.points)
            .ok_or(LoyaltyError::AmountOverflow)?;
        let mut ledger = account.ledger();
        ledger.debit(input.points)?;
        let day = self.scope.day(now_ms);
        let mut after = account.clone();
        after.last_active_ms = Some(now_ms);
        apply_ledger(t, &mut after, ledger, now_ms)?;
        let entry = EntryDraft {
            kind: EntryKind::Redeem,
            points: -input.points,
            reason: texts::REASON_REDEEM
                .render(self.scope.lang(), &[("purchase", &input.purchase_ref)]),
            partner_id: Some(pid),
            purchase_ref: Some(&input.purchase_ref),
            amount_minor: Some(input.amount_minor),
            currency: Some(&input.currency),
            expires_on: None,
            related_contact: None,
        }
        .build(t, &after, now_ms);
        let booking = Booking {
            tenant: t,
            partner_id: pid,
            contact: &contact,
            now_ms,
        };
        let mut writes = Writes::new();
        writes.update(account_write(&account, &after)?);
        push_entry(&mut writes, &entry);
        writes.update(booking.purchase_write(
            &input.purchase_ref,
            "redeem",
            &entry.entry_id,
            input.amount_minor,
            input.points,
        ));
        let client: Option<PartnerClient> = reads.get(&partner_client_key(t, pid, &contact))?;
        let figures = PartnerFigures {
            redeemed: input.points,
            ..Default::default()
        };
        let new_client = booking.partner_writes(client.as_ref(), &figures, &mut writes);
        let mut delta = CounterDelta::default();
        delta
            .add(metric::LOYALTY_REDEEMED, input.points)
            .add(&metric::partner(pid, "redeemed"), input.points)
            .add(
                &metric::partner(pid, metric::PARTNER_CLIENTS_NEW),
                i64::from(new_client),
            );
        count_activity(&self.scope, &mut delta, account.last_active_ms, now_ms);
        push_counters(&mut writes, t, &day, &delta);

        let mut body = entry_json(&entry);
        body["contact_id"] = json!(contact);
        body["balance"] = json!(after.balance);
        body["amount_due_minor"] = json!(amount_due);
        Ok(Plan::new(writes, StatusCode::OK, body))
    }
}

// ---------------------------------------------------------------------------- refund

pub struct RefundInput {
    pub customer: CustomerRef,
    pub purchase_ref: String,
    /// The money refunded now; `None` refunds whatever is left of the purchase.
    pub amount_minor: Option<i64>,
    pub reason: Option<String>,
}

/// A purchase returned, wholly or in part (several partial refunds add up to the whole):
/// the points that paid for the refunded share come back, the cashback it earned is
/// taken back. Cashback the member already spent cannot be taken back without a negative
/// balance, so the take-back stops at the balance and the answer says how much was not
/// recovered. The referral bonus a first purchase triggered stays paid.
pub struct Refund<'a> {
    pub scope: Scope<'a>,
    pub partner_id: &'a str,
    pub input: &'a RefundInput,
}

/// What a refund of `amount` moves, from the purchase as stored. Every figure is checked:
/// stored numbers are trusted to be consistent, not to be small.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundShares {
    /// The purchase's refunded money after this refund.
    pub refunded_after: i64,
    pub remaining_after: i64,
    /// Points that paid for the refunded share, credited back.
    pub returned: i64,
    /// Cashback the refunded share earned, to take back.
    pub clawback_due: i64,
    /// Turnover the refunded share counted.
    pub turnover: i64,
}

pub fn refund_shares(
    purchase: &Purchase,
    amount: Option<i64>,
) -> Result<RefundShares, LoyaltyError> {
    let total = purchase.total_minor();
    let before = purchase.refunded_minor;
    // Only a corrupt record refunded less than nothing; its shares would exceed the whole.
    if before < 0 {
        return Err(LoyaltyError::AmountOverflow);
    }
    let remaining = total
        .checked_sub(before)
        .ok_or(LoyaltyError::AmountOverflow)?;
    if remaining <= 0 {
        return Err(LoyaltyError::DuplicatePurchase("refunded"));
    }
    let amount = amount.unwrap_or(remaining);
    if amount > remaining {
        return Err(LoyaltyError::RefundExceedsPurchase { remaining });
    }
    let refunded_after = before
        .checked_add(amount)
        .ok_or(LoyaltyError::AmountOverflow)?;
    // The share of `figure` between what was refunded before and after this refund.
    let portion = |figure: i64, overflow: LoyaltyError| {
        let figure = figure.max(0);
        match (
            domain::share(figure, refunded_after, total),
            domain::share(figure, before, total),
        ) {
            (Some(upto), Some(already)) => upto.checked_sub(already).ok_or(overflow),
            _ => Err(overflow),
        }
    };
    Ok(RefundShares {
        refunded_after,
        remaining_after: remaining - amount,
        returned: portion(purchase.redeem_points, LoyaltyError::PointsOverflow)?,
        clawback_due: portion(purchase.accrue_points, LoyaltyError::PointsOverflow)?,
        turnover: portion(purchase.accrue_amount_minor, LoyaltyError::AmountOverflow)?,
    })
}

#[async_trait]
impl Planner for Refund<'_> {
    fn keys(&self) -> Vec<Key> {
        purchase_keys(
            self.scope.tenant,
            self.partner_id,
            &self.input.customer,
            &self.input.purchase_ref,
        )
    }

    async fn plan(
        &self,
        store: &dyn LoyaltyStore,
        reads: &mut Reads,
        now_ms: i64,
    ) -> Result<Plan, LoyaltyError> {
        let (t, pid, input) = (self.scope.tenant, self.partner_id, self.input);
        active_partner(reads, t, pid)?;
        let (contact, account) = member_account(store, reads, t, pid, &input.customer).await?;
        let purchase_key = purchase_key(t, pid, &input.purchase_ref);
        let purchase: Purchase = reads
            .get(&purchase_key)?
            .ok_or(LoyaltyError::UnknownPurchase)?;
        if purchase.contact != contact {
            return Err(LoyaltyError::PurchaseCustomerMismatch);
        }
        if purchase.accrue_entry.is_none() && purchase.redeem_entry.is_none() {
            return Err(LoyaltyError::UnknownPurchase);
        }
        let shares = refund_shares(&purchase, input.amount_minor)?;
        let amount = shares.refunded_after - purchase.refunded_minor;
        let returned = shares.returned;

        let day = self.scope.day(now_ms);
        let mut ledger = account.ledger();
        ledger.credit(&day, returned)?;
        let clawback = shares.clawback_due.min(ledger.balance);
        ledger.debit(clawback)?;
        let net = returned
            .checked_sub(clawback)
            .ok_or(LoyaltyError::PointsOverflow)?;
        let mut after = account.clone();
        after.last_active_ms = Some(now_ms);
        apply_ledger(t, &mut after, ledger, now_ms)?;
        let lang = self.scope.lang();
        let reason = match &input.reason {
            Some(why) => texts::REASON_REFUND_WHY
                .render(lang, &[("purchase", &input.purchase_ref), ("why", why)]),
            None => texts::REASON_REFUND.render(lang, &[("purchase", &input.purchase_ref)]),
        };
        let entry = EntryDraft {
            kind: EntryKind::Refund,
            points: net,
            reason,
            partner_id: Some(pid),
            purchase_ref: Some(&input.purchase_ref),
            amount_minor: Some(amount),
            currency: Some(&self.scope.loyalty().currency),
            expires_on: (returned > 0)
                .then(|| self.scope.expires_on(&day))
                .flatten(),
            related_contact: None,
        }
        .build(t, &after, now_ms);
        // Conditioned on the refunded amount it read, so concurrent refunds of one
        // purchase cannot both pass the "remaining" check.
        let seen = if purchase.refunded_minor == 0 {
            Cond::absent("refunded_minor")
        } else {
            Cond::eq("refunded_minor", purchase.refunded_minor)
        };
        let mut writes = Writes::new();
        writes.update(account_write(&account, &after)?);
        push_entry(&mut writes, &entry);
        writes.update(
            Update::new(purchase_key)
                .set("refunded_minor", shares.refunded_after)
                .set("refund_entry", &entry.entry_id)
                .set("updated_ms", now_ms)
                .when(Cond::eq("contact", contact.as_str()).and(seen)),
        );
        let booking = Booking {
            tenant: t,
            partner_id: pid,
            contact: &contact,
            now_ms,
        };
        let client: Option<PartnerClient> = reads.get(&partner_client_key(t, pid, &contact))?;
        // Shares are never negative, so these negations cannot overflow.
        let figures = PartnerFigures {
            turnover_minor: -shares.turnover,
            purchases: 0,
            accrued: -clawback,
            redeemed: -returned,
        };
        booking.partner_writes(client.as_ref(), &figures, &mut writes);
        let mut delta = CounterDelta::default();
        delta
            .add(metric::LOYALTY_REFUNDS, 1)
            .add(metric::LOYALTY_REFUND_CLAWBACK, clawback)
            .add(metric::LOYALTY_REFUND_RETURNED, returned)
            .add(metric::LOYALTY_TURNOVER_MINOR, -shares.turnover)
            .add(&metric::partner(pid, "turnover_minor"), -shares.turnover);
        push_counters(&mut writes, t, &day, &delta);

        let mut body = entry_json(&entry);
        body["contact_id"] = json!(contact);
        body["balance"] = json!(after.balance);
        body["refunded_minor"] = json!(shares.refunded_after);
        body["remaining_minor"] = json!(shares.remaining_after);
        body["points_returned"] = json!(returned);
        body["cashback_taken_back"] = json!(clawback);
        body["cashback_not_recovered"] = json!(shares.clawback_due - clawback);
        Ok(Plan::new(writes, StatusCode::OK, body))
    }
}

// ---------------------------------------------------------------------------- join

pub struct JoinInput {
    pub contact_id: Option<String>,
    pub phone: Option<String>,
    pub referral_code: Option<String>,
}

pub struct Join<'a> {
    pub scope: Scope<'a>,
    pub actor: &'a Actor,
    pub input: &'a JoinInput,
}

impl Join<'_> {
    fn candidate(&self) -> String {
        match (&self.input.contact_id, &self.input.phone) {
            (Some(contact), _) => contact.clone(),
            (None, Some(phone)) => sauda_shared::phone::whatsapp_contact(phone),
            (None, None) => String::new(),
        }
    }
}

#[async_trait]
impl Planner for Join<'_> {
    fn keys(&self) -> Vec<Key> {
        let t = self.scope.tenant;
        let mut keys = vec![account_key(t, &self.candidate())];
        keys.extend(self.actor.partner_id().map(|p| keys::partner(t, p)));
        keys.extend(
            self.input
                .phone
                .as_deref()
                .map(|p| phone_identity_key(t, p)),
        );
        keys.extend(
            self.input
                .referral_code
                .as_deref()
                .map(|c| keys::referral_code(t, c)),
        );
        keys
    }

    async fn plan(
        &self,
        store: &dyn LoyaltyStore,
        reads: &mut Reads,
        now_ms: i64,
    ) -> Result<Plan, LoyaltyError> {
        let (t, input) = (self.scope.tenant, self.input);
        let loyalty = self.scope.loyalty();
        if let Some(pid) = self.actor.partner_id() {
            active_partner(reads, t, pid)?;
        }
        let identity_key = input.phone.as_deref().map(|p| phone_identity_key(t, p));
        // An identity item we cannot read (no contact) is left alone, never overwritten.
        let identity_exists = identity_key.as_ref().is_some_and(|k| reads.contains(k));
        let identity: Option<PhoneIdentity> = match &identity_key {
            Some(key) => reads
                .get::<PhoneIdentity>(key)?
                .filter(|identity| !identity.contact.is_empty()),
            None => None,
        };
        let contact = match (&input.contact_id, &identity) {
            (Some(contact), Some(identity)) if identity.contact != *contact => {
                return Err(LoyaltyError::PhoneTaken)
            }
            (Some(contact), _) => contact.clone(),
            (None, Some(identity)) => identity.contact.clone(),
            (None, None) => self.candidate(),
        };
        let key = account_key(t, &contact);
        store.read_more(reads, std::slice::from_ref(&key)).await?;
        if reads.contains(&key) {
            return Err(LoyaltyError::AlreadyMember);
        }
        let referrer = match &input.referral_code {
            Some(code) => {
                let referral: ReferralCode = reads
                    .get(&keys::referral_code(t, code))?
                    .ok_or(LoyaltyError::UnknownReferralCode)?;
                if referral.contact == contact {
                    return Err(LoyaltyError::SelfReferral);
                }
                Some(referral.contact)
            }
            None => None,
        };

        let day = self.scope.day(now_ms);
        let mut ledger = Ledger::default();
        ledger.credit(&day, loyalty.welcome_bonus.max(0))?;
        let mut account = Account {
            pk: key.0.clone(),
            sk: key.1.clone(),
            contact: contact.clone(),
            rev: 1,
            created_ms: now_ms,
            updated_ms: now_ms,
            last_active_ms: Some(now_ms),
            phone: input.phone.clone(),
            joined_partner: self.actor.partner_id().map(str::to_owned),
            referred_by: referrer.clone(),
            ..Default::default()
        };
        account.set_ledger(ledger);
        index_credits(t, &mut account);
        let mut writes = Writes::new();
        writes.put(account.clone(), Some(Cond::item_absent()));
        if let (Some(phone), false) = (&input.phone, identity_exists) {
            let (pk, sk) = phone_identity_key(t, phone);
            let identity = PhoneIdentity {
                pk,
                sk,
                contact: contact.clone(),
                kind: "phone".into(),
                value: phone.clone(),
                created_ms: now_ms,
            };
            // Another member may claim the number meanwhile: re-read, then `phone_taken`.
            writes.put(
                identity,
                Some(Cond::item_absent().or(Cond::eq("contact", contact.as_str()))),
            );
        }
        let mut welcome_entry = None;
        if account.balance > 0 {
            let entry = EntryDraft {
                kind: EntryKind::Welcome,
                points: account.balance,
                reason: texts::REASON_WELCOME.get(self.scope.lang()).into(),
                partner_id: self.actor.partner_id(),
                purchase_ref: None,
                amount_minor: None,
                currency: None,
                expires_on: self.scope.expires_on(&day),
                related_contact: None,
            }
            .build(t, &account, now_ms);
            push_entry(&mut writes, &entry);
            welcome_entry = Some(entry.entry_id);
        }
        if let Some(referrer) = &referrer {
            writes.push_or(
                sauda_shared::plan::Op::Update(
                    Update::new(account_key(t, referrer))
                        .add("referrals_joined", 1)
                        .when(Cond::item_exists()),
                ),
                LoyaltyError::UnknownReferralCode,
            );
        }
        let mut delta = CounterDelta::default();
        delta
            .add(metric::LOYALTY_MEMBERS_NEW, 1)
            .add(metric::LOYALTY_WELCOME, account.balance)
            .add(
                metric::LOYALTY_REFERRAL_JOINS,
                i64::from(referrer.is_some()),
            );
        count_activity(&self.scope, &mut delta, None, now_ms);
        push_counters(&mut writes, t, &day, &delta);
        Ok(Plan::new(
            writes,
            StatusCode::CREATED,
            json!({
                "contact_id": contact,
                "balance": account.balance,
                "welcome_bonus": account.balance,
                "welcome_entry_id": welcome_entry,
                "referred": referrer.is_some(),
                "expires_on": (account.balance > 0).then(|| self.scope.expires_on(&day)).flatten(),
            }),
        ))
    }
}

// ---------------------------------------------------------------------------- adjust

pub struct AdjustInput {
    pub customer: CustomerRef,
    /// Signed: credit when positive; within ±`MAX_POINTS` (see `input::adjustment_valid`).
    pub points: i64,
    pub reason: String,
}

/// An administrator's correction, with its reason on the entry.
pub struct Adjust<'a> {
    pub scope: Scope<'a>,
    pub input: &'a AdjustInput,
}

#[async_trait]
impl Planner for Adjust<'_> {
    fn keys(&self) -> Vec<Key> {
        let t = self.scope.tenant;
        let mut keys = vec![account_key(t, &self.input.customer.candidate())];
        keys.extend(self.input.customer.identity_key(t));
        keys
    }

    async fn plan(
        &self,
        store: &dyn LoyaltyStore,
        reads: &mut Reads,
        now_ms: i64,
    ) -> Result<Plan, LoyaltyError> {
        let (t, input) = (self.scope.tenant, self.input);
        // The planner does not trust its caller: an adjustment the ledger could not
        // mirror exactly (i64::MIN has no positive counterpart) is refused here too.
        if !(-MAX_POINTS..=MAX_POINTS).contains(&input.points) {
            return Err(LoyaltyError::PointsOutOfRange { max: MAX_POINTS });
        }
        if input.points == 0 {
            return Err(input::adjustment_zero());
        }
        let contact = input.customer.resolve(t, reads)?;
        let key = account_key(t, &contact);
        store.read_more(reads, std::slice::from_ref(&key)).await?;
        let account: Account = reads.get(&key)?.ok_or(LoyaltyError::UnknownCustomer)?;
        let day = self.scope.day(now_ms);
        let mut ledger = account.ledger();
        let mut expires_on = None;
        if input.points > 0 {
            ledger.credit(&day, input.points)?;
            expires_on = self.scope.expires_on(&day);
        } else {
            ledger.debit(
                input
                    .points
                    .checked_neg()
                    .ok_or(LoyaltyError::PointsOverflow)?,
            )?;
        }
        let mut after = account.clone();
        apply_ledger(t, &mut after, ledger, now_ms)?;
        let entry = EntryDraft {
            expires_on,
            ..EntryDraft::plain(EntryKind::Adjust, input.points, input.reason.clone())
        }
        .build(t, &after, now_ms);
        let mut delta = CounterDelta::default();
        delta.add(metric::LOYALTY_ADJUSTED, input.points);
        let mut writes = Writes::new();
        writes.update(account_write(&account, &after)?);
        push_entry(&mut writes, &entry);
        push_counters(&mut writes, t, &day, &delta);
        let mut body = entry_json(&entry);
        body["contact_id"] = json!(contact);
        body["balance"] = json!(after.balance);
        Ok(Plan::new(writes, StatusCode::OK, body))
    }
}

// ---------------------------------------------------------------------------- referral code

pub struct ReferralCodeFor<'a> {
    pub scope: Scope<'a>,
    pub actor: &'a Actor,
    pub customer: &'a CustomerRef,
}

/// `https://t.me/{bot}?start=ref-{code}` when the tenant has a Telegram bot.
pub fn referral_link(config: &TenantConfig, code: &str) -> Option<String> {
    config.telegram_bot_username.as_deref().map(|bot| {
        format!(
            "https://t.me/{}?start=ref-{code}",
            bot.trim_start_matches('@')
        )
    })
}

#[async_trait]
impl Planner for ReferralCodeFor<'_> {
    fn keys(&self) -> Vec<Key> {
        let t = self.scope.tenant;
        let mut keys = vec![account_key(t, &self.customer.candidate())];
        keys.extend(self.customer.identity_key(t));
        keys.extend(self.actor.partner_id().map(|p| keys::partner(t, p)));
        keys
    }

    async fn plan(
        &self,
        store: &dyn LoyaltyStore,
        reads: &mut Reads,
        now_ms: i64,
    ) -> Result<Plan, LoyaltyError> {
        let t = self.scope.tenant;
        if let Some(pid) = self.actor.partner_id() {
            active_partner(reads, t, pid)?;
        }
        let contact = self.customer.resolve(t, reads)?;
        let key = account_key(t, &contact);
        store.read_more(reads, std::slice::from_ref(&key)).await?;
        let account: Account = reads.get(&key)?.ok_or(LoyaltyError::UnknownCustomer)?;
        let answer = |code: &str| {
            json!({
                "contact_id": contact,
                "code": code,
                "link": referral_link(self.scope.config, code),
                "referrals_joined": account.referrals_joined,
            })
        };
        if let Some(code) = &account.referral_code {
            return Ok(Plan::answer(answer(code)));
        }
        // A collision with another member's code cancels the plan; the retry draws a
        // new code.
        let code = input::new_referral_code();
        let (pk, sk) = keys::referral_code(t, &code);
        let referral = ReferralCode {
            pk,
            sk,
            code: code.clone(),
            contact: contact.clone(),
            created_ms: now_ms,
        };
        let mut writes = Writes::new();
        writes.put(referral, Some(Cond::item_absent()));
        writes.update(
            Update::new(key)
                .set("referral_code", code.as_str())
                .when(Cond::item_exists().and(Cond::absent("referral_code"))),
        );
        Ok(Plan::new(writes, StatusCode::OK, answer(&code)))
    }
}

// ---------------------------------------------------------------------------- NPS

pub struct NpsInput {
    pub customer: CustomerRef,
    pub purchase_ref: String,
    pub score: u8,
    pub comment: Option<String>,
}

/// A 0-10 rating of a partner, once per purchase.
pub struct Nps<'a> {
    pub scope: Scope<'a>,
    pub partner_id: &'a str,
    /// Partners rate through their own key and must be active; an admin (the tenant's
    /// customer bot) names the partner, which must exist.
    pub require_active: bool,
    pub input: &'a NpsInput,
}

#[async_trait]
impl Planner for Nps<'_> {
    fn keys(&self) -> Vec<Key> {
        let t = self.scope.tenant;
        let mut keys = vec![
            keys::partner(t, self.partner_id),
            purchase_key(t, self.partner_id, &self.input.purchase_ref),
        ];
        keys.extend(self.input.customer.identity_key(t));
        keys
    }

    async fn plan(
        &self,
        _store: &dyn LoyaltyStore,
        reads: &mut Reads,
        now_ms: i64,
    ) -> Result<Plan, LoyaltyError> {
        let (t, pid, input) = (self.scope.tenant, self.partner_id, self.input);
        if self.require_active {
            active_partner(reads, t, pid)?;
        } else if !reads.contains(&keys::partner(t, pid)) {
            return Err(LoyaltyError::UnknownPartner);
        }
        let contact = input.customer.resolve(t, reads)?;
        let purchase: Purchase = reads
            .get(&purchase_key(t, pid, &input.purchase_ref))?
            .ok_or(LoyaltyError::UnknownPurchase)?;
        if purchase.contact != contact {
            return Err(LoyaltyError::PurchaseCustomerMismatch);
        }
        if purchase.nps_score.is_some() {
            return Err(LoyaltyError::AlreadyRated);
        }
        let score = i64::from(input.score);
        let rate = Update::new(purchase_key(t, pid, &input.purchase_ref))
            .set("nps_score", score)
            .set("nps_ms", now_ms)
            .set_opt("nps_comment", input.comment.as_deref())
            .when(
                Cond::item_exists()
                    .and(Cond::eq("contact", contact.as_str()))
                    .and(Cond::absent("nps_score")),
            );
        let class = domain::nps_class(input.score);
        let (promoter, detractor) = (
            i64::from(class == NpsClass::Promoter),
            i64::from(class == NpsClass::Detractor),
        );
        let stats = Update::new(partner_stats_key(t, pid))
            .set("partner_id", pid)
            .set("updated_ms", now_ms)
            .add("nps_count", 1)
            .add("nps_sum", score)
            .add("nps_promoters", promoter)
            .add("nps_detractors", detractor);
        let day = self.scope.day(now_ms);
        let mut delta = CounterDelta::default();
        delta
            .add(&metric::partner(pid, "nps_count"), 1)
            .add(&metric::partner(pid, "nps_sum"), score)
            .add(&metric::partner(pid, "nps_promoters"), promoter)
            .add(&metric::partner(pid, "nps_detractors"), detractor)
            .add(metric::LOYALTY_NPS_COUNT, 1)
            .add(metric::LOYALTY_NPS_SUM, score)
            .add(metric::LOYALTY_NPS_PROMOTERS, promoter)
            .add(metric::LOYALTY_NPS_DETRACTORS, detractor);
        let mut writes = Writes::new();
        writes.update(rate);
        writes.update(stats);
        push_counters(&mut writes, t, &day, &delta);
        Ok(Plan::new(
            writes,
            StatusCode::OK,
            json!({
                "partner_id": pid,
                "purchase_ref": input.purchase_ref,
                "contact_id": contact,
                "score": input.score,
                "class": match class {
                    NpsClass::Promoter => "promoter",
                    NpsClass::Passive => "passive",
                    NpsClass::Detractor => "detractor",
                },
            }),
        ))
    }
}

/// Partner ids must be valid before they are put into keys.
pub fn partner_id_valid(raw: &str) -> Result<String, LoyaltyError> {
    if sauda_shared::partner::valid_partner_id(raw) {
        Ok(raw.to_owned())
    } else {
        Err(LoyaltyError::field(
            "invalid_partner_id",
            "partner_id must be 2-40 characters of a-z, 0-9 and '-'",
        ))
    }
}

/// Statuses as stored (`pending`, `active`, ...).
pub fn status_str(status: PartnerStatus) -> &'static str {
    match status {
        PartnerStatus::Pending => "pending",
        PartnerStatus::Active => "active",
        PartnerStatus::Rejected => "rejected",
        PartnerStatus::Suspended => "suspended",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Fail, LedgerPage};
    use sauda_shared::plan::{CmpOp, Op, PlanError};
    use sauda_shared::ports::StoreError;
    use sauda_shared::tenant::RegistryEntry;

    const EXTREMES: [i64; 7] = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];

    /// A store no planner under test may touch.
    struct Untouched;

    #[async_trait]
    impl LoyaltyStore for Untouched {
        fn now_ms(&self) -> i64 {
            0
        }
        async fn read(&self, _: &[Key]) -> Result<Reads, StoreError> {
            panic!("read")
        }
        async fn write(&self, _: &WritePlan<Fail>) -> Result<(), PlanError<Fail>> {
            panic!("write")
        }
        async fn ledger_page(
            &self,
            _: &TenantId,
            _: &str,
            _: u32,
            _: Option<&str>,
        ) -> Result<LedgerPage, StoreError> {
            panic!("ledger_page")
        }
        async fn ledger_points(&self, _: &TenantId, _: &str) -> Result<Vec<i64>, StoreError> {
            panic!("ledger_points")
        }
        async fn partners(
            &self,
            _: &TenantId,
            _: Option<&str>,
        ) -> Result<Vec<Partner>, StoreError> {
            panic!("partners")
        }
        async fn accounts_due(&self, _: &TenantId, _: &str) -> Result<Vec<String>, StoreError> {
            panic!("accounts_due")
        }
        async fn expiry_tenants(&self) -> Result<Vec<RegistryEntry>, StoreError> {
            panic!("expiry_tenants")
        }
        async fn accounts(&self, _: &TenantId) -> Result<Vec<Account>, StoreError> {
            panic!("accounts")
        }
    }

    fn purchase(total: i64, refunded: i64, accrue_points: i64, redeem_points: i64) -> Purchase {
        Purchase {
            contact: "tg-1".into(),
            accrue_entry: Some("e".into()),
            accrue_amount_minor: total,
            accrue_points,
            redeem_points,
            refunded_minor: refunded,
            ..Default::default()
        }
    }

    #[test]
    fn refund_shares_add_up_and_never_wrap() {
        // Three partial refunds give back exactly the whole.
        let p = purchase(1_000, 0, 95, 0);
        let (mut p, mut clawed) = (p, 0);
        for amount in [Some(333), Some(334), None] {
            let s = refund_shares(&p, amount).unwrap();
            clawed += s.clawback_due;
            p.refunded_minor = s.refunded_after;
        }
        assert_eq!((clawed, p.refunded_minor), (95, 1_000));
        assert_eq!(
            refund_shares(&p, None),
            Err(LoyaltyError::DuplicatePurchase("refunded"))
        );
        // Every combination of extremes answers, none panics or wraps.
        for total in EXTREMES {
            for refunded in EXTREMES {
                for figure in EXTREMES {
                    for amount in [None, Some(1), Some(i64::MAX)] {
                        let p = purchase(total, refunded, figure, figure);
                        match refund_shares(&p, amount) {
                            Ok(s) => {
                                let remaining = i128::from(total) - i128::from(refunded);
                                assert!(remaining > 0);
                                assert!(s.refunded_after <= total);
                                assert!(s.returned >= 0 && s.clawback_due >= 0);
                                assert!(s.clawback_due <= figure.max(0));
                            }
                            Err(e) => assert!(e.is_refusal(), "{e:?}"),
                        }
                    }
                }
            }
        }
        assert_eq!(
            refund_shares(&purchase(i64::MAX, -1, 10, 0), None),
            Err(LoyaltyError::AmountOverflow)
        );
    }

    #[test]
    fn accrual_points_stay_within_one_operation() {
        let loyalty = LoyaltySettings::default();
        assert_eq!(accrual_points(&loyalty, 500, 10_000), Ok(500));
        for amount in EXTREMES {
            for bp in [0, 500, 10_000, u32::MAX] {
                match accrual_points(&loyalty, bp, amount) {
                    Ok(points) => assert!((0..=MAX_POINTS).contains(&points)),
                    Err(e) => assert_eq!(e.code(), "amount_out_of_range"),
                }
            }
        }
    }

    #[test]
    fn the_account_write_is_conditioned_on_the_revision_read() {
        let t = TenantId::parse("acme").unwrap();
        let (pk, sk) = account_key(&t, "tg-1");
        let before = Account {
            pk,
            sk,
            contact: "tg-1".into(),
            rev: 4,
            ..Default::default()
        };
        let mut after = before.clone();
        let mut ledger = after.ledger();
        ledger.credit("2026-01-01", 7).unwrap();
        apply_ledger(&t, &mut after, ledger, 9).unwrap();
        let update = account_write(&before, &after).unwrap();
        assert_eq!(
            update.cond,
            Some(Cond::Cmp("rev".into(), CmpOp::Eq, Val::N(4)))
        );
        assert!(update.set.iter().any(|(attr, v)| attr == "credit_days"
            && *v
                == sauda_shared::plan::SetValue::Always(Val::NumMap(
                    [("2026-01-01".to_owned(), 7)].into()
                ))));
        assert_eq!(after.gsi1sk.as_deref(), Some("2026-01-01#tg-1"));
        let mut worn = before.clone();
        worn.rev = u64::MAX;
        assert!(apply_ledger(&t, &mut worn, Ledger::default(), 0).is_err());
        assert!(
            account_write(&worn, &after).is_err(),
            "no revision above i64"
        );
    }

    #[tokio::test]
    async fn adjustments_out_of_range_are_refused_before_any_read() {
        let t = TenantId::parse("acme").unwrap();
        let config = TenantConfig::new(t.clone(), "Acme");
        for points in [
            i64::MIN,
            i64::MIN + 1,
            -MAX_POINTS - 1,
            MAX_POINTS + 1,
            i64::MAX,
            0,
        ] {
            let input = AdjustInput {
                customer: CustomerRef::Contact("tg-1".into()),
                points,
                reason: "x".into(),
            };
            let planner = Adjust {
                scope: Scope {
                    tenant: &t,
                    config: &config,
                },
                input: &input,
            };
            let refused = planner
                .plan(&Untouched, &mut Reads::default(), 0)
                .await
                .unwrap_err();
            let expected = if points == 0 {
                "points_zero"
            } else {
                "points_out_of_range"
            };
            assert_eq!(refused.code(), expected, "{points}");
        }
        // Each step of a plan is data: the entry is never overwritten.
        let mut writes = Writes::new();
        let entry =
            EntryDraft::plain(EntryKind::Adjust, 1, "r".into()).build(&t, &Account::default(), 0);
        push_entry(&mut writes, &entry);
        assert!(matches!(
            &writes.steps[0].op,
            Op::Put { cond: Some(c), .. } if *c == Cond::item_absent()
        ));
    }
}
