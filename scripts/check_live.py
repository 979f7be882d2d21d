"""Is a live configuration ready? `make check-live TARGET=aws` asks Slack, Trello and AWS what
the services will need, without sending a ticket, and says what is wrong and what to do.

Settings are the services' own (their settings classes, from the shell, then .env); AWS is the
ops commands' target, named on the first line (real AWS only with TARGET=aws). One line per
check, `ok` or `PROBLEM`; exit 0 when every check passes, 1 otherwise, 2 without a target.
Every line passes through the project's redactor: no secret is printed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from livecheck.aws import aws_checks
from livecheck.result import Result
from livecheck.slack import slack_checks
from livecheck.trello import trello_checks
from ticketrouter.redaction import Redactor, secrets_in_environment
from ticketrouter.target import choose


def run_checks(env: Mapping[str, str]) -> list[Result]:
    return [*slack_checks(env), *trello_checks(env), *aws_checks(env)]


def main() -> int:
    choose()  # announces the target; real AWS only with TARGET=aws
    env = dict(os.environ)
    redactor = Redactor(secrets_in_environment(env))
    results = run_checks(env)
    for result in results:
        print(redactor.text(result.line()), flush=True)
    problems = sum(not result.ok for result in results)
    print(
        f"{problems} problem(s) of {len(results)} checks" if problems else f"all {len(results)} checks passed"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
