#!/usr/bin/env bash
# `make local`: the whole stack on this machine, from a fresh clone, with no AWS account.
# Installs the tools, starts moto (under a watchdog) and the fake Telegram/WhatsApp/CRM,
# provisions the emulator from template.yaml, seeds the demo tenant, serves every
# function with `cargo lambda watch`, pumps queues and schedules into them and plays a
# short demo conversation. Then it keeps serving until Ctrl-C, which stops everything
# it started. The steps are in infra/scripts/stack.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
source infra/scripts/stack.sh

stack_init
stack_build
stack_start

$SAUDA local demo --webhook-url "http://127.0.0.1:$LAMBDA_PORT/lambda-url/webhook" \
  --functions-url "http://127.0.0.1:$LAMBDA_PORT" --outbox .local/outbox.jsonl

cat <<INFO

==> Sauda is running locally. Ctrl-C stops everything.
    webhooks      http://127.0.0.1:$LAMBDA_PORT/lambda-url/webhook/t/demo/telegram
    emulator      AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL (any AWS CLI or the sauda CLI)
    what the bot sends: tail -f .local/outbox.jsonl  (also printed by fake-saas: .local/fake-saas.log)
    logs          .local/watch.log (functions), .local/pump.log (queues, schedules), .local/moto.log
INFO
setsid tail -n 0 -f .local/fake-saas.log &
STACK_GROUPS+=("$!")
wait
