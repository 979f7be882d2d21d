"""Ingest API: `gunicorn -c ingest/gunicorn.conf.py 'ingest:create_app()'`."""

from __future__ import annotations

import logging
import time
from typing import Any, cast

from flask import Flask, Response, g, request
from flask.json.provider import DefaultJSONProvider

from ingest import apidoc, health, index, metrics, teams, tickets
from ingest.errors import register_error_handlers
from ingest.ratelimit import init_rate_limits
from ingest.services import Services, install, services_of
from ingest.settings import IngestSettings
from ticketrouter.errors import AWS_ERRORS
from ticketrouter.logs import configure_logging
from ticketrouter.ticket import Priority

log = logging.getLogger("ingest.requests")


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: settings from defaults → environment → test_config."""
    settings = IngestSettings.load(**(test_config or {}))
    configure_logging("ingest", settings.log_level, settings.secrets())
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.ingest_max_body_bytes
    cast(DefaultJSONProvider, app.json).sort_keys = False  # the provider Flask installs by default
    install(app, Services.build(settings))
    register_error_handlers(app)
    app.register_blueprint(tickets.bp)
    app.register_blueprint(teams.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(apidoc.bp)
    # /metrics is not served here but on INGEST_METRICS_PORT, off the public port (gunicorn.conf.py).
    limiter = init_rate_limits(app, settings)
    limiter.exempt(health.healthz)  # liveness must answer whoever asks, however often
    index.register(app)
    app.before_request(_start_timer)
    app.after_request(_log_request)
    return app


def _start_timer() -> None:
    g.started = time.perf_counter()


def _log_request(response: Response) -> Response:
    """One JSON line per request; never the headers (they carry the token)."""
    duration = time.perf_counter() - g.get("started", time.perf_counter())
    duration_ms = duration * 1000
    # The route's pattern, not the path: /tickets/<ticket_id> is one series, not one per ticket.
    endpoint = request.url_rule.rule if request.url_rule else "unmatched"
    metrics.REQUEST_LATENCY.labels(
        metrics.method_label(request.method), endpoint, str(response.status_code)
    ).observe(duration)
    extra = {
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "duration_ms": round(duration_ms, 2),
    }
    if "ticket_id" in g:
        extra["ticket_id"] = g.ticket_id
    log.info("request", extra=extra)
    return response


def resolve_queues(app: object) -> None:
    """Get or create every priority's queue now rather than on the first ticket.

    Best effort: ingest still starts when SQS is down, and /readyz says so.
    """
    built = services_of(app)
    if built is None:  # not ingest (the benchmark's bare apps)
        return
    # The webhook's directory shares these URLs (services.intake_for): one resolution serves both.
    for priority in Priority:
        try:
            built.tickets.queues.pair(priority)
        except AWS_ERRORS as error:
            log.warning(
                "queue not resolved at start-up", extra={"priority": priority.value, "error": str(error)}
            )
