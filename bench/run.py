"""The router's benchmarks: `make bench`. Prints figures as it goes and writes bench/RESULTS.md.

Everything runs on this machine: MiniStack as the AWS emulator (see requirements-emulator.txt
for why not moto), the Slack/Trello stand-ins, gunicorn ingest and the workers, all started by
the same Stack as `make dev`. Load comes from threads in this process. The machine is noisy:
each figure is the median of --runs runs, and ratios are taken within the same run.
"""

from __future__ import annotations

import argparse
import concurrent.futures
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from slow_clients import kept_section  # noqa: E402

from devstack import PYTHON, Ports, Stack, free_port, http_answers, http_ok, wait_until  # noqa: E402
from ticketrouter.ticket import Ticket, parse_submission  # noqa: E402

BENCH = ROOT / "bench"
TOKEN = "bench-token"
SHARED_QUEUE = "tickets-shared"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


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
def ministack(binary: str, logs: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "BIND_HOST": "127.0.0.1", "GATEWAY_PORT": str(port)}
    url = f"http://127.0.0.1:{port}"
    with process([binary], env, lambda: http_answers(url), logs / "ministack.log"):
        yield url


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


def base_env(endpoint: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "QUEUE_", "SLACK_", "TRELLO_"))}
    return {**env, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1", "INGEST_API_TOKEN": TOKEN, "WORKER_WAIT_SECONDS": "20",
            "PYTHONPATH": str(BENCH), **extra}  # fmt: skip


def ports() -> Ports:
    return Ports(aws=free_port(), ingest=free_port(), slack=free_port(), trello=free_port(),
                 worker_metrics=(free_port(), free_port(), free_port()), ingest_metrics=free_port())  # fmt: skip


class Bench:
    """Talks to a running stack: submits, seeds queues, reads the ledger."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        endpoint = stack.env["AWS_ENDPOINT_URL"]
        kwargs = {"endpoint_url": endpoint, "region_name": "us-east-1", "aws_access_key_id": "test",
                  "aws_secret_access_key": "test", "config": Config(s3={"addressing_style": "path"},
                  max_pool_connections=50)}  # fmt: skip
        self.sqs = boto3.client("sqs", **kwargs)
        self.s3 = boto3.client("s3", **kwargs)
        self.session = requests.Session()

    def submit(self, priority: str) -> str:
        # A unique title: ingest makes one ticket of identical keyless bodies within its window.
        response = self.session.post(
            f"{self.stack.ingest_url}/tickets", timeout=30, headers={"Authorization": f"Bearer {TOKEN}"},
            json={"title": f"bench {uuid.uuid4()}", "priority": priority, "description": "benchmark ticket"},
        )  # fmt: skip
        response.raise_for_status()
        return response.json()["ticket_id"]

    def queue_url(self, name: str) -> str:
        return self.sqs.get_queue_url(QueueName=name)["QueueUrl"]

    def seed(self, queue: str, priority: str, count: int) -> None:
        """Put count valid tickets straight on a queue (the backlog a flood leaves behind)."""
        url = self.queue_url(queue)

        def batch(start: int) -> None:
            entries = []
            for i in range(start, min(start + 10, count)):
                ticket = Ticket.from_submission(
                    parse_submission({"title": f"backlog {i}", "priority": priority, "description": "flood"})
                )
                entries.append({"Id": str(i), "MessageBody": ticket.to_message()})
            self.sqs.send_message_batch(QueueUrl=url, Entries=entries)

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(batch, range(0, count, 10)))

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
        """Wait until every ticket is delivered (or the timeout), return their latencies."""
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
        return list(found.values())

    def paced(self, priority: str, count: int, per_second: float) -> list[str]:
        """Submit count tickets at a steady pace."""
        ids = []
        start = time.monotonic()
        for i in range(count):
            time.sleep(max(0.0, start + i / per_second - time.monotonic()))
            ids.append(self.submit(priority))
        return ids


# --- the measurements -----------------------------------------------------------------


def load(url: str, concurrency: int, total: int) -> tuple[float, float, float]:
    """total POSTs from concurrency threads; returns (requests/s, p50, p99)."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    timings: list[float] = []
    lock = threading.Lock()
    per_thread = total // concurrency

    def client() -> None:
        session = requests.Session()
        for _ in range(per_thread):
            # Distinct bodies: identical keyless ones within the window would be replays, not tickets.
            body = json.dumps(
                {"title": f"load {uuid.uuid4()}", "priority": "low", "description": "throughput"}
            )
            started = time.perf_counter()
            session.post(f"{url}/tickets", data=body, headers=headers, timeout=30).raise_for_status()
            with lock:
                timings.append(time.perf_counter() - started)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return len(timings) / elapsed, percentile(timings, 0.5), percentile(timings, 0.99)


