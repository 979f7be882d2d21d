"""The gunicorn worker ingest runs in: gevent, read deadlines, and JSON for gunicorn's own refusals.

Each connection is a greenlet, so a client that dribbles its request holds a few kilobytes of
memory rather than one of a handful of threads. Two deadlines bound how long it may take:

- the request line and headers must arrive within gunicorn's ``keepalive`` seconds (gunicorn's
  async workers read every request head under that timeout, the first one included), else the
  connection is closed without an answer;
- the body must arrive within ``INGEST_BODY_TIMEOUT_SECONDS`` of the request reaching the app,
  else 408 ``request_timeout``.

gunicorn answers malformed requests itself (before the app sees them) with an HTML page;
``JsonGeventWorker`` swaps in a writer that sends the same status as ``{"error", "message"}`` JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, Protocol, TypeVar

import gevent
from gunicorn import util
from gunicorn.workers.ggevent import GeventWorker
from werkzeug.exceptions import RequestTimeout

# gunicorn puts the client's text into some messages (a header name, the request line).
MESSAGE_MAX_CHARS = 200
DEFAULT_BODY_TIMEOUT_SECONDS = 10.0
_Read = TypeVar("_Read")
# A WSGI app as gunicorn's stubs describe it; start_response stays loose because they and
# wsgiref.types disagree on its signature (exc_info, what it returns).
WsgiApp = Callable[[MutableMapping[str, Any], Callable[..., Any]], Iterable[bytes]]


class BodyStream(Protocol):
    """What the server's wsgi.input offers (gunicorn's Body)."""

    def read(self, size: int | None = None, /) -> bytes: ...
    def readline(self, size: int | None = None, /) -> bytes: ...
    def readlines(self, size: int | None = None, /) -> list[bytes]: ...


class DeadlineInput:
    """wsgi.input that raises 408 once the body has taken longer than its deadline."""

    def __init__(self, stream: BodyStream, deadline: float) -> None:
        self._stream = stream
        self._deadline = deadline

    def _within_deadline(self, read: Callable[..., _Read], *args: Any) -> _Read:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise RequestTimeout("the request body did not arrive in time")
        try:
            with gevent.Timeout(remaining):
                return read(*args)
        except gevent.Timeout:
            raise RequestTimeout("the request body did not arrive in time") from None

    def read(self, size: int | None = None) -> bytes:
        return self._within_deadline(self._stream.read, size)

    def readline(self, size: int | None = None) -> bytes:
        return self._within_deadline(self._stream.readline, size)

    def readlines(self, size: int | None = None) -> list[bytes]:
        return self._within_deadline(self._stream.readlines, size)

    def __iter__(self) -> Iterable[bytes]:
        while line := self.readline():
            yield line


class BodyDeadline:
    """WSGI middleware: the whole body must be read within `seconds` of the request reaching the app."""

    def __init__(self, app: WsgiApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    def __call__(
        self, environ: MutableMapping[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        environ["wsgi.input"] = DeadlineInput(environ["wsgi.input"], time.monotonic() + self.seconds)
        return self.app(environ, start_response)


def json_error(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP/1.1 error answer with a JSON body; the connection closes after it."""
    code = reason.lower().replace(" ", "_") or "error"
    body = json.dumps({"error": code, "message": message[:MESSAGE_MAX_CHARS]}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class JsonGeventWorker(GeventWorker):
    """gunicorn's gevent worker with a body deadline and JSON instead of HTML refusals."""

    def load_wsgi(self) -> None:
        super().load_wsgi()
        # Imported here, in the worker: the master must not import boto3 before the fork.
        from ingest.services import services_of

        # The ingest app's settings; the benchmark's bare apps have none and get the default.
        built = services_of(self.wsgi)
        seconds = built.settings.ingest_body_timeout_seconds if built else DEFAULT_BODY_TIMEOUT_SECONDS
        self.wsgi = BodyDeadline(self.wsgi, seconds)

    def init_process(self) -> None:
        # gunicorn has no hook for its error page: Worker.handle_error (which maps each parse
        # error to its status and logs it) calls util.write_error, used nowhere else. This process
        # is ours alone, so its writer is replaced once, here, rather than the mapping copied.
        util.write_error = write_json_error
        super().init_process()


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's util.write_error, answering JSON instead of HTML."""
    util.write_nonblock(sock, json_error(status_int, reason, mesg or reason))
