#!/usr/bin/env bash
# Lead capture's figures for the README: the web form's p50/p95/p99 latency and its AWS
# calls per request (new lead and repeat submission), against a private moto instance
# that this script starts and stops. The calls-per-lead budget of the whole chain
# (form → stored → notified) is asserted exactly by tests/leads.rs.
#
#   bash infra/bench/leads.sh            # LEADS_BENCH_SAMPLES=200 by default
set -euo pipefail
cd "$(dirname "$0")/../.."
source infra/scripts/env.sh
[ -x "$VENV/bin/moto_server" ] || ensure_venv

echo "==> release build of the lead-capture bench (first run compiles the AWS SDK in release)"
cargo bench -q -p lead-capture --bench form --no-run

mkdir -p .local
port=$(free_port)
start_moto "$port" .local/moto-bench-leads.log
trap 'kill $MOTO_PID 2>/dev/null || true' EXIT
echo "==> moto on $AWS_ENDPOINT_URL"

echo "==> web form: in-process lead-api router against moto"
RUST_LOG="${RUST_LOG:-warn}" cargo bench -q -p lead-capture --bench form
