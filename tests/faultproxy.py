"""A real HTTP proxy on a free loopback port that injects faults at a known point.

Put it between a service and its upstream (the AWS emulator): every request is forwarded
unchanged, except those matching the one rule in force, which are

- ``hold``: reported as arrived (``held()``), then kept until ``release(apply)``: forwarded
  (the effect happens) or answered 503 without forwarding;
- ``fail_after``: forwarded (the effect happens), then answered with ``status`` instead;
- ``drop_answer``: forwarded (the effect happens), then the connection is closed unanswered;
- ``fail``: answered with ``status`` without forwarding (the upstream is down).

A rule matches a method ("" for any) and a path prefix, and an optional substring of the body (to pick
one SQS action out of the form-encoded or JSON requests).
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOLD_MAX_SECONDS = 120.0
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


@dataclass
class Rule:
    mode: str  # "hold", "fail_after", "drop_answer", "fail"
    method: str
    path_prefix: str
    body_contains: bytes = b""
    status: int = 500
    remaining: int | None = None  # None: until cleared

    def matches(self, method: str, path: str, body: bytes) -> bool:
        return (
            self.method in ("", method) and path.startswith(self.path_prefix) and self.body_contains in body
        )


@dataclass
class Held:
    method: str
    path: str
    released: threading.Event = field(default_factory=threading.Event)
    apply: bool = True


class FaultProxy:
    """The proxy's state and controls; ``running_proxy`` serves it."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname or "127.0.0.1", parts.port or 80
        self._lock = threading.Lock()
        self._rule: Rule | None = None
        self._held: list[Held] = []
        self.matched: list[tuple[str, str]] = []  # (method, path) of every request a rule caught
        self.seen: list[tuple[str, str]] = []  # (method, path) of every request
        self.url = ""

    def set_rule(self, rule: Rule | None) -> None:
        with self._lock:
            self._rule = rule

    def take_rule(self, method: str, path: str, body: bytes) -> Rule | None:
        """The rule this request falls under, if any (counted down); every request is noted."""
        with self._lock:
            self.seen.append((method, path))
            rule = self._rule
            if rule is None or not rule.matches(method, path, body):
                return None
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._rule = None
            self.matched.append((method, path))
            return rule

    def hold(self, method: str, path: str) -> Held:
        held = Held(method, path)
        with self._lock:
            self._held.append(held)
        return held

    def held(self) -> list[Held]:
        with self._lock:
            return [h for h in self._held if not h.released.is_set()]

    def release(self, apply: bool = True) -> int:
        """Let every held request go on (forwarded when apply, else answered 503)."""
        with self._lock:
            waiting, self._held = [h for h in self._held if not h.released.is_set()], []
            self._rule = None
        for held in waiting:
            held.apply = apply
            held.released.set()
        return len(waiting)

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list, bytes]:
        connection = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 — the stdlib's name
            """Quiet: the services under test log what matters."""

        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            rule = proxy.take_rule(self.command, self.path, body)
            if rule is not None and rule.mode == "hold":
                held = proxy.hold(self.command, self.path)
                held.released.wait(HOLD_MAX_SECONDS)
                if not held.apply:
                    return self._answer(503, [("Content-Type", "text/plain")], b"dropped by the fault proxy")
            if rule is not None and rule.mode == "fail":
                return self._answer(rule.status, [("Content-Type", "text/plain")], b"injected failure")
            status, response_headers, payload = proxy.forward(self.command, self.path, headers, body)
            if rule is not None and rule.mode == "drop_answer":
                self.close_connection = True
                return
            if rule is not None and rule.mode == "fail_after":
                return self._answer(rule.status, [("Content-Type", "text/plain")], b"injected failure")
            self._answer(status, response_headers, payload)

        def _answer(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP | {"content-length"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

    return Handler


@contextmanager
def running_proxy(upstream: str) -> Iterator[FaultProxy]:
    """A FaultProxy in front of upstream, served on 127.0.0.1:<free port> until the block ends."""
    proxy = FaultProxy(upstream)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    server.daemon_threads = True
    proxy.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.release(apply=False)
        server.shutdown()
        server.server_close()
        thread.join()
