"""What a benchmark scenario is: it runs its own stacks and returns its figures, its section of
RESULTS.md and the verdicts of its bounds. bench/run.py runs the scenarios in SCENARIOS, in order."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class BenchRun:
    """What every scenario is given."""

    args: argparse.Namespace
    logs: Path  # this run's log folder (bench/results/<time>/)
    out_dir: Path  # where RESULTS.md and its plots are written
    # A fresh AWS endpoint per stack: yields its URL, or None to let the Stack start make dev's emulator.
    aws: Callable[[], AbstractContextManager[str | None]]


@dataclass
class Section:
    """A scenario's result."""

    markdown: list[str]  # its lines of RESULTS.md, from its `## ` heading on
    bounds: dict[str, bool] = field(default_factory=dict)  # each bound's name: met?
    figures: dict[str, Any] = field(default_factory=dict)  # raw numbers, for results.json


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[[BenchRun], Section]
    # Its own command-line options (counts, durations), if any.
    add_arguments: Callable[[argparse.ArgumentParser], None] = lambda _parser: None
