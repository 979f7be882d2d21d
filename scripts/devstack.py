"""The whole router on one machine without Docker: `make dev`.

Starts an AWS emulator (MiniStack: see emulator.py), provisions queues and bucket, the Slack and
Trello stand-ins, gunicorn ingest and the three workers; prints where to look; stops
every process it started on Ctrl-C or SIGTERM. The system tests use the same Stack.

Environment variables are the containers' (see the README), read from the shell and then
from .env the way Compose reads it; unset (or empty) ones get the development defaults
printed at start. Setting AWS_ENDPOINT_URL, SLACK_API_URL or TRELLO_API_URL to a URL points
the stack at that service instead of starting the local one.

While it runs, `.dev/env` (DEV_STATE_DIR) records its endpoints for `make status`, `make dlq`,
`make demo`…; each run logs into a fresh `.dev/logs/<time>/` (the last KEEP_LOG_RUNS are kept).
"""

from __future__ import annotations

import ctypes
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType

from emulator import Emulator, chosen_emulator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "common" / "src"))
from ticketrouter.target import state_dir, with_dotenv  # noqa: E402 — after the path above

PYTHON = sys.executable
STOP_TIMEOUT_SECONDS = 25.0
START_TIMEOUT_SECONDS = 60.0
KEEP_LOG_RUNS = 5
# Every process the stack starts carries this variable: the last sweep of stop() finds
# whatever a race left behind (a child started while a signal arrived, a grandchild).
RUN_ID_VARIABLE = "DEVSTACK_RUN_ID"

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


@dataclass(frozen=True)
class Ports:
    """Where the local services listen; the defaults are the documented contract."""

    aws: int = 4566
    ingest: int = 8080
    slack: int = 9001
    trello: int = 9002
    # /metrics, /healthz, /readyz of worker-slack, worker-trello, worker-s3.
    worker_metrics: tuple[int, int, int] = (9101, 9102, 9103)
    # ingest's /metrics, off the public port.
    ingest_metrics: int = 9100
    console: int = 9000

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Ports:
        def port(variable: str, default: int) -> int:
            return int(env.get(variable) or default)

        return cls(
            aws=port("DEV_AWS_PORT", cls.aws),
            ingest=port("INGEST_PORT", cls.ingest),
            slack=port("SLACK_STANDIN_PORT", cls.slack),
            trello=port("TRELLO_STANDIN_PORT", cls.trello),
            worker_metrics=tuple(
                port(f"DEV_{name}_METRICS_PORT", default)
                for name, default in zip(("SLACK", "TRELLO", "S3"), cls.worker_metrics, strict=True)
            ),
            ingest_metrics=port("DEV_INGEST_METRICS_PORT", cls.ingest_metrics),
            console=port("CONSOLE_PORT", cls.console),
        )


class PortTaken(RuntimeError):
    """A port the stack needs is in use; the message names it and what answers there."""


def listener_on(port: int) -> str | None:
    """What listens on 127.0.0.1:port, in a few words; None when nothing does."""
    try:
        connection = socket.create_connection(("127.0.0.1", port), timeout=1)
    except OSError:
        return None
    connection.close()
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        client.request("GET", "/")
        response = client.getresponse()
        server = response.getheader("Server") or response.getheader("X-Service") or "no Server header"
        return f"an HTTP server answering {response.status} ({server})"
    except (OSError, http.client.HTTPException):
        return "a server that does not speak HTTP"
    finally:
        client.close()


