//! The README's cost model per million, computed here from the AWS calls the integration
//! tests assert (they compare their counters with the `*_CALLS` constants below, exactly)
//! and the durations `sauda bench functions` measures, at list prices (us-east-1, arm64).
//! `cost_table_in_readme_is_current` renders the table and finds it, verbatim, in the
//! README: a change in the code's calls fails a test, a change here fails the README's.

/// List prices in US dollars.
pub mod price {
    /// API Gateway HTTP API, per request (first 300 M a month).
    pub const HTTP_API_REQUEST: f64 = 1.00 / 1e6;
    /// Lambda, per request, and per GB-second on arm64.
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
    pub const LAMBDA_ARM_GB_S: f64 = 0.000_013_333_4;
    /// DynamoDB on-demand: a write request unit (1 KB), a read request unit (4 KB,
    /// strongly consistent; transactions cost twice).
    pub const DYNAMO_WRU: f64 = 0.625 / 1e6;
    pub const DYNAMO_RRU: f64 = 0.125 / 1e6;
    /// SQS per request (64 KB each): FIFO and standard.
    pub const SQS_FIFO_REQUEST: f64 = 0.50 / 1e6;
    pub const SQS_STANDARD_REQUEST: f64 = 0.40 / 1e6;
    /// S3 Standard: PUT, GET, and a GB stored for a month.
    pub const S3_PUT: f64 = 0.005 / 1e3;
    pub const S3_GET: f64 = 0.0004 / 1e3;
    /// Secrets Manager: a secret a month, and an API call.
    pub const SECRET_MONTH: f64 = 0.40;
    pub const SECRET_CALL: f64 = 0.05 / 1e4;
    /// CloudWatch Logs ingestion per GB (standard class).
    pub const LOGS_GB: f64 = 0.50;
    /// A custom metric a month (EMF metrics: 5 names × 1 stage dimension).
    pub const METRIC_MONTH: f64 = 0.30;
    /// A standard-resolution alarm a month (metric-math alarms count each metric).
    pub const ALARM_MONTH: f64 = 0.10;
}

/// AWS calls of one unit of work, exactly as the integration test named in the comment
/// asserts them (`Service.Operation` → count).
pub type Calls = &'static [(&'static str, usize)];

/// `tests/webhook.rs` `hot_path_makes_two_aws_calls_per_message`: one Telegram message.
pub const INGEST_CALLS: Calls = &[("DynamoDB.PutItem", 1), ("SQS.SendMessage", 1)];
/// `tests/agent.rs` (one warm reply with the model): history, the reply and its
/// conversation state in one transaction, counters and the month's usage.
pub const AGENT_REPLY_CALLS: Calls = &[
    ("DynamoDB.Query", 1),
    ("DynamoDB.TransactWriteItems", 1),
    ("DynamoDB.UpdateItem", 2),
];
/// `tests/leads.rs` (a lead form): the rate limit, the capture transaction, the notice.
pub const LEAD_FORM_CALLS: Calls = &[
    ("DynamoDB.UpdateItem", 1),
    ("DynamoDB.TransactWriteItems", 1),
    ("SQS.SendMessage", 1),
];

/// The calls as the test's counter snapshot shows them.
pub fn snapshot(calls: Calls) -> std::collections::BTreeMap<String, usize> {
    calls.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// What a unit of work costs beyond its calls' count: the assumptions, stated.
#[derive(Clone)]
pub struct Flow {
    pub name: &'static str,
    pub calls: Calls,
    /// Capacity units per call of each operation (items ≤ 1 KB written, ≤ 4 KB read;
    /// a transaction writes `n` items at 2 units each).
    pub units: &'static [(&'static str, f64)],
    /// Requests through the HTTP API (0 for a function URL or a queue consumer).
    pub http_api: f64,
    /// FIFO / standard queue requests not made by the function: Lambda's polling
    /// receive and delete, per message (a batch of `b` shares them: 2 / b).
    pub sqs_fifo_polling: f64,
    pub sqs_standard_polling: f64,
    /// The function (by binary: its memory is the template's `MemorySize`) and its
    /// invocations per unit (a batch of 10 records is a tenth of an invocation per record).
    pub function: &'static str,
    pub invocations: f64,
    /// Whole-process CPU per invocation (ms), as `sauda bench functions` measured it on
    /// the development machine (a full vCPU), and the wall time spent waiting on AWS and
    /// the model (ms, a stated assumption): together they give the billed duration.
    pub cpu_ms: f64,
    pub wait_ms: f64,
    /// Log bytes ingested per unit: one info line and one EMF line (the template's
    /// `SystemLogLevel: WARN` keeps Lambda's START/END/REPORT lines out).
    pub log_bytes: f64,
}

