"""Helpers the tests share: in-thread servers on port 0, free ports, and polling with a deadline."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

from flask import Flask
from werkzeug.serving import make_server

from probes import free_port  # noqa: F401 — the shared helpers, re-exported for tests
from supervise import wait_until  # noqa: F401


@contextlib.contextmanager
def dead_endpoint() -> Iterator[str]:
    """A URL whose port is bound but not listening: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextlib.contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serve a WSGI app on 127.0.0.1:<free port> in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class FakeClock:
    """A monotonic clock that moves only when told to or when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class SlowClients:
    """Hold `count` connections that send a request line, then one header byte every `interval` s.

    The slowloris attack, bounded: one thread, loopback only, every socket closed by `stop()` (or
    at `max_seconds` at the latest). A connection the server closes is opened again, so `count`
    stay open; `reopened` says how often the server cut one off.
    """

    def __init__(self, port: int, count: int, interval: float = 2.0, max_seconds: float = 60.0) -> None:
        self.port, self.count, self.interval, self.max_seconds = port, count, interval, max_seconds
        self.sockets: list[socket.socket] = []
        self.reopened = 0
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)

    def _open(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.sendall(b"POST /tickets HTTP/1.1\r\nHost: ingest\r\nX-Slow: ")
        sock.setblocking(False)
        return sock

    def _still_open(self, sock: socket.socket) -> bool:
        """Send the next byte; False when the server has closed (or answered and closed)."""
        try:
            sock.recv(4096)  # returns only with an answer or b"" (closed): either ends it
            return False
        except BlockingIOError:
            pass
        except OSError:
            return False
        try:
            sock.send(b"a")
        except OSError:
            return False
        return True

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            kept = []
            for sock in self.sockets:
                if self._still_open(sock):
                    kept.append(sock)
                else:
                    sock.close()
                    self.reopened += 1
            self.sockets = kept
            try:
                while len(self.sockets) < self.count:
                    self.sockets.append(self._open())
            except OSError:
                self.refused += 1  # the listen backlog is full: try again next round
            self._stop.wait(self.interval)
        self._close_all()

    def _close_all(self) -> None:
        for sock in self.sockets:
            sock.close()
        self.sockets = []

    def start(self) -> SlowClients:
        """Open every connection, then keep them dribbling in the background."""
        self.sockets = [self._open() for _ in range(self.count)]
        self._thread.start()
        return self

    def open_count(self) -> int:
        return len(self.sockets)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 10)

    def __enter__(self) -> SlowClients:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
