"""One check's answer, and the decorator that turns "could not ask" into an answer."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from botocore.exceptions import BotoCoreError, ClientError
from slack_sdk.errors import SlackClientError


@dataclass(frozen=True)
class Result:
    ok: bool
    subject: str
    detail: str

    def line(self) -> str:
        return f"{'ok' if self.ok else 'PROBLEM':<8} {self.subject}: {self.detail}"


def reported(subject: str) -> Callable[[Callable[..., Result]], Callable[..., Result]]:
    """A check that could not reach its service reports that, rather than a traceback."""

    def wrap(check: Callable[..., Result]) -> Callable[..., Result]:
        @functools.wraps(check)
        def run(*args: Any, **kwargs: Any) -> Result:
            try:
                return check(*args, **kwargs)
            except (
                OSError,
                SlackClientError,
                requests.RequestException,
                BotoCoreError,
                ClientError,
            ) as error:
                return Result(False, subject, f"could not ask: {type(error).__name__}: {error}")

        return run

    return wrap
