# The local stack, shared by `make local` (infra/scripts/local.sh) and the soak bench
# (infra/bench/soak.sh). Sourced, not executed. Call stack_init, stack_build, then
# stack_start; everything started is stopped on exit, Ctrl-C or TERM.
source infra/scripts/env.sh

stack_init() {
  ensure_venv
  export PATH="$VENV/bin:$PATH" # `cargo lambda` comes from the venv
  export STAGE="${STAGE:-local}"
  MOTO_PORT="${MOTO_PORT:-4566}"
  FAKE_PORT="${FAKE_PORT:-9100}"
  LAMBDA_PORT="${LAMBDA_PORT:-9000}"
  SAUDA="${CARGO_TARGET_DIR:-target}/debug/sauda"
  mkdir -p .local
  : >.local/outbox.jsonl
  rm -f .local/moto.pid .local/stopping
  STACK_GROUPS=()
  trap 'stack_stop $?' EXIT
  trap 'stack_stop 0' INT TERM
  for port in "$MOTO_PORT" "$FAKE_PORT" "$LAMBDA_PORT"; do
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
      echo "port $port is in use (another make local?); set MOTO_PORT/FAKE_PORT/LAMBDA_PORT" >&2
      exit 1
    fi
  done
}

# stack_stop STATUS: stops everything and exits with STATUS (0 after Ctrl-C).
stack_stop() {
  local status="$1"
  trap - EXIT INT TERM
  echo
  echo "==> stopping everything the local stack started"
  touch .local/stopping # the moto watchdog stays quiet
  for pgid in "${STACK_GROUPS[@]}"; do
    kill -TERM -- "-$pgid" 2>/dev/null || true
  done
  sleep 1
  for pgid in "${STACK_GROUPS[@]}"; do
    kill -KILL -- "-$pgid" 2>/dev/null || true
  done
  exit "$status"
}

# stack_run NAME LOG CMD...: runs CMD in its own process group so stack_stop can stop it whole.
stack_run() {
  local name="$1" log="$2"
  shift 2
  setsid "$@" >"$log" 2>&1 &
  STACK_GROUPS+=("$!")
  echo "    $name (pid $!, log $log)"
}

wait_http() {
  local url="$1" what="$2"
  for _ in $(seq 1 600); do
    if curl -s -o /dev/null --max-time 1 "$url"; then return 0; fi
    if [ "$what" = moto ] && [ -f .local/moto.exited ]; then break; fi
    sleep 0.5
  done
  echo "$what did not come up; see .local/*.log" >&2
  return 1
}

stack_build() {
  echo "==> building the CLI and every function (the first run compiles the AWS SDK: a few minutes)"
  cargo build -q -p sauda-infra --bin sauda
  # The same per-binary builds `cargo lambda watch` runs, so its first invocations are instant.
  for bin in $($SAUDA local functions); do
    cargo build -q --bin "$bin"
  done
}

# moto under a watchdog: if the emulator exits on its own (the kernel's out-of-memory
# killer, a crash), one clear message says so instead of every function answering 503.
# Its pid goes to .local/moto.pid for the soak bench's memory samples.
start_moto_watched() {
  rm -f .local/moto.exited
  setsid bash -c '
    "$1/bin/python" "$3" -H 127.0.0.1 -p "$2" >.local/moto.log 2>&1 &
    pid=$!
    echo "$pid" >.local/moto.pid
    trap "kill -TERM $pid 2>/dev/null; exit 0" TERM
    wait "$pid" 2>/dev/null # bash would report a killed job on stderr: the message below says it
    status=$?
    touch .local/moto.exited
    [ -e .local/stopping ] && exit 0
    why="exit status $status"
    [ "$status" = 137 ] && why="killed: out of memory?"
    echo >&2
    echo "!! the local AWS emulator (moto) has stopped ($why): see .local/moto.log;" >&2
    echo "!! every function now answers 503. Ctrl-C and run make local again." >&2
  ' moto-watchdog "$VENV" "$MOTO_PORT" "${MOTO_LAUNCHER:-infra/scripts/moto_server.py}" &
  STACK_GROUPS+=("$!")
  for _ in $(seq 1 50); do [ -s .local/moto.pid ] && break; sleep 0.1; done
  echo "    moto (pid $(cat .local/moto.pid 2>/dev/null), log .local/moto.log, watched)"
}

# stack_start: moto, fake SaaS, provisioning, demo seed, functions, pump.
stack_start() {
  echo "==> starting the local stack"
  export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
  start_moto_watched
  wait_http "$AWS_ENDPOINT_URL/moto-api/" moto
  stack_run fake-saas .local/fake-saas.log $SAUDA local fake-saas --port "$FAKE_PORT" --log .local/outbox.jsonl \
    --stripe-webhook-url "http://127.0.0.1:$LAMBDA_PORT/lambda-url/webhook/t/demo/stripe"

  echo "==> provisioning stage $STAGE from template.yaml"
  local params=(--param "TelegramApiBase=http://127.0.0.1:$FAKE_PORT/telegram"
    --param "WhatsappApiBase=http://127.0.0.1:$FAKE_PORT/whatsapp"
    --param "StripeApiBase=http://127.0.0.1:$FAKE_PORT/stripe"
    --param "KaspiApiBase=http://127.0.0.1:$FAKE_PORT/kaspi")
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
  if [ -n "${STACK_TENANT_PATCH:-}" ]; then
    echo "$STACK_TENANT_PATCH" | $SAUDA tenant configure --tenant demo --allow-loopback-urls
  fi

  echo "==> serving the functions on http://127.0.0.1:$LAMBDA_PORT"
  # --disable-cors: the functions' own CORS answers reach the browser (watch would
  # otherwise answer every preflight itself, allowing any origin).
  stack_run "cargo lambda watch" .local/watch.log \
    cargo lambda watch --disable-cors ${STACK_WATCH_ARGS:-} --env-file .local/lambda.env -P "$LAMBDA_PORT"
  wait_http "http://127.0.0.1:$LAMBDA_PORT/" "cargo lambda watch"
  stack_run pump .local/pump.log $SAUDA local pump --functions-url "http://127.0.0.1:$LAMBDA_PORT"
}
