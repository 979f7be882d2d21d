"""A stand-in's Flask app: its API, the control API, the page at /, and the hooks that record each
API call and play the planned failures, slow-downs and holds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, render_template, request

from standins.control import control
from standins.recorder import (
    CONTROL_PREFIX,
    HOLD_MAX_SECONDS,
    PlannedFailure,
    Recorder,
    current_recorder,
    request_body,
)


def _answer(failure: PlannedFailure) -> Response:
    response = jsonify(failure.body) if not isinstance(failure.body, str) else Response(failure.body)
    response.status_code = failure.status
    if failure.retry_after is not None:
        response.headers["Retry-After"] = str(failure.retry_after)
    return response


def _start_api_call() -> Response | None:
    """Before an API call: note the time, wait if told to (slow, held), answer 429 beyond the
    rate limit, and answer with a planned failure if there is one (after the call's effect, for
    an `apply` failure)."""
    if request.path.startswith((CONTROL_PREFIX, "/static/")) or request.path == "/":
        return None
    g.received_at = time.time()
    if current_recorder().delay_seconds:
        time.sleep(current_recorder().delay_seconds)
    held = current_recorder().take_hold(request.method, request.path)
    if held is not None:
        held.released.wait(HOLD_MAX_SECONDS)
        if not held.apply:
            return Response("dropped by the stand-in before processing", status=503)
    retry_after = current_recorder().admit(request.path)
    if retry_after is not None:
        body = current_app.config["DEFAULT_FAILURE_BODY"](429)
        return _answer(PlannedFailure(429, body, retry_after, remaining=None))
    failure = current_recorder().take_failure(request.path)
    if failure is None:
        return None
    if failure.apply:
        g.failure_after_effect = failure
        return None
    return _answer(failure)


def _record_api_call(response: Response) -> Response:
    if "failure_after_effect" in g:
        response = _answer(g.failure_after_effect)
    if "received_at" in g:
        current_recorder().record(
            {
                "method": request.method,
                "path": request.path,
                "query": request.args.to_dict(),
                "body": request_body(),
                "received_at": g.received_at,
                "status": response.status_code,
            }
        )
    return response


def label_service(response: Response) -> Response:
    """Every answer names the service, so a check can tell ours from another server on the port."""
    response.headers["X-Service"] = current_app.config["SERVICE"]
    return response


def create_standin_app(
    name: str,
    api: Blueprint,
    default_failure_body: Callable[[int], Any],
    summarize: Callable[[dict[str, Any]], tuple[str, str]],
) -> Flask:
    """A Flask app serving the stand-in's API, the control API, and an HTML page at /."""
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # DefaultJSONProvider's setting
    app.config["DEFAULT_FAILURE_BODY"] = default_failure_body
    app.jinja_env.filters["utc"] = lambda ts: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))
    app.extensions["recorder"] = Recorder()
    app.before_request(_start_api_call)
    app.after_request(_record_api_call)
    app.config["SERVICE"] = f"ticketrouter-{name.lower()}"
    app.after_request(label_service)
    app.register_blueprint(control)
    app.register_blueprint(api)

    @app.get("/")
    def page() -> str:
        entries = [(entry, *summarize(entry)) for entry in reversed(current_recorder().requests())]
        return render_template("requests.html", name=name, entries=entries)

    return app
