"""Worker liveness as a file whose modification time the consumer loop refreshes.

Container health check: ``python -m ticketrouter.heartbeat /tmp/heartbeat 120`` exits 0
while the file was touched in the last 120 seconds, 1 otherwise.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def beat(path: Path) -> None:
    """Mark the loop alive now."""
    path.touch()


def is_fresh(path: Path, max_age: float) -> bool:
    """True when the loop marked itself alive within max_age seconds."""
    try:
        return time.time() - path.stat().st_mtime <= max_age
    except FileNotFoundError:
        return False


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m ticketrouter.heartbeat FILE MAX_AGE_SECONDS", file=sys.stderr)
        return 2
    path, max_age = Path(argv[0]), float(argv[1])
    if is_fresh(path, max_age):
        return 0
    print(f"heartbeat {path} missing or older than {max_age:.0f} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
