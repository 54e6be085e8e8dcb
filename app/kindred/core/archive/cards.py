"""Cards kept with the versions they measure: quality (see `learning.quality`) and migration.

A card is measured once per version (versions are immutable, so it never goes stale) and kept in
its own table: it is an assessment of the version, not part of it, so the version's id (the hash
of its manifest) does not depend on it.
"""

from __future__ import annotations

import json
from typing import Any

from kindred.core.basics.ids import VersionId
from kindred.core.home.store import Store, now

TABLES = {"quality": "quality_cards", "migration": "migration_cards"}
"""A version's quality card (`learning.quality`) and, for a migrated one, its migration card
(`upgrades.migration_card`)."""


def store_card(store: Store, version_id: VersionId, card: dict[str, Any], kind: str = "quality"
               ) -> None:
    with store.tx() as db:
        db.execute(f"INSERT OR REPLACE INTO {TABLES[kind]} (version_id, card, created_at) "
                   "VALUES (?, ?, ?)", [version_id, json.dumps(card, ensure_ascii=False), now()])


def get_card(store: Store, version_id: VersionId, kind: str = "quality") -> dict[str, Any] | None:
    row = store.db.execute(f"SELECT card FROM {TABLES[kind]} WHERE version_id = ?",
                           [version_id]).fetchone()
    return None if row is None else dict(json.loads(row[0]))


def brief(card: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a consent request shows of a card: its sentences and flags."""
    if card is None:
        return None
    return {"summary": list(card.get("summary", [])), "flags": list(card.get("flags", []))}
