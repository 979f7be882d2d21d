"""Per-client rate limits (Flask-Limiter): one budget per source address, one per bearer identity.

``INGEST_RATE_LIMIT`` (e.g. ``600/minute``; unset or ``0`` = off) is each client's budget across
the whole API except ``/healthz``:

- per bearer identity: requests that present the right bearer token (there is one, so one
  identity) count under it, whatever address they come from (Power Automate calls from many);
- per source address: every other request (no token, a wrong one, the HMAC-signed Teams
  webhook), so a flood of bad tokens is cut off without spending the token holder's budget.

Counters live in ``INGEST_RATE_LIMIT_STORAGE_URI`` (default ``memory://``: per gunicorn process,
so with N processes a client may get up to N times the budget before every process refuses).
The source address is the TCP peer, unless ``INGEST_TRUSTED_PROXIES`` says how many proxies in
front (ngrok, a load balancer) append to ``X-Forwarded-For``; only then is that header believed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from flask import Flask, Response, g
from flask_limiter import ApplicationLimit, Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from ingest.auth import has_bearer_token
from ingest.errors import ApiError, error_response
from ingest.settings import IngestSettings


def bearer_identity() -> str:
    """The caller's identity when it presents the bearer token, else "".

    There is one token, so one identity; its name says nothing about the token.
    """
    if "bearer_identity" not in g:
        g.bearer_identity = "bearer-token" if has_bearer_token() else ""
    identity: str = g.bearer_identity
    return identity


def anonymous() -> bool:
    return not bearer_identity()


def rate_limit_enabled(settings: IngestSettings) -> bool:
    return settings.ingest_rate_limit not in ("", "0")


def init_rate_limits(app: Flask, settings: IngestSettings) -> Limiter:
    """Trust X-Forwarded-For only as configured, and enforce INGEST_RATE_LIMIT per client."""
    if settings.ingest_trusted_proxies:
        # Flask's documented way to wrap the app in WSGI middleware; its stubs declare a method.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.ingest_trusted_proxies
        )
    rate = settings.ingest_rate_limit
    enabled = rate_limit_enabled(settings)
    limits: list[str | Callable[[], str] | ApplicationLimit] = [
        ApplicationLimit(rate, key_function=bearer_identity, scope="identity", exempt_when=anonymous),
        ApplicationLimit(
            rate, key_function=get_remote_address, scope="address", exempt_when=lambda: not anonymous()
        ),
    ]
    limiter = Limiter(
        get_remote_address,
        app=app,
        application_limits=limits if enabled else [],
        storage_uri=settings.ingest_rate_limit_storage_uri,
        enabled=enabled,
        # Our 429 sets Retry-After itself; the X-RateLimit-* headers are not part of the contract.
        headers_enabled=False,
    )
    app.register_error_handler(RateLimitExceeded, lambda exc: rate_limited_response(limiter, exc))
    return limiter


def rate_limited_response(limiter: Limiter, exc: RateLimitExceeded) -> tuple[Response, int, dict[str, str]]:
    """429 in the API's JSON shape, with Retry-After = seconds until the window frees a request."""
    current = limiter.current_limit
    reset_at = current.window[0] if current else time.time()  # when the window frees a request
    wait = max(1, math.ceil(reset_at - time.time()))
    return error_response(
        ApiError(
            429,
            "rate_limited",
            f"too many requests from this client (limit {exc.description}); retry after {wait} s",
            headers={"Retry-After": str(wait)},
        )
    )
