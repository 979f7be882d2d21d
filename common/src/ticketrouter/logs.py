"""Logging: one JSON object per line, carrying the ticket id in scope, secrets redacted.

Redaction happens in the formatter, on the finished record (message, every extra field,
exception text and traceback): a filter would miss the handlers gunicorn builds from
``json_formatter`` and anything a later filter adds. The stdlib rather than structlog because
``ticketrouter.provision`` also runs inside LocalStack's interpreter (boto3 and pydantic only),
and every library we run (botocore, gunicorn, werkzeug) logs through the stdlib anyway.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from ticketrouter.redaction import redact, remember_secrets

_ticket_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("ticket_id", default=None)

# Libraries that log request headers or URLs at DEBUG; they stay at WARNING whatever LOG_LEVEL says.
_CHATTY_LOGGERS = ("botocore", "boto3", "urllib3", "slack_sdk", "s3transfer", "werkzeug")


@contextlib.contextmanager
def bound_ticket(ticket_id: str) -> Iterator[None]:
    """Attach ticket_id to every log line written inside the block."""
    token = _ticket_id.set(ticket_id)
    try:
        yield
    finally:
        _ticket_id.reset(token)


class _TicketIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ticket_id = _ticket_id.get()
        if ticket_id is not None and not hasattr(record, "ticket_id"):
            record.ticket_id = ticket_id
        return True


# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, service, message, then the extras, redacted."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds"),
            "level": record.levelname,
            "logger": record.name,
            "service": self.service,
            "message": record.getMessage(),
        }
        entry.update((k, v) for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES)
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        # Through JSON first, so that an extra's str() (an exception, say) is redacted too.
        plain = json.loads(json.dumps(entry, default=str))
        return json.dumps(redact(plain), ensure_ascii=False)


def json_formatter(service: str) -> logging.Formatter:
    """The formatter every process uses (also named by gunicorn's logconfig_dict)."""
    return JsonFormatter(service)


def configure_logging(service: str, level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Send JSON lines to stderr for the whole process; secrets join the process's redactor."""
    remember_secrets(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter(service))
    handler.addFilter(_TicketIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
