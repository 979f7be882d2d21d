"""Child processes that leave nothing behind, for `make dev`, the system tests and the benchmark.

A child runs in its own session (one signal reaches its whole process group), gets SIGTERM when
the process that started it dies (PR_SET_PDEATHSIG, Linux), writes to its log file, counts as
started only once its readiness check holds before a deadline, and is stopped with SIGTERM to its
group, then SIGKILL after a grace. Every child carries its supervisor's run id in its environment:
the final sweep finds whatever a race left behind (a child started as a signal arrived, a grandchild).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN_ID_VARIABLE = "DEVSTACK_RUN_ID"
START_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 25.0


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll condition until it holds; TimeoutError naming what after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout:.0f} s")
        time.sleep(interval)


@dataclass
class Service:
    """One supervised child: its command, readiness check and log."""

    name: str
    argv: list[str]
    ready: Callable[[Service], bool]
    env: dict[str, str] = field(default_factory=dict)  # on top of the supervisor's caller's
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    # Where this process's lines start in a log a restarted service shares with its predecessor.
    log_offset: int = 0

    def log_text(self) -> str:
        """The whole log (a restarted service appends to its predecessor's)."""
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def own_log_text(self) -> str:
        """What this process, not an earlier one of the same name, wrote: what readiness reads."""
        if not (self.log_path and self.log_path.exists()):
            return ""
        with self.log_path.open("rb") as log:
            log.seek(self.log_offset)
            return log.read().decode(errors="replace")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_code(self) -> int | None:
        """The exit code once it has exited (negative = killed by that signal), else None."""
        return self.process.poll() if self.process is not None else None


def log_says(message: str) -> Callable[[Service], bool]:
    """Readiness: the running service's JSON log has a line with this message."""
    needle = json.dumps(message)
    return lambda service: service.running() and f'"message": {needle}' in service.own_log_text()


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """In the child: start a new session and get SIGTERM if the supervising process dies (Linux).

    The kernel sends it when the *thread* that forked the child ends, which is why a Supervisor
    forks every child from its own launcher thread, which lives as long as the Supervisor.
    """

    def setup() -> None:
        os.setsid()
        if sys.platform.startswith("linux"):
            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
            if os.getppid() != parent_pid:  # the parent died before prctl took effect
                os._exit(1)

    return setup


def marked_processes(run_id: str, variable: str = RUN_ID_VARIABLE) -> list[int]:
    """Processes (other than this one) whose environment sets variable to run_id (Linux /proc)."""
    marker = f"{variable}={run_id}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        pid = int(environ.parent.name)
        try:
            if pid != os.getpid() and marker in environ.read_bytes().split(b"\0"):
                found.append(pid)
        except OSError:
            continue  # gone, or not ours to read
    return found


def _kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    """Signal a process group that may already be gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


class Supervisor:
    """Starts children from one launcher thread, waits until each is ready, stops them group-wide."""

    def __init__(
        self,
        cwd: Path = ROOT,
        start_timeout: float = START_TIMEOUT_SECONDS,
        stop_grace: float = STOP_GRACE_SECONDS,
    ) -> None:
        self.cwd, self.start_timeout, self.stop_grace = cwd, start_timeout, stop_grace
        self.run_id = uuid.uuid4().hex
        # Children are forked from this one thread: PR_SET_PDEATHSIG is tied to the forking thread.
        self._launcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="devstack-launcher")

    def _spawn(self, service: Service, env: Mapping[str, str], log_path: Path, into: list[Service]) -> None:
        """Start the process and register it (in the launcher thread, out of reach of signals)."""
        service.log_path = log_path
        with log_path.open("ab") as log:
            service.log_offset = log.tell()
            service.process = subprocess.Popen(
                service.argv,
                env={**env, **service.env, RUN_ID_VARIABLE: self.run_id},
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent(os.getpid()),
            )
        into.append(service)

    def launch(
        self, service: Service, env: Mapping[str, str], log_path: Path, into: list[Service]
    ) -> Service:
        """Start service (appended to into as soon as it exists) and wait until it is ready.

        RuntimeError with its log's tail if it exits first; TimeoutError after start_timeout.
        """
        self._launcher.submit(self._spawn, service, env, log_path, into).result()

        def ready() -> bool:
            if not service.running():
                log = service.log_text()[-3000:]
                raise RuntimeError(f"{service.name} exited with {service.exit_code()}:\n{log}")
            return service.ready(service)

        wait_until(ready, self.start_timeout, service.name)
        return service

    def settle(self) -> None:
        """Wait until a start in progress has registered its child."""
        self._launcher.submit(lambda: None).result()

    def stop(self, services: list[Service], sig: int = signal.SIGTERM) -> None:
        """Signal each service's process group, then wait for all; SIGKILL whoever outlives the grace."""
        running = [s.process for s in services if s.process is not None and s.process.poll() is None]
        for process in running:
            _kill_group(process.pid, sig)
        deadline = time.monotonic() + self.stop_grace
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(process.pid)
                process.wait()
        for service in services:
            if service.process is not None:
                _kill_group(service.process.pid)  # what is left in its group (a gunicorn worker, say)

    def close(self) -> None:
        """End the launcher thread: only once every child is stopped (its end would SIGTERM them)."""
        self._launcher.shutdown(wait=True)

    def sweep(self) -> None:
        """SIGKILL every process still alive that carries this supervisor's run id."""
        for pid in marked_processes(self.run_id):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def running(
    service: Service, env: Mapping[str, str], log_path: Path, timeout: float = START_TIMEOUT_SECONDS
) -> Iterator[Service]:
    """One child started and ready inside the block; it and anything it started are gone after."""
    supervisor = Supervisor(start_timeout=timeout)
    started: list[Service] = []
    try:
        yield supervisor.launch(service, env, log_path, started)
    finally:
        supervisor.settle()
        supervisor.stop(started)
        supervisor.sweep()
        supervisor.close()
