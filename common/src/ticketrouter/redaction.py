"""Redaction: the one place that knows what a secret looks like, for every sink text leaves by.

Log records, ledger records, dead-letter reasons and HTTP answers all pass through ``redact``.
It replaces every configured secret value (the ``SecretStr`` settings of the running service and
the well-known secret variables of the environment) and well-known credential shapes (Slack
tokens, ``Bearer …``, ``HMAC …``, OAuth ``oauth_token="…"``, ``key=``/``token=`` in a query
string), so that a destination echoing credentials in an error body does not carry them on.

Stdlib only: ``ticketrouter.provision`` also runs inside LocalStack's interpreter.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "***"

# Variables that hold a secret in some service of this project (or its container stack).
SECRET_VARIABLES = (
    "INGEST_API_TOKEN",
    "TEAMS_WEBHOOK_SECRET",
    "SLACK_BOT_TOKEN",
    "TRELLO_KEY",
    "TRELLO_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "NGROK_AUTHTOKEN",
    "LOCALSTACK_AUTH_TOKEN",
)
# Shorter values are not treated as secrets: replacing "test" everywhere would garble every
# line, and no real credential is this short.
MIN_SECRET_LENGTH = 6

# Credential shapes, whoever's they are. Group 1 (when present) is kept: it says what was there.
_SHAPES = (
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]+"),  # Slack tokens
    re.compile(r"\bxapp-[A-Za-z0-9-]+"),
    # Case-sensitive and 16+ characters, so that "Basic printer setup" stays as written.
    re.compile(r"(\b(?:Bearer|HMAC|Basic)\s+)[A-Za-z0-9._~+/=-]{16,}"),
    re.compile(r"(\boauth_[a-z_]+=\"?)[^\",\s]+", re.IGNORECASE),
    re.compile(r"([?&](?:key|token|api_key|access_token)=)[^&\s\"']+", re.IGNORECASE),
    re.compile(r"(\bAWS_SECRET_ACCESS_KEY\s*[=:]\s*\"?)[^\"\s,]+"),
)


def _replace_shape(match: re.Match[str]) -> str:
    return (match.group(1) if match.re.groups else "") + REDACTED


class Redactor:
    """Replaces secret values and credential shapes in strings and in nested JSON-like values."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Know these values too (longest first, so a secret containing another goes whole)."""
        fresh = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}
        with self._lock:
            self._secrets = tuple(sorted(fresh | set(self._secrets), key=len, reverse=True))

    def text(self, text: str) -> str:
        """The string with every secret and credential shape replaced by ***."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        for shape in _SHAPES:
            text = shape.sub(_replace_shape, text)
        return text

    def value(self, value: Any) -> Any:
        """A copy of a JSON-like value (dicts, lists, strings) with every string redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.value(k) if isinstance(k, str) else k: self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value


def secrets_in_environment(env: Mapping[str, str] | None = None) -> list[str]:
    """The values of the well-known secret variables that are set."""
    env = os.environ if env is None else env
    return [env[name] for name in SECRET_VARIABLES if env.get(name)]


# The process's redactor: the environment's secrets now, the service's settings once loaded.
REDACTOR = Redactor(secrets_in_environment())


def remember_secrets(secrets: Iterable[str]) -> None:
    """Add a service's configured secrets to the process's redactor."""
    REDACTOR.add(secrets)


def redact(value: Any) -> Any:
    """Redact a string or a JSON-like value with the process's redactor."""
    return REDACTOR.value(value)
