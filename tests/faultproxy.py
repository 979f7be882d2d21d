"""A fault proxy for HTTP on loopback: put it between a service and the AWS emulator.

Modes (switched at any time from the test); only requests that match the proxy's matcher are
faulted, the others always pass:
- PASS: every request and answer goes through.
- HOLD_REQUESTS: a request that matches waits *before* it is forwarded (``holding`` counts
  them) until the mode changes: to PASS it is then forwarded (its effect is applied late).
- HOLD_ANSWERS: a request that matches is forwarded and answered by the emulator (so its effect
  is applied), but the answer is never sent: the connection stays silent until the mode changes
  or the proxy stops. The client sees a read timeout. Other requests pass.
- CLOSE_ANSWERS: as HOLD_ANSWERS, but the connection is closed instead of the answer.
- REFUSE: new connections are refused (nothing listens on the port); open ones are closed.
- FAIL: a request that matches is answered 503 without being forwarded (the upstream is down
  for it).

``seen`` lists the request line (method, path) of every request, faulted or not, so a test
can count the calls that reached the upstream; ``calls`` counts them by operation (the SQS
action, or ``S3 <method>``); ``answered`` lists (method, path, status) of every request the
upstream answered (whether or not the client got the answer), so a test can tell a write
that took effect from one refused (e.g. a create-only S3 PUT answered 412).

Latency, independent of the mode: ``set_latency(0.02)`` delays every request (matched or not)
by that many seconds before it is forwarded, as a real AWS endpoint's round trip would; the
benchmark uses it to show what concurrency buys where calls are slow.

One HTTP/1.1 request at a time per connection (botocore never pipelines); bodies by
Content-Length or chunked; ``Expect: 100-continue`` is answered by the proxy itself.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from enum import Enum

Matcher = Callable[[bytes, bytes], bool]  # (request head, body) -> is this the request to fault?
_MAX_HEAD = 64 * 1024


class Mode(Enum):
    PASS = "pass"
    HOLD_REQUESTS = "hold_requests"
    HOLD_ANSWERS = "hold_answers"
    CLOSE_ANSWERS = "close_answers"
    REFUSE = "refuse"
    FAIL = "fail"


def sqs_action(action: str) -> Matcher:
    """Match an SQS call by action, in the JSON protocol (X-Amz-Target) or the query one."""
    target = f"x-amz-target: amazonsqs.{action.lower()}\r\n".encode()
    form = f"Action={action}".encode()

    def matches(head: bytes, body: bytes) -> bool:
        return target in head.lower() or any(part == form for part in body.split(b"&"))

    return matches


SEND_MESSAGE = sqs_action("SendMessage")


def operation(head: bytes) -> str:
    """The SQS action of a request (JSON protocol) or, for anything else, "S3 <method>"."""
    target = _headers(head).get("x-amz-target", "")
    if target.lower().startswith("amazonsqs."):
        return target.split(".", 1)[1]
    return f"S3 {head.partition(b' ')[0].decode('latin-1')}"


def request_to(method: str, path_prefix: str) -> Matcher:
    """Match requests by method ("" for any) and path prefix (S3 paths: /<bucket>/<key>)."""
    wanted = path_prefix.encode()

    def matches(head: bytes, body: bytes) -> bool:
        verb, _, rest = head.partition(b" ")
        return method.encode() in (b"", verb) and rest.startswith(wanted)

    return matches


_FAILED = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n\r\n"
    b"injected failure"
)


class _Closed(Exception):
    """A peer closed its side mid-message."""


class _Reader:
    """Buffered reads of HTTP messages from a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise _Closed
        self.buffer += chunk

    def until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            if len(self.buffer) > _MAX_HEAD:
                raise _Closed
            self._fill()
        end = self.buffer.index(marker) + len(marker)
        data, self.buffer = self.buffer[:end], self.buffer[end:]
        return data

    def exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def to_end(self) -> bytes:
        with contextlib.suppress(_Closed):
            while True:
                self._fill()
        data, self.buffer = self.buffer, b""
        return data

    def body(self, head: bytes, until_close: bool) -> bytes:
        """The message body that follows head (raw, as it travels)."""
        headers = _headers(head)
        if "chunked" in headers.get("transfer-encoding", ""):
            raw = b""
            while True:
                size_line = self.until(b"\r\n")
                raw += size_line
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while (line := self.until(b"\r\n")) != b"\r\n":  # trailers
                        raw += line
                    return raw + b"\r\n"
                raw += self.exactly(size + 2)
        if "content-length" in headers:
            return self.exactly(int(headers["content-length"]))
        return self.to_end() if until_close else b""


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {
        name.strip().lower(): value.strip()
        for name, sep, value in (line.partition(":") for line in lines)
        if sep
    }


def _without_expect(head: bytes) -> bytes:
    lines = head.split(b"\r\n")
    return b"\r\n".join(line for line in lines if not line.lower().startswith(b"expect:"))


