"""A cProfile of ingest, summarised: own time by where the code lives, and by function.

Own time only: under gevent a cumulative time also counts what other greenlets ran meanwhile.
"""

from __future__ import annotations

import io
import pstats
from collections import Counter
from pathlib import Path
from typing import Any

PROFILE_TOP = 12


def summarise(directory: Path) -> dict[str, Any]:
    """The stats files in directory, added up: total own time, top owners, top functions."""
    stats = pstats.Stats(*[str(p) for p in directory.glob("*.prof")], stream=io.StringIO())
    owners: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    for (filename, line, function), (_, _, own, _, _) in stats.stats.items():
        owner = owner_of(filename)
        owners[owner] += own
        functions[f"{owner}: {function}" + (f" ({Path(filename).name}:{line})" if line else "")] += own
    return {
        "total": sum(owners.values()),
        "owners": owners.most_common(PROFILE_TOP),
        "functions": functions.most_common(PROFILE_TOP),
    }


def owner_of(filename: str) -> str:
    """Where a profiled function lives: a package, our code, a stdlib module, or a C built-in."""
    if filename == "~":
        return "built-in"
    parts = Path(filename).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    for ours in ("ingest", "ticketrouter", "ingest_server"):
        if ours in parts:
            return ours
    return "stdlib " + (parts[-2] if parts[-1] == "__init__.py" else Path(filename).stem)


def profile_table(found: dict[str, Any]) -> list[str]:
    """The summary as two small Markdown tables: own time by owner, then by function."""
    total = found["total"]
    lines = ["| where the code lives | own time | share |", "|---|---|---|"]
    lines += [f"| {owner} | {own:.1f} s | {own / total:.0%} |" for owner, own in found["owners"]]
    lines += ["", "| function | own time | share |", "|---|---|---|"]
    lines += [f"| `{name}` | {own:.2f} s | {own / total:.0%} |" for name, own in found["functions"]]
    return lines
