"""make trello-discover against the real Trello stand-in: boards, lists, labels, and the .env lines."""

from __future__ import annotations

import subprocess
import sys

import pytest

from devstack import ROOT
from standins import trello
from tests.support import serve


@pytest.fixture
def trello_url():
    with serve(trello.create_app()) as url:
        yield url


def discover(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/trello_discover.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_lists_lists_and_labels_and_suggests_the_env_lines(trello_url, tmp_path):
    env = {"ENV_FILE": str(tmp_path / ".env"), "TRELLO_API_URL": trello_url, "PATH": "/usr/bin"}
    (tmp_path / ".env").write_text(
        "TRELLO_KEY=key-5f1e\nTRELLO_TOKEN=token-9a7c\n"
    )  # read from .env, as every target does
    result = discover(env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"target: Trello at {trello_url}"
    assert "    dev-list  Tickets (stand-in)" in lines
    assert "    dev-label-medium  Medium  [orange]" in lines
    assert {"    TRELLO_LIST_ID=dev-list", "    TRELLO_LABEL_HIGH=dev-label-high"} <= set(lines)
    assert (
        "key-5f1e" not in result.stdout + result.stderr and "token-9a7c" not in result.stdout + result.stderr
    )


def test_without_credentials_it_says_which_to_set(tmp_path):
    result = discover({"ENV_FILE": str(tmp_path / ".env"), "PATH": "/usr/bin"})
    assert result.returncode == 2 and "TRELLO_KEY and TRELLO_TOKEN" in result.stderr
