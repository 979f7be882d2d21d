"""Worker metrics and health, served on WORKER_METRICS_PORT:

- ``GET /metrics``: Prometheus text (deliveries by outcome, delivery latency, retries, DLQ
  moves, queue depths refreshed every WORKER_QUEUE_METRICS_SECONDS);
- ``GET /healthz``: 200 while the consumer loop is alive (it polled recently), else 503;
- ``GET /readyz``: 200 while the queue answers (last depth refresh succeeded), else 503.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from botocore.exceptions import BotoCoreError, ClientError
from prometheus_client import Counter, Gauge, Histogram, make_wsgi_app

from ticketrouter.queues import QueuePair, message_counts

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    from types_boto3_sqs import SQSClient

log = logging.getLogger(__name__)

DELIVERIES = Counter(
    "ticketrouter_deliveries", "Messages settled by a worker, by outcome", ["destination", "outcome"]
)
DELIVERY_LATENCY = Histogram(
    "ticketrouter_delivery_latency_seconds",
    "From the ticket's creation at ingest to the destination accepting it",
    ["destination", "priority"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
RETRIES = Counter("ticketrouter_delivery_retries", "Failed attempts that will be retried", ["destination"])
DLQ_MOVES = Counter(
    "ticketrouter_dlq_moves", "Messages parked on the dead-letter queue, by reason", ["destination", "reason"]
)
QUEUE_MESSAGES = Gauge(
    "ticketrouter_queue_messages", "Messages on a queue (SQS approximate counts)", ["queue", "state"]
)
PACING_WAIT = Counter(
    "ticketrouter_pacing_wait_seconds",
    "Time requests waited to keep to the destination's rate (SLACK_/TRELLO_ rate settings)",
    ["destination"],
)
LOOP_HEARTBEAT = Gauge(
    "ticketrouter_worker_heartbeat_timestamp_seconds", "When the consumer loop last polled"
)


class Health:
    """Liveness and readiness as the worker's threads report them."""

    def __init__(self, max_silence_seconds: float) -> None:
        self.max_silence = max_silence_seconds
        self.last_beat = time.monotonic()
        self.queue_ok = False

    def beat(self) -> None:
        self.last_beat = time.monotonic()
        LOOP_HEARTBEAT.set_to_current_time()

    def alive(self) -> bool:
        return time.monotonic() - self.last_beat <= self.max_silence


def refresh_queue_depths(sqs: SQSClient, pair: QueuePair, names: tuple[str, str]) -> None:
    """Set the depth gauges of a work queue and its dead-letter queue."""
    for url, name in zip((pair.url, pair.dlq_url), names, strict=True):
        visible, in_flight = message_counts(sqs, url)
        QUEUE_MESSAGES.labels(name, "visible").set(visible)
        QUEUE_MESSAGES.labels(name, "in_flight").set(in_flight)


def watch_queue(
    sqs: SQSClient, pair: QueuePair, names: tuple[str, str], health: Health, every: float
) -> threading.Thread:
    """Refresh the depth gauges (and readiness) in a daemon thread."""

    def loop() -> None:
        while True:
            try:
                refresh_queue_depths(sqs, pair, names)
                health.queue_ok = True
            except (BotoCoreError, ClientError) as error:
                health.queue_ok = False
                log.warning("queue depth refresh failed", extra={"error": str(error)})
            time.sleep(every)

    thread = threading.Thread(target=loop, name="queue-metrics", daemon=True)
    thread.start()
    return thread


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 — the stdlib's name
        """Scrapes every few seconds would drown the JSON log."""


def _probe(ok: Callable[[], bool]) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        healthy = ok()
        start_response(
            "200 OK" if healthy else "503 Service Unavailable", [("Content-Type", "application/json")]
        )
        return [json.dumps({"status": "ok" if healthy else "unavailable"}).encode()]

    return app


def serve_observability(port: int, health: Health, host: str = "0.0.0.0") -> WSGIServer:
    """Serve /metrics, /healthz and /readyz in a daemon thread; returns the server (its port if 0)."""
    routes: dict[str, WSGIApplication] = {
        "/healthz": _probe(health.alive),
        "/readyz": _probe(lambda: health.queue_ok),
    }
    metrics: WSGIApplication = make_wsgi_app()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return routes.get(environ.get("PATH_INFO", ""), metrics)(environ, start_response)

    server = make_server(host, port, app, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="observability", daemon=True).start()
    return server
