"""Field checks for an assistant bundle: types and ranges, as strict as the CLI's own input.

Hashes prove a bundle was not damaged, not that its fields are sane: a hand-made bundle can carry
`top_k: 40.5` (llama.cpp's C API then fails at the first answer), `created_at: "abc"` (a traceback
at import, or later in `examples list`), ledger events dated 1970 ("active from 1970-01-01"), or
names and texts with NUL or terminal escape codes. Everything here runs before anything is
written; a problem names the field and changes nothing.
"""

from __future__ import annotations

import math
import time
from typing import Any

from kindred.core.basics.errors import KindredError
from kindred.core.basics.sampling import Sampling
from kindred.core.home.assistants import clean_name
from kindred.core.learning.feedback import MAX_PREFERENCE, MAX_TEXT

EARLIEST = 1_577_836_800.0  # 2020-01-01: nothing Kindred wrote is older
FUTURE_SLACK_S = 2 * 86_400.0  # clocks disagree a little between computers
MAX_TITLE = 500
MAX_PERSONA = 100_000
MAX_MESSAGE = 10_000_000


class FieldError(KindredError):
    """A bundle field has the wrong type or an impossible value."""


def check_time(value: Any, what: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value):
        raise FieldError(f"{what} is not a time ({value!r})")
    if not EARLIEST <= value <= time.time() + FUTURE_SLACK_S:
        raise FieldError(f"{what} is an impossible time ({value!r})")


def _number(value: Any, what: str, *, whole: bool = False, optional: bool = True) -> None:
    if value is None and optional:
        return
    kinds = int if whole else int | float
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value) \
            or value < 0:
        raise FieldError(f"{what} is not a {'whole ' if whole else ''}number ≥ 0 ({value!r})")


def check_text(value: Any, what: str, limit: int, *, lines: bool = True) -> None:
    """Text without NUL or control characters other than newline and tab (no ESC codes)."""
    if not isinstance(value, str):
        raise FieldError(f"{what} is not text")
    if len(value) > limit:
        raise FieldError(f"{what} is too long ({len(value)} characters; at most {limit})")
    allowed = "\n\t\r" if lines else ""
    bad = next((c for c in value if (ord(c) < 32 or 0x7F <= ord(c) < 0xA0) and c not in allowed),
               None)
    if bad is not None:
        raise FieldError(f"{what} holds the control character U+{ord(bad):04X}")


def check_fields(header: dict[str, Any], versions: list[Any], conversations: list[Any],
                 events: list[Any], feedback: list[Any]) -> None:
    """Raise FieldError for the first field that is not what Kindred itself would write."""
    assistant = header.get("assistant") or {}
    try:
        name: Any = assistant.get("name")
        clean_name(name)
    except KindredError as exc:
        reason = str(exc).removesuffix(" Nothing was changed.").rstrip(".")
        raise FieldError(f"the assistant's name is unusable: {reason}") from exc
    check_text(assistant.get("persona", ""), "the persona", MAX_PERSONA)
    sampling = assistant.get("sampling", {})
    if not isinstance(sampling, dict):
        raise FieldError("the sampling settings are not an object")
    try:
        Sampling(**sampling).validated()
    except TypeError as exc:
        raise FieldError(f"the sampling settings are malformed ({exc})") from exc
    except KindredError as exc:
        raise FieldError(str(exc).rstrip(".")) from exc
    check_time(assistant.get("created_at"), "the assistant's creation time", optional=True)
    for entry in versions:
        short = str(entry.get("id", ""))[:12]
        check_time(entry.get("created_at"), f"version {short}'s creation time")
        check_time(entry.get("status_at"), f"version {short}'s status time", optional=True)
        _number(entry.get("size_bytes"), f"version {short}'s size", whole=True)
    for ci, conv in enumerate(conversations):
        where = f"conversation {ci + 1}"
        check_text(conv.get("title"), f"{where}'s title", MAX_TITLE, lines=False)
        check_time(conv.get("created_at"), f"{where}'s creation time", optional=True)
        check_time(conv.get("updated_at"), f"{where}'s update time", optional=True)
        for mi, message in enumerate(conv.get("messages", [])):
            at = f"message {mi + 1} of {where}"
            check_text(message.get("content"), at, MAX_MESSAGE)
            check_time(message.get("created_at"), f"{at}'s time", optional=True)
            for key in ("tokens_in", "tokens_out"):
                _number(message.get(key), f"{at}'s {key}", whole=True)
            for key in ("ttft_s", "tok_s"):
                _number(message.get(key), f"{at}'s {key}")
            if message.get("finish_reason") is not None:
                check_text(message["finish_reason"], f"{at}'s finish reason", 40, lines=False)
    for fi, item in enumerate(feedback):
        where = f"learning-data item {fi + 1}"
        limit = MAX_PREFERENCE if item.get("kind") == "preference" else MAX_TEXT
        for key in ("prompt", "answer", "rejected"):
            if item.get(key) is not None:
                check_text(item[key], f"{where}'s {key}", limit if key == "answer" else MAX_TEXT)
        check_time(item.get("created_at"), f"{where}'s creation time")
        if "updated_at" in item:  # absent: the creation time; present: a time (never null)
            check_time(item["updated_at"], f"{where}'s update time")
        if item.get("active", 1) not in (0, 1):  # True and False compare equal to 1 and 0
            raise FieldError(f"{where}'s 'active' is neither 0 nor 1")
    previous = EARLIEST
    for event in events:
        at = event.get("at")
        check_time(at, f"ledger event {event.get('seq')}'s time")
        if at < previous:
            raise FieldError(f"ledger event {event.get('seq')} is dated before the event "
                             "before it")
        previous = at
