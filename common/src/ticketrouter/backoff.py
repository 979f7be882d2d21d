"""Backoff for message-level retries: a pure function, so it is trivial to test."""

from __future__ import annotations

import random
from collections.abc import Callable


def compute_backoff(attempt: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> int:
    """Seconds to wait before attempt+1: exponential in attempt, capped, with equal jitter.

    attempt 1 waits between base/2 and base, attempt 2 between base and 2*base, and so on.
    """
    delay = min(cap, base * 2 ** max(0, attempt - 1))
    return int(delay / 2 + rand() * delay / 2)
