"""What a stand-in remembers: the calls it answered, planned failures, slow-downs and held calls."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, request

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


def current_recorder() -> Recorder:
    """The app's recorder (one per stand-in app)."""
    recorder: Recorder = current_app.extensions["recorder"]
    return recorder
