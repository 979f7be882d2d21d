"""`make dev` and `make demo` as a user runs them: the CLI starts everything, Ctrl-C stops everything."""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from devstack import ROOT
from stack import Stack
from stack_services import Ports
from supervise import Service
from tests.support import wait_until
from tests.system.conftest import free_ports, stack_env


def descendants(pid: int) -> set[int]:
    """Every live process below pid, read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def dev_env(tmp_path: Path) -> tuple[dict[str, str], Ports]:
    """make dev's environment on free ports, with its state and logs under tmp_path.

    No AWS credentials and no ingest token: make dev fills in its development values and
    records them, as on a fresh machine.
    """
    ports = free_ports()
    env = {k: v for k, v in stack_env().items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    env.pop("INGEST_API_TOKEN")
    env.update(
        DEV_AWS_PORT=str(ports.aws),
        INGEST_PORT=str(ports.ingest),
        SLACK_STANDIN_PORT=str(ports.slack),
        TRELLO_STANDIN_PORT=str(ports.trello),
        DEV_INGEST_METRICS_PORT=str(ports.ingest_metrics),
        CONSOLE_PORT=str(ports.console),
        DEV_SLACK_METRICS_PORT=str(ports.worker_metrics[0]),
        DEV_TRELLO_METRICS_PORT=str(ports.worker_metrics[1]),
        DEV_S3_METRICS_PORT=str(ports.worker_metrics[2]),
        DEV_STATE_DIR=str(tmp_path / ".dev"),
        ENV_FILE=str(tmp_path / ".env"),
    )
    return env, ports


def start_dev(env: dict[str, str], output: Path, command: list[str] | None = None) -> subprocess.Popen:
    with output.open("w") as out:
        return subprocess.Popen(
            command or [sys.executable, "scripts/devstack.py"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def wait_for_line(dev: subprocess.Popen, output: Path, line: str, timeout: float = 120) -> None:
    wait_until(lambda: line in output.read_text() or dev.poll() is not None, timeout, line)
    assert dev.poll() is None, output.read_text()


def make(target: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`make <target>` as a user types it (-o venv: the test run's .venv is already made)."""
    return subprocess.run(
        ["make", "-s", "-o", "venv", target], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_dev_stack_serves_the_ops_commands_with_no_exports_and_stops_on_ctrl_c(tmp_path):
    env, ports = dev_env(tmp_path)
    output = tmp_path / "dev.out"
    dev = start_dev(env, output)
    try:
        wait_for_line(dev, output, "Ticket router is running")
        banner = output.read_text()
        assert f"http://127.0.0.1:{ports.ingest}" in banner and "make demo" in banner
        assert f"http://127.0.0.1:{ports.console}" in banner
        assert 'Bearer dev-token"' in banner  # generated here, so shown

        # A second terminal: nothing exported but where this test keeps make dev's state.
        shell = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INGEST_"))}
        shell.update(DEV_STATE_DIR=env["DEV_STATE_DIR"], ENV_FILE=env["ENV_FILE"])
        first_line = f"target: make dev stack (pid {dev.pid}, AWS emulator at http://127.0.0.1:{ports.aws})"
        demo = make("demo", shell)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert demo.stdout.splitlines()[0] == first_line
        assert "landed in Slack" in demo.stdout
        assert "landed in Trello" in demo.stdout
        assert "landed in S3: s3://tickets/tickets/low/" in demo.stdout
        for target in ("status", "dlq", "provision"):
            result = make(target, shell)
            assert result.returncode == 0, result.stdout + result.stderr
            assert result.stdout.splitlines()[0] == first_line, result.stdout
        assert "high: 0 parked" in make("dlq", shell).stdout

        children = descendants(dev.pid)
        assert len(children) >= 8  # moto, 2 stand-ins, gunicorn (+ workers), 3 workers, console
        dev.send_signal(signal.SIGINT)
        assert dev.wait(timeout=60) == 0
        assert "All processes stopped." in output.read_text()
        wait_until(lambda: not any(alive(pid) for pid in children), 10, "children gone")
        assert not (tmp_path / ".dev" / "env").exists()
        assert (tmp_path / ".dev" / "logs" / "latest" / "ingest.log").is_file()
    finally:
        if dev.poll() is None:
            dev.kill()
            dev.wait()


def test_a_second_make_dev_names_the_taken_port_and_what_answers_there(tmp_path):
    env, ports = dev_env(tmp_path)
    env["INGEST_API_TOKEN"] = "a-real-token-from-the-environment"
    foreign = http.server.ThreadingHTTPServer(("127.0.0.1", ports.aws), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=foreign.serve_forever, daemon=True)
    thread.start()
    try:
        result = subprocess.run(
            [sys.executable, "scripts/devstack.py"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        foreign.shutdown()
        foreign.server_close()
    assert result.returncode == 1
    assert "Ticket router is running" not in result.stdout
    assert f"port {ports.aws} (AWS emulator) is in use by an HTTP server answering" in result.stderr
    assert "SimpleHTTP" in result.stderr and "DEV_AWS_PORT" in result.stderr
    assert "a-real-token-from-the-environment" not in result.stdout + result.stderr


def test_a_worker_whose_metrics_port_is_taken_exits_4_with_a_json_line(tmp_path):
    env, _ = dev_env(tmp_path)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with Stack(log_dir=tmp_path / "logs", ports=free_ports(), env=env, workers=()) as stack:
            result = subprocess.run(
                [sys.executable, "-m", "worker_s3"],
                env={**stack.env, "WORKER_METRICS_PORT": str(port)},
                capture_output=True,
                text=True,
                timeout=60,
            )
    lines = (result.stdout + result.stderr).splitlines()
    assert result.returncode == 4, lines
    records = [json.loads(line) for line in lines]  # every line is JSON: no raw traceback
    assert records[-1]["message"] == "metrics port unavailable; not starting"
    assert records[-1]["port"] == port and records[-1]["level"] == "CRITICAL"
    assert not any(r["message"] == "worker ready" for r in records)


def test_a_child_started_from_a_helper_thread_outlives_that_thread(tmp_path):
    """PR_SET_PDEATHSIG fires when the forking *thread* ends; the Stack forks from its own thread."""
    env, _ = dev_env(tmp_path)
    stack = Stack(log_dir=tmp_path / "logs", env=env, workers=())
    sleeper = Service(
        "sleeper",
        [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(120)"],
        lambda s: "up" in s.log_text(),
    )
    tmp_path.joinpath("logs").mkdir()
    helper = threading.Thread(target=stack._launch, args=(sleeper,))
    helper.start()
    helper.join()
    try:
        with pytest.raises(TimeoutError):  # it must stay alive: poll for its death, which never comes
            wait_until(lambda: not sleeper.running(), 2, "the child's death")
    finally:
        stack.stop()
    assert not sleeper.running()
