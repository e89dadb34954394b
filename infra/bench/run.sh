#!/usr/bin/env bash
# `make bench`: the measurements behind the README's figures, one section per capability.
#   bash infra/bench/run.sh                    # all of them (about 20 minutes on 2 cores)
#   bash infra/bench/run.sh webhook reports    # some of them
#   bash infra/bench/run.sh soak               # the local stack's memory over a long session
#                                              # (not in the default set: about an hour)
# Criterion benches run without AWS; the runtime benchmarks each start a moto of their
# own (a fresh emulator: moto slows down as it fills) and stop it afterwards.
# Timings depend on the machine; AWS call counts are exact (tests assert them too).
set -euo pipefail
cd "$(dirname "$0")/../.."
source infra/scripts/env.sh
ensure_venv
mkdir -p .local

sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(functions webhook agent leads loyalty reports orders)

MOTO_PID=
trap '[ -z "$MOTO_PID" ] || kill $MOTO_PID 2>/dev/null || true' EXIT
fresh_moto() {
  [ -z "$MOTO_PID" ] || { kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true; }
  start_moto "$(free_port)" ".local/moto-bench-$1.log"
}

webhook() {
  echo "==> criterion: webhook parse + verify + key building per update"
  cargo bench -q -p sauda-shared --bench ingress -- --noplot
  echo "==> webhook under a Lambda Runtime API emulator (cold init, latency, peak RSS, size)"
  cargo build -q --release -p webhook --bin webhook
  cargo build -q -p sauda-infra --bin sauda
  fresh_moto webhook
  target/debug/sauda bench webhook --binary target/release/webhook --invocations 1000 --cold-starts 10
}

functions() {
  echo "==> every function's whole-process CPU, init, latency and RSS beside a Python + boto3 webhook"
  local target="${CARGO_TARGET_DIR:-target}"
  cargo build -q --profile profiling --bin webhook --bin agent-reply --bin lead-api --bin loyalty --bin notifier --bin report-worker
  cargo build -q -p sauda-infra --bin sauda
  fresh_moto functions
  "$target/debug/sauda" bench functions --binaries "$target/profiling" --python "$VENV/bin/python" \
    --invocations "${INVOCATIONS:-1000}" --repeats "${REPEATS:-3}"
}

agent() {
  echo "==> criterion: catalog search over 40,000 items, index build"
  cargo bench -q -p agent-reply --bench catalog -- --noplot
  echo "==> agent-reply runtime: index load, cold and warm replies, peak RSS"
  bash infra/bench/agent_reply.sh
}

leads() {
  echo "==> lead form latency and AWS calls"
  bash infra/bench/leads.sh
}

loyalty() {
  echo "==> loyalty: calls per operation, latency, invariant after 10,000 operations"
  bash functions/loyalty/benches/run.sh
}

soak() {
  echo "==> moto's memory and time per DynamoDB operation (infra/scripts/moto_server.py)"
  "$VENV/bin/python" infra/bench/moto_memory.py --launcher "${MOTO_LAUNCHER:-infra/scripts/moto_server.py}"
  echo "==> soak: the local stack under 10,000 messages, 2,000 loyalty operations, 500 leads"
  bash infra/bench/soak.sh
}

reports() {
  echo "==> reports: calls and time per report for 1k/10k/100k events; planner fan-out"
  fresh_moto reports
  cargo bench -q -p reports --bench reports --profile dev
}

orders() {
  echo "==> orders: Telegram pre-checkout answer latency in process against moto, AWS calls"
  fresh_moto orders
  cargo bench -q -p orders --bench precheckout --profile dev
}

for section in "${sections[@]}"; do
  case "$section" in
    functions | webhook | agent | leads | loyalty | reports | orders | soak) "$section" ;;
    *) echo "unknown section $section (functions, webhook, agent, leads, loyalty, reports, orders, soak)" >&2; exit 2 ;;
  esac
done
