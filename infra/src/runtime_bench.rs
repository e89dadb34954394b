//! A Lambda Runtime API emulator for benchmarks: starts a function binary the way Lambda
//! does (`AWS_LAMBDA_RUNTIME_API`), measures process start → first `next` request (cold
//! init), feeds it events one at a time, times each invocation and reads the process's
//! peak RSS (`VmHWM`) before stopping it. CPU is the whole process's user + system time
//! (`/proc/<pid>/stat`, every thread, the runtime client and logging included): spent
//! before the first event (init) and over the events (per invocation).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Mutex};

pub struct Run {
    pub binary: PathBuf,
    /// Arguments to the binary (a Python function's script).
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub events: Vec<Value>,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub init: Duration,
    pub latencies: Vec<Duration>,
    /// CPU (user + system) of the process until it asked for its first event.
    pub init_cpu: Duration,
    /// CPU (user + system) of the process over all the events.
    pub events_cpu: Duration,
    pub errors: usize,
    /// Peak resident set size of the function process, in KiB.
    pub peak_rss_kib: u64,
    /// The first error answer, if any, to tell a broken setup from a slow one.
    pub first_error: Option<String>,
}

enum Outcome {
    Response,
    Error(String),
}

struct Emulator {
    first_next: Mutex<Option<Instant>>,
    events: Mutex<mpsc::Receiver<Value>>,
    outcomes: mpsc::Sender<Outcome>,
    counter: std::sync::atomic::AtomicU64,
}

async fn next(State(emu): State<Arc<Emulator>>) -> Response {
    {
        let mut first = emu.first_next.lock().await;
        if first.is_none() {
            *first = Some(Instant::now());
        }
    }
    let Some(event) = emu.events.lock().await.recv().await else {
        // No more events: park the function until the harness stops it.
        std::future::pending::<()>().await;
        unreachable!()
    };
    let id = emu
        .counter
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut headers = HeaderMap::new();
    let deadline = jiff::Timestamp::now().as_millisecond() + 30_000;
    let put = |headers: &mut HeaderMap, k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    };
    put(
        &mut headers,
        "lambda-runtime-aws-request-id",
        format!("bench-{id}"),
    );
    put(
        &mut headers,
        "lambda-runtime-deadline-ms",
        deadline.to_string(),
    );
    put(
        &mut headers,
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:bench".into(),
    );
    put(
        &mut headers,
        "lambda-runtime-trace-id",
        format!("Root=1-bench-{id}"),
    );
    (StatusCode::OK, headers, event.to_string()).into_response()
}

async fn response(
    State(emu): State<Arc<Emulator>>,
    Path(_id): Path<String>,
    _body: Bytes,
) -> StatusCode {
    let _ = emu.outcomes.send(Outcome::Response).await;
    StatusCode::ACCEPTED
}

async fn error(
    State(emu): State<Arc<Emulator>>,
    Path(_id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let _ = emu
        .outcomes
        .send(Outcome::Error(String::from_utf8_lossy(&body).into_owned()))
        .await;
    StatusCode::ACCEPTED
}

async fn init_error(State(emu): State<Arc<Emulator>>, body: Bytes) -> StatusCode {
    let _ = emu
        .outcomes
        .send(Outcome::Error(format!(
            "init: {}",
            String::from_utf8_lossy(&body)
        )))
        .await;
    StatusCode::ACCEPTED
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU of a process so far, every thread included (clock ticks of 10 ms:
/// runs of a thousand invocations make that precise enough).
fn cpu_time(pid: u32) -> Duration {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // Fields after the command name, which may contain spaces, in parentheses.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of the line, 12 and 13 of the rest.
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

impl Report {
    /// CPU per invocation over the whole run.
    pub fn cpu_per_invocation(&self) -> Duration {
        self.events_cpu / self.latencies.len().max(1) as u32
    }
}

/// Runs the binary under the emulator and feeds it every event in order.
pub async fn run(run: Run) -> Result<Report, Box<dyn std::error::Error>> {
    let (event_tx, event_rx) = mpsc::channel::<Value>(1);
    let (outcome_tx, mut outcome_rx) = mpsc::channel::<Outcome>(16);
    let emulator = Arc::new(Emulator {
        first_next: Mutex::new(None),
        events: Mutex::new(event_rx),
        outcomes: outcome_tx,
        counter: std::sync::atomic::AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(emulator.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let started = Instant::now();
    let mut child = tokio::process::Command::new(&run.binary)
        .args(&run.args)
        .envs(run.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{}: {e}", run.binary.display()))?;
    let pid = child.id().ok_or("the function exited at once")?;

    // Cold init: until the runtime asks for its first event.
    let init = loop {
        if let Some(at) = *emulator.first_next.lock().await {
            break at.duration_since(started);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the function exited during init: {status}").into());
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Err("no first `next` request within 30 s".into());
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    };

    // The function is parked in its `next` request: what it spent so far is init.
    let init_cpu = cpu_time(pid);
    let mut latencies = Vec::with_capacity(run.events.len());
    let mut errors = 0;
    let mut first_error = None;
    for event in run.events {
        let sent = Instant::now();
        event_tx.send(event).await?;
        match tokio::time::timeout(Duration::from_secs(30), outcome_rx.recv()).await {
            Ok(Some(Outcome::Response)) => {}
            Ok(Some(Outcome::Error(e))) => {
                errors += 1;
                first_error.get_or_insert(e);
            }
            Ok(None) | Err(_) => return Err("the function stopped answering".into()),
        }
        latencies.push(sent.elapsed());
    }
    // Let the last invocation finish its bookkeeping and park in `next` again.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let events_cpu = cpu_time(pid).saturating_sub(init_cpu);
    let peak_rss_kib = peak_rss_kib(pid);
    child.kill().await.ok();
    server.abort();
    Ok(Report {
        init,
        latencies,
        init_cpu,
        events_cpu,
        errors,
        peak_rss_kib,
        first_error,
    })
}

/// The `q`-quantile of some durations (nearest rank).
pub fn quantile(values: &[Duration], q: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = values.to_vec();
    sorted.sort();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&v, 0.5), Duration::from_millis(50));
        assert_eq!(quantile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }
}
