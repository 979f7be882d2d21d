"""Questions asked of a local port: is it free, who holds it, and is it the server we started?"""

from __future__ import annotations

import http.client
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping


class PortTaken(RuntimeError):
    """A port the stack needs is in use; the message names it and what answers there."""


def free_port() -> int:
    """A port nothing listens on right now, for servers that cannot be handed a socket."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def listener_on(port: int) -> str | None:
    """What listens on 127.0.0.1:port, in a few words; None when nothing does."""
    try:
        connection = socket.create_connection(("127.0.0.1", port), timeout=1)
    except OSError:
        return None
    connection.close()
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        client.request("GET", "/")
        response = client.getresponse()
        server = response.getheader("Server") or response.getheader("X-Service") or "no Server header"
        return f"an HTTP server answering {response.status} ({server})"
    except (OSError, http.client.HTTPException):
        return "a server that does not speak HTTP"
    finally:
        client.close()


def check_ports_free(wanted: Mapping[str, int], hint: str) -> None:
    """PortTaken naming every wanted port that something already listens on, then the hint."""
    taken = [
        f"port {port} ({what}) is in use by {holder}"
        for what, port in wanted.items()
        if (holder := listener_on(port)) is not None
    ]
    if taken:
        raise PortTaken("; ".join(taken) + ". " + hint)


def http_ok(url: str) -> bool:
    """True when url answers 2xx right now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            status: int = response.status
            return 200 <= status < 300
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def http_identifies(url: str, header: str, value: str) -> bool:
    """True when url answers 2xx with header: value, i.e. it is the server we started."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            status: int = response.status
            return 200 <= status < 300 and response.headers.get(header) == value
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def http_answers(url: str) -> bool:
    """True when anything answers HTTP at url (any status)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
