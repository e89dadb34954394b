"""moto_server with DynamoDB requests applied one at a time, as DynamoDB applies each
request atomically, and with memory that stays bounded over a long session.

Four changes to stock moto (5.2), all made here, in the launcher:

1. One lock around the DynamoDB dispatcher. Stock moto serves requests on many threads
   without a lock: the items of a TransactWriteItems are applied one by one, so
   conditional writes racing each other (the tests' "20 parallel submissions give one
   lead", "50 parallel redeems") would see states that DynamoDB never shows.

2. TransactWriteItems rolls back with a journal. Stock moto deep-copies every table the
   transaction names before applying it, and restores that copy if the transaction is
   cancelled: the cost of every transaction grows with the table, and (3) kept every
   copy alive, so each agent reply grew the emulator by the size of the whole table
   (3.6 MiB a call; 24 GB after forty minutes of local use). Here the transaction
   saves a copy of just the items it is about to change and, when cancelled, puts those
   back. Under the lock of (1) nothing else runs meanwhile, so this restores exactly
   the state before the request, as the whole-table copy did.

3. No instance tracking. moto's BaseModel appends every instance it ever creates (each
   DynamoDB item version, each SQS message, each S3 object) to a class-level list that
   only its /moto-api/ dashboard reads, so nothing is ever freed. Instances are no
   longer tracked; S3 objects still release their buffers when collected (FakeKey has
   a finaliser), and the dashboard's data.json lists no instances.

4. A Query on the table (not an index) reads only its partition. Stock moto compares
   every item of the table with the partition key, so each agent reply's Query took
   longer as the local table filled (100 ms at 5,000 items). Same results, same order.

5. HTTP/1.1 keep-alive. moto's werkzeug server answers every request with
   `Connection: close`, so each SDK call paid a TCP connect and close that AWS, where
   clients reuse connections, never charges: a tenth of a function's CPU in a profile.
   moto's application is served by waitress (threads for SQS long polls, a high
   connection limit for the suite's many pooled clients). Without waitress installed,
   or with MOTO_CLOSE_CONNECTIONS=1, stock moto_server serves it as before.

Usage: python moto_server.py -H 127.0.0.1 -p PORT   (the arguments of moto_server)
"""

import copy
import sys
import threading

from moto.core.common_models import BaseModel
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

# 1. One DynamoDB request at a time.
_LOCK = threading.RLock()
_call_action = DynamoHandler.call_action


def _atomic_call_action(self):
    with _LOCK:
        return _call_action(self)


DynamoHandler.call_action = _atomic_call_action


# 2. TransactWriteItems with a journal of the items it touches.
class _Journal:
    """The items a transaction changes, as they were before it changed them."""

    def __init__(self, backend):
        self.backend = backend
        self.before = {}  # (table name, hash, range) -> (table, had its hash bucket, item copy)
        self.streams = {}  # table name -> (shard, its record list, length before)

    def remember(self, table_name, key):
        table = self.backend.tables.get(table_name)
        if table is None:
            return  # the operation fails without writing
        try:
            hash_value, range_value = self.backend.get_keys_value(table, key)
        except Exception:
            return  # a malformed key fails the same way when the operation runs
        ident = (table_name, hash_value, range_value)
        if ident in self.before:
            return
        had_bucket = hash_value in table.items
        # A copy: UpdateItem changes the stored item in place.
        item = copy.deepcopy(table.get_item(hash_value, range_value))
        self.before[ident] = (table, had_bucket, item)
        shard = table.stream_shard
        if shard is not None and table_name not in self.streams:
            self.streams[table_name] = (shard, shard.items, len(shard.items))

    def restore(self):
        for (_, hash_value, range_value), (table, had_bucket, item) in self.before.items():
            if range_value is None:
                if item is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = item
                continue
            bucket = table.items[hash_value]
            if item is None:
                bucket.pop(range_value, None)
                if not bucket and not had_bucket:
                    del table.items[hash_value]
            else:
                bucket[range_value] = item
        for shard, records, length in self.streams.values():
            if shard.items is records:  # not handed to a Lambda meanwhile
                del records[length:]


def _transact_write_items(self, transact_items):
    """moto 5.2's transact_write_items, journalled instead of copying whole tables."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    journal = _Journal(self)
    target_items = set()

    def check_unicity(table_name, key):
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors = []  # [(Code, Message, Item)], one per operation
    for item in transact_items:
        original_item = None
        # Check transact writes are not performing multiple operations on the same item
        if len(list(item.keys())) > 1:
            journal.restore()
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            check_unicity(table_name, key)

            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(condition_expression, names, values)
                if not condition_op.expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type != "ConditionCheck":
                journal.remember(table_name, key)
            if op_type == "Put":
                self.put_item(
                    table_name,
                    op["Item"],
                    condition_expression=condition_expression,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    condition_expression=condition_expression,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            journal.restore()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))
        except Exception as e:  # noqa: E722, as moto: any other failure cancels
            errors.append((type(e).__name__, str(e), original_item))

    if any(code is not None for code, _, _ in errors):
        journal.restore()
        raise TransactionCanceledException(errors)


DynamoDBBackend.transact_write_items = _transact_write_items


# 3. Instances are not tracked (see the module's docstring).
def _untracked_new(cls, *args, **kwargs):
    return super(BaseModel, cls).__new__(cls)


BaseModel.__new__ = staticmethod(_untracked_new)

# 4. A Query on the table reads its partition only.
_query = Table.query
_all_items = Table.all_items


def _partition_query(self, hash_key, *args, **kwargs):
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    if index_name or hash_key is None:
        return _query(self, hash_key, *args, **kwargs)
    # Stock moto filters every item of the table by its hash key; the items of one hash
    # key are one entry of table.items. Under the lock of (1) no other request runs.
    self._moto_server_partition = hash_key
    try:
        return _query(self, hash_key, *args, **kwargs)
    finally:
        del self._moto_server_partition


def _partition_items(self):
    if not hasattr(self, "_moto_server_partition"):
        return _all_items(self)
    bucket = self.items.get(self._moto_server_partition)
    if bucket is None:
        return []
    return list(bucket.values()) if self.range_key_attr else [bucket]


Table.query = _partition_query
Table.all_items = _partition_items


def _serve_keep_alive(argv):
    """5. moto's WSGI application under waitress, which keeps connections alive."""
    import argparse
    import os

    import waitress
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    waitress.serve(
        app,
        host=args.host,
        port=args.port,
        threads=64,  # long polls hold a thread for up to 20 s each
        connection_limit=2000,
        channel_timeout=300,
        ident="moto",
        _quiet=True,
    )


if __name__ == "__main__":
    import os

    try:
        import waitress  # noqa: F401

        keep_alive = os.environ.get("MOTO_CLOSE_CONNECTIONS") != "1"
    except ImportError:
        keep_alive = False
    if keep_alive:
        _serve_keep_alive(sys.argv[1:])
    else:
        from moto.server import main

        main(sys.argv[1:])
