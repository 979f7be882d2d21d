"""Pacing under a storm: 300 high tickets drain into a rate-limited Slack stand-in at the
configured rate, with no 429, no failure and nothing parked. `make bench` runs it (bench/run.py);
alone: `.venv/bin/python bench/drain.py` (about 2 minutes), which prints the figures and the
RESULTS.md section and draws bench/drain.png.

Why 300 tickets at SLACK_RATE_PER_SECOND=10 rather than the default 1/s: at 1/s the storm takes
5 minutes per run, and `make bench` has 10 minutes for everything. The token bucket has no
scale of its own (the same code at 10/s is the 1/s run on a clock ten times faster), and 10/s
is still well below what one Slack worker delivers unpaced on this machine (about 30–40/s), so
the pacer, not the worker, sets the pace. SLACK_BURST keeps its default, 3. The stand-in
answers 429 above 15 posts in any second (the bucket allows 13): a pacer that let through more
than its rate would meet them.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from driver import Bench  # noqa: E402
from figures import Figure, pyplot, verdict  # noqa: E402
from scenario import BenchRun, Scenario, Section  # noqa: E402
from stacks import base_env, ports  # noqa: E402

from stack import Stack  # noqa: E402
from supervise import wait_until  # noqa: E402
from ticketrouter.pacing import busiest_window  # noqa: E402

RATE, BURST = 10.0, 3  # SLACK_RATE_PER_SECOND configured here; SLACK_BURST's default
TICKETS = 300
STANDIN_LIMIT = 15  # posts accepted by the stand-in in any second
JITTER_SECONDS = 0.1  # arrival jitter allowed for between the pacer and the stand-in's clock
RATE_TOLERANCE = 0.1  # the drain rate after the burst is within ±10 % of the configured rate
WINDOWS = (1.0, 10.0)
POSTS = "/api/chat.postMessage"


class Storm:
    """Submits a storm through ingest and reads its effects from the stand-in and the router."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.slack = stack.url(stack.ports.slack)
        self.auth = {"Authorization": f"Bearer {stack.token}"}

    def submit(self, count: int) -> list[str]:
        session = requests.Session()

        def one(i: int) -> str:
            body = {"title": f"storm {uuid.uuid4()} #{i}", "priority": "high", "description": "drain"}
            url = f"{self.stack.ingest_url}/tickets"
            answer = session.post(url, json=body, headers=self.auth, timeout=30)
            answer.raise_for_status()
            return str(answer.json()["ticket_id"])

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            return list(pool.map(one, range(count)))

    def posts(self) -> list[dict[str, Any]]:
        calls = requests.get(f"{self.slack}/_fake/requests", timeout=10).json()
        return sorted((c for c in calls if c["path"] == POSTS), key=lambda c: c["received_at"])

    def channel_counts(self, ids: list[str], since: float) -> dict[str, int]:
        """How often each ticket is in the stand-in's channel (its text carries the id)."""
        query = {"channel": self.stack.env["SLACK_CHANNEL"], "oldest": since - 1, "limit": 999}
        answer = requests.post(f"{self.slack}/api/conversations.history", json=query,
                               headers={"Authorization": "Bearer reader"}, timeout=10).json()  # fmt: skip
        texts = [m["text"] for m in answer["messages"]]
        return {tid: sum(tid in text for text in texts) for tid in ids}

    def statuses(self, ids: list[str]) -> list[str]:
        url = f"{self.stack.ingest_url}/tickets"
        return [requests.get(f"{url}/{tid}", headers=self.auth, timeout=10).json()["status"] for tid in ids]

    def parked(self) -> int:
        return Bench(self.stack).depth("tickets-high-dlq")


def one_run(storm: Storm, count: int) -> dict[str, Any]:
    """One storm: the timer starts before the first submission and stops at the last post."""
    requests.delete(f"{storm.slack}/_fake/requests", timeout=10)
    started = time.time()  # the stand-in records arrivals on the wall clock
    ids = storm.submit(count)
    # Polled once a second: the request log is the stand-in's, and reading it costs it time.
    drained = lambda: sum(c["status"] == 200 for c in storm.posts()) >= count  # noqa: E731
    wait_until(drained, count / RATE + 120, "storm drained", interval=1.0)
    posts = storm.posts()
    accepted = [c["received_at"] for c in posts if c["status"] == 200]
    times = [c["received_at"] for c in posts]
    statuses = storm.statuses(ids)
    counts = storm.channel_counts(ids, started)
    row = {
        "rate": (len(accepted) - BURST) / (accepted[-1] - accepted[0]),
        "elapsed": accepted[-1] - started,
        "refused": sum(c["status"] == 429 for c in posts),
        "failed": sum(status != "delivered" for status in statuses),
        "parked": storm.parked(),
        "missing": sum(n == 0 for n in counts.values()),
        "duplicates": sum(n - 1 for n in counts.values() if n > 1),
        **{f"busiest_{w:.0f}s": busiest_window(times, w) for w in WINDOWS},
    }
    curve = [(t - started, n) for n, t in enumerate(accepted, start=1)]
    print(f"  {count} tickets drained in {row['elapsed']:.1f} s: {row['rate']:.2f}/s after the burst "
          f"(configured {RATE:g}/s + {BURST}); busiest 1 s {row['busiest_1s']}, 10 s {row['busiest_10s']}; "
          f"429s {row['refused']}, failed {row['failed']}, parked {row['parked']}, "
          f"missing {row['missing']}, duplicates {row['duplicates']}", flush=True)  # fmt: skip
    return {"row": row, "curve": curve, "first_post": accepted[0] - started}


