"""The gunicorn worker class of ingest: JSON refusals, the body deadline, what the master imports."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import gevent
import pytest
from werkzeug.exceptions import RequestTimeout

from devstack import ROOT
from ingest_server.worker import DeadlineInput, json_error


def test_a_refusal_is_a_complete_json_answer_that_closes_the_connection():
    head, _, body = json_error(
        431, "Request Header Fields Too Large", "limit request headers fields"
    ).partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 431 Request Header Fields Too Large"
    assert {"Connection: close", "Content-Type: application/json", f"Content-Length: {len(body)}"} <= set(
        lines
    )
    assert json.loads(body) == {
        "error": "request_header_fields_too_large",
        "message": "limit request headers fields",
    }


def test_client_text_in_a_refusal_is_cut_short():
    body = json_error(400, "Bad Request", "Invalid HTTP header name: '" + "x" * 5000 + "'").partition(
        b"\r\n\r\n"
    )[2]
    assert len(json.loads(body)["message"]) == 200


class StalledStream:
    """A request body whose next byte never comes (the read waits on gevent's hub)."""

    def read(self, size=None):
        gevent.sleep(60)
        return b""


def test_a_body_past_its_deadline_raises_408():
    stream = DeadlineInput(StalledStream(), deadline=time.monotonic() + 0.1)
    with pytest.raises(RequestTimeout):
        stream.read(100)


def test_a_body_within_its_deadline_is_read_through():
    class Ready:
        def read(self, size=None):
            return b"{}"

    assert DeadlineInput(Ready(), deadline=time.monotonic() + 60).read() == b"{}"


def test_gunicorns_master_never_imports_boto3_before_gevent_patches():
    """The master loads the config and the worker class, then forks; boto3 must come after the patch."""
    script = f"""
import sys
from gunicorn.config import Config
from gunicorn.app.base import Application
cfg = Application.get_config_from_filename(None, {str(ROOT / "ingest/gunicorn.conf.py")!r})
config = Config()
config.set("worker_class", cfg["worker_class"])
config.worker_class
import ticketrouter.logs  # the master's log formatter
print(",".join(m for m in ("boto3", "botocore", "urllib3", "requests", "ingest") if m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
