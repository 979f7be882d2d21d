"""Ingest against the cost of its own AWS calls (issue 11, item 4).

In one run, on the stack's emulator: keyless POST /tickets to ingest and to a bare gunicorn
endpoint (bench/bare_app.py: the same gunicorn configuration, the same two AWS calls, nothing
else) at 8 and 32 clients, alternating which goes first; the ratio ingest / bare is taken
within each run. Then the AWS calls per accepted keyless ticket, counted by tests/faultproxy.py
in front of a one-process ingest, and where ingest's time goes: a cProfile of one ingest process
(bench/profiled_gunicorn.conf.py) under 8 clients.

`make bench` calls measure() and render(); `python bench/ingest_ceiling.py` runs it alone
(inside `unshare --net`, like make bench) and prints the section.
"""

from __future__ import annotations

import concurrent.futures
import json
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))
from figures import Figure, verdict  # noqa: E402
from ingest_profile import profile_table, summarise  # noqa: E402
from scenario import BenchRun, Scenario, Section  # noqa: E402
from stacks import BENCH, base_env, ports  # noqa: E402

from probes import free_port, http_ok  # noqa: E402
from stack import Stack  # noqa: E402
from stack_services import PYTHON  # noqa: E402
from supervise import Service, running, wait_until  # noqa: E402
from tests.faultproxy import FaultProxy  # noqa: E402

CEILING_BOUND = 0.7  # ingest / bare endpoint, at least, at every client count
CALLS_BOUND = 2.0  # AWS calls per accepted keyless ticket, at most
CLIENTS = (8, 32)
INGEST_CONFIG = "ingest/gunicorn.conf.py"
PROFILED_CONFIG = "bench/profiled_gunicorn.conf.py"


