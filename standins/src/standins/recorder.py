"""What every stand-in shares: a request log, planned failures, and the /_fake control API."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from flask import Blueprint, Flask, Response, current_app, g, jsonify, render_template, request
from flask.json.provider import DefaultJSONProvider
from flask.typing import ResponseReturnValue

CONTROL_PREFIX = "/_fake"


# A held call waits at most this long for a release, then goes ahead as if released.
HOLD_MAX_SECONDS = 120.0


@dataclass
class PlannedFailure:
    """Answer the next `remaining` API calls with this status (None = until cleared).

    With `apply`, the call takes effect first (a card is created, a message posted) and the
    failure is answered instead of the real answer: a 5xx after the effect.
    """

    status: int
    body: Any
    retry_after: int | None
    remaining: int | None
    apply: bool = False
    path: str | None = None  # only calls to this path (None: any call)


@dataclass
class RateLimit:
    """Answer 429 to a call when `limit` calls (to `path`, or any) were accepted in the last
    `window_seconds`, as Slack and Trello do; the refused call does not count."""

    limit: int
    window_seconds: float
    path: str | None = None
    accepted: deque[float] = field(default_factory=deque)

    def admit(self, path: str, now: float) -> int | None:
        """None if the call may go on (it is counted), else the Retry-After in whole seconds."""
        if self.path not in (None, path):
            return None
        while self.accepted and self.accepted[0] <= now - self.window_seconds:
            self.accepted.popleft()
        if len(self.accepted) >= self.limit:
            return max(1, math.ceil(self.accepted[0] + self.window_seconds - now))
        self.accepted.append(now)
        return None


@dataclass
class HeldCall:
    """An API call that arrived and waits for POST /_fake/release before it is processed."""

    method: str
    path: str
    received_at: float
    released: threading.Event = field(default_factory=threading.Event)
    apply: bool = True

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "received_at": self.received_at}


class Recorder:
    """Thread-safe log of received API requests and queue of planned failures."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._failure: PlannedFailure | None = None
        self.delay_seconds = 0.0
        self._hold_path: str | None = None
        self._hold_remaining = 0
        self._held: list[HeldCall] = []
        self._rate_limit: RateLimit | None = None

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._requests.append(entry)

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def plan_failure(self, failure: PlannedFailure | None) -> None:
        with self._lock:
            self._failure = failure

    def take_failure(self, path: str) -> PlannedFailure | None:
        """The failure to answer this call with, if one is planned for it (and count it down)."""
        with self._lock:
            failure = self._failure
            if failure is None or failure.path not in (None, path):
                return None
            if failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failure = None
            return failure

    def limit_rate(self, limit: RateLimit | None) -> None:
        with self._lock:
            self._rate_limit = limit

    def admit(self, path: str) -> int | None:
        """None if the rate limit (if any) lets this call through, else its Retry-After."""
        with self._lock:
            return None if self._rate_limit is None else self._rate_limit.admit(path, time.monotonic())

    def plan_hold(self, path: str | None, count: int = 0) -> None:
        """Hold the next `count` calls to `path` (None: hold nothing more)."""
        with self._lock:
            self._hold_path, self._hold_remaining = path, count

    def take_hold(self, method: str, path: str) -> HeldCall | None:
        """A HeldCall to wait on if this call must be held."""
        with self._lock:
            if self._hold_path != path or self._hold_remaining <= 0:
                return None
            self._hold_remaining -= 1
            call = HeldCall(method, path, time.time())
            self._held.append(call)
            return call

    def held(self) -> list[HeldCall]:
        with self._lock:
            return [call for call in self._held if not call.released.is_set()]

    def release(self, apply: bool) -> int:
        """Let every held call go on: processed (apply) or answered 503 unprocessed."""
        with self._lock:
            waiting = [call for call in self._held if not call.released.is_set()]
            self._held.clear()
        for call in waiting:
            call.apply = apply
            call.released.set()
        return len(waiting)


def request_body() -> Any:
    """The body parsed from JSON or form data (query parameters are recorded separately)."""
    if request.is_json:
        return request.get_json(silent=True)
    if request.form:
        return request.form.to_dict()
    return request.get_data(as_text=True) or None


def _recorder() -> Recorder:
    return cast(Recorder, current_app.extensions["recorder"])


control = Blueprint("control", __name__, url_prefix=CONTROL_PREFIX)


@control.get("/requests")
def list_requests() -> Response:
    return jsonify(_recorder().requests())


@control.get("/identity")
def identity() -> Response:
    """Who answers here: `make dev` checks it before it calls a stand-in ready."""
    return jsonify({"service": current_app.config["SERVICE"]})


@control.delete("/requests")
def clear_requests() -> tuple[str, int]:
    _recorder().clear()
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
    _recorder().plan_failure(failure)
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
    _recorder().plan_failure(None)
    return "", 204


@control.post("/slow")
def slow_down() -> tuple[Response, int]:
    """{"seconds": 0.5}: answer every API call that much later (0 = at once again)."""
    spec = request.get_json(silent=True)
    seconds = spec.get("seconds") if isinstance(spec, dict) else None
    if not isinstance(seconds, int | float) or not 0 <= seconds <= 60:
        return jsonify({"error": 'body must be {"seconds": 0..60}'}), 400
    _recorder().delay_seconds = float(seconds)
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
        or limit < 1
        or not isinstance(window, int | float)
        or not 0 < window <= 3600
        or not isinstance(spec.get("path"), str | None)
    ):
        hint = 'body must be {"limit": 1.., "window_seconds": 0..3600, "path": "/api/…" or null}'
        return jsonify({"error": hint}), 400
    _recorder().limit_rate(RateLimit(limit, float(window), spec.get("path")))
    return jsonify({"limit": limit, "window_seconds": window, "path": spec.get("path")}), 201


@control.delete("/rate_limit")
def clear_rate_limit() -> ResponseReturnValue:
    _recorder().limit_rate(None)
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
    _recorder().plan_hold(spec["path"], count)
    return jsonify({"path": spec["path"], "count": count}), 201


@control.get("/held")
def list_held() -> Response:
    """The calls being held right now (they arrived and wait for a release)."""
    return jsonify([call.describe() for call in _recorder().held()])


@control.post("/release")
def release_held() -> tuple[Response, int]:
    """{"apply": true}: process the held calls (false: answer 503 without processing them)."""
    spec = request.get_json(silent=True)
    apply = spec.get("apply", True) if isinstance(spec, dict) else True
    _recorder().plan_hold(None)
    return jsonify({"released": _recorder().release(bool(apply))}), 200


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
    if _recorder().delay_seconds:
        time.sleep(_recorder().delay_seconds)
    held = _recorder().take_hold(request.method, request.path)
    if held is not None:
        held.released.wait(HOLD_MAX_SECONDS)
        if not held.apply:
            return Response("dropped by the stand-in before processing", status=503)
    retry_after = _recorder().admit(request.path)
    if retry_after is not None:
        body = current_app.config["DEFAULT_FAILURE_BODY"](429)
        return _answer(PlannedFailure(429, body, retry_after, remaining=None))
    failure = _recorder().take_failure(request.path)
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
        _recorder().record(
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
    cast(DefaultJSONProvider, app.json).sort_keys = False  # the provider Flask installs by default
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
        entries = [(entry, *summarize(entry)) for entry in reversed(_recorder().requests())]
        return render_template("requests.html", name=name, entries=entries)

    return app
