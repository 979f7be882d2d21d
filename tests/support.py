"""Helpers the tests share: in-thread servers on port 0, free ports, and polling with a deadline."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

from flask import Flask
from werkzeug.serving import make_server

from devstack import free_port, wait_until  # noqa: F401 — the shared helpers, re-exported for tests


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
