"""bench/RESULTS.md: the machine it ran on, each scenario's section, and what was not measured."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from footprint import MARKERS as FOOTPRINT_MARKERS
from scenario import Section
from slow_clients import kept_section

from stack_services import PYTHON, ROOT


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
    """Processes, connections and worker class of ingest's gunicorn, read from its configuration file
    (in a child process, as gunicorn would evaluate it with the stack's environment)."""
    code = (
        "import runpy, sys; c = runpy.run_path(sys.argv[1]);"
        " print(c['workers'], c['worker_connections'], c['worker_class'].rsplit('.', 1)[-1])"
    )
    config = ROOT / "ingest" / "gunicorn.conf.py"
    result = subprocess.run(
        [PYTHON, "-c", code, str(config)], env=env, capture_output=True, text=True, timeout=30, check=True
    )
    workers, connections, worker_class = result.stdout.split()
    return f"{workers} processes × {connections} connections, {worker_class}"


def header(info: dict[str, str], emulator: str, runs: int) -> list[str]:
    """The title, the machine and how to read the figures."""
    return [
        "# Benchmark results",
        "",
        f"Written by `make bench` ({info['date']}), {info['elapsed']}. Machine: {info['cpu']}, {info['cores']} "
        f"cores, {info['memory']}; {info['os']}; Python {info['python']}; gunicorn {info.get('gunicorn')} "
        f"({info['gunicorn_shape']}), Flask {info.get('flask')}, boto3 {info.get('boto3')}. AWS emulator: {emulator}, "
        "started by the same code as `make dev`. Load generator: Python threads on the same machine.",
        "",
        f"**Noise.** The machine has {info['cores']} cores shared with other jobs (load average at the end: "
        f"{info['load']}); absolute figures move from run to run. Each figure is the median of {runs} runs "
        "with min–max in brackets, ratios are taken within one run, and a p99 is shown only with ≥ 100 samples "
        "(otherwise the maximum, labelled so).",
        "",
    ]


FOOTER = [
    "Run inside a private network namespace (`unshare --net`), so that no other job on the machine could "
    "take one of the free ports the stack picks. "
    "Image sizes, `make up` time and idle memory need Docker: `make bench-footprint` writes their "
    "section below.",
    "",
]


def write_results(
    path: Path, info: dict[str, str], emulator: str, runs: int, sections: list[Section]
) -> None:
    """RESULTS.md from the scenarios' sections, in order; bench/slow_clients.py's own section is kept."""
    lines = header(info, emulator, runs)
    for section in sections:
        lines += section.markdown
    lines += FOOTER
    # bench/slow_clients.py and bench/footprint.py write their own sections; keep them.
    path.write_text("\n".join(lines) + "\n" + kept_section(path) + kept_section(path, FOOTPRINT_MARKERS))