class FaultProxy:
    """A proxy on 127.0.0.1:<free port> in front of upstream_port, in threads of this process."""

    def __init__(self, upstream_port: int, matcher: Matcher = SEND_MESSAGE) -> None:
        self.upstream_port = upstream_port
        self.matcher = matcher
        self.mode = Mode.PASS
        self.faulted = 0  # requests forwarded whose answer the client never got
        self.holding = 0  # requests waiting to be forwarded (HOLD_REQUESTS)
        self.seen: list[tuple[str, str]] = []  # (method, path) of every request
        self.calls: Counter[str] = Counter()  # requests by operation()
        self.answered: list[tuple[str, str, int]] = []  # (method, path, status) answered upstream
        self.latency = 0.0  # seconds added before forwarding each request
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stopped = False
        self._connections: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- controls ---------------------------------------------------------------------

    def set_mode(self, mode: Mode) -> None:
        """Switch mode; held answers are released (their connections closed) on any change."""
        with self._changed:
            previous, self.mode = self.mode, mode
            self._changed.notify_all()
        if mode is Mode.REFUSE and previous is not Mode.REFUSE:
            self._stop_listening(keep_port=True)
        elif previous is Mode.REFUSE and mode is not Mode.REFUSE:
            self._start_listening()

    def set_latency(self, seconds: float) -> None:
        """Delay every request by seconds before forwarding it (0: no delay)."""
        with self._lock:
            self.latency = seconds

    def start(self) -> FaultProxy:
        self._start_listening()
        return self

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()
        self._stop_listening(keep_port=False)
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=10)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- listening --------------------------------------------------------------------

    def _start_listening(self) -> None:
        self._listener.listen(64)
        thread = threading.Thread(target=self._accept, args=(self._listener,), daemon=True)
        self._threads.append(thread)
        thread.start()

    def _stop_listening(self, keep_port: bool) -> None:
        """Stop accepting and close open connections; keep_port leaves the port bound but
        not listening, so that connections to it are refused rather than taken by another."""
        listener = self._listener
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
        listener.close()
        if keep_port:
            placeholder = socket.socket()
            placeholder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            placeholder.bind(("127.0.0.1", self.port))
            self._listener = placeholder
        with self._lock:
            open_connections = list(self._connections)
        for connection in open_connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            with self._lock:
                self._connections.add(client)
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    # --- one client connection --------------------------------------------------------

    def _serve(self, client: socket.socket) -> None:
        try:
            with client, socket.create_connection(("127.0.0.1", self.upstream_port), timeout=60) as upstream:
                from_client, from_upstream = _Reader(client), _Reader(upstream)
                while self._relay_one(client, from_client, upstream, from_upstream):
                    pass
        except (_Closed, OSError):
            pass  # either side went away: so does this connection
        finally:
            with self._lock:
                self._connections.discard(client)

    def _relay_one(self, client: socket.socket, from_client: _Reader, upstream: socket.socket,
                   from_upstream: _Reader) -> bool:  # fmt: skip
        """Relay one request and its answer (or fault it); False when the connection ends."""
        head = from_client.until(b"\r\n\r\n")
        if b"100-continue" in _headers(head).get("expect", "").encode():
            client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            head = _without_expect(head[:-4]) + b"\r\n\r\n"
        body = from_client.body(head, until_close=False)
        method, path = head.decode("latin-1").split(" ", 2)[:2]
        with self._changed:
            self.seen.append((method, path))
            self.calls[operation(head)] += 1
            latency = self.latency
            matched = self.matcher(head, body)
            if matched and self.mode is Mode.FAIL:
                client.sendall(_FAILED)
                return True
            if matched and self.mode is Mode.HOLD_REQUESTS:
                self.holding += 1
                self._changed.wait_for(lambda: self._stopped or self.mode is not Mode.HOLD_REQUESTS)
                self.holding -= 1
        if latency:
            time.sleep(latency)
        upstream.sendall(head + body)
        answer_head = from_upstream.until(b"\r\n\r\n")
        with self._lock:
            self.answered.append((method, path, int(answer_head.split(b" ", 2)[1])))
        no_body = head.startswith(b"HEAD ") or answer_head.split(b" ", 2)[1] in (b"204", b"304")
        answer = answer_head + (b"" if no_body else from_upstream.body(answer_head, until_close=True))
        with self._lock:
            mode = self.mode
        if mode in (Mode.HOLD_ANSWERS, Mode.CLOSE_ANSWERS) and self.matcher(head, body):
            with self._changed:
                self.faulted += 1
                if mode is Mode.HOLD_ANSWERS:
                    self._changed.wait_for(lambda: self._stopped or self.mode is not Mode.HOLD_ANSWERS)
            return False  # never answered: the connection closes
        if mode is Mode.REFUSE:
            return False
        client.sendall(answer)
        return b"connection: close" not in answer_head.lower()