def ingest_throughput(bench: Bench, logs: Path, runs: int, total: int) -> list[dict[str, Any]]:
    noop_port = free_port()
    noop_url = f"http://127.0.0.1:{noop_port}"
    argv = [PYTHON, "-m", "gunicorn", "-c", str(ROOT / "ingest/gunicorn.conf.py"), "-b", f"127.0.0.1:{noop_port}",
            "noop_app:create_app()"]  # fmt: skip
    rows = []
    with process(argv, bench.stack.env, lambda: http_answers(f"{noop_url}/readyz"), logs / "noop.log"):
        for concurrency in (1, 8, 32):
            ingest, noop = [], []
            for _ in range(runs):
                ingest.append(load(bench.stack.ingest_url, concurrency, total))
                noop.append(load(noop_url, concurrency, total))
            row = {
                "concurrency": concurrency,
                "ingest_rps": statistics.median(r[0] for r in ingest),
                "ingest_p50": statistics.median(r[1] for r in ingest),
                "ingest_p99": statistics.median(r[2] for r in ingest),
                "noop_rps": statistics.median(r[0] for r in noop),
                "noop_p99": statistics.median(r[2] for r in noop),
                "ratio": statistics.median(i[0] / n[0] for i, n in zip(ingest, noop, strict=True)),
            }
            print(f"  ingest c={concurrency}: {row['ingest_rps']:.0f}/s p50 {ms(row['ingest_p50'])} "
                  f"p99 {ms(row['ingest_p99'])}; no-op {row['noop_rps']:.0f}/s; ratio {row['ratio']:.2f}", flush=True)  # fmt: skip
            rows.append(row)
    wait_until(lambda: bench.depth("tickets-low") == 0, 300, "throughput tickets drained")
    return rows


def end_to_end(bench: Bench, per_second: float, seconds: float) -> dict[str, dict[str, float]]:
    ids: dict[str, list[str]] = {"high": [], "medium": [], "low": []}
    start = time.monotonic()
    for i in range(int(per_second * seconds)):
        time.sleep(max(0.0, start + i / per_second - time.monotonic()))
        priority = ("high", "medium", "low")[i % 3]
        ids[priority].append(bench.submit(priority))
    result = {}
    for priority, tickets in ids.items():
        values = bench.latencies(tickets, 120)
        result[priority] = {"p50": percentile(values, 0.5), "p95": percentile(values, 0.95),
                            "p99": percentile(values, 0.99), "n": len(values)}  # fmt: skip
        print(f"  e2e {priority}: p50 {ms(result[priority]['p50'])} p95 {ms(result[priority]['p95'])} "
              f"p99 {ms(result[priority]['p99'])} (n={len(values)})", flush=True)  # fmt: skip
    return result


def isolation_run(bench: Bench, shared: bool, high: int, low: int, medium: int) -> dict[str, float]:
    """High-ticket latency idle, then with a backlog of low and medium tickets queued ahead."""
    idle = bench.latencies(bench.paced("high", high, 5), 120)
    low_queue, medium_queue = (SHARED_QUEUE, SHARED_QUEUE) if shared else ("tickets-low", "tickets-medium")
    bench.seed(low_queue, "low", low)
    bench.seed(medium_queue, "medium", medium)
    flood = bench.latencies(bench.paced("high", high, 5), 600)
    bench.purge(*{low_queue, medium_queue})
    wait_until(lambda: bench.depth(low_queue) == 0 and bench.depth(medium_queue) == 0, 120, "backlog cleared")
    row = {"idle_p50": percentile(idle, 0.5), "idle_p99": percentile(idle, 0.99),
           "flood_p50": percentile(flood, 0.5), "flood_p99": percentile(flood, 0.99)}  # fmt: skip
    row["ratio"] = row["flood_p99"] / row["idle_p99"]
    design = "shared queue" if shared else "priority queues"
    print(f"  isolation ({design}): idle p50 {ms(row['idle_p50'])} p99 {ms(row['idle_p99'])}; flood p50 "
          f"{ms(row['flood_p50'])} p99 {ms(row['flood_p99'])}; p99 ratio {row['ratio']:.2f}", flush=True)  # fmt: skip
    return row


def median_rows(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(row[key] for row in rows) for key in rows[0]}


