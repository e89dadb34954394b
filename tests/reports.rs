//! Scheduled reports against moto and a fake Telegram.
//!
//! Synthetic activity is written the way the producers write it (per-batch
//! `CounterBatch`es on tenant-local days, `FirstOf` for distinct counts); the ground
//! truth is computed independently from the raw events, and every report figure is
//! checked against it.

use aws_sdk_dynamodb::types::AttributeValue;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reports::period::Period;
use reports::report::{Figure, Report};
use reports::worker::{self, NoticeOutcome, WorkerConfig};
use sauda_shared::envelope::{Envelope, Job};
use sauda_shared::funnel::Stage;
use sauda_shared::stats::{self, metric, CounterBatch, FirstOf};
use sauda_shared::tenant::{Manager, ReportPeriodKind, TenantConfig};
use sauda_shared::TenantId;
use sauda_tests::fake::FakeServer;
use sauda_tests::{failed_ids, lambda_event, sqs_event, TestEnv};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

// ---- the system under test -----------------------------------------------------------

fn worker_deps(env: &TestEnv) -> worker::Deps {
    let config = WorkerConfig {
        core: sauda_shared::config::CoreConfig {
            stage: env.stage().to_owned(),
            table_name: env.stack.table.clone(),
        },
        bucket: env.stack.bucket.clone().expect("the template has a bucket"),
        notify_queue_url: env.queue_url("NotifyQueue"),
        link_base_url: None,
    };
    worker::Deps::from_aws(&env.clients, &config)
}

const LINK_BASE: &str = "https://api.example/";

fn linked_worker_deps(env: &TestEnv) -> worker::Deps {
    worker::Deps {
        link_base_url: Some(LINK_BASE.into()),
        ..worker_deps(env)
    }
}

fn link_deps(env: &TestEnv, valid_days: u32) -> Arc<reports::link::Deps> {
    let config = reports::link::LinkConfig {
        core: sauda_shared::config::CoreConfig {
            stage: env.stage().to_owned(),
            table_name: env.stack.table.clone(),
        },
        bucket: env.stack.bucket.clone().unwrap(),
        valid_days,
    };
    Arc::new(reports::link::Deps::from_aws(&env.clients, &config))
}

