"""Named crash points, so that fault tests can kill a worker at an exact step of the delivery
protocol instead of hoping a timer lands there.

``TICKETROUTER_CRASH_AT=<point>`` makes the process SIGKILL itself the first time it reaches
that point (after logging which). Unset, as everywhere outside the fault tests, it does nothing.
"""

from __future__ import annotations

import enum
import logging
import os
import signal

log = logging.getLogger(__name__)
VARIABLE = "TICKETROUTER_CRASH_AT"


class CrashPoint(enum.StrEnum):
    AFTER_CLAIM = "after_claim"  # the ledger says delivering; the destination was not called
    # An idempotent destination's first attempt, which claims nothing in the ledger: the
    # ledger says queued; the destination was not called.
    BEFORE_SEND = "before_send"
    AFTER_SEND = "after_send"  # the destination accepted the ticket; the ledger does not know yet
    AFTER_RECORD = "after_record"  # the ledger says delivered; the message is still on the queue


def crash_point(point: CrashPoint) -> None:
    """SIGKILL this process here if the environment names this point."""
    if os.environ.get(VARIABLE) == point:
        log.warning("crashing on purpose", extra={"crash_point": point.value})
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)