def worker_throughput(bench: Bench, logs: Path, count: int) -> list[dict[str, Any]]:
    """Messages/s drained by N worker-s3 replicas with batch or single receive."""
    rows = []
    for replicas, batch in ((1, 10), (1, 1), (2, 10), (4, 10)):
        env = {**bench.stack.env, "WORKER_BATCH_SIZE": str(batch), "WORKER_WAIT_SECONDS": "1"}
        procs = []
        for i in range(replicas):
            log = (logs / f"throughput-worker-{replicas}x{batch}-{i}.log").open("ab")
            procs.append(subprocess.Popen([PYTHON, "-m", "worker_s3"], env=env, cwd=ROOT, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True))  # fmt: skip
        try:
            time.sleep(3)  # let the workers connect; they idle on an empty queue meanwhile
            bench.seed("tickets-low", "low", count)
            started = time.perf_counter()
            wait_until(lambda: bench.depth("tickets-low") == 0, 600, "drained", interval=0.05)
            rate = count / (time.perf_counter() - started)
        finally:
            for proc in procs:
                os.killpg(proc.pid, signal.SIGTERM)
            for proc in procs:
                proc.wait(timeout=60)
        print(f"  worker-s3 x{replicas}, batch {batch}: {rate:.0f} msgs/s", flush=True)
        rows.append({"replicas": replicas, "batch": batch, "rate": rate})
    return rows


# --- the run --------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    memory = next(
        line.split()[1]
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    versions = subprocess.run(
        [PYTHON, "-m", "pip", "list", "--format=json"], capture_output=True, text=True
    ).stdout
    wanted = {"gunicorn", "flask", "boto3", "botocore"}
    packages = {p["name"].lower(): p["version"] for p in json.loads(versions) if p["name"].lower() in wanted}
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu, "cores": str(os.cpu_count()),
            "memory": f"{int(memory) / 1024 / 1024:.0f} GiB", "os": platform.platform(),
            "python": platform.python_version(), **packages}  # fmt: skip


