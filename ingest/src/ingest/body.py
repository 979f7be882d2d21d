"""Reading request bodies: size limit, content type, JSON — each with its own clear error."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from ingest.errors import ApiError


def require_json_content_type() -> None:
    """415 unless the body is declared as JSON (application/json or any +json type)."""
    if not (request.mimetype == "application/json" or request.mimetype.endswith("+json")):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type must be application/json, not {request.mimetype or 'missing'}",
        )


def read_raw_body() -> bytes:
    """The body's bytes, or 413 past the configured limit."""
    try:
        return request.get_data(cache=True)
    except RequestEntityTooLarge:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        raise ApiError(413, "payload_too_large", f"request body exceeds {limit} bytes") from None


def decode_json(raw: bytes) -> Any:
    """The decoded JSON value, or 400."""
    try:
        return json.loads(raw)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        raise ApiError(400, "malformed_json", f"request body is not valid JSON: {error}") from None
