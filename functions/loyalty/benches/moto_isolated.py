"""moto_server with DynamoDB requests isolated from each other, for the loyalty benchmark.

Stock moto (5.2) handles requests on many threads without a lock, applies the items of a
TransactWriteItems one by one and undoes a cancelled one by restoring a deep copy of the
whole table taken when it started. Concurrent requests therefore interleave, a rollback
erases what others committed meanwhile, and every transaction costs time proportional to
the table (about 0.1 ms per stored item: 2.3 s per transaction at 20 000 items).

This launcher changes two things and nothing else:
- DynamoDB requests run one at a time (one lock), as each is atomic on DynamoDB;
- a cancelled transaction is undone item by item (it restores only what it touched).

Usage: python moto_isolated.py -H 127.0.0.1 -p PORT   (the arguments of moto_server)
"""

import copy
import sys
import threading

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.responses import DynamoHandler

LOCK = threading.RLock()

_call_action = DynamoHandler.call_action


def _isolated_call_action(self):
    with LOCK:
        return _call_action(self)


DynamoHandler.call_action = _isolated_call_action


def _key_of(table, op_type, op):
    if op_type == "Put":
        attrs = op["Item"]
        key = {table.hash_key_attr: attrs[table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = attrs[table.range_key_attr]
        return key
    return op["Key"]


def _restore(undo):
    for table, hash_value, range_value, previous in reversed(undo):
        if previous is None:
            table.delete_item(hash_value, range_value)
        elif range_value is not None:
            table.items[hash_value][range_value] = previous
        else:
            table.items[hash_value] = previous


def transact_write_items(self, transact_items):
    """moto's TransactWriteItems with an item-level undo log instead of a table copy."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    undo = []
    targets = set()
    errors = []
    for item in transact_items:
        original_item = None
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            table = self.get_table(table_name)
            key = _key_of(table, op_type, op)
            unique = (str(table_name), str(dict(sorted(key.items()))))
            if unique in targets:
                raise MultipleTransactionsException()
            targets.add(unique)

            condition = op.get("ConditionExpression")
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            current = self.get_item(table_name, key)
            if condition is not None:
                if not get_filter_expression(condition, names, values).expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)
            if op_type != "ConditionCheck":
                hash_value = DynamoType(key[table.hash_key_attr])
                range_value = (
                    DynamoType(key[table.range_key_attr])
                    if table.range_key_attr is not None
                    else None
                )
                undo.append((table, hash_value, range_value, copy.deepcopy(current)))
            if op_type == "Put":
                self.put_item(table_name, op["Item"], condition_expression=condition,
                              expression_attribute_names=names,
                              expression_attribute_values=values)
            elif op_type == "Delete":
                self.delete_item(table_name, key, condition_expression=condition,
                                 expression_attribute_names=names,
                                 expression_attribute_values=values)
            elif op_type == "Update":
                self.update_item(table_name, key, update_expression=op["UpdateExpression"],
                                 condition_expression=condition,
                                 expression_attribute_names=names,
                                 expression_attribute_values=values)
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            _restore(undo)
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))
        except Exception as e:  # noqa: BLE001 - moto reports any failure per item
            errors.append((type(e).__name__, str(e), original_item))
    if any(code is not None for code, _, _ in errors):
        _restore(undo)
        raise TransactionCanceledException(errors)


dynamodb_models.DynamoDBBackend.transact_write_items = transact_write_items

if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
