//! The report's three files and the managers' summary. All deterministic: the same
//! report renders to the same bytes, so re-runs are byte-identical.

use crate::chart::{self, Series};
use crate::i18n::{labels, Labels};
use crate::report::{Figure, Latency, Rate, Report};
use askama::Template;
use sauda_shared::funnel::Stage;
use sauda_shared::stats::metric;
use sauda_shared::telegram_api::escape_html;
use std::collections::BTreeSet;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("render json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("render csv: {0}")]
    Csv(String),
    #[error("render html: {0}")]
    Html(#[from] askama::Error),
}

/// `report.json`: the machine-readable source of truth.
pub fn json(report: &Report) -> Result<Vec<u8>, RenderError> {
    let mut out = serde_json::to_vec_pretty(report)?;
    out.push(b'\n');
    Ok(out)
}

/// Every counter a capability writes, in a stable column order; extra names found in
/// the data (fallback reasons, partners, new sources) follow, sorted.
pub fn known_columns() -> Vec<String> {
    let mut cols: Vec<String> = [
        metric::CONVERSATIONS_DAY,
        metric::CONVERSATIONS_WEEK,
        metric::CONVERSATIONS_MONTH,
        metric::MESSAGES_IN,
        metric::MESSAGES_OUT,
        metric::CONTACTS_NEW,
        metric::REPLIES_LLM,
        metric::REPLIES_FALLBACK,
        metric::REPLIES_NOT_SENT,
        metric::RATE_LIMITED,
        metric::HANDOFFS,
        metric::AI_CALLS,
        metric::AI_PROMPT_TOKENS,
        metric::AI_COMPLETION_TOKENS,
        metric::AI_COST_MICROS,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    cols.extend(
        metric::LATENCY_BUCKETS_MS
            .iter()
            .map(|b| metric::latency_bucket(u64::from(*b))),
    );
    cols.push(metric::LATENCY_OVERFLOW.to_owned());
    cols.extend(
        crate::report::LEAD_SOURCES
            .iter()
            .map(|s| metric::leads_new(s)),
    );
    cols.extend(Stage::ALL.iter().map(|s| metric::leads_entered(s.as_str())));
    cols.extend(
        [
            metric::LEADS_WON,
            metric::LEADS_LOST,
            metric::LEADS_MERGED,
            metric::CRM_DELIVERED,
            metric::CRM_ATTEMPTS_FAILED,
            metric::CRM_GAVE_UP,
            metric::LOYALTY_ACCRUED,
            metric::LOYALTY_REDEEMED,
            metric::LOYALTY_EXPIRED,
            metric::LOYALTY_WELCOME,
            metric::LOYALTY_REFERRAL_BONUS,
            metric::LOYALTY_REFERRAL_JOINS,
            metric::LOYALTY_MEMBERS_NEW,
            metric::LOYALTY_PURCHASES,
            metric::LOYALTY_TURNOVER_MINOR,
            metric::LOYALTY_ACTIVE_DAY,
            metric::LOYALTY_ACTIVE_WEEK,
            metric::LOYALTY_ACTIVE_MONTH,
            metric::NOTICES_SENT,
            metric::NOTICES_UNDELIVERABLE,
        ]
        .iter()
        .map(|s| (*s).to_owned()),
    );
    cols
}

/// `report.csv`: one row per day of the period, one column per metric.
pub fn csv(report: &Report) -> Result<Vec<u8>, RenderError> {
    let mut columns = known_columns();
    let known: BTreeSet<String> = columns.iter().cloned().collect();
    let extra: BTreeSet<&String> = report
        .days
        .iter()
        .flat_map(|d| d.metrics.keys())
        .filter(|k| !known.contains(*k))
        .collect();
    columns.extend(extra.into_iter().cloned());
    let mut writer = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| RenderError::Csv(e.to_string());
    let mut header = vec!["day".to_owned()];
    header.extend(columns.iter().cloned());
    writer.write_record(&header).map_err(err)?;
    for day in &report.days {
        let mut row = vec![day.day.clone()];
        row.extend(
            columns
                .iter()
                .map(|c| day.metrics.get(c).copied().unwrap_or(0).to_string()),
        );
        writer.write_record(&row).map_err(err)?;
    }
    writer
        .into_inner()
        .map_err(|e| RenderError::Csv(e.to_string()))
}

// ---- formatting --------------------------------------------------------------------

fn group_digits(n: u64, sep: &str) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(c);
    }
    out
}

