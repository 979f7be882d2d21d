"""Figures over runs: percentiles, a median with its min–max, and how a bound's verdict reads."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


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


def verdict(met: bool) -> str:
    return "**met**" if met else "**NOT met**"


def pyplot() -> Any:
    """matplotlib's pyplot, drawing to files only (imported late: only the plots need it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
