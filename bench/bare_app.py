"""Ingest's ceiling: the same gunicorn configuration serving POST /tickets with exactly the AWS
calls ingest makes for a keyless ticket (the ledger record's conditional PUT, then SendMessage,
on clients built by the same factory) and nothing else: no auth, no validation, no idempotency
decision, no logging or metrics.

`gunicorn -c ingest/gunicorn.conf.py 'bare_app:create_app()'`, with bench/ on PYTHONPATH and the
stack's environment (AWS_ENDPOINT_URL, queue and bucket names). bench/ingest_ceiling.py runs it.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from flask import Flask, Response, jsonify, request

from ticketrouter.aws import aws_client
from ticketrouter.config import RouterSettings
from ticketrouter.ticket import Priority


def create_app() -> Flask:
    settings = RouterSettings.load()
    # The clients of ingest's POST /tickets (ingest.services.ClientUse.TICKETS: a 10 s read timeout).
    sqs = aws_client("sqs", settings, read_timeout=10)
    s3 = aws_client("s3", settings, read_timeout=10)
    queue_url = sqs.get_queue_url(QueueName=settings.queue_name(Priority.LOW))["QueueUrl"]
    app = Flask(__name__)

    @app.post("/tickets")
    def accept() -> tuple[Response, int]:
        request.get_data()  # read the body, as ingest does
        ticket_id, created = str(uuid.uuid4()), datetime.now(UTC).isoformat()
        history = [{"status": "queued", "at": created}]
        record = {"ticket_id": ticket_id, "priority": "low", "status": "queued", "created_at": created}
        s3.put_object(
            Bucket=settings.ledger_bucket,
            Key=f"tickets/{ticket_id}.json",
            Body=json.dumps({**record, "history": history}).encode(),
            ContentType="application/json",
            ServerSideEncryption="AES256",
            IfNoneMatch="*",
        )
        ticket = {"schema_version": 1, "id": ticket_id, "created_at": created, "priority": "low"}
        attributes = {
            "ticket_id": {"DataType": "String", "StringValue": ticket_id},
            "priority": {"DataType": "String", "StringValue": "low"},
        }
        body = json.dumps({**ticket, "title": "bare", "description": "bare endpoint"})
        sqs.send_message(QueueUrl=queue_url, MessageBody=body, MessageAttributes=attributes)
        return jsonify({"ticket_id": ticket_id}), 202

    @app.get("/readyz")
    def ready() -> Response:
        return jsonify({"status": "ready"})

    return app