/// GET through the report-link router; returns the status, `Location` and body.
async fn open_link(deps: &Arc<reports::link::Deps>, path_and_query: &str) -> (u16, String, String) {
    use tower::ServiceExt;
    let response = reports::link::router(deps.clone())
        .oneshot(
            http::Request::get(path_and_query)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get(http::header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    (
        status,
        location,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// The first link of an HTML message, unescaped.
fn first_href(html: &str) -> String {
    html.split("href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no link in {html}"))
        .replace("&amp;", "&")
}

/// The link in each tenant's summary for the managers, from the notify queue.
async fn summary_links(env: &TestEnv) -> HashMap<TenantId, String> {
    let mut links = HashMap::new();
    for m in env.receive_all("NotifyQueue").await {
        let Ok(envelope) = Envelope::from_json(m.body().unwrap()) else {
            continue;
        };
        if let Job::Notify { notice } = envelope.job {
            let link = first_href(&notice.html);
            assert!(
                links.insert(notice.tenant, link).is_none(),
                "one notice each"
            );
        }
    }
    links
}

fn planner_deps(env: &TestEnv) -> reports::planner::PlannerDeps {
    let config = reports::planner::PlannerConfig {
        core: env.core_config(),
        reports_queue_url: env.queue_url("ReportsQueue"),
    };
    reports::planner::PlannerDeps {
        concurrency: 8,
        ..reports::planner::PlannerDeps::new(&env.clients, &config)
    }
}

async fn tenant(env: &TestEnv, configure: impl FnOnce(&mut TenantConfig)) -> TenantId {
    let t = env.tenant().await;
    sauda_infra::tenant::update_config(&env.clients.dynamo, &env.stack.table, &t.id, configure)
        .await
        .unwrap();
    t.id
}

async fn object(env: &TestEnv, key: &str) -> Vec<u8> {
    env.clients
        .s3
        .get_object()
        .bucket(env.stack.bucket.as_deref().unwrap())
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{key}: {e:?}"))
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes()
        .to_vec()
}

async fn stored_report(env: &TestEnv, tenant: &TenantId, period: &str) -> (Report, String, String) {
    let prefix = format!("reports/{tenant}/{period}/");
    let json = object(env, &format!("{prefix}report.json")).await;
    let csv = String::from_utf8(object(env, &format!("{prefix}report.csv")).await).unwrap();
    let html = String::from_utf8(object(env, &format!("{prefix}report.html")).await).unwrap();
    (serde_json::from_slice(&json).unwrap(), csv, html)
}

/// AWS calls by operation, as `env.counter.snapshot()` lists them.
fn calls(expected: &[(&str, usize)]) -> BTreeMap<String, usize> {
    expected
        .iter()
        .map(|(op, n)| ((*op).to_owned(), *n))
        .collect()
}

fn job(tenant: &TenantId, period: &str) -> String {
    Envelope::report(tenant.clone(), period).to_json()
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

// ---- synthetic activity, written as the producers write it ------------------------------

#[derive(Clone, Debug)]
enum Ev {
    Inbound {
        contact: u32,
    },
    Reply {
        llm: bool,
        reason: &'static str,
        latency_ms: u64,
        prompt: i64,
        completion: i64,
        cost: i64,
    },
    LeadNew {
        source: &'static str,
    },
    LeadEnter {
        stage: Stage,
        won: bool,
    },
    Purchase {
        member: u32,
        partner: &'static str,
        amount: i64,
        accrued: i64,
    },
    Redeem {
        member: u32,
        partner: &'static str,
        points: i64,
    },
    Expire {
        points: i64,
    },
    Join {
        member: u32,
        referred: bool,
        welcome: i64,
    },
    Rating {
        partner: &'static str,
        score: i64,
    },
}

#[derive(Clone, Debug)]
struct Event {
    ts_ms: i64,
    ev: Ev,
}

/// Random activity between `from` and `to` (with spill-over on both sides, which the
/// report must leave out), in time order.
fn activity(
    seed: u64,
    from: Timestamp,
    to: Timestamp,
    scale: u32,
    partners: &[&'static str],
) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (lo, hi) = (
        from.as_millisecond() - 86_400_000,
        to.as_millisecond() + 86_400_000,
    );
    let mut events = Vec::new();
    let at = |rng: &mut StdRng| rng.random_range(lo..hi);
    for _ in 0..(300 * scale) {
        let t = at(&mut rng);
        let contact = rng.random_range(0..(12 * scale));
        events.push(Event {
            ts_ms: t,
            ev: Ev::Inbound { contact },
        });
        if rng.random_bool(0.9) {
            let llm = rng.random_bool(0.8);
            let reasons = ["llm_error", "budget", "no_llm"];
            let latency_ms = rng
                .random_range(100..70_000u64)
                .min(rng.random_range(100..5_000));
            let (prompt, completion) = if llm {
                (rng.random_range(500..3000), rng.random_range(50..400))
            } else {
                (0, 0)
            };
            events.push(Event {
                ts_ms: t + 1,
                ev: Ev::Reply {
                    llm,
                    reason: reasons[rng.random_range(0..3)],
                    latency_ms,
                    prompt,
                    completion,
                    cost: prompt * 150 / 1000 + completion * 600 / 1000,
                },
            });
        }
    }
    for _ in 0..(40 * scale) {
        let mut t = at(&mut rng);
        let sources = ["agent", "form", "sweep", "manual"];
        events.push(Event {
            ts_ms: t,
            ev: Ev::LeadNew {
                source: sources[rng.random_range(0..4)],
            },
        });
        let mut position = 0;
        loop {
            t += rng.random_range(3_600_000..4 * 86_400_000);
            if rng.random_bool(0.15) && position < 5 {
                events.push(Event {
                    ts_ms: t,
                    ev: Ev::LeadEnter {
                        stage: Stage::Lost,
                        won: false,
                    },
                });
                break;
            }
            if rng.random_bool(0.3) || position + 1 >= Stage::FUNNEL.len() {
                break;
            }
            // Forward by one, sometimes skipping a stage, as managers do.
            position = (position + rng.random_range(1..=2)).min(Stage::FUNNEL.len() - 1);
            let stage = Stage::FUNNEL[position];
            events.push(Event {
                ts_ms: t,
                ev: Ev::LeadEnter {
                    stage,
                    won: stage == Stage::Sale,
                },
            });
            if stage.is_won() {
                break;
            }
        }
    }
    for _ in 0..(120 * scale) {
        let t = at(&mut rng);
        let member = rng.random_range(0..(10 * scale));
        let partner = partners[rng.random_range(0..partners.len())];
        let ev = match rng.random_range(0..10) {
            0..=4 => {
                let amount = rng.random_range(1_000..500_000);
                Ev::Purchase {
                    member,
                    partner,
                    amount,
                    accrued: amount / 100 * 5 / 100,
                }
            }
            5 | 6 => Ev::Redeem {
                member,
                partner,
                points: rng.random_range(10..2_000),
            },
            7 => Ev::Expire {
                points: rng.random_range(1..500),
            },
            8 => Ev::Join {
                member,
                referred: rng.random_bool(0.4),
                welcome: 100,
            },
            _ => Ev::Rating {
                partner,
                score: rng.random_range(0..=10),
            },
        };
        events.push(Event { ts_ms: t, ev });
    }
    events.sort_by_key(|e| e.ts_ms);
    events
}

/// Writes counters exactly as the producers do: a `CounterBatch` per batch of events,
/// days in the tenant's zone, `FirstOf` for the distinct-per-period counters.
async fn produce(env: &TestEnv, tenant: &TenantId, zone: &str, events: &[Event], batch: usize) {
    let mut last_inbound: HashMap<u32, i64> = HashMap::new();
    let mut last_loyalty: HashMap<u32, i64> = HashMap::new();
    for (n, chunk) in events.chunks(batch).enumerate() {
        let mut counters = CounterBatch::default();
        for e in chunk {
            let day = stats::local_day(zone, e.ts_ms);
            let d = counters.day(tenant, &day);
            match &e.ev {
                Ev::Inbound { contact } => {
                    let previous = last_inbound.insert(*contact, e.ts_ms);
                    d.add(metric::MESSAGES_IN, 1);
                    if previous.is_none() {
                        d.add(metric::CONTACTS_NEW, 1);
                    }
                    FirstOf::between(zone, previous, e.ts_ms).count(
                        d,
                        metric::CONVERSATIONS_DAY,
                        metric::CONVERSATIONS_WEEK,
                        metric::CONVERSATIONS_MONTH,
                    );
                }
                Ev::Reply {
                    llm,
                    reason,
                    latency_ms,
                    prompt,
                    completion,
                    cost,
                } => {
                    d.add(metric::MESSAGES_OUT, 1);
                    d.add(&metric::latency_bucket(*latency_ms), 1);
                    if *llm {
                        d.add(metric::REPLIES_LLM, 1)
                            .add(metric::AI_CALLS, 1)
                            .add(metric::AI_PROMPT_TOKENS, *prompt)
                            .add(metric::AI_COMPLETION_TOKENS, *completion)
                            .add(metric::AI_COST_MICROS, *cost);
                    } else {
                        d.add(metric::REPLIES_FALLBACK, 1)
                            .add(&metric::fallback_reason(reason), 1);
                    }
                }
                Ev::LeadNew { source } => {
                    d.add(&metric::leads_new(source), 1)
                        .add(&metric::leads_entered("new"), 1);
                }
                Ev::LeadEnter { stage, won } => {
                    d.add(&metric::leads_entered(stage.as_str()), 1);
                    if *won {
                        d.add(metric::LEADS_WON, 1);
                    }
                    if *stage == Stage::Lost {
                        d.add(metric::LEADS_LOST, 1);
                    }
                }
                Ev::Purchase {
                    member,
                    partner,
                    amount,
                    accrued,
                } => {
                    let previous = last_loyalty.insert(*member, e.ts_ms);
                    d.add(metric::LOYALTY_PURCHASES, 1)
                        .add(metric::LOYALTY_TURNOVER_MINOR, *amount)
                        .add(metric::LOYALTY_ACCRUED, *accrued)
                        .add(&metric::partner(partner, "turnover_minor"), *amount)
                        .add(&metric::partner(partner, "purchases"), 1)
                        .add(&metric::partner(partner, "accrued"), *accrued);
                    active(d, zone, previous, e.ts_ms);
                }
                Ev::Redeem {
                    member,
                    partner,
                    points,
                } => {
                    let previous = last_loyalty.insert(*member, e.ts_ms);
                    d.add(metric::LOYALTY_REDEEMED, *points)
                        .add(&metric::partner(partner, "redeemed"), *points);
                    active(d, zone, previous, e.ts_ms);
                }
                Ev::Expire { points } => {
                    d.add(metric::LOYALTY_EXPIRED, *points);
                }
                Ev::Join {
                    member,
                    referred,
                    welcome,
                } => {
                    let previous = last_loyalty.insert(*member, e.ts_ms);
                    d.add(metric::LOYALTY_MEMBERS_NEW, 1)
                        .add(metric::LOYALTY_WELCOME, *welcome);
                    if *referred {
                        d.add(metric::LOYALTY_REFERRAL_JOINS, 1);
                    }
                    active(d, zone, previous, e.ts_ms);
                }
                Ev::Rating { partner, score } => {
                    d.add(&metric::partner(partner, "nps_count"), 1)
                        .add(&metric::partner(partner, "nps_sum"), *score);
                    if *score >= 9 {
                        d.add(&metric::partner(partner, "nps_promoters"), 1);
                    } else if *score <= 6 {
                        d.add(&metric::partner(partner, "nps_detractors"), 1);
                    }
                }
            }
        }
        counters
            .flush(&env.clients.dynamo, &env.stack.table, n as u64)
            .await
            .unwrap();
    }
}

fn active(d: &mut stats::CounterDelta, zone: &str, previous: Option<i64>, now: i64) {
    FirstOf::between(zone, previous, now).count(
        d,
        metric::LOYALTY_ACTIVE_DAY,
        metric::LOYALTY_ACTIVE_WEEK,
        metric::LOYALTY_ACTIVE_MONTH,
    );
}

// ---- ground truth, computed from the raw events ---------------------------------------

#[derive(Debug, Default, PartialEq)]
struct Truth {
    conversations: i64,
    messages_in: i64,
    messages_out: i64,
    contacts_new: i64,
    replies_llm: i64,
    replies_fallback: i64,
    fallback: BTreeMap<String, i64>,
    latencies: Vec<u64>,
    leads_new: BTreeMap<String, i64>,
    entered: BTreeMap<String, i64>,
    won: i64,
    lost: i64,
    accrued: i64,
    redeemed: i64,
    expired: i64,
    welcome: i64,
    referral_joins: i64,
    members_new: i64,
    active_members: i64,
    purchases: i64,
    turnover: i64,
    /// partner → [turnover, purchases, accrued, redeemed, count, sum, promoters, detractors]
    partners: BTreeMap<String, [i64; 8]>,
    ai_calls: i64,
    prompt: i64,
    completion: i64,
    cost: i64,
}

/// The local calendar date of an instant, straight from jiff (not from the producers' helper).
fn local_date(zone: &TimeZone, ts_ms: i64) -> Date {
    Timestamp::from_millisecond(ts_ms)
        .unwrap()
        .to_zoned(zone.clone())
        .date()
}

fn truth(events: &[Event], zone: &str, first: Date, last: Date) -> Truth {
    let tz = TimeZone::get(zone).unwrap();
    let inside = |e: &Event| {
        let d = local_date(&tz, e.ts_ms);
        first <= d && d <= last
    };
    let mut t = Truth::default();
    let mut first_seen: HashMap<u32, i64> = HashMap::new();
    for e in events {
        if let Ev::Inbound { contact } = e.ev {
            first_seen.entry(contact).or_insert(e.ts_ms);
        }
    }
    let mut contacts = BTreeSet::new();
    let mut members = BTreeSet::new();
    for e in events.iter().filter(|e| inside(e)) {
        let mut partner =
            |p: &str, i: usize, v: i64| t.partners.entry(p.to_owned()).or_default()[i] += v;
        match &e.ev {
            Ev::Inbound { contact } => {
                contacts.insert(*contact);
                t.messages_in += 1;
                if first_seen[contact] == e.ts_ms {
                    t.contacts_new += 1;
                }
            }
            Ev::Reply {
                llm,
                reason,
                latency_ms,
                prompt,
                completion,
                cost,
            } => {
                t.messages_out += 1;
                t.latencies.push(*latency_ms);
                if *llm {
                    t.replies_llm += 1;
                    t.ai_calls += 1;
                    t.prompt += prompt;
                    t.completion += completion;
                    t.cost += cost;
                } else {
                    t.replies_fallback += 1;
                    *t.fallback.entry((*reason).to_owned()).or_default() += 1;
                }
            }
            Ev::LeadNew { source } => {
                *t.leads_new.entry((*source).to_owned()).or_default() += 1;
                *t.entered.entry("new".into()).or_default() += 1;
            }
            Ev::LeadEnter { stage, won } => {
                *t.entered.entry(stage.as_str().into()).or_default() += 1;
                t.won += i64::from(*won);
                t.lost += i64::from(*stage == Stage::Lost);
            }
            Ev::Purchase {
                member,
                partner: p,
                amount,
                accrued,
            } => {
                members.insert(*member);
                t.purchases += 1;
                t.turnover += amount;
                t.accrued += accrued;
                partner(p, 0, *amount);
                partner(p, 1, 1);
                partner(p, 2, *accrued);
            }
            Ev::Redeem {
                member,
                partner: p,
                points,
            } => {
                members.insert(*member);
                t.redeemed += points;
                partner(p, 3, *points);
            }
            Ev::Expire { points } => t.expired += points,
            Ev::Join {
                member,
                referred,
                welcome,
            } => {
                members.insert(*member);
                t.members_new += 1;
                t.welcome += welcome;
                t.referral_joins += i64::from(*referred);
            }
            Ev::Rating { partner: p, score } => {
                partner(p, 4, 1);
                partner(p, 5, *score);
                partner(p, 6, i64::from(*score >= 9));
                partner(p, 7, i64::from(*score <= 6));
            }
        }
    }
    t.conversations = contacts.len() as i64;
    t.active_members = members.len() as i64;
    t
}

/// The histogram bound holding the ⌈n/2⌉-th smallest latency, as the report states it.
fn median_bound(latencies: &[u64]) -> Option<u32> {
    if latencies.is_empty() {
        return None;
    }
    let mut sorted = latencies.to_vec();
    sorted.sort_unstable();
    let kth = sorted[sorted.len().div_ceil(2) - 1];
    metric::LATENCY_BUCKETS_MS
        .iter()
        .copied()
        .find(|b| kth <= u64::from(*b))
}

fn pct(part: i64, whole: i64) -> Option<f64> {
    (whole != 0).then(|| part as f64 * 100.0 / whole as f64)
}

fn close(actual: Option<f64>, expected: Option<f64>, what: &str) {
    match (actual, expected) {
        (Some(a), Some(e)) => assert!((a - e).abs() <= 0.05, "{what}: {a} != {e}"),
        (a, e) => assert_eq!(a.is_some(), e.is_some(), "{what}: {a:?} vs {e:?}"),
    }
}

fn fig(f: &Figure, now: i64, before: i64, what: &str) {
    assert_eq!((f.value, f.previous), (now, before), "{what}");
    close(f.change_pct, pct(now - before, before), what);
}

fn nps(t: &[i64; 8]) -> Option<f64> {
    pct(t[6] - t[7], t[4])
}

/// Every figure of the report against the truth of its period and the previous one.
fn assert_matches(
    r: &Report,
    now: &Truth,
    before: &Truth,
    budget: Option<i64>,
    month_to_date_cost: i64,
) {
    let c = &r.conversations;
    fig(
        &c.conversations,
        now.conversations,
        before.conversations,
        "conversations",
    );
    fig(
        &c.messages_in,
        now.messages_in,
        before.messages_in,
        "messages_in",
    );
    fig(
        &c.messages_out,
        now.messages_out,
        before.messages_out,
        "messages_out",
    );
    fig(
        &c.contacts_new,
        now.contacts_new,
        before.contacts_new,
        "contacts_new",
    );
    fig(
        &c.replies_llm,
        now.replies_llm,
        before.replies_llm,
        "replies_llm",
    );
    fig(
        &c.replies_fallback,
        now.replies_fallback,
        before.replies_fallback,
        "replies_fallback",
    );
    close(
        c.llm_share.value,
        pct(now.replies_llm, now.replies_llm + now.replies_fallback),
        "llm share",
    );
    let reasons: BTreeSet<&String> = now.fallback.keys().chain(before.fallback.keys()).collect();
    assert_eq!(c.fallback_reasons.keys().collect::<BTreeSet<_>>(), reasons);
    for reason in reasons {
        let get = |t: &Truth| t.fallback.get(reason).copied().unwrap_or(0);
        fig(&c.fallback_reasons[reason], get(now), get(before), reason);
    }
    assert_eq!(c.latency.replies, now.latencies.len() as i64);
    assert_eq!(
        c.latency.median_le_ms,
        median_bound(&now.latencies),
        "median latency"
    );
    assert_eq!(
        c.latency.previous_median_le_ms,
        median_bound(&before.latencies)
    );

    let l = &r.leads;
    for source in ["agent", "form", "sweep", "manual"] {
        let get = |t: &Truth| t.leads_new.get(source).copied().unwrap_or(0);
        fig(&l.new_by_source[source], get(now), get(before), source);
    }
    fig(
        &l.new_total,
        now.leads_new.values().sum(),
        before.leads_new.values().sum(),
        "new leads",
    );
    let entered = |t: &Truth, s: &str| t.entered.get(s).copied().unwrap_or(0);
    assert_eq!(l.stages.len(), Stage::ALL.len());
    for s in &l.stages {
        fig(
            &s.entered,
            entered(now, &s.stage),
            entered(before, &s.stage),
            &s.stage,
        );
    }
    for (i, pair) in Stage::FUNNEL.windows(2).enumerate() {
        let (from, to) = (pair[0].as_str(), pair[1].as_str());
        assert_eq!(
            (l.conversion[i].from.as_str(), l.conversion[i].to.as_str()),
            (from, to)
        );
        close(
            l.conversion[i].rate.value,
            pct(entered(now, to), entered(now, from)),
            to,
        );
        close(
            l.conversion[i].rate.previous,
            pct(entered(before, to), entered(before, from)),
            to,
        );
    }
    fig(&l.won, now.won, before.won, "won");
    fig(&l.lost, now.lost, before.lost, "lost");

    let y = &r.loyalty;
    fig(&y.accrued, now.accrued, before.accrued, "accrued");
    fig(&y.redeemed, now.redeemed, before.redeemed, "redeemed");
    fig(&y.expired, now.expired, before.expired, "expired");
    fig(&y.welcome, now.welcome, before.welcome, "welcome");
    fig(
        &y.referral_joins,
        now.referral_joins,
        before.referral_joins,
        "referral joins",
    );
    fig(
        &y.members_new,
        now.members_new,
        before.members_new,
        "members new",
    );
    fig(
        &y.active_members,
        now.active_members,
        before.active_members,
        "active members",
    );
    fig(&y.purchases, now.purchases, before.purchases, "purchases");
    fig(&y.turnover_minor, now.turnover, before.turnover, "turnover");
    let partner_ids: BTreeSet<&String> =
        now.partners.keys().chain(before.partners.keys()).collect();
    assert_eq!(
        y.partners
            .iter()
            .map(|p| &p.partner_id)
            .collect::<BTreeSet<_>>(),
        partner_ids
    );
    let zero = [0i64; 8];
    for p in &y.partners {
        let (a, b) = (
            now.partners.get(&p.partner_id).unwrap_or(&zero),
            before.partners.get(&p.partner_id).unwrap_or(&zero),
        );
        fig(&p.turnover_minor, a[0], b[0], "partner turnover");
        fig(&p.purchases, a[1], b[1], "partner purchases");
        fig(&p.accrued, a[2], b[2], "partner accrued");
        fig(&p.redeemed, a[3], b[3], "partner redeemed");
        fig(&p.nps.count, a[4], b[4], "nps count");
        close(p.nps.score.value, nps(a), "nps score");
        close(p.nps.score.previous, nps(b), "previous nps score");
    }
    assert!(y
        .partners
        .windows(2)
        .all(|w| w[0].turnover_minor.value >= w[1].turnover_minor.value));
    let total = |t: &Truth, i: usize| t.partners.values().map(|p| p[i]).sum::<i64>();
    fig(&y.nps.count, total(now, 4), total(before, 4), "nps total");
    close(
        y.nps.score.value,
        pct(total(now, 6) - total(now, 7), total(now, 4)),
        "nps total score",
    );

    let ai = &r.ai;
    fig(&ai.calls, now.ai_calls, before.ai_calls, "ai calls");
    fig(
        &ai.prompt_tokens,
        now.prompt,
        before.prompt,
        "prompt tokens",
    );
    fig(
        &ai.completion_tokens,
        now.completion,
        before.completion,
        "completion tokens",
    );
    fig(
        &ai.tokens_total,
        now.prompt + now.completion,
        before.prompt + before.completion,
        "tokens",
    );
    fig(&ai.cost_micros, now.cost, before.cost, "ai cost");
    let per = (now.conversations != 0)
        .then(|| (now.cost as f64 / now.conversations as f64).round() as i64);
    assert_eq!(
        ai.cost_per_conversation_micros, per,
        "cost per conversation"
    );
    assert_eq!(ai.budget.monthly_budget_micros, budget);
    assert_eq!(ai.budget.month_to_date_cost_micros, month_to_date_cost);
    close(
        ai.budget.used_pct,
        budget.and_then(|b| pct(month_to_date_cost, b)),
        "budget used",
    );
}

fn period_truths(events: &[Event], zone: &str, period: Period) -> (Truth, Truth) {
    let previous = period.previous();
    (
        truth(events, zone, period.first_day(), period.last_day()),
        truth(events, zone, previous.first_day(), previous.last_day()),
    )
}

/// CSV rows: day → column → value (the file is plain integers; no quoting involved).
fn csv_rows(csv: &str) -> BTreeMap<String, BTreeMap<String, i64>> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[0], "day");
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(cells.len(), header.len(), "every row has every column");
            let values = header[1..]
                .iter()
                .zip(&cells[1..])
                .map(|(h, v)| ((*h).to_owned(), v.parse().unwrap()))
                .collect();
            (cells[0].to_owned(), values)
        })
        .collect()
}

