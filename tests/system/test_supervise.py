"""The process helper that make dev, the system tests and the benchmark share, on real processes."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from supervise import Service, Supervisor, running, wait_until
from tests.system.test_devstack import alive

# A child that starts a grandchild in a session of its own (out of reach of its group's signal),
# writes the grandchild's pid, says it is up, and waits.
ESCAPING_PARENT = """
import subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
print("grandchild", grandchild.pid, flush=True)
print("up", flush=True)
time.sleep(120)
"""
IGNORES_SIGTERM = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("up", flush=True)
time.sleep(120)
"""


def python(name: str, code: str) -> Service:
    return Service(name, [sys.executable, "-c", code], lambda s: "up" in s.own_log_text())


def test_the_child_and_whatever_it_started_are_gone_after_the_block(tmp_path: Path) -> None:
    with running(python("parent", ESCAPING_PARENT), os.environ, tmp_path / "parent.log") as parent:
        assert parent.process is not None
        child = parent.process.pid
        grandchild = int(parent.log_text().split()[1])
        assert alive(child) and alive(grandchild)
    # The grandchild left the group: only the run-id sweep finds it (SIGKILL lands at once).
    assert not alive(child)
    wait_until(lambda: not alive(grandchild), 2, "the grandchild's end")


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    supervisor = Supervisor(stop_grace=0.5)
    started: list[Service] = []
    stubborn = supervisor.launch(python("stubborn", IGNORES_SIGTERM), os.environ, tmp_path / "s.log", started)
    supervisor.stop(started)
    assert stubborn.exit_code() == -signal.SIGKILL


def test_a_child_that_exits_before_it_is_ready_is_named_with_its_code_and_log(tmp_path: Path) -> None:
    failing = python("failing", "import sys; print('no config', flush=True); sys.exit(3)")
    with pytest.raises(RuntimeError, match=r"failing exited with 3:\nno config"):
        with running(failing, os.environ, tmp_path / "failing.log"):
            pass


def test_a_child_that_never_gets_ready_times_out_and_is_stopped(tmp_path: Path) -> None:
    silent = Service("silent", [sys.executable, "-c", "import time; time.sleep(120)"], lambda s: False)
    with pytest.raises(TimeoutError, match="silent not ready after 1 s"):
        with running(silent, os.environ, tmp_path / "silent.log", timeout=1):
            pass
    assert silent.exit_code() == -signal.SIGTERM
