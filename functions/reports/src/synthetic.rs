//! Plausible, deterministic counters for the demo tenant, so `sauda report preview` and
//! `make report-preview` show a full report without any traffic or AWS.

use crate::period::Period;
use crate::report::{self, DayCounters, ReportContext};
use sauda_shared::funnel::Stage;
use sauda_shared::stats::metric;
use std::collections::BTreeMap;

/// A small deterministic generator (SplitMix64): same seed, same report.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
}

pub const DEMO_PARTNERS: [(&str, &str); 3] = [
    ("coffee-house", "Coffee House"),
    ("tour-guide", "Altai Tours"),
    ("gym-one", "Gym One"),
];

/// The demo tenant's report context (as `infra/demo/tenant.json` describes it).
pub fn demo_context(tenant: &str, name: &str, timezone: &str, language: &str) -> ReportContext {
    ReportContext {
        tenant: tenant.to_owned(),
        tenant_name: name.to_owned(),
        timezone: timezone.to_owned(),
        language: language.to_owned(),
        currency: "KZT".to_owned(),
        monthly_budget_micros: Some(50_000_000),
        partner_names: DEMO_PARTNERS
            .iter()
            .map(|(id, n)| ((*id).to_owned(), (*n).to_owned()))
            .collect(),
        sales_currency: "KZT".to_owned(),
    }
}

/// Counters for every day a report of `period` reads.
pub fn counters(period: Period, seed: u64) -> DayCounters {
    let mut rng = Rng(seed);
    let mut out = DayCounters::new();
    for date in report::days_needed(period) {
        let weekend = matches!(
            date.weekday(),
            jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday
        );
        let base = if weekend { 40 } else { 90 } + rng.range(0, 30);
        let mut m: BTreeMap<String, i64> = BTreeMap::new();
        let mut add = |k: &str, v: i64| *m.entry(k.to_owned()).or_default() += v;
        let conversations = base / 3;
        add(metric::CONVERSATIONS_DAY, conversations);
        add(metric::CONVERSATIONS_WEEK, conversations * 2 / 3);
        add(metric::CONVERSATIONS_MONTH, conversations / 3);
        add(metric::MESSAGES_IN, base);
        add(metric::MESSAGES_OUT, base - rng.range(0, 6));
        add(metric::CONTACTS_NEW, conversations / 4);
        let fallback = rng.range(0, 4);
        add(metric::REPLIES_LLM, base - fallback - 3);
        add(metric::REPLIES_FALLBACK, fallback);
        add(&metric::fallback_reason("llm_error"), fallback);
        add(metric::HANDOFFS, rng.range(0, 3));
        for (bound, share) in [
            (500u64, 10),
            (1_000, 30),
            (1_500, 30),
            (2_000, 15),
            (3_000, 10),
            (6_000, 5),
        ] {
            add(&metric::latency_bucket(bound), base * share / 100);
        }
        add(metric::AI_CALLS, base);
        add(metric::AI_PROMPT_TOKENS, base * 1_800);
        add(metric::AI_COMPLETION_TOKENS, base * 220);
        // About $1.2 a day: a $50 budget ends the month around 70 % used.
        add(metric::AI_COST_MICROS, base * rng.range(11_000, 15_000));
        let new_leads = rng.range(6, 14);
        add(&metric::leads_new("agent"), new_leads * 2 / 3);
        add(&metric::leads_new("form"), new_leads - new_leads * 2 / 3);
        add(&metric::leads_new("sweep"), rng.range(0, 2));
        let mut flow = new_leads;
        for stage in Stage::FUNNEL {
            add(&metric::leads_entered(stage.as_str()), flow);
            flow = (flow * rng.range(70, 95) + 50) / 100;
        }
        add(&metric::leads_entered("lost"), rng.range(0, 2));
        add(metric::LEADS_WON, rng.range(0, 2));
        add(metric::LEADS_LOST, rng.range(0, 2));
        add(metric::LOYALTY_PURCHASES, base / 4);
        let turnover = base / 4 * rng.range(400_000, 900_000);
        add(metric::LOYALTY_TURNOVER_MINOR, turnover);
        add(metric::LOYALTY_ACCRUED, turnover / 100 * 5 / 100);
        add(
            metric::LOYALTY_REDEEMED,
            turnover / 100 * rng.range(1, 4) / 100,
        );
        add(metric::LOYALTY_ACTIVE_DAY, base / 5);
        add(metric::LOYALTY_ACTIVE_WEEK, base / 10);
        add(metric::LOYALTY_ACTIVE_MONTH, base / 20);
        add(metric::LOYALTY_MEMBERS_NEW, rng.range(0, 5));
        add(metric::LOYALTY_REFERRAL_JOINS, rng.range(0, 2));
        for (i, (pid, _)) in DEMO_PARTNERS.iter().enumerate() {
            let share = [50, 30, 20][i];
            add(
                &metric::partner(pid, "turnover_minor"),
                turnover * share / 100,
            );
            add(&metric::partner(pid, "purchases"), base / 4 * share / 100);
            add(
                &metric::partner(pid, "accrued"),
                turnover / 100 * 5 / 100 * share / 100,
            );
            add(
                &metric::partner(pid, "redeemed"),
                turnover / 100 * 2 / 100 * share / 100,
            );
            let ratings = rng.range(0, 3);
            let promoters = rng.range(0, ratings);
            let detractors = (ratings - promoters).min(rng.range(0, 1));
            add(&metric::partner(pid, "nps_count"), ratings);
            add(&metric::partner(pid, "nps_promoters"), promoters);
            add(&metric::partner(pid, "nps_detractors"), detractors);
            add(
                &metric::partner(pid, "nps_sum"),
                promoters * 10 + detractors * 4 + (ratings - promoters - detractors) * 8,
            );
        }
        // Orders: a few a day, mostly through Kaspi, some refunded.
        let paid = base / 15;
        let (pump, filter) = (4_500_000, 250_000);
        add(metric::ORDERS_PLACED, paid + 2);
        add(metric::ORDERS_PAID, paid);
        add(metric::ORDERS_REVENUE_MINOR, paid * pump + paid * filter);
        add(&metric::orders_paid_by("kaspi"), paid - paid / 3);
        add(
            &metric::orders_revenue_by("kaspi"),
            (paid - paid / 3) * (pump + filter),
        );
        add(&metric::orders_paid_by("telegram"), paid / 3);
        add(
            &metric::orders_revenue_by("telegram"),
            paid / 3 * (pump + filter),
        );
        add(&metric::sku_revenue("GR-CR10-2"), paid * pump);
        add(&metric::sku_units("GR-CR10-2"), paid);
        add(&metric::sku_revenue("FLT-50"), paid * filter);
        add(&metric::sku_units("FLT-50"), paid);
        add(metric::ORDERS_EXPIRED, 2);
        if base % 7 == 0 {
            add(metric::ORDERS_REFUNDS, 1);
            add(metric::ORDERS_REFUNDED_MINOR, filter);
        }
        out.insert(date.to_string(), m);
    }
    out
}
