"""Pacing: a worker keeps to its destination's rate limit instead of learning it from 429s.

A token bucket: ``burst`` requests may start at once, then one every ``1 / rate`` seconds on
average; over any interval of T seconds at most ``burst + rate × T`` requests start. Each
request takes a token before it is sent; a request that finds the bucket empty reserves the
next token and sleeps until it is due, outside the lock, so the deliveries of one batch (run
concurrently up to the destination's bound) are paced together and served in arrival order.
The clock is monotonic (a wall-clock step cannot open the gate) and injectable for tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from ticketrouter.observability import PACING_WAIT


class TokenBucket:
    """At most ``burst + rate × T`` requests in any T seconds; thread-safe."""

    def __init__(
        self,
        rate_per_second: float,
        burst: int,
        destination: str = "",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError(f"rate must be > 0 and burst ≥ 1, not {rate_per_second} and {burst}")
        self.rate = rate_per_second
        self.burst = burst
        self.destination = destination
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        # Tokens left as of _updated; negative while waiting requests hold reservations.
        self._tokens = float(burst)
        self._updated = clock()

    def reserve(self) -> float:
        """Take the next token; returns how many seconds from now it may be used."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self) -> float:
        """Wait until a request may be sent; returns the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            if self.destination:
                PACING_WAIT.labels(self.destination).inc(wait)
            self._sleep(wait)
        return wait


def busiest_window(times: Sequence[float], window: float) -> int:
    """The most of these (sorted) times within any `window` seconds, both ends included: what
    a TokenBucket keeps at or below burst + rate × window. For checking a pacer from outside."""
    most, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] > window:
            start += 1
        most = max(most, end - start + 1)
    return most
