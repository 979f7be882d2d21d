"""Bearer-token check for the ticket endpoints."""

from __future__ import annotations

import hashlib
import hmac

from flask import request

from ingest.errors import ApiError
from ingest.services import settings


def has_bearer_token() -> bool:
    """Whether the request carries the configured bearer token."""
    expected = settings().ingest_api_token.get_secret_value()
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    # compare_digest on bytes: constant time whatever the input, and safe for non-ASCII.
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), expected.encode())


def require_bearer_token() -> None:
    """Reject the request with 401 unless it carries the configured bearer token."""
    if not has_bearer_token():
        raise ApiError(
            401,
            "unauthorized",
            "missing or wrong bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="tickets"'},
        )


def caller_identity() -> str:
    """Who presented the (already checked) bearer token, as a digest that never reveals it.

    One shared token today; keying on it keeps callers apart once there are several.
    """
    presented = request.headers.get("Authorization", "").partition(" ")[2].strip()
    return hashlib.sha256(presented.encode()).hexdigest()[:32]
