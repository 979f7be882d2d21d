"""One SIGTERM or SIGINT to `make dev`'s process group stops every process it started, at any
point: mid-start (right after ingest is ready) or while it runs. Ten runs per signal in a row."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid

import pytest

from supervise import marked_processes
from tests.support import wait_until
from tests.system.test_devstack import alive, dev_env, start_dev, wait_for_line

RUNS = 10
# Named points in make dev's own output where the signal is sent, taken in turn.
KILL_POINTS = ("  ingest ready", "Ticket router is running")


MARKER_VARIABLE = "TEST_RUN_MARKER"


def marked(marker: str) -> list[int]:
    """Live processes whose environment carries marker (every process make dev started does)."""
    return [pid for pid in marked_processes(marker, MARKER_VARIABLE) if alive(pid)]


def kill_leftovers(dev: subprocess.Popen, marker: str) -> None:
    """Whatever a failed run left behind: make dev's group, then every marked process."""
    if dev.poll() is None:
        os.killpg(dev.pid, signal.SIGKILL)
        dev.wait()
    for pid in marked(marker):
        os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_one_signal_to_the_process_group_stops_everything_ten_times_in_a_row(tmp_path, sig):
    for run in range(RUNS):
        env, _ = dev_env(tmp_path / f"run{run}")
        marker = env[MARKER_VARIABLE] = uuid.uuid4().hex
        # Workers finish their long poll before they exit; shorter polls keep 20 runs quick.
        env["WORKER_WAIT_SECONDS"] = "2"
        output = tmp_path / f"run{run}.out"
        # `make dev` itself leads the group, as in a terminal: make passes SIGTERM on to
        # devstack, which so gets two (the group's and make's) and must not abandon its stop.
        dev = start_dev(env, output, ["make", "-s", "-o", "venv", "dev"])
        point = KILL_POINTS[run % len(KILL_POINTS)]
        try:
            wait_for_line(dev, output, point)
            assert marked(marker), "the stack's processes carry the marker"
            os.killpg(dev.pid, sig)
            dev.wait(timeout=90)  # make itself dies of the signal once devstack has finished
            assert "All processes stopped." in output.read_text(), (
                f"run {run} ({point}):\n{output.read_text()}"
            )
            # Right after make returns nothing of the stack may remain (SIGKILLed ones vanish at once).
            wait_until(lambda m=marker: not marked(m), 2, f"run {run} ({point}): every process gone")
        finally:
            kill_leftovers(dev, marker)


def test_a_second_signal_during_the_stop_does_not_abandon_the_children(tmp_path):
    env, _ = dev_env(tmp_path)
    marker = env[MARKER_VARIABLE] = uuid.uuid4().hex
    env["WORKER_WAIT_SECONDS"] = "5"  # the stop takes seconds: the workers finish their poll
    output = tmp_path / "dev.out"
    dev = start_dev(env, output)
    try:
        wait_for_line(dev, output, "Ticket router is running")
        os.killpg(dev.pid, signal.SIGTERM)
        wait_for_line(dev, output, "Stopping...")  # the known point: the stop is under way
        os.killpg(dev.pid, signal.SIGINT)
        dev.wait(timeout=90)
        text = output.read_text()
        assert "ignored: already stopping" in text and "All processes stopped." in text, text
        wait_until(lambda: not marked(marker), 0.5, "every process gone")
    finally:
        kill_leftovers(dev, marker)