pub struct Fmt {
    pub l: &'static Labels,
    pub currency: String,
}

impl Fmt {
    pub fn new(report: &Report) -> Self {
        Self {
            l: labels(&report.language),
            currency: report.currency.clone(),
        }
    }

    fn sep(&self) -> &'static str {
        if self.l.lang == "en" {
            ","
        } else {
            "\u{a0}"
        }
    }

    pub fn int(&self, n: i64) -> String {
        let sign = if n < 0 { "-" } else { "" };
        format!("{sign}{}", group_digits(n.unsigned_abs(), self.sep()))
    }

    fn decimal(&self, whole: i64, frac: i64, digits: usize) -> String {
        let point = if self.l.lang == "en" { "." } else { "," };
        format!("{}{point}{frac:0digits$}", self.int(whole))
    }

    /// USD from micros: 2 decimals, 4 under a cent.
    pub fn usd(&self, micros: i64) -> String {
        let sign = if micros < 0 { "-" } else { "" };
        let m = micros.abs();
        if m != 0 && m < 10_000 {
            format!("{sign}${}", self.decimal(0, (m + 50) / 100, 4))
        } else {
            let cents = (m + 5_000) / 10_000;
            format!("{sign}${}", self.decimal(cents / 100, cents % 100, 2))
        }
    }

    /// An amount in the currency's minor units (1/100).
    pub fn money(&self, minor: i64) -> String {
        let sign = if minor < 0 { "-" } else { "" };
        let m = minor.abs();
        format!(
            "{sign}{} {}",
            self.decimal(m / 100, m % 100, 2),
            self.currency
        )
    }

    pub fn pct(&self, v: Option<f64>) -> String {
        match v {
            Some(v) => format!("{}%", self.float1(v)),
            None => self.l.none.to_owned(),
        }
    }

    fn float1(&self, v: f64) -> String {
        let s = format!("{v:.1}");
        if self.l.lang == "en" {
            s
        } else {
            s.replace('.', ",")
        }
    }

    pub fn change(&self, f: &Figure) -> (String, &'static str) {
        match f.change_pct {
            Some(p) if p > 0.0 => (format!("+{}%", self.float1(p)), "up"),
            Some(p) if p < 0.0 => (format!("−{}%", self.float1(-p)), "down"),
            Some(_) => ("0%".to_owned(), "flat"),
            None if f.value > 0 => ("+∞".to_owned(), "up"),
            None => (self.l.none.to_owned(), "flat"),
        }
    }

    pub fn rate_change(&self, r: &Rate) -> (String, &'static str) {
        match r.change_pts {
            Some(p) if p > 0.0 => (format!("+{} pp", self.float1(p)), "up"),
            Some(p) if p < 0.0 => (format!("−{} pp", self.float1(-p)), "down"),
            Some(_) => ("0 pp".to_owned(), "flat"),
            None => (self.l.none.to_owned(), "flat"),
        }
    }

    pub fn latency(&self, le_ms: Option<u32>, above: bool) -> String {
        match le_ms {
            Some(ms) if ms < 1000 => format!("≤ {ms} ms"),
            Some(ms) => format!("≤ {} s", self.float1(f64::from(ms) / 1000.0)),
            None if above => format!("{} 60 s", self.l.above),
            None => self.l.none.to_owned(),
        }
    }
}

// ---- HTML ----------------------------------------------------------------------------

