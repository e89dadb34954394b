//! `sauda local soak`: a long session against the running local stack (what forty
//! minutes of probing by hand looks like, compressed), while sampling the emulator's
//! memory. Webhook messages from many customers (each becomes an agent reply through
//! the inbound queue, the pump and agent-reply), loyalty operations at the partner's
//! till and web-form leads, interleaved evenly; then it waits for the queues to drain
//! and prints moto's resident memory at the start, its peak and at the end, and the
//! growth per operation. `infra/bench/soak.sh` starts the stack and runs it.

use crate::demo::{self, DemoTenant};
use crate::demo_seed::DemoKeys;
use crate::provision::Stack;
use sauda_shared::aws::AwsClients;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How much of each kind of traffic to send.
#[derive(Clone, Debug)]
pub struct SoakPlan {
    pub messages: usize,
    pub loyalty_ops: usize,
    pub leads: usize,
    /// Distinct customers writing the messages (Telegram and WhatsApp alternately).
    pub customers: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Messages sent but not yet answered, at most.
    pub max_backlog: usize,
}

pub struct SoakTarget {
    /// `cargo lambda watch`'s address.
    pub functions: String,
    /// The fake SaaS request log: the bot's answers.
    pub outbox: PathBuf,
    /// The emulator's process, whose memory is sampled.
    pub moto_pid: u32,
    pub sample_every: Duration,
    /// Stop sending when the emulator's memory passes this (protects the machine).
    pub max_rss_mib: u64,
    /// How long to wait for the queues to drain after the last request.
    pub drain_timeout: Duration,
}

/// Each loyalty member does these, in order: join, two purchases, a redemption, a refund.
const OPS_PER_MEMBER: usize = 5;
const TG_CHAT_BASE: i64 = 810_000_000;
const WA_PREFIX: &str = "7702";
const QUESTIONS: &[&str] = &[
    "Здравствуйте! Сколько стоит насос Grundfos CR 10?",
    "Есть ли доставка в Алматы?",
    "Нужен компрессор на 500 литров, что посоветуете?",
    "Do you have cordless drills in stock?",
    "Какая гарантия на насосы?",
    "Can I pay by card on delivery?",
    "Сәлеметсіз бе! Насостың бағасы қанша?",
    "Салам! Компрессор барбы?",
];

#[derive(Clone, Copy, Debug)]
enum Unit {
    Message(usize),
    Member(usize),
    Lead(usize),
}

/// The three kinds spread evenly over the run, so memory samples see a steady mix.
fn schedule(plan: &SoakPlan) -> Vec<Unit> {
    let members = plan.loyalty_ops.div_ceil(OPS_PER_MEMBER);
    let mut units: Vec<(f64, Unit)> = Vec::new();
    let spread = |n: usize, unit: fn(usize) -> Unit, out: &mut Vec<(f64, Unit)>| {
        out.extend((0..n).map(|i| ((i as f64 + 0.5) / n as f64, unit(i))));
    };
    spread(plan.messages, Unit::Message, &mut units);
    spread(members, Unit::Member, &mut units);
    spread(plan.leads, Unit::Lead, &mut units);
    units.sort_by(|a, b| a.0.total_cmp(&b.0));
    units.into_iter().map(|(_, u)| u).collect()
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Duration,
    ops: usize,
    answers: usize,
    rss_kib: u64,
}

