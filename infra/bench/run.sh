#!/usr/bin/env bash
# `make bench`: the measurements behind the README's figures. Criterion benches run
# without AWS; the runtime benchmarks start their own moto and use a stage of their own.
# Timings depend on the machine; AWS call counts are exact (see the tests that count them).
set -euo pipefail
cd "$(dirname "$0")/../.."
source infra/scripts/env.sh
ensure_venv

echo "==> criterion: webhook parse + verify + key building per update"
cargo bench -q -p sauda-shared --bench ingress -- --noplot

echo "==> release build of the webhook binary"
cargo build -q --release -p webhook --bin webhook
cargo build -q -p sauda-infra --bin sauda

mkdir -p .local
port=$(free_port)
start_moto "$port" .local/moto-bench.log
trap 'kill $MOTO_PID 2>/dev/null || true' EXIT

echo "==> webhook under a Lambda Runtime API emulator (cold init, latency, peak RSS, size)"
target/debug/sauda bench webhook --binary target/release/webhook --invocations 1000 --cold-starts 10
