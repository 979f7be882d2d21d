"""The router's benchmarks: `make bench`. Prints figures as it goes, writes bench/RESULTS.md and
two plots, and exits 1 when a bound is missed.

Everything runs on this machine, on the AWS emulator `make dev` itself starts (the same Stack,
scripts/emulator.py): the Slack/Trello stand-ins, gunicorn ingest and the workers. Load comes
from threads in this process. The machine is noisy: each figure is the median of --runs runs
(min–max shown), and ratios are taken within one run.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from slow_clients import kept_section  # noqa: E402

sys.path.insert(0, str(ROOT))
from emulator import chosen_emulator  # noqa: E402
from ingest_ceiling import measure as measure_ceiling  # noqa: E402
from ingest_ceiling import render as render_ceiling  # noqa: E402

from devstack import PYTHON, Ports, Stack, free_port, http_ok, wait_until  # noqa: E402
from tests.faultproxy import FaultProxy  # noqa: E402
from ticketrouter.ledger import Ledger  # noqa: E402
from ticketrouter.ticket import Ticket, parse_submission  # noqa: E402

BENCH = ROOT / "bench"
TOKEN = "bench-token"
SHARED_QUEUE = "tickets-shared"
AWS_LATENCY_SECONDS = 0.020
# The bounds make bench checks (issue 11); a missed one makes it exit 1.
ISOLATION_BOUND = 1.5  # high p99 under flood / idle p99, at most
INGEST_FLOOD_BOUND = 100.0  # tickets/s accepted during the flood, at least
CONCURRENCY_BOUND = 5.0  # worker-s3 batch 10 concurrent / one at a time, under 20 ms latency
REPLICAS_BOUND = 1.7  # two worker-s3 replicas / one, under 20 ms latency
CALLS_TARGET = 3.0  # AWS calls per delivered ticket: reported, not yet met (see RESULTS.md)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def tail(values: list[float]) -> tuple[str, float]:
    """("p99", value) with at least 100 samples; below that a p99 is only the maximum: ("max", ...)."""
    return ("p99", percentile(values, 0.99)) if len(values) >= 100 else ("max", max(values))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


@dataclass
class Figure:
    """One figure over runs: the median, with min and max."""

    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def show(self, unit: Callable[[float], str] = lambda v: f"{v:.2f}") -> str:
        low, high = min(self.values), max(self.values)
        return (
            f"{unit(self.median)} ({unit(low)}–{unit(high)})" if len(self.values) > 1 else unit(self.median)
        )


def figures(rows: list[dict[str, float]]) -> dict[str, Figure]:
    return {key: Figure([row[key] for row in rows]) for key in rows[0]}


@contextmanager
def process(argv: list[str], env: dict[str, str], ready: Callable[[], bool], log: Path) -> Iterator[None]:
    """A subprocess in its own session, ready-checked, and stopped (group-wide) on exit."""
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        wait_until(lambda: proc.poll() is None and ready(), 60, " ".join(argv[:3]))
        yield
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@contextmanager
def localstack(image: str, logs: Path) -> Iterator[str]:
    """LocalStack in a container, its port published on loopback only."""
    port = free_port()
    name = f"ticketrouter-bench-localstack-{port}"
    token = os.environ.get("LOCALSTACK_AUTH_TOKEN", "")
    subprocess.run(["docker", "run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1:{port}:4566",
                    "-e", "SERVICES=sqs,s3", "-e", "SQS_ENDPOINT_STRATEGY=path", "-e", f"LOCALSTACK_AUTH_TOKEN={token}",
                    image], check=True, capture_output=True, timeout=120)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_ok(f"{url}/_localstack/health"), 180, "LocalStack")
        yield url
    finally:
        logs_text = subprocess.run(["docker", "logs", name], capture_output=True, text=True).stdout
        (logs / f"localstack-{port}.log").write_text(logs_text)
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def base_env(endpoint: str | None, **extra: str) -> dict[str, str]:
    """The stack's environment; endpoint None lets the Stack start make dev's own emulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "QUEUE_", "SLACK_", "TRELLO_"))}
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1",
               INGEST_API_TOKEN=TOKEN, WORKER_WAIT_SECONDS="20", PYTHONPATH=str(BENCH), **extra)  # fmt: skip
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    return env