// ---- tests -----------------------------------------------------------------------------

#[tokio::test]
async fn a_month_for_two_tenants_in_different_zones_matches_the_ground_truth() {
    let env = TestEnv::new().await;
    let deps = worker_deps(&env);
    let budget = 2_000_000;
    let a = tenant(&env, |c| {
        c.timezone = "Asia/Almaty".into();
        c.default_language = "ru".into();
        c.agent.monthly_budget_micros = Some(budget);
    })
    .await;
    // Berlin leaves summer time on 2026-10-25: October has a 25-hour day there.
    let b = tenant(&env, |c| {
        c.timezone = "Europe/Berlin".into();
        c.reports.language = Some("kk".into());
    })
    .await;
    env.put_partner(&a, "alpha-cafe", "Alpha Café").await;
    env.put_partner(&a, "shared", "Alpha Shared Partner").await;
    env.put_partner(&b, "shared", "Beta Shared Partner").await;
    env.put_partner(&b, "beta-gym", "Beta Gym").await;

    let october = Period::parse("2026-10").unwrap();
    let span = |zone: &str| {
        let tz = TimeZone::get(zone).unwrap();
        (october.previous().start(&tz), october.end(&tz))
    };
    let (from, to) = span("Asia/Almaty");
    let events_a = activity(1, from, to, 2, &["alpha-cafe", "shared"]);
    let (from, to) = span("Europe/Berlin");
    let events_b = activity(2, from, to, 3, &["beta-gym", "shared"]);
    produce(&env, &a, "Asia/Almaty", &events_a, 25).await;
    produce(&env, &b, "Europe/Berlin", &events_b, 10).await;

    env.counter.reset();
    let response = worker::handle(
        &deps,
        lambda_event(sqs_event(&[job(&a, "2026-10"), job(&b, "2026-10")])),
    )
    .await
    .unwrap();
    assert!(failed_ids(&response).is_empty());
    // Cost grows with days: per report 3 BatchGetItems for 61 days × 4 shards, one
    // for partner names, one config read, three puts and one record update.
    assert_eq!(
        env.counter.snapshot(),
        calls(&[
            ("DynamoDB.GetItem", 2),
            ("DynamoDB.BatchGetItem", 8),
            ("S3.PutObject", 6),
            ("DynamoDB.UpdateItem", 2),
        ])
    );

    for (tenant, zone, events, budget) in [
        (&a, "Asia/Almaty", &events_a, Some(budget)),
        (&b, "Europe/Berlin", &events_b, None),
    ] {
        let (report, csv, html) = stored_report(&env, tenant, "2026-10").await;
        let (now, before) = period_truths(events, zone, october);
        assert!(
            now.messages_in > 50 && before.messages_in > 50,
            "enough activity to mean something"
        );
        assert_matches(&report, &now, &before, budget, now.cost);
        assert_eq!(report.period.first_day, "2026-10-01");
        assert_eq!(report.period.last_day, "2026-10-31");
        assert_eq!(report.previous_period.id, "2026-09");
        assert_eq!(report.ai.budget.cumulative.len(), 31);
        assert_eq!(report.ai.budget.cumulative.last().unwrap().value, now.cost);

        // The CSV: one row per day, and each day's figures equal that day's truth.
        let rows = csv_rows(&csv);
        assert_eq!(rows.len(), 31);
        for date in october.days() {
            let day = truth(events, zone, date, date);
            let row = &rows[&date.to_string()];
            assert_eq!(row[metric::MESSAGES_IN], day.messages_in, "{date}");
            assert_eq!(row[metric::MESSAGES_OUT], day.messages_out, "{date}");
            assert_eq!(row[metric::CONVERSATIONS_DAY], day.conversations, "{date}");
            assert_eq!(row[metric::LOYALTY_ACCRUED], day.accrued, "{date}");
            assert_eq!(row[metric::AI_COST_MICROS], day.cost, "{date}");
            assert_eq!(
                row[&metric::leads_entered("qualification")],
                day.entered.get("qualification").copied().unwrap_or(0)
            );
        }
        // The HTML is the rendering of exactly this JSON, in the tenant's language.
        assert_eq!(html.as_bytes(), reports::render::html(&report).unwrap());
        assert!(html.starts_with("<!DOCTYPE html>"));
    }

    let (report_a, csv_a, html_a) = stored_report(&env, &a, "2026-10").await;
    let (report_b, _, html_b) = stored_report(&env, &b, "2026-10").await;
    assert_eq!(report_a.period.hours, 31 * 24);
    assert_eq!(
        report_b.period.hours,
        31 * 24 + 1,
        "Berlin's October has the extra hour"
    );
    assert_eq!(report_b.period.start_utc, "2026-09-30T22:00:00Z");
    assert_eq!(report_b.period.end_utc, "2026-10-31T23:00:00Z");
    assert!(html_a.contains("lang=\"ru\"") && html_a.contains("Отчёт за месяц"));
    assert!(html_b.contains("lang=\"kk\"") && html_b.contains("Айлық есеп"));

    // Tenant B never appears in A's report: not its id, partners or partner names.
    let a_json = serde_json::to_string(&report_a).unwrap();
    for leak in [b.as_str(), "beta-gym", "Beta Shared Partner", "Beta Gym"] {
        assert!(
            !a_json.contains(leak) && !csv_a.contains(leak) && !html_a.contains(leak),
            "{leak} leaked into A"
        );
    }
    let shared = report_a
        .loyalty
        .partners
        .iter()
        .find(|p| p.partner_id == "shared")
        .unwrap();
    assert_eq!(shared.name, "Alpha Shared Partner");
    assert!(html_b.contains("Beta Shared Partner") && !html_b.contains("Alpha"));
}