pub struct Row {
    pub label: String,
    pub value: String,
    pub previous: String,
    pub change: String,
    pub trend: &'static str,
}

pub struct Section {
    pub id: &'static str,
    pub title: String,
    pub rows: Vec<Row>,
    /// Inline SVG shown above the table; empty for none.
    pub charts: Vec<String>,
}

pub struct Tile {
    pub label: String,
    pub value: String,
    pub change: String,
    pub trend: &'static str,
}

pub struct PartnerRow {
    pub name: String,
    pub turnover: String,
    pub purchases: String,
    pub accrued: String,
    pub redeemed: String,
    pub nps: String,
    pub ratings: String,
}

#[derive(Template)]
#[template(path = "report.html")]
struct Page<'a> {
    lang: &'a str,
    title: String,
    tenant_name: &'a str,
    subtitle: String,
    tiles: Vec<Tile>,
    sections: Vec<Section>,
    partners: Vec<PartnerRow>,
    l: &'static Labels,
}

impl Fmt {
    fn row(&self, label: impl Into<String>, f: &Figure, show: impl Fn(i64) -> String) -> Row {
        let (change, trend) = self.change(f);
        Row {
            label: label.into(),
            value: show(f.value),
            previous: show(f.previous),
            change,
            trend,
        }
    }

    fn count(&self, label: impl Into<String>, f: &Figure) -> Row {
        self.row(label, f, |n| self.int(n))
    }

    fn rate(&self, label: impl Into<String>, r: &Rate) -> Row {
        let (change, trend) = self.rate_change(r);
        Row {
            label: label.into(),
            value: self.pct(r.value),
            previous: self.pct(r.previous),
            change,
            trend,
        }
    }

    fn tile(&self, label: &str, f: &Figure, show: impl Fn(i64) -> String) -> Tile {
        let (change, trend) = self.change(f);
        Tile {
            label: label.to_owned(),
            value: show(f.value),
            change,
            trend,
        }
    }
}

fn latency_row(fmt: &Fmt, label: &str, lat: &Latency) -> Row {
    Row {
        label: label.to_owned(),
        value: fmt.latency(lat.median_le_ms, lat.median_above_max),
        previous: fmt.latency(lat.previous_median_le_ms, false),
        change: String::new(),
        trend: "flat",
    }
}

/// Short day labels (day of month) for chart axes, full dates for tooltips.
fn day_labels(report: &Report) -> (Vec<String>, Vec<String>) {
    let full: Vec<String> = report.days.iter().map(|d| d.day.clone()).collect();
    let short = full
        .iter()
        .map(|d| d.get(8..10).unwrap_or(d).trim_start_matches('0').to_owned())
        .collect();
    (short, full)
}

fn day_series(report: &Report, name: &str) -> Vec<i64> {
    report
        .days
        .iter()
        .map(|d| d.metrics.get(name).copied().unwrap_or(0))
        .collect()
}

pub fn messages_chart(report: &Report, fmt: &Fmt) -> String {
    let (short, full) = day_labels(report);
    let l = fmt.l;
    chart::grouped_bars(
        "chart-messages",
        l.chart_messages,
        &short,
        &full,
        &[
            Series {
                name: metric::MESSAGES_IN,
                legend: l.messages_in.to_owned(),
                color: "#2563eb",
                values: day_series(report, metric::MESSAGES_IN),
            },
            Series {
                name: metric::MESSAGES_OUT,
                legend: l.messages_out.to_owned(),
                color: "#10b981",
                values: day_series(report, metric::MESSAGES_OUT),
            },
        ],
        &|v| fmt.int(v),
    )
}

pub fn funnel_chart(report: &Report, fmt: &Fmt) -> String {
    let items: Vec<(String, String, i64)> = report
        .leads
        .stages
        .iter()
        .map(|s| (s.stage.clone(), fmt.l.stage(&s.stage), s.entered.value))
        .collect();
    chart::horizontal_bars(
        "chart-funnel",
        fmt.l.chart_funnel,
        "leads_entered",
        &items,
        "#7c3aed",
    )
}