def ports() -> Ports:
    return Ports(aws=free_port(), ingest=free_port(), slack=free_port(), trello=free_port(),
                 worker_metrics=(free_port(), free_port(), free_port()), ingest_metrics=free_port())  # fmt: skip


def aws_clients(endpoint: str) -> tuple[Any, Any]:
    kwargs = {"endpoint_url": endpoint, "region_name": "us-east-1", "aws_access_key_id": "test",
              "aws_secret_access_key": "test", "config": Config(s3={"addressing_style": "path"},
              max_pool_connections=50)}  # fmt: skip
    return boto3.client("sqs", **kwargs), boto3.client("s3", **kwargs)


class Bench:
    """Talks to a running stack: submits, seeds queues, reads the ledger."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.sqs, self.s3 = aws_clients(stack.env["AWS_ENDPOINT_URL"])
        self.session = requests.Session()

    def submit(self, priority: str, session: requests.Session | None = None) -> str:
        # A unique title: ingest makes one ticket of identical keyless bodies within its window.
        response = (session or self.session).post(
            f"{self.stack.ingest_url}/tickets", timeout=30, headers={"Authorization": f"Bearer {TOKEN}"},
            json={"title": f"bench {uuid.uuid4()}", "priority": priority, "description": "benchmark ticket"},
        )  # fmt: skip
        if response.status_code != 202:
            raise RuntimeError(f"ingest answered {response.status_code}: {response.text[:300]}")
        return response.json()["ticket_id"]

    def queue_url(self, name: str) -> str:
        return self.sqs.get_queue_url(QueueName=name)["QueueUrl"]

    @staticmethod
    def tickets(priority: str, count: int) -> list[Ticket]:
        return [Ticket.from_submission(parse_submission({"title": f"backlog {i}", "priority": priority,
                "description": "seed"})) for i in range(count)]  # fmt: skip

    def record(self, tickets: list[Ticket]) -> None:
        """Create the tickets' ledger records, as ingest does before a worker sees them."""
        ledger = Ledger(self.s3, "tickets-ledger")
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(ledger.create, tickets))

    def enqueue(self, queue: str, tickets: list[Ticket]) -> None:
        """Put the tickets straight on a queue, 10 per call from 8 threads."""
        url = self.queue_url(queue)

        def batch(start: int) -> None:
            entries = [
                {"Id": str(i), "MessageBody": t.to_message()}
                for i, t in enumerate(tickets[start : start + 10])
            ]
            self.sqs.send_message_batch(QueueUrl=url, Entries=entries)

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(batch, range(0, len(tickets), 10)))

    def depth(self, queue: str) -> int:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url(queue), AttributeNames=names)
        return sum(int(v) for v in attributes["Attributes"].values())

    def purge(self, *queues: str) -> None:
        for queue in queues:
            self.sqs.purge_queue(QueueUrl=self.queue_url(queue))

    def latency(self, ticket_id: str) -> float | None:
        """Seconds from creation at ingest to the destination's acceptance, from the ledger."""
        try:
            body = self.s3.get_object(Bucket="tickets-ledger", Key=f"tickets/{ticket_id}.json")["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        record = json.loads(body)
        delivered = [h["at"] for h in record.get("history", []) if h["status"] == "delivered"]
        if not delivered:
            return None
        return (
            datetime.fromisoformat(delivered[-1]) - datetime.fromisoformat(record["created_at"])
        ).total_seconds()

    def latencies(self, ids: list[str], timeout: float) -> list[float]:
        """Wait until every ticket is delivered (or the timeout), return their latencies in order."""
        found: dict[str, float] = {}
        deadline = time.monotonic() + timeout
        while len(found) < len(ids) and time.monotonic() < deadline:
            for tid in ids:
                if tid not in found and (value := self.latency(tid)) is not None:
                    found[tid] = value
            time.sleep(0.5)
        if len(found) < len(ids):
            raise TimeoutError(
                f"{len(ids) - len(found)} of {len(ids)} tickets not delivered in {timeout:.0f} s"
            )
        return [found[tid] for tid in ids]

    def paced(self, priority: str, count: int, per_second: float) -> list[str]:
        """Submit count tickets at a steady pace."""
        ids = []
        start = time.monotonic()
        for i in range(count):
            time.sleep(max(0.0, start + i / per_second - time.monotonic()))
            ids.append(self.submit(priority))
        return ids

    def ingest_load(self, count: int, clients: int) -> tuple[float, list[str]]:
        """Submit count low tickets through ingest from clients threads.

        Returns (accepted tickets/s, their ids); the timer starts before the first request.
        """
        left = iter(range(count))
        lock = threading.Lock()
        ids: list[str] = []

        def client() -> None:
            session = requests.Session()
            while True:
                with lock:
                    if next(left, None) is None:
                        return
                ticket_id = self.submit("low", session)
                with lock:
                    ids.append(ticket_id)

        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            for future in [pool.submit(client) for _ in range(clients)]:
                future.result()
        return count / (time.perf_counter() - started), ids


# --- priority isolation ---------------------------------------------------------------


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


# --- worker throughput under AWS-like latency ------------------------------------------


def ready_in_log(log: Path) -> Callable[[], bool]:
    return lambda: log.exists() and '"message": "worker ready"' in log.read_text(errors="replace")


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
            log = logs / f"worker-s3-{tag}-{i}.log"
            workers.enter_context(process([PYTHON, "-m", "worker_s3"], env, ready_in_log(log), log))
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


# --- the report ---------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    memory = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))  # fmt: skip
    versions = subprocess.run(
        [PYTHON, "-m", "pip", "list", "--format=json"], capture_output=True, text=True
    ).stdout
    wanted = {"gunicorn", "flask", "boto3", "botocore"}
    packages = {p["name"].lower(): p["version"] for p in json.loads(versions) if p["name"].lower() in wanted}
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu, "cores": str(os.cpu_count()),
            "memory": f"{int(memory) / 1024 / 1024:.0f} GiB", "os": platform.platform(),
            "python": platform.python_version(), "load": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
            **packages}  # fmt: skip


