"""How the person and each version have spent time together: counts per version and per day.

Derived entirely from what is already stored (messages with their adapters, feedback, the ledger),
so it never disagrees with the history. Days are local calendar days.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from kindred.core.archive.versions import active_periods
from kindred.core.basics.ids import AssistantId
from kindred.core.home.store import Store

BASE = "base"
COUNTERS = ("conversations", "messages", "tokens_in", "tokens_out", "ratings_up",
            "ratings_down", "corrections", "other_apps")
"""`messages`: answers in Kindred; `other_apps`: answers given to other apps through the local
API (kindred.api; tokens count in both)."""


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts).date().isoformat()


def _version_of(adapters_json: str) -> str:
    """The version that answered; for a blend, the one with the larger share."""
    adapters = json.loads(adapters_json or "[]")
    if not adapters:
        return BASE
    key, _ = max(adapters, key=lambda pair: float(pair[1]))
    return str(key)


@dataclass
class Usage:
    assistant_id: AssistantId
    days_together: int
    per_version: dict[str, dict[str, int]] = field(default_factory=dict)
    per_day: dict[str, dict[str, int]] = field(default_factory=dict)
    per_day_version: dict[str, dict[str, int]] = field(default_factory=dict)
    """day -> version -> messages answered (for the stacked chart)."""
    active_periods: dict[str, list[tuple[float, float | None]]] = field(default_factory=dict)
    conversations: int = 0
    """Conversations answered in, each once (a sum over versions counts one answered by two
    versions twice)."""

    def to_json(self) -> dict[str, Any]:
        return {"assistant_id": self.assistant_id, "days_together": self.days_together,
                "conversations": self.conversations,
                "per_version": self.per_version, "per_day": self.per_day,
                "per_day_version": self.per_day_version,
                "active_periods": {k: [list(p) for p in v] for k, v in
                                   self.active_periods.items()}}


def usage(store: Store, assistant_id: AssistantId, *, today: date | None = None) -> Usage:
    created = store.db.execute("SELECT created_at FROM assistants WHERE id = ?",
                               [assistant_id]).fetchone()
    start = date.fromtimestamp(created[0]) if created else date.today()
    days = ((today or date.today()) - start).days + 1
    per_version: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTERS, 0))
    per_day: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTERS, 0))
    per_day_version: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    seen: set[tuple[str, int]] = set()
    answered_in: set[int] = set()  # conversations, each once
    rows = store.db.execute(
        "SELECT m.id, m.conversation_id, m.role, m.created_at, m.adapters, m.tokens_in, "
        "m.tokens_out FROM messages m JOIN conversations c ON c.id = m.conversation_id "
        "WHERE c.assistant_id = ? AND m.role = 'assistant' AND m.id NOT IN (SELECT message_id "
        "FROM api_answers WHERE message_id IS NOT NULL) ORDER BY m.id", [assistant_id])
    for _id, conv, _role, at, adapters, t_in, t_out in rows.fetchall():
        version, day = _version_of(adapters), _day(at)
        for bucket in (per_version[version], per_day[day]):
            bucket["messages"] += 1
            bucket["tokens_in"] += int(t_in or 0)
            bucket["tokens_out"] += int(t_out or 0)
        per_day_version[day][version] += 1
        answered_in.add(conv)
        if (version, conv) not in seen:
            seen.add((version, conv))
            per_version[version]["conversations"] += 1
        if ("day:" + day, conv) not in seen:
            seen.add(("day:" + day, conv))
            per_day[day]["conversations"] += 1
    api = store.db.execute("SELECT created_at, adapters, tokens_in, tokens_out FROM api_answers "
                           "WHERE assistant_id = ?", [assistant_id])
    for at, adapters, t_in, t_out in api.fetchall():  # answers given to other apps
        for bucket in (per_version[_version_of(adapters)], per_day[_day(at)]):
            bucket["other_apps"] += 1
            bucket["tokens_in"] += int(t_in or 0)
            bucket["tokens_out"] += int(t_out or 0)
    if "feedback" in store.db.table_names():
        feedback = store.db.execute(
            "SELECT f.kind, f.value, f.created_at, m.adapters FROM feedback f "
            "LEFT JOIN messages m ON m.id = f.message_id "
            "WHERE f.assistant_id = ? AND f.kind IN ('rating', 'correction')", [assistant_id])
        for kind, value, at, adapters in feedback.fetchall():
            key = "corrections" if kind == "correction" else (
                "ratings_up" if value == 1 else "ratings_down")
            per_day[_day(at)][key] += 1
            if adapters is not None:
                per_version[_version_of(adapters)][key] += 1
    return Usage(
        assistant_id=assistant_id, days_together=max(days, 1),
        per_version={k: dict(v) for k, v in per_version.items()},
        per_day={k: dict(v) for k, v in sorted(per_day.items())},
        per_day_version={k: dict(v) for k, v in sorted(per_day_version.items())},
        active_periods=active_periods(store, assistant_id),
        conversations=len(answered_in),
    )


def active_seconds(periods: list[tuple[float, float | None]], now: float | None = None) -> float:
    end_now = now if now is not None else time.time()
    return sum((end if end is not None else end_now) - start for start, end in periods)