#[tokio::test]
async fn day_boundaries_follow_the_zone_across_dst_changes() {
    let env = TestEnv::new().await;
    let deps = worker_deps(&env);
    let zone = "America/New_York";
    let t = tenant(&env, |c| {
        c.timezone = zone.into();
        c.reports.periods = vec![ReportPeriodKind::Daily];
        // Existed long before the days it reports on.
        c.created_at_ms = 0;
    })
    .await;
    let inbound = |at: &str, contact| Event {
        ts_ms: ts(at).as_millisecond(),
        ev: Ev::Inbound { contact },
    };
    let events = vec![
        // Spring forward, 2026-03-08: 23 hours, 05:00Z to 04:00Z next day.
        inbound("2026-03-08T04:30:00Z", 1), // 23:30 EST on the 7th
        inbound("2026-03-08T05:30:00Z", 1), // 00:30 EST
        inbound("2026-03-08T07:30:00Z", 2), // 03:30 EDT
        inbound("2026-03-09T03:30:00Z", 3), // 23:30 EDT
        inbound("2026-03-09T04:30:00Z", 3), // 00:30 EDT on the 9th
        // Fall back, 2026-11-01: 25 hours, 04:00Z to 05:00Z next day.
        inbound("2026-11-01T04:30:00Z", 4), // 00:30 EDT
        inbound("2026-11-01T05:30:00Z", 4), // 01:30 EDT
        inbound("2026-11-01T06:30:00Z", 5), // 01:30 EST, the repeated hour
        inbound("2026-11-02T04:30:00Z", 6), // 23:30 EST
        inbound("2026-11-02T05:30:00Z", 6), // 00:30 EST on the 2nd
    ];
    produce(&env, &t, zone, &events, 3).await;
    let periods = [
        "2026-03-07",
        "2026-03-08",
        "2026-03-09",
        "2026-11-01",
        "2026-11-02",
    ];
    let bodies: Vec<String> = periods.iter().map(|p| job(&t, p)).collect();
    let response = worker::handle(&deps, lambda_event(sqs_event(&bodies)))
        .await
        .unwrap();
    assert!(failed_ids(&response).is_empty());
    let mut seen = Vec::new();
    for p in periods {
        let (r, _, _) = stored_report(&env, &t, p).await;
        seen.push((
            r.period.hours,
            r.conversations.messages_in.value,
            r.conversations.conversations.value,
        ));
    }
    assert_eq!(
        seen,
        [(24, 1, 1), (23, 3, 3), (24, 1, 1), (25, 4, 3), (24, 1, 1)]
    );
    let (fall, _, _) = stored_report(&env, &t, "2026-11-01").await;
    assert_eq!(
        (fall.period.start_utc.as_str(), fall.period.end_utc.as_str()),
        ("2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z")
    );
    assert_eq!(fall.conversations.messages_in.previous, 0);

    // The planner enqueues the 25-hour day when it closes at 05:00Z, not an hour early.
    let planner = planner_deps(&env);
    let hour = jiff::SignedDuration::from_hours(1);
    let early = reports::planner::plan(&planner, ts("2026-11-02T04:05:00Z"), hour)
        .await
        .unwrap();
    assert_eq!(early.jobs, 0);
    let on_time = reports::planner::plan(&planner, ts("2026-11-02T05:05:00Z"), hour)
        .await
        .unwrap();
    assert_eq!(on_time.jobs, 1);
    let queued = env.receive_all("ReportsQueue").await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].body(), Some(job(&t, "2026-11-01").as_str()));
}

