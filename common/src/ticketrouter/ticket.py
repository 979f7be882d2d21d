"""The ticket: what a submitter sends, how it is validated, and the envelope on the queue."""

from __future__ import annotations

import json
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    ValidationError,
)
from pydantic_core import ErrorDetails, PydanticCustomError

SCHEMA_VERSION: Final = 1
TITLE_MAX = 200
DESCRIPTION_MAX = 10_000


class Priority(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def display(self) -> PriorityDisplay:
        """How people see this priority, wherever it is shown."""
        return PRIORITY_DISPLAY[self]


@dataclass(frozen=True)
class PriorityDisplay:
    label: str  # its name for people: the reply card, the Trello label's name
    rank: int  # 1 = most urgent: what card choice sets that submit numbers send
    emoji: str  # beside it in the Slack message (a Slack emoji code)
    trello_colour: str  # its Trello label's colour (the stand-in board's label, the console)
    destination: str  # where its tickets go, in words for the submitter


# The one place that says how each priority looks.
PRIORITY_DISPLAY = {
    Priority.HIGH: PriorityDisplay("High", 1, ":rotating_light:", "red", "the Slack channel"),
    Priority.MEDIUM: PriorityDisplay("Medium", 2, ":large_orange_circle:", "orange", "the Trello board"),
    Priority.LOW: PriorityDisplay("Low", 3, ":white_circle:", "sky", "the ticket archive"),
}
# Adaptive Card choice sets in the wild submit either the word or its rank.
_PRIORITY_SPELLINGS = {p.value: p for p in Priority} | {str(p.display.rank): p for p in Priority}
PRIORITY_HINT = (
    f"must be one of {', '.join(Priority)} (or {', '.join(str(p.display.rank) for p in Priority)})"
)


def parse_priority(value: Any) -> Priority:
    """Read a priority from the card/flow spellings: any case, or rank 1/2/3."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PydanticCustomError("priority", PRIORITY_HINT)
    priority = _PRIORITY_SPELLINGS.get(str(value).strip().lower())
    if priority is None:
        raise PydanticCustomError("priority", PRIORITY_HINT)
    return priority


def _requester_from_string(value: Any) -> Any:
    """A bare string names the requester; one with an @ is taken as an e-mail address."""
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
        return {"email": value} if "@" in value else {"name": value}
    return value


# Tab, line feed and carriage return (CRLF line endings) are the only control characters text may
# hold: the others (NUL, ESC, BEL, DEL, C1…) mean nothing to a reader and some destinations refuse them.
ALLOWED_CONTROLS = frozenset("\t\n\r")
# Characters that render as nothing: format characters (zero-width space and joiners, BOM, bidi
# marks), combining marks without a base, and letters/symbols that are blank by design.
_BLANK_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Me"})
_BLANK_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def reject_control_characters(value: str) -> str:
    """Refuse C0/C1 control characters (and DEL) other than tab, line feed and carriage return."""
    if any(unicodedata.category(c) == "Cc" and c not in ALLOWED_CONTROLS for c in value):
        raise PydanticCustomError(
            "control_character", "must not contain control characters (other than tab and line breaks)"
        )
    return value


def require_visible_character(value: str) -> str:
    """Refuse text with nothing a reader can see (only zero-width, blank or control characters)."""
    if not any(
        unicodedata.category(c) not in _BLANK_CATEGORIES and c not in _BLANK_CHARACTERS for c in value
    ):
        raise PydanticCustomError("invisible_text", "must contain visible characters")
    return value


# After the length constraints, so that those keep their own error ("must be at most N characters").
NO_CONTROLS = AfterValidator(reject_control_characters)
VISIBLE = AfterValidator(require_visible_character)


def trimmed(min_length: int = 0, max_length: int | None = None) -> StringConstraints:
    """Whitespace stripped from both ends, then the length checked."""
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)


class Requester(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: Annotated[str, trimmed(max_length=200), NO_CONTROLS] | None = None
    email: Annotated[str, trimmed(max_length=320), NO_CONTROLS] | None = None

    def display(self) -> str:
        """One line naming the requester, for humans."""
        if self.name and self.email:
            return f"{self.name} <{self.email}>"
        return self.name or self.email or "unknown"


class Submission(BaseModel):
    """The fields a submitter provides (Adaptive Card data as Power Automate forwards it)."""

    # Unknown keys are ignored: a flow may forward extra card data (action ids, etc.).
    model_config = ConfigDict(extra="ignore", frozen=True)

    title: Annotated[str, trimmed(1, TITLE_MAX), NO_CONTROLS, VISIBLE]
    priority: Annotated[Priority, BeforeValidator(parse_priority)]
    description: Annotated[str, trimmed(1, DESCRIPTION_MAX), NO_CONTROLS, VISIBLE]
    requester: Annotated[Requester | None, BeforeValidator(_requester_from_string)] = None
    source: Annotated[str, trimmed(max_length=100), NO_CONTROLS] | None = None


class Ticket(Submission):
    """A validated submission with its identity: the envelope that travels on the queue."""

    # Required on the queue: a message without them is not a ticket this router made.
    schema_version: Literal[1]
    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    created_at: AwareDatetime

    @classmethod
    def from_submission(cls, submission: Submission) -> Ticket:
        """Give a submission its id and creation time (UTC)."""
        return cls(
            **submission.model_dump(),
            schema_version=SCHEMA_VERSION,
            id=str(uuid.uuid4()),
            created_at=datetime.now(UTC),
        )

    def to_message(self) -> str:
        """Serialise to the queue message body, ASCII only: SQS refuses some Unicode characters
        (U+FFFE, U+FFFF, most control characters) that JSON escapes carry safely."""
        return json.dumps(self.model_dump(mode="json"), ensure_ascii=True, separators=(",", ":"))

    @classmethod
    def from_message(cls, body: str) -> Ticket:
        """Parse a queue message body; raises ValidationError when it is not a ticket."""
        return cls.model_validate_json(body)


def parse_submission(payload: Any) -> Submission:
    """Validate a decoded JSON body; raises ValidationError."""
    return Submission.model_validate(payload)


def field_errors(error: ValidationError) -> dict[str, str]:
    """Turn a ValidationError into {field: reason} in words a submitter understands."""
    fields: dict[str, str] = {}
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "body"
        fields.setdefault(name, _reason(item))
    return fields


def _reason(item: ErrorDetails) -> str:
    kind = item["type"]
    ctx = item.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters"
    if kind == "string_type":
        return "must be a string"
    if kind == "string_unicode":  # lone surrogates: JSON carries them, no destination stores them
        return "must be valid Unicode text"
    if kind in {"model_type", "model_attributes_type", "dict_type"}:
        return "must be a JSON object"
    return item["msg"]
