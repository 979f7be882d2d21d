"""Free text from a Teams outgoing webhook → ticket fields, forgivingly.

Teams sends the message as HTML (``<at>Bot</at>``, ``<p>``, ``<br>``, entities). Users type
the fields in any order and case, with typos in the field names ("Tittle", "Priorty"),
priority synonyms ("P1", "urgent") and descriptions over several lines. Anything that cannot
be read with confidence is reported back, never guessed into a different priority.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TypeVar

from ticketrouter.ticket import Priority

K = TypeVar("K")
FIELDS = ("title", "priority", "description")
# Every way of writing a field's name that is taken as that field; typos are matched against these.
FIELD_NAMES = {
    "title": ("title", "subject", "summary", "headline", "topic"),
    "priority": ("priority", "prio", "severity", "urgency", "sev"),
    "description": ("description", "desc", "descr", "details", "detail", "body", "problem", "issue"),
}
PRIORITY_WORDS = {
    Priority.HIGH: (
        "high",
        "urgent",
        "critical",
        "crit",
        "blocker",
        "emergency",
        "highest",
        "asap",
        "p1",
        "sev1",
        "1",
        "hi",
        "h",
    ),
    Priority.MEDIUM: ("medium", "normal", "moderate", "mid", "med", "p2", "sev2", "2", "m"),
    Priority.LOW: ("low", "minor", "trivial", "lowest", "whenever", "p3", "sev3", "3", "lo", "l"),
}
# Only words this long are matched for typos: a 1–2 letter typo of "h" or "p1" is a guess.
_FUZZY_MIN_LENGTH = 4
_FIELD_CUTOFF = 0.75
_PRIORITY_CUTOFF = 0.8
_BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"}
# A one-word label and its separator: "Title:", "priority =", "Desc - ".
_LABEL = re.compile(r"\b([A-Za-z]{2,15})[ \t]*(?::|=|[ \t]+-[ \t]+)")

TEMPLATE = (
    "Title: <one line>\nPriority: High | Medium | Low\nDescription: <what happened, any number of lines>"
)


class _TextExtractor(HTMLParser):
    """Plain text of Teams' HTML: mentions dropped, block tags as line breaks, entities decoded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._in_mention = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "at":
            self._in_mention += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "at":
            self._in_mention = max(0, self._in_mention - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._in_mention:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Teams message HTML as plain text with one line per block."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    text = "".join(extractor.parts).replace("\xa0", " ").replace("\r\n", "\n")
    # Block tags open and close with a break each: blank lines carry no meaning here.
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _lookup(word: str, table: Mapping[K, tuple[str, ...]], cutoff: float) -> K | None:
    """The key one of whose spellings is word, or (for words long enough) a close typo of it."""
    for key, spellings in table.items():
        if word in spellings:
            return key
    if len(word) < _FUZZY_MIN_LENGTH:
        return None
    candidates = {
        spelling: key
        for key, spellings in table.items()
        for spelling in spellings
        if len(spelling) >= _FUZZY_MIN_LENGTH
    }
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=cutoff)
    return candidates[match[0]] if match else None


def field_for_label(label: str) -> str | None:
    """The field a label names, allowing for case, spacing and typos (None if none fits)."""
    return _lookup(re.sub(r"[^a-z]", "", label.lower()), FIELD_NAMES, _FIELD_CUTOFF)


def priority_for_text(value: str) -> Priority | None:
    """The priority a value names ("P1", "urgent", "Meduim", "high - server down"), else None."""
    words = re.findall(r"[a-z0-9]+", value.lower())
    if not words:
        return None
    first = words[0]
    if first in ("p", "sev") and len(words) > 1:  # "P 1", "Sev 2"
        first += words[1]
    return _lookup(first, PRIORITY_WORDS, _PRIORITY_CUTOFF)


@dataclass
class ParsedMessage:
    """What the text said: field values found, and a reason per field that is missing or wrong."""

    values: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def split_fields(text: str) -> dict[str, str]:
    """Values by field: each field starts at the first label that names it; the text up to the
    next field's label is its value (so descriptions may span lines and contain colons)."""
    starts: list[tuple[int, int, str]] = []
    seen: set[str] = set()
    for match in _LABEL.finditer(text):
        name = field_for_label(match.group(1))
        if name and name not in seen:
            seen.add(name)
            starts.append((match.start(1), match.end(), name))
    values = {}
    for index, (_, value_start, name) in enumerate(starts):
        value_end = starts[index + 1][0] if index + 1 < len(starts) else len(text)
        values[name] = text[value_start:value_end].strip()
    return values


def parse_message(html: str) -> ParsedMessage:
    """Read title, priority and description out of a Teams message."""
    values = split_fields(html_to_text(html))
    parsed = ParsedMessage()
    for name in FIELDS:
        if not values.get(name):
            parsed.problems[name] = "is missing" if name not in values else "is empty"
    if values.get("title"):
        # A title is one line; anything after it on the next lines without a label is ignored noise.
        parsed.values["title"] = values["title"].split("\n", 1)[0].strip()
    if values.get("priority"):
        priority = priority_for_text(values["priority"])
        if priority is None:
            parsed.problems["priority"] = (
                f'"{values["priority"][:40]}" is not a priority I know: use High, Medium or Low'
            )
        else:
            parsed.values["priority"] = priority.value
    if values.get("description"):
        parsed.values["description"] = values["description"]
    return parsed
