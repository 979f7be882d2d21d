"""python -m standins {slack,trello,console} [--host H] [--port P]: serve a stand-in (or the dev
console) until SIGTERM/Ctrl-C."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from types import FrameType

from werkzeug.serving import make_server

from standins import console, slack, trello
from ticketrouter.logs import configure_logging

APPS = {
    "slack": (slack.create_app, 9001),
    "trello": (trello.create_app, 9002),
    "console": (console.create_app, 9000),
}
PORT_VARIABLES = {"slack": "SLACK_STANDIN_PORT", "trello": "TRELLO_STANDIN_PORT", "console": "CONSOLE_PORT"}
log = logging.getLogger("standins")


def _stop(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m standins", description=__doc__)
    parser.add_argument("service", choices=sorted(APPS))
    parser.add_argument("--host", default=os.environ.get("STANDIN_HOST", "127.0.0.1"))
    parser.add_argument(
        "--port", type=int, help="0 picks a free port (default 9001 slack, 9002 trello, 9000 console)"
    )
    args = parser.parse_args(argv)
    create_app, default_port = APPS[args.service]
    port = (
        args.port
        if args.port is not None
        else int(os.environ.get(PORT_VARIABLES[args.service]) or default_port)
    )
    configure_logging(f"standin-{args.service}", os.environ.get("LOG_LEVEL", "INFO"))
    server = make_server(args.host, port, create_app(), threaded=True)
    signal.signal(signal.SIGTERM, _stop)
    url = f"http://{args.host}:{server.server_port}"
    # First line on stdout, machine-readable: whoever started us learns the port.
    print(json.dumps({"event": "listening", "service": args.service, "url": url}), flush=True)
    log.info("listening", extra={"url": url})
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        log.info("stopping")
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