def gunicorn_shape(env: dict[str, str]) -> str:
    """Processes × threads of ingest's gunicorn, read from its configuration file (in a child
    process, as gunicorn would evaluate it with the stack's environment)."""
    code = "import runpy, sys; c = runpy.run_path(sys.argv[1]); print(c['workers'], c['threads'])"
    config = ROOT / "ingest" / "gunicorn.conf.py"
    result = subprocess.run(
        [PYTHON, "-c", code, str(config)], env=env, capture_output=True, text=True, timeout=30
    )
    workers, threads = result.stdout.split()
    return f"{workers} processes × {threads} threads"


def verdict(met: bool) -> str:
    return "**met**" if met else "**NOT met**"


def plot(path_isolation: Path, path_throughput: Path, router: dict, shared: dict, drains: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    figure.savefig(path_isolation, dpi=110)
    plt.close(figure)

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
    figure.savefig(path_throughput, dpi=110)
    plt.close(figure)


def write_results(path: Path, info: dict, emulator: str, results: dict[str, Any], args: argparse.Namespace,
                  bounds: dict[str, bool]) -> None:  # fmt: skip
    iso, shared, work = results["isolation"], results["shared"], results["throughput"]
    tail_name = "p99" if args.high >= 100 else "max"
    calls = results["calls"]
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` ({info['date']}), {info['elapsed']}. Machine: {info['cpu']}, {info['cores']} "
        f"cores, {info['memory']}; {info['os']}; Python {info['python']}; gunicorn {info.get('gunicorn')} "
        f"({info['gunicorn_shape']}), Flask {info.get('flask')}, boto3 {info.get('boto3')}. AWS emulator: {emulator}, "
        "started by the same code as `make dev`. Load generator: Python threads on the same machine.",
        "",
        f"**Noise.** The machine has {info['cores']} cores shared with other jobs (load average at the end: "
        f"{info['load']}); absolute figures move from run to run. Each figure is the median of {args.runs} runs "
        "with min–max in brackets, ratios are taken within one run, and a p99 is shown only with ≥ 100 samples "
        "(otherwise the maximum, labelled so).",
        "",
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
        "A first delivery costs the ledger claim (one conditional PUT, IfMatch the ETag of the record as ingest "
        "created it, rebuilt from the ticket), the S3 object PUT, the ledger settle (one conditional PUT reusing "
        "the claim's ETag), and a tenth of a ReceiveMessage and of a DeleteMessageBatch. Issue 11's target of "
        f"≤ {CALLS_TARGET:.0f} per ticket is **not met**: the remaining 0.2 are the queue's receive and delete.",
        "",
        "Run inside a private network namespace (`unshare --net`), so that no other job on the machine could "
        "take one of the free ports the stack picks. "
        "Not measured here (issue 11, left for later): the Slack/Trello pacing and its drain curve, image "
        "size and idle RSS.",
        "",
        render_ceiling(results["ceiling"]),
    ]
    # bench/slow_clients.py writes its own section; keep it.
    path.write_text("\n".join(lines) + "\n" + kept_section(path))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--emulator", choices=["dev", "localstack"], default="dev",
                        help="dev: the emulator make dev starts (default); localstack: LocalStack in Docker")  # fmt: skip
    parser.add_argument(
        "--localstack-image", default=os.environ.get("LOCALSTACK_IMAGE", "localstack/localstack:4.14.0")
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--high", type=int, default=100)
    parser.add_argument("--low", type=int, default=2000)
    parser.add_argument("--medium", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--ingest-posts", type=int, default=600)
    parser.add_argument("--single-messages", type=int, default=100)
    parser.add_argument("--batch-messages", type=int, default=400)
    parser.add_argument("--output", default=str(BENCH / "RESULTS.md"))
    args = parser.parse_args()
    logs = BENCH / "results" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    logs.mkdir(parents=True, exist_ok=True)
    print(f"logs: {logs}", flush=True)
    started = time.monotonic()
    results: dict[str, Any] = {}
    if args.emulator == "localstack":
        emulator = lambda: localstack(args.localstack_image, logs)  # noqa: E731
        label = f"LocalStack ({args.localstack_image}) in Docker"
    else:
        emulator = contextlib.nullcontext
        chosen = chosen_emulator()
        label = f"{chosen.name} {chosen.version()} (embedded, on loopback)"
    with emulator() as endpoint:
        with Stack(log_dir=logs / "priority", ports=ports(), env=base_env(endpoint)) as stack:
            print("priority isolation (priority queues)", flush=True)
            results["isolation"], router_samples = isolation(stack, False, args)
    with emulator() as endpoint:
        env = base_env(endpoint, QUEUE_HIGH=SHARED_QUEUE, QUEUE_MEDIUM=SHARED_QUEUE, QUEUE_LOW=SHARED_QUEUE,
                       WORKER_CONCURRENCY="5")  # fmt: skip
        workers = ("shared_worker",) * 3  # as many workers as the router runs
        with Stack(log_dir=logs / "shared", ports=ports(), env=env, workers=workers) as stack:
            print("priority isolation (single shared queue)", flush=True)
            results["shared"], shared_samples = isolation(stack, True, args)
    with emulator() as endpoint:
        with Stack(log_dir=logs / "workers", ports=ports(), env=base_env(endpoint), workers=()) as stack:
            print("worker throughput under 20 ms AWS latency", flush=True)
            results["throughput"], drains = throughput(stack, logs, args)
            results["ceiling"] = measure_ceiling(stack, logs / "ceiling", args.runs)
            info = machine()
            info["gunicorn_shape"] = gunicorn_shape(stack.env)
    results["calls"] = drains["batch"]
    iso, work = results["isolation"], results["throughput"]
    bounds = {
        "isolation": iso["ratio"].median <= ISOLATION_BOUND,
        "ingest": iso["ingest_rate"].median >= INGEST_FLOOD_BOUND,
        "concurrency": work["concurrency_ratio"].median >= CONCURRENCY_BOUND,
        "replicas": work["replica_ratio"].median >= REPLICAS_BOUND,
        **results["ceiling"]["bounds"],
    }
    plot(BENCH / "isolation.png", BENCH / "throughput.png", router_samples, shared_samples, drains)
    info["elapsed"] = f"in {(time.monotonic() - started) / 60:.1f} minutes"
    write_results(Path(args.output), info, label, results, args, bounds)
    raw = {
        k: {n: f.values for n, f in v.items()} for k, v in results.items() if k not in ("calls", "ceiling")
    }
    (logs / "results.json").write_text(
        json.dumps({**raw, "calls": results["calls"], "bounds": bounds}, indent=2)
    )
    print(f"wrote {args.output} {info['elapsed']}; bounds: {bounds}", flush=True)
    return 0 if all(bounds.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
