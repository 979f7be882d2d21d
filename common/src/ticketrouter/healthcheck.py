"""The images' health check: exit 0 when `GET http://127.0.0.1:PORT/PATH` answers 200, else 1.

`python -S -m ticketrouter.healthcheck PORT PATH`. A raw socket and no `site` import, because it
runs in every container every few seconds: it costs a fraction of the CPU and memory that
importing urllib.request would (bench/RESULTS.md, "Footprint").
"""

from __future__ import annotations

import socket
import sys


def answers_ok(port: int, path: str, timeout: float = 2.0) -> bool:
    """Whether the local server answers path with status 200 within timeout."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
            connection.sendall(request)
            status_line = connection.makefile("rb").readline()
    except OSError:
        return False
    return status_line.split(b" ", 2)[1:2] == [b"200"]


def main(argv: list[str]) -> int:
    port, path = argv
    return 0 if answers_ok(int(port), path) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
