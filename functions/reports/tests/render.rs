//! The rendered files, read back with real parsers: the HTML with an HTML5 parser
//! (every chart carries every data point of the report), the CSV with a CSV reader.

use reports::period::Period;
use reports::report::{build, Report};
use reports::{render, synthetic};
use scraper::{Html, Selector};
use std::collections::BTreeMap;

fn report(period: &str, language: &str) -> Report {
    let period = Period::parse(period).unwrap();
    let mut ctx = synthetic::demo_context(
        "demo",
        "Demo <script>alert(1)</script> & Co",
        "Asia/Almaty",
        language,
    );
    ctx.partner_names
        .insert("gym-one".into(), "Gym \"One\" <b>".into());
    build(&ctx, period, &synthetic::counters(period, 7))
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

/// `(label, value)` of every data point of one series in one chart.
fn points(doc: &Html, chart: &str, series: &str) -> Vec<(String, i64)> {
    let selector = sel(&format!("svg#{chart} .point[data-series=\"{series}\"]"));
    doc.select(&selector)
        .map(|e| {
            let v = e.value();
            (
                v.attr("data-label").unwrap().to_owned(),
                v.attr("data-value").unwrap().parse().unwrap(),
            )
        })
        .collect()
}

fn per_day(r: &Report, metric: &str) -> Vec<(String, i64)> {
    r.days
        .iter()
        .map(|d| (d.day.clone(), d.metrics.get(metric).copied().unwrap_or(0)))
        .collect()
}

#[test]
fn every_chart_has_every_data_point_of_the_report() {
    for (period, language) in [
        ("2026-10", "ru"),
        ("2026-W44", "en"),
        ("2026-10-31", "kk"),
        ("2026-10-30", "ky"),
    ] {
        let r = report(period, language);
        let html = String::from_utf8(render::html(&r).unwrap()).unwrap();
        let doc = Html::parse_document(&html);
        assert!(doc.errors.is_empty(), "{period}: {:?}", doc.errors);

        let charts: Vec<&str> = doc
            .select(&sel("svg.chart"))
            .map(|e| e.value().attr("id").unwrap())
            .collect();
        assert_eq!(
            charts,
            [
                "chart-messages",
                "chart-funnel",
                "chart-loyalty",
                "chart-ai"
            ]
        );

        assert_eq!(
            points(&doc, "chart-messages", "messages_in"),
            per_day(&r, "messages_in")
        );
        assert_eq!(
            points(&doc, "chart-messages", "messages_out"),
            per_day(&r, "messages_out")
        );
        assert_eq!(
            points(&doc, "chart-loyalty", "loyalty_accrued"),
            per_day(&r, "loyalty_accrued")
        );
        assert_eq!(
            points(&doc, "chart-loyalty", "loyalty_redeemed"),
            per_day(&r, "loyalty_redeemed")
        );
        let funnel: Vec<(String, i64)> = r
            .leads
            .stages
            .iter()
            .map(|s| (s.stage.clone(), s.entered.value))
            .collect();
        assert_eq!(points(&doc, "chart-funnel", "leads_entered"), funnel);
        let cost: Vec<(String, i64)> =
            r.ai.budget
                .cumulative
                .iter()
                .map(|d| (d.day.clone(), d.value))
                .collect();
        assert_eq!(points(&doc, "chart-ai", "ai_cost_cumulative_micros"), cost);
        assert_eq!(
            points(&doc, "chart-ai", "monthly_budget_micros"),
            [("limit".to_owned(), 50_000_000)]
        );
        assert!(!r.days.is_empty() && r.conversations.messages_in.value > 0);
    }
}

#[test]
fn the_page_is_self_contained_escaped_and_deterministic() {
    let r = report("2026-10", "en");
    let bytes = render::html(&r).unwrap();
    assert_eq!(bytes, render::html(&r).unwrap(), "same report, same bytes");
    let html = String::from_utf8(bytes).unwrap();
    let doc = Html::parse_document(&html);
    // No external assets: no scripts, stylesheets, images or remote references.
    for tag in ["script", "link", "img", "iframe", "object"] {
        assert_eq!(doc.select(&sel(tag)).count(), 0, "<{tag}>");
    }
    for element in doc.select(&sel("*")) {
        for (name, _) in element.value().attrs() {
            assert!(
                !name.ends_with("href") && name != "src",
                "{name} on {}",
                element.value().name()
            );
        }
    }
    // The only URL is the SVG namespace, an identifier that is never fetched.
    let urls = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(!urls.contains("http://") && !urls.contains("https://") && !urls.contains("url("));
    // User text is text, not markup.
    let title: String = doc
        .select(&sel("header .tenant"))
        .next()
        .unwrap()
        .text()
        .collect();
    assert_eq!(title, "Demo <script>alert(1)</script> & Co");
    let partners: Vec<String> = doc
        .select(&sel("#partners tbody td:first-child"))
        .map(|e| e.text().collect())
        .collect();
    assert!(
        partners.contains(&"Gym \"One\" <b>".to_owned()),
        "{partners:?}"
    );
    assert_eq!(partners.len(), 3);
    // Tiles and sections carry the key figures.
    let tiles: Vec<String> = doc
        .select(&sel(".tile .value"))
        .map(|e| e.text().collect())
        .collect();
    assert_eq!(tiles[0], group(r.conversations.conversations.value));
    for id in ["conversations", "leads", "loyalty", "ai"] {
        assert!(
            doc.select(&sel(&format!("section#{id} table"))).count() >= 1,
            "{id}"
        );
    }
    assert!(html.contains("@media print"));
}

fn group(n: i64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `report.csv` read back: the header and the records.
fn read_csv(r: &Report) -> (Vec<String>, Vec<csv::StringRecord>) {
    let bytes = render::csv(r).unwrap();
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let records = reader.records().map(Result::unwrap).collect();
    (header, records)
}

#[test]
fn the_csv_has_one_row_per_day_and_every_metric() {
    let r = report("2026-10", "en");
    let (header, records) = read_csv(&r);
    assert_eq!(header[0], "day");
    for known in render::known_columns() {
        assert!(header.contains(&known), "{known}");
    }
    assert!(header.contains(&"p_coffee-house_turnover_minor".to_owned()));
    let rows: Vec<BTreeMap<String, String>> = records
        .iter()
        .map(|rec| {
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_owned))
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 31);
    for (row, day) in rows.iter().zip(&r.days) {
        assert_eq!(row["day"], day.day);
        for (metric, value) in &day.metrics {
            assert_eq!(row[metric], value.to_string(), "{} {metric}", day.day);
        }
        assert_eq!(row["crm_gave_up"], "0", "absent counters are zeros");
    }
}

#[test]
fn the_json_round_trips() {
    let r = report("2026-W44", "kk");
    let json = render::json(&r).unwrap();
    let back: Report = serde_json::from_slice(&json).unwrap();
    assert_eq!(back, r);
    assert_eq!(render::json(&back).unwrap(), json);
}

#[test]
fn the_summary_is_short_escaped_and_localised() {
    let r = report("2026-10", "ru");
    let text = render::summary(&r, "https://s3.example/r?a=1&b=2");
    assert!(text.starts_with("<b>Отчёт за месяц 2026-10</b>"), "{text}");
    assert!(text.contains("Demo &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co"));
    assert!(text.contains("href=\"https://s3.example/r?a=1&amp;b=2\""));
    assert!(text.contains("Открыть полный отчёт"));
    assert!(text.chars().count() < 1000, "fits one Telegram message");
    let en = render::summary(&report("2026-10", "en"), "https://x");
    assert!(en.contains("Monthly report 2026-10") && en.contains("Budget used"));
}

#[test]
fn csv_cells_a_spreadsheet_would_run_are_neutralised() {
    let mut r = report("2026-10-31", "en");
    // Counter names come from stored attribute names: nothing stops one from being a formula.
    let risky = [
        "=HYPERLINK(\"https://evil.example\",\"open\")",
        "+1+1",
        "-2+3",
        "@SUM(A1:A9)",
        "\t=cmd",
        "\r=cmd",
    ];
    for (i, name) in risky.iter().enumerate() {
        r.days[0].metrics.insert((*name).to_owned(), i as i64 + 1);
    }
    r.days[0].metrics.insert("loyalty_adjusted".into(), -5);
    let (header, rows) = read_csv(&r);
    assert_eq!(rows[0].get(0), Some("2026-10-31"));
    for (i, name) in risky.iter().enumerate() {
        let quoted = format!("'{name}");
        let column = header.iter().position(|h| *h == quoted);
        let column = column.unwrap_or_else(|| panic!("{name:?} not shown as text: {header:?}"));
        assert!(!header.iter().any(|h| h == name), "{name:?} left as is");
        assert_eq!(&rows[0][column], (i + 1).to_string(), "{name:?}");
    }
    // No cell of the file starts a formula; a negative count stays a number.
    for cell in header
        .iter()
        .map(String::as_str)
        .chain(rows.iter().flatten())
    {
        let formula = cell.starts_with(['=', '+', '@', '\t', '\r'])
            || (cell.starts_with('-') && cell[1..].parse::<u64>().is_err());
        assert!(!formula, "{cell:?}");
    }
    let adjusted = header.iter().position(|h| h == "loyalty_adjusted").unwrap();
    assert_eq!(&rows[0][adjusted], "-5");
    assert_eq!(render::csv_cell("-12"), "-12");
    assert_eq!(render::csv_cell("-"), "'-");
    assert_eq!(render::csv_cell("2026-10-31"), "2026-10-31");
}

#[test]
fn a_kyrgyz_report_is_in_kyrgyz() {
    let r = report("2026-10", "ky");
    let html = String::from_utf8(render::html(&r).unwrap()).unwrap();
    let doc = Html::parse_document(&html);
    assert!(doc.errors.is_empty(), "{:?}", doc.errors);
    assert!(html.contains("<html lang=\"ky\">"));
    let h1: String = doc.select(&sel("h1")).next().unwrap().text().collect();
    assert_eq!(h1, "Айлык отчёт 2026-10");
    for kyrgyz in [
        "Диалогдор",
        "Лиддер жана воронка",
        "Лоялдуулук программасы",
        "Күн сайынкы билдирүүлөр",
        "2026-09 мезгили менен салыштырганда",
    ] {
        assert!(html.contains(kyrgyz), "{kyrgyz}");
    }
    let text = render::summary(&r, "https://x");
    assert!(text.starts_with("<b>Айлык отчёт 2026-10</b>"), "{text}");
    assert!(text.contains("Толук отчётту ачуу"), "{text}");
    assert!(!text.contains("Monthly") && !html.contains("Monthly report"));
}

#[test]
fn the_sales_section_shows_orders_methods_and_top_products() {
    let r = report("2026-10", "ru");
    let s = &r.sales;
    assert!(s.orders_paid.value > 0);
    assert_eq!(
        s.average_order_minor,
        Some((s.revenue_minor.value as f64 / s.orders_paid.value as f64).round() as i64)
    );
    let html = String::from_utf8(render::html(&r).unwrap()).unwrap();
    let doc = Html::parse_document(&html);
    assert!(doc.errors.is_empty(), "{:?}", doc.errors);
    let heading: String = doc
        .select(&sel("section#sales h2"))
        .next()
        .unwrap()
        .text()
        .collect();
    assert_eq!(heading, "Продажи");
    let skus: Vec<String> = doc
        .select(&sel("table#products tbody td:first-child"))
        .map(|td| td.text().collect())
        .collect();
    assert_eq!(skus, ["GR-CR10-2", "FLT-50"], "by revenue");
    for row in [
        "Средний чек",
        "Оплачено заказов · Kaspi",
        "Выручка · Telegram",
    ] {
        assert!(html.contains(row), "{row}");
    }
    let text = render::summary(&r, "https://x");
    assert!(text.contains("🛒 Оплачено заказов:"), "{text}");
    let (header, _) = read_csv(&r);
    assert!(header.iter().any(|h| h == "orders_revenue_minor"));
    assert!(header.iter().any(|h| h == "sku_rev_GR-CR10-2"));
    // A tenant without orders gets no sales section.
    let mut quiet = synthetic::counters(Period::parse("2026-10").unwrap(), 7);
    for day in quiet.values_mut() {
        day.retain(|k, _| !k.starts_with("orders_") && !k.starts_with("sku_"));
    }
    let ctx = synthetic::demo_context("demo", "Demo", "Asia/Almaty", "ru");
    let r = build(&ctx, Period::parse("2026-10").unwrap(), &quiet);
    let html = String::from_utf8(render::html(&r).unwrap()).unwrap();
    assert!(!html.contains("id=\"sales\""));
    assert!(!render::summary(&r, "https://x").contains("🛒"));
}
