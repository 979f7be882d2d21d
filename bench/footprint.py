"""Footprint of the container stack: image sizes, `make up` time to healthy, idle memory.

`.venv/bin/python bench/footprint.py` (`make bench-footprint`, about 3 minutes; needs a Docker
engine with Compose v2) builds the images once (not timed), then --runs times starts the offline
stack with `make up` (`docker compose up -d --build --wait`: every image cached, so the build is
a cache check) and times it until every container is healthy, reads each service's resident
memory after --idle seconds without a ticket, and stops the stack with `make down`. Its own compose project
and free host ports, so it disturbs no other stack. Writes its section of bench/RESULTS.md
(`make bench` keeps it) and exits 1 when a bound is missed.

Memory is read two ways: `docker stats` (the container's memory charge without its page cache:
what issue 11's "52–57 MiB" and its bound were measured with) and the RSS of the container's
processes (`docker top`, health checks left out), which also counts every shared library mapped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "scripts"))
from slow_clients import write_section  # noqa: E402

from images import SERVICES  # noqa: E402

MARKERS = ("<!-- footprint:start -->", "<!-- footprint:end -->")
# Issue 11, item 6.
IMAGE_BOUND_MB = 200.0  # each image, in MB (10^6 bytes) as `docker image ls` shows them
UP_BOUND_SECONDS = 20.0  # `make up` with cached images until every container is healthy (median)
WORKER_MEMORY_BOUND_MIB = 60.0  # each idle worker, as `docker stats` reports it
UNITS = {"B": 1 / 2**20, "KiB": 1 / 2**10, "MiB": 1.0, "GiB": 2**10, "kB": 1e3 / 2**20, "MB": 1e6 / 2**20}
WORKERS = ("worker-slack", "worker-trello", "worker-s3")
# Compose service → the processes measured (the stand-ins image serves three services).
MEASURED = ("ingest", *WORKERS, "standin-slack", "standin-trello", "console")
TAG = "footprint"


@dataclass
class Footprint:
    """What one bench run measured."""

    image_mb: dict[str, float]
    base_mb: float
    up_seconds: list[float] = field(default_factory=list)
    phases: dict[str, list[float]] = field(default_factory=dict)
    memory_mib: dict[str, list[float]] = field(default_factory=dict)
    rss_mib: dict[str, list[float]] = field(default_factory=dict)

    def bounds(self) -> dict[str, bool]:
        return {
            "images": max(self.image_mb.values()) <= IMAGE_BOUND_MB,
            "up": statistics.median(self.up_seconds) <= UP_BOUND_SECONDS,
            "worker_memory": max(statistics.median(self.memory_mib[w]) for w in WORKERS)
            <= WORKER_MEMORY_BOUND_MIB,
        }


def stack_env() -> dict[str, str]:
    """The offline profile under a project of its own, on free host ports."""
    ports = ("INGEST", "LOCALSTACK", "SLACK_STANDIN", "TRELLO_STANDIN", "CONSOLE")
    return {
        **os.environ,
        "COMPOSE_PROJECT_NAME": f"footprint-{uuid.uuid4().hex[:6]}",
        "COMPOSE_PROFILES": "offline",
        "INGEST_API_TOKEN": secrets.token_urlsafe(16),
        "TAG": TAG,
        **{f"{name}_HOST_PORT": "0" for name in ports},
    }


def run(command: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def image_mb(reference: str) -> float:
    return int(run(["docker", "image", "inspect", "-f", "{{.Size}}", reference], dict(os.environ))) / 1e6


def resident_mib(container: str, env: dict[str, str]) -> float:
    """Resident memory of a container's processes, health-check commands left out."""
    rows = run(["docker", "top", container, "-o", "pid,rss,args"], env).splitlines()[1:]
    kib = [int(row.split()[1]) for row in rows if "ticketrouter.healthcheck" not in row]
    return sum(kib) / 1024


def charged_mib(container: str, env: dict[str, str]) -> float:
    """The container's memory as `docker stats` shows it ("52.3MiB / 23.5GiB")."""
    usage = run(["docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", container], env)
    match = re.match(r"\s*([\d.]+)\s*([A-Za-z]+)", usage)
    if not match:
        raise RuntimeError(f"docker stats said {usage!r}")
    return float(match[1]) * UNITS[match[2]]


def started_at(container: str, env: dict[str, str]) -> float:
    """When the container started, in seconds since the epoch (Docker gives nanoseconds)."""
    stamp = run(["docker", "inspect", "-f", "{{.State.StartedAt}}", container], env).strip()
    whole, _, fraction = stamp.removesuffix("Z").partition(".")
    return datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp() + float(f"0.{fraction or 0}")


