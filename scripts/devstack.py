"""The whole router on one machine without Docker: `make dev`.

Starts an AWS emulator (MiniStack: see emulator.py), provisions queues and bucket, the Slack and
Trello stand-ins, gunicorn ingest and the three workers; prints where to look; stops
every process it started on Ctrl-C or SIGTERM. The system tests use the same Stack.

Environment variables are the containers' (see the README); unset ones get the
development defaults printed at start. Setting AWS_ENDPOINT_URL, SLACK_API_URL or
TRELLO_API_URL points the stack at that service instead of starting the local one.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from emulator import Emulator, chosen_emulator

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
STOP_TIMEOUT_SECONDS = 25.0
START_TIMEOUT_SECONDS = 60.0

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
    # Shorter than production's 20 s long poll so that Ctrl-C returns within seconds:
    # a worker finishes its current poll before it exits.
    "WORKER_WAIT_SECONDS": "5",
}


@dataclass(frozen=True)
class Ports:
    """Where the local services listen; the defaults are the documented contract."""

    aws: int = 4566
    ingest: int = 8080
    slack: int = 9001
    trello: int = 9002
    # /metrics, /healthz, /readyz of worker-slack, worker-trello, worker-s3.
    worker_metrics: tuple[int, int, int] = (9101, 9102, 9103)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Ports:
        return cls(
            aws=int(env.get("DEV_AWS_PORT", cls.aws)),
            ingest=int(env.get("INGEST_PORT", cls.ingest)),
            slack=int(env.get("SLACK_STANDIN_PORT", cls.slack)),
            trello=int(env.get("TRELLO_STANDIN_PORT", cls.trello)),
            worker_metrics=tuple(
                int(env.get(f"DEV_{name}_METRICS_PORT", default))
                for name, default in zip(("SLACK", "TRELLO", "S3"), cls.worker_metrics, strict=True)
            ),
        )


def free_port() -> int:
    """A port nothing listens on right now, for servers that cannot be handed a socket."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_ok(url: str) -> bool:
    """True when url answers 2xx right now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def http_answers(url: str) -> bool:
    """True when anything answers HTTP at url (any status)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll condition until it holds; TimeoutError naming what after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout:.0f} s")
        time.sleep(interval)