pub fn loyalty_chart(report: &Report, fmt: &Fmt) -> String {
    let (short, full) = day_labels(report);
    let l = fmt.l;
    chart::grouped_bars(
        "chart-loyalty",
        l.chart_loyalty,
        &short,
        &full,
        &[
            Series {
                name: metric::LOYALTY_ACCRUED,
                legend: l.accrued.to_owned(),
                color: "#f59e0b",
                values: day_series(report, metric::LOYALTY_ACCRUED),
            },
            Series {
                name: metric::LOYALTY_REDEEMED,
                legend: l.redeemed.to_owned(),
                color: "#0ea5e9",
                values: day_series(report, metric::LOYALTY_REDEEMED),
            },
        ],
        &|v| fmt.int(v),
    )
}

pub fn ai_chart(report: &Report, fmt: &Fmt) -> String {
    let budget = &report.ai.budget;
    let full: Vec<String> = budget.cumulative.iter().map(|d| d.day.clone()).collect();
    let short: Vec<String> = full
        .iter()
        .map(|d| d.get(8..10).unwrap_or(d).trim_start_matches('0').to_owned())
        .collect();
    let l = fmt.l;
    let title = format!("{} ({})", l.chart_ai, budget.month);
    chart::line_against_limit(
        "chart-ai",
        &title,
        &short,
        &full,
        &Series {
            name: "ai_cost_cumulative_micros",
            legend: l.cost.to_owned(),
            color: "#2563eb",
            values: budget.cumulative.iter().map(|d| d.value).collect(),
        },
        budget
            .monthly_budget_micros
            .map(|b| ("monthly_budget_micros", l.budget, b)),
        &|v| fmt.usd(v),
    )
}

