#!/usr/bin/env bash
# Loyalty ledger benchmark: AWS calls per operation, handler latency (1 client and N
# concurrent clients) and the ledger invariant after a random run.
#
# Runs against moto with DynamoDB requests isolated (benches/moto_isolated.py): stock
# moto neither isolates concurrent transactions nor undoes a cancelled one without
# copying the whole table, which makes a 10 000-operation run both wrong and
# quadratically slow (see moto_race.py). Settings: LOYALTY_BENCH_OPS (10000),
# LOYALTY_BENCH_CLIENTS (8), LOYALTY_BENCH_MEMBERS (200), LOYALTY_BENCH_SOLO_OPS (300).
set -euo pipefail
cd "$(dirname "$0")/../../.."
source infra/scripts/env.sh
[ -x "$VENV/bin/python" ] || ensure_venv
mkdir -p .local
port=$(free_port)
log=.local/loyalty-bench-moto.log
"$VENV/bin/python" functions/loyalty/benches/moto_isolated.py -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
    break
  fi
  kill -0 "$moto_pid" 2>/dev/null || { echo "moto exited; log follows" >&2; cat "$log" >&2; exit 1; }
  sleep 0.2
done
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
# Optimised code without the deployable profile's fat LTO: the figures are bound by the
# emulator, and a full LTO build of the AWS SDK takes long on a small machine.
CARGO_PROFILE_BENCH_LTO=false CARGO_PROFILE_BENCH_CODEGEN_UNITS=16 \
  cargo bench -p loyalty --bench ledger "$@"
