"""moto's memory per DynamoDB operation, on a table that already holds data: starts a
private emulator through a launcher (infra/scripts/moto_server.py unless told), fills
a table, then runs each operation N times and prints the growth of the emulator's
resident memory per call and the time per call. Part of `make bench SECTIONS=soak`.

    $VENV/bin/python infra/bench/moto_memory.py [--launcher PATH] [--items 5000] [--calls 300]

Stock moto's TransactWriteItems grows by the size of the whole table on every call
(MOTO_LAUNCHER=<the launcher before the fix> shows it); through our launcher each
operation keeps only what it stores.
"""

import argparse
import os
import socket
import subprocess
import sys
import time

import boto3

HERE = os.path.dirname(os.path.abspath(__file__))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--launcher", default=os.path.join(HERE, "..", "scripts", "moto_server.py"))
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    server = subprocess.Popen([sys.executable, args.launcher, "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        db = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
        for _ in range(100):
            try:
                db.list_tables()
                break
            except Exception:
                time.sleep(0.1)
        db.create_table(
            TableName="t", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                  {"AttributeName": "SK", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                       {"AttributeName": "SK", "KeyType": "RANGE"}])
        # Contact partitions with messages, as the agent leaves them (~400 bytes each).
        for i in range(args.items):
            db.put_item(TableName="t", Item={
                "PK": {"S": f"T#demo#C#tg-{i % 500}"}, "SK": {"S": f"M#{i:08}"},
                "text": {"S": "x" * 300}, "kind": {"S": "in"}, "n": {"N": str(i)}})
        shown = os.path.relpath(args.launcher)
        shown = os.path.abspath(args.launcher) if shown.startswith("..") else shown
        print(f"moto memory per operation: launcher {shown}, "
              f"table of {args.items} items, {args.calls} calls each")
        print(f"  {'operation':<34} {'KiB per call':>12} {'ms per call':>12}")
        add_one = {":one": {"N": "1"}}
        operations = [
            ("PutItem (a new item each)", lambda i: db.put_item(TableName="t", Item={
                "PK": {"S": "T#demo#C#put"}, "SK": {"S": f"M#{i:08}"}, "text": {"S": "y" * 300}})),
            ("UpdateItem (one counter)", lambda i: db.update_item(
                TableName="t", Key={"PK": {"S": "T#demo#S"}, "SK": {"S": "COUNT"}},
                UpdateExpression="ADD n :one", ExpressionAttributeValues=add_one)),
            ("Query (20 newest of a contact)", lambda i: db.query(
                TableName="t", KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues={":pk": {"S": f"T#demo#C#tg-{i % 500}"}},
                ScanIndexForward=False, Limit=20)),
            ("TransactWriteItems (reply + count)", lambda i: db.transact_write_items(TransactItems=[
                {"Put": {"TableName": "t", "Item": {"PK": {"S": "T#demo#C#tx"}, "SK": {"S": f"M#{i:08}"},
                                                    "text": {"S": "z" * 300}},
                         "ConditionExpression": "attribute_not_exists(PK)"}},
                {"Update": {"TableName": "t", "Key": {"PK": {"S": "T#demo#S"}, "SK": {"S": "TX"}},
                            "UpdateExpression": "ADD n :one", "ExpressionAttributeValues": add_one}}])),
            ("TransactWriteItems (cancelled)", lambda i: cancelled(db, i)),
        ]
        for name, call in operations:
            before, started = rss_kib(server.pid), time.perf_counter()
            for i in range(args.calls):
                call(i)
            took = (time.perf_counter() - started) / args.calls * 1000
            grown = (rss_kib(server.pid) - before) / args.calls
            print(f"  {name:<34} {grown:>12.1f} {took:>12.1f}")
        print(f"  moto RSS at the end: {rss_kib(server.pid) / 1024:.0f} MiB")
    finally:
        server.kill()
        server.wait()


def cancelled(db, i):
    try:
        db.transact_write_items(TransactItems=[
            {"Put": {"TableName": "t", "Item": {"PK": {"S": "T#demo#C#cx"}, "SK": {"S": f"M#{i:08}"}}}},
            {"ConditionCheck": {"TableName": "t", "Key": {"PK": {"S": "T#demo#S"}, "SK": {"S": "TX"}},
                                "ConditionExpression": "attribute_not_exists(PK)"}}])
    except db.exceptions.TransactionCanceledException:
        return
    raise AssertionError("the transaction should have been cancelled")


if __name__ == "__main__":
    main()