async fn tenant_with_managers(env: &TestEnv, chats: &[i64]) -> TenantId {
    let managers: Vec<Manager> = chats
        .iter()
        .map(|&chat_id| Manager {
            chat_id,
            name: format!("m{chat_id}"),
        })
        .collect();
    tenant(env, |c| {
        c.name = "Demo & <Co>".into();
        c.managers = managers;
        c.default_language = "en".into();
    })
    .await
}

#[tokio::test]
async fn re_runs_are_byte_identical_and_notify_once() {
    let env = TestEnv::new().await;
    let deps = worker_deps(&env);
    let t = tenant_with_managers(&env, &[111]).await;
    let tz = TimeZone::UTC;
    let week = Period::parse("2026-W44").unwrap();
    let events = activity(7, week.previous().start(&tz), week.end(&tz), 1, &["p1"]);
    produce(&env, &t, "UTC", &events, 20).await;

    let event = sqs_event(&[job(&t, "2026-W44")]);
    assert!(failed_ids(
        &worker::handle(&deps, lambda_event(event.clone()))
            .await
            .unwrap()
    )
    .is_empty());
    let first: Vec<Vec<u8>> = report_files(&env, &t, "2026-W44").await;
    // SQS delivers the job again, and an operator backfills the same period.
    assert!(failed_ids(&worker::handle(&deps, lambda_event(event)).await.unwrap()).is_empty());
    let rerun = worker::run_report(&deps, &t, week, true, sauda_shared::now_ms())
        .await
        .unwrap();
    assert_eq!(rerun.notice, NoticeOutcome::AlreadyQueued);
    assert_eq!(rerun.runs, 3);
    assert_eq!(
        report_files(&env, &t, "2026-W44").await,
        first,
        "byte-identical files"
    );
    let (report, _, _) = stored_report(&env, &t, "2026-W44").await;
    let (now, before) = period_truths(&events, "UTC", week);
    let month_start = week.last_day().first_of_month();
    assert_eq!(
        report.ai.budget.month, "2026-11",
        "the budget month is the one the week ends in"
    );
    assert_matches(
        &report,
        &now,
        &before,
        None,
        truth(&events, "UTC", month_start, week.last_day()).cost,
    );

    let notices = env.receive_all("NotifyQueue").await;
    assert_eq!(notices.len(), 1, "one summary, however many runs");
    let envelope = Envelope::from_json(notices[0].body().unwrap()).unwrap();
    let Job::Notify { notice } = envelope.job else {
        panic!("not a notice")
    };
    assert_eq!(notice.id, "report:2026-W44");
    assert_eq!(notice.tenant, t);
    assert!(
        notice.html.contains("Weekly report 2026-W44"),
        "{}",
        notice.html
    );
    assert!(
        notice.html.contains("Demo &amp; &lt;Co&gt;"),
        "tenant name escaped: {}",
        notice.html
    );
    assert!(
        notice
            .html
            .contains(&format!("Conversations: {}", now.conversations)),
        "{}",
        notice.html
    );

    // The record keeps the run count and the digest of report.json.
    let (pk, sk) = sauda_shared::keys::report(&t, "2026-W44");
    let record = env
        .clients
        .dynamo
        .get_item()
        .table_name(&env.stack.table)
        .key("PK", AttributeValue::S(pk))
        .key("SK", AttributeValue::S(sk))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(record["runs"].as_n().unwrap(), "3");
    assert_eq!(record["notice_id"].as_s().unwrap(), "report:2026-W44");
    assert_eq!(record["digest"].as_s().unwrap(), &rerun.digest);
}

