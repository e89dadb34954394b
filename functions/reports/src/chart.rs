//! Inline SVG charts for the HTML report, written with the `svg` crate (which escapes
//! text and sorts attributes, so output is deterministic).
//!
//! Every plotted value is one element with `class="point"`, `data-series`,
//! `data-label` and `data-value`, plus a `<title>` tooltip: people hover, tests and
//! scripts read the numbers back without guessing from geometry.

use svg::node::element::{Circle, Group, Line, Polyline, Rectangle, Text, Title};
use svg::Document;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 36.0;

pub struct Series<'a> {
    /// Machine name (`messages_in`), written as `data-series`.
    pub name: &'a str,
    /// Legend text, in the report's language.
    pub legend: String,
    pub color: &'a str,
    pub values: Vec<i64>,
}

/// Formats a value for axis labels and tooltips.
pub type Format<'a> = &'a dyn Fn(i64) -> String;

/// A "nice" axis maximum (1, 2 or 5 × 10^k) at or above `max`.
fn nice_max(max: i64) -> i64 {
    if max <= 0 {
        return 1;
    }
    let mut step = 1i64;
    while step.saturating_mul(10) <= max {
        step *= 10;
    }
    for m in [1, 2, 5, 10] {
        if step * m >= max {
            return step * m;
        }
    }
    step * 10
}

fn frame(id: &str, title: &str) -> Document {
    Document::new()
        .set("viewBox", (0, 0, WIDTH as i64, HEIGHT as i64))
        .set("width", "100%")
        .set("role", "img")
        .set("aria-label", title)
        .set("class", "chart")
        .set("id", id)
        .set(
            "font-family",
            "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
        )
        .set("font-size", 11)
        .add(
            Text::new(title)
                .set("x", LEFT)
                .set("y", 18)
                .set("font-size", 14)
                .set("font-weight", 600)
                .set("fill", "#1f2937"),
        )
}

fn y_axis(mut doc: Document, max: i64, format: Format<'_>) -> Document {
    let plot_h = HEIGHT - TOP - BOTTOM;
    for i in 0..=4 {
        let value = max * i / 4;
        let y = TOP + plot_h - plot_h * i as f64 / 4.0;
        doc = doc
            .add(
                Line::new()
                    .set("x1", LEFT)
                    .set("x2", WIDTH - RIGHT)
                    .set("y1", r(y))
                    .set("y2", r(y))
                    .set("stroke", if i == 0 { "#9ca3af" } else { "#e5e7eb" })
                    .set("stroke-width", 1),
            )
            .add(
                Text::new(format(value))
                    .set("x", LEFT - 6.0)
                    .set("y", r(y + 4.0))
                    .set("text-anchor", "end")
                    .set("fill", "#6b7280"),
            );
    }
    doc
}

fn x_labels(mut doc: Document, labels: &[String], slot: f64) -> Document {
    // Show at most ~16 labels so they never overlap.
    let every = labels.len().div_ceil(16).max(1);
    for (i, label) in labels.iter().enumerate() {
        if i % every != 0 && i + 1 != labels.len() {
            continue;
        }
        doc = doc.add(
            Text::new(label.as_str())
                .set("x", r(LEFT + slot * (i as f64 + 0.5)))
                .set("y", r(HEIGHT - BOTTOM + 16.0))
                .set("text-anchor", "middle")
                .set("fill", "#6b7280"),
        );
    }
    doc
}

fn legend(mut doc: Document, items: &[(&str, &str)]) -> Document {
    let mut x = WIDTH - RIGHT;
    for (text, color) in items.iter().rev() {
        let w = 16.0 + 6.5 * text.chars().count() as f64;
        x -= w + 12.0;
        doc = doc
            .add(
                Rectangle::new()
                    .set("x", r(x))
                    .set("y", 8)
                    .set("width", 10)
                    .set("height", 10)
                    .set("rx", 2)
                    .set("fill", *color),
            )
            .add(
                Text::new(*text)
                    .set("x", r(x + 14.0))
                    .set("y", 17)
                    .set("fill", "#374151"),
            );
    }
    doc
}

