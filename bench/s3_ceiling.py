"""worker-s3 against its emulator's own ceiling for the same calls (issue 11, item 2a).

In one run, on the same emulator, with no latency added, each timed from before its tickets
are put on the queue until the queue is empty:

- the ceiling: a plain boto3 loop (no router code) makes worker-s3's calls and nothing else:
  per batch of 10 a ReceiveMessage and a DeleteMessageBatch, per ticket the object's
  create-only PUT (``IfNoneMatch='*'``) and the ledger record's conditional PUT (``IfMatch``
  the ETag it was created with); the better of THREADS client threads, each its own loop;
- worker-s3, one replica (batch of 10, delivered concurrently), on as many tickets.

Bound: worker-s3 ≥ CEILING_BOUND × the ceiling.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from driver import Bench
from figures import verdict

from ticketrouter.ticket import Ticket

CEILING_BOUND = 0.7
THREADS = (10, 20)  # calls in flight: as many as worker-s3's batch of 10, and twice that
LOW_QUEUE, TICKETS_BUCKET, LEDGER_BUCKET = "tickets-low", "tickets", "tickets-ledger"


def timed_drain(bench: Bench, tickets: list[Ticket], drain: Callable[[], None] | None = None) -> float:
    """Seconds from enqueueing the tickets until the queue is empty; drain runs meanwhile (if any)."""
    started = time.perf_counter()
    worker = threading.Thread(target=drain) if drain else None
    if worker:
        worker.start()
    bench.enqueue(LOW_QUEUE, tickets)
    while bench.depth(LOW_QUEUE) and time.perf_counter() - started < 600:
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    if worker:
        worker.join()
    if bench.depth(LOW_QUEUE):
        raise TimeoutError("tickets left after 600 s")
    return elapsed


def seed_ledger(s3: Any, tickets: list[Ticket]) -> dict[str, str]:
    """Ledger records for the tickets, as ingest writes them; returns their ETags by ticket id."""
    etags = {}
    for ticket in tickets:
        body = json.dumps({"ticket_id": ticket.id, "status": "queued", "history": []}).encode()
        key = f"tickets/{ticket.id}.json"
        etags[ticket.id] = s3.put_object(Bucket=LEDGER_BUCKET, Key=key, Body=body, IfNoneMatch="*")["ETag"]
    return etags


def write_plainly(s3: Any, message: dict[str, Any], etags: dict[str, str]) -> None:
    """worker-s3's two S3 calls for one ticket: the object, create-only; the record, IfMatch."""
    ticket = Ticket.from_message(message["Body"])
    s3.put_object(
        Bucket=TICKETS_BUCKET,
        Key=f"tickets/low/{ticket.id}.json",
        Body=message["Body"],
        ContentType="application/json",
        ServerSideEncryption="AES256",
        IfNoneMatch="*",
    )
    record = {"ticket_id": ticket.id, "status": "delivered", "history": [{"status": "delivered"}]}
    s3.put_object(
        Bucket=LEDGER_BUCKET,
        Key=f"tickets/{ticket.id}.json",
        Body=json.dumps(record).encode(),
        ContentType="application/json",
        IfMatch=etags[ticket.id],
    )


def plain_loop(bench: Bench, tickets: list[Ticket], threads: int) -> float:
    """Tickets/s of worker-s3's calls made by a plain boto3 loop in threads."""
    s3, sqs, url = bench.s3, bench.sqs, bench.queue_url(LOW_QUEUE)
    etags = seed_ledger(s3, tickets)  # not timed
    left, lock = [len(tickets)], threading.Lock()

    def loop() -> None:
        while left[0] > 0:
            messages = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            for message in messages:
                write_plainly(s3, message, etags)
            if messages:
                entries = [
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
                ]
                sqs.delete_message_batch(QueueUrl=url, Entries=entries)
                with lock:
                    left[0] -= len(messages)

    def drain() -> None:
        with ThreadPoolExecutor(threads) as pool:
            for future in [pool.submit(loop) for _ in range(threads)]:
                future.result()

    return len(tickets) / timed_drain(bench, tickets, drain)


def worker_s3(bench: Bench, tickets: list[Ticket]) -> float:
    """worker-s3's tickets/s, straight on the emulator (started and ready before the timer)."""
    worker = bench.stack.start_worker("worker_s3", {"WORKER_WAIT_SECONDS": "1"})
    try:
        bench.record(tickets)
        return len(tickets) / timed_drain(bench, tickets)
    finally:
        bench.stack.stop_service(worker)


def measure(bench: Bench, count: int, runs: int) -> list[dict[str, float]]:
    """Per run: the ceiling, worker-s3 and their ratio (tickets/s), in alternating order."""
    rows = []
    for run in range(runs):
        measured: dict[str, float] = {}
        for name in ("ceiling", "worker") if run % 2 == 0 else ("worker", "ceiling"):
            if name == "worker":
                measured[name] = worker_s3(bench, bench.tickets("low", count))
            else:
                measured[name] = max(plain_loop(bench, bench.tickets("low", count), n) for n in THREADS)
        measured["ratio"] = measured["worker"] / measured["ceiling"]
        print(f"  s3 ceiling {measured['ceiling']:.0f}/s, worker-s3 {measured['worker']:.0f}/s: "
              f"{measured['ratio']:.2f}", flush=True)  # fmt: skip
        rows.append(measured)
    return rows


def section(figures: dict[str, Any], count: int, met: bool) -> list[str]:
    """The RESULTS.md section; figures: run.py's Figure per key of measure()'s rows."""
    return [
        "## worker-s3 against the emulator's own ceiling",
        "",
        "No latency added. A plain boto3 loop (no router code; the better of "
        f"{' and '.join(map(str, THREADS))} client threads) makes worker-s3's calls and nothing else — "
        "per batch of 10 a ReceiveMessage and a DeleteMessageBatch, per ticket "
        f"the object's create-only PUT and the ledger record's conditional PUT — on {count} seeded "
        "tickets; worker-s3 (one replica, batch of 10 concurrent) drains as many. Each is timed from "
        "before its tickets are queued until the queue is empty; the two alternate in order across runs.",
        "",
        "| | tickets/s |",
        "|---|---|",
        f"| the emulator's ceiling for this call mix | {figures['ceiling'].show(lambda v: f'{v:.0f}')} |",
        f"| worker-s3 | {figures['worker'].show(lambda v: f'{v:.0f}')} |",
        "",
        f"- Bound: worker-s3 ≥ {CEILING_BOUND} × the ceiling — {verdict(met)} ({figures['ratio'].show()}).",
        "",
    ]
