"""List your Trello boards with their lists and labels, and the ids to put in .env:
`make trello-discover` (reads TRELLO_KEY and TRELLO_TOKEN from the shell or .env).

For each board: every open list (TRELLO_LIST_ID) and every label (TRELLO_LABEL_HIGH/MEDIUM/LOW),
with a suggested .env block where a label's name is a priority. Sends nothing, changes nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "common" / "src"))
from ticketrouter.target import with_dotenv  # noqa: E402 — after the path above

PRIORITIES = ("high", "medium", "low")


class TrelloClient:
    """GETs against the Trello REST API with the key and token in the Authorization header."""

    def __init__(self, base_url: str, key: str, token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f'OAuth oauth_consumer_key="{key}", oauth_token="{token}"'}

    def get(self, path: str, **params: str) -> Any:
        response = requests.get(f"{self.base_url}/1/{path}", headers=self.headers, params=params, timeout=15)
        if response.status_code in (401, 403):
            raise PermissionError(
                f"Trello refused the key or token ({response.status_code}: {response.text[:80]})"
            )
        response.raise_for_status()
        return response.json()


def describe_board(client: TrelloClient, board: dict[str, Any]) -> list[str]:
    """The board's lists and labels, then the .env lines they suggest."""
    lists = client.get(f"boards/{board['id']}/lists", filter="open", fields="name")
    labels = client.get(f"boards/{board['id']}/labels", fields="name,color")
    lines = [f"board {board['name']!r}  ({board['id']})", "  lists:"]
    lines += [f"    {item['id']}  {item['name']}" for item in lists] or ["    (none)"]
    lines.append("  labels:")
    lines += [
        f"    {label['id']}  {label['name'] or '(no name)'}  [{label.get('color')}]" for label in labels
    ] or ["    (none)"]
    by_name = {(label["name"] or "").strip().lower(): label["id"] for label in labels}
    suggested = [f"TRELLO_LABEL_{p.upper()}={by_name[p]}" for p in PRIORITIES if p in by_name]
    if lists:
        lines.append("  for .env (first list; pick another above if it is not the one):")
        lines.append(f"    TRELLO_LIST_ID={lists[0]['id']}")
        lines += [f"    {line}" for line in suggested]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make trello-discover", description=__doc__)
    parser.add_argument("--board", help="only boards whose name contains this (case-insensitive)")
    args = parser.parse_args(argv)
    env = with_dotenv(os.environ)
    key, token = env.get("TRELLO_KEY"), env.get("TRELLO_TOKEN")
    if not key or not token:
        print(
            "error: set TRELLO_KEY and TRELLO_TOKEN (in the shell or .env; see .env.example)", file=sys.stderr
        )
        return 2
    base_url = env.get("TRELLO_API_URL") or "https://api.trello.com"
    print(f"target: Trello at {base_url}")
    client = TrelloClient(base_url, key, token)
    try:
        boards = client.get("members/me/boards", filter="open", fields="name,url")
        wanted = [b for b in boards if not args.board or args.board.lower() in b["name"].lower()]
        for board in wanted:
            print("\n".join(describe_board(client, board)))
    except (PermissionError, requests.RequestException) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not wanted:
        print("no board matches" if args.board else "this account has no open board")
    return 0


if __name__ == "__main__":
    sys.exit(main())
