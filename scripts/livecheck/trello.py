"""Trello: the credentials, the list, and each priority's label."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import requests

from livecheck.result import Result, reported
from ticketrouter.config import ConfigurationError
from worker_trello.__main__ import TrelloSettings
from worker_trello.destination import auth_header, trello_session


@dataclass(frozen=True)
class Trello:
    """GETs with the worker's own session (its retries) and Authorization header."""

    session: requests.Session
    base_url: str
    headers: dict[str, str]
    timeout: float

    @classmethod
    def from_settings(cls, settings: TrelloSettings) -> Trello:
        return cls(
            trello_session(settings.trello_max_retries),
            settings.trello_api_url.rstrip("/"),
            auth_header(settings.trello_key.get_secret_value(), settings.trello_token.get_secret_value()),
            settings.trello_timeout_seconds,
        )

    def get(self, path: str) -> requests.Response:
        return self.session.get(f"{self.base_url}{path}", headers=self.headers, timeout=self.timeout)


def answered(response: requests.Response) -> str:
    return f"{response.status_code} {response.text[:80].strip()!r}"


@reported("trello credentials")
def check_trello_credentials(trello: Trello) -> Result:
    """GET /1/members/me: the key and token are valid, and whose they are."""
    response = trello.get("/1/members/me")
    if not response.ok:
        return Result(
            False,
            "trello credentials",
            f"Trello answered {answered(response)}: TRELLO_KEY is your Power-Up's API key and "
            "TRELLO_TOKEN a token generated for that key (.env.example says where each comes from)",
        )
    member = response.json()
    return Result(
        True, "trello credentials", f"valid: member {member.get('username')} ({member.get('fullName')})"
    )


@reported("trello list")
def check_trello_list(trello: Trello, list_id: str) -> Result:
    """GET /1/lists/{id}: the list exists and is open; names its board."""
    response = trello.get(f"/1/lists/{list_id}")
    if response.status_code in (400, 404):
        return Result(
            False,
            "trello list",
            f"no list {list_id} (Trello answered {answered(response)}): `make trello-discover` lists your "
            "boards' lists with their ids for TRELLO_LIST_ID",
        )
    if not response.ok:
        return Result(False, "trello list", f"GET /1/lists/{list_id} answered {answered(response)}")
    found = response.json()
    if found.get("closed"):
        return Result(
            False,
            "trello list",
            f"list {found.get('name')!r} ({list_id}) is archived: reopen it or choose another",
        )
    return Result(True, "trello list", f"{found.get('name')!r} ({list_id}) on board {found.get('idBoard')}")


@reported("trello label")
def check_trello_label(trello: Trello, list_id: str, variable: str, label_id: str) -> Result:
    """The label is one of the board of TRELLO_LIST_ID (GET /1/boards/{id}/labels)."""
    subject = f"trello {variable}"
    listing = trello.get(f"/1/lists/{list_id}")
    if not listing.ok:
        return Result(False, subject, "cannot be checked: the list's board is unknown (see trello list)")
    board = listing.json().get("idBoard")
    response = trello.get(f"/1/boards/{board}/labels")
    if not response.ok:
        return Result(False, subject, f"GET /1/boards/{board}/labels answered {answered(response)}")
    label = next((item for item in response.json() if item.get("id") == label_id), None)
    if label is None:
        return Result(
            False,
            subject,
            f"{label_id} is not a label of board {board}: "
            "`make trello-discover` lists its labels with their ids",
        )
    return Result(True, subject, f"label {label.get('name')!r} ({label.get('color')}) of board {board}")


def trello_checks(env: Mapping[str, str]) -> list[Result]:
    try:
        settings = TrelloSettings.load(env)
    except ConfigurationError as error:
        return [Result(False, "trello settings", f"{error} (README: Going live, step 3)")]
    trello = Trello.from_settings(settings)
    credentials = check_trello_credentials(trello)
    if not credentials.ok:
        return [credentials]
    labels = {f"TRELLO_LABEL_{priority.name}": label for priority, label in settings.label_ids().items()}
    return [
        credentials,
        check_trello_list(trello, settings.trello_list_id),
        *(
            check_trello_label(trello, settings.trello_list_id, name, label)
            for name, label in labels.items()
            if label
        ),
    ]
