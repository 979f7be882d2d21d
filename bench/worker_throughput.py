"""worker-s3 under AWS-like latency: one at a time, a batch delivered concurrently, two replicas,
and the AWS calls each delivered ticket costs (counted by the latency proxy); then, on the same
stack without added latency, worker-s3 against the emulator's own ceiling (bench/s3_ceiling.py)."""

from __future__ import annotations

import argparse
import contextlib
import time
import uuid
from pathlib import Path
from typing import Any

import s3_ceiling
from driver import Bench
from figures import Figure, figures, pyplot, verdict
from scenario import BenchRun, Scenario, Section
from stacks import base_env, ports

from stack import Stack
from stack_services import PYTHON
from supervise import Service, log_says, running
from tests.faultproxy import FaultProxy

AWS_LATENCY_SECONDS = 0.020
CONCURRENCY_BOUND = 5.0  # worker-s3 batch 10 concurrent / one at a time, under 20 ms latency
REPLICAS_BOUND = 1.7  # two worker-s3 replicas / one, under 20 ms latency
CALLS_TARGET = 3.0  # AWS calls per delivered ticket (worker-s3's batch drain), at most


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--single-messages", type=int, default=100)
    parser.add_argument("--batch-messages", type=int, default=400)


def drain(bench: Bench, proxy: FaultProxy, logs: Path, replicas: int, concurrency: int | None,
          count: int) -> dict[str, Any]:  # fmt: skip
    """worker-s3 replicas (through the latency proxy) drain count seeded tickets: messages/s.

    The workers are started and ready (their loop runs) first; the timer starts before seeding.
    """
    env = {**bench.stack.env, "AWS_ENDPOINT_URL": proxy.url, "WORKER_WAIT_SECONDS": "1"}
    if concurrency:
        env["WORKER_CONCURRENCY"] = str(concurrency)
    tag = f"{replicas}x{concurrency or 'default'}-{uuid.uuid4().hex[:6]}"
    with contextlib.ExitStack() as workers:
        for i in range(replicas):
            worker = Service(f"worker-s3-{tag}-{i}", [PYTHON, "-m", "worker_s3"], log_says("worker ready"))
            workers.enter_context(running(worker, env, logs / f"{worker.name}.log"))
        tickets = bench.tickets("low", count)
        bench.record(tickets)
        calls_before = proxy.calls.copy()
        started = time.perf_counter()
        bench.enqueue("tickets-low", tickets)
        curve = []
        while (left := bench.depth("tickets-low")) and time.perf_counter() - started < 600:
            curve.append((time.perf_counter() - started, count - left))
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        curve.append((elapsed, count - left))
        calls = proxy.calls - calls_before
    if left:
        raise TimeoutError(f"{left} tickets left after 600 s")
    rate = count / elapsed
    print(f"  worker-s3 x{replicas}, concurrency {concurrency or 'default (10)'}: {rate:.1f} msgs/s, "
          f"{sum(calls.values()) / count:.2f} AWS calls per ticket", flush=True)  # fmt: skip
    return {"rate": rate, "calls": dict(calls), "count": count, "curve": curve}


def throughput(stack: Stack, logs: Path, args: argparse.Namespace) -> tuple[dict[str, Figure], dict]:
    """worker-s3 one at a time, batch-concurrent, and 2 replicas, with 20 ms added to each AWS call."""
    bench = Bench(stack)
    rows, last = [], {}
    with FaultProxy(int(stack.env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])) as proxy:
        proxy.set_latency(AWS_LATENCY_SECONDS)
        for _ in range(args.runs):
            single = drain(bench, proxy, logs, 1, 1, args.single_messages)
            batch = drain(bench, proxy, logs, 1, None, args.batch_messages)
            double = drain(bench, proxy, logs, 2, None, args.batch_messages)
            calls = sum(batch["calls"].values()) / batch["count"]
            rows.append({"single": single["rate"], "batch": batch["rate"], "double": double["rate"],
                         "concurrency_ratio": batch["rate"] / single["rate"],
                         "replica_ratio": double["rate"] / batch["rate"], "calls": calls})  # fmt: skip
            last = {"single": single, "batch": batch, "double": double}
    return figures(rows), last