def measure(env: dict[str, str], log_dir: Path, runs: int, count: int = TICKETS) -> dict[str, Any]:
    """`runs` storms of `count` high tickets through one stack running worker-slack only."""
    env = {**env, "SLACK_RATE_PER_SECOND": str(RATE), "SLACK_BURST": str(BURST), "WORKER_WAIT_SECONDS": "1"}
    with Stack(log_dir=log_dir, ports=ports(), env=env, workers=("worker_slack",)) as stack:
        storm = Storm(stack)
        limit = {"limit": STANDIN_LIMIT, "window_seconds": 1, "path": POSTS}
        requests.post(f"{storm.slack}/_fake/rate_limit", json=limit, timeout=10).raise_for_status()
        results = [one_run(storm, count) for _ in range(runs)]
    return {"runs": results, "count": count}


def allowed(window: float) -> float:
    return BURST + RATE * (window + JITTER_SECONDS)


def met(result: dict[str, Any]) -> bool:
    """Every run: no 429, failure, parked, missing or doubled ticket, no window over the bucket's
    bound; and the median drain rate within RATE_TOLERANCE of the configured rate."""
    rows = [run["row"] for run in result["runs"]]
    clean = all(row[k] == 0 for row in rows for k in ("refused", "failed", "parked", "missing", "duplicates"))
    windows = all(row[f"busiest_{w:.0f}s"] <= allowed(w) for row in rows for w in WINDOWS)
    rate = statistics.median(row["rate"] for row in rows)
    return clean and windows and abs(rate / RATE - 1) <= RATE_TOLERANCE


def section(result: dict[str, Any]) -> list[str]:
    """The RESULTS.md section."""
    rows = [run["row"] for run in result["runs"]]
    total = {k: sum(row[k] for row in rows) for k in ("refused", "failed", "parked", "missing", "duplicates")}
    return [
        "## Pacing: a storm of high tickets drains at the configured rate",
        "",
        f"{result['count']} high tickets submitted through ingest at once (4 clients), worker-slack alone "
        f"with `SLACK_RATE_PER_SECOND={RATE:g}` and its default `SLACK_BURST={BURST}`; the Slack stand-in "
        f"answers 429 above {STANDIN_LIMIT} posts in any second. 10/s rather than Slack's 1/s so that "
        f"{len(rows)} runs fit in the budget: the token bucket has no scale of its own, and 10/s is well "
        "below what the worker does unpaced, so the pacer sets the pace (`bench/drain.py` says more). "
        "Timer: from the first submission.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| drain rate after the burst (posts/s; configured {RATE:g}) | {Figure([r['rate'] for r in rows]).show()} "
        "|",
        f"| storm drained in (s, from the first submission) | {Figure([r['elapsed'] for r in rows]).show(lambda v: f'{v:.1f}')} |",
        *[
            f"| busiest {w:.0f} s window (posts; the bucket allows {BURST + RATE * w:.0f}) "
            f"| {Figure([r[f'busiest_{w:.0f}s'] for r in rows]).show(lambda v: f'{v:.0f}')} |"
            for w in WINDOWS
        ],
        f"| 429s / failed / parked / missing / doubled, all runs | {total['refused']} / {total['failed']} / "
        f"{total['parked']} / {total['missing']} / {total['duplicates']} |",
        "",
        f"- Bound: drain rate within ±{RATE_TOLERANCE:.0%} of the configured rate, no window over burst + "
        f"rate × (window + {JITTER_SECONDS:g} s of arrival jitter), and 0 on the last row — {verdict(met(result))}.",
        "",
        "![tickets delivered over time, with the configured rate](drain.png)",
        "",
    ]


def plot(result: dict[str, Any], path: Path) -> None:
    """Tickets delivered over time for every run, with the line the configured rate allows."""
    plt = pyplot()
    figure_, axis = plt.subplots(figsize=(9, 5))
    for number, run in enumerate(result["runs"], start=1):
        curve = run["curve"]
        axis.step([t for t, _ in curve], [n for _, n in curve], where="post", label=f"run {number}")
    start = result["runs"][-1]["first_post"]
    end = start + (result["count"] - BURST) / RATE
    axis.plot([start, end], [BURST, result["count"]], "k--", linewidth=1,
              label=f"configured: {BURST} at once, then {RATE:g}/s")  # fmt: skip
    axis.set_xlabel("seconds since the first submission")
    axis.set_ylabel("tickets delivered to Slack (stand-in)")
    axis.set_title(f"{result['count']} high tickets, SLACK_RATE_PER_SECOND={RATE:g}, SLACK_BURST={BURST}")
    axis.legend()
    figure_.tight_layout()
    figure_.savefig(path, dpi=110)
    plt.close(figure_)


def run(bench: BenchRun) -> Section:
    """The scenario for bench/run.py: its own stack on a fresh AWS endpoint."""
    with bench.aws() as endpoint:
        print("pacing: a storm of high tickets into a rate-limited Slack stand-in", flush=True)
        result = measure(base_env(endpoint), bench.logs / "drain", bench.args.runs)
    plot(result, bench.out_dir / "drain.png")
    return Section(section(result), {"drain": met(result)}, {"drain": result})


SCENARIO = Scenario("drain", run)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tickets", type=int, default=TICKETS)
    args = parser.parse_args()
    logs = ROOT / "bench" / "results" / f"drain-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
    result = measure(base_env(None), logs, args.runs, args.tickets)
    plot(result, ROOT / "bench" / "drain.png")
    print("\n".join(section(result)))
    return 0 if met(result) else 1


if __name__ == "__main__":
    sys.exit(main())
