//! The report: every figure of a period and its change against the previous period of
//! the same kind, computed from daily counters only (a pure function; no AWS here).
//!
//! Distinct counts (conversations, active loyalty members) sum the "first of the
//! period" counter that matches the report's kind (`_d`, `_w`, `_m`), which is exact.

use crate::period::{Period, PeriodInfo};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use sauda_shared::funnel::Stage;
use sauda_shared::stats::metric;
use sauda_shared::tenant::ReportPeriodKind;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Bump when the JSON's shape changes incompatibly.
pub const SCHEMA_VERSION: u32 = 1;

/// Counters of many days: `day (yyyy-mm-dd) → metric → value`.
pub type DayCounters = BTreeMap<String, BTreeMap<String, i64>>;

/// Lead sources always listed, even at zero (`leads_new_{source}`).
pub const LEAD_SOURCES: [&str; 4] = ["agent", "form", "sweep", "manual"];
/// Per-partner figures (`p_{pid}_{figure}`).
pub const PARTNER_FIGURES: [&str; 8] = [
    "turnover_minor",
    "accrued",
    "redeemed",
    "purchases",
    "nps_count",
    "nps_sum",
    "nps_promoters",
    "nps_detractors",
];

/// A count or amount, its value in the previous period and the relative change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub value: i64,
    pub previous: i64,
    /// Percent change; `None` when the previous value is zero.
    pub change_pct: Option<f64>,
}

impl Figure {
    pub fn new(value: i64, previous: i64) -> Self {
        let change_pct = (previous != 0)
            .then(|| round1((value - previous) as f64 * 100.0 / previous.abs() as f64));
        Self {
            value,
            previous,
            change_pct,
        }
    }
}

/// A percentage (share, conversion, NPS score), its previous value and the change in points.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub value: Option<f64>,
    pub previous: Option<f64>,
    pub change_pts: Option<f64>,
}

impl Rate {
    pub fn new(value: Option<f64>, previous: Option<f64>) -> Self {
        let value = value.map(round1);
        let previous = previous.map(round1);
        let change_pts = value.zip(previous).map(|(v, p)| round1(v - p));
        Self {
            value,
            previous,
            change_pts,
        }
    }

    /// `part / whole` in percent, `None` for an empty whole.
    pub fn share(part: (i64, i64), whole: (i64, i64)) -> Self {
        Self::new(percent(part.0, whole.0), percent(part.1, whole.1))
    }
}

pub fn percent(part: i64, whole: i64) -> Option<f64> {
    (whole != 0).then(|| part as f64 * 100.0 / whole as f64)
}

pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Reply latency from the histogram: the smallest bucket bound reaching the quantile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Replies with a measured latency (the histogram's total).
    pub replies: i64,
    /// `None` with no replies, or when the quantile is above the last bound (60 s).
    pub median_le_ms: Option<u32>,
    pub median_above_max: bool,
    pub p90_le_ms: Option<u32>,
    pub p90_above_max: bool,
    pub previous_median_le_ms: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conversations {
    /// Distinct contacts who wrote in the period.
    pub conversations: Figure,
    pub messages_in: Figure,
    pub messages_out: Figure,
    pub contacts_new: Figure,
    pub replies_llm: Figure,
    pub replies_fallback: Figure,
    /// LLM replies among all replies, in percent.
    pub llm_share: Rate,
    /// Fallback replies by reason (`no_llm`, `llm_error`, `budget`, `quota`, ...).
    pub fallback_reasons: BTreeMap<String, Figure>,
    pub replies_not_sent: Figure,
    pub handoffs: Figure,
    pub rate_limited: Figure,
    pub latency: Latency,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageFigure {
    pub stage: String,
    pub entered: Figure,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conversion {
    pub from: String,
    pub to: String,
    /// Leads that entered `to` per 100 that entered `from` in the period.
    pub rate: Rate,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Leads {
    pub new_total: Figure,
    pub new_by_source: BTreeMap<String, Figure>,
    /// Funnel stages in order, then `lost`.
    pub stages: Vec<StageFigure>,
    pub conversion: Vec<Conversion>,
    pub won: Figure,
    pub lost: Figure,
    pub merged: Figure,
    pub crm_delivered: Figure,
    pub crm_attempts_failed: Figure,
    pub crm_gave_up: Figure,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Nps {
    pub count: Figure,
    pub promoters: Figure,
    pub detractors: Figure,
    /// % promoters − % detractors, from −100 to 100.
    pub score: Rate,
    /// Mean rating (0-10).
    pub average: Option<f64>,
}

impl Nps {
    fn new(now: [i64; 4], before: [i64; 4]) -> Self {
        let [count, sum, promoters, detractors] = now;
        let [p_count, _, p_promoters, p_detractors] = before;
        let score = |c: i64, p: i64, d: i64| (c != 0).then(|| (p - d) as f64 * 100.0 / c as f64);
        Self {
            count: Figure::new(count, p_count),
            promoters: Figure::new(promoters, p_promoters),
            detractors: Figure::new(detractors, p_detractors),
            score: Rate::new(
                score(count, promoters, detractors),
                score(p_count, p_promoters, p_detractors),
            ),
            average: (count != 0).then(|| round1(sum as f64 / count as f64)),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartnerStats {
    pub partner_id: String,
    /// The partner's name, or its id when the profile is gone.
    pub name: String,
    pub turnover_minor: Figure,
    pub purchases: Figure,
    pub accrued: Figure,
    pub redeemed: Figure,
    pub nps: Nps,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Loyalty {
    pub accrued: Figure,
    pub redeemed: Figure,
    pub expired: Figure,
    pub welcome: Figure,
    pub referral_bonus: Figure,
    pub referral_joins: Figure,
    pub members_new: Figure,
    /// Distinct members with any loyalty operation in the period.
    pub active_members: Figure,
    pub purchases: Figure,
    pub turnover_minor: Figure,
    /// Over every partner's ratings.
    pub nps: Nps,
    /// By turnover, largest first.
    pub partners: Vec<PartnerStats>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DayValue {
    pub day: String,
    pub value: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// The calendar month (tenant zone) of the period's last day.
    pub month: String,
    pub monthly_budget_micros: Option<i64>,
    /// AI cost from the month's first day to the period's last day.
    pub month_to_date_cost_micros: i64,
    pub used_pct: Option<f64>,
    /// Cumulative cost per day of the month up to the period's end (the chart's line).
    pub cumulative: Vec<DayValue>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ai {
    pub calls: Figure,
    pub prompt_tokens: Figure,
    pub completion_tokens: Figure,
    pub tokens_total: Figure,
    /// USD micros.
    pub cost_micros: Figure,
    /// USD micros per conversation, rounded; `None` without conversations.
    pub cost_per_conversation_micros: Option<i64>,
    pub previous_cost_per_conversation_micros: Option<i64>,
    pub budget: Budget,
}

/// One product's sales (from the `sku_rev_*` / `sku_units_*` counters of paid orders).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProductSales {
    pub sku: String,
    pub revenue_minor: Figure,
    pub units: Figure,
}

/// One payment method's orders and money.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodSales {
    /// `telegram`, `telegram_stars`, `stripe`, `kaspi`.
    pub provider: String,
    pub orders: Figure,
    pub revenue_minor: Figure,
}

/// Orders and payments (`functions/orders`), in minor units of `currency`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sales {
    /// The tenant's `orders.currency`.
    pub currency: String,
    pub orders_placed: Figure,
    pub orders_paid: Figure,
    /// Money received (a second charge included).
    pub revenue_minor: Figure,
    /// Revenue per paid order, rounded; `None` without paid orders.
    pub average_order_minor: Option<i64>,
    pub previous_average_order_minor: Option<i64>,
    pub refunds: Figure,
    pub refunded_minor: Figure,
    pub net_revenue_minor: Figure,
    pub canceled: Figure,
    pub expired: Figure,
    pub overpaid: Figure,
    pub payment_mismatch: Figure,
    pub payment_failed: Figure,
    /// Every method with orders or money in either period, most revenue first.
    pub methods: Vec<MethodSales>,
    /// The period's ten best sellers by revenue.
    pub top_products: Vec<ProductSales>,
}

/// How many products the sales section lists.
pub const TOP_PRODUCTS: usize = 10;

/// One day of the period with every counter (the CSV's rows).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DayRow {
    pub day: String,
    pub metrics: BTreeMap<String, i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: u32,
    pub tenant: String,
    pub tenant_name: String,
    pub timezone: String,
    pub language: String,
    /// Loyalty currency (ISO 4217) of `*_minor` amounts.
    pub currency: String,
    pub period: PeriodInfo,
    pub previous_period: PeriodInfo,
    pub conversations: Conversations,
    pub leads: Leads,
    pub loyalty: Loyalty,
    /// Added with orders; absent from reports made before them.
    #[serde(default = "Sales::empty")]
    pub sales: Sales,
    pub ai: Ai,
    pub days: Vec<DayRow>,
}

/// What a report needs besides the counters.
#[derive(Clone, Debug)]
pub struct ReportContext {
    pub tenant: String,
    pub tenant_name: String,
    pub timezone: String,
    pub language: String,
    pub currency: String,
    pub monthly_budget_micros: Option<i64>,
    /// Partner id → name, for the partner table.
    pub partner_names: BTreeMap<String, String>,
    /// The currency of orders (`orders.currency`), for the sales section.
    pub sales_currency: String,
}

/// Every day whose counters a report of `period` reads: the period, the previous period,
/// and the budget month up to the period's last day. Cost grows with these, not traffic.
pub fn days_needed(period: Period) -> Vec<Date> {
    let budget = period.budget_month();
    let mut days: BTreeSet<Date> = period.days().into_iter().collect();
    days.extend(period.previous().days());
    days.extend(
        budget
            .days()
            .into_iter()
            .filter(|d| *d <= period.last_day()),
    );
    days.into_iter().collect()
}

/// Partner ids that have counters on any of these days.
pub fn partner_ids(counters: &DayCounters) -> BTreeSet<String> {
    counters
        .values()
        .flat_map(|m| m.keys())
        .filter_map(|name| parse_partner_metric(name).map(|(pid, _)| pid.to_owned()))
        .collect()
}

/// `p_{pid}_{figure}` → `(pid, figure)`. Partner ids have no `_` (`[a-z0-9-]`).
pub fn parse_partner_metric(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("p_")?;
    let (pid, figure) = rest.split_once('_')?;
    (!pid.is_empty() && PARTNER_FIGURES.contains(&figure)).then_some((pid, figure))
}

/// Sums over a set of days.
struct Window<'a> {
    counters: &'a DayCounters,
    days: Vec<String>,
}

impl Window<'_> {
    fn sum(&self, name: &str) -> i64 {
        self.days
            .iter()
            .filter_map(|d| self.counters.get(d)?.get(name))
            .sum()
    }

    fn names(&self) -> BTreeSet<&str> {
        self.days
            .iter()
            .filter_map(|d| self.counters.get(d))
            .flat_map(|m| m.keys().map(String::as_str))
            .collect()
    }
}

/// The two windows a figure compares.
struct Compare<'a> {
    now: Window<'a>,
    before: Window<'a>,
}

impl Compare<'_> {
    fn fig(&self, name: &str) -> Figure {
        Figure::new(self.now.sum(name), self.before.sum(name))
    }

    fn pair(&self, name: &str) -> (i64, i64) {
        (self.now.sum(name), self.before.sum(name))
    }

    fn names_with_prefix(&self, prefix: &str) -> BTreeSet<String> {
        self.now
            .names()
            .into_iter()
            .chain(self.before.names())
            .filter(|n| n.starts_with(prefix))
            .map(str::to_owned)
            .collect()
    }
}

fn day_strings(days: Vec<Date>) -> Vec<String> {
    days.into_iter().map(|d| d.to_string()).collect()
}

/// Builds the report of `period` from the counters of (at least) `days_needed(period)`.
pub fn build(ctx: &ReportContext, period: Period, counters: &DayCounters) -> Report {
    let tz = TimeZone::get(&ctx.timezone).unwrap_or(TimeZone::UTC);
    let previous = period.previous();
    let c = Compare {
        now: Window {
            counters,
            days: day_strings(period.days()),
        },
        before: Window {
            counters,
            days: day_strings(previous.days()),
        },
    };
    let conversations = conversations(&c, period.kind());
    let leads = leads(&c);
    let loyalty = loyalty(&c, period.kind(), &ctx.partner_names);
    let sales = sales(&c, &ctx.sales_currency);
    let ai = ai(&c, ctx, period, counters, &conversations.conversations);
    let days = c
        .now
        .days
        .iter()
        .map(|day| DayRow {
            day: day.clone(),
            metrics: counters.get(day).cloned().unwrap_or_default(),
        })
        .collect();
    Report {
        schema: SCHEMA_VERSION,
        tenant: ctx.tenant.clone(),
        tenant_name: ctx.tenant_name.clone(),
        timezone: ctx.timezone.clone(),
        language: ctx.language.clone(),
        currency: ctx.currency.clone(),
        period: PeriodInfo::new(period, &tz),
        previous_period: PeriodInfo::new(previous, &tz),
        conversations,
        leads,
        loyalty,
        sales,
        ai,
        days,
    }
}

fn by_kind<'a>(kind: ReportPeriodKind, day: &'a str, week: &'a str, month: &'a str) -> &'a str {
    match kind {
        ReportPeriodKind::Daily => day,
        ReportPeriodKind::Weekly => week,
        ReportPeriodKind::Monthly => month,
    }
}

/// The smallest histogram bound whose cumulative count reaches `quantile` of all replies.
fn latency_quantile(w: &Window<'_>, quantile: f64) -> (i64, Option<u32>, bool) {
    let buckets: Vec<(u32, i64)> = metric::LATENCY_BUCKETS_MS
        .iter()
        .map(|bound| (*bound, w.sum(&metric::latency_bucket(u64::from(*bound)))))
        .collect();
    let total = buckets.iter().map(|(_, n)| n).sum::<i64>() + w.sum(metric::LATENCY_OVERFLOW);
    if total == 0 {
        return (0, None, false);
    }
    let needed = (quantile * total as f64).ceil() as i64;
    let mut cumulative = 0;
    for (bound, n) in buckets {
        cumulative += n;
        if cumulative >= needed {
            return (total, Some(bound), false);
        }
    }
    (total, None, true)
}

fn conversations(c: &Compare<'_>, kind: ReportPeriodKind) -> Conversations {
    let distinct = by_kind(
        kind,
        metric::CONVERSATIONS_DAY,
        metric::CONVERSATIONS_WEEK,
        metric::CONVERSATIONS_MONTH,
    );
    let (llm, fallback) = (
        c.pair(metric::REPLIES_LLM),
        c.pair(metric::REPLIES_FALLBACK),
    );
    let fallback_reasons = c
        .names_with_prefix("fallback_")
        .into_iter()
        .map(|name| {
            let reason = name["fallback_".len()..].to_owned();
            (reason, c.fig(&name))
        })
        .collect();
    let (replies, median, median_above) = latency_quantile(&c.now, 0.5);
    let (_, p90, p90_above) = latency_quantile(&c.now, 0.9);
    let (_, previous_median, _) = latency_quantile(&c.before, 0.5);
    Conversations {
        conversations: c.fig(distinct),
        messages_in: c.fig(metric::MESSAGES_IN),
        messages_out: c.fig(metric::MESSAGES_OUT),
        contacts_new: c.fig(metric::CONTACTS_NEW),
        replies_llm: Figure::new(llm.0, llm.1),
        replies_fallback: Figure::new(fallback.0, fallback.1),
        llm_share: Rate::share(llm, (llm.0 + fallback.0, llm.1 + fallback.1)),
        fallback_reasons,
        replies_not_sent: c.fig(metric::REPLIES_NOT_SENT),
        handoffs: c.fig(metric::HANDOFFS),
        rate_limited: c.fig(metric::RATE_LIMITED),
        latency: Latency {
            replies,
            median_le_ms: median,
            median_above_max: median_above,
            p90_le_ms: p90,
            p90_above_max: p90_above,
            previous_median_le_ms: previous_median,
        },
    }
}

fn leads(c: &Compare<'_>) -> Leads {
    let mut sources: BTreeSet<String> = LEAD_SOURCES.iter().map(|s| (*s).to_owned()).collect();
    sources.extend(
        c.names_with_prefix("leads_new_")
            .into_iter()
            .map(|n| n["leads_new_".len()..].to_owned()),
    );
    let new_by_source: BTreeMap<String, Figure> = sources
        .into_iter()
        .map(|s| {
            let f = c.fig(&metric::leads_new(&s));
            (s, f)
        })
        .collect();
    let new_total = Figure::new(
        new_by_source.values().map(|f| f.value).sum(),
        new_by_source.values().map(|f| f.previous).sum(),
    );
    let stages = Stage::ALL
        .iter()
        .map(|s| StageFigure {
            stage: s.as_str().to_owned(),
            entered: c.fig(&metric::leads_entered(s.as_str())),
        })
        .collect();
    let conversion = Stage::FUNNEL
        .windows(2)
        .map(|pair| {
            let from = c.pair(&metric::leads_entered(pair[0].as_str()));
            let to = c.pair(&metric::leads_entered(pair[1].as_str()));
            Conversion {
                from: pair[0].as_str().to_owned(),
                to: pair[1].as_str().to_owned(),
                rate: Rate::share(to, from),
            }
        })
        .collect();
    Leads {
        new_total,
        new_by_source,
        stages,
        conversion,
        won: c.fig(metric::LEADS_WON),
        lost: c.fig(metric::LEADS_LOST),
        merged: c.fig(metric::LEADS_MERGED),
        crm_delivered: c.fig(metric::CRM_DELIVERED),
        crm_attempts_failed: c.fig(metric::CRM_ATTEMPTS_FAILED),
        crm_gave_up: c.fig(metric::CRM_GAVE_UP),
    }
}

fn nps_of(c: &Compare<'_>, name: impl Fn(&str) -> String) -> Nps {
    let get = |w: &Window<'_>| {
        [
            w.sum(&name("nps_count")),
            w.sum(&name("nps_sum")),
            w.sum(&name("nps_promoters")),
            w.sum(&name("nps_detractors")),
        ]
    };
    Nps::new(get(&c.now), get(&c.before))
}

