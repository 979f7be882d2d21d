"""What each process of the local router is: its command, its own environment, and when it counts
as ready. A service is ready only when *our* process answers (an identity header, its own log
line), never merely because something listens on its port."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from emulator import Emulator

from probes import http_answers, http_identifies, http_ok
from supervise import Service, log_says

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
WORKERS = ("worker-slack", "worker-trello", "worker-s3")
PortT = TypeVar("PortT", int, tuple[int, int, int])


def _port(default: PortT, *variables: str) -> PortT:
    """A port field: its documented default and the variable(s) that move it."""
    chosen: PortT = field(default=default, metadata={"variables": variables})
    return chosen


@dataclass(frozen=True)
class Ports:
    """Where the local services listen; the defaults are the documented contract."""

    aws: int = _port(4566, "DEV_AWS_PORT")
    ingest: int = _port(8080, "INGEST_PORT")
    slack: int = _port(9001, "SLACK_STANDIN_PORT")
    trello: int = _port(9002, "TRELLO_STANDIN_PORT")
    # /metrics, /healthz, /readyz of worker-slack, worker-trello, worker-s3.
    worker_metrics: tuple[int, int, int] = _port(
        (9101, 9102, 9103), "DEV_SLACK_METRICS_PORT", "DEV_TRELLO_METRICS_PORT", "DEV_S3_METRICS_PORT"
    )
    # ingest's /metrics, off the public port.
    ingest_metrics: int = _port(9100, "DEV_INGEST_METRICS_PORT")
    console: int = _port(9000, "CONSOLE_PORT")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Ports:
        """Each port from its variable; an unset or empty one keeps the default."""
        values: dict[str, Any] = {}  # int or tuple[int, int, int], by field
        for spec in fields(cls):
            defaults = spec.default if isinstance(spec.default, tuple) else (spec.default,)
            chosen = tuple(
                int(env.get(variable) or default)
                for variable, default in zip(spec.metadata["variables"], defaults, strict=True)
            )
            values[spec.name] = chosen if isinstance(spec.default, tuple) else chosen[0]
        return replace(cls(), **values)


def url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def emulator_service(emulator: Emulator, port: int) -> Service:
    """The AWS emulator: ready once its health page answers."""
    health = url(port) + emulator.health_path
    return Service("aws", emulator.argv(port), lambda _: http_answers(health), emulator.env(port))


def standin_service(kind: str, port: int) -> Service:
    """A stand-in (or the console): ready once our process answers with its own name."""
    identity = url(port) + "/_fake/identity"
    return Service(
        "standin-" + kind if kind != "console" else "console",
        [PYTHON, "-m", "standins", kind, "--port", str(port)],
        lambda _: http_identifies(identity, "X-Service", f"ticketrouter-{kind}"),
    )


def ingest_service(port: int, metrics_port: int, env: dict[str, str]) -> Service:
    """gunicorn ingest: ready once our app answers `/` and its queues answer `/readyz`."""
    base = url(port)

    def ready(_: Service) -> bool:
        ours = http_identifies(base + "/", "X-Service", "ticketrouter-ingest")
        return ours and http_ok(base + "/readyz")

    argv = [PYTHON, "-m", "gunicorn", "-c", str(ROOT / "ingest" / "gunicorn.conf.py"),
            "-b", f"127.0.0.1:{port}", "ingest:create_app()"]  # fmt: skip
    return Service(
        "ingest",
        argv,
        ready,
        {"INGEST_METRICS_PORT": str(metrics_port), **env},
    )


def worker_service(module: str, metrics_port: int | None, env: dict[str, str]) -> Service:
    """A worker module (with its metrics port, if it has one): ready once its consumer loop runs."""
    service_env = {"WORKER_METRICS_PORT": str(metrics_port)} if metrics_port else {}
    service_env.update(env)
    return Service(module.replace("_", "-"), [PYTHON, "-m", module], worker_ready(metrics_port), service_env)


def worker_ready(port: int | None) -> Callable[[Service], bool]:
    """The loop runs and, with a metrics port, this worker (its log says so) serves /healthz there."""
    loop_runs, serving = log_says("worker ready"), log_says("metrics and health served")
    if not port:
        return loop_runs
    return lambda s: loop_runs(s) and serving(s) and http_ok(f"{url(port)}/healthz")
