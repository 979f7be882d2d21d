"""Talks to a running stack as the benchmark's load: submits, seeds queues, reads the ledger."""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
import uuid
from datetime import datetime
from typing import Any

import boto3
import requests
from botocore.config import Config
from stacks import TOKEN

from stack import Stack
from ticketrouter.ledger import Ledger
from ticketrouter.ticket import Ticket, parse_submission


def aws_clients(endpoint: str) -> tuple[Any, Any]:
    kwargs = {"endpoint_url": endpoint, "region_name": "us-east-1", "aws_access_key_id": "test",
              "aws_secret_access_key": "test", "config": Config(s3={"addressing_style": "path"},
              max_pool_connections=50)}  # fmt: skip
    return boto3.client("sqs", **kwargs), boto3.client("s3", **kwargs)


class Bench:
    """Talks to a running stack: submits, seeds queues, reads the ledger."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.sqs, self.s3 = aws_clients(stack.env["AWS_ENDPOINT_URL"])
        self.session = requests.Session()

    def submit(self, priority: str, session: requests.Session | None = None) -> str:
        # A unique title: ingest makes one ticket of identical keyless bodies within its window.
        response = (session or self.session).post(
            f"{self.stack.ingest_url}/tickets", timeout=30, headers={"Authorization": f"Bearer {TOKEN}"},
            json={"title": f"bench {uuid.uuid4()}", "priority": priority, "description": "benchmark ticket"},
        )  # fmt: skip
        if response.status_code != 202:
            raise RuntimeError(f"ingest answered {response.status_code}: {response.text[:300]}")
        return response.json()["ticket_id"]

    def queue_url(self, name: str) -> str:
        return self.sqs.get_queue_url(QueueName=name)["QueueUrl"]

    @staticmethod
    def tickets(priority: str, count: int) -> list[Ticket]:
        return [Ticket.from_submission(parse_submission({"title": f"backlog {i}", "priority": priority,
                "description": "seed"})) for i in range(count)]  # fmt: skip

    def record(self, tickets: list[Ticket]) -> None:
        """Create the tickets' ledger records, as ingest does before a worker sees them."""
        ledger = Ledger(self.s3, "tickets-ledger")
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(ledger.create, tickets))

    def enqueue(self, queue: str, tickets: list[Ticket]) -> None:
        """Put the tickets straight on a queue, 10 per call from 8 threads."""
        url = self.queue_url(queue)

        def batch(start: int) -> None:
            entries = [
                {"Id": str(i), "MessageBody": t.to_message()}
                for i, t in enumerate(tickets[start : start + 10])
            ]
            self.sqs.send_message_batch(QueueUrl=url, Entries=entries)

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(batch, range(0, len(tickets), 10)))

    def depth(self, queue: str) -> int:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url(queue), AttributeNames=names)
        return sum(int(v) for v in attributes["Attributes"].values())

    def purge(self, *queues: str) -> None:
        for queue in queues:
            self.sqs.purge_queue(QueueUrl=self.queue_url(queue))

    def latency(self, ticket_id: str) -> float | None:
        """Seconds from creation at ingest to the destination's acceptance, from the ledger."""
        try:
            body = self.s3.get_object(Bucket="tickets-ledger", Key=f"tickets/{ticket_id}.json")["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        record = json.loads(body)
        delivered = [h["at"] for h in record.get("history", []) if h["status"] == "delivered"]
        if not delivered:
            return None
        return (
            datetime.fromisoformat(delivered[-1]) - datetime.fromisoformat(record["created_at"])
        ).total_seconds()

    def latencies(self, ids: list[str], timeout: float) -> list[float]:
        """Wait until every ticket is delivered (or the timeout), return their latencies in order."""
        found: dict[str, float] = {}
        deadline = time.monotonic() + timeout
        while len(found) < len(ids) and time.monotonic() < deadline:
            for tid in ids:
                if tid not in found and (value := self.latency(tid)) is not None:
                    found[tid] = value
            time.sleep(0.5)
        if len(found) < len(ids):
            raise TimeoutError(
                f"{len(ids) - len(found)} of {len(ids)} tickets not delivered in {timeout:.0f} s"
            )
        return [found[tid] for tid in ids]

    def paced(self, priority: str, count: int, per_second: float) -> list[str]:
        """Submit count tickets at a steady pace."""
        ids = []
        start = time.monotonic()
        for i in range(count):
            time.sleep(max(0.0, start + i / per_second - time.monotonic()))
            ids.append(self.submit(priority))
        return ids

    def ingest_load(self, count: int, clients: int) -> tuple[float, list[str]]:
        """Submit count low tickets through ingest from clients threads.

        Returns (accepted tickets/s, their ids); the timer starts before the first request.
        """
        left = iter(range(count))
        lock = threading.Lock()
        ids: list[str] = []

        def client() -> None:
            session = requests.Session()
            while True:
                with lock:
                    if next(left, None) is None:
                        return
                ticket_id = self.submit("low", session)
                with lock:
                    ids.append(ticket_id)

        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            for future in [pool.submit(client) for _ in range(clients)]:
                future.result()
        return count / (time.perf_counter() - started), ids