@contextmanager
def gunicorn(app: str, env: dict[str, str], log: Path, config: str = INGEST_CONFIG) -> Iterator[str]:
    """gunicorn serving app with ingest's configuration on a free port, ready inside the block."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [PYTHON, "-m", "gunicorn", "-c", str(ROOT / config), "-b", f"127.0.0.1:{port}", app]
    service = Service(app, argv, lambda s: s.running() and http_ok(url + "/readyz"))
    with running(service, {**env, "INGEST_METRICS_PORT": ""}, log):
        yield url


def post_rate(url: str, token: str, clients: int, count: int) -> float:
    """Accepted keyless tickets per second: count POST /tickets (each body unique) from clients
    threads, timed from before the first request to the last answer."""
    left = iter(range(count))
    lock = threading.Lock()

    def client() -> None:
        session = requests.Session()
        headers = {"Authorization": f"Bearer {token}"}
        while True:
            with lock:
                if next(left, None) is None:
                    return
            body = {"title": f"ceiling {uuid.uuid4()}", "priority": "low", "description": "benchmark ticket"}
            response = session.post(f"{url}/tickets", json=body, headers=headers, timeout=30)
            if response.status_code != 202:
                raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:300]}")

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    return count / (time.perf_counter() - started)


def throughput(stack: Stack, logs: Path, runs: int, posts: int) -> dict[int, dict[str, list[float]]]:
    """Tickets/s of ingest and of the bare endpoint, and their ratio, per client count and run."""
    rates: dict[int, dict[str, list[float]]] = {n: {"ingest": [], "bare": [], "ratio": []} for n in CLIENTS}
    with gunicorn("bare_app:create_app()", stack.env, logs / "bare-app.log") as bare:
        targets = {"ingest": stack.ingest_url, "bare": bare}
        for url in targets.values():  # warm up: connections, queue URLs, code paths
            post_rate(url, stack.token, 4, 40)
        for run in range(runs):
            for clients in CLIENTS:
                order = ["ingest", "bare"] if run % 2 == 0 else ["bare", "ingest"]
                measured = {name: post_rate(targets[name], stack.token, clients, posts) for name in order}
                for name, rate in measured.items():
                    rates[clients][name].append(rate)
                rates[clients]["ratio"].append(measured["ingest"] / measured["bare"])
                ratio = rates[clients]["ratio"][-1]
                ingest, bare = measured["ingest"], measured["bare"]
                print(
                    f"  {clients} clients: ingest {ingest:.0f}/s, bare {bare:.0f}/s, ratio {ratio:.2f}",
                    flush=True,
                )
    return rates


def calls_per_ticket(stack: Stack, logs: Path, count: int) -> Counter[str]:
    """AWS calls a one-process ingest makes for count keyless tickets, by operation, counted by
    a proxy in front of the emulator (start-up's queue resolution and readiness excluded)."""
    emulator_port = urlsplit(stack.env["AWS_ENDPOINT_URL"]).port or 80
    with FaultProxy(emulator_port) as proxy:
        env = {**stack.env, "AWS_ENDPOINT_URL": proxy.url, "INGEST_WORKERS": "1"}
        with gunicorn("ingest:create_app()", env, logs / "ingest-counted.log") as url:
            before = Counter(proxy.calls)
            post_rate(url, stack.token, 4, count)
            return Counter(proxy.calls) - before


def profile(stack: Stack, logs: Path, posts: int) -> dict[str, Any]:
    """cProfile of one ingest process serving posts keyless tickets from 8 clients, summarised."""
    directory = logs / "profile"
    directory.mkdir(parents=True, exist_ok=True)
    env = {**stack.env, "INGEST_WORKERS": "1", "INGEST_PROFILE_DIR": str(directory)}
    started = time.perf_counter()
    with gunicorn("ingest:create_app()", env, logs / "ingest-profiled.log", PROFILED_CONFIG) as url:
        post_rate(url, stack.token, 8, posts)
    wait_until(lambda: any(directory.glob("*.prof")), 30, "profile written")
    return {"posts": posts, "seconds": time.perf_counter() - started, **summarise(directory)}


def measure(stack: Stack, logs: Path, runs: int = 3, posts: int = 300) -> dict[str, Any]:
    """Every figure of the section, from a running stack (emulator and ingest; workers not needed)."""
    print("ingest against a bare endpoint making the same AWS calls", flush=True)
    logs.mkdir(parents=True, exist_ok=True)
    rates = throughput(stack, logs, runs, posts)
    counted, calls = 100, calls_per_ticket(stack, logs, 100)
    top = profile(stack, logs, 600)
    per_ticket = sum(calls.values()) / counted
    bounds = {
        **{f"ceiling_{n}": statistics.median(rates[n]["ratio"]) >= CEILING_BOUND for n in CLIENTS},
        "ingest_calls": per_ticket <= CALLS_BOUND,
    }
    results = {"rates": rates, "calls": dict(calls), "counted": counted, "per_ticket": per_ticket,
               "profile": top, "bounds": bounds, "runs": runs, "posts": posts}  # fmt: skip
    (logs / "results.json").write_text(json.dumps(results, indent=2))
    return results


def render(results: dict[str, Any]) -> list[str]:
    """The RESULTS.md section."""
    rates, bounds, top = results["rates"], results["bounds"], results["profile"]
    calls = ", ".join(f"{op} {n}" for op, n in sorted(results["calls"].items()))
    lines = [
        "## Ingest against the cost of its own AWS calls",
        "",
        f"Keyless `POST /tickets` (each body unique, low priority), {results['posts']} per measurement, to "
        "ingest and to `bench/bare_app.py`: the same gunicorn configuration (`ingest/gunicorn.conf.py`) "
        "serving an endpoint that makes exactly ingest's AWS calls for such a ticket (the ledger record's "
        "conditional PUT, then `SendMessage`) and nothing else. Which goes first alternates between runs; "
        f"the ratio is taken within each run. Median of {results['runs']} runs (min–max).",
        "",
        "| clients | ingest tickets/s | bare endpoint tickets/s | ingest / bare |",
        "|---|---|---|---|",
        *[
            f"| {n} | {Figure(rates[n]['ingest']).show()} | {Figure(rates[n]['bare']).show()} | **{Figure(rates[n]['ratio']).show()}** |"
            for n in CLIENTS
        ],
        "",
        *[
            f"- Bound: ingest ≥ {CEILING_BOUND}× the bare endpoint at {n} clients — "
            f"{verdict(bounds[f'ceiling_{n}'])}."
            for n in CLIENTS
        ],
        f"- Bound: ≤ {CALLS_BOUND:.0f} AWS calls per accepted keyless ticket — "
        f"{verdict(bounds['ingest_calls'])} ({results['per_ticket']:.2f}: {calls} for {results['counted']} "
        "tickets, counted by `tests/faultproxy.py` in front of a one-process ingest).",
        "",
        "Where ingest's time goes: cProfile of one ingest process (`bench/profiled_gunicorn.conf.py`, "
        f"gevent) serving {top['posts']} keyless tickets from 8 clients ({top['seconds']:.0f} s under the "
        f"profiler, {top['total']:.1f} s of own time counted). Own time only: under gevent a cumulative time "
        "also counts what other greenlets ran meanwhile.",
        "",
        *profile_table(top),
        "",
    ]
    return lines


def run(bench: BenchRun) -> Section:
    """The scenario for bench/run.py: a stack without workers on a fresh AWS endpoint."""
    logs = bench.logs / "ingest-ceiling"
    with bench.aws() as endpoint:
        with Stack(log_dir=logs, ports=ports(), env=base_env(endpoint), workers=()) as stack:
            results = measure(stack, logs, bench.args.runs)
    return Section(render(results), results["bounds"], {"ingest_ceiling": results})


SCENARIO = Scenario("ingest", run)


def main() -> int:
    """Alone: a stack without workers on make dev's emulator, the figures, the section printed."""
    import argparse
    from datetime import UTC, datetime

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--posts", type=int, default=300)
    args = parser.parse_args()
    logs = BENCH / "results" / ("ceiling-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S"))
    logs.mkdir(parents=True, exist_ok=True)
    with Stack(log_dir=logs, ports=ports(), env=base_env(None), workers=()) as stack:
        results = measure(stack, logs, args.runs, args.posts)
    print("\n".join(render(results)))
    print(f"bounds: {results['bounds']}")
    return 0 if all(results["bounds"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