/// Resident memory now and its high-water mark, in KiB; `None` once the process is gone.
fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Counts the bot's messages to the soak's customers (not the managers' notices) in the
/// fake SaaS log, reading only what was appended since the last call.
struct Answers {
    path: PathBuf,
    /// (bytes read, answers counted, an incomplete last line)
    state: Mutex<(u64, usize, String)>,
}

impl Answers {
    /// Counts from the log's current end: earlier lines belong to earlier runs.
    fn from_end(path: PathBuf) -> Self {
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Self {
            path,
            state: Mutex::new((len, 0, String::new())),
        }
    }

    fn is_answer(line: &str) -> bool {
        let Ok(l) = serde_json::from_str::<Value>(line) else {
            return false;
        };
        match l["channel"].as_str() {
            Some("telegram") => {
                l["body"]["text"].is_string()
                    && l["body"]["chat_id"]
                        .as_i64()
                        .is_some_and(|c| (TG_CHAT_BASE..TG_CHAT_BASE + 1_000_000).contains(&c))
            }
            Some("whatsapp") => l["to"].as_str().is_some_and(|t| t.starts_with(WA_PREFIX)),
            _ => false,
        }
    }

    fn poll(&self) -> usize {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut state) = self.state.lock() else {
            return 0;
        };
        let mut appended = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.path) {
            if file.seek(SeekFrom::Start(state.0)).is_ok() {
                let _ = file.read_to_string(&mut appended);
            }
        }
        state.0 += appended.len() as u64;
        let text = std::mem::take(&mut state.2) + &appended;
        let (complete, partial) = match text.rfind('\n') {
            Some(end) => text.split_at(end + 1),
            None => ("", text.as_str()),
        };
        state.1 += complete.lines().filter(|l| Self::is_answer(l)).count();
        state.2 = partial.to_owned();
        state.1
    }
}

