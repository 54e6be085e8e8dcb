"""The learning data (ratings, corrections, stated preferences) in an assistant bundle.

Feedback rows may point at a message; in the bundle that link is written as the message's
position ([conversation index, message index], in id order, as `bundle.export_bundle` lists
them), because row ids mean nothing in another data home.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import AssistantId
from kindred.core.basics.states import FeedbackKind
from kindred.core.home.store import Store, insert, now

KINDS = tuple(FeedbackKind)
_TEXT = ("prompt", "answer")
_COPIED = ("kind", "prompt", "answer", "rejected", "value", "active", "created_at", "updated_at")


def _has_table(db: sqlite_utils.Database) -> bool:
    return bool(db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                           "AND name = 'feedback'").fetchone())


def message_positions(store: Store, assistant_id: AssistantId) -> dict[int, list[int]]:
    """Message id -> [conversation index, message index], in export order."""
    out: dict[int, list[int]] = {}
    convs = store.db.execute("SELECT id FROM conversations WHERE assistant_id = ? ORDER BY id",
                             [assistant_id]).fetchall()
    for ci, (conv_id,) in enumerate(convs):
        rows = store.db.execute("SELECT id FROM messages WHERE conversation_id = ? ORDER BY id",
                                [conv_id]).fetchall()
        for mi, (message_id,) in enumerate(rows):
            out[int(message_id)] = [ci, mi]
    return out


def export_feedback(store: Store, assistant_id: AssistantId) -> list[dict[str, Any]]:
    if not _has_table(store.db):
        return []
    positions = message_positions(store, assistant_id)
    items = []
    for row in store.db.query("SELECT * FROM feedback WHERE assistant_id = ? ORDER BY id",
                              [assistant_id]):
        item = {k: row[k] for k in _COPIED if k in row}
        item["message"] = positions.get(row["message_id"]) if row.get("message_id") else None
        items.append(item)
    return items


def check_feedback(items: Any, conversations: list[dict[str, Any]]) -> str | None:
    """The first problem with the bundle's feedback, or None."""
    if not isinstance(items, list):
        return "the learning data is not a list"
    rated: set[tuple[int, int]] = set()
    for item in items:
        if not isinstance(item, dict) or item.get("kind") not in KINDS:
            return "a learning-data item has an unknown kind"
        if any(not isinstance(item.get(k, ""), str) for k in _TEXT):
            return "a learning-data item has a malformed text"
        if item.get("value") not in (None, -1, 1):
            return "a rating is neither +1 nor -1"
        ref = item.get("message")
        if ref is not None and not (
                isinstance(ref, list) and len(ref) == 2 and all(isinstance(i, int) for i in ref)
                and 0 <= ref[0] < len(conversations)
                and 0 <= ref[1] < len(conversations[ref[0]]["messages"])):
            return "a learning-data item points at a message the bundle does not hold"
        if ref is not None and item["kind"] == "rating":
            if (ref[0], ref[1]) in rated:
                return "a message is rated twice"
            rated.add((ref[0], ref[1]))
    return None


def import_feedback(db: sqlite_utils.Database, assistant_id: AssistantId,
                    items: list[dict[str, Any]], message_ids: list[list[int]]) -> int:
    """Insert the bundle's feedback (inside the import transaction); returns how many."""
    if not items:
        return 0
    if not _has_table(db):
        raise KindredError("This Kindred cannot store the bundle's learning data.")
    for item in items:
        row = {k: item[k] for k in _COPIED if k in item}
        row.setdefault("created_at", now())
        row.setdefault("updated_at", row["created_at"])
        ref = item.get("message")
        row["message_id"] = message_ids[ref[0]][ref[1]] if ref else None
        insert(db, "feedback", {"assistant_id": assistant_id, **row})
    return len(items)
