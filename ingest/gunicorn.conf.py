"""gunicorn settings for ingest: `gunicorn -c ingest/gunicorn.conf.py 'ingest:create_app()'`.

Every value can be overridden on the command line or by GUNICORN_CMD_ARGS.
"""

import os
import shutil
import tempfile

# Prometheus multiprocess mode: each worker writes its counters to files here, /metrics adds
# them up. Set before any worker imports prometheus_client; emptied at every start.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="ingest-metrics-"))

bind = os.environ.get("INGEST_BIND", "127.0.0.1:8080")
workers = int(os.environ.get("INGEST_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("INGEST_THREADS", "4"))
# Long enough for a slow SQS call (bounded by the client's own timeouts), short of
# Power Automate's 120 s request timeout.
timeout = 60
graceful_timeout = 20
# gunicorn 23+'s control socket sits at one fixed path per user, so two instances on a machine
# (dev stack and tests) would fight over it; nothing here uses gunicornc.
control_socket_disable = True
# The app logs each request itself as one JSON line; gunicorn's access log would be a second format.
accesslog = None
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "ticketrouter.logs.json_formatter", "service": "ingest"}},
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    },
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
    },
}


def post_worker_init(worker):
    """Resolve (get or create) the queues as each worker starts."""
    from ingest import resolve_queues

    if "queues" in getattr(worker.wsgi, "extensions", {}):  # not the benchmark's no-op app
        resolve_queues(worker.wsgi)


def on_starting(server):
    """Start the counters from zero: files left by an earlier run would be added in."""
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