async fn report_files(env: &TestEnv, t: &TenantId, period: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for name in ["report.json", "report.csv", "report.html"] {
        out.push(object(env, &format!("reports/{t}/{period}/{name}")).await);
    }
    out
}

#[tokio::test]
async fn planner_fans_out_one_job_per_due_tenant() {
    let env = TestEnv::new().await;
    let n = 23;
    let mut due = BTreeSet::new();
    // Tenants that existed all month (the planner skips periods that ended before a
    // tenant was created, so the dates are pinned rather than taken from the clock).
    for _ in 0..n {
        due.insert(
            tenant(&env, |c| {
                c.reports.periods = vec![ReportPeriodKind::Monthly];
                c.created_at_ms = 0;
            })
            .await,
        );
    }
    // Not due: suspended, reports switched off, a zone whose month has not ended yet, and
    // a tenant created after November ended.
    tenant(&env, |c| {
        c.reports.periods = vec![ReportPeriodKind::Monthly];
        c.status = sauda_shared::tenant::TenantStatus::Suspended;
        c.created_at_ms = 0;
    })
    .await;
    tenant(&env, |c| {
        c.reports.periods = vec![];
        c.created_at_ms = 0;
    })
    .await;
    tenant(&env, |c| {
        c.timezone = "America/Los_Angeles".into();
        c.reports.periods = vec![ReportPeriodKind::Monthly];
        c.created_at_ms = 0;
    })
    .await;
    tenant(&env, |c| {
        c.reports.periods = vec![ReportPeriodKind::Monthly];
        c.created_at_ms = ts("2026-12-01T00:02:00Z").as_millisecond();
    })
    .await;

    env.counter.reset();
    let summary = reports::planner::handle(
        &planner_deps(&env),
        lambda_event(json!({"scheduled_time": "2026-12-01T00:05:00Z"})),
    )
    .await
    .unwrap();
    assert_eq!((summary.tenants, summary.jobs), (n + 4, n));
    let calls = env.counter.snapshot();
    assert_eq!(calls.get("DynamoDB.Query"), Some(&1), "{calls:?}");
    assert_eq!(
        calls.get("SQS.SendMessageBatch"),
        Some(&n.div_ceil(10)),
        "{calls:?}"
    );

    let queued = env.receive_all("ReportsQueue").await;
    let mut jobs = BTreeSet::new();
    for m in &queued {
        let envelope = Envelope::from_json(m.body().unwrap()).unwrap();
        assert_eq!(
            envelope.job,
            Job::Report {
                period: "2026-11".into()
            }
        );
        assert!(jobs.insert(envelope.tenant), "one job per tenant");
    }
    assert_eq!(jobs, due);
}

#[tokio::test]
async fn an_empty_tenant_without_managers_gets_a_stored_report_of_zeros() {
    let env = TestEnv::new().await;
    let deps = worker_deps(&env);
    let t = tenant(&env, |c| c.managers.clear()).await;
    let response = worker::handle(&deps, lambda_event(sqs_event(&[job(&t, "2026-10-31")])))
        .await
        .unwrap();
    assert!(failed_ids(&response).is_empty());
    let (report, csv, html) = stored_report(&env, &t, "2026-10-31").await;
    assert_matches(&report, &Truth::default(), &Truth::default(), None, 0);
    assert_eq!(report.conversations.latency.median_le_ms, None);
    let rows = csv_rows(&csv);
    assert_eq!(rows.len(), 1);
    assert!(rows["2026-10-31"].values().all(|v| *v == 0));
    assert!(
        rows["2026-10-31"].len() > 60,
        "every known metric is a column"
    );
    assert!(html.contains("chart-messages"));
    assert!(
        env.receive_all("NotifyQueue").await.is_empty(),
        "no managers: nothing sent"
    );
    let again = worker::run_report(
        &deps,
        &t,
        Period::parse("2026-10-31").unwrap(),
        true,
        sauda_shared::now_ms(),
    )
    .await
    .unwrap();
    assert_eq!(again.notice, NoticeOutcome::NoManagers);
}

