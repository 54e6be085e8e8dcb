"""The evidence behind a version: the stated preferences and corrected answers that taught it.

Read from the version's archived dataset snapshot (what really taught it), whatever its encoding
(one JSON document or JSON lines); a version without a snapshot (imported) falls back to the
assistant's current feedback, so "fit" still measures the person's own preferred answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kindred.core import archive
from kindred.core.store import Store
from kindred.core.versions import Version

_NAME = re.compile(r"\b(?:call me|my name is|i am called|i'm called)\s+([A-Z][\w'-]{0,30})",
                   re.IGNORECASE)


@dataclass(frozen=True)
class Evidence:
    preferences: list[str] = field(default_factory=list)
    examples: list[tuple[str, str]] = field(default_factory=list)
    """(prompt, the answer the person wanted)."""
    from_snapshot: bool = False

    @property
    def user_name(self) -> str | None:
        for text in self.preferences:
            match = _NAME.search(text)
            if match:
                return match.group(1)
        return None


def _records(raw: bytes) -> list[dict[str, Any]]:
    text = raw.decode("utf-8", "replace").strip()
    if not text:
        return []
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return [r for r in (json.loads(line) for line in text.splitlines() if line.strip())
                if isinstance(r, dict)]
    if isinstance(doc, dict):
        for key in ("records", "examples", "feedback", "items"):
            if isinstance(doc.get(key), list):
                return [r for r in doc[key] if isinstance(r, dict)]
        return [doc]
    return [r for r in doc if isinstance(r, dict)] if isinstance(doc, list) else []


def _from_records(records: Iterable[dict[str, Any]], from_snapshot: bool) -> Evidence:
    preferences: list[str] = []
    examples: list[tuple[str, str]] = []
    for record in records:
        kind = str(record.get("kind", ""))
        if kind == "preference":
            text = str(record.get("text") or record.get("answer") or "").strip()
            if text and text not in preferences:
                preferences.append(text)
        elif kind in ("correction", "example") or (kind == "rating" and record.get("value") == 1):
            prompt = str(record.get("prompt", "")).strip()
            answer = str(record.get("answer", "")).strip()
            if prompt and answer:
                examples.append((prompt, answer))
    return Evidence(preferences, examples, from_snapshot)


def evidence_for(store: Store, version: Version) -> Evidence:
    if version.dataset:
        path = archive.dataset_path(store, version.dataset)
        if path.exists():
            return _from_records(_records(path.read_bytes()), True)
    rows = store.db.execute(
        "SELECT kind, prompt, answer, value FROM feedback WHERE assistant_id = ? AND "
        "(kind != 'preference' OR active = 1) ORDER BY id", [version.assistant_id]
    ).fetchall() if "feedback" in store.db.table_names() else []
    return _from_records(
        ({"kind": k, "prompt": p, "answer": a, "text": a, "value": v} for k, p, a, v in rows),
        False,
    )
