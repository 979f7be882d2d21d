"""What the public ingest port does with hostile clients: real gunicorn, raw sockets, loopback only."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from stack import Stack
from tests.support import SlowClients
from tests.system.conftest import free_ports, stack_env

HEADER_TIMEOUT_SECONDS = 2
BODY_TIMEOUT_SECONDS = 2


@pytest.fixture(scope="module")
def ingest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """moto, the stand-ins and gunicorn ingest (no workers: nothing here is delivered)."""
    env = {
        **stack_env(),
        "INGEST_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT_SECONDS),
        "INGEST_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT_SECONDS),
    }
    log_dir: Path = tmp_path_factory.mktemp("public-port") / "logs"
    with Stack(log_dir=log_dir, ports=free_ports(), env=env, workers=()) as stack:
        yield stack


def submit(stack: Stack) -> requests.Response:
    return requests.post(
        f"{stack.ingest_url}/tickets",
        json={"title": "while under attack", "priority": "low", "description": "d"},
        headers={"Authorization": f"Bearer {stack.token}"},
        timeout=5,  # generous: an answer, not a speed target (that is bench/slow_clients.py)
    )


def raw_exchange(stack: Stack, data: bytes, timeout: float = 10) -> bytes:
    """Send raw bytes, read until the server closes; the whole answer."""
    with socket.create_connection(("127.0.0.1", stack.ports.ingest), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def parse_answer(answer: bytes) -> tuple[int, dict[str, str], dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, json.loads(body)


def test_normal_requests_are_answered_while_slow_clients_hold_connections(ingest: Stack):
    slow_count = 60  # far more than the 2 × 4 threads ingest used to have
    with SlowClients(ingest.ports.ingest, count=slow_count, interval=1.0, max_seconds=60) as slow:
        statuses = [submit(ingest).status_code for _ in range(20)]
        assert slow.open_count() == slow_count
    assert statuses == [202] * 20


@pytest.mark.parametrize(
    ("request_bytes", "status", "error"),
    [
        pytest.param(b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n", 414, "uri_too_long", id="long-line"),
        pytest.param(
            b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 150 + b"\r\n", 431, "request_header_fields_too_large",
            id="too-many-headers",
        ),
        pytest.param(
            b"GET / HTTP/1.1\r\nX-A: " + b"b" * 9000 + b"\r\n\r\n", 431, "request_header_fields_too_large",
            id="header-too-large",
        ),
        pytest.param(b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400, "bad_request", id="invalid-header-name"),
        pytest.param(b"GARBAGE\r\n\r\n", 400, "bad_request", id="bad-request-line"),
        pytest.param(b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400, "bad_request", id="bad-http-version"),
        pytest.param(b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request", id="bad-method"),
    ],
)  # fmt: skip
def test_gunicorns_own_refusals_are_json(ingest: Stack, request_bytes: bytes, status: int, error: str):
    code, headers, body = parse_answer(raw_exchange(ingest, request_bytes))
    assert code == status
    assert headers["content-type"] == "application/json"
    assert body["error"] == error and body["message"]


def test_a_request_head_that_never_ends_is_cut_off(ingest: Stack):
    started = time.monotonic()
    answer = raw_exchange(ingest, b"POST /tickets HTTP/1.1\r\nHost: x\r\nX-Slow: a", timeout=30)
    assert answer == b""  # closed without an answer: no request to answer yet
    assert time.monotonic() - started < HEADER_TIMEOUT_SECONDS + 10


def test_a_body_that_never_ends_gets_a_json_408(ingest: Stack):
    head = (
        "POST /tickets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {ingest.token}\r\nContent-Length: 1000\r\n\r\n"
    )
    code, _, body = parse_answer(raw_exchange(ingest, head.encode() + b'{"title": ', timeout=30))
    assert code == 408
    assert body["error"] == "request_timeout"


def test_metrics_are_not_on_the_public_port(ingest: Stack):
    response = requests.get(f"{ingest.ingest_url}/metrics", timeout=5)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_ingest_still_serves_after_the_attacks(ingest: Stack):
    assert submit(ingest).status_code == 202
