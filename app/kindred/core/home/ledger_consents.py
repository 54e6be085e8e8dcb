"""`ledger verify`, second half: every consent an event cites has its own ledger events.

The hash chain proves that no event was altered; it cannot prove that the consent an `activated`
(or `deleted`, `retired`, `rollout_started`...) event cites was ever asked and given, since
consent rows can be inserted into the database by hand. Every real decision writes a
`consent_requested` and a `consent_decided` event before it is used, so each citing event must
find both earlier in the ledger, from the same place (this home, or the same imported bundle),
and a decision that matches (granted, except for a `refused` event).
"""

from __future__ import annotations

import json
from typing import Any

from kindred.core.home.store import Store


def origin_key(payload: dict[str, Any]) -> str:
    """Where an event was first written: "" for this home, else the bundles it came through,
    newest first ("b2/b1": imported from bundle b2, whose home had imported it from b1).
    Consent request ids are only unique within one home, so they are compared per origin."""
    parts: list[str] = []
    origin: Any = payload.get("origin")
    while isinstance(origin, dict) and len(parts) < 100:
        parts.append(str(origin.get("bundle") or ""))
        origin = origin.get("from")
    return "/".join(parts)


def consent_problem(store: Store) -> tuple[int, str] | None:
    """(seq, reason) of the first event citing a consent without its events, or None."""
    requested: set[tuple[str, int]] = set()
    decided: dict[tuple[str, int], bool] = {}
    for seq, kind, raw in store.db.execute("SELECT seq, kind, payload FROM ledger ORDER BY seq"):
        try:
            payload: Any = json.loads(raw)
        except ValueError:
            continue  # the chain check reports it
        if not isinstance(payload, dict):
            continue
        origin = origin_key(payload)
        if kind == "consent_requested" and isinstance(payload.get("request"), int):
            requested.add((origin, payload["request"]))
            continue
        if kind == "consent_decided" and isinstance(payload.get("request"), int):
            decided[(origin, payload["request"])] = bool(payload.get("granted"))
            continue
        cited = payload.get("consent")
        if cited is None:
            continue
        key = (origin, cited) if isinstance(cited, int) else None
        if key is None or key not in requested:
            return int(seq), (f"event {seq} ({kind}) cites consent {cited}, which was never "
                              "asked in the ledger")
        if key not in decided:
            return int(seq), (f"event {seq} ({kind}) cites consent {cited}, which was never "
                              "decided in the ledger")
        if decided[key] != (kind != "refused"):
            return int(seq), (f"event {seq} ({kind}) cites consent {cited}, which the ledger "
                              "records as " + ("granted" if decided[key] else "refused"))
    return None
