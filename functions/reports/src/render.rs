//! The report's three files and the managers' summary. All deterministic: the same
//! report renders to the same bytes, so re-runs are byte-identical.

use crate::chart::{self, Series};
use crate::report::{Figure, Latency, Rate, Report, Sales};
use askama::Template;
use sauda_shared::funnel::Stage;
use sauda_shared::i18n::{reports as t, Lang, Text};
use sauda_shared::stats::metric;
use sauda_shared::telegram_api::escape_html;
use sauda_shared::tenant::ReportPeriodKind;
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
            metric::ORDERS_PLACED,
            metric::ORDERS_PAID,
            metric::ORDERS_REVENUE_MINOR,
            metric::ORDERS_REFUNDS,
            metric::ORDERS_REFUNDED_MINOR,
            metric::ORDERS_CANCELED,
            metric::ORDERS_EXPIRED,
            metric::ORDERS_FULFILLED,
            metric::ORDERS_DELIVERED,
            metric::ORDERS_OVERPAID,
            metric::ORDERS_PAYMENT_MISMATCH,
            metric::ORDERS_PAYMENT_FAILED,
            metric::PAYMENTS_UNKNOWN_ORDER,
            metric::NOTICES_SENT,
            metric::NOTICES_UNDELIVERABLE,
        ]
        .iter()
        .map(|s| (*s).to_owned()),
    );
    cols
}