fn dollars_per_call(op: &str) -> f64 {
    match op.split_once('.').map(|(s, _)| s) {
        Some("DynamoDB") => {
            if op.ends_with("Query") || op.ends_with("GetItem") {
                price::DYNAMO_RRU
            } else {
                price::DYNAMO_WRU
            }
        }
        Some("SQS") => price::SQS_STANDARD_REQUEST,
        Some("S3") if op.ends_with("PutObject") => price::S3_PUT,
        Some("S3") => price::S3_GET,
        Some("Secrets Manager") => price::SECRET_CALL,
        _ => 0.0,
    }
}

/// The cost of a million units, by part: (AWS calls, Lambda, API + polling + logs).
pub fn per_million(flow: &Flow, fifo_send: bool, memory_mb: f64) -> (f64, f64, f64) {
    let mut calls = 0.0;
    for (op, n) in flow.calls {
        let units = flow
            .units
            .iter()
            .find(|(o, _)| o == op)
            .map(|(_, u)| *u)
            .unwrap_or(1.0);
        let each = if fifo_send && op.starts_with("SQS.") {
            price::SQS_FIFO_REQUEST
        } else {
            dollars_per_call(op)
        };
        calls += *n as f64 * units * each;
    }
    let lambda = flow.invocations * price::LAMBDA_REQUEST
        + flow.invocations * memory_mb / 1024.0 * billed_ms(flow, memory_mb) / 1000.0
            * price::LAMBDA_ARM_GB_S;
    let other = flow.http_api * price::HTTP_API_REQUEST
        + flow.sqs_fifo_polling * price::SQS_FIFO_REQUEST
        + flow.sqs_standard_polling * price::SQS_STANDARD_REQUEST
        + flow.log_bytes / 1e9 * price::LOGS_GB;
    (calls * 1e6, lambda * 1e6, other * 1e6)
}

/// Lambda gives a function a full vCPU at 1,769 MB and a proportional share below.
pub const FULL_VCPU_MB: f64 = 1_769.0;

/// The wall time of one in-region DynamoDB or SQS call (ms): an assumption, stated.
pub const AWS_CALL_WAIT_MS: f64 = 6.0;

/// The wall time of a Telegram or WhatsApp send (ms): an assumption, stated.
pub const CHAT_SEND_WAIT_MS: f64 = 100.0;

/// Whole-process CPU per invocation (ms): the top of the range `make bench
/// SECTIONS=functions` measured on the 2-core development machine (README, "CPU per
/// invocation"); update them when the benchmark moves. The agent's is its reply without
/// the model (the model's turn adds parsing its answer: a lower bound).
pub mod measured {
    pub const WEBHOOK_CPU_MS: f64 = 1.77;
    pub const AGENT_REPLY_CPU_MS: f64 = 2.83;
    pub const LEAD_FORM_CPU_MS: f64 = 4.37;
}

/// Billed duration of one invocation (ms): the measured CPU stretched by the vCPU share
/// of the memory, plus the waits, rounded up to Lambda's 1 ms.
pub fn billed_ms(flow: &Flow, memory_mb: f64) -> f64 {
    let share = (memory_mb / FULL_VCPU_MB).min(1.0);
    (flow.cpu_ms / share + flow.wait_ms).ceil()
}