fn r(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn point_title(legend: &str, label: &str, value: &str) -> Title {
    Title::new(format!("{legend} · {label}: {value}"))
}

/// Bars per label, one per series, side by side (messages in/out, points accrued/redeemed).
pub fn grouped_bars(
    id: &str,
    title: &str,
    labels: &[String],
    full_labels: &[String],
    series: &[Series<'_>],
    format: Format<'_>,
) -> String {
    let max = nice_max(
        series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .max()
            .unwrap_or(0),
    );
    let mut doc = y_axis(frame(id, title), max, format);
    let slot = (WIDTH - LEFT - RIGHT) / labels.len().max(1) as f64;
    let bar = (slot * 0.8) / series.len().max(1) as f64;
    let plot_h = HEIGHT - TOP - BOTTOM;
    for (si, s) in series.iter().enumerate() {
        let mut group = Group::new().set("data-series", s.name).set("fill", s.color);
        for (i, value) in s.values.iter().enumerate() {
            let h = plot_h * (*value).max(0) as f64 / max as f64;
            let x = LEFT + slot * i as f64 + slot * 0.1 + bar * si as f64;
            let label = full_labels.get(i).unwrap_or(&labels[i]);
            group = group.add(
                Rectangle::new()
                    .set("class", "point")
                    .set("data-series", s.name)
                    .set("data-label", label.as_str())
                    .set("data-value", *value)
                    .set("x", r(x))
                    .set("y", r(TOP + plot_h - h))
                    .set("width", r(bar.max(1.0)))
                    .set("height", r(h))
                    .add(point_title(&s.legend, label, &format(*value))),
            );
        }
        doc = doc.add(group);
    }
    let items: Vec<(&str, &str)> = series
        .iter()
        .map(|s| (s.legend.as_str(), s.color))
        .collect();
    doc = legend(x_labels(doc, labels, slot), &items);
    doc.to_string()
}

/// One horizontal bar per item with its value written at the bar's end (the funnel).
pub fn horizontal_bars(
    id: &str,
    title: &str,
    series: &str,
    items: &[(String, String, i64)],
    color: &str,
) -> String {
    let row = 24.0;
    let height = TOP + row * items.len() as f64 + 12.0;
    let label_w = 150.0;
    let max = items.iter().map(|(_, _, v)| *v).max().unwrap_or(0).max(1);
    let mut doc = frame(id, title).set("viewBox", (0, 0, WIDTH as i64, height.ceil() as i64));
    let span = WIDTH - RIGHT - label_w - 60.0;
    for (i, (key, label, value)) in items.iter().enumerate() {
        let y = TOP + row * i as f64;
        let w = span * (*value).max(0) as f64 / max as f64;
        doc = doc
            .add(
                Text::new(label.as_str())
                    .set("x", label_w - 8.0)
                    .set("y", r(y + 15.0))
                    .set("text-anchor", "end")
                    .set("fill", "#374151"),
            )
            .add(
                Rectangle::new()
                    .set("class", "point")
                    .set("data-series", series)
                    .set("data-label", key.as_str())
                    .set("data-value", *value)
                    .set("x", label_w)
                    .set("y", r(y + 3.0))
                    .set("width", r(w.max(1.0)))
                    .set("height", 16)
                    .set("rx", 3)
                    .set("fill", color)
                    .add(point_title(label, key, &value.to_string())),
            )
            .add(
                Text::new(value.to_string())
                    .set("x", r(label_w + w.max(1.0) + 6.0))
                    .set("y", r(y + 15.0))
                    .set("fill", "#111827")
                    .set("font-weight", 600),
            );
    }
    doc.to_string()
}

/// A cumulative line against a horizontal limit (AI cost against the monthly budget).
#[allow(clippy::too_many_arguments)]
pub fn line_against_limit(
    id: &str,
    title: &str,
    labels: &[String],
    full_labels: &[String],
    series: &Series<'_>,
    limit: Option<(&str, &str, i64)>,
    format: Format<'_>,
) -> String {
    let top = series
        .values
        .iter()
        .copied()
        .chain(limit.map(|(_, _, v)| v))
        .max()
        .unwrap_or(0);
    let max = nice_max(top);
    let mut doc = y_axis(frame(id, title), max, format);
    let slot = (WIDTH - LEFT - RIGHT) / labels.len().max(1) as f64;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y_of = |v: i64| r(TOP + plot_h - plot_h * v.max(0) as f64 / max as f64);
    let mut items = vec![(series.legend.as_str(), series.color)];
    if let Some((name, legend_text, value)) = limit {
        items.push((legend_text, "#dc2626"));
        doc = doc.add(
            Line::new()
                .set("class", "point")
                .set("data-series", name)
                .set("data-label", "limit")
                .set("data-value", value)
                .set("x1", LEFT)
                .set("x2", WIDTH - RIGHT)
                .set("y1", y_of(value))
                .set("y2", y_of(value))
                .set("stroke", "#dc2626")
                .set("stroke-width", 2)
                .set("stroke-dasharray", "6 4")
                .add(Title::new(format!("{legend_text}: {}", format(value)))),
        );
    }
    let points: Vec<String> = series
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{},{}", r(LEFT + slot * (i as f64 + 0.5)), y_of(*v)))
        .collect();
    doc = doc.add(
        Polyline::new()
            .set("points", points.join(" "))
            .set("fill", "none")
            .set("stroke", series.color)
            .set("stroke-width", 2.5),
    );
    let mut group = Group::new()
        .set("data-series", series.name)
        .set("fill", series.color);
    for (i, value) in series.values.iter().enumerate() {
        let label = full_labels.get(i).unwrap_or(&labels[i]);
        group = group.add(
            Circle::new()
                .set("class", "point")
                .set("data-series", series.name)
                .set("data-label", label.as_str())
                .set("data-value", *value)
                .set("cx", r(LEFT + slot * (i as f64 + 0.5)))
                .set("cy", y_of(*value))
                .set("r", 3)
                .add(point_title(&series.legend, label, &format(*value))),
        );
    }
    doc = legend(x_labels(doc.add(group), labels, slot), &items);
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_maxima_are_round() {
        let cases = [
            (0, 1),
            (1, 1),
            (3, 5),
            (7, 10),
            (11, 20),
            (120, 200),
            (501, 1000),
            (1000, 1000),
        ];
        for (max, nice) in cases {
            assert_eq!(nice_max(max), nice, "{max}");
        }
    }

    #[test]
    fn text_is_escaped_and_output_is_stable() {
        let labels = vec!["<1>".to_owned()];
        let series = [Series {
            name: "x",
            legend: "a&b".into(),
            color: "#000",
            values: vec![3],
        }];
        let fmt = |v: i64| v.to_string();
        let a = grouped_bars("c", "T<script>", &labels, &labels, &series, &fmt);
        let b = grouped_bars("c", "T<script>", &labels, &labels, &series, &fmt);
        assert_eq!(a, b);
        assert!(!a.contains("<script>") && a.contains("T&lt;script&gt;"));
        assert!(a.contains(r#"data-value="3""#));
    }
}
