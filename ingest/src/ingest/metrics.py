"""Ingest's Prometheus metrics and GET /metrics.

Under gunicorn every worker process counts for itself; prometheus_client's multiprocess mode
(PROMETHEUS_MULTIPROC_DIR, set up by gunicorn.conf.py) adds them up at scrape time.
"""

from __future__ import annotations

import os

from flask import Blueprint, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

ACCEPTED = Counter("ticketrouter_tickets_accepted", "Tickets queued by ingest", ["priority", "source"])
REJECTED = Counter(
    "ticketrouter_tickets_rejected", "Submissions refused, by reason (the error code)", ["reason"]
)
REQUEST_LATENCY = Histogram(
    "ticketrouter_http_request_duration_seconds",
    "Ingest request latency",
    ["method", "endpoint", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics():
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