def run(bench: BenchRun) -> Section:
    """One stack without workers; the replicas are started per drain, behind the latency proxy."""
    with bench.aws() as endpoint:
        with Stack(
            log_dir=bench.logs / "workers", ports=ports(), env=base_env(endpoint), workers=()
        ) as stack:
            print("worker throughput under 20 ms AWS latency", flush=True)
            work, drains = throughput(stack, bench.logs, bench.args)
            print("worker-s3 against the emulator's ceiling (no added latency)", flush=True)
            ceiling = figures(s3_ceiling.measure(Bench(stack), bench.args.batch_messages, bench.args.runs))
    plot(bench.out_dir / "throughput.png", drains)
    bounds = {
        "concurrency": work["concurrency_ratio"].median >= CONCURRENCY_BOUND,
        "replicas": work["replica_ratio"].median >= REPLICAS_BOUND,
        "calls": work["calls"].median <= CALLS_TARGET,
        "ceiling": ceiling["ratio"].median >= s3_ceiling.CEILING_BOUND,
    }
    raw = {
        "throughput": {n: f.values for n, f in work.items()},
        "calls": drains["batch"],
        "ceiling": {n: f.values for n, f in ceiling.items()},
    }
    markdown = [
        *section(work, drains["batch"], bench.args, bounds),
        "",
        *s3_ceiling.section(ceiling, bench.args.batch_messages, bounds["ceiling"]),
    ]
    return Section(markdown, bounds, raw)


def plot(path: Path, drains: dict[str, Any]) -> None:
    """Tickets drained over time by each worker-s3 set-up (last run)."""
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(9, 5))
    for key, label in (("single", "1 replica, one at a time"), ("batch", "1 replica, batch of 10 concurrent"),
                       ("double", "2 replicas, batch of 10 concurrent")):  # fmt: skip
        curve = drains[key]["curve"]
        axis.plot([t for t, _ in curve], [n for _, n in curve], label=label)
    axis.set_xlabel("seconds since seeding began")
    axis.set_ylabel("tickets drained")
    axis.set_title(f"worker-s3 with {AWS_LATENCY_SECONDS * 1000:.0f} ms added to every AWS call (last run)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def section(work: dict[str, Figure], calls: dict[str, Any], args: argparse.Namespace,
            bounds: dict[str, bool]) -> list[str]:  # fmt: skip
    return [
        f"## worker-s3 under AWS-like latency ({AWS_LATENCY_SECONDS * 1000:.0f} ms added to every call)",
        "",
        f"`tests/faultproxy.py` sits between the workers and the emulator and delays each request by "
        f"{AWS_LATENCY_SECONDS * 1000:.0f} ms, as a real AWS round trip would. The workers are started and ready "
        f"first; the timer starts before the low tickets are seeded and stops when the queue is empty. One at a "
        f"time: {args.single_messages} tickets, `WORKER_CONCURRENCY=1`; batch: {args.batch_messages} tickets, "
        "batch of 10 delivered concurrently (worker-s3's bound, 10).",
        "",
        "| worker-s3 | messages/s |",
        "|---|---|",
        f"| 1 replica, one at a time | {work['single'].show(lambda v: f'{v:.1f}')} |",
        f"| 1 replica, batch of 10 concurrent | {work['batch'].show(lambda v: f'{v:.1f}')} |",
        f"| 2 replicas, batch of 10 concurrent | {work['double'].show(lambda v: f'{v:.1f}')} |",
        "",
        f"- Bound: batch concurrent ≥ {CONCURRENCY_BOUND:.0f}× one at a time — {verdict(bounds['concurrency'])} "
        f"({work['concurrency_ratio'].show()}×).",
        f"- Bound: 2 replicas ≥ {REPLICAS_BOUND}× one — {verdict(bounds['replicas'])} "
        f"({work['replica_ratio'].show()}×).",
        "",
        "![tickets drained over time](throughput.png)",
        "",
        "## AWS calls per delivered ticket",
        "",
        f"Counted by the proxy (every request the workers made, by operation) over the {calls['count']} tickets of "
        "the last batch drain, empty long polls included:",
        "",
        "| operation | calls | per ticket |",
        "|---|---|---|",
        *[f"| {op} | {n} | {n / calls['count']:.2f} |" for op, n in sorted(calls["calls"].items())],
        f"| **all** | {sum(calls['calls'].values())} | **{work['calls'].show()}** |",
        "",
        "A first delivery costs the S3 object's create-only PUT (it is the claim: S3 refuses a second copy), "
        "the ledger record's one conditional PUT (IfMatch the ETag of the record as ingest created it, rebuilt "
        "from the ticket), and a tenth of a ReceiveMessage and of a DeleteMessageBatch.",
        f"- Bound: ≤ {CALLS_TARGET:.0f} AWS calls per ticket — {verdict(bounds['calls'])} ({work['calls'].median:.2f}).",
    ]


SCENARIO = Scenario("throughput", run, add_arguments)
