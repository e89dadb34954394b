"""Reproduces moto's missing transaction isolation (infra/scripts/moto_server.py fixes it).

50 threads each run TransactWriteItems [balance -= 10 if balance >= 10, put ledger row]
on an account holding 100. DynamoDB gives exactly 10 successes, balance 0, 10 rows.
Stock moto_server, with the table padded so its per-transaction table copy takes a
while, gives more successes than the balance allows and rows of cancelled transactions.

Usage: python moto_race.py http://127.0.0.1:PORT [padding items]
"""

import sys
import threading
import uuid

import boto3
from botocore.config import Config

endpoint = sys.argv[1]
padding = int(sys.argv[2]) if len(sys.argv) > 2 else 500
client = boto3.client(
    "dynamodb", endpoint_url=endpoint, region_name="us-east-1",
    aws_access_key_id="test", aws_secret_access_key="test",
    config=Config(max_pool_connections=64, retries={"max_attempts": 1}),
)
table = "race-" + uuid.uuid4().hex[:8]
client.create_table(
    TableName=table, BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in ("PK", "SK")],
    KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
)
for i in range(padding):
    client.put_item(TableName=table, Item={"PK": {"S": f"pad{i}"}, "SK": {"S": "x"}, "v": {"S": "y" * 100}})
client.put_item(TableName=table, Item={"PK": {"S": "acct"}, "SK": {"S": "A"}, "balance": {"N": "100"}})
successes = []


def redeem(i):
    try:
        client.transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": {"PK": {"S": "acct"}, "SK": {"S": "A"}},
                        "UpdateExpression": "SET balance = balance - :p",
                        "ConditionExpression": "balance >= :p",
                        "ExpressionAttributeValues": {":p": {"N": "10"}}}},
            {"Put": {"TableName": table, "Item": {"PK": {"S": "acct"}, "SK": {"S": f"L{i:03}"}},
                     "ConditionExpression": "attribute_not_exists(PK)"}},
        ])
        successes.append(i)
    except client.exceptions.TransactionCanceledException:
        pass


threads = [threading.Thread(target=redeem, args=(i,)) for i in range(50)]
for t in threads:
    t.start()
for t in threads:
    t.join()
balance = client.get_item(TableName=table, Key={"PK": {"S": "acct"}, "SK": {"S": "A"}},
                          ConsistentRead=True)["Item"]["balance"]["N"]
rows = client.query(TableName=table, KeyConditionExpression="PK = :p AND begins_with(SK, :l)",
                    ExpressionAttributeValues={":p": {"S": "acct"}, ":l": {"S": "L"}})["Count"]
verdict = "OK" if (len(successes), balance, rows) == (10, "0", 10) else "BROKEN"
print(f"{verdict}: successes {len(successes)} (want 10), balance {balance} (want 0), ledger rows {rows} (want 10)")
