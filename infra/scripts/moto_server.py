"""moto_server with DynamoDB requests applied one at a time, as DynamoDB applies each
request atomically.

Stock moto serves requests on many threads without a lock: the items of a
TransactWriteItems are applied one by one, and a cancelled transaction is undone by
restoring a copy of the whole table taken when it started, which erases whatever other
requests committed meanwhile. Conditional writes racing each other (the tests' "20
parallel submissions give one lead", "50 parallel redeems") would then see states that
DynamoDB never shows. One lock around the DynamoDB dispatcher restores per-request
atomicity; nothing else changes.

Usage: python moto_server.py -H 127.0.0.1 -p PORT   (the arguments of moto_server)
"""

import sys
import threading

from moto.dynamodb.responses import DynamoHandler

_LOCK = threading.RLock()
_call_action = DynamoHandler.call_action


def _atomic_call_action(self):
    with _LOCK:
        return _call_action(self)


DynamoHandler.call_action = _atomic_call_action

if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