def check_ports_free(wanted: Mapping[str, int]) -> None:
    """PortTaken naming every wanted port that something already listens on."""
    taken = [
        f"port {port} ({what}) is in use by {holder}"
        for what, port in wanted.items()
        if (holder := listener_on(port)) is not None
    ]
    if taken:
        raise PortTaken(
            "; ".join(taken)
            + ". Stop whatever holds it (another `make dev`? `make up`?) or choose other ports"
            " (DEV_AWS_PORT, INGEST_PORT, SLACK_STANDIN_PORT, TRELLO_STANDIN_PORT, CONSOLE_PORT,"
            " DEV_*_METRICS_PORT)."
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


def http_identifies(url: str, header: str, value: str) -> bool:
    """True when url answers 2xx with header: value, i.e. it is the server we started."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 300 and response.headers.get(header) == value
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def http_body_has(url: str, needle: bytes) -> bool:
    """True when url answers 2xx with a body containing needle."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 300 and needle in response.read()
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


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """In the child: start a new session and get SIGTERM if the stack process dies (Linux).

    The kernel sends it when the *thread* that forked the child ends, which is why the
    Stack forks every child from its own launcher thread that lives as long as the Stack.
    """

    def setup() -> None:
        os.setsid()
        if sys.platform.startswith("linux"):
            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
            if os.getppid() != parent_pid:  # the parent died before prctl took effect
                os._exit(1)

    return setup


def marked_processes(run_id: str) -> list[int]:
    """Live processes (other than this one) whose environment carries this run's id (Linux /proc)."""
    marker = f"{RUN_ID_VARIABLE}={run_id}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        pid = int(environ.parent.name)
        try:
            if pid != os.getpid() and marker in environ.read_bytes().split(b"\0"):
                found.append(pid)
        except OSError:
            continue  # gone, or not ours to read
    return found


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


def log_says(message: str) -> Callable[[Service], bool]:
    """Readiness: the service's JSON log has a line with this message."""
    needle = json.dumps(message)
    return lambda service: service.running() and f'"message": {needle}' in service.own_log_text()


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
        self.run_id = uuid.uuid4().hex
        self.env[RUN_ID_VARIABLE] = self.run_id
        # Children are forked from this one thread: PR_SET_PDEATHSIG is tied to the forking thread.
        self._launcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="devstack-launcher")

    @staticmethod
    def url(port: int) -> str:
        return f"http://127.0.0.1:{port}"

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
            check_ports_free(self.wanted_ports())
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
                self._launch(self._standin("slack", self.ports.slack))
            if self.local_trello:
                self._launch(self._standin("trello", self.ports.trello))
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
                    lambda _: (
                        http_identifies(self.ingest_url + "/", "X-Service", "ticketrouter-ingest")
                        and http_ok(self.ingest_url + "/readyz")
                    ),
                    {"INGEST_METRICS_PORT": str(self.ports.ingest_metrics), **self.ingest_env},
                )
            )
            for module in self.workers:
                self.start_worker(module)
            if self.with_console:
                console = self._standin("console", self.ports.console)
                console.env = {
                    "INGEST_URL": self.ingest_url,
                    "SLACK_STANDIN_URL": self.url(self.ports.slack) if self.local_slack else "",
                    "TRELLO_STANDIN_URL": self.url(self.ports.trello) if self.local_trello else "",
                }
                self._launch(console)
        except BaseException:
            self.stop()
            raise
        return self

    def _standin(self, kind: str, port: int) -> Service:
        """A stand-in (or the console): ready once our process answers with its own name."""
        url = self.url(port)
        return Service(
            "standin-" + kind if kind != "console" else "console",
            [PYTHON, "-m", "standins", kind, "--port", str(port)],
            lambda _: http_identifies(url + "/_fake/identity", "X-Service", f"ticketrouter-{kind}"),
        )

    def start_worker(self, module: str, env: Mapping[str, str] | None = None) -> Service:
        """Start (or restart) one worker, with env on top of the stack's, and wait until its
        consumer loop runs."""
        name = module.replace("_", "-")
        self.services = [s for s in self.services if s.name != name or s.running()]
        port = self.worker_metrics_port(name)
        service_env = {"WORKER_METRICS_PORT": str(port)} if port else {}
        service_env.update(env or {})
        return self._launch(Service(name, [PYTHON, "-m", module], self._worker_ready(port), service_env))

    def _worker_ready(self, port: int | None) -> Callable[[Service], bool]:
        """The loop runs and, with a metrics port, this worker (its log says so) serves /healthz there."""
        loop_runs, serving = log_says("worker ready"), log_says("metrics and health served")
        if not port:
            return loop_runs
        return lambda s: loop_runs(s) and serving(s) and http_ok(f"{self.url(port)}/healthz")

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
        # Its JSON log; stdout (the target line and a summary) is for people at a terminal.
        (self.log_dir / "provision.log").write_text(result.stderr)
        if result.returncode != 0:
            raise RuntimeError(f"provisioning failed:\n{result.stderr}")

    def _spawn(self, service: Service) -> None:
        """Start the process and register it (in the launcher thread, out of reach of signals)."""
        service.log_path = self.log_dir / f"{service.name}.log"
        with service.log_path.open("ab") as log:
            service.log_offset = log.tell()
            service.process = subprocess.Popen(
                service.argv,
                env={**self.env, **service.env},
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent(os.getpid()),
            )
        self.services.append(service)

    def _launch(self, service: Service) -> Service:
        self.progress(f"  starting {service.name} ...")
        started = time.monotonic()
        self._launcher.submit(self._spawn, service).result()

        def ready() -> bool:
            if not service.running():
                raise RuntimeError(
                    f"{service.name} exited with {service.process.returncode}:\n{service.log_text()[-3000:]}"
                )
            return service.ready(service)

        wait_until(ready, START_TIMEOUT_SECONDS, service.name)
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
        """Stop intake and workers first (they finish in-flight work), then what they talk to;
        then kill anything of this run that is still alive."""
        self._launcher.submit(lambda: None).result()  # a start in progress registers first
        front = [s for s in self.services if s.name == "ingest" or s.name.startswith("worker-")]
        self._stop_together(front)
        self._stop_together([s for s in self.services if s not in front])
        for pid in marked_processes(self.run_id):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def crashed(self) -> list[Service]:
        return [s for s in self.services if s.process is not None and s.process.poll() is not None]

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def describe(stack: Stack) -> str:
    """What the user needs to know once the stack is up."""
    env = stack.env
    console = [f"  dev console     {stack.console_url}   (queues, deliveries, submit a test ticket)"]
    lines = [
        "Ticket router is running (Ctrl-C stops everything).",
        "",
        *(console if stack.with_console else []),
        f"  ingest API      {stack.ingest_url}   (POST /tickets; docs: {stack.ingest_url}/docs)",
        f"  Slack           {env['SLACK_API_URL']}"
        + ("   stand-in page: " + stack.url(stack.ports.slack) if stack.local_slack else ""),
        f"  Trello          {env['TRELLO_API_URL']}"
        + ("   stand-in page: " + stack.url(stack.ports.trello) if stack.local_trello else ""),
        f"  AWS endpoint    {env['AWS_ENDPOINT_URL']}"
        + (f"   ({stack.emulator.name})" if stack.emulator else ""),
        f"  metrics         {stack.url(stack.ports.ingest_metrics)}/metrics (ingest), workers on "
        + ", ".join(f"{stack.url(p)}/metrics" for p in stack.ports.worker_metrics),
        f"  logs            {stack.log_dir}/",
        "",
    ]
    if stack.defaulted:
        lines.append("Development defaults for unset variables:")
        lines += [f"  {name}={env[name]}" for name in stack.defaulted]
        lines.append("")
    # A token from the environment may be a real one: never print it.
    token = stack.token if "INGEST_API_TOKEN" in stack.defaulted else "$INGEST_API_TOKEN"
    lines += [
        "In another terminal, with no exports: make demo | make status | make dlq",
        f'   or:   curl -s -X POST {stack.ingest_url}/tickets -H "Authorization: Bearer {token}" \\',
        "              -H 'Content-Type: application/json' \\",
        '              -d \'{"title": "Printer on fire", "priority": "high", "description": "Third floor"}\'',
    ]
    return "\n".join(lines)