def record_phases(began: float, ended: float, env: dict[str, str], footprint: Footprint) -> None:
    """Where the time to healthy went, from the containers' start times."""
    starts = {s: started_at(run(["docker", "compose", "ps", "-q", s], env).strip(), env) for s in MEASURED}
    localstack = started_at(run(["docker", "compose", "ps", "-q", "localstack"], env).strip(), env)
    router = min(starts[s] for s in ("ingest", *WORKERS))
    for phase, seconds in (
        ("until LocalStack starts (build cache check, network, containers created)", localstack - began),
        (
            "LocalStack until healthy (its start and ready hook; the router services wait for it)",
            router - localstack,
        ),
        ("router services until healthy", ended - router),
    ):
        footprint.phases.setdefault(phase, []).append(seconds)


def one_start(env: dict[str, str], idle: float, footprint: Footprint) -> None:
    began, started = time.time(), time.monotonic()
    run(["make", "up"], env)
    footprint.up_seconds.append(time.monotonic() - started)
    try:
        record_phases(began, time.time(), env, footprint)
        time.sleep(idle)  # idle is the point: nothing is sent, nothing is polled but the health checks
        for service in MEASURED:
            [container] = run(["docker", "compose", "ps", "-q", service], env).split()
            footprint.memory_mib.setdefault(service, []).append(charged_mib(container, env))
            footprint.rss_mib.setdefault(service, []).append(resident_mib(container, env))
    finally:
        run(["make", "down"], env)


def measure(runs: int, idle: float) -> Footprint:
    env = stack_env()
    print(f"building the images (tag {TAG}, not timed)", flush=True)
    run(["docker", "compose", "build"], env)
    footprint = Footprint(
        image_mb={s: image_mb(f"ticketrouter/{s}:{TAG}") for s in SERVICES},
        base_mb=image_mb(os.environ.get("BASE_IMAGE", "python:3.12-slim")),
    )
    for i in range(runs):
        one_start(env, idle, footprint)
        print(f"run {i + 1}: healthy in {footprint.up_seconds[-1]:.1f} s", flush=True)
    return footprint


def verdict(met: bool) -> str:
    return "**met**" if met else "**missed**"


def spread(values: list[float], unit: str = "") -> str:
    return f"{statistics.median(values):.1f}{unit} ({min(values):.1f}–{max(values):.1f})"


def section(footprint: Footprint, runs: int, idle: float) -> str:
    bounds = footprint.bounds()
    base = os.environ.get("BASE_IMAGE", "python:3.12-slim")
    return "\n".join([
        MARKERS[0],
        "## Footprint: images, start-up, idle memory",
        "",
        f"Written by `bench/footprint.py` ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{os.cpu_count()} cores). Base image `{base}`: {footprint.base_mb:.0f} MB. The offline profile "
        f"(LocalStack, the stand-ins, the console) started {runs} times with `make up`, every image "
        f"cached; memory read {idle:.0f} s after healthy, no ticket sent.",
        "",
        "| image | size (MB) |",
        "|---|---|",
        *[f"| `ticketrouter/{name}` | {size:.0f} |" for name, size in footprint.image_mb.items()],
        "",
        "| service, idle | memory, `docker stats` (MiB) | RSS of its processes, `docker top` (MiB) |",
        "|---|---|---|",
        *[f"| {name} | {spread(values)} | {spread(footprint.rss_mib[name])} |"
          for name, values in footprint.memory_mib.items()],
        "",
        f"- Bound: each image ≤ {IMAGE_BOUND_MB:.0f} MB — {verdict(bounds['images'])} "
        f"(largest {max(footprint.image_mb.values()):.0f} MB; also a container test, "
        "`test_every_image_stays_within_its_size_bound`).",
        f"- Bound: `make up` with cached images healthy in ≤ {UP_BOUND_SECONDS:.0f} s — "
        f"{verdict(bounds['up'])} ({spread(footprint.up_seconds, ' s')}, median of {runs}); where it went:",
        *[f"  - {phase}: {spread(values, ' s')}" for phase, values in footprint.phases.items()],
        f"- Bound: each idle worker ≤ {WORKER_MEMORY_BOUND_MIB:.0f} MiB (`docker stats`, as issue 11 "
        f"measured it) — {verdict(bounds['worker_memory'])}.",
        "",
        "The RSS column also counts the shared libraries every process maps (libpython, the C extensions). "
        "Ingest's figures are its three processes (gunicorn master and 2 gevent workers). The time to "
        "healthy includes LocalStack's start and its ready hook (the queues and buckets), which every "
        "router service waits for.",
        MARKERS[1],
    ])  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds idle before reading memory")
    parser.add_argument("--output", default=str(ROOT / "bench" / "RESULTS.md"))
    args = parser.parse_args()
    footprint = measure(args.runs, args.idle)
    print(json.dumps({**footprint.__dict__, "bounds": footprint.bounds()}, indent=2), flush=True)
    write_section(Path(args.output), section(footprint, args.runs, args.idle), MARKERS)
    return 0 if all(footprint.bounds().values()) else 1


if __name__ == "__main__":
    sys.exit(main())
