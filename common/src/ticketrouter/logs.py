"""Logging: one JSON object per line, carrying the ticket id in scope, secrets scrubbed."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
from collections.abc import Iterable, Iterator

from pythonjsonlogger.json import JsonFormatter

_ticket_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("ticket_id", default=None)

# Libraries that log request headers or URLs at DEBUG; they stay at WARNING whatever LOG_LEVEL says.
_CHATTY_LOGGERS = ("botocore", "boto3", "urllib3", "slack_sdk", "s3transfer", "werkzeug")
REDACTED = "***"


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


class _SecretScrubber(logging.Filter):
    """Replaces any configured secret value in the rendered message and traceback."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            record.msg = self.scrub(record.getMessage())
            record.args = None
            if record.exc_info:
                record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


def json_formatter(service: str) -> logging.Formatter:
    """The formatter every process uses: ts, level, logger, service, message, extras."""
    return JsonFormatter(
        "{levelname}{name}{message}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        static_fields={"service": service},
        timestamp="ts",  # ISO 8601, UTC, microseconds
    )


def configure_logging(service: str, level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Send JSON lines to stderr for the whole process."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter(service))
    handler.addFilter(_TicketIdFilter())
    handler.addFilter(_SecretScrubber(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
