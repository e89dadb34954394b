"""Checks of infra/scripts/moto_server.py against a private instance of it: transactions
apply whole or not at all (including the rollback of a cancelled one), concurrent
conditional transactions see one another, queries read their partition as stock moto
does, and no instance is tracked.

Run by `make test` (infra/scripts/test.sh):  $VENV/bin/python infra/scripts/moto_server_test.py
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

import boto3
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class MotoServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        port = free_port()
        cls.url = f"http://127.0.0.1:{port}"
        cls.server = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "moto_server.py"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        kw = dict(endpoint_url=cls.url, region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
        cls.db = boto3.client("dynamodb", **kw)
        cls.streams = boto3.client("dynamodbstreams", **kw)
        for _ in range(100):
            try:
                cls.db.list_tables()
                break
            except Exception:
                time.sleep(0.1)
        cls.db.create_table(
            TableName="pk-sk",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                  {"AttributeName": "SK", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                       {"AttributeName": "SK", "KeyType": "RANGE"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        cls.db.create_table(
            TableName="pk",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        )

    @classmethod
    def tearDownClass(cls):
        cls.server.kill()
        cls.server.wait()

    # helpers
    def key(self, table, pk, sk=None):
        k = {"PK": {"S": pk}}
        if table == "pk-sk":
            k["SK"] = {"S": sk}
        return k

    def get(self, table, pk, sk=None):
        return self.db.get_item(TableName=table, Key=self.key(table, pk, sk), ConsistentRead=True).get("Item")

    def put(self, table, pk, sk=None, **attrs):
        item = dict(self.key(table, pk, sk))
        item.update({k: {"N": str(v)} for k, v in attrs.items()})
        self.db.put_item(TableName=table, Item=item)
        return item

    def stream_records(self):
        arn = self.db.describe_table(TableName="pk-sk")["Table"]["LatestStreamArn"]
        shard = self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        it = self.streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                             ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        return len(self.streams.get_records(ShardIterator=it)["Records"])

    def cancel_reasons(self, items):
        with self.assertRaises(ClientError) as raised:
            self.db.transact_write_items(TransactItems=items)
        error = raised.exception.response
        self.assertEqual(error["Error"]["Code"], "TransactionCanceledException")
        return [r["Code"] for r in error["CancellationReasons"]]

    # tests
    def test_a_committed_transaction_applies_every_operation(self):
        for table in ("pk-sk", "pk"):
            self.put(table, "commit-upd", "a", n=1)
            self.put(table, "commit-del", "a", n=1)
            self.db.transact_write_items(TransactItems=[
                {"Put": {"TableName": table, "Item": {**self.key(table, "commit-new", "a"), "n": {"N": "7"}},
                         "ConditionExpression": "attribute_not_exists(PK)"}},
                {"Update": {"TableName": table, "Key": self.key(table, "commit-upd", "a"),
                            "UpdateExpression": "ADD n :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                {"Delete": {"TableName": table, "Key": self.key(table, "commit-del", "a")}},
            ])
            self.assertEqual(self.get(table, "commit-new", "a")["n"], {"N": "7"})
            self.assertEqual(self.get(table, "commit-upd", "a")["n"], {"N": "2"})
            self.assertIsNone(self.get(table, "commit-del", "a"))

    def test_a_cancelled_transaction_leaves_every_item_as_it_was(self):
        for table in ("pk-sk", "pk"):
            replaced = self.put(table, "cancel-put", "a", n=1)
            updated = self.put(table, "cancel-upd", "a", n=1)
            deleted = self.put(table, "cancel-del", "a", n=1)
            self.put(table, "cancel-guard", "a", n=1)
            records = self.stream_records()
            reasons = self.cancel_reasons([
                {"Put": {"TableName": table, "Item": {**self.key(table, "cancel-new", "a"), "n": {"N": "1"}}}},
                {"Put": {"TableName": table, "Item": {**self.key(table, "cancel-put", "a"), "n": {"N": "9"}}}},
                {"Update": {"TableName": table, "Key": self.key(table, "cancel-upd", "a"),
                            "UpdateExpression": "ADD n :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                {"Update": {"TableName": table, "Key": self.key(table, "cancel-upsert", "a"),
                            "UpdateExpression": "SET n = :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                {"Delete": {"TableName": table, "Key": self.key(table, "cancel-del", "a")}},
                {"ConditionCheck": {"TableName": table, "Key": self.key(table, "cancel-guard", "a"),
                                    "ConditionExpression": "n > :big",
                                    "ExpressionAttributeValues": {":big": {"N": "100"}}}},
            ])
            self.assertEqual(reasons, ["None"] * 5 + ["ConditionalCheckFailed"])
            self.assertIsNone(self.get(table, "cancel-new", "a"))
            self.assertIsNone(self.get(table, "cancel-upsert", "a"))
            self.assertEqual(self.get(table, "cancel-put", "a"), replaced)
            self.assertEqual(self.get(table, "cancel-upd", "a"), updated)
            self.assertEqual(self.get(table, "cancel-del", "a"), deleted)
            self.assertEqual(self.stream_records(), records, "a cancelled transaction adds no stream record")

    def test_an_invalid_operation_is_refused_and_what_came_before_it_undone(self):
        with self.assertRaises(ClientError) as raised:
            self.db.transact_write_items(TransactItems=[
                {"Put": {"TableName": "pk-sk", "Item": self.key("pk-sk", "invalid-new", "a")}},
                # ADD of a string fails when applied, after the Put.
                {"Update": {"TableName": "pk-sk", "Key": self.key("pk-sk", "invalid-upd", "a"),
                            "UpdateExpression": "ADD n :one", "ExpressionAttributeValues": {":one": {"S": "1"}}}},
            ])
        self.assertEqual(raised.exception.response["Error"]["Code"], "ValidationException")
        self.assertIsNone(self.get("pk-sk", "invalid-new", "a"))
        self.assertIsNone(self.get("pk-sk", "invalid-upd", "a"))

    def test_two_operations_on_one_item_are_refused_and_undone(self):
        with self.assertRaises(ClientError) as raised:
            self.db.transact_write_items(TransactItems=[
                {"Put": {"TableName": "pk-sk", "Item": self.key("pk-sk", "twice-other", "a")}},
                {"Put": {"TableName": "pk-sk", "Item": self.key("pk-sk", "twice", "a")}},
                {"Delete": {"TableName": "pk-sk", "Key": self.key("pk-sk", "twice", "a")}},
            ])
        self.assertEqual(raised.exception.response["Error"]["Code"], "ValidationException")
        self.assertIsNone(self.get("pk-sk", "twice-other", "a"))
        self.assertIsNone(self.get("pk-sk", "twice", "a"))

    def test_concurrent_conditional_transactions_let_exactly_one_win(self):
        outcomes = []

        def claim(i):
            try:
                self.db.transact_write_items(TransactItems=[
                    {"Put": {"TableName": "pk-sk", "Item": {**self.key("pk-sk", "race", "claim"), "n": {"N": str(i)}},
                             "ConditionExpression": "attribute_not_exists(PK)"}},
                    {"Update": {"TableName": "pk-sk", "Key": self.key("pk-sk", "race", "count"),
                                "UpdateExpression": "ADD n :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                ])
                outcomes.append("won")
            except ClientError as e:
                outcomes.append(e.response["Error"]["Code"])

        threads = [threading.Thread(target=claim, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(outcomes.count("won"), 1, outcomes)
        self.assertEqual(outcomes.count("TransactionCanceledException"), 19, outcomes)
        self.assertEqual(self.get("pk-sk", "race", "count")["n"], {"N": "1"})

    def test_a_query_reads_its_partition_in_order_with_pages_and_conditions(self):
        for pk in ("query-a", "query-b"):
            for i in range(12):
                self.put("pk-sk", pk, f"M#{i:02}", n=i)
        self.put("pk-sk", "query-a", "P#profile", n=99)

        def query(**kw):
            return self.db.query(TableName="pk-sk", KeyConditionExpression=kw.pop("cond", "PK = :pk"),
                                 ExpressionAttributeValues={":pk": {"S": "query-a"}, **kw.pop("values", {})},
                                 **kw)

        newest = query(cond="PK = :pk AND begins_with(SK, :m)", values={":m": {"S": "M#"}},
                       ScanIndexForward=False, Limit=5)
        self.assertEqual([i["SK"]["S"] for i in newest["Items"]], [f"M#{i:02}" for i in (11, 10, 9, 8, 7)])
        rest = query(cond="PK = :pk AND begins_with(SK, :m)", values={":m": {"S": "M#"}},
                     ScanIndexForward=False, ExclusiveStartKey=newest["LastEvaluatedKey"])
        self.assertEqual([i["SK"]["S"] for i in rest["Items"]], [f"M#{i:02}" for i in range(6, -1, -1)])
        everything = query()
        self.assertEqual(everything["Count"], 13)
        self.assertTrue(all(i["PK"]["S"] == "query-a" for i in everything["Items"]))
        filtered = query(FilterExpression="n >= :five", values={":five": {"N": "5"}})
        self.assertEqual(filtered["Count"], 8)
        self.assertEqual(filtered["ScannedCount"], 13)
        nobody = self.db.query(TableName="pk-sk", KeyConditionExpression="PK = :pk",
                               ExpressionAttributeValues={":pk": {"S": "query-nobody"}})
        self.assertEqual(nobody["Items"], [])
        self.put("pk", "query-one", n=1)
        one = self.db.query(TableName="pk", KeyConditionExpression="PK = :pk",
                            ExpressionAttributeValues={":pk": {"S": "query-one"}})
        self.assertEqual([i["PK"]["S"] for i in one["Items"]], ["query-one"])

    def test_an_index_query_still_reads_the_whole_table(self):
        self.db.update_table(
            TableName="pk-sk",
            AttributeDefinitions=[{"AttributeName": "G", "AttributeType": "S"},
                                  {"AttributeName": "SK", "AttributeType": "S"}],
            GlobalSecondaryIndexUpdates=[{"Create": {
                "IndexName": "by-g", "Projection": {"ProjectionType": "ALL"},
                "KeySchema": [{"AttributeName": "G", "KeyType": "HASH"},
                              {"AttributeName": "SK", "KeyType": "RANGE"}]}}])
        for i, pk in enumerate(("gsi-a", "gsi-b", "gsi-c")):
            self.db.put_item(TableName="pk-sk", Item={**self.key("pk-sk", pk, f"S#{i}"), "G": {"S": "shared"}})
        found = self.db.query(TableName="pk-sk", IndexName="by-g", KeyConditionExpression="G = :g",
                              ExpressionAttributeValues={":g": {"S": "shared"}})
        self.assertEqual(sorted(i["PK"]["S"] for i in found["Items"]), ["gsi-a", "gsi-b", "gsi-c"])

    def test_no_instance_is_tracked(self):
        for i in range(5):
            self.put("pk-sk", "tracked", str(i), n=i)
        with urllib.request.urlopen(f"{self.url}/moto-api/data.json") as response:
            data = json.load(response)
        self.assertEqual(data["dynamodb"]["Item"], [])


if __name__ == "__main__":
    unittest.main()
