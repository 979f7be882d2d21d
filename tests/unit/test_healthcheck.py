"""The images' health check against a real local HTTP server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ticketrouter.healthcheck import answers_ok, main


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads the outcome, not the access log."""


@pytest.fixture
def port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_healthy_only_on_a_200(port: int):
    assert answers_ok(port, "/healthz")
    assert not answers_ok(port, "/readyz")  # 503
    assert main([str(port), "/healthz"]) == 0
    assert main([str(port), "/other"]) == 1


def test_unhealthy_when_nothing_listens():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # bound, not listening: the connection is refused
        assert not answers_ok(closed, "/healthz", timeout=1)


def test_unhealthy_when_the_server_never_answers():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        assert not answers_ok(silent.getsockname()[1], "/healthz", timeout=0.2)