#[derive(Default)]
struct Tally {
    /// (kind, HTTP status or "error") → count
    outcomes: Mutex<BTreeMap<(&'static str, String), usize>>,
    ops: AtomicUsize,
}

impl Tally {
    fn record(&self, kind: &'static str, outcome: Result<reqwest::Response, reqwest::Error>) {
        let key = match outcome {
            Ok(r) => r.status().as_u16().to_string(),
            Err(e) if e.is_timeout() => "timeout".to_owned(),
            Err(_) => "error".to_owned(),
        };
        if let Ok(mut o) = self.outcomes.lock() {
            *o.entry((kind, key)).or_default() += 1;
        }
        self.ops.fetch_add(1, Ordering::Relaxed);
    }
}

struct Driver {
    http: reqwest::Client,
    demo: DemoTenant,
    keys: DemoKeys,
    functions: String,
    run: i64,
    customers: usize,
    tally: Tally,
    answers: Answers,
    messages_sent: AtomicUsize,
    max_backlog: usize,
    stalls: AtomicUsize,
}

impl Driver {
    /// Holds the next message while more than `max_backlog` wait for their answer, so
    /// each message is answered on its own (the agent answers a burst from one customer
    /// with one reply). A backlog that does not move for two minutes is let through.
    async fn pace(&self) {
        let mut progress = (self.answers.poll(), Instant::now());
        loop {
            let answered = self.answers.poll();
            if self.messages_sent.load(Ordering::SeqCst) < answered + self.max_backlog {
                return;
            }
            if answered != progress.0 {
                progress = (answered, Instant::now());
            } else if progress.1.elapsed() > Duration::from_secs(120) {
                self.stalls.fetch_add(1, Ordering::Relaxed);
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn message(&self, i: usize) {
        self.pace().await;
        self.messages_sent.fetch_add(1, Ordering::SeqCst);
        let t = &self.demo.tenant;
        let base = format!("{}/lambda-url/webhook/t/{t}", self.functions);
        let customer = i % self.customers;
        let text = QUESTIONS[i % QUESTIONS.len()];
        let now = jiff::Timestamp::now().as_second();
        let secret = |s: &Option<sauda_shared::secrets::Secret>| {
            s.as_ref()
                .map(|s| s.expose().to_owned())
                .unwrap_or_default()
        };
        let request = if customer.is_multiple_of(2) {
            let update = demo::telegram_text(
                (self.run as u64) * 100_000 + i as u64,
                i as i64 + 1,
                TG_CHAT_BASE + customer as i64,
                now,
                text,
            );
            self.http
                .post(format!("{base}/telegram"))
                .header(
                    "x-telegram-bot-api-secret-token",
                    secret(&self.demo.secrets.telegram_webhook_secret),
                )
                .json(&update)
        } else {
            let app_secret = secret(&self.demo.secrets.whatsapp_app_secret);
            let body = demo::whatsapp_text(
                self.demo.whatsapp_phone_number_id.as_deref().unwrap_or(""),
                &format!("{WA_PREFIX}{customer:07}"),
                &format!("wamid.SOAK{}x{i}", self.run),
                now,
                text,
            )
            .to_string();
            self.http
                .post(format!("{base}/whatsapp"))
                .header(
                    "x-hub-signature-256",
                    demo::sign_whatsapp(&app_secret, &body),
                )
                .header("content-type", "application/json")
                .body(body)
        };
        self.tally.record("webhook", request.send().await);
    }

    async fn member(&self, m: usize, ops: usize) {
        let t = &self.demo.tenant;
        let base = format!("{}/lambda-url/loyalty/t/{t}/loyalty", self.functions);
        let phone = format!("+7705{m:07}");
        let purchase = format!("S{}-{m}", self.run);
        let steps: [(&str, &str, Value); OPS_PER_MEMBER] = [
            ("join", "join", json!({"phone": phone})),
            (
                "accrue",
                "accrue-a",
                json!({"phone": phone, "purchase_ref": format!("{purchase}a"), "amount_minor": 1_250_000, "currency": "KZT"}),
            ),
            (
                "accrue",
                "accrue-b",
                json!({"phone": phone, "purchase_ref": format!("{purchase}b"), "amount_minor": 400_000, "currency": "KZT"}),
            ),
            (
                "redeem",
                "redeem-c",
                json!({"phone": phone, "purchase_ref": format!("{purchase}c"), "amount_minor": 100_000, "currency": "KZT", "points": 30_000}),
            ),
            (
                "refund",
                "refund-a",
                json!({"phone": phone, "purchase_ref": format!("{purchase}a"), "amount_minor": 625_000, "reason": "half returned"}),
            ),
        ];
        for (path, key, body) in steps.into_iter().take(ops) {
            let response = self
                .http
                .post(format!("{base}/{path}"))
                .bearer_auth(&self.keys.partner)
                .header("idempotency-key", format!("{purchase}-{key}"))
                .json(&body)
                .send()
                .await;
            self.tally.record("loyalty", response);
        }
    }

    async fn lead(&self, l: usize) {
        let t = &self.demo.tenant;
        let form = json!({
            "name": format!("Soak Lead {l}"),
            "phone": format!("+7707{l:07}"),
            "email": format!("soak+{}-{l}@example.kz", self.run),
            "interest": "Grundfos CR 10 pump",
            "source": "site/soak",
            "consent": true
        });
        let response = self
            .http
            .post(format!(
                "{}/lambda-url/lead-api/t/{t}/leads",
                self.functions
            ))
            .header("origin", "http://localhost:8080")
            .json(&form)
            .send()
            .await;
        self.tally.record("leads", response);
    }
}

/// Messages waiting or in flight on the stack's work queues (dead-letter queues aside),
/// and on its dead-letter queues.
async fn queue_depths(clients: &AwsClients, stack: &Stack) -> (u64, u64) {
    let (mut work, mut dead) = (0, 0);
    for (logical, q) in &stack.queues {
        let Ok((visible, in_flight)) = crate::queue_ops::depth(&clients.sqs, &q.url).await else {
            continue;
        };
        let n = visible + in_flight;
        if logical.contains("DeadLetter") {
            dead += n;
        } else {
            work += n;
        }
    }
    (work, dead)
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

pub async fn run(
    clients: &AwsClients,
    stack: &Stack,
    demo: &DemoTenant,
    keys: DemoKeys,
    plan: &SoakPlan,
    target: &SoakTarget,
) -> Result<(), Box<dyn std::error::Error>> {
    let (start_rss, _) = rss_kib(target.moto_pid)
        .ok_or_else(|| format!("no process {} (moto's pid)", target.moto_pid))?;
    let now = jiff::Timestamp::now().as_second();
    let units = schedule(plan);
    let total_ops = plan.messages + plan.loyalty_ops + plan.leads;
    let driver = Arc::new(Driver {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?,
        demo: demo.clone(),
        keys,
        functions: target.functions.trim_end_matches('/').to_owned(),
        run: now % 100_000,
        customers: plan.customers.max(1),
        tally: Tally::default(),
        answers: Answers::from_end(target.outbox.clone()),
        messages_sent: AtomicUsize::new(0),
        max_backlog: plan.max_backlog.max(1),
        stalls: AtomicUsize::new(0),
    });
    println!(
        "soak: {} webhook messages from {} customers, {} loyalty operations, {} leads; \
         {} in flight, at most {} messages awaiting their answer; moto pid {} at {}",
        plan.messages,
        plan.customers,
        plan.loyalty_ops,
        plan.leads,
        plan.concurrency,
        plan.max_backlog,
        target.moto_pid,
        mib(start_rss)
    );

    // Memory samples, and the guard that stops the run if moto dies or grows too far.
    let began = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let died = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (driver, stop, samples, died) =
            (driver.clone(), stop.clone(), samples.clone(), died.clone());
        let (pid, every, max_kib) = (
            target.moto_pid,
            target.sample_every,
            target.max_rss_mib * 1024,
        );
        tokio::spawn(async move {
            let mut printed = Duration::ZERO;
            loop {
                let Some((rss, _)) = rss_kib(pid) else {
                    died.store(true, Ordering::SeqCst);
                    stop.store(true, Ordering::SeqCst);
                    return;
                };
                let sample = Sample {
                    at: began.elapsed(),
                    ops: driver.tally.ops.load(Ordering::Relaxed),
                    answers: driver.answers.poll(),
                    rss_kib: rss,
                };
                if sample.at >= printed {
                    println!(
                        "  t={:>5}s  requests {:>6}/{total_ops}  answers {:>6}  moto RSS {}",
                        sample.at.as_secs(),
                        sample.ops,
                        sample.answers,
                        mib(rss)
                    );
                    printed = sample.at + Duration::from_secs(30);
                }
                if let Ok(mut s) = samples.lock() {
                    s.push(sample);
                }
                if rss > max_kib {
                    println!("  moto passed {} MiB: stopping the run", max_kib / 1024);
                    stop.store(true, Ordering::SeqCst);
                }
                tokio::time::sleep(every).await;
            }
        })
    };

    // Senders: `concurrency` tasks taking units in order.
    let next = Arc::new(AtomicUsize::new(0));
    let units = Arc::new(units);
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..plan.concurrency.max(1) {
        let (driver, next, units, stop) =
            (driver.clone(), next.clone(), units.clone(), stop.clone());
        let loyalty_ops = plan.loyalty_ops;
        senders.spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let Some(unit) = units.get(next.fetch_add(1, Ordering::SeqCst)).copied() else {
                    return;
                };
                match unit {
                    Unit::Message(i) => driver.message(i).await,
                    Unit::Member(m) => {
                        let ops = OPS_PER_MEMBER.min(loyalty_ops - m * OPS_PER_MEMBER);
                        driver.member(m, ops).await
                    }
                    Unit::Lead(l) => driver.lead(l).await,
                }
            }
        });
    }
    while senders.join_next().await.is_some() {}
    let sent_in = began.elapsed();
    println!(
        "soak: {} requests sent in {:.0} s; waiting for the queues to drain",
        driver.tally.ops.load(Ordering::Relaxed),
        sent_in.as_secs_f64()
    );