fn loyalty(c: &Compare<'_>, kind: ReportPeriodKind, names: &BTreeMap<String, String>) -> Loyalty {
    let active = by_kind(
        kind,
        metric::LOYALTY_ACTIVE_DAY,
        metric::LOYALTY_ACTIVE_WEEK,
        metric::LOYALTY_ACTIVE_MONTH,
    );
    let ids: BTreeSet<String> = c
        .names_with_prefix("p_")
        .iter()
        .filter_map(|n| parse_partner_metric(n).map(|(pid, _)| pid.to_owned()))
        .collect();
    let mut partners: Vec<PartnerStats> = ids
        .iter()
        .map(|pid| {
            let p = |figure: &str| metric::partner(pid, figure);
            PartnerStats {
                partner_id: pid.clone(),
                name: names.get(pid).cloned().unwrap_or_else(|| pid.clone()),
                turnover_minor: c.fig(&p("turnover_minor")),
                purchases: c.fig(&p("purchases")),
                accrued: c.fig(&p("accrued")),
                redeemed: c.fig(&p("redeemed")),
                nps: nps_of(c, |figure| metric::partner(pid, figure)),
            }
        })
        .collect();
    partners.sort_by(|a, b| {
        b.turnover_minor
            .value
            .cmp(&a.turnover_minor.value)
            .then_with(|| a.partner_id.cmp(&b.partner_id))
    });
    // Over all partners: the sums of their rating counters.
    let total = |w: &Window<'_>| {
        let mut t = [0i64; 4];
        for pid in &ids {
            for (i, figure) in ["nps_count", "nps_sum", "nps_promoters", "nps_detractors"]
                .iter()
                .enumerate()
            {
                t[i] += w.sum(&metric::partner(pid, figure));
            }
        }
        t
    };
    Loyalty {
        accrued: c.fig(metric::LOYALTY_ACCRUED),
        redeemed: c.fig(metric::LOYALTY_REDEEMED),
        expired: c.fig(metric::LOYALTY_EXPIRED),
        welcome: c.fig(metric::LOYALTY_WELCOME),
        referral_bonus: c.fig(metric::LOYALTY_REFERRAL_BONUS),
        referral_joins: c.fig(metric::LOYALTY_REFERRAL_JOINS),
        members_new: c.fig(metric::LOYALTY_MEMBERS_NEW),
        active_members: c.fig(active),
        purchases: c.fig(metric::LOYALTY_PURCHASES),
        turnover_minor: c.fig(metric::LOYALTY_TURNOVER_MINOR),
        nps: Nps::new(total(&c.now), total(&c.before)),
        partners,
    }
}

