#!/usr/bin/env bash
# `make test`: installs what it needs, lints the template, runs the whole suite
# against a private moto instance that it stops afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
source infra/scripts/env.sh
ensure_venv

echo "==> cfn-lint template.yaml"
"$VENV/bin/cfn-lint" template.yaml

echo "==> the emulator's launcher: atomic, rolled-back transactions; bounded memory"
"$VENV/bin/python" infra/scripts/moto_server_test.py

mkdir -p .local
port=$(free_port)
start_moto "$port" .local/moto-test.log
trap 'kill $MOTO_PID 2>/dev/null || true' EXIT INT TERM HUP
echo "==> moto on $AWS_ENDPOINT_URL"

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
