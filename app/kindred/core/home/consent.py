"""Consent: requests, decisions, and the gate every consequential core function goes through.

A request names what would happen (kind, assistant, subject, a human summary and the evidence
shown); a decision grants or refuses it, once, and records how it was given (`via`). A gated
function calls `require` inside its own transaction: the decision must be granted, of that kind,
for that assistant and subject, and not used before; it is then marked used, so one "yes" permits
exactly one action. The check reads the database, never the caller's object, so a decision cannot
be forged or re-targeted in memory. Every request and decision is a ledger event.

Typical use (the GUI's consent dialog and the CLI do exactly this)::

    req = consent.request(store, "activate", assistant.id, version.id, summary, evidence)
    decision = consent.decide(store, req.id, granted=True, via="gui")
    versions.activate(store, version.id, decision)      # calls consent.require(...)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kindred.core.basics.errors import KindredError, NotFoundError
from kindred.core.basics.ids import AssistantId
from kindred.core.basics.states import ConsentKind, ConsentVia
from kindred.core.home import ledger
from kindred.core.home.atomic import db_write
from kindred.core.home.store import Store, insert, now

KINDS = tuple(ConsentKind)
VIAS = tuple(ConsentVia)


class ConsentError(KindredError):
    """An action was attempted without a matching, granted, unused consent decision."""


@dataclass(frozen=True)
class ConsentRequest:
    id: int
    kind: str
    assistant_id: AssistantId
    subject: str
    summary: str
    evidence: dict[str, Any]
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "assistant_id": self.assistant_id,
                "subject": self.subject, "summary": self.summary, "evidence": self.evidence,
                "created_at": self.created_at}


@dataclass(frozen=True)
class Decision:
    request: ConsentRequest
    granted: bool
    via: str
    decided_at: float
    used_at: float | None

    @property
    def id(self) -> int:
        """A decision is identified by its request (one decision per request)."""
        return self.request.id

    def to_json(self) -> dict[str, Any]:
        return {"request": self.request.to_json(), "granted": self.granted, "via": self.via,
                "decided_at": self.decided_at, "used_at": self.used_at}


def request(store: Store, kind: str, assistant_id: AssistantId, subject: str, summary: str,
            evidence: dict[str, Any] | None = None) -> ConsentRequest:
    """Record that the user is being asked; returns the request to decide."""
    if kind not in KINDS:
        raise KindredError(f"Unknown consent kind '{kind}'. Nothing was changed.")
    if not summary.strip():
        raise KindredError("A consent request needs a summary the user can read.")
    try:
        evidence_json = json.dumps(evidence or {}, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise KindredError(f"The consent evidence cannot be recorded: {exc}.") from exc
    if store.db.execute("SELECT 1 FROM assistants WHERE id = ?", [assistant_id]).fetchone() is None:
        raise NotFoundError(f"No assistant {assistant_id}. Nothing was changed.")
    created = now()
    with db_write(store) as db:
        request_id = insert(db, "consent_requests", {
            "kind": kind, "assistant_id": assistant_id, "subject": subject, "summary": summary,
            "evidence": evidence_json, "created_at": created})
        ledger.append(store, ledger.CONSENT_REQUESTED,
                      {"request": request_id, "kind": kind, "subject": subject,
                       "summary": summary, "evidence": json.loads(evidence_json)},
                      assistant_id=assistant_id)
    return get_request(store, request_id)


def get_request(store: Store, request_id: int) -> ConsentRequest:
    row = store.db.execute("SELECT id, kind, assistant_id, subject, summary, evidence, created_at "
                           "FROM consent_requests WHERE id = ?", [request_id]).fetchone()
    if row is None:
        raise NotFoundError(f"No consent request {request_id}.")
    return ConsentRequest(int(row[0]), row[1], AssistantId(row[2]), row[3], row[4],
                          json.loads(row[5]), float(row[6]))


def get_decision(store: Store, request_id: int) -> Decision | None:
    """The decision on a request, or None while the user has not answered."""
    req = get_request(store, request_id)
    row = store.db.execute("SELECT granted, via, decided_at, used_at FROM consent_decisions "
                           "WHERE request_id = ?", [request_id]).fetchone()
    if row is None:
        return None
    return Decision(req, bool(row[0]), str(row[1]), float(row[2]),
                    None if row[3] is None else float(row[3]))


def decide(store: Store, request_id: int, *, granted: bool, via: str) -> Decision:
    """Record the user's answer (once). Refusing is recorded exactly like granting."""
    if via not in VIAS:
        raise KindredError(f"Unknown consent channel '{via}'; use one of {', '.join(VIAS)}.")
    req = get_request(store, request_id)
    with db_write(store) as db:
        if db.execute("SELECT 1 FROM consent_decisions WHERE request_id = ?",
                      [request_id]).fetchone():
            raise ConsentError(f"Consent request {request_id} was already decided. "
                               "Nothing was changed.")
        insert(db, "consent_decisions", {"request_id": request_id, "granted": int(granted),
                                         "via": via, "decided_at": now()})
        ledger.append(store, ledger.CONSENT_DECIDED,
                      {"request": request_id, "kind": req.kind, "subject": req.subject,
                       "granted": bool(granted), "via": via}, assistant_id=req.assistant_id)
    decision = get_decision(store, request_id)
    assert decision is not None
    return decision


