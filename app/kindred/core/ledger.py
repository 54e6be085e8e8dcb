"""The continuity ledger: an append-only, hash-chained record of every version's fate.

Each event's hash covers its canonical encoding and the previous event's hash, so an edited,
deleted or reordered row breaks the chain from that row on, and `verify` names the first bad one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kindred.core.hashing import sha256_bytes
from kindred.core.store import Store, now

GENESIS = "0" * 64


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
    assistant_id: int | None
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at, "kind": self.kind,
                "assistant_id": self.assistant_id, "payload": self.payload,
                "prev_hash": self.prev_hash, "hash": self.hash}


def append(store: Store, kind: str, payload: dict[str, Any],
           assistant_id: int | None = None) -> Event:
    """Add one event at the end of the chain (inside the caller's transaction if there is one)."""
    with store.tx() as db:
        last = db.execute("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        at = now()
        body = canonical(payload).decode()
        digest = event_hash(seq, at, kind, assistant_id, body, prev)
        db.table("ledger").insert({"seq": seq, "at": at, "kind": kind, "assistant_id": assistant_id,
                             "payload": body, "prev_hash": prev, "hash": digest})
    return Event(seq, at, kind, assistant_id, payload, prev, digest)


def events(store: Store, *, assistant_id: int | None = None, kind: str | None = None
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
        digest = event_hash(seq, row["at"], row["kind"], row["assistant_id"], row["payload"],
                            prev)
        if digest != row["hash"]:
            return LedgerCheck(False, count, seq, f"event {seq} was altered after it was written")
        prev, expected_seq = row["hash"], seq + 1
    return LedgerCheck(True, count)
