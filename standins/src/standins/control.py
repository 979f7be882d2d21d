"""The /_fake control API every stand-in serves: read and clear its request log, plan failures,
slow it down, hold calls and release them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from standins.recorder import CONTROL_PREFIX, PlannedFailure, RateLimit, current_recorder

control = Blueprint("control", __name__, url_prefix=CONTROL_PREFIX)


@control.get("/requests")
def list_requests() -> Response:
    return jsonify(current_recorder().requests())


@control.get("/identity")
def identity() -> Response:
    """Who answers here: `make dev` checks it before it calls a stand-in ready."""
    return jsonify({"service": current_app.config["SERVICE"]})


@control.delete("/requests")
def clear_requests() -> tuple[str, int]:
    current_recorder().clear()
    return "", 204


@control.post("/fail")
def plan_failure() -> tuple[Response, int]:
    """{"status": 429, "count": 2, "retry_after": 1, "body": ...}; count null = until DELETE."""
    spec = request.get_json(silent=True)
    if not isinstance(spec, dict) or not isinstance(spec.get("status"), int):
        return jsonify({"error": "body must be a JSON object with an integer 'status'"}), 400
    failure = PlannedFailure(
        status=spec["status"],
        body=spec.get("body", current_app.config["DEFAULT_FAILURE_BODY"](spec["status"])),
        retry_after=spec.get("retry_after"),
        remaining=spec.get("count", 1),
        apply=bool(spec.get("apply", False)),
        path=spec.get("path"),
    )
    current_recorder().plan_failure(failure)
    return jsonify({"planned": failure.__dict__}), 201


@control.post("/scopes")
def grant_scopes() -> tuple[Response, int]:
    """{"scopes": ["chat:write"]}: the OAuth scopes the stand-in's token has from now on."""
    spec = request.get_json(silent=True)
    scopes = spec.get("scopes") if isinstance(spec, dict) else None
    if not isinstance(scopes, list) or not all(isinstance(scope, str) for scope in scopes):
        return jsonify({"error": 'body must be {"scopes": ["chat:write", …]}'}), 400
    current_app.extensions["slack_scopes"] = set(scopes)
    return jsonify({"scopes": sorted(scopes)}), 200


@control.delete("/fail")
def clear_failure() -> tuple[str, int]:
    current_recorder().plan_failure(None)
    return "", 204


@control.post("/slow")
def slow_down() -> tuple[Response, int]:
    """{"seconds": 0.5}: answer every API call that much later (0 = at once again)."""
    spec = request.get_json(silent=True)
    seconds = spec.get("seconds") if isinstance(spec, dict) else None
    if not isinstance(seconds, int | float) or not 0 <= seconds <= 60:
        return jsonify({"error": 'body must be {"seconds": 0..60}'}), 400
    current_recorder().delay_seconds = float(seconds)
    return jsonify({"seconds": seconds}), 200


@control.post("/rate_limit")
def limit_rate() -> ResponseReturnValue:
    """{"limit": 100, "window_seconds": 10, "path": null}: 429 (with Retry-After) beyond that rate."""
    body = request.get_json(silent=True)
    spec: dict[str, Any] = body if isinstance(body, dict) else {}
    limit = spec.get("limit")
    window = spec.get("window_seconds")
    if (
        not isinstance(limit, int)
        or isinstance(limit, bool)  # JSON true is not a count (bool is an int in Python)
        or limit < 1
        or not isinstance(window, int | float)
        or isinstance(window, bool)
        or not 0 < window <= 3600
        or not isinstance(spec.get("path"), str | None)
    ):
        hint = 'body must be {"limit": 1.., "window_seconds": 0..3600, "path": "/api/…" or null}'
        return jsonify({"error": hint}), 400
    current_recorder().limit_rate(RateLimit(limit, float(window), spec.get("path")))
    return jsonify({"limit": limit, "window_seconds": window, "path": spec.get("path")}), 201


@control.delete("/rate_limit")
def clear_rate_limit() -> ResponseReturnValue:
    current_recorder().limit_rate(None)
    return "", 204


@control.post("/hold")
def plan_hold() -> tuple[Response, int]:
    """{"path": "/api/chat.postMessage", "count": 1}: hold the next matching calls until released."""
    spec = request.get_json(silent=True)
    if not isinstance(spec, dict) or not isinstance(spec.get("path"), str):
        return jsonify({"error": 'body must be {"path": "/api/…", "count": 1}'}), 400
    count = spec.get("count", 1)
    if not isinstance(count, int) or count < 1:
        return jsonify({"error": "count must be a positive integer"}), 400
    current_recorder().plan_hold(spec["path"], count)
    return jsonify({"path": spec["path"], "count": count}), 201


@control.get("/held")
def list_held() -> Response:
    """The calls being held right now (they arrived and wait for a release)."""
    return jsonify([call.describe() for call in current_recorder().held()])


@control.post("/release")
def release_held() -> tuple[Response, int]:
    """{"apply": true}: process the held calls (false: answer 503 without processing them)."""
    spec = request.get_json(silent=True)
    apply = spec.get("apply", True) if isinstance(spec, dict) else True
    current_recorder().plan_hold(None)
    return jsonify({"released": current_recorder().release(bool(apply))}), 200
