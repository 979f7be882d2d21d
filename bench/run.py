"""The router's benchmarks: `make bench`. Prints figures as it goes, writes bench/RESULTS.md and
its plots, and exits 1 when a bound is missed.

Everything runs on this machine, on the AWS emulator `make dev` itself starts (the same Stack,
scripts/stack.py): the Slack/Trello stand-ins, gunicorn ingest and the workers. Load comes
from threads in this process. The machine is noisy: each figure is the median of --runs runs
(min–max shown), and ratios are taken within one run.

A scenario (bench/scenario.py) runs its own stacks and returns its figures, its RESULTS.md
section and its bounds' verdicts; adding one is a module and a line in SCENARIOS.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))
import drain  # noqa: E402
import ingest_ceiling  # noqa: E402
import isolation  # noqa: E402
import worker_throughput  # noqa: E402
from report import gunicorn_shape, machine, write_results  # noqa: E402
from scenario import BenchRun, Scenario, Section  # noqa: E402
from stacks import BENCH, aws_endpoints, base_env  # noqa: E402

# Run in this order; each one's section follows the previous one in RESULTS.md.
SCENARIOS: list[Scenario] = [
    isolation.SCENARIO,
    worker_throughput.SCENARIO,
    ingest_ceiling.SCENARIO,
    drain.SCENARIO,
]


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--emulator", choices=["dev", "localstack"], default="dev",
                        help="dev: the emulator make dev starts (default); localstack: LocalStack in Docker")  # fmt: skip
    parser.add_argument(
        "--localstack-image", default=os.environ.get("LOCALSTACK_IMAGE", "localstack/localstack:4.14.0")
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", default=str(BENCH / "RESULTS.md"), help="its plots are written beside it")
    parser.add_argument("--only", action="append", choices=[s.name for s in SCENARIOS],
                        help="run only this scenario (repeatable); RESULTS.md then holds only these")  # fmt: skip
    for scenario in SCENARIOS:
        scenario.add_arguments(parser)
    return parser.parse_args()


def main() -> int:
    args = arguments()
    logs = BENCH / "results" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    logs.mkdir(parents=True, exist_ok=True)
    print(f"logs: {logs}", flush=True)
    started = time.monotonic()
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)  # the scenarios draw their plots there
    aws, label = aws_endpoints(args.emulator, args.localstack_image, logs)
    bench = BenchRun(args=args, logs=logs, out_dir=output.parent, aws=aws)
    sections: list[Section] = [s.run(bench) for s in SCENARIOS if not args.only or s.name in args.only]
    info = {**machine(), "gunicorn_shape": gunicorn_shape(base_env(None))}
    info["elapsed"] = f"in {(time.monotonic() - started) / 60:.1f} minutes"
    write_results(output, info, label, args.runs, sections)
    bounds = {name: met for section in sections for name, met in section.bounds.items()}
    figures = {name: values for section in sections for name, values in section.figures.items()}
    (logs / "results.json").write_text(json.dumps({**figures, "bounds": bounds}, indent=2))
    print(f"wrote {output} {info['elapsed']}; bounds: {bounds}", flush=True)
    return 0 if all(bounds.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
