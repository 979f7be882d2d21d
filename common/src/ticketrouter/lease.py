"""A lease on a message while its ticket is being delivered.

A delivery may outlast the visibility timeout (Slack's Retry-After waits, slow destinations).
The message would then reappear, and a second worker would find the claim stale and
reconcile while the first is still sending: a double post. So while a delivery runs, every
half visibility timeout the lease hides the message again and refreshes the claim.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

log = logging.getLogger(__name__)


class Lease:
    """Calls renew every `every` seconds until the block ends (never if every <= 0)."""

    def __init__(self, renew: Callable[[], None], every: float) -> None:
        self.renew = renew
        self.every = every
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease", daemon=True)

    def _run(self) -> None:
        while not self._done.wait(self.every):
            self.renew()

    def __enter__(self) -> Lease:
        if self.every > 0:
            self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()