/// `report.html`: self-contained (inline CSS and SVG, no external assets), printable.
pub fn html(report: &Report) -> Result<Vec<u8>, RenderError> {
    let fmt = Fmt::new(report);
    let l = fmt.l;
    let c = &report.conversations;
    let leads = &report.leads;
    let loyalty = &report.loyalty;
    let ai = &report.ai;
    let points = |n: i64| format!("{} {}", fmt.int(n), l.points);
    let money = |n: i64| fmt.money(n);
    let usd = |n: i64| fmt.usd(n);

    let tiles = vec![
        fmt.tile(l.conversations, &c.conversations, |n| fmt.int(n)),
        fmt.tile(l.leads_new, &leads.new_total, |n| fmt.int(n)),
        fmt.tile(l.won, &leads.won, |n| fmt.int(n)),
        fmt.tile(l.accrued, &loyalty.accrued, |n| fmt.int(n)),
        fmt.tile(l.cost, &ai.cost_micros, usd),
    ];

    let mut conv_rows = vec![
        fmt.count(l.conversations, &c.conversations),
        fmt.count(l.messages_in, &c.messages_in),
        fmt.count(l.messages_out, &c.messages_out),
        fmt.count(l.contacts_new, &c.contacts_new),
        fmt.count(l.replies_llm, &c.replies_llm),
        fmt.count(l.replies_fallback, &c.replies_fallback),
        fmt.rate(l.llm_share, &c.llm_share),
    ];
    for (reason, f) in &c.fallback_reasons {
        conv_rows.push(fmt.count(
            format!("{}: {}", l.fallback_reason, l.fallback_reason(reason)),
            f,
        ));
    }
    conv_rows.extend([
        latency_row(&fmt, l.median_latency, &c.latency),
        Row {
            label: l.p90_latency.to_owned(),
            value: fmt.latency(c.latency.p90_le_ms, c.latency.p90_above_max),
            previous: String::new(),
            change: String::new(),
            trend: "flat",
        },
        fmt.count(l.handoffs, &c.handoffs),
        fmt.count(l.replies_not_sent, &c.replies_not_sent),
        fmt.count(l.rate_limited, &c.rate_limited),
    ]);

    let mut lead_rows = vec![fmt.count(l.leads_new, &leads.new_total)];
    for (source, f) in &leads.new_by_source {
        lead_rows.push(fmt.count(format!("{} · {}", l.source, l.source(source)), f));
    }
    for s in &leads.stages {
        lead_rows.push(fmt.count(format!("{} · {}", l.entered, l.stage(&s.stage)), &s.entered));
    }
    for conv in &leads.conversion {
        lead_rows.push(fmt.rate(
            format!(
                "{} {} → {}",
                l.conversion,
                l.stage(&conv.from),
                l.stage(&conv.to)
            ),
            &conv.rate,
        ));
    }
    lead_rows.extend([
        fmt.count(l.won, &leads.won),
        fmt.count(l.lost, &leads.lost),
        fmt.count(l.merged, &leads.merged),
        fmt.count(l.crm_delivered, &leads.crm_delivered),
        fmt.count(l.crm_failed, &leads.crm_attempts_failed),
        fmt.count(l.crm_gave_up, &leads.crm_gave_up),
    ]);

    let loyalty_rows = vec![
        fmt.row(l.accrued, &loyalty.accrued, points),
        fmt.row(l.redeemed, &loyalty.redeemed, points),
        fmt.row(l.expired, &loyalty.expired, points),
        fmt.row(l.welcome, &loyalty.welcome, points),
        fmt.row(l.referral_bonus, &loyalty.referral_bonus, points),
        fmt.count(l.referral_joins, &loyalty.referral_joins),
        fmt.count(l.members_new, &loyalty.members_new),
        fmt.count(l.active_members, &loyalty.active_members),
        fmt.count(l.purchases, &loyalty.purchases),
        fmt.row(l.turnover, &loyalty.turnover_minor, money),
        fmt.rate(format!("{} ({})", l.nps, l.partners), &loyalty.nps.score),
        fmt.count(l.ratings, &loyalty.nps.count),
    ];

    let budget = &ai.budget;
    let ai_rows = vec![
        fmt.count(l.ai_calls, &ai.calls),
        fmt.count(format!("{} (prompt)", l.tokens), &ai.prompt_tokens),
        fmt.count(format!("{} (completion)", l.tokens), &ai.completion_tokens),
        fmt.count(l.tokens, &ai.tokens_total),
        fmt.row(l.cost, &ai.cost_micros, usd),
        Row {
            label: l.cost_per_conversation.to_owned(),
            value: ai
                .cost_per_conversation_micros
                .map(usd)
                .unwrap_or_else(|| l.none.to_owned()),
            previous: ai
                .previous_cost_per_conversation_micros
                .map(usd)
                .unwrap_or_else(|| l.none.to_owned()),
            change: String::new(),
            trend: "flat",
        },
        Row {
            label: format!("{} ({})", l.budget, budget.month),
            value: budget
                .monthly_budget_micros
                .map(usd)
                .unwrap_or_else(|| l.no_budget.to_owned()),
            previous: String::new(),
            change: String::new(),
            trend: "flat",
        },
        Row {
            label: format!("{}, {}", l.cost, l.month_to_date),
            value: usd(budget.month_to_date_cost_micros),
            previous: String::new(),
            change: fmt.pct(budget.used_pct),
            trend: if budget.used_pct.is_some_and(|p| p > 100.0) {
                "down"
            } else {
                "flat"
            },
        },
    ];

    let partners = loyalty
        .partners
        .iter()
        .map(|p| PartnerRow {
            name: p.name.clone(),
            turnover: fmt.money(p.turnover_minor.value),
            purchases: fmt.int(p.purchases.value),
            accrued: fmt.int(p.accrued.value),
            redeemed: fmt.int(p.redeemed.value),
            nps: p
                .nps
                .score
                .value
                .map(|v| fmt.float1(v))
                .unwrap_or_else(|| l.none.to_owned()),
            ratings: fmt.int(p.nps.count.value),
        })
        .collect();

    let sections = vec![
        Section {
            id: "conversations",
            title: l.conversations_h.to_owned(),
            rows: conv_rows,
            charts: vec![messages_chart(report, &fmt)],
        },
        Section {
            id: "leads",
            title: l.leads_h.to_owned(),
            rows: lead_rows,
            charts: vec![funnel_chart(report, &fmt)],
        },
        Section {
            id: "loyalty",
            title: l.loyalty_h.to_owned(),
            rows: loyalty_rows,
            charts: vec![loyalty_chart(report, &fmt)],
        },
        Section {
            id: "ai",
            title: l.ai_h.to_owned(),
            rows: ai_rows,
            charts: vec![ai_chart(report, &fmt)],
        },
    ];

    let p = &report.period;
    let q = &report.previous_period;
    let span = if p.first_day == p.last_day {
        p.first_day.clone()
    } else {
        format!("{} – {}", p.first_day, p.last_day)
    };
    let page = Page {
        lang: l.lang,
        title: format!("{} {}", l.title(p.kind), p.id),
        tenant_name: &report.tenant_name,
        subtitle: format!(
            "{span} · {} · {} {} · {} {}",
            report.timezone, p.hours, l.hours, l.compared_with, q.id
        ),
        tiles,
        sections,
        partners,
        l,
    };
    Ok(page.render()?.into_bytes())
}

