"""Every error leaves ingest as JSON: {"error": code, "message": text, ...details}."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from ingest.metrics import REJECTED
from ticketrouter.redaction import redact


class ApiError(Exception):
    """An error answer: status, machine-readable code, human message, optional details."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        headers: dict[str, str] | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.headers = headers or {}
        self.details = details


# Endpoints where an error answer means a submission was refused.
_SUBMISSION_ENDPOINTS = {"tickets.submit_ticket", "teams.teams_webhook"}


def error_response(error: ApiError) -> tuple[Response, int, dict[str, str]]:
    if request.endpoint in _SUBMISSION_ENDPOINTS:
        REJECTED.labels(error.error).inc()
    body = {"error": error.error, "message": error.message, **error.details}
    return jsonify(redact(body)), error.status, error.headers


def http_exception_response(exc: HTTPException) -> tuple[Response, int, dict[str, str]]:
    """Werkzeug's own errors (404, 405, 413, ...) in the same JSON shape."""
    code = (exc.name or "error").lower().replace(" ", "_")
    headers = dict(exc.get_headers()) if exc.code == 405 else {}
    headers.pop("Content-Type", None)
    return error_response(ApiError(exc.code or 500, code, exc.description or exc.name, headers))


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, error_response)
    app.register_error_handler(HTTPException, http_exception_response)