impl Sales {
    fn empty() -> Self {
        sales(
            &Compare {
                now: Window {
                    counters: &BTreeMap::new(),
                    days: Vec::new(),
                },
                before: Window {
                    counters: &BTreeMap::new(),
                    days: Vec::new(),
                },
            },
            "",
        )
    }
}

fn average(revenue: i64, orders: i64) -> Option<i64> {
    (orders != 0).then(|| (revenue as f64 / orders as f64).round() as i64)
}

fn sales(c: &Compare<'_>, currency: &str) -> Sales {
    let revenue = c.fig(metric::ORDERS_REVENUE_MINOR);
    let paid = c.fig(metric::ORDERS_PAID);
    let refunded = c.fig(metric::ORDERS_REFUNDED_MINOR);
    let mut methods: Vec<MethodSales> = c
        .names_with_prefix("orders_paid_")
        .into_iter()
        .chain(
            c.names_with_prefix("orders_revenue_")
                .into_iter()
                .filter(|n| n.ends_with("_minor") && n != metric::ORDERS_REVENUE_MINOR)
                .map(|n| {
                    let provider = &n["orders_revenue_".len()..n.len() - "_minor".len()];
                    metric::orders_paid_by(provider)
                }),
        )
        .collect::<BTreeSet<String>>()
        .into_iter()
        .map(|n| {
            let provider = n["orders_paid_".len()..].to_owned();
            MethodSales {
                orders: c.fig(&n),
                revenue_minor: c.fig(&metric::orders_revenue_by(&provider)),
                provider,
            }
        })
        .collect();
    methods.sort_by(|a, b| {
        b.revenue_minor
            .value
            .cmp(&a.revenue_minor.value)
            .then_with(|| a.provider.cmp(&b.provider))
    });
    let mut top_products: Vec<ProductSales> = c
        .now
        .names()
        .into_iter()
        .filter_map(|n| n.strip_prefix(metric::SKU_REVENUE_PREFIX))
        .map(|sku| ProductSales {
            sku: sku.to_owned(),
            revenue_minor: c.fig(&format!("{}{sku}", metric::SKU_REVENUE_PREFIX)),
            units: c.fig(&format!("{}{sku}", metric::SKU_UNITS_PREFIX)),
        })
        .filter(|p| p.revenue_minor.value > 0 || p.units.value > 0)
        .collect();
    top_products.sort_by(|a, b| {
        b.revenue_minor
            .value
            .cmp(&a.revenue_minor.value)
            .then_with(|| a.sku.cmp(&b.sku))
    });
    top_products.truncate(TOP_PRODUCTS);
    Sales {
        currency: currency.to_owned(),
        orders_placed: c.fig(metric::ORDERS_PLACED),
        average_order_minor: average(revenue.value, paid.value),
        previous_average_order_minor: average(revenue.previous, paid.previous),
        net_revenue_minor: Figure::new(
            revenue.value - refunded.value,
            revenue.previous - refunded.previous,
        ),
        orders_paid: paid,
        revenue_minor: revenue,
        refunds: c.fig(metric::ORDERS_REFUNDS),
        refunded_minor: refunded,
        canceled: c.fig(metric::ORDERS_CANCELED),
        expired: c.fig(metric::ORDERS_EXPIRED),
        overpaid: c.fig(metric::ORDERS_OVERPAID),
        payment_mismatch: c.fig(metric::ORDERS_PAYMENT_MISMATCH),
        payment_failed: c.fig(metric::ORDERS_PAYMENT_FAILED),
        methods,
        top_products,
    }
}