def _die_with_parent() -> None:
    """In the child: start a new session and get SIGTERM if the stack process dies (Linux)."""
    os.setsid()
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _kill_leftovers(pgid: int) -> None:
    """Kill anything left in a stopped service's process group (a gunicorn worker, say)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@dataclass
class Service:
    name: str
    argv: list[str]
    ready: Callable[[Service], bool]
    env: dict[str, str] = field(default_factory=dict)  # on top of the stack's
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def log_says(message: str) -> Callable[[Service], bool]:
    """Readiness: the service's JSON log has a line with this message."""
    needle = json.dumps(message)
    return lambda service: service.running() and f'"message": {needle}' in service.log_text()


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

    def __post_init__(self) -> None:
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

    @staticmethod
    def url(port: int) -> str:
        return f"http://127.0.0.1:{port}"

    @property
    def ingest_url(self) -> str:
        return self.url(self.ports.ingest)

    @property
    def token(self) -> str:
        return self.env["INGEST_API_TOKEN"]

    def start(self) -> Stack:
        """Start everything; on any failure stop what was started and re-raise."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            if self.local_aws:
                self.emulator = chosen_emulator(self.env)
                self._launch(
                    Service(
                        "aws",
                        self.emulator.argv(self.ports.aws),
                        lambda _: http_answers(self.url(self.ports.aws) + self.emulator.health_path),
                        self.emulator.env(self.ports.aws),
                    )
                )
            self.provision()
            if self.local_slack:
                self._launch(
                    Service(
                        "standin-slack",
                        [PYTHON, "-m", "standins", "slack", "--port", str(self.ports.slack)],
                        lambda _: http_ok(self.url(self.ports.slack) + "/_fake/requests"),
                    )
                )
            if self.local_trello:
                self._launch(
                    Service(
                        "standin-trello",
                        [PYTHON, "-m", "standins", "trello", "--port", str(self.ports.trello)],
                        lambda _: http_ok(self.url(self.ports.trello) + "/_fake/requests"),
                    )
                )
            self._launch(
                Service(
                    "ingest",
                    [
                        PYTHON,
                        "-m",
                        "gunicorn",
                        "-c",
                        str(ROOT / "ingest" / "gunicorn.conf.py"),
                        "-b",
                        f"127.0.0.1:{self.ports.ingest}",
                        "ingest:create_app()",
                    ],
                    lambda _: http_ok(self.ingest_url + "/readyz"),
                    self.ingest_env,
                )
            )
            for module in self.workers:
                self.start_worker(module)
        except BaseException:
            self.stop()
            raise
        return self

    def start_worker(self, module: str, env: Mapping[str, str] | None = None) -> Service:
        """Start (or restart) one worker, with env on top of the stack's, and wait until its
        consumer loop runs."""
        name = module.replace("_", "-")
        self.services = [s for s in self.services if s.name != name or s.running()]
        port = self.worker_metrics_port(name)
        service_env = {"WORKER_METRICS_PORT": str(port)} if port else {}
        service_env.update(env or {})
        return self._launch(Service(name, [PYTHON, "-m", module], log_says("worker ready"), service_env))

    def worker_metrics_port(self, name: str) -> int | None:
        """Where worker-slack, worker-trello or worker-s3 serves /metrics, /healthz and /readyz."""
        names = ("worker-slack", "worker-trello", "worker-s3")
        return self.ports.worker_metrics[names.index(name)] if name in names else None

    def provision(self) -> None:
        result = subprocess.run(
            [PYTHON, "-m", "ticketrouter.provision"],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_SECONDS,
        )
        (self.log_dir / "provision.log").write_text(result.stderr + result.stdout)
        if result.returncode != 0:
            raise RuntimeError(f"provisioning failed:\n{result.stderr}")

    def _launch(self, service: Service) -> Service:
        service.log_path = self.log_dir / f"{service.name}.log"
        with service.log_path.open("ab") as log:
            service.process = subprocess.Popen(
                service.argv,
                env={**self.env, **service.env},
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        self.services.append(service)

        def ready() -> bool:
            if not service.running():
                raise RuntimeError(
                    f"{service.name} exited with {service.process.returncode}:\n{service.log_text()[-3000:]}"
                )
            return service.ready(service)

        wait_until(ready, START_TIMEOUT_SECONDS, service.name)
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
        self._stop_together([service], sig)
        return service.process.returncode if service.process else None

    @staticmethod
    def _stop_together(services: list[Service], sig: int = signal.SIGTERM) -> None:
        """Signal each service's process group, then wait for all; SIGKILL whoever outlives the timeout."""
        running = [s for s in services if s.running()]
        for service in running:
            os.killpg(service.process.pid, sig)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for service in running:
            try:
                service.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(service.process.pid, signal.SIGKILL)
                service.process.wait()
        for service in services:
            if service.process is not None:
                _kill_leftovers(service.process.pid)

    def stop(self) -> None:
        """Stop intake and workers first (they finish in-flight work), then what they talk to."""
        front = [s for s in self.services if s.name == "ingest" or s.name.startswith("worker-")]
        self._stop_together(front)
        self._stop_together([s for s in self.services if s not in front])

    def crashed(self) -> list[Service]:
        return [s for s in self.services if s.process is not None and s.process.poll() is not None]

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def describe(stack: Stack) -> str:
    """What the user needs to know once the stack is up."""
    env = stack.env
    lines = [
        "Ticket router is running (Ctrl-C stops everything).",
        "",
        f"  ingest API      {stack.ingest_url}   (POST /tickets, GET /healthz, GET /readyz)",
        f"  Slack           {env['SLACK_API_URL']}"
        + ("   stand-in page: " + stack.url(stack.ports.slack) if stack.local_slack else ""),
        f"  Trello          {env['TRELLO_API_URL']}"
        + ("   stand-in page: " + stack.url(stack.ports.trello) if stack.local_trello else ""),
        f"  AWS endpoint    {env['AWS_ENDPOINT_URL']}"
        + (f"   ({stack.emulator.name})" if stack.emulator else ""),
        f"  metrics         {stack.ingest_url}/metrics, workers on "
        + ", ".join(f"{stack.url(p)}/metrics" for p in stack.ports.worker_metrics),
        f"  logs            {stack.log_dir}/",
        "",
    ]
    if stack.defaulted:
        lines.append("Development defaults for unset variables:")
        lines += [f"  {name}={env[name]}" for name in stack.defaulted]
        lines.append("")
    lines += [
        "Try it:  make demo",
        f"   or:   curl -s -X POST {stack.ingest_url}/tickets -H 'Authorization: Bearer {stack.token}' \\",
        "              -H 'Content-Type: application/json' \\",
        '              -d \'{"title": "Printer on fire", "priority": "high", "description": "Third floor"}\'',
    ]
    return "\n".join(lines)


def main() -> int:
    stack = Stack(log_dir=ROOT / ".dev" / "logs", ports=Ports.from_env(os.environ))

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    print("Starting the ticket router (AWS emulator, stand-ins, ingest, workers)...", flush=True)
    try:
        stack.start()
        print(describe(stack), flush=True)
        while not (crashed := stack.crashed()):
            time.sleep(0.5)
        for service in crashed:
            print(
                f"\n{service.name} exited with {service.process.returncode}; last log lines:\n"
                f"{service.log_text()[-2000:]}",
                file=sys.stderr,
            )
        return 1
    except KeyboardInterrupt:
        print("\nStopping...", flush=True)
        return 0
    except (RuntimeError, TimeoutError) as error:
        print(f"Start-up failed: {error}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
        print("All processes stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
