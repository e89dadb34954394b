"""The reference for `sauda bench functions`: a Python 3.11 + boto3 Lambda function doing
the Telegram webhook's job (secret check against the tenant's secret, read once and
cached; a conditional PutItem of the message; a FIFO SendMessage of its envelope), run
under the same Runtime API emulator, against the same emulator, on the same events.

It speaks the Runtime API itself (as awslambdaric does: one keep-alive connection,
`next`, then `response`), so what is measured is the function, not a client library.
Environment: the webhook's (TABLE_NAME, INBOUND_QUEUE_URL, STAGE) plus AWS_ENDPOINT_URL.
"""

import hmac
import http.client
import json
import os
import time

import boto3

STAGE = os.environ["STAGE"]
TABLE = os.environ["TABLE_NAME"]
QUEUE = os.environ["INBOUND_QUEUE_URL"]
dynamo = boto3.client("dynamodb")
sqs = boto3.client("sqs")
secrets = boto3.client("secretsmanager")
_cache = {}


def tenant_secret(tenant):
    if tenant not in _cache:
        value = secrets.get_secret_value(SecretId=f"sauda/{STAGE}/tenant/{tenant}")
        _cache[tenant] = json.loads(value["SecretString"]).get("telegram_webhook_secret", "")
    return _cache[tenant]


def handle(event):
    tenant = event["pathParameters"]["tenant"]
    presented = event["headers"].get("x-telegram-bot-api-secret-token", "")
    if not hmac.compare_digest(presented.encode(), tenant_secret(tenant).encode()):
        return {"statusCode": 401, "body": '{"error":{"code":"invalid_secret_token"}}'}
    update = json.loads(event["body"])
    message = update["message"]
    chat = str(message["chat"]["id"])
    contact = f"tg:{chat}"
    item = {
        "PK": {"S": f"T#{tenant}#C#{contact}"},
        "SK": {"S": f"M#{message['date'] * 1000:013d}#in#{message['message_id']}"},
        "text": {"S": message.get("text", "")},
        "channel": {"S": "telegram"},
        "at": {"N": str(int(time.time() * 1000))},
    }
    duplicate = False
    try:
        dynamo.put_item(
            TableName=TABLE, Item=item, ConditionExpression="attribute_not_exists(PK)"
        )
    except dynamo.exceptions.ConditionalCheckFailedException:
        duplicate = True
    envelope = {"kind": "inbound", "tenant": tenant, "contact": contact, "message": message}
    sqs.send_message(
        QueueUrl=QUEUE,
        MessageBody=json.dumps(envelope),
        MessageGroupId=f"{tenant}#{contact}",
        MessageDeduplicationId=f"{tenant}#tg#{chat}#{message['message_id']}",
    )
    return {"statusCode": 200, "body": json.dumps({"ok": True, "duplicate": duplicate})}


def main():
    host, _, port = os.environ["AWS_LAMBDA_RUNTIME_API"].partition(":")
    runtime = http.client.HTTPConnection(host, int(port))
    base = "/2018-06-01/runtime/invocation"
    while True:
        runtime.request("GET", f"{base}/next")
        answer = runtime.getresponse()
        request_id = answer.getheader("lambda-runtime-aws-request-id")
        event = json.loads(answer.read())
        try:
            body, outcome = json.dumps(handle(event)), "response"
        except Exception as e:  # noqa: BLE001, reported as Lambda reports it
            body, outcome = json.dumps({"errorMessage": str(e)}), "error"
        runtime.request("POST", f"{base}/{request_id}/{outcome}", body=body)
        runtime.getresponse().read()


if __name__ == "__main__":
    main()
