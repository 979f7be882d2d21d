"""The processes of a local router, started in order and stopped in reverse: `make dev`, the
system tests and the benchmark all run this Stack.

Environment variables are the containers' (see the README); unset (or empty) ones get the
development defaults. Setting AWS_ENDPOINT_URL, SLACK_API_URL or TRELLO_API_URL to a URL points
the stack at that service instead of starting the local one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from emulator import Emulator, chosen_emulator

from probes import check_ports_free
from stack_services import (
    PYTHON,
    ROOT,
    WORKERS,
    Ports,
    emulator_service,
    ingest_service,
    standin_service,
    url,
    worker_service,
)
from supervise import RUN_ID_VARIABLE, START_TIMEOUT_SECONDS, Service, Supervisor

DEV_DEFAULTS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_REGION": "us-east-1",
    "INGEST_API_TOKEN": "dev-token",
    "SLACK_BOT_TOKEN": "xoxb-dev-standin",
    "SLACK_CHANNEL": "#tickets-high",
    "TRELLO_KEY": "dev-key",
    "TRELLO_TOKEN": "dev-trello-token",
    "TRELLO_LIST_ID": "dev-list",
    # The Trello stand-in's board has these labels (make trello-discover lists them).
    "TRELLO_LABEL_HIGH": "dev-label-high",
    "TRELLO_LABEL_MEDIUM": "dev-label-medium",
    "TRELLO_LABEL_LOW": "dev-label-low",
    # Shorter than production's 20 s long poll so that Ctrl-C returns within seconds:
    # a worker finishes its current poll before it exits.
    "WORKER_WAIT_SECONDS": "5",
}
# Services whose address a variable can replace; empty counts as unset (start the local one).
EXTERNAL_URLS = ("AWS_ENDPOINT_URL", "SLACK_API_URL", "TRELLO_API_URL")
PORT_HINT = (
    "Stop whatever holds it (another `make dev`? `make up`?) or choose other ports"
    " (DEV_AWS_PORT, INGEST_PORT, SLACK_STANDIN_PORT, TRELLO_STANDIN_PORT, CONSOLE_PORT,"
    " DEV_*_METRICS_PORT)."
)


@dataclass
class Stack:
    """The processes of a local router, started in order and stopped in reverse."""

    log_dir: Path
    ports: Ports = Ports()
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    services: list[Service] = field(default_factory=list)
    # Worker modules to run (the benchmark swaps in its single shared-queue worker).
    workers: tuple[str, ...] = ("worker_slack", "worker_trello", "worker_s3")
    # Ingest's own variables on top of env (fault tests route its AWS calls through a proxy).
    ingest_env: dict[str, str] = field(default_factory=dict)

    # The dev console (`python -m standins console`): make dev runs it, most tests do not.
    with_console: bool = False
    # Called with each service's name as it starts and when it is ready (make dev prints it).
    progress: Callable[[str], None] = lambda _line: None

    def __post_init__(self) -> None:
        # One rule everywhere: an empty variable counts as unset.
        for name in EXTERNAL_URLS:
            if not self.env.get(name):
                self.env.pop(name, None)
        self.local_aws = "AWS_ENDPOINT_URL" not in self.env
        self.emulator: Emulator | None = None  # chosen at start, when AWS is local
        self.local_slack = "SLACK_API_URL" not in self.env
        self.local_trello = "TRELLO_API_URL" not in self.env
        self.defaulted = sorted(name for name in DEV_DEFAULTS if not self.env.get(name))
        for name in self.defaulted:
            self.env[name] = DEV_DEFAULTS[name]
        self.env.setdefault("AWS_ENDPOINT_URL", self.url(self.ports.aws))
        self.env.setdefault("SLACK_API_URL", self.url(self.ports.slack) + "/api/")
        self.env.setdefault("TRELLO_API_URL", self.url(self.ports.trello))
        self.env["PYTHONUNBUFFERED"] = "1"
        self.supervisor = Supervisor(cwd=ROOT)
        self.run_id = self.supervisor.run_id
        self.env[RUN_ID_VARIABLE] = self.run_id

    @staticmethod
    def url(port: int) -> str:
        return url(port)

    @property
    def ingest_url(self) -> str:
        return self.url(self.ports.ingest)

    @property
    def token(self) -> str:
        return self.env["INGEST_API_TOKEN"]

    @property
    def console_url(self) -> str:
        return self.url(self.ports.console)

    def wanted_ports(self) -> dict[str, int]:
        """The ports this stack will listen on, by what listens there."""
        wanted = {"ingest": self.ports.ingest, "ingest metrics": self.ports.ingest_metrics}
        if self.local_aws:
            wanted["AWS emulator"] = self.ports.aws
        if self.local_slack:
            wanted["Slack stand-in"] = self.ports.slack
        if self.local_trello:
            wanted["Trello stand-in"] = self.ports.trello
        if self.with_console:
            wanted["console"] = self.ports.console
        for module in self.workers:
            if port := self.worker_metrics_port(module.replace("_", "-")):
                wanted[f"{module.replace('_', '-')} metrics"] = port
        return wanted

    def start(self) -> Stack:
        """Start everything; on any failure stop what was started and re-raise."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            check_ports_free(self.wanted_ports(), PORT_HINT)
            if self.local_aws:
                self.emulator = chosen_emulator(self.env)
                self._launch(emulator_service(self.emulator, self.ports.aws))
            self.provision()
            if self.local_slack:
                self._launch(standin_service("slack", self.ports.slack))
            if self.local_trello:
                self._launch(standin_service("trello", self.ports.trello))
            self._launch(ingest_service(self.ports.ingest, self.ports.ingest_metrics, self.ingest_env))
            for module in self.workers:
                self.start_worker(module)
            if self.with_console:
                self._launch(self._console())
        except BaseException:
            self.stop()
            raise
        return self

    def _console(self) -> Service:
        """The dev console, told where ingest and the local stand-ins are."""
        console = standin_service("console", self.ports.console)
        console.env = {
            "INGEST_URL": self.ingest_url,
            "SLACK_STANDIN_URL": self.url(self.ports.slack) if self.local_slack else "",
            "TRELLO_STANDIN_URL": self.url(self.ports.trello) if self.local_trello else "",
        }
        return console

    def start_worker(self, module: str, env: Mapping[str, str] | None = None) -> Service:
        """Start (or restart) one worker, with env on top of the stack's, and wait until its
        consumer loop runs."""
        name = module.replace("_", "-")
        self.services = [s for s in self.services if s.name != name or s.running()]
        return self._launch(worker_service(module, self.worker_metrics_port(name), dict(env or {})))

    def worker_metrics_port(self, name: str) -> int | None:
        """Where worker-slack, worker-trello or worker-s3 serves /metrics, /healthz and /readyz."""
        return self.ports.worker_metrics[WORKERS.index(name)] if name in WORKERS else None

    def provision(self) -> None:
        result = subprocess.run(
            [PYTHON, "-m", "ticketrouter.provision"],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_SECONDS,
        )
        # Its JSON log; stdout (the target line and a summary) is for people at a terminal.
        (self.log_dir / "provision.log").write_text(result.stderr)
        if result.returncode != 0:
            raise RuntimeError(f"provisioning failed:\n{result.stderr}")

    def _launch(self, service: Service) -> Service:
        self.progress(f"  starting {service.name} ...")
        started = time.monotonic()
        self.supervisor.launch(service, self.env, self.log_dir / f"{service.name}.log", self.services)
        self.progress(f"  {service.name} ready ({time.monotonic() - started:.1f} s)")
        return service

    def restart(self, name: str) -> Service:
        """Start a stopped service again with the same command (it must have been stopped first)."""
        old = self.service(name)
        assert not old.running(), f"{name} is still running"
        self.services.remove(old)
        return self._launch(Service(old.name, old.argv, old.ready, old.env))

    def service(self, name: str) -> Service:
        return next(s for s in reversed(self.services) if s.name == name)

    def stop_service(self, service: Service, sig: int = signal.SIGTERM) -> int | None:
        """Stop one service; returns its exit code (negative = killed by that signal)."""
        self.supervisor.stop([service], sig)
        return service.exit_code()

    def stop(self) -> None:
        """Stop intake and workers first (they finish in-flight work), then what they talk to;
        then kill anything of this run that is still alive."""
        self.supervisor.settle()  # a start in progress registers first
        front = [s for s in self.services if s.name == "ingest" or s.name.startswith("worker-")]
        self.supervisor.stop(front)
        self.supervisor.stop([s for s in self.services if s not in front])
        self.supervisor.sweep()

    def crashed(self) -> list[Service]:
        return [s for s in self.services if s.exit_code() is not None]

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
