"""Which stack the ops commands talk to: never real AWS unless asked, .env read as Compose reads it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devstack import ROOT
from ticketrouter.target import NoTarget, Target, resolve, with_dotenv


@pytest.fixture
def place(tmp_path: Path) -> dict[str, str]:
    """A shell environment whose .env and make dev state live in tmp_path (neither exists yet)."""
    return {"ENV_FILE": str(tmp_path / ".env"), "DEV_STATE_DIR": str(tmp_path / ".dev"), "PATH": "/usr/bin"}


def write_state(shell: dict[str, str], pid: int, endpoint: str = "http://127.0.0.1:4999") -> None:
    state = Path(shell["DEV_STATE_DIR"])
    state.mkdir(parents=True, exist_ok=True)
    (state / "env").write_text(
        f"DEVSTACK_PID={pid}\nAWS_ENDPOINT_URL={endpoint}\nINGEST_API_TOKEN=dev-token\n"
    )


def test_nothing_running_and_no_env_file_refuses_instead_of_real_aws(place):
    shell = {
        **place,
        "AWS_ACCESS_KEY_ID": "AKIAREAL",
        "AWS_SECRET_ACCESS_KEY": "real",
        "AWS_ENDPOINT_URL": "",
    }
    with pytest.raises(NoTarget, match="make dev.*make up.*TARGET=aws"):
        resolve(shell)


def test_a_running_make_dev_is_found_with_its_endpoint_and_dev_credentials(place):
    write_state(place, os.getpid())
    resolved = resolve(place)
    assert resolved.target is Target.DEV
    assert resolved.env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4999"
    assert resolved.env["INGEST_API_TOKEN"] == "dev-token"
    assert resolved.banner().startswith(f"target: make dev stack (pid {os.getpid()}")


def test_a_state_file_left_by_a_dead_make_dev_is_ignored(place):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    write_state(place, int(dead.stdout))
    with pytest.raises(NoTarget):
        resolve(place)


def test_real_aws_only_when_chosen_and_then_without_any_endpoint(place):
    write_state(place, os.getpid())
    resolved = resolve({**place, "TARGET": "aws", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"})
    assert resolved.target is Target.AWS
    assert "AWS_ENDPOINT_URL" not in resolved.env
    assert resolved.banner().startswith("target: REAL AWS")


def test_an_endpoint_in_the_shell_wins_over_a_running_make_dev(place):
    write_state(place, os.getpid())
    resolved = resolve({**place, "AWS_ENDPOINT_URL": "http://127.0.0.1:5111"})
    assert resolved.target is Target.ENV
    assert resolved.env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5111"


def test_env_file_means_the_compose_stack_on_its_published_ports(place):
    Path(place["ENV_FILE"]).write_text(
        "COMPOSE_PROFILES=offline\nLOCALSTACK_HOST_PORT=4777\nINGEST_HOST_PORT=8111\n"
    )
    resolved = resolve(place)
    assert resolved.target is Target.COMPOSE
    assert resolved.env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4777"
    assert resolved.env["INGEST_URL"] == "http://127.0.0.1:8111"


def test_env_file_of_the_live_profile_needs_target_aws(place):
    Path(place["ENV_FILE"]).write_text("COMPOSE_PROFILES=live\nAWS_ENDPOINT_URL=\n")
    with pytest.raises(NoTarget, match="TARGET=aws"):
        resolve(place)


def test_env_file_is_read_as_compose_reads_it_the_shell_wins(place):
    Path(place["ENV_FILE"]).write_text("# comment\nQUEUE_HIGH=from-file\nQUEUE_LOW=low-from-file\n\nEMPTY=\n")
    env = with_dotenv({**place, "QUEUE_HIGH": "from-shell"})
    assert env["QUEUE_HIGH"] == "from-shell"
    assert env["QUEUE_LOW"] == "low-from-file"
    assert env["EMPTY"] == ""


def test_an_unknown_target_is_refused_by_name(place):
    with pytest.raises(NoTarget, match="TARGET=prod"):
        resolve({**place, "TARGET": "prod"})


@pytest.mark.parametrize("command", [["-m", "ticketrouter.status"], ["-m", "ticketrouter.dlq", "list"]])
def test_ops_commands_with_aws_credentials_but_no_stack_do_not_touch_aws(place, command):
    # On the old code these went to real AWS with whatever credentials the machine had.
    env = {
        **place,
        "AWS_ACCESS_KEY_ID": "AKIAREAL",
        "AWS_SECRET_ACCESS_KEY": "real",
        "AWS_REGION": "eu-west-1",
    }
    result = subprocess.run(
        [sys.executable, *command], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no stack found" in result.stderr and "TARGET=aws" in result.stderr
    assert result.stdout == ""
