"""Which rollouts are still open, read straight from the table: the one fact that trials and
retirement need about rollouts, kept below all three so none of them imports another for it."""

from __future__ import annotations

from kindred.core.basics.ids import AssistantId, VersionId
from kindred.core.basics.states import OPEN_ROLLOUT
from kindred.core.home.store import Store

OPEN_STATES = OPEN_ROLLOUT


def open_pair(store: Store, assistant_id: AssistantId) -> tuple[str | None, str] | None:
    """(outgoing, incoming) version ids of the assistant's open rollout, if it has one."""
    row = store.db.execute(
        f"SELECT from_version, to_version FROM rollouts WHERE assistant_id = ? AND state IN "
        f"({', '.join('?' * len(OPEN_STATES))}) ORDER BY id DESC LIMIT 1",
        [assistant_id, *OPEN_STATES]).fetchone()
    return (row[0], str(row[1])) if row else None


def in_open_rollout(store: Store, version_id: VersionId) -> bool:
    """Whether the version is either side of an open rollout (its report is not final yet)."""
    row = store.db.execute(
        f"SELECT 1 FROM rollouts WHERE state IN ({', '.join('?' * len(OPEN_STATES))}) "
        "AND ? IN (from_version, to_version)", [*OPEN_STATES, version_id]).fetchone()
    return row is not None
