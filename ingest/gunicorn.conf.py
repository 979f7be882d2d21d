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
# gevent: a slow client holds a greenlet, not one of a few threads (ingest/src/ingest_server/),
# and gunicorn's own refusals (414, 431, 400...) are answered as JSON.
worker_class = "ingest_server.worker.JsonGeventWorker"
# Open connections per process; past that, new ones wait in the listen backlog.
worker_connections = int(os.environ.get("INGEST_WORKER_CONNECTIONS", "1000"))
# gevent workers read every request line and headers under this timeout (the first request's
# too): a client that has not sent them within it is disconnected. Also the keep-alive idle time.
keepalive = int(os.environ.get("INGEST_HEADER_TIMEOUT_SECONDS", "5"))
# /metrics of every process, served by the master on an internal port; unset = not served.
metrics_host = os.environ.get("INGEST_METRICS_HOST", "127.0.0.1")
metrics_port = os.environ.get("INGEST_METRICS_PORT", "")
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

    # worker.wsgi is JsonGeventWorker's body-deadline wrapper; the app is inside it.
    resolve_queues(getattr(worker.wsgi, "app", worker.wsgi))


def when_ready(server):
    """Serve /metrics from the master, which outlives every worker, on the internal port."""
    if metrics_port:
        # Not through the ingest package: the master must not import boto3 before the fork.
        from prometheus_client import CollectorRegistry, start_http_server
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        server.metrics_server, _ = start_http_server(int(metrics_port), addr=metrics_host, registry=registry)
        server.log.info("metrics served on %s:%s", metrics_host, server.metrics_server.server_port)


def post_fork(server, worker):
    """A worker does not serve /metrics: close its copy of the master's listening socket."""
    if getattr(server, "metrics_server", None) is not None:
        server.metrics_server.socket.close()


def on_starting(server):
    """Start the counters from zero: files left by an earlier run would be added in."""
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
