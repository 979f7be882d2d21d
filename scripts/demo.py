"""Submit one ticket of each priority and show where each one landed: `make demo`.

Works against the running `make dev` (its `.dev/env`) and the compose stack (`.env`) alike,
chosen as every ops command chooses (ticketrouter.target). Exits 0 only when every ticket was
found at its destination within the deadline; 2 when there is no stack to talk to.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "common" / "src"))
from ticketrouter.target import Target, choose  # noqa: E402 — after the path above

EXIT_NO_STACK = 2

DEMO_TICKETS = [
    {
        "title": "Checkout page returns 500",
        "priority": "High",
        "description": "Customers cannot pay since 09:12. Error id 7f3a.",
        "requester": "Demo User",
    },
    {
        "title": "VPN drops every hour",
        "priority": "2",
        "description": "Reconnecting works, but it interrupts calls.",
        "requester": "demo@example.com",
    },
    {
        "title": "Typo on the About page",
        "priority": "low",
        "description": "'recieve' should be 'receive'.",
        "source": "demo",
    },
]


def submit(ingest_url: str, token: str, ticket: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(
        f"{ingest_url}/tickets",
        json=ticket,
        timeout=10,
        # A fresh key per run: a rerun within ingest's dedup window makes new tickets, not replays.
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"demo-{uuid.uuid4()}"},
    )
    response.raise_for_status()
    return response.json()


def find_in_standin(standin_url: str, ticket_id: str, path: str) -> str | None:
    """The stand-in's record of the call that carried ticket_id, if any."""
    for entry in requests.get(f"{standin_url}/_fake/requests", timeout=5).json():
        if entry["path"] == path and entry["status"] == 200 and ticket_id in str(entry["body"]):
            received = time.strftime("%H:%M:%S", time.localtime(entry["received_at"]))
            return f"{standin_url}  ({path} at {received})"
    return None


def find_in_bucket(s3: Any, bucket: str, ticket_id: str) -> str | None:
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix="tickets/low/"):
        for item in page.get("Contents", []):
            if item["Key"].endswith(f"/{ticket_id}.json"):
                return f"s3://{bucket}/{item['Key']}"
    return None


def wait_for(find: Callable[[], str | None], timeout: float) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := find():
            return found
        time.sleep(0.2)
    return None


def ingest_answers(ingest_url: str) -> bool:
    """True when something answers HTTP at the ingest URL."""
    try:
        requests.get(f"{ingest_url}/healthz", timeout=5)
    except requests.ConnectionError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    if choose().target is Target.AWS:
        print("error: make demo submits test tickets to a local stack, not to real AWS", file=sys.stderr)
        return EXIT_NO_STACK
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ingest-url", default=os.environ.get("INGEST_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--token", default=os.environ.get("INGEST_API_TOKEN", "dev-token"))
    parser.add_argument(
        "--slack-standin", default=os.environ.get("SLACK_STANDIN_URL", "http://127.0.0.1:9001")
    )
    parser.add_argument(
        "--trello-standin", default=os.environ.get("TRELLO_STANDIN_URL", "http://127.0.0.1:9002")
    )
    parser.add_argument("--aws-endpoint", default=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"))
    parser.add_argument("--bucket", default=os.environ.get("TICKETS_BUCKET", "tickets"))
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    if not ingest_answers(args.ingest_url):
        print(
            f"no stack at {args.ingest_url} — start one with `make dev` or `make up`",
            file=sys.stderr,
        )
        return EXIT_NO_STACK

    s3 = boto3.client(
        "s3",
        endpoint_url=args.aws_endpoint,
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        config=Config(s3={"addressing_style": "path"}),
    )
    finders = {
        "high": lambda tid: find_in_standin(args.slack_standin, tid, "/api/chat.postMessage"),
        "medium": lambda tid: find_in_standin(args.trello_standin, tid, "/1/cards"),
        "low": lambda tid: find_in_bucket(s3, args.bucket, tid),
    }
    destinations = {"high": "Slack", "medium": "Trello", "low": "S3"}
    missing = 0
    for ticket in DEMO_TICKETS:
        answer = submit(args.ingest_url, args.token, ticket)
        print(f"submitted {answer['priority']:<6} → 202 {answer['message']}")
        tid, priority = answer["ticket_id"], answer["priority"]
        found = wait_for(lambda p=priority, t=tid: finders[p](t), args.timeout)
        if found:
            print(f"  landed in {destinations[priority]}: {found}")
        else:
            missing += 1
            print(f"  NOT found in {destinations[priority]} after {args.timeout:.0f} s", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
