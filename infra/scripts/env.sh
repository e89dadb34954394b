# Shared settings for the local stack and the tests. Sourced, not executed.
# The emulator accepts any credentials; these are placeholders, not secrets.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_DEFAULT_REGION="$AWS_REGION"
export AWS_EC2_METADATA_DISABLED=true
export VENV="${VENV:-$PWD/.venv}"

ensure_venv() {
  if [ ! -f "$VENV/.installed" ] || [ infra/requirements.txt -nt "$VENV/.installed" ]; then
    echo "==> installing local stack tools into $VENV (moto, cargo-lambda, cfn-lint)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet -r infra/requirements.txt
    touch "$VENV/.installed"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_moto PORT LOGFILE: starts the emulator on loopback and waits until it answers.
# infra/scripts/moto_server.py makes each DynamoDB request atomic, as on AWS, and keeps
# the emulator's memory bounded (see its docstring).
start_moto() {
  local port="$1" log="$2"
  "$VENV/bin/python" infra/scripts/moto_server.py -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 1 100); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
      export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
      return 0
    fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
      echo "moto exited; log follows" >&2; cat "$log" >&2; return 1
    fi
    sleep 0.2
  done
  echo "moto did not start within 20 s" >&2
  return 1
}
