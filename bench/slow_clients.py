"""Slow clients against ingest: can a normal client still get its 202 within 1 s?

`.venv/bin/python bench/slow_clients.py` (about 5 minutes) starts moto, the stand-ins and gunicorn
ingest on free loopback ports (the same code as `make dev`), opens 200 connections that send a
request line and then one header byte every 2 s (reopened when ingest cuts them off, all closed
after at most 60 s), and meanwhile submits tickets from one normal client, one at a time. Each run
counts the submissions answered 202 within 1 s; the figure is the median over the runs. It then
does one run with the old configuration (gthread, 2 processes × 4 threads) for comparison and
writes its section of bench/RESULTS.md (`make bench` keeps it).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))
from probes import free_port  # noqa: E402
from stack import Stack  # noqa: E402
from stack_services import Ports  # noqa: E402
from tests.support import SlowClients  # noqa: E402

TOKEN = "bench-token"
BOUND_SECONDS = 1.0
BOUND_SHARE = 0.99
START, END = "<!-- slow-clients:start -->", "<!-- slow-clients:end -->"
OLD_CONFIG = "--worker-class gthread --threads 4"


def stack_env(gunicorn_args: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INGEST_", "GUNICORN_"))}
    env.update(INGEST_API_TOKEN=TOKEN, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
               AWS_REGION="us-east-1", LOG_LEVEL="WARNING")  # fmt: skip
    if gunicorn_args:
        env["GUNICORN_CMD_ARGS"] = gunicorn_args
    return env


def one_run(slow: int, seconds: float, pause: float, gunicorn_args: str, log_dir: Path) -> dict[str, float]:
    """One attack: returns samples, share within the bound, p50/p99 of the answered, reopened."""
    ports = Ports(aws=free_port(), ingest=free_port(), slack=free_port(), trello=free_port(),
                  worker_metrics=(free_port(),) * 3, ingest_metrics=free_port())  # fmt: skip
    body = {"title": "normal client", "priority": "low", "description": "during the attack"}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with Stack(log_dir=log_dir, ports=ports, env=stack_env(gunicorn_args), workers=()) as stack:
        url = f"{stack.ingest_url}/tickets"
        for _ in range(5):  # warm-up: queues resolved, connections pooled
            requests.post(url, json=body, headers=headers, timeout=10).raise_for_status()
        timings: list[float | None] = []
        with SlowClients(stack.ports.ingest, count=slow, interval=2.0, max_seconds=seconds + 5) as attack:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    ok = requests.post(url, json=body, headers=headers, timeout=5).status_code == 202
                except requests.RequestException:
                    ok = False
                timings.append(time.perf_counter() - started if ok else None)
                time.sleep(pause)
            reopened = attack.reopened
    answered = sorted(t for t in timings if t is not None)
    within = sum(1 for t in answered if t <= BOUND_SECONDS)
    return {
        "samples": len(timings),
        "share": within / len(timings),
        "p50": answered[len(answered) // 2] if answered else float("nan"),
        "p99": answered[max(0, int(len(answered) * 0.99) - 1)] if answered else float("nan"),
        "reopened": reopened,
    }


def ms(seconds: float) -> str:
    return "—" if math.isnan(seconds) else f"{seconds * 1000:.0f} ms"


def section(runs: list[dict[str, float]], old: dict[str, float], args: argparse.Namespace) -> str:
    share = statistics.median(r["share"] for r in runs)
    met = "met" if share >= BOUND_SHARE else "NOT met"
    rows = [
        f"| {label} | {r['samples']} | {r['share'] * 100:.1f} % | {ms(r['p50'])} | {ms(r['p99'])} | "
        f"{r['reopened']} |"
        for label, r in [
            *((f"gevent (run {i + 1})", r) for i, r in enumerate(runs)),
            ("old: gthread 2 × 4", old),
        ]
    ]
    return "\n".join([
        START,
        "## Slow clients",
        "",
        f"Written by `bench/slow_clients.py` ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; moto server as the emulator). "
        f"{args.slow} connections send a request line, then one header byte every 2 s (reopened when "
        f"ingest cuts them off, all closed after at most {args.seconds + 5:.0f} s); meanwhile one normal "
        f"client submits tickets one at a time ({args.pause:g} s apart) for {args.seconds:.0f} s. "
        f"Good = 202 within {BOUND_SECONDS:g} s (a 5 s client timeout counts as a failure). "
        "Ingest: 2 gevent processes, request head within 5 s (`INGEST_HEADER_TIMEOUT_SECONDS`).",
        "",
        "| configuration | samples | 202 within 1 s | p50 answered | p99 answered | slow ones cut off |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"Median of {len(runs)} runs: **{share * 100:.1f} %** within {BOUND_SECONDS:g} s — bound "
        f"(≥ {BOUND_SHARE * 100:.0f} %) **{met}**.",
        END,
    ])  # fmt: skip


def write_section(path: Path, text: str, markers: tuple[str, str] = (START, END)) -> None:
    """Replace a script's section of RESULTS.md (between its markers), or append it."""
    start, end = markers
    current = path.read_text() if path.exists() else ""
    if start in current and end in current:
        before, _, rest = current.partition(start)
        _, _, after = rest.partition(end)
        current = before + text + after
    else:
        current = current.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(current)


def kept_section(path: Path, markers: tuple[str, str] = (START, END)) -> str:
    """A script's section of an existing RESULTS.md ("" if none), for `make bench` to keep."""
    start, end = markers
    current = path.read_text() if path.exists() else ""
    if start not in current or end not in current:
        return ""
    return start + current.partition(start)[2].partition(end)[0] + end + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--slow", type=int, default=200, help="slow connections held open")
    parser.add_argument("--seconds", type=float, default=55, help="how long the normal client submits")
    parser.add_argument(
        "--pause", type=float, default=0.2, help="seconds between the normal client's tickets"
    )
    parser.add_argument("--output", default=str(ROOT / "bench" / "RESULTS.md"))
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="bench-slow-clients-"))
    runs = []
    for i in range(args.runs):
        runs.append(one_run(args.slow, args.seconds, args.pause, "", logs / f"gevent-{i}"))
        print(f"gevent run {i + 1}: {runs[-1]}", flush=True)
    old = one_run(args.slow, args.seconds, args.pause, OLD_CONFIG, logs / "gthread")
    print(f"old gthread: {old}", flush=True)
    write_section(Path(args.output), section(runs, old, args))
    print(f"wrote {args.output}; logs in {logs}", flush=True)
    return 0 if statistics.median(r["share"] for r in runs) >= BOUND_SHARE else 1


if __name__ == "__main__":
    sys.exit(main())