fn per_conversation(cost: i64, conversations: i64) -> Option<i64> {
    (conversations != 0).then(|| (cost as f64 / conversations as f64).round() as i64)
}

fn ai(
    c: &Compare<'_>,
    ctx: &ReportContext,
    period: Period,
    counters: &DayCounters,
    conversations: &Figure,
) -> Ai {
    let cost = c.fig(metric::AI_COST_MICROS);
    let (prompt, completion) = (
        c.pair(metric::AI_PROMPT_TOKENS),
        c.pair(metric::AI_COMPLETION_TOKENS),
    );
    let month = period.budget_month();
    let mut running = 0;
    let cumulative: Vec<DayValue> = month
        .days()
        .into_iter()
        .filter(|d| *d <= period.last_day())
        .map(|d| {
            let day = d.to_string();
            running += counters
                .get(&day)
                .and_then(|m| m.get(metric::AI_COST_MICROS))
                .copied()
                .unwrap_or(0);
            DayValue {
                day,
                value: running,
            }
        })
        .collect();
    let budget = ctx.monthly_budget_micros.filter(|b| *b > 0);
    Ai {
        calls: c.fig(metric::AI_CALLS),
        prompt_tokens: Figure::new(prompt.0, prompt.1),
        completion_tokens: Figure::new(completion.0, completion.1),
        tokens_total: Figure::new(prompt.0 + completion.0, prompt.1 + completion.1),
        cost_per_conversation_micros: per_conversation(cost.value, conversations.value),
        previous_cost_per_conversation_micros: per_conversation(
            cost.previous,
            conversations.previous,
        ),
        cost_micros: cost,
        budget: Budget {
            month: month.to_string(),
            monthly_budget_micros: ctx.monthly_budget_micros,
            month_to_date_cost_micros: running,
            used_pct: budget.and_then(|b| percent(running, b)).map(round1),
            cumulative,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ReportContext {
        ReportContext {
            tenant: "acme".into(),
            tenant_name: "Acme".into(),
            timezone: "UTC".into(),
            language: "en".into(),
            currency: "KZT".into(),
            monthly_budget_micros: Some(10_000_000),
            partner_names: BTreeMap::from([("cafe-1".to_owned(), "Cafe One".to_owned())]),
            sales_currency: "KZT".into(),
        }
    }

    fn day(counters: &mut DayCounters, day: &str, pairs: &[(&str, i64)]) {
        let m = counters.entry(day.to_owned()).or_default();
        for (k, v) in pairs {
            *m.entry((*k).to_owned()).or_default() += v;
        }
    }

    #[test]
    fn figures_compare_with_the_previous_period() {
        assert_eq!(Figure::new(150, 100).change_pct, Some(50.0));
        assert_eq!(Figure::new(0, 3).change_pct, Some(-100.0));
        assert_eq!(Figure::new(5, 0).change_pct, None);
        assert_eq!(Figure::new(2, 3).change_pct, Some(-33.3));
        let r = Rate::share((1, 1), (3, 4));
        assert_eq!(
            (r.value, r.previous, r.change_pts),
            (Some(33.3), Some(25.0), Some(8.3))
        );
        assert_eq!(Rate::share((0, 0), (0, 0)).value, None);
    }

    #[test]
    fn median_latency_is_the_smallest_bound_reaching_half() {
        let mut c = DayCounters::new();
        day(
            &mut c,
            "2026-11-02",
            &[
                ("latency_le_500", 2),
                ("latency_le_1500", 2),
                ("latency_le_inf", 1),
            ],
        );
        let r = build(&ctx(), Period::parse("2026-11-02").unwrap(), &c);
        // 5 replies: the 3rd is in the 1500 bucket; the 5th (p90) above 60 s.
        assert_eq!(r.conversations.latency.replies, 5);
        assert_eq!(r.conversations.latency.median_le_ms, Some(1500));
        assert_eq!(r.conversations.latency.p90_le_ms, None);
        assert!(r.conversations.latency.p90_above_max);
        let mut even = DayCounters::new();
        day(
            &mut even,
            "2026-11-02",
            &[("latency_le_500", 2), ("latency_le_1500", 2)],
        );
        let r = build(&ctx(), Period::parse("2026-11-02").unwrap(), &even);
        assert_eq!(
            r.conversations.latency.median_le_ms,
            Some(500),
            "2 of 4 reach half"
        );
    }

    #[test]
    fn distinct_counts_use_the_counter_of_the_report_kind() {
        let mut c = DayCounters::new();
        // Monday and Tuesday of 2026-W48; the same contact wrote on both days.
        day(
            &mut c,
            "2026-11-23",
            &[
                ("conversations_d", 1),
                ("conversations_w", 1),
                ("conversations_m", 0),
            ],
        );
        day(&mut c, "2026-11-24", &[("conversations_d", 1)]);
        let week = build(&ctx(), Period::parse("2026-W48").unwrap(), &c);
        assert_eq!(week.conversations.conversations.value, 1);
        let day_report = build(&ctx(), Period::parse("2026-11-24").unwrap(), &c);
        assert_eq!(day_report.conversations.conversations.value, 1);
        assert_eq!(day_report.conversations.conversations.previous, 1);
    }

    #[test]
    fn partners_funnel_and_budget() {
        let mut c = DayCounters::new();
        day(
            &mut c,
            "2026-11-10",
            &[
                ("p_cafe-1_turnover_minor", 500_000),
                ("p_cafe-1_nps_count", 4),
                ("p_cafe-1_nps_sum", 30),
                ("p_cafe-1_nps_promoters", 2),
                ("p_cafe-1_nps_detractors", 1),
                ("p_gym_purchases", 3),
                ("p_gym_bogus", 1),
                ("leads_stage_new", 10),
                ("leads_stage_qualification", 4),
                ("leads_new_form", 6),
                ("leads_new_agent", 4),
                ("leads_new_partner", 1),
                ("ai_cost_micros", 2_500_000),
                ("conversations_m", 5),
            ],
        );
        day(&mut c, "2026-11-01", &[("ai_cost_micros", 500_000)]);
        day(&mut c, "2026-10-31", &[("ai_cost_micros", 9_000_000)]);
        let r = build(&ctx(), Period::parse("2026-11").unwrap(), &c);
        let ids: Vec<&str> = r
            .loyalty
            .partners
            .iter()
            .map(|p| p.partner_id.as_str())
            .collect();
        assert_eq!(ids, ["cafe-1", "gym"]);
        assert_eq!(r.loyalty.partners[0].name, "Cafe One");
        assert_eq!(r.loyalty.partners[1].name, "gym");
        assert_eq!(r.loyalty.partners[0].nps.score.value, Some(25.0));
        assert_eq!(r.loyalty.partners[0].nps.average, Some(7.5));
        assert_eq!(r.loyalty.nps.count.value, 4);
        assert_eq!(r.leads.new_total.value, 11);
        assert_eq!(r.leads.new_by_source["partner"].value, 1);
        assert_eq!(r.leads.new_by_source["sweep"].value, 0);
        assert_eq!(r.leads.conversion[0].rate.value, Some(40.0));
        assert_eq!(r.leads.conversion[1].rate.value, Some(0.0));
        assert_eq!(
            r.leads.conversion[2].rate.value, None,
            "nobody entered warming"
        );
        assert_eq!(r.ai.cost_micros.value, 3_000_000);
        assert_eq!(r.ai.cost_micros.previous, 9_000_000);
        assert_eq!(r.ai.cost_per_conversation_micros, Some(600_000));
        assert_eq!(r.ai.budget.used_pct, Some(30.0));
        assert_eq!(r.ai.budget.cumulative.len(), 30);
        assert_eq!(r.ai.budget.cumulative[9].value, 3_000_000);
        assert_eq!(r.days.len(), 30);
    }

    #[test]
    fn days_needed_covers_comparison_and_budget_month() {
        // A week spanning two years: its days, the week before, and January to date.
        let days = days_needed(Period::parse("2026-W53").unwrap());
        assert_eq!(days.first().unwrap().to_string(), "2026-12-21");
        assert_eq!(days.last().unwrap().to_string(), "2027-01-03");
        assert_eq!(days.len(), 14);
        // Mid-month week: the budget month reaches back before the previous week.
        assert_eq!(days_needed(Period::parse("2026-W48").unwrap()).len(), 29);
        assert_eq!(days_needed(Period::parse("2026-11-24").unwrap()).len(), 24);
    }

    #[test]
    fn an_empty_tenant_gets_zeros() {
        let r = build(
            &ctx(),
            Period::parse("2026-W48").unwrap(),
            &DayCounters::new(),
        );
        assert_eq!(r.conversations.messages_in, Figure::new(0, 0));
        assert_eq!(r.conversations.latency.median_le_ms, None);
        assert!(r.loyalty.partners.is_empty());
        assert_eq!(r.ai.budget.used_pct, Some(0.0));
        assert_eq!(r.days.len(), 7);
    }

    #[test]
    fn sales_come_from_order_counters() {
        let mut c = DayCounters::new();
        day(
            &mut c,
            "2026-11-10",
            &[
                ("orders_placed", 5),
                ("orders_paid", 3),
                ("orders_revenue_minor", 100_000),
                ("orders_paid_kaspi", 2),
                ("orders_revenue_kaspi_minor", 70_000),
                ("orders_paid_stripe", 1),
                ("orders_revenue_stripe_minor", 30_000),
                ("orders_refunds", 1),
                ("orders_refunded_minor", 10_000),
                ("orders_expired", 1),
                ("sku_rev_PUMP-1", 90_000),
                ("sku_units_PUMP-1", 2),
                ("sku_rev_FILTER", 10_000),
                ("sku_units_FILTER", 4),
            ],
        );
        day(
            &mut c,
            "2026-10-10",
            &[
                ("orders_paid", 1),
                ("orders_revenue_minor", 40_000),
                ("orders_paid_telegram", 1),
                ("orders_revenue_telegram_minor", 40_000),
            ],
        );
        let r = build(&ctx(), Period::parse("2026-11").unwrap(), &c);
        let s = &r.sales;
        assert_eq!(s.currency, "KZT");
        assert_eq!((s.orders_placed.value, s.orders_paid.value), (5, 3));
        assert_eq!(s.revenue_minor, Figure::new(100_000, 40_000));
        assert_eq!(s.average_order_minor, Some(33_333));
        assert_eq!(s.previous_average_order_minor, Some(40_000));
        assert_eq!(s.net_revenue_minor.value, 90_000);
        assert_eq!(s.expired.value, 1);
        let methods: Vec<(&str, i64, i64)> = s
            .methods
            .iter()
            .map(|m| (m.provider.as_str(), m.orders.value, m.revenue_minor.value))
            .collect();
        assert_eq!(
            methods,
            [
                ("kaspi", 2, 70_000),
                ("stripe", 1, 30_000),
                ("telegram", 0, 0)
            ],
            "every method of either period, most revenue first"
        );
        let top: Vec<(&str, i64)> = s
            .top_products
            .iter()
            .map(|p| (p.sku.as_str(), p.units.value))
            .collect();
        assert_eq!(top, [("PUMP-1", 2), ("FILTER", 4)]);
        let json = serde_json::to_value(&r).unwrap();
        let mut old = json.clone();
        old.as_object_mut().unwrap().remove("sales");
        let back: Report = serde_json::from_value(old).unwrap();
        assert_eq!(
            back.sales.orders_paid,
            Figure::new(0, 0),
            "older reports still load"
        );
    }
}
