"""`make dev` and `make demo` as a user runs them: the CLI starts everything, Ctrl-C stops everything."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from devstack import ROOT
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


def test_dev_stack_runs_the_demo_and_stops_every_process_on_ctrl_c(tmp_path):
    ports = free_ports()
    env = stack_env()
    env.update(
        DEV_AWS_PORT=str(ports.aws),
        INGEST_PORT=str(ports.ingest),
        SLACK_STANDIN_PORT=str(ports.slack),
        TRELLO_STANDIN_PORT=str(ports.trello),
        # Free ports for every metrics port too: the defaults (9100-9103) may be taken.
        DEV_INGEST_METRICS_PORT=str(ports.ingest_metrics),
        **{
            f"DEV_{name}_METRICS_PORT": str(port)
            for name, port in zip(("SLACK", "TRELLO", "S3"), ports.worker_metrics, strict=True)
        },
    )
    output = tmp_path / "dev.out"
    with output.open("w") as out:
        dev = subprocess.Popen(
            [sys.executable, "scripts/devstack.py"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        wait_until(
            lambda: "Ticket router is running" in output.read_text() or dev.poll() is not None,
            120,
            "make dev",
        )
        assert dev.poll() is None, output.read_text()
        banner = output.read_text()
        assert f"http://127.0.0.1:{ports.ingest}" in banner and "make demo" in banner

        demo = subprocess.run(
            [
                sys.executable,
                "scripts/demo.py",
                "--ingest-url",
                f"http://127.0.0.1:{ports.ingest}",
                "--token",
                env["INGEST_API_TOKEN"],
                "--slack-standin",
                f"http://127.0.0.1:{ports.slack}",
                "--trello-standin",
                f"http://127.0.0.1:{ports.trello}",
                "--aws-endpoint",
                f"http://127.0.0.1:{ports.aws}",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "landed in Slack" in demo.stdout
        assert "landed in Trello" in demo.stdout
        assert "landed in S3: s3://tickets/tickets/low/" in demo.stdout

        children = descendants(dev.pid)
        assert len(children) >= 7  # moto, 2 stand-ins, gunicorn (+ workers), 3 workers
        dev.send_signal(signal.SIGINT)
        assert dev.wait(timeout=60) == 0
        assert "All processes stopped." in output.read_text()
        wait_until(lambda: not any(alive(pid) for pid in children), 10, "children gone")
    finally:
        if dev.poll() is None:
            dev.kill()
            dev.wait()
