"""Ingest's Prometheus metrics, and the internal server that publishes them.

Under gunicorn every worker process counts for itself; prometheus_client's multiprocess mode
(PROMETHEUS_MULTIPROC_DIR, set up by gunicorn.conf.py) adds them up at scrape time. /metrics is
served by the gunicorn master on INGEST_METRICS_PORT (gunicorn.conf.py), never on the public port.
No label takes text a client chose: `source` is one of SOURCES or "other".
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# What the Teams kit and the code send as `source`; "api" when a caller sends none.
SOURCES = frozenset({"api", "teams-card", "teams-webhook", "power-automate"})
# A client may send any method name; these are the ones the API serves.
METHODS = frozenset({"GET", "HEAD", "POST", "OPTIONS"})

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


def source_label(source: str | None) -> str:
    """The `source` label: a known source as is, none as "api", anything else as "other"."""
    if not source:
        return "api"
    known = source.strip().lower()
    return known if known in SOURCES else "other"


def method_label(method: str) -> str:
    """The `method` label: an HTTP method the API serves, else "other"."""
    return method if method in METHODS else "other"
