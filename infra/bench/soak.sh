#!/usr/bin/env bash
# Soak: does the local stack stay up through a long session? Starts the real local stack
# as `make local` runs it (moto through infra/scripts/moto_server.py under its watchdog,
# the fake Telegram/WhatsApp/CRM, every function's debug build under `cargo lambda watch`,
# the pump feeding queues to them; infra/scripts/stack.sh), then `sauda local soak`
# sends webhook messages from many customers (each becomes an agent reply, stored with
# one TransactWriteItems), loyalty operations and web-form leads over HTTP, waits for the
# queues to drain and prints moto's memory: at the start, its peak and at the end, and
# the growth per request. Stops everything it started.
#
#   bash infra/bench/soak.sh                 # 10,000 messages, 2,000 loyalty operations, 500 leads
#   SOAK_MESSAGES=1000 SOAK_LOYALTY=200 SOAK_LEADS=50 bash infra/bench/soak.sh
#   MOTO_LAUNCHER=/tmp/stock_moto_server.py bash infra/bench/soak.sh   # compare another launcher
#
# Ports default to make local's (4566, 9100, 9000): set MOTO_PORT, FAKE_PORT, LAMBDA_PORT
# to run it beside one. It uses .local/ as make local does, so not both in one checkout.
set -euo pipefail
cd "$(dirname "$0")/../.."
source infra/scripts/stack.sh

# One office's traffic from one address: the per-key, per-customer and per-IP limits
# would otherwise answer most of it with 429 before it reached the emulator.
STACK_TENANT_PATCH='{"api":{"rate_limit_per_minute":1000000},"loyalty":{"rate_limit_per_minute":1000000},"agent":{"rate_limit_per_minute":1000},"leads":{"form_rate_limit_per_hour":1000000}}'

# The functions as built at the start, even if sources change during the hour.
STACK_WATCH_ARGS=--ignore-changes

stack_init
stack_build
stack_start
echo "==> soak (moto's memory sampled every ${SOAK_SAMPLE_S:-2} s; its log: .local/moto.log)"
$SAUDA local soak --functions-url "http://127.0.0.1:$LAMBDA_PORT" --outbox .local/outbox.jsonl \
  --moto-pid "$(cat .local/moto.pid)" \
  --messages "${SOAK_MESSAGES:-10000}" --loyalty-ops "${SOAK_LOYALTY:-2000}" --leads "${SOAK_LEADS:-500}" \
  --customers "${SOAK_CUSTOMERS:-500}" --concurrency "${SOAK_CONCURRENCY:-4}" \
  --sample-every-s "${SOAK_SAMPLE_S:-2}" --max-rss-mib "${SOAK_MAX_RSS_MIB:-8192}"