def state_lines(stack: Stack) -> list[str]:
    """What `.dev/env` records for the ops commands: endpoints, and dev credentials only."""
    state = {
        "DEVSTACK_PID": str(os.getpid()),
        "AWS_ENDPOINT_URL": stack.env["AWS_ENDPOINT_URL"],
        "AWS_REGION": stack.env.get("AWS_REGION", "us-east-1"),
        "INGEST_URL": stack.ingest_url,
        "SLACK_STANDIN_URL": stack.url(stack.ports.slack) if stack.local_slack else "",
        "TRELLO_STANDIN_URL": stack.url(stack.ports.trello) if stack.local_trello else "",
        "CONSOLE_URL": stack.console_url if stack.with_console else "",
        "DEV_LOG_DIR": str(stack.log_dir),
    }
    for name in ("QUEUE_HIGH", "QUEUE_MEDIUM", "QUEUE_LOW", "TICKETS_BUCKET", "LEDGER_BUCKET"):
        if stack.env.get(name):
            state[name] = stack.env[name]
    # Secrets only where make dev made them up itself: a real one never lands in a file.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "INGEST_API_TOKEN"):
        if name in stack.defaulted:
            state[name] = stack.env[name]
    return [f"{name}={value}" for name, value in state.items()]


def write_state(path: Path, stack: Stack) -> None:
    """Record the running stack for the ops commands (owner-only: it may hold dev credentials)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write("\n".join(state_lines(stack)) + "\n")


def remove_state(path: Path) -> None:
    """Remove the state file if it is this process's."""
    try:
        if f"DEVSTACK_PID={os.getpid()}\n" in path.read_text():
            path.unlink()
    except FileNotFoundError:
        pass