    // Drained: no work queued or in flight, and no new answer for a while.
    let deadline = Instant::now() + target.drain_timeout;
    let mut last = (usize::MAX, Instant::now());
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        let (work, _) = queue_depths(clients, stack).await;
        let answered = driver.answers.poll();
        if answered != last.0 {
            last = (answered, Instant::now());
        }
        if work == 0 && last.1.elapsed() > Duration::from_secs(10) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    tokio::time::sleep(target.sample_every).await;
    stop.store(true, Ordering::SeqCst);
    sampler.abort();
    let (work, dead) = queue_depths(clients, stack).await;

    report(
        &driver,
        &samples.lock().map(|s| s.clone()).unwrap_or_default(),
        start_rss,
        rss_kib(target.moto_pid),
        died.load(Ordering::SeqCst),
        total_ops,
        driver.answers.poll(),
        (work, dead),
        began.elapsed(),
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn report(
    driver: &Driver,
    samples: &[Sample],
    start_rss: u64,
    now: Option<(u64, u64)>,
    died: bool,
    planned: usize,
    answered: usize,
    (work, dead): (u64, u64),
    took: Duration,
) {
    println!("\n== soak results ==");
    let outcomes = driver
        .tally
        .outcomes
        .lock()
        .map(|o| o.clone())
        .unwrap_or_default();
    for ((kind, status), n) in &outcomes {
        println!("  {kind:<8} {status:>7}  {n}");
    }
    let ops = driver.tally.ops.load(Ordering::Relaxed);
    println!("  requests sent {ops} of {planned}; bot answers to the customers {answered}");
    let stalls = driver.stalls.load(Ordering::Relaxed);
    if stalls > 0 {
        println!(
            "  {stalls} times no answer came for two minutes and the next message went anyway"
        );
    }
    println!("  queues at the end: {work} messages waiting or in flight, {dead} dead-lettered");
    println!("  duration {:.0} s", took.as_secs_f64());
    if died {
        let last = samples.last().map(|s| s.rss_kib).unwrap_or(start_rss);
        println!(
            "  moto DIED during the run; last sample {} after {} requests",
            mib(last),
            samples.last().map(|s| s.ops).unwrap_or(0)
        );
        return;
    }
    let (end, hwm) = now.unwrap_or((0, 0));
    let peak = samples
        .iter()
        .map(|s| s.rss_kib)
        .max()
        .unwrap_or(end)
        .max(end);
    let per_op = |kib: u64| (kib.saturating_sub(start_rss) as f64) / ops.max(1) as f64;
    println!(
        "  moto RSS: start {}, peak {} (sampled during the run), end {}; high-water mark since it started {}",
        mib(start_rss),
        mib(peak),
        mib(end),
        mib(hwm)
    );
    println!(
        "  growth per request: {:.1} KiB at the end, {:.1} KiB at the peak",
        per_op(end),
        per_op(peak)
    );
    if answered > 0 {
        println!(
            "  growth per agent answer: {:.1} KiB",
            (end.saturating_sub(start_rss) as f64) / answered as f64
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_spreads_every_kind_over_the_run() {
        let plan = SoakPlan {
            messages: 100,
            loyalty_ops: 20,
            leads: 5,
            customers: 10,
            concurrency: 1,
            max_backlog: 1,
        };
        let units = schedule(&plan);
        let count = |f: fn(&Unit) -> bool| units.iter().filter(|u| f(u)).count();
        assert_eq!(count(|u| matches!(u, Unit::Message(_))), 100);
        assert_eq!(count(|u| matches!(u, Unit::Member(_))), 4);
        assert_eq!(count(|u| matches!(u, Unit::Lead(_))), 5);
        // The first and the last fifth of the run each hold one lead.
        let fifth = units.len() / 5;
        let leads_in = |s: &[Unit]| s.iter().filter(|u| matches!(u, Unit::Lead(_))).count();
        assert_eq!(leads_in(&units[..fifth]), 1);
        assert_eq!(leads_in(&units[units.len() - fifth..]), 1);
    }
}

#[cfg(test)]
mod answer_tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn answers_count_only_new_bot_messages_to_soak_customers() {
        let path = std::env::temp_dir().join(format!("soak-outbox-{}.jsonl", std::process::id()));
        std::fs::write(
            &path,
            "{\"channel\":\"whatsapp\",\"to\":\"77020000001\",\"body\":{}}\n",
        )
        .unwrap();
        let answers = Answers::from_end(path.clone());
        assert_eq!(answers.poll(), 0, "lines from before the run do not count");
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        let partial = "{\"channel\":\"whatsapp\",\"to\":\"7702";
        write!(
            log,
            "{}\n{}\n{}\n{partial}",
            json!({"channel": "telegram", "to": "810000007", "body": {"chat_id": 810000007, "text": "hi"}}),
            json!({"channel": "telegram", "to": "100200300", "body": {"chat_id": 100200300, "text": "lead"}}),
            json!({"channel": "whatsapp", "to": "77020000003", "body": {}}),
        )
        .unwrap();
        assert_eq!(answers.poll(), 2, "the manager's notice is not an answer");
        writeln!(log, "0000005\",\"body\":{{}}}}").unwrap();
        assert_eq!(answers.poll(), 3, "a line written in two parts counts once");
        let _ = std::fs::remove_file(&path);
    }
}
