"""The one root of every error this project raises on purpose.

A caller can catch "anything of ours" (``TicketRouterError``) without catching everything,
and the AWS client errors are named once (``AWS_ERRORS``).
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

# What a boto3 call raises when AWS (or the emulator) refused, failed or could not be reached.
AWS_ERRORS: tuple[type[BotoCoreError], type[ClientError]] = (BotoCoreError, ClientError)


class TicketRouterError(Exception):
    """Base of the errors the router raises on purpose."""