def fresh_log_dir(logs: Path, keep: int = KEEP_LOG_RUNS) -> Path:
    """A new folder for this run's logs; older runs beyond the last keep are removed."""
    logs.mkdir(parents=True, exist_ok=True)
    while True:
        # Names sort in time order: the oldest are the first to go.
        run = logs / datetime.now().strftime("%Y%m%d-%H%M%S.%f")
        try:
            run.mkdir()
            break
        except FileExistsError:
            continue
    runs = sorted(p for p in logs.iterdir() if p.is_dir() and not p.is_symlink())
    for old in runs[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    latest = logs / "latest"
    latest.unlink(missing_ok=True)
    latest.symlink_to(run.name)
    return run


class StopRequested(Exception):
    """SIGINT, SIGTERM or SIGHUP arrived: stop the stack."""


def main() -> int:
    env = with_dotenv(os.environ)
    state = (ROOT / state_dir(env)).resolve()
    stopping = False

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        # Only the first signal interrupts; later ones (a second Ctrl-C, make passing the
        # group's SIGTERM on) must not abandon a stop that is under way.
        nonlocal stopping
        if stopping:
            print(f"(signal {signum} ignored: already stopping)", file=sys.stderr, flush=True)
            return
        stopping = True
        raise StopRequested

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    stack = Stack(
        log_dir=state / "logs",
        ports=Ports.from_env(env),
        env=env,
        with_console=True,
        progress=lambda line: print(line, flush=True),
    )
    try:
        stack.log_dir = fresh_log_dir(state / "logs")
        print("Starting the ticket router (moto, stand-ins, ingest, workers, console)...", flush=True)
        stack.start()
        write_state(state / "env", stack)
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
    except StopRequested:
        print("\nStopping...", flush=True)
        return 0
    except (RuntimeError, TimeoutError) as error:
        print(f"Start-up failed: {error}", file=sys.stderr)
        return 1
    finally:
        stopping = True
        remove_state(state / "env")
        stack.stop()
        print("All processes stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
