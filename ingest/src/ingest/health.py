"""Liveness and readiness probes."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify

from ingest.services import services
from ticketrouter.aws import error_code
from ticketrouter.errors import AWS_ERRORS
from ticketrouter.ticket import Priority

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up and serving."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Every priority's queue answers; 503 names the ones that do not."""
    queues = services().tickets.queues
    report = {}
    for priority in Priority:
        try:
            queues.depth(priority)
            report[priority.value] = "ok"
        except AWS_ERRORS as error:
            report[priority.value] = error_code(error) or type(error).__name__
            log.warning("queue not ready", extra={"priority": priority.value, "error": str(error)})
    ready = all(state == "ok" for state in report.values())
    return jsonify({"status": "ready" if ready else "unavailable", "queues": report}), (200 if ready else 503)
