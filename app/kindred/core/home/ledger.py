"""The continuity ledger: an append-only, hash-chained record of every version's fate.

Each event's hash covers its canonical encoding and the previous event's hash, so an edited,
deleted or reordered row breaks the chain from that row on, and `verify` names the first bad one.
A one-row head witness (`ledger_head`, updated in the same transaction as each append) remembers
the last event, so deleting the newest rows is caught too, and the next append continues from the
witness (leaving a visible gap) rather than silently re-using the deleted numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kindred.core.basics.hashing import sha256_bytes
from kindred.core.basics.ids import AssistantId
from kindred.core.home.ledger_consents import consent_problem
from kindred.core.home.record_check import store_problems
from kindred.core.home.store import Store, now

GENESIS = "0" * 64

# The event kinds written by the core (others may add their own kinds).
MODEL_ADDED = "model_added"
MODEL_REMOVED = "model_removed"  # unregistered with consent; the file is kept
ASSISTANT_CREATED = "assistant_created"
VERSION_ARCHIVED = "version_archived"
CONSENT_REQUESTED = "consent_requested"
CONSENT_DECIDED = "consent_decided"
ACTIVATED = "activated"
RESTORED = "restored"
RETIRED = "retired"
SET_ASIDE_BY_IMPORT = "imported; restore to use"  # a RETIRED reason: it did not step down
REFUSED = "refused"
TRIAL = "trial"
DELETED = "deleted"
IMPORTED = "imported"
EXPORTED = "exported"
# Gradual replacement (core/upgrades): a rollout's life, side-by-side trials, retirement records.
ROLLOUT_STARTED = "rollout_started"
ROLLOUT_STEP = "rollout_step"
ROLLOUT_PAUSED = "rollout_paused"
ROLLOUT_RESUMED = "rollout_resumed"
ROLLOUT_HELD = "rollout_held"
ROLLOUT_STOPPED = "rollout_stopped"
ROLLOUT_FINISHED = "rollout_finished"
ROLLED_BACK = "rolled_back"
TRIAL_STARTED = "trial_started"
TRIAL_VOTE = "trial_vote"
TRIAL_ENDED = "trial_ended"
INTERVIEWED = "interviewed"
REPORTED = "reported"
MIGRATED = "migrated"  # a version re-learned on another base (payload: from/to version+base)
# Kinds after which an assistant talks through a different version (payload: version, previous).
ACTIVE_CHANGES = (ACTIVATED, RESTORED, RETIRED, ROLLOUT_FINISHED)


def canonical(value: Any) -> bytes:
    """One byte encoding per value: sorted keys, no whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(seq: int, at: float, kind: str, assistant_id: int | None, payload: str,
               prev_hash: str) -> str:
    body = {"seq": seq, "at": repr(at), "kind": kind, "assistant": assistant_id,
            "payload": payload, "prev": prev_hash}
    return sha256_bytes(canonical(body))


@dataclass(frozen=True)
class Event:
    seq: int
    at: float
    kind: str
    assistant_id: AssistantId | None
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at, "kind": self.kind,
                "assistant_id": self.assistant_id, "payload": self.payload,
                "prev_hash": self.prev_hash, "hash": self.hash}


def _head(store: Store) -> tuple[int, str] | None:
    """The newest event: from the witness, or (older homes, a removed witness) the last row."""
    row = store.db.execute("SELECT seq, hash FROM ledger_head WHERE id = 1").fetchone()
    if row is None:
        row = store.db.execute("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row[0]), str(row[1])) if row else None


def append(store: Store, kind: str, payload: dict[str, Any],
           assistant_id: AssistantId | None = None, *, at: float | None = None) -> Event:
    """Add one event at the end of the chain (inside the caller's transaction if there is one).

    `at` defaults to now; bundle import passes the original time of a replayed event.
    """
    with store.tx() as db:
        head = _head(store)
        seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
        at = now() if at is None else float(at)
        body = canonical(payload).decode()
        digest = event_hash(seq, at, kind, assistant_id, body, prev)
        db.table("ledger").insert({"seq": seq, "at": at, "kind": kind,
                                   "assistant_id": assistant_id, "payload": body,
                                   "prev_hash": prev, "hash": digest})
        db.execute("INSERT INTO ledger_head (id, seq, hash) VALUES (1, ?, ?) "
                   "ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                   [seq, digest])
    return Event(seq, at, kind, assistant_id, payload, prev, digest)


def events(store: Store, *, assistant_id: AssistantId | None = None, kind: str | None = None
           ) -> list[Event]:
    where: list[str] = []
    params: list[Any] = []
    if assistant_id is not None:
        where.append("assistant_id = ?")
        params.append(assistant_id)
    if kind is not None:
        where.append("kind = ?")
        params.append(kind)
    sql = "SELECT * FROM ledger" + (" WHERE " + " AND ".join(where) if where else "")
    return [
        Event(r["seq"], r["at"], r["kind"], r["assistant_id"], json.loads(r["payload"]),
              r["prev_hash"], r["hash"])
        for r in store.db.query(sql + " ORDER BY seq", params)
    ]


@dataclass(frozen=True)
class LedgerCheck:
    ok: bool
    count: int
    first_bad: int | None = None
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "count": self.count, "first_bad": self.first_bad,
                "reason": self.reason}


def verify(store: Store) -> LedgerCheck:
    """Walk the chain from the start; the first row that does not follow is reported."""
    prev, expected_seq, count = GENESIS, 1, 0
    for row in store.db.query("SELECT * FROM ledger ORDER BY seq"):
        count += 1
        seq = row["seq"]
        if seq != expected_seq:
            return LedgerCheck(False, count, seq, f"event {expected_seq} is missing before {seq}")
        if row["prev_hash"] != prev:
            return LedgerCheck(False, count, seq, f"event {seq} does not follow event {seq - 1}")
        try:
            digest = event_hash(seq, float(row["at"]), str(row["kind"]), row["assistant_id"],
                                str(row["payload"]), prev)
            json.loads(row["payload"])
        except (TypeError, ValueError):
            digest = ""
        if digest != row["hash"]:
            return LedgerCheck(False, count, seq, f"event {seq} was altered after it was written")
        prev, expected_seq = row["hash"], seq + 1
    witness = store.db.execute("SELECT seq, hash FROM ledger_head WHERE id = 1").fetchone()
    last = expected_seq - 1
    if witness is not None and int(witness[0]) > last:
        return LedgerCheck(False, count, last + 1,
                           f"events {last + 1} to {witness[0]} were removed from the end")
    if witness is not None and int(witness[0]) == last and witness[1] != prev:
        return LedgerCheck(False, count, last, f"event {last} is not the event last written")
    if witness is None and count:
        return LedgerCheck(False, count, last, "the ledger's head record is missing")
    if witness is not None and int(witness[0]) < last:
        return LedgerCheck(False, count, int(witness[0]) + 1,
                           f"event {int(witness[0]) + 1} was added outside the ledger")
    problem = consent_problem(store)
    if problem is not None:
        return LedgerCheck(False, count, problem[0], problem[1])
    records = store_problems(store)  # interviews and reports against their events
    if records:
        return LedgerCheck(False, count, None, records[0])
    return LedgerCheck(True, count)