#[tokio::test]
async fn a_telegram_outage_delays_the_summary_and_then_it_arrives_with_a_working_link() {
    let env = TestEnv::new().await;
    let deps = worker_deps(&env);
    let t = tenant_with_managers(&env, &[111, 222]).await;
    let tz = TimeZone::UTC;
    let day = Period::parse("2026-10-15").unwrap();
    let events = activity(11, day.previous().start(&tz), day.end(&tz), 1, &["p1"]);
    produce(&env, &t, "UTC", &events, 50).await;
    worker::handle(&deps, lambda_event(sqs_event(&[job(&t, "2026-10-15")])))
        .await
        .unwrap();

    let telegram = FakeServer::start().await;
    let notifier_deps = env.notifier(&telegram.base_url);
    telegram.set_default(
        502,
        json!({"ok": false, "error_code": 502, "description": "Bad Gateway"}),
    );
    let event = env.sqs_event_from_queue("NotifyQueue", 1).await;
    assert_eq!(event.records.len(), 1);
    let response = notifier::handle(&notifier_deps, lambda_event(event.clone()))
        .await
        .unwrap();
    assert_eq!(failed_ids(&response).len(), 1, "kept for a retry, not lost");

    let ok = json!({"ok": true, "result": {"message_id": 5, "date": 1, "chat": {"id": 1, "type": "private"}}});
    telegram.set_default(200, ok);
    let response = notifier::handle(&notifier_deps, lambda_event(event))
        .await
        .unwrap();
    assert!(failed_ids(&response).is_empty());
    let sent: Vec<serde_json::Value> = telegram
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/sendMessage"))
        .map(|r| r.json())
        .collect();
    // Two failed attempts during the outage, then one delivery per manager.
    let delivered = &sent[sent.len() - 2..];
    assert_eq!(
        delivered
            .iter()
            .map(|m| m["chat_id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [111, 222]
    );
    let text = delivered[0]["text"].as_str().unwrap();
    let (now, _) = period_truths(&events, "UTC", day);
    assert!(text.contains("Daily report 2026-10-15"), "{text}");
    assert!(
        text.contains(&format!("Conversations: {}", now.conversations)),
        "{text}"
    );
    assert_eq!(delivered[0]["parse_mode"], "HTML");

    // The link is a working presigned GET of the stored HTML.
    let link = first_href(text);
    assert!(
        link.contains("X-Amz-Expires=604800"),
        "valid 7 days: {link}"
    );
    let body = reqwest::get(&link).await.unwrap();
    assert!(body.status().is_success());
    assert_eq!(
        body.bytes().await.unwrap().to_vec(),
        object(&env, &format!("reports/{t}/2026-10-15/report.html")).await
    );

    // Re-running the report afterwards sends nothing more.
    worker::handle(&deps, lambda_event(sqs_event(&[job(&t, "2026-10-15")])))
        .await
        .unwrap();
    let left: Vec<_> = env
        .receive_all("NotifyQueue")
        .await
        .into_iter()
        .map(|m| m.body.unwrap_or_default())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn bad_jobs_fail_without_output_and_unknown_tenants_are_dropped() {
    let env = TestEnv::new().await;
    let deps = worker_deps(&env);
    let t = tenant_with_managers(&env, &[111]).await;
    let ghost = TenantId::parse("ghost-tenant").unwrap();
    let bodies = [
        "{not json".to_owned(),
        json!({"v": 1, "tenant": t.as_str(), "kind": "report", "period": "2026-13"}).to_string(),
        job(&t, "2999-01"),
        Envelope::report(t.clone(), "2026-10").to_json().replace("\"v\":1", "\"v\":9"),
        json!({"v": 1, "tenant": t.as_str(), "kind": "crm_webhook", "delivery_id": "d", "event": {}}).to_string(),
        job(&ghost, "2026-10"),
    ];
    let response = worker::handle(&deps, lambda_event(sqs_event(&bodies)))
        .await
        .unwrap();
    assert_eq!(
        failed_ids(&response),
        ["m0", "m1", "m2", "m3", "m4"],
        "the ghost's job is acknowledged"
    );
    let listed = env
        .clients
        .s3
        .list_objects_v2()
        .bucket(env.stack.bucket.as_deref().unwrap())
        .prefix("reports/")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(0), "nothing stored");
    assert!(env.receive_all("NotifyQueue").await.is_empty());
    let open = worker::run_report(
        &deps,
        &t,
        Period::parse("2999-01").unwrap(),
        true,
        sauda_shared::now_ms(),
    )
    .await;
    assert!(matches!(open, Err(worker::ReportError::NotEnded { .. })));
}

/// A job queued before the tenant was suspended builds nothing and tells nobody.
#[tokio::test]
async fn a_suspended_tenants_queued_report_is_dropped() {
    let env = TestEnv::new().await;
    let deps = worker_deps(&env);
    let t = tenant_with_managers(&env, &[111]).await;
    sauda_infra::tenant::update_config(&env.clients.dynamo, &env.stack.table, &t, |c| {
        c.status = sauda_shared::tenant::TenantStatus::Suspended
    })
    .await
    .unwrap();
    let response = worker::handle(&deps, lambda_event(sqs_event(&[job(&t, "2026-10")])))
        .await
        .unwrap();
    assert!(
        failed_ids(&response).is_empty(),
        "acknowledged, not retried"
    );
    let listed = env
        .clients
        .s3
        .list_objects_v2()
        .bucket(env.stack.bucket.as_deref().unwrap())
        .prefix("reports/")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(0), "nothing stored");
    assert!(env.receive_all("NotifyQueue").await.is_empty());
}

#[tokio::test]
async fn managers_get_a_stable_link_that_redirects_to_the_report_and_only_with_its_token() {
    let env = TestEnv::new().await;
    let deps = linked_worker_deps(&env);
    let a = tenant_with_managers(&env, &[111]).await;
    let b = tenant_with_managers(&env, &[222]).await;
    for t in [&a, &b] {
        worker::handle(&deps, lambda_event(sqs_event(&[job(t, "2026-10-15")])))
            .await
            .unwrap();
    }
    let links = summary_links(&env).await;
    let (link_a, link_b) = (links[&a].clone(), links[&b].clone());
    let prefix = format!("{LINK_BASE}t/{a}/reports/2026-10-15/report.html?token=");
    assert!(link_a.starts_with(&prefix), "{link_a}");
    let token_a = link_a.strip_prefix(&prefix).unwrap().to_owned();
    let token_b = link_b.split("token=").nth(1).unwrap().to_owned();
    assert!(token_a.len() >= 43 && token_a != token_b);

    // The link redirects to a short-lived presigned GET of the stored file.
    let links = link_deps(&env, 90);
    let path = format!("/t/{a}/reports/2026-10-15/report.html?token={token_a}");
    let (status, location, _) = open_link(&links, &path).await;
    assert_eq!(status, 302);
    assert!(location.contains("X-Amz-Expires=300"), "{location}");
    let body = reqwest::get(&location).await.unwrap();
    assert!(body.status().is_success());
    assert_eq!(
        body.bytes().await.unwrap().to_vec(),
        object(&env, &format!("reports/{a}/2026-10-15/report.html")).await
    );
    let (status, location, _) = open_link(
        &links,
        &format!("/t/{a}/reports/2026-10-15/report.csv?token={token_a}"),
    )
    .await;
    assert_eq!(status, 302);
    assert!(location.contains("/report.csv?"), "{location}");

    // A rerun keeps the token: the managers' link keeps working.
    worker::handle(&deps, lambda_event(sqs_event(&[job(&a, "2026-10-15")])))
        .await
        .unwrap();
    assert_eq!(open_link(&links, &path).await.0, 302);

    // Wrong, missing and other tenants' tokens; other files, periods and tenants.
    let code = |body: &str| {
        serde_json::from_str::<serde_json::Value>(body).unwrap()["error"]["code"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for (path, status, expected) in [
        (
            format!("/t/{a}/reports/2026-10-15/report.html?token={token_b}"),
            403,
            "invalid_link",
        ),
        (
            format!("/t/{b}/reports/2026-10-15/report.html?token={token_a}"),
            403,
            "invalid_link",
        ),
        (
            format!("/t/{a}/reports/2026-10-15/report.html"),
            403,
            "invalid_link",
        ),
        (
            format!("/t/{a}/reports/2026-10-15/report.html?token="),
            403,
            "invalid_link",
        ),
        (
            format!("/t/{a}/reports/2026-10-15/secrets.txt?token={token_a}"),
            404,
            "unknown_file",
        ),
        (
            format!("/t/{a}/reports/2026-10-16/report.html?token={token_a}"),
            404,
            "report_not_found",
        ),
        (
            format!("/t/{a}/reports/2026-13/report.html?token={token_a}"),
            400,
            "invalid_period",
        ),
        (
            format!("/t/{a}/reports/9999-12/report.html?token={token_a}"),
            400,
            "period_out_of_range",
        ),
        (
            format!("/t/NOT_A_TENANT/reports/2026-10-15/report.html?token={token_a}"),
            404,
            "tenant_not_found",
        ),
        (
            format!("/t/ghost-tenant/reports/2026-10-15/report.html?token={token_a}"),
            404,
            "tenant_not_found",
        ),
        (
            format!("/t/{a}/reports/2026-10-15?token={token_a}"),
            404,
            "route_not_found",
        ),
    ] {
        let (got, location, body) = open_link(&links, &path).await;
        assert_eq!((got, code(&body).as_str()), (status, expected), "{path}");
        assert!(location.is_empty());
    }
}

#[tokio::test]
async fn report_links_expire_after_the_configured_days() {
    let env = TestEnv::new().await;
    let deps = linked_worker_deps(&env);
    let t = tenant_with_managers(&env, &[111]).await;
    let day = Period::parse("2026-08-01").unwrap();
    let generated_at = Timestamp::from_second(1_785_888_000).unwrap(); // 2026-08-05
    worker::run_report(&deps, &t, day, true, generated_at.as_millisecond())
        .await
        .unwrap();
    let link = summary_links(&env).await.remove(&t).unwrap();
    let token = link.split("token=").nth(1).unwrap();
    let path = format!("/t/{t}/reports/2026-08-01/report.html?token={token}");
    let age_days = (Timestamp::now() - generated_at)
        .total(jiff::Unit::Hour)
        .unwrap()
        / 24.0;
    let (status, _, body) = open_link(&link_deps(&env, (age_days as u32) - 1), &path).await;
    assert_eq!(status, 410, "{body}");
    assert!(body.contains("link_expired"), "{body}");
    assert_eq!(
        open_link(&link_deps(&env, (age_days as u32) + 1), &path)
            .await
            .0,
        302
    );
}

/// `events/report-planner.json` is what the schedule sends; invoked on its own it plans
/// the month that had just closed.
#[tokio::test]
async fn sample_schedule_event_plans_the_closed_month() {
    let env = TestEnv::new().await;
    // Created before the sample's month, whatever today's date is.
    let t = tenant(&env, |c| {
        c.timezone = "UTC".into();
        c.created_at_ms = 1_790_000_000_000; // 2026-09
    })
    .await;
    let raw = std::fs::read_to_string(sauda_tests::repo_root().join("events/report-planner.json"))
        .unwrap();
    let input: serde_json::Value = serde_json::from_str(&raw).unwrap();
    reports::planner::handle(&planner_deps(&env), lambda_event(input))
        .await
        .unwrap();
    let jobs: Vec<Envelope> = env
        .receive_all("ReportsQueue")
        .await
        .iter()
        .map(|m| Envelope::from_json(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(jobs, vec![Envelope::report(t, "2026-11")]);
}

#[tokio::test]
async fn a_suspended_tenants_report_links_answer_404_tenant_suspended() {
    let env = TestEnv::new().await;
    let deps = linked_worker_deps(&env);
    let t = tenant_with_managers(&env, &[111]).await;
    worker::handle(&deps, lambda_event(sqs_event(&[job(&t, "2026-10-15")])))
        .await
        .unwrap();
    let link = summary_links(&env).await.remove(&t).unwrap();
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let path = format!("/t/{t}/reports/2026-10-15/report.html?token={token}");
    assert_eq!(open_link(&link_deps(&env, 90), &path).await.0, 302);

    sauda_infra::tenant::update_config(&env.clients.dynamo, &env.stack.table, &t, |c| {
        c.status = sauda_shared::tenant::TenantStatus::Suspended;
    })
    .await
    .unwrap();
    // A fresh instance (the tenant directory caches a config for a minute).
    let links = link_deps(&env, 90);
    for file in ["report.html", "report.csv", "report.json"] {
        let path = format!("/t/{t}/reports/2026-10-15/{file}?token={token}");
        let (status, location, body) = open_link(&links, &path).await;
        assert_eq!(status, 404, "{body}");
        let error: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["error"]["code"], "tenant_suspended", "{body}");
        assert!(location.is_empty(), "no redirect to the report");
    }
}

#[tokio::test]
async fn a_period_outside_the_covered_years_is_dead_lettered_not_panicked_on() {
    let env = TestEnv::new().await;
    let deps = worker_deps(&env);
    let t = tenant_with_managers(&env, &[111]).await;
    let bodies = [
        job(&t, "9999-12"),
        job(&t, "9999-12-31"),
        job(&t, "0001-01"),
        job(&t, "2026-10-15"),
    ];
    let response = worker::handle(
        &deps,
        lambda_event(env.sqs_event_on("ReportsQueue", &bodies)),
    )
    .await
    .unwrap();
    assert!(
        failed_ids(&response).is_empty(),
        "poison goes to the DLQ at once, the good job succeeds"
    );
    let dead = env
        .clients
        .sqs
        .receive_message()
        .queue_url(env.queue_url("ReportsDeadLetterQueue"))
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    let mut dead_bodies: Vec<&str> = dead.iter().map(|m| m.body().unwrap()).collect();
    dead_bodies.sort();
    let mut poison: Vec<&str> = bodies[..3].iter().map(String::as_str).collect();
    poison.sort();
    assert_eq!(dead_bodies, poison);
    for m in &dead {
        let reason = m.message_attributes().unwrap()["poison_reason"]
            .string_value()
            .unwrap();
        assert!(reason.contains("outside the years 2000-2999"), "{reason}");
    }
    let listed = env
        .clients
        .s3
        .list_objects_v2()
        .bucket(env.stack.bucket.as_deref().unwrap())
        .prefix(format!("reports/{t}/"))
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys.len(), 3, "only the good period's files: {keys:?}");
    assert!(keys.iter().all(|k| k.contains("/2026-10-15/")), "{keys:?}");
}

/// The README's figure: a monthly report's AWS calls, the same whatever the traffic.
#[tokio::test]
async fn a_monthly_report_makes_the_same_exact_aws_calls_whatever_the_traffic() {
    let env = TestEnv::new().await;
    let october = Period::parse("2026-10").unwrap();
    let tz = TimeZone::UTC;
    let (from, to) = (october.previous().start(&tz), october.end(&tz));
    let mut sizes = Vec::new();
    // About 800 and 10,000 events over the two months.
    for (seed, scale) in [(21, 1), (22, 13)] {
        let t = tenant_with_managers(&env, &[111]).await;
        env.put_partner(&t, "p1", "Partner One").await;
        let events = activity(seed, from, to, scale, &["p1", "p2"]);
        produce(&env, &t, "UTC", &events, 100).await;
        sizes.push(events.len());

        // First run, cold instance: the config read, the notice and its marker.
        let deps = linked_worker_deps(&env);
        env.counter.reset();
        let first = worker::run_report(&deps, &t, october, true, sauda_shared::now_ms())
            .await
            .unwrap();
        assert_eq!(first.notice, NoticeOutcome::Queued);
        assert_eq!(
            env.counter.snapshot(),
            calls(&[
                ("DynamoDB.GetItem", 1),
                ("DynamoDB.BatchGetItem", 4),
                ("S3.PutObject", 3),
                ("DynamoDB.UpdateItem", 2),
                ("SQS.SendMessage", 1),
            ]),
            "{} events, first run",
            events.len()
        );
        // A re-run on the warm instance: 3 counter reads for 61 days × 4 shards, 1 for
        // partner names, the three files and the record.
        env.counter.reset();
        let again = worker::run_report(&deps, &t, october, true, sauda_shared::now_ms())
            .await
            .unwrap();
        assert_eq!(again.notice, NoticeOutcome::AlreadyQueued);
        assert_eq!(
            env.counter.snapshot(),
            calls(&[
                ("DynamoDB.BatchGetItem", 4),
                ("S3.PutObject", 3),
                ("DynamoDB.UpdateItem", 1),
            ]),
            "{} events, re-run",
            events.len()
        );
        assert!(again.report.conversations.messages_in.value > 0);
    }
    assert!(sizes[1] >= 10 * sizes[0] && sizes[1] > 10_000, "{sizes:?}");
}

#[tokio::test]
async fn a_kyrgyz_tenant_gets_its_report_and_summary_in_kyrgyz() {
    let env = TestEnv::new().await;
    let deps = worker_deps(&env);
    let t = tenant(&env, |c| {
        c.default_language = "ky".into();
        c.managers = vec![Manager {
            chat_id: 111,
            name: "m".into(),
        }];
    })
    .await;
    let response = worker::handle(&deps, lambda_event(sqs_event(&[job(&t, "2026-10")])))
        .await
        .unwrap();
    assert!(failed_ids(&response).is_empty());
    let (report, _, html) = stored_report(&env, &t, "2026-10").await;
    assert_eq!(report.language, "ky");
    assert!(html.contains("<html lang=\"ky\">"));
    assert!(html.contains("Айлык отчёт 2026-10") && html.contains("Диалогдор"));
    assert!(!html.contains("Monthly report"));
    let notices = env.receive_all("NotifyQueue").await;
    let Job::Notify { notice } = Envelope::from_json(notices[0].body().unwrap()).unwrap().job
    else {
        panic!("not a notice")
    };
    assert!(
        notice.html.starts_with("<b>Айлык отчёт 2026-10</b>"),
        "{}",
        notice.html
    );
    assert!(
        notice.html.contains("Толук отчётту ачуу"),
        "{}",
        notice.html
    );
}