def check(store: Store, decision: Decision | int | None, kind: str, assistant_id: AssistantId,
          subject: str, *, state: str | None = None) -> Decision:
    """The gate's conditions without using the decision up: raise ConsentError unless
    `decision` permits exactly this action (e.g. before a process that will `require` it).

    `state`: the fingerprint of the assistant's state now (`archive.assistant_state`); the
    request must have been asked against the same one, else the consent is stale: what the
    person read no longer describes what would happen."""
    what = f"{kind} of {subject[:12]}" if subject else kind
    if decision is None:
        raise ConsentError(f"The {what} needs your consent; none was given. Nothing was changed.")
    request_id = decision if isinstance(decision, int) else decision.id
    try:
        current = get_decision(store, request_id)
    except NotFoundError:
        current = None
    if current is None:
        raise ConsentError(f"Consent request {request_id} has no decision yet. "
                           "Nothing was changed.")
    req = current.request
    problems = [
        (not current.granted, "it was refused"),
        (current.used_at is not None, "it was already used"),
        (req.kind != kind, f"it was given for a {req.kind}, not a {kind}"),
        (req.assistant_id != assistant_id, "it was given for another assistant"),
        (req.subject != subject, f"it was given for {req.subject[:12]}, not {subject[:12]}"),
        (state is not None and req.evidence.get("state") != state,
         "it is stale: what the assistant talks through changed after you were asked; ask "
         "again"),
    ]
    for failed, reason in problems:
        if failed:
            raise ConsentError(
                f"Consent {request_id} does not permit the {what}: {reason}. "
                "Nothing was changed."
            )
    return current


def require(store: Store, decision: Decision | int | None, kind: str, assistant_id: AssistantId,
            subject: str, *, state: str | None = None) -> Decision:
    """The gate: raise ConsentError unless `decision` permits exactly this action; use it up.

    Call it inside the transaction that performs the action, so a failed action leaves the
    decision unused.
    """
    with db_write(store) as db:
        current = check(store, decision, kind, assistant_id, subject, state=state)
        used = now()
        db.execute("UPDATE consent_decisions SET used_at = ? WHERE request_id = ? "
                   "AND used_at IS NULL", [used, current.request.id])
    return Decision(current.request, True, current.via, current.decided_at, used)


def pending(store: Store, assistant_id: AssistantId | None = None) -> list[ConsentRequest]:
    """Requests the user has not answered yet (oldest first)."""
    sql = ("SELECT r.id FROM consent_requests r LEFT JOIN consent_decisions d "
           "ON d.request_id = r.id WHERE d.request_id IS NULL")
    params: list[Any] = []
    if assistant_id is not None:
        sql += " AND r.assistant_id = ?"
        params.append(assistant_id)
    return [get_request(store, int(r[0]))
            for r in store.db.execute(sql + " ORDER BY r.id", params).fetchall()]


def history(store: Store, assistant_id: AssistantId | None = None
            ) -> list[tuple[ConsentRequest, Decision | None]]:
    """Every request with its decision (None if unanswered), oldest first."""
    sql, params = "SELECT id FROM consent_requests", []
    if assistant_id is not None:
        sql, params = sql + " WHERE assistant_id = ?", [assistant_id]
    ids = [int(r[0]) for r in store.db.execute(sql + " ORDER BY id", params).fetchall()]
    return [(get_request(store, i), get_decision(store, i)) for i in ids]
