"""Ingest's own gunicorn configuration, with each worker process profiled by cProfile from its
start to its exit; the stats go to $INGEST_PROFILE_DIR/ingest-<pid>.prof.

Used by `bench/ingest_ceiling.py --profile`, never by the product.
"""

import cProfile
import os
import runpy
from pathlib import Path

from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker

_ingest = runpy.run_path(str(Path(__file__).resolve().parent.parent / "ingest" / "gunicorn.conf.py"))
globals().update({name: value for name, value in _ingest.items() if not name.startswith("__")})
_ingest_post_worker_init = post_worker_init  # noqa: F821 (defined by ingest's configuration above)
_profiles: dict[int, cProfile.Profile] = {}


def post_worker_init(worker: Worker) -> None:
    _ingest_post_worker_init(worker)
    _profiles[worker.pid] = profile = cProfile.Profile()
    profile.enable()


def worker_exit(server: Arbiter, worker: Worker) -> None:
    profile = _profiles.pop(worker.pid, None)
    if profile is not None:
        profile.disable()
        profile.dump_stats(str(Path(os.environ["INGEST_PROFILE_DIR"]) / f"ingest-{worker.pid}.prof"))