/// The flows of the README's table: CPU per invocation as `make bench SECTIONS=functions`
/// measured it (README, "CPU per invocation"), waits as stated.
pub fn flows(model_wait_ms: f64) -> Vec<(Flow, bool)> {
    let ingest = Flow {
        name: "inbound message ingested (function URL; FIFO batches of 10)",
        calls: INGEST_CALLS,
        units: &[],
        http_api: 0.0,
        sqs_fifo_polling: 0.2,
        sqs_standard_polling: 0.0,
        function: "webhook",
        invocations: 1.0,
        cpu_ms: measured::WEBHOOK_CPU_MS,
        wait_ms: 2.0 * AWS_CALL_WAIT_MS,
        log_bytes: 600.0,
    };
    vec![
        (ingest.clone(), true),
        (
            Flow {
                name: "inbound message ingested (function URL; FIFO polled one at a time)",
                sqs_fifo_polling: 2.0,
                ..ingest.clone()
            },
            true,
        ),
        (
            Flow {
                name: "inbound message ingested through the HTTP API instead (FIFO polled one at a time)",
                http_api: 1.0,
                sqs_fifo_polling: 2.0,
                ..ingest
            },
            true,
        ),
        (
            Flow {
                name: "agent reply (model wait stated below; tokens apart)",
                calls: AGENT_REPLY_CALLS,
                // The transaction writes the reply and the conversation state: 2 items.
                units: &[("DynamoDB.TransactWriteItems", 4.0)],
                // Its queue's receive and delete are counted with the ingestion.
                http_api: 0.0,
                sqs_fifo_polling: 0.0,
                sqs_standard_polling: 0.0,
                function: "agent-reply",
                invocations: 1.0,
                cpu_ms: measured::AGENT_REPLY_CPU_MS,
                // The model, four AWS calls, and the platform's send API.
                wait_ms: model_wait_ms + 4.0 * AWS_CALL_WAIT_MS + CHAT_SEND_WAIT_MS,
                log_bytes: 1_500.0,
            },
            false,
        ),
        (
            Flow {
                name: "lead (public form through the HTTP API)",
                calls: LEAD_FORM_CALLS,
                // The capture transaction: lead, contact, dedup key: 3 items.
                units: &[("DynamoDB.TransactWriteItems", 6.0)],
                http_api: 1.0,
                sqs_fifo_polling: 0.0,
                sqs_standard_polling: 2.0,
                function: "lead-api",
                invocations: 1.0,
                cpu_ms: measured::LEAD_FORM_CPU_MS,
                wait_ms: 3.0 * AWS_CALL_WAIT_MS,
                log_bytes: 600.0,
            },
            false,
        ),
    ]
}

/// A stage's fixed monthly cost: secrets (the platform's plus one per tenant), alarms,
/// EMF metrics. Tables, queues and functions cost nothing idle.
pub fn fixed_monthly(tenants: f64, alarms: f64) -> f64 {
    price::SECRET_MONTH * (1.0 + tenants) + alarms * price::ALARM_MONTH + 5.0 * price::METRIC_MONTH
}

/// The model's wait (ms) the agent-reply row assumes.
pub const MODEL_WAIT_MS: f64 = 1_500.0;

/// The README's table, as markdown.
pub fn table(template: &str) -> String {
    let alarms = template.matches("Type: AWS::CloudWatch::Alarm").count();
    let mut out = String::from(
        "| per million | AWS calls (each) | DynamoDB + SQS + S3 | Lambda | API, polling, logs | total |\n|---|---|---|---|---|---|\n",
    );
    for (flow, fifo) in flows(MODEL_WAIT_MS) {
        let memory = crate::release::memory_mb(template, flow.function).unwrap_or(128);
        let (calls, lambda, other) = per_million(&flow, fifo, memory as f64);
        let list: Vec<String> = flow
            .calls
            .iter()
            .map(|(op, n)| format!("{op} {n}"))
            .collect();
        out.push_str(&format!(
            "| {} ({} at {memory} MB) | {} | ${calls:.2} | ${lambda:.2} | ${other:.2} | **${:.2}** |\n",
            flow.name,
            flow.function,
            list.join(", "),
            calls + lambda + other
        ));
    }
    out.push_str(&format!(
        "| a stage's fixed month, 1 tenant ({alarms} alarms, 5 EMF metrics, 2 secrets) | | | | | **${:.2}** |\n",
        fixed_monthly(1.0, alarms as f64)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_table_in_readme_is_current() {
        let readme = include_str!("../../README.md");
        let table = table(include_str!("../../template.yaml"));
        assert!(
            readme.contains(&table),
            "README.md's cost table is stale; replace it with:\n{table}"
        );
    }

    #[test]
    fn ingesting_a_million_messages_costs_at_most_two_dollars() {
        let template = include_str!("../../template.yaml");
        let (flow, fifo) = flows(MODEL_WAIT_MS).remove(0);
        let memory = crate::release::memory_mb(template, flow.function).unwrap();
        let (a, b, c) = per_million(&flow, fifo, memory as f64);
        assert!(a + b + c <= 2.0, "{}", a + b + c);
    }
}
