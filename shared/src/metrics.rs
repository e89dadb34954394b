//! Operational metrics as CloudWatch embedded metric format (EMF) log lines: CloudWatch
//! turns each line into metric data points with no API call (no latency, no
//! `PutMetricData` charge). One dimension, the stage: a tenant dimension would make a
//! custom metric per tenant (billed monthly each); per-tenant figures are in `stats`.
//! The template's `MessagesFailedAlarm` reads these.

use std::io::Write;
use std::sync::OnceLock;

/// The CloudWatch namespace of every Sauda metric.
pub const NAMESPACE: &str = "Sauda";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// An inbound message stored for the first time (duplicates are not counted).
    MessagesReceived,
    /// A reply written by the model and sent.
    MessagesAnswered,
    /// A reply sent from the fallback text (model failed or refused).
    MessagesFallenBack,
    /// A queue record that failed and goes back to the queue.
    MessagesFailed,
    /// A queue record moved to a dead-letter queue.
    MessagesDeadLettered,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::MessagesReceived => "MessagesReceived",
            Metric::MessagesAnswered => "MessagesAnswered",
            Metric::MessagesFallenBack => "MessagesFallenBack",
            Metric::MessagesFailed => "MessagesFailed",
            Metric::MessagesDeadLettered => "MessagesDeadLettered",
        }
    }
}

/// One EMF line (without its newline) counting `count` of `metric` in `stage`.
pub fn line(metric: Metric, count: u64, stage: &str, timestamp_ms: i64) -> String {
    let name = metric.name();
    serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Stage"]],
                "Metrics": [{"Name": name, "Unit": "Count"}],
            }],
        },
        "Stage": stage,
        name: count,
    })
    .to_string()
}

/// Writes the line to stdout, where Lambda's log agent picks it up. The stage is read
/// from `STAGE` once; without it (tests, tools) nothing is written.
pub fn emit(metric: Metric, count: u64) {
    static STAGE: OnceLock<Option<String>> = OnceLock::new();
    let Some(stage) = STAGE.get_or_init(|| std::env::var("STAGE").ok()) else {
        return;
    };
    let mut line = line(metric, count, stage, crate::now_ms());
    line.push('\n');
    // One write per line, so lines from concurrent tasks never interleave.
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn a_line_is_an_emf_document_for_its_one_metric() {
        let v: Value = serde_json::from_str(&line(
            Metric::MessagesDeadLettered,
            2,
            "prod",
            1_700_000_000_000,
        ))
        .unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Sauda");
        assert_eq!(directive["Dimensions"], serde_json::json!([["Stage"]]));
        assert_eq!(
            directive["Metrics"],
            serde_json::json!([{"Name": "MessagesDeadLettered", "Unit": "Count"}])
        );
        assert_eq!(v["Stage"], "prod");
        assert_eq!(v["MessagesDeadLettered"], 2);
        assert_eq!(v.as_object().unwrap().len(), 3, "{v}");
    }

    #[test]
    fn the_template_alarms_on_names_this_module_emits() {
        let template = include_str!("../../template.yaml");
        for metric in [Metric::MessagesReceived, Metric::MessagesFailed] {
            assert!(
                template.contains(&format!("MetricName: {}", metric.name())),
                "{}",
                metric.name()
            );
        }
    }
}
