#!/usr/bin/env bash
# `make local`: the whole stack on this machine, from a fresh clone, with no AWS account.
# Installs the tools, starts moto and the fake Telegram/WhatsApp/CRM, provisions the
# emulator from template.yaml, seeds the demo tenant, serves every function with
# `cargo lambda watch`, pumps queues and schedules into them and plays a short demo
# conversation. Then it keeps serving until Ctrl-C, which stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
source infra/scripts/env.sh
ensure_venv
export PATH="$VENV/bin:$PATH" # `cargo lambda` comes from the venv

export STAGE="${STAGE:-local}"
MOTO_PORT="${MOTO_PORT:-4566}"
FAKE_PORT="${FAKE_PORT:-9100}"
LAMBDA_PORT="${LAMBDA_PORT:-9000}"
mkdir -p .local
: >.local/outbox.jsonl

groups=()
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "==> stopping everything make local started"
  for pgid in "${groups[@]}"; do
    kill -TERM -- "-$pgid" 2>/dev/null || true
  done
  sleep 1
  for pgid in "${groups[@]}"; do
    kill -KILL -- "-$pgid" 2>/dev/null || true
  done
  exit 0
}
trap cleanup EXIT INT TERM

# start NAME LOG CMD...: runs CMD in its own process group so cleanup can stop it whole.
start() {
  local name="$1" log="$2"
  shift 2
  setsid "$@" >"$log" 2>&1 &
  groups+=("$!")
  echo "    $name (pid $!, log $log)"
}

wait_http() {
  local url="$1" what="$2"
  for _ in $(seq 1 600); do
    if curl -s -o /dev/null --max-time 1 "$url"; then return 0; fi
    sleep 0.5
  done
  echo "$what did not come up; see .local/*.log" >&2
  return 1
}

for port in "$MOTO_PORT" "$FAKE_PORT" "$LAMBDA_PORT"; do
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
    echo "port $port is in use (another make local?); set MOTO_PORT/FAKE_PORT/LAMBDA_PORT" >&2
    exit 1
  fi
done

echo "==> building the CLI and every function (the first run compiles the AWS SDK: a few minutes)"
cargo build -q -p sauda-infra --bin sauda
SAUDA=target/debug/sauda
# The same per-binary builds `cargo lambda watch` runs, so its first invocations are instant.
for bin in $($SAUDA local functions); do
  cargo build -q --bin "$bin"
done

echo "==> starting the local stack"
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
start moto .local/moto.log "$VENV/bin/python" infra/scripts/moto_server.py -H 127.0.0.1 -p "$MOTO_PORT"
wait_http "$AWS_ENDPOINT_URL/moto-api/" moto
start fake-saas .local/fake-saas.log $SAUDA local fake-saas --port "$FAKE_PORT" --log .local/outbox.jsonl

echo "==> provisioning stage $STAGE from template.yaml"
params=(--param "TelegramApiBase=http://127.0.0.1:$FAKE_PORT/telegram"
  --param "WhatsappApiBase=http://127.0.0.1:$FAKE_PORT/whatsapp")
# A real model is optional: without a key the agent answers from the catalog alone.
[ -n "${SAUDA_LLM_BASE_URL:-}" ] && params+=(--param "LlmBaseUrl=$SAUDA_LLM_BASE_URL")
[ -n "${SAUDA_LLM_MODEL:-}" ] && params+=(--param "LlmModel=$SAUDA_LLM_MODEL")
$SAUDA local provision "${params[@]}" \
  --env "REPORT_LINK_BASE_URL=http://127.0.0.1:$LAMBDA_PORT/lambda-url/report-link"
if [ -n "${SAUDA_LLM_API_KEY:-}" ]; then
  # From the environment into JSON without the key ever being an argument (ps shows those).
  python3 -c 'import json, os; print(json.dumps({"llm_api_key": os.environ["SAUDA_LLM_API_KEY"]}))' \
    | $SAUDA platform secrets >/dev/null
  echo "    LLM key stored in the platform secret; the agent uses the model"
else
  echo "    no SAUDA_LLM_API_KEY: the agent answers in its retrieval-only fallback mode"
fi
echo "==> seeding the demo tenant (catalog of 40,000 items, loyalty partner, API keys)"
$SAUDA local seed

echo "==> serving the functions on http://127.0.0.1:$LAMBDA_PORT"
start "cargo lambda watch" .local/watch.log cargo lambda watch --env-file .local/lambda.env -P "$LAMBDA_PORT"
wait_http "http://127.0.0.1:$LAMBDA_PORT/" "cargo lambda watch"
start pump .local/pump.log $SAUDA local pump --functions-url "http://127.0.0.1:$LAMBDA_PORT"

$SAUDA local demo --webhook-url "http://127.0.0.1:$LAMBDA_PORT/lambda-url/webhook" \
  --functions-url "http://127.0.0.1:$LAMBDA_PORT" --outbox .local/outbox.jsonl

cat <<INFO

==> Sauda is running locally. Ctrl-C stops everything.
    webhooks      http://127.0.0.1:$LAMBDA_PORT/lambda-url/webhook/t/demo/telegram
    emulator      AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL (any AWS CLI or the sauda CLI)
    what the bot sends: tail -f .local/outbox.jsonl  (also printed by fake-saas: .local/fake-saas.log)
    logs          .local/watch.log (functions), .local/pump.log (queues, schedules)
INFO
setsid tail -n 0 -f .local/fake-saas.log &
groups+=("$!")
wait
