"""Priority isolation: high-ticket latency on idle queues, then behind a flood, for the router's
priority queues and for a single shared queue (bench/shared_worker.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from driver import Bench
from figures import Figure, figures, ms, percentile, pyplot, tail, verdict
from scenario import BenchRun, Scenario, Section
from stacks import base_env, ports

from stack import Stack
from supervise import wait_until

SHARED_QUEUE = "tickets-shared"
ISOLATION_BOUND = 1.5  # high p99 under flood / idle p99, at most
INGEST_FLOOD_BOUND = 100.0  # tickets/s accepted during the flood, at least


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--high", type=int, default=100)
    parser.add_argument("--low", type=int, default=2000)
    parser.add_argument("--medium", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--ingest-posts", type=int, default=600)


def isolation_run(bench: Bench, shared: bool, args: argparse.Namespace) -> tuple[dict[str, float], dict]:
    """High-ticket latency on idle queues, then behind a flood: a backlog of low and medium tickets
    queued at once, ingest loaded with more low tickets, then the high tickets again.

    Returns the row and, for the plot, the latencies of the high tickets and of a flood sample.
    """
    idle = bench.latencies(bench.paced("high", args.high, 5), 120)
    low_queue, medium_queue = (SHARED_QUEUE, SHARED_QUEUE) if shared else ("tickets-low", "tickets-medium")
    queues = {low_queue, medium_queue}
    backlog = {"low": bench.tickets("low", args.low), "medium": bench.tickets("medium", args.medium)}
    bench.record(backlog["low"] + backlog["medium"])  # as ingest would have
    bench.enqueue(low_queue, backlog["low"])
    bench.enqueue(medium_queue, backlog["medium"])
    ingest_rate, _ = bench.ingest_load(args.ingest_posts, args.clients)
    waiting = sum(bench.depth(q) for q in queues)
    flood = bench.latencies(bench.paced("high", args.high, 5), 600)
    # Whatever is left of the backlog is purged: it is not measured (only a sample, for the plot).
    bench.purge(*queues)
    wait_until(lambda: sum(bench.depth(q) for q in queues) == 0, 120, "backlog cleared")
    (idle_name, idle_tail), (flood_name, flood_tail) = tail(idle), tail(flood)
    row = {"idle_p50": percentile(idle, 0.5), "idle_tail": idle_tail, "flood_p50": percentile(flood, 0.5),
           "flood_tail": flood_tail, "ratio": flood_tail / idle_tail, "ingest_rate": ingest_rate,
           "backlog": waiting}  # fmt: skip
    design = "shared queue" if shared else "priority queues"
    print(f"  {design}: idle p50 {ms(row['idle_p50'])} {idle_name} {ms(idle_tail)}; under the flood p50 "
          f"{ms(row['flood_p50'])} {flood_name} {ms(flood_tail)}: {row['ratio']:.2f}x; ingest during the flood "
          f"{ingest_rate:.0f}/s; backlog when the high tickets began {waiting}", flush=True)  # fmt: skip
    samples = {"high_idle": idle, "high_flood": flood}
    if not shared:
        for priority, tickets in backlog.items():
            samples[priority] = [bench.latency(t.id) for t in tickets[:: max(1, len(tickets) // 50)]]
    return row, samples


def isolation(stack: Stack, shared: bool, args: argparse.Namespace) -> tuple[dict[str, Figure], dict]:
    runs = [isolation_run(Bench(stack), shared, args) for _ in range(args.runs)]
    return figures([row for row, _ in runs]), runs[-1][1]


def run(bench: BenchRun) -> Section:
    """Both designs, each on a fresh stack; then the plot and the section."""
    with bench.aws() as endpoint:
        with Stack(log_dir=bench.logs / "priority", ports=ports(), env=base_env(endpoint)) as stack:
            print("priority isolation (priority queues)", flush=True)
            router, router_samples = isolation(stack, False, bench.args)
    with bench.aws() as endpoint:
        env = base_env(endpoint, QUEUE_HIGH=SHARED_QUEUE, QUEUE_MEDIUM=SHARED_QUEUE, QUEUE_LOW=SHARED_QUEUE,
                       WORKER_CONCURRENCY="5")  # fmt: skip
        workers = ("shared_worker",) * 3  # as many workers as the router runs
        with Stack(log_dir=bench.logs / "shared", ports=ports(), env=env, workers=workers) as stack:
            print("priority isolation (single shared queue)", flush=True)
            shared, shared_samples = isolation(stack, True, bench.args)
    plot(bench.out_dir / "isolation.png", router_samples, shared_samples)
    bounds = {
        "isolation": router["ratio"].median <= ISOLATION_BOUND,
        "ingest": router["ingest_rate"].median >= INGEST_FLOOD_BOUND,
    }
    raw = {
        "isolation": {n: f.values for n, f in router.items()},
        "shared": {n: f.values for n, f in shared.items()},
    }
    return Section(section(router, shared, bench.args, bounds), bounds, raw)


def plot(path: Path, router: dict[str, Any], shared: dict[str, Any]) -> None:
    """High-ticket latency idle and under the flood, beside the flood's own tickets (last run)."""
    plt = pyplot()
    figure, (high, flood) = plt.subplots(1, 2, figsize=(12, 5))
    for label, values, style in (
        ("idle queues", router["high_idle"], "o"),
        ("under the flood, priority queues", router["high_flood"], "s"),
        ("under the flood, single shared queue", shared["high_flood"], "x"),
    ):
        high.plot([i / 5 for i in range(len(values))], values, style, markersize=3, label=label)
    high.set_yscale("log")
    high.set_xlabel("submitted at (s, 5 per second)")
    high.set_ylabel("latency, ingest → destination (s, log)")
    high.set_title("high tickets")
    high.legend(fontsize=8)
    for priority, style in (("medium", "^"), ("low", ".")):
        points = [(i, v) for i, v in enumerate(router[priority]) if v is not None]
        flood.plot([i for i, _ in points], [v for _, v in points], style, markersize=4, label=priority)
    flood.set_xlabel("position in the backlog (sample of ~50; purged ones missing)")
    flood.set_ylabel("latency (s)")
    flood.set_title("the flood's own tickets, priority queues")
    flood.legend(fontsize=8)
    figure.suptitle("Latency per priority under the flood (last run)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def section(iso: dict[str, Figure], shared: dict[str, Figure], args: argparse.Namespace,
            bounds: dict[str, bool]) -> list[str]:  # fmt: skip
    tail_name = "p99" if args.high >= 100 else "max"
    return [
        "## Priority isolation on `make dev`'s emulator",
        "",
        f"{args.high} high tickets submitted at 5/s on idle queues. Then the flood: {args.low} low and "
        f"{args.medium} medium tickets put on their queues at once, {args.ingest_posts} more low tickets "
        f"submitted through ingest by {args.clients} clients (ingest's rate while the queues are deep), and "
        f"another {args.high} high tickets at 5/s while the backlog is queued and being drained; what is left of "
        "it is then purged. Latency = creation at ingest → destination accepted (from the ledger).",
        "",
        f"| design | workers | idle p50 | idle {tail_name} | under the flood p50 | under the flood {tail_name} | "
        f"{tail_name} flood / idle | ingest during the flood | backlog when the high tickets began |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| priority queues (this router) | 3 (Slack 1 + Trello 4 + S3 10 in flight) | {iso['idle_p50'].show(ms)} "
        f"| {iso['idle_tail'].show(ms)} | {iso['flood_p50'].show(ms)} | {iso['flood_tail'].show(ms)} "
        f"| **{iso['ratio'].show()}** | {iso['ingest_rate'].show(lambda v: f'{v:.0f}/s')} "
        f"| {iso['backlog'].show(lambda v: f'{v:.0f}')} |",
        f"| single shared queue (`bench/shared_worker.py`) | 3 (5 in flight each) | {shared['idle_p50'].show(ms)} "
        f"| {shared['idle_tail'].show(ms)} | {shared['flood_p50'].show(ms)} | {shared['flood_tail'].show(ms)} "
        f"| {shared['ratio'].show()} | {shared['ingest_rate'].show(lambda v: f'{v:.0f}/s')} "
        f"| {shared['backlog'].show(lambda v: f'{v:.0f}')} |",
        "",
        f"- Bound: high {tail_name} under the flood ≤ {ISOLATION_BOUND}× idle — {verdict(bounds['isolation'])} "
        f"({iso['ratio'].median:.2f}×).",
        f"- Bound: ingest ≥ {INGEST_FLOOD_BOUND:.0f} tickets/s during the flood — {verdict(bounds['ingest'])} "
        f"({iso['ingest_rate'].median:.0f}/s).",
        "",
        "Ingest makes 2 AWS calls per keyless ticket (the ledger record's conditional create, which is also "
        "its dedup binding, then SendMessage) on the same single-process emulator that the workers are "
        "draining the backlog from.",
        "",
        "![latency per priority under the flood](isolation.png)",
        "",
    ]


SCENARIO = Scenario("isolation", run, add_arguments)
