#!/usr/bin/env python3
"""Runtime benchmark of the real agent-reply binary (release build) on the local stack.

Provisions a stage on moto from template.yaml, imports the 40,000-item demo catalog
with the operator CLI, then runs the function binary against a minimal Lambda Runtime
API served here, with a fake Telegram. Reports the import time, the cold reply
(download and open of the index from S3 included), warm replies, and the process's
peak RSS (VmHWM) with the index loaded. No LLM is configured, so the timings are
everything but the model's own time (the fallback path does the same reads, search,
send and writes).

Usage: infra/bench/agent_reply.sh (starts moto and builds what it needs).
"""

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3

STAGE = os.environ.get("BENCH_STAGE", "bench")
TENANT = "bench"
ITEMS = int(os.environ.get("BENCH_ITEMS", "40000"))
SAUDA = os.environ["SAUDA_BIN"]
AGENT = os.environ["AGENT_BIN"]
LOCAL = os.environ.get("LOCAL_DIR", ".local")
QUESTIONS = [
    "Здравствуйте! Сколько стоит насос Grundfos CR 10?",
    "А шаровой кран Valtec 1/2 есть?",
    "do you have storage water heaters 80 L?",
    "перфоратор бош",
    "задвижка ду100",
]


def sauda(*args, stdin=None):
    started = time.monotonic()
    out = subprocess.run(
        [SAUDA, "--stage", STAGE, *args], input=stdin, text=True, capture_output=True
    )
    if out.returncode != 0 and "already exists" not in out.stderr:
        sys.exit(f"sauda {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out, time.monotonic() - started


class Runtime:
    """The Lambda Runtime API, for one function process, one event at a time."""

    def __init__(self):
        self.events = []
        self.cond = threading.Condition()
        self.results = {}
        self.polled_at = None

    def push(self, event):
        rid = str(uuid.uuid4())
        with self.cond:
            self.events.append((rid, event, time.monotonic()))
            self.cond.notify_all()
        return rid

    def wait(self, rid, timeout=60):
        deadline = time.monotonic() + timeout
        with self.cond:
            while rid not in self.results:
                left = deadline - time.monotonic()
                if left <= 0:
                    sys.exit(f"no response for {rid}")
                self.cond.wait(left)
            return self.results[rid]


def runtime_handler(runtime):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            if not self.path.endswith("/invocation/next"):
                self.send_error(404)
                return
            with runtime.cond:
                if runtime.polled_at is None:
                    runtime.polled_at = time.monotonic()
                while not runtime.events:
                    runtime.cond.wait()
                rid, event, pushed = runtime.events.pop(0)
                runtime.results.setdefault("_started", {})[rid] = pushed
            body = json.dumps(event).encode()
            self.send_response(200)
            self.send_header("Lambda-Runtime-Aws-Request-Id", rid)
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:agent-reply")
            self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            parts = self.path.split("/")
            rid = parts[-2] if len(parts) > 2 else "init"
            with runtime.cond:
                runtime.results[rid] = (parts[-1], body.decode(), time.monotonic())
                runtime.cond.notify_all()
            self.send_response(202)
            self.end_headers()

    return Handler


class Telegram(BaseHTTPRequestHandler):
    sent = []

    def log_message(self, *a):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        Telegram.sent.append(json.loads(self.rfile.read(length) or b"{}"))
        body = json.dumps({"ok": True, "result": {"message_id": len(Telegram.sent), "date": 1,
                                                  "chat": {"id": 1, "type": "private"}}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(handler):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    os.makedirs(LOCAL, exist_ok=True)
    env_file = os.path.join(LOCAL, f"bench-{STAGE}.env")
    sauda("local", "provision", "--env-file", env_file)
    sauda("tenant", "create", "--tenant", TENANT, "--name", "Bench Equipment", "--language", "ru")
    sauda("tenant", "secrets", "--tenant", TENANT, stdin=json.dumps({"telegram_bot_token": "1:bench"}))
    csv_path = os.path.join(LOCAL, f"bench-catalog-{ITEMS}.csv")
    sauda("catalog", "generate", "--items", str(ITEMS), "--out", csv_path)
    out, import_s = sauda("catalog", "import", "--tenant", TENANT, "--file", csv_path, "--activate")
    print(out.stdout.strip())
    print(f"import wall time (read, validate, build, upload, activate): {import_s:.2f} s")

    runtime = Runtime()
    rt = serve(runtime_handler(runtime))
    tg = serve(Telegram)
    env = dict(os.environ)
    for line in open(env_file):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            env[k] = v
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{rt.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "agent-reply",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "TELEGRAM_API_BASE": f"http://127.0.0.1:{tg.server_address[1]}",
        "RUST_LOG": "info",
    })
    dynamo = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    table = env["TABLE_NAME"]

    log = open(os.path.join(LOCAL, "bench-agent-reply.log"), "w")
    started = time.monotonic()
    proc = subprocess.Popen([AGENT], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        while runtime.polled_at is None:
            if proc.poll() is not None:
                sys.exit("agent-reply exited during init; see " + log.name)
            time.sleep(0.005)
        print(f"process start to first poll (init): {(runtime.polled_at - started) * 1000:.0f} ms")
        timings = []
        base = int(time.time() * 1000) - 60_000
        for i, question in enumerate(QUESTIONS):
            ts = base + i * 5_000
            message = {
                "tenant": TENANT, "channel": "telegram", "contact": "tg-1",
                "platform_message_id": str(1000 + i), "timestamp_ms": ts, "kind": "text",
                "text": question, "attachment": None, "display_name": "Bench", "language": "ru",
                "reply_to": "1",
            }
            dynamo.put_item(TableName=table, Item={
                "PK": {"S": f"T#{TENANT}#C#tg-1"}, "SK": {"S": f"MSG#{ts:013d}#in#{1000 + i}"},
                "direction": {"S": "in"}, "channel": {"S": "telegram"}, "contact": {"S": "tg-1"},
                "platform_message_id": {"S": str(1000 + i)}, "timestamp_ms": {"N": str(ts)},
                "kind": {"S": "text"}, "text": {"S": question}, "stored_at_ms": {"N": str(ts)},
            })
            envelope = {"v": 1, "tenant": TENANT, "kind": "inbound_message", "message": message}
            event = {"Records": [{
                "messageId": f"m{i}", "receiptHandle": "r", "body": json.dumps(envelope),
                "attributes": {"MessageGroupId": f"{TENANT}#tg-1", "ApproximateReceiveCount": "1"},
                "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:inbound.fifo", "awsRegion": "us-east-1",
            }]}
            rid = runtime.push(event)
            kind, body, done = runtime.wait(rid)
            took = (done - runtime.results["_started"][rid]) * 1000
            if kind != "response" or json.loads(body).get("batchItemFailures"):
                sys.exit(f"invocation {i} failed: {kind} {body}")
            timings.append(took)
        status = open(f"/proc/{proc.pid}/status").read()
        mem = {k: v.strip() for k, v in (l.split(":", 1) for l in status.splitlines() if ":" in l)}
        print(f"cold reply (index download + open included): {timings[0]:.0f} ms")
        warm = sorted(timings[1:])
        print(f"warm replies: {', '.join(f'{t:.0f}' for t in timings[1:])} ms (median {warm[len(warm) // 2]:.0f} ms)")
        print(f"peak RSS (VmHWM) with the index loaded: {mem.get('VmHWM')}; RSS now: {mem.get('VmRSS')}")
        print(f"replies sent to the fake Telegram: {len(Telegram.sent)}")
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        log.close()
    for line in open(log.name):
        if "catalog index loaded" in line:
            try:
                fields = json.loads(line).get("fields", {})
                print(f"index load from S3 (GetObject + open): {fields.get('ms')} ms, {int(fields.get('bytes', 0)) / 1048576:.1f} MiB")
            except ValueError:
                print(line.strip())


if __name__ == "__main__":
    main()