/// A cell a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, tab or carriage
/// return first) gets a leading `'`, as OWASP's CSV-injection guidance advises, so it
/// is shown as text. Metric names come from stored attribute names, so they are not
/// trusted. Integers (a negative count starts with `-`) stay numbers.
pub fn csv_cell(value: &str) -> std::borrow::Cow<'_, str> {
    let risky = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let integer = value
        .strip_prefix('-')
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
    if risky && !integer {
        format!("'{value}").into()
    } else {
        value.into()
    }
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
    writer
        .write_record(header.iter().map(|c| csv_cell(c).into_owned()))
        .map_err(err)?;
    for day in &report.days {
        let mut row = vec![day.day.clone()];
        row.extend(
            columns
                .iter()
                .map(|c| day.metrics.get(c).copied().unwrap_or(0).to_string()),
        );
        writer
            .write_record(row.iter().map(|c| csv_cell(c).into_owned()))
            .map_err(err)?;
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

/// What a report shows where there is no value.
const DASH: &str = "—";

pub struct Fmt {
    pub lang: Lang,
    pub currency: String,
}

impl Fmt {
    pub fn new(report: &Report) -> Self {
        Self {
            lang: Lang::parse(&report.language).unwrap_or(Lang::En),
            currency: report.currency.clone(),
        }
    }

    /// A text of the reports' catalog in the report's language.
    pub fn t(&self, text: &Text) -> &'static str {
        text.get(self.lang)
    }

    pub fn title(&self, kind: ReportPeriodKind) -> &'static str {
        self.t(t::title(kind))
    }

    /// A funnel stage's name, or its code when the catalog does not know it.
    pub fn stage(&self, code: &str) -> String {
        t::stage(code).map_or_else(|| code.to_owned(), |x| self.t(x).to_owned())
    }

    pub fn source(&self, code: &str) -> String {
        t::source(code).map_or_else(|| code.to_owned(), |x| self.t(x).to_owned())
    }

    pub fn fallback_reason(&self, code: &str) -> String {
        t::fallback_reason(code).map_or_else(|| code.to_owned(), |x| self.t(x).to_owned())
    }

    fn sep(&self) -> &'static str {
        if self.lang == Lang::En {
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
        let point = if self.lang == Lang::En { "." } else { "," };
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

    /// An amount of another currency (orders'), in its minor units: hundredths, or
    /// whole units for zero-decimal currencies (Telegram Stars).
    pub fn money_in(&self, minor: i64, currency: &str) -> String {
        if sauda_shared::order::is_zero_decimal(currency) {
            return format!("{} {currency}", self.int(minor));
        }
        let sign = if minor < 0 { "-" } else { "" };
        let m = minor.abs();
        format!("{sign}{} {currency}", self.decimal(m / 100, m % 100, 2))
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
            None => DASH.to_owned(),
        }
    }

    fn float1(&self, v: f64) -> String {
        let s = format!("{v:.1}");
        if self.lang == Lang::En {
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
            None => (DASH.to_owned(), "flat"),
        }
    }

    pub fn rate_change(&self, r: &Rate) -> (String, &'static str) {
        match r.change_pts {
            Some(p) if p > 0.0 => (self.pp(&format!("+{}", self.float1(p))), "up"),
            Some(p) if p < 0.0 => (self.pp(&format!("−{}", self.float1(-p))), "down"),
            Some(_) => (self.pp("0"), "flat"),
            None => (DASH.to_owned(), "flat"),
        }
    }

    /// A change in percentage points.
    fn pp(&self, change: &str) -> String {
        t::CHANGE_PP.render(self.lang, &[("change", &change)])
    }

    pub fn latency(&self, le_ms: Option<u32>, above: bool) -> String {
        match le_ms {
            Some(ms) if ms < 1000 => t::LATENCY_MS.render(self.lang, &[("ms", &ms)]),
            Some(ms) => self.seconds(&self.float1(f64::from(ms) / 1000.0)),
            None if above => t::ABOVE.render(self.lang, &[("s", &60)]),
            None => DASH.to_owned(),
        }
    }

    fn seconds(&self, s: &str) -> String {
        t::LATENCY_S.render(self.lang, &[("s", &s)])
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

pub struct ProductRow {
    pub sku: String,
    pub revenue: String,
    pub units: String,
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
    products: Vec<ProductRow>,
    h: Headings,
}

/// The fixed words of the page: table headings and the footer.
struct Headings {
    figure: &'static str,
    value: &'static str,
    previous: &'static str,
    change: &'static str,
    partners: &'static str,
    partner: &'static str,
    turnover: &'static str,
    purchases: &'static str,
    accrued: &'static str,
    redeemed: &'static str,
    nps: &'static str,
    ratings: &'static str,
    top_products: &'static str,
    product: &'static str,
    revenue: &'static str,
    units: &'static str,
    footer: &'static str,
}

impl Headings {
    fn new(fmt: &Fmt) -> Self {
        Self {
            figure: fmt.t(&t::FIGURE),
            value: fmt.t(&t::VALUE),
            previous: fmt.t(&t::PREVIOUS),
            change: fmt.t(&t::CHANGE),
            partners: fmt.t(&t::PARTNERS),
            partner: fmt.t(&t::PARTNER),
            turnover: fmt.t(&t::TURNOVER),
            purchases: fmt.t(&t::PURCHASES),
            accrued: fmt.t(&t::ACCRUED),
            redeemed: fmt.t(&t::REDEEMED),
            nps: fmt.t(&t::NPS),
            ratings: fmt.t(&t::RATINGS),
            top_products: fmt.t(&t::TOP_PRODUCTS),
            product: fmt.t(&t::PRODUCT),
            revenue: fmt.t(&t::REVENUE),
            units: fmt.t(&t::UNITS),
            footer: fmt.t(&t::FOOTER),
        }
    }
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

/// The names customers and managers know payment methods by.
pub fn method_name(provider: &str) -> &str {
    match provider {
        "telegram" => "Telegram",
        "telegram_stars" => "Telegram Stars",
        "stripe" => "Stripe",
        "kaspi" => "Kaspi",
        other => other,
    }
}

/// Whether the period or the one before had any order activity.
fn has_sales(s: &Sales) -> bool {
    [
        &s.orders_placed,
        &s.orders_paid,
        &s.revenue_minor,
        &s.refunds,
        &s.canceled,
        &s.expired,
    ]
    .iter()
    .any(|f| f.value != 0 || f.previous != 0)
}

fn sales_rows(fmt: &Fmt, s: &Sales) -> Vec<Row> {
    let l = |text: &Text| fmt.t(text);
    let money = |n: i64| fmt.money_in(n, &s.currency);
    let average = |v: Option<i64>| v.map(money).unwrap_or_else(|| DASH.to_owned());
    let mut rows = vec![
        fmt.count(l(&t::ORDERS_PLACED), &s.orders_placed),
        fmt.count(l(&t::ORDERS_PAID), &s.orders_paid),
        fmt.row(l(&t::REVENUE), &s.revenue_minor, money),
        Row {
            label: l(&t::AVERAGE_ORDER).to_owned(),
            value: average(s.average_order_minor),
            previous: average(s.previous_average_order_minor),
            change: String::new(),
            trend: "flat",
        },
        fmt.count(l(&t::REFUNDS), &s.refunds),
        fmt.row(l(&t::REFUNDED), &s.refunded_minor, money),
        fmt.row(l(&t::NET_REVENUE), &s.net_revenue_minor, money),
    ];
    for m in &s.methods {
        let name = method_name(&m.provider);
        rows.push(fmt.count(format!("{} · {name}", l(&t::ORDERS_PAID)), &m.orders));
        rows.push(fmt.row(
            format!("{} · {name}", l(&t::REVENUE)),
            &m.revenue_minor,
            money,
        ));
    }
    rows.extend([
        fmt.count(l(&t::ORDERS_CANCELED), &s.canceled),
        fmt.count(l(&t::ORDERS_EXPIRED), &s.expired),
        fmt.count(l(&t::ORDERS_OVERPAID), &s.overpaid),
        fmt.count(l(&t::PAYMENT_MISMATCH), &s.payment_mismatch),
        fmt.count(l(&t::PAYMENT_FAILED), &s.payment_failed),
    ]);
    rows
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
    let l = |text: &Text| fmt.t(text);
    chart::grouped_bars(
        "chart-messages",
        l(&t::CHART_MESSAGES),
        &short,
        &full,
        &[
            Series {
                name: metric::MESSAGES_IN,
                legend: l(&t::MESSAGES_IN).to_owned(),
                color: "#2563eb",
                values: day_series(report, metric::MESSAGES_IN),
            },
            Series {
                name: metric::MESSAGES_OUT,
                legend: l(&t::MESSAGES_OUT).to_owned(),
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
        .map(|s| (s.stage.clone(), fmt.stage(&s.stage), s.entered.value))
        .collect();
    chart::horizontal_bars(
        "chart-funnel",
        fmt.t(&t::CHART_FUNNEL),
        "leads_entered",
        &items,
        "#7c3aed",
    )
}

pub fn loyalty_chart(report: &Report, fmt: &Fmt) -> String {
    let (short, full) = day_labels(report);
    let l = |text: &Text| fmt.t(text);
    chart::grouped_bars(
        "chart-loyalty",
        l(&t::CHART_LOYALTY),
        &short,
        &full,
        &[
            Series {
                name: metric::LOYALTY_ACCRUED,
                legend: l(&t::ACCRUED).to_owned(),
                color: "#f59e0b",
                values: day_series(report, metric::LOYALTY_ACCRUED),
            },
            Series {
                name: metric::LOYALTY_REDEEMED,
                legend: l(&t::REDEEMED).to_owned(),
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
    let l = |text: &Text| fmt.t(text);
    let title = format!("{} ({})", l(&t::CHART_AI), budget.month);
    chart::line_against_limit(
        "chart-ai",
        &title,
        &short,
        &full,
        &Series {
            name: "ai_cost_cumulative_micros",
            legend: l(&t::COST).to_owned(),
            color: "#2563eb",
            values: budget.cumulative.iter().map(|d| d.value).collect(),
        },
        budget
            .monthly_budget_micros
            .map(|b| ("monthly_budget_micros", l(&t::BUDGET), b)),
        &|v| fmt.usd(v),
    )
}

/// `report.html`: self-contained (inline CSS and SVG, no external assets), printable.
pub fn html(report: &Report) -> Result<Vec<u8>, RenderError> {
    let fmt = Fmt::new(report);
    let l = |text: &Text| fmt.t(text);
    let c = &report.conversations;
    let leads = &report.leads;
    let loyalty = &report.loyalty;
    let ai = &report.ai;
    let points = |n: i64| t::POINTS.render(fmt.lang, &[("points", &fmt.int(n))]);
    let money = |n: i64| fmt.money(n);
    let usd = |n: i64| fmt.usd(n);

    let sales = &report.sales;
    let mut tiles = vec![
        fmt.tile(l(&t::CONVERSATIONS), &c.conversations, |n| fmt.int(n)),
        fmt.tile(l(&t::LEADS_NEW), &leads.new_total, |n| fmt.int(n)),
        fmt.tile(l(&t::WON), &leads.won, |n| fmt.int(n)),
        fmt.tile(l(&t::ACCRUED), &loyalty.accrued, |n| fmt.int(n)),
        fmt.tile(l(&t::COST), &ai.cost_micros, usd),
    ];
    if has_sales(sales) {
        tiles.insert(
            3,
            fmt.tile(l(&t::REVENUE), &sales.revenue_minor, |n| {
                fmt.money_in(n, &sales.currency)
            }),
        );
    }

    let mut conv_rows = vec![
        fmt.count(l(&t::CONVERSATIONS), &c.conversations),
        fmt.count(l(&t::MESSAGES_IN), &c.messages_in),
        fmt.count(l(&t::MESSAGES_OUT), &c.messages_out),
        fmt.count(l(&t::CONTACTS_NEW), &c.contacts_new),
        fmt.count(l(&t::REPLIES_LLM), &c.replies_llm),
        fmt.count(l(&t::REPLIES_FALLBACK), &c.replies_fallback),
        fmt.rate(l(&t::LLM_SHARE), &c.llm_share),
    ];
    for (reason, f) in &c.fallback_reasons {
        conv_rows.push(fmt.count(
            format!("{}: {}", l(&t::FALLBACK), fmt.fallback_reason(reason)),
            f,
        ));
    }
    conv_rows.extend([
        latency_row(&fmt, l(&t::MEDIAN_LATENCY), &c.latency),
        Row {
            label: l(&t::P90_LATENCY).to_owned(),
            value: fmt.latency(c.latency.p90_le_ms, c.latency.p90_above_max),
            previous: String::new(),
            change: String::new(),
            trend: "flat",
        },
        fmt.count(l(&t::HANDOFFS), &c.handoffs),
        fmt.count(l(&t::REPLIES_NOT_SENT), &c.replies_not_sent),
        fmt.count(l(&t::RATE_LIMITED), &c.rate_limited),
    ]);

    let mut lead_rows = vec![fmt.count(l(&t::LEADS_NEW), &leads.new_total)];
    for (source, f) in &leads.new_by_source {
        lead_rows.push(fmt.count(format!("{} · {}", l(&t::SOURCE), fmt.source(source)), f));
    }
    for s in &leads.stages {
        lead_rows.push(fmt.count(
            format!("{} · {}", l(&t::ENTERED), fmt.stage(&s.stage)),
            &s.entered,
        ));
    }
    for conv in &leads.conversion {
        lead_rows.push(fmt.rate(
            format!(
                "{} {} → {}",
                l(&t::CONVERSION),
                fmt.stage(&conv.from),
                fmt.stage(&conv.to)
            ),
            &conv.rate,
        ));
    }
    lead_rows.extend([
        fmt.count(l(&t::WON), &leads.won),
        fmt.count(l(&t::LOST), &leads.lost),
        fmt.count(l(&t::MERGED), &leads.merged),
        fmt.count(l(&t::CRM_DELIVERED), &leads.crm_delivered),
        fmt.count(l(&t::CRM_FAILED), &leads.crm_attempts_failed),
        fmt.count(l(&t::CRM_GAVE_UP), &leads.crm_gave_up),
    ]);

    let loyalty_rows = vec![
        fmt.row(l(&t::ACCRUED), &loyalty.accrued, points),
        fmt.row(l(&t::REDEEMED), &loyalty.redeemed, points),
        fmt.row(l(&t::EXPIRED), &loyalty.expired, points),
        fmt.row(l(&t::WELCOME), &loyalty.welcome, points),
        fmt.row(l(&t::REFERRAL_BONUS), &loyalty.referral_bonus, points),
        fmt.count(l(&t::REFERRAL_JOINS), &loyalty.referral_joins),
        fmt.count(l(&t::MEMBERS_NEW), &loyalty.members_new),
        fmt.count(l(&t::ACTIVE_MEMBERS), &loyalty.active_members),
        fmt.count(l(&t::PURCHASES), &loyalty.purchases),
        fmt.row(l(&t::TURNOVER), &loyalty.turnover_minor, money),
        fmt.rate(
            format!("{} ({})", l(&t::NPS), l(&t::PARTNERS)),
            &loyalty.nps.score,
        ),
        fmt.count(l(&t::RATINGS), &loyalty.nps.count),
    ];

    let budget = &ai.budget;
    let ai_rows = vec![
        fmt.count(l(&t::AI_CALLS), &ai.calls),
        fmt.count(l(&t::PROMPT_TOKENS), &ai.prompt_tokens),
        fmt.count(l(&t::COMPLETION_TOKENS), &ai.completion_tokens),
        fmt.count(l(&t::TOKENS), &ai.tokens_total),
        fmt.row(l(&t::COST), &ai.cost_micros, usd),
        Row {
            label: l(&t::COST_PER_CONVERSATION).to_owned(),
            value: ai
                .cost_per_conversation_micros
                .map(usd)
                .unwrap_or_else(|| DASH.to_owned()),
            previous: ai
                .previous_cost_per_conversation_micros
                .map(usd)
                .unwrap_or_else(|| DASH.to_owned()),
            change: String::new(),
            trend: "flat",
        },
        Row {
            label: format!("{} ({})", l(&t::BUDGET), budget.month),
            value: budget
                .monthly_budget_micros
                .map(usd)
                .unwrap_or_else(|| l(&t::NO_BUDGET).to_owned()),
            previous: String::new(),
            change: String::new(),
            trend: "flat",
        },
        Row {
            label: format!("{}, {}", l(&t::COST), l(&t::MONTH_TO_DATE)),
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
                .unwrap_or_else(|| DASH.to_owned()),
            ratings: fmt.int(p.nps.count.value),
        })
        .collect();

    let products = sales
        .top_products
        .iter()
        .map(|p| {
            let (change, trend) = fmt.change(&p.revenue_minor);
            ProductRow {
                sku: p.sku.clone(),
                revenue: fmt.money_in(p.revenue_minor.value, &sales.currency),
                units: fmt.int(p.units.value),
                change,
                trend,
            }
        })
        .collect();

    let mut sections = vec![
        Section {
            id: "conversations",
            title: l(&t::CONVERSATIONS).to_owned(),
            rows: conv_rows,
            charts: vec![messages_chart(report, &fmt)],
        },
        Section {
            id: "leads",
            title: l(&t::LEADS_HEADING).to_owned(),
            rows: lead_rows,
            charts: vec![funnel_chart(report, &fmt)],
        },
        Section {
            id: "loyalty",
            title: l(&t::LOYALTY_HEADING).to_owned(),
            rows: loyalty_rows,
            charts: vec![loyalty_chart(report, &fmt)],
        },
        Section {
            id: "ai",
            title: l(&t::AI_HEADING).to_owned(),
            rows: ai_rows,
            charts: vec![ai_chart(report, &fmt)],
        },
    ];
    if has_sales(sales) {
        sections.insert(
            2,
            Section {
                id: "sales",
                title: l(&t::SALES_HEADING).to_owned(),
                rows: sales_rows(&fmt, sales),
                charts: Vec::new(),
            },
        );
    }

    let p = &report.period;
    let q = &report.previous_period;
    let span = if p.first_day == p.last_day {
        p.first_day.clone()
    } else {
        format!("{} – {}", p.first_day, p.last_day)
    };
    let page = Page {
        lang: fmt.lang.code(),
        title: format!("{} {}", fmt.title(p.kind), p.id),
        tenant_name: &report.tenant_name,
        subtitle: format!(
            "{span} · {} · {} · {}",
            report.timezone,
            t::HOURS.render(fmt.lang, &[("hours", &p.hours)]),
            t::COMPARED_WITH.render(fmt.lang, &[("previous", &q.id)]),
        ),
        tiles,
        sections,
        partners,
        products,
        h: Headings::new(&fmt),
    };
    Ok(page.render()?.into_bytes())
}

// ---- Telegram summary ----------------------------------------------------------------

/// The managers' short summary (Telegram HTML) with the key numbers and the link.
pub fn summary(report: &Report, link: &str) -> String {
    let fmt = Fmt::new(report);
    let l = |text: &Text| fmt.t(text);
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
            fmt.title(report.period.kind),
            report.period.id,
            escape_html(&report.tenant_name)
        ),
        format!(
            "💬 {}: {}",
            l(&t::CONVERSATIONS),
            with_change(&c.conversations, &int)
        ),
        format!(
            "✉️ {}: {} · {}: {}",
            l(&t::MESSAGES_IN),
            fmt.int(c.messages_in.value),
            l(&t::MESSAGES_OUT),
            fmt.int(c.messages_out.value)
        ),
        format!(
            "🎯 {}: {} · {}: {} · {}: {}",
            l(&t::LEADS_NEW),
            with_change(&leads.new_total, &int),
            l(&t::WON),
            fmt.int(leads.won.value),
            l(&t::LOST),
            fmt.int(leads.lost.value)
        ),
    ];
    let sales = &report.sales;
    if has_sales(sales) {
        let money = |n: i64| fmt.money_in(n, &sales.currency);
        lines.push(format!(
            "🛒 {}: {} · {}: {} · {}: {}",
            l(&t::ORDERS_PAID),
            with_change(&sales.orders_paid, &int),
            l(&t::REVENUE),
            with_change(&sales.revenue_minor, &money),
            l(&t::AVERAGE_ORDER),
            sales
                .average_order_minor
                .map(money)
                .unwrap_or_else(|| DASH.to_owned()),
        ));
    }
    let loyalty_active = loyalty.accrued.value + loyalty.redeemed.value + loyalty.purchases.value;
    if loyalty_active > 0 || loyalty.active_members.previous > 0 {
        lines.push(format!(
            "⭐ {}: {} · {}: {} · {}: {}",
            l(&t::ACCRUED),
            fmt.int(loyalty.accrued.value),
            l(&t::REDEEMED),
            fmt.int(loyalty.redeemed.value),
            l(&t::ACTIVE_MEMBERS),
            fmt.int(loyalty.active_members.value)
        ));
    }
    let mut ai_line = format!(
        "🤖 {}: {}",
        l(&t::COST),
        with_change(&ai.cost_micros, &|n| fmt.usd(n))
    );
    if let Some(used) = ai.budget.used_pct {
        ai_line.push_str(&format!(
            " · {}: {}",
            l(&t::BUDGET_USED),
            fmt.pct(Some(used))
        ));
    }
    if let Some(per) = ai.cost_per_conversation_micros {
        ai_line.push_str(&format!(
            " · {}: {}",
            l(&t::COST_PER_CONVERSATION),
            fmt.usd(per)
        ));
    }
    lines.push(ai_line);
    lines.push(format!(
        "<a href=\"{}\">{}</a>",
        escape_html(link),
        l(&t::OPEN_REPORT)
    ));
    lines.join("\n")
}
