#!/usr/bin/env bash
# Runtime benchmark of agent-reply: cold and warm replies, index load from S3, peak RSS.
# Starts its own moto, builds the release binary of agent-reply and the operator CLI.
set -euo pipefail
cd "$(dirname "$0")/../.."
source infra/scripts/env.sh
[ -x "$VENV/bin/moto_server" ] || ensure_venv
mkdir -p .local
cargo build -q --release -p agent-reply --bin agent-reply
cargo build -q -p sauda-infra --bin sauda
port=$(free_port)
start_moto "$port" .local/moto-bench.log
trap 'kill $MOTO_PID 2>/dev/null || true' EXIT
SAUDA_BIN=target/debug/sauda AGENT_BIN=target/release/agent-reply LOCAL_DIR=.local \
  "$VENV/bin/python" infra/bench/agent_reply.py