// ---- Telegram summary ----------------------------------------------------------------

/// The managers' short summary (Telegram HTML) with the key numbers and the link.
pub fn summary(report: &Report, link: &str) -> String {
    let fmt = Fmt::new(report);
    let l = fmt.l;
    let with_change = |f: &Figure, show: &dyn Fn(i64) -> String| {
        let (change, _) = fmt.change(f);
        format!("{} ({change})", show(f.value))
    };
    let int = |n: i64| fmt.int(n);
    let c = &report.conversations;
    let leads = &report.leads;
    let loyalty = &report.loyalty;
    let ai = &report.ai;
    let mut lines = vec![
        format!(
            "<b>{} {}</b> · {}",
            l.title(report.period.kind),
            report.period.id,
            escape_html(&report.tenant_name)
        ),
        format!(
            "💬 {}: {}",
            l.conversations,
            with_change(&c.conversations, &int)
        ),
        format!(
            "✉️ {}: {} · {}: {}",
            l.messages_in,
            fmt.int(c.messages_in.value),
            l.messages_out,
            fmt.int(c.messages_out.value)
        ),
        format!(
            "🎯 {}: {} · {}: {} · {}: {}",
            l.leads_new,
            with_change(&leads.new_total, &int),
            l.won,
            fmt.int(leads.won.value),
            l.lost,
            fmt.int(leads.lost.value)
        ),
    ];
    let loyalty_active = loyalty.accrued.value + loyalty.redeemed.value + loyalty.purchases.value;
    if loyalty_active > 0 || loyalty.active_members.previous > 0 {
        lines.push(format!(
            "⭐ {}: {} · {}: {} · {}: {}",
            l.accrued,
            fmt.int(loyalty.accrued.value),
            l.redeemed,
            fmt.int(loyalty.redeemed.value),
            l.active_members,
            fmt.int(loyalty.active_members.value)
        ));
    }
    let mut ai_line = format!(
        "🤖 {}: {}",
        l.cost,
        with_change(&ai.cost_micros, &|n| fmt.usd(n))
    );
    if let Some(used) = ai.budget.used_pct {
        ai_line.push_str(&format!(" · {}: {}", l.budget_used, fmt.pct(Some(used))));
    }
    if let Some(per) = ai.cost_per_conversation_micros {
        ai_line.push_str(&format!(" · {}: {}", l.cost_per_conversation, fmt.usd(per)));
    }
    lines.push(ai_line);
    lines.push(format!(
        "<a href=\"{}\">{}</a>",
        escape_html(link),
        l.open_report
    ));
    lines.join("\n")
}
