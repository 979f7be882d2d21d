"""make dev's pieces that need no running stack: log folders, the banner, readiness identity, demo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from flask import Flask

from devstack import ROOT, describe, fresh_log_dir, state_lines
from stack import Stack
from stack_services import Ports, standin_service
from standins.slack import create_app as slack_app
from tests.support import free_port, serve


def test_each_run_logs_into_a_fresh_folder_and_only_the_last_few_are_kept(tmp_path):
    runs = [fresh_log_dir(tmp_path, keep=3) for _ in range(5)]
    assert len(set(runs)) == 5
    kept = sorted(p.name for p in tmp_path.iterdir() if p.is_dir() and not p.is_symlink())
    assert kept == sorted(r.name for r in runs[-3:])
    assert (tmp_path / "latest").resolve() == runs[-1].resolve()


def stack_with(env: dict[str, str]) -> Stack:
    return Stack(
        log_dir=Path("/nonexistent"), ports=Ports(), env={"PATH": "/usr/bin", **env}, with_console=True
    )


def test_a_token_from_the_environment_is_never_printed_or_recorded():
    stack = stack_with({"INGEST_API_TOKEN": "real-secret-token"})
    assert "real-secret-token" not in describe(stack)
    assert "Bearer $INGEST_API_TOKEN" in describe(stack)
    assert not any("real-secret-token" in line for line in state_lines(stack))


def test_a_generated_token_is_printed_and_recorded_for_the_ops_commands():
    stack = stack_with({})
    assert "Bearer dev-token" in describe(stack)
    assert "INGEST_API_TOKEN=dev-token" in state_lines(stack)


def test_an_empty_aws_endpoint_means_the_local_emulator_not_real_aws():
    stack = stack_with({"AWS_ENDPOINT_URL": "", "SLACK_API_URL": "", "TRELLO_API_URL": ""})
    assert stack.local_aws and stack.local_slack and stack.local_trello
    assert stack.env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"


def test_readiness_checks_the_identity_of_what_answers_not_just_the_port():
    anybody = Flask("anybody")
    anybody.add_url_rule("/<path:path>", "any", lambda path: "ok")
    with serve(anybody) as foreign, serve(slack_app()) as ours:
        for url, expected in ((foreign, False), (ours, True)):
            port = int(url.rsplit(":", 1)[1])
            service = standin_service("slack", port)
            assert service.ready(service) is expected, url


def test_demo_without_a_stack_says_how_to_start_one_without_a_traceback(tmp_path):
    env = {"PATH": "/usr/bin", "ENV_FILE": str(tmp_path / ".env"), "DEV_STATE_DIR": str(tmp_path / ".dev")}
    result = subprocess.run(
        [sys.executable, "scripts/demo.py"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "make dev" in result.stderr and "make up" in result.stderr
    assert "Traceback" not in result.stderr

    dead = f"http://127.0.0.1:{free_port()}"
    (tmp_path / ".env").write_text(f"INGEST_URL={dead}\nINGEST_API_TOKEN=t\n")
    result = subprocess.run(
        [sys.executable, "scripts/demo.py"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"no stack at {dead} — start one with `make dev` or `make up`"


def test_make_venv_announces_each_step_before_it_runs(tmp_path):
    venv = tmp_path / "venv"
    result = subprocess.run(
        ["make", "-n", "-B", f"VENV={venv}", f"{venv}/.installed"], cwd=ROOT, capture_output=True, text=True
    )
    steps = [line for line in result.stdout.splitlines() if line.startswith('echo "[venv')]
    assert [s.split("]")[0].split("[")[1] for s in steps] == ["venv 1/2", "venv 2/2", "venv"], steps
    pip_install = next(line for line in result.stdout.splitlines() if "-r requirements-dev.txt" in line)
    assert "--quiet" not in pip_install and "Collecting" in result.stdout  # one line per package


def test_each_port_moves_with_its_variable_and_an_empty_one_keeps_the_default():
    ports = Ports.from_env({"INGEST_PORT": "18080", "DEV_TRELLO_METRICS_PORT": "19102", "CONSOLE_PORT": ""})
    assert ports == Ports(ingest=18080, worker_metrics=(9101, 19102, 9103))
