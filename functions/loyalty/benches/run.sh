#!/usr/bin/env bash
# Loyalty ledger benchmark: AWS calls per operation, handler latency (1 client and N
# concurrent clients) and the ledger invariant after a random run.
#
# Runs against moto through infra/scripts/moto_server.py, which applies each DynamoDB
# request atomically and undoes a cancelled transaction item by item: stock moto does
# neither, which makes a 10 000-operation run both wrong and quadratically slow (see
# moto_race.py). Settings: LOYALTY_BENCH_OPS (10000),
# LOYALTY_BENCH_CLIENTS (8), LOYALTY_BENCH_MEMBERS (200), LOYALTY_BENCH_SOLO_OPS (300).
set -euo pipefail
cd "$(dirname "$0")/../../.."
source infra/scripts/env.sh
[ -x "$VENV/bin/python" ] || ensure_venv
mkdir -p .local
start_moto "$(free_port)" .local/loyalty-bench-moto.log
trap 'kill $MOTO_PID 2>/dev/null || true' EXIT
# Optimised code without the deployable profile's fat LTO: the figures are bound by the
# emulator, and a full LTO build of the AWS SDK takes long on a small machine.
CARGO_PROFILE_BENCH_LTO=false CARGO_PROFILE_BENCH_CODEGEN_UNITS=16 \
  cargo bench -p loyalty --bench ledger "$@"