def write_results(
    path: Path, info: dict, emulator: str, results: dict[str, Any], args: argparse.Namespace
) -> None:
    iso = results["isolation"]
    shared = results["isolation_shared"]
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make {'bench-localstack' if 'LocalStack' in emulator else 'bench'}` ({info['date']}). Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}; "
        f"{info['os']}; Python {info['python']}; gunicorn {info.get('gunicorn')}, Flask {info.get('flask')}, "
        f"boto3 {info.get('boto3')}. AWS emulator: {emulator}. Load generator: Python threads on the same machine. "
        f"Each figure is the median of {args.runs} runs unless noted; ratios are taken within one run.",
        "",
        "## Priority isolation",
        "",
        f"{args.high} high tickets submitted at 5/s, first on idle queues, then with a backlog of {args.low} low and "
        f"{args.medium} medium tickets queued ahead of them. End-to-end latency = ticket creation at ingest → "
        "destination accepted (from the ledger).",
        "",
        "| design | idle p50 | idle p99 | under flood p50 | under flood p99 | p99 flood / idle |",
        "|---|---|---|---|---|---|",
        f"| priority queues (this router) | {ms(iso['idle_p50'])} | {ms(iso['idle_p99'])} | {ms(iso['flood_p50'])} "
        f"| {ms(iso['flood_p99'])} | **{iso['ratio']:.2f}** |",
        f"| single shared queue ({args.shared_runs} run(s)) | {ms(shared['idle_p50'])} | {ms(shared['idle_p99'])} "
        f"| {ms(shared['flood_p50'])} | {ms(shared['flood_p99'])} | {shared['ratio']:.1f} |",
        "",
        f"Bound: high-priority p99 under flood within 2× its idle p99 — "
        f"**{'met' if iso['ratio'] <= 2 else 'NOT met'}** ({iso['ratio']:.2f}×).",
        "",
        "## Ingest throughput and latency",
        "",
        f"{args.requests} `POST /tickets` per run from 1, 8 and 32 concurrent clients, against gunicorn ingest "
        "(2 gevent processes) and the same gunicorn configuration serving a no-op endpoint (the ceiling).",
        "",
        "| clients | ingest tickets/s | ingest p50 | ingest p99 | no-op req/s | no-op p99 | ingest / no-op |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {r['concurrency']} | {r['ingest_rps']:.0f} | {ms(r['ingest_p50'])} | {ms(r['ingest_p99'])} | "
            f"{r['noop_rps']:.0f} | {ms(r['noop_p99'])} | {r['ratio']:.2f} |"
            for r in results["ingest"]
        ],
        "",
        "## End-to-end latency at a steady mixed load",
        "",
        f"{args.rate:g} tickets/s for {args.seconds:g} s, priorities in turn (one run).",
        "",
        "| priority | destination | p50 | p95 | p99 | tickets |",
        "|---|---|---|---|---|---|",
        *[
            f"| {p} | {d} | {ms(results['e2e'][p]['p50'])} | {ms(results['e2e'][p]['p95'])} | "
            f"{ms(results['e2e'][p]['p99'])} | {results['e2e'][p]['n']} |"
            for p, d in (("high", "Slack stand-in"), ("medium", "Trello stand-in"), ("low", "S3"))
        ],
        "",
        "## Worker throughput",
        "",
        f"{args.worker_messages} low tickets seeded on an idle queue, drained by worker-s3 replicas (one run each; "
        "each ticket costs a ledger claim, the S3 write, the ledger record and the delete).",
        "",
        "| replicas | receive batch | messages/s |",
        "|---|---|---|",
        *[f"| {r['replicas']} | {r['batch']} | {r['rate']:.0f} |" for r in results["workers"]],
        "",
        "Notes: the emulator, stand-ins, services and load generator share the machine's cores, so absolute "
        "figures are lower bounds for a real deployment; the ratios are the point. MiniStack's long-poll wake-up "
        "(50–100 ms) sets the floor of MiniStack's end-to-end latencies. The same figures on LocalStack in Docker: `make bench-localstack` (bench/RESULTS-localstack.md).",
        "",
    ]
    # bench/slow_clients.py writes its own section; keep it.
    path.write_text("\n".join(lines) + "\n" + kept_section(path))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--emulator", choices=["ministack", "localstack"], default="ministack")
    parser.add_argument("--ministack", default=str(ROOT / ".venv-bench/bin/ministack"))
    parser.add_argument(
        "--localstack-image", default=os.environ.get("LOCALSTACK_IMAGE", "localstack/localstack:4.14.0")
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--shared-runs", type=int, default=1)
    parser.add_argument("--high", type=int, default=50)
    parser.add_argument("--low", type=int, default=5000)
    parser.add_argument("--medium", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=320)
    parser.add_argument("--rate", type=float, default=15)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--worker-messages", type=int, default=1000)
    parser.add_argument("--output", default=str(BENCH / "RESULTS.md"))
    args = parser.parse_args()
    logs = BENCH / "results" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    logs.mkdir(parents=True, exist_ok=True)
    print(f"logs: {logs}", flush=True)
    results: dict[str, Any] = {}
    started = time.monotonic()
    if args.emulator == "localstack":
        emulator = lambda: localstack(args.localstack_image, logs)  # noqa: E731
        label = f"LocalStack ({args.localstack_image}) in Docker, port published on loopback"
    else:
        emulator = lambda: ministack(args.ministack, logs)  # noqa: E731
        label = "MiniStack 1.5.33 (embedded, on loopback)"
    with emulator() as endpoint:
        with Stack(log_dir=logs / "priority", ports=ports(), env=base_env(endpoint)) as stack:
            bench = Bench(stack)
            print("priority isolation (priority queues)", flush=True)
            results["isolation"] = median_rows(
                [isolation_run(bench, False, args.high, args.low, args.medium) for _ in range(args.runs)]
            )
            print("ingest throughput", flush=True)
            results["ingest"] = ingest_throughput(bench, logs, args.runs, args.requests)
            print("end-to-end latency", flush=True)
            results["e2e"] = end_to_end(bench, args.rate, args.seconds)
    with emulator() as endpoint:
        shared_env = base_env(
            endpoint, QUEUE_HIGH=SHARED_QUEUE, QUEUE_MEDIUM=SHARED_QUEUE, QUEUE_LOW=SHARED_QUEUE
        )
        with Stack(
            log_dir=logs / "shared", ports=ports(), env=shared_env, workers=("shared_worker",)
        ) as stack:
            print("priority isolation (single shared queue)", flush=True)
            results["isolation_shared"] = median_rows(
                [
                    isolation_run(Bench(stack), True, args.high, args.low, args.medium)
                    for _ in range(args.shared_runs)
                ]
            )
    with emulator() as endpoint:
        with Stack(log_dir=logs / "workers", ports=ports(), env=base_env(endpoint), workers=()) as stack:
            print("worker throughput", flush=True)
            results["workers"] = worker_throughput(Bench(stack), logs, args.worker_messages)
    write_results(Path(args.output), machine(), label, results, args)
    (logs / "results.json").write_text(json.dumps(results, indent=2))
    print(f"wrote {args.output} in {time.monotonic() - started:.0f} s", flush=True)
    return 0 if results["isolation"]["ratio"] <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
