"""Carry out a person's answer to a version request, whatever its kind: the one dispatcher the
window and the CLI both call after a consent dialog or prompt.

Granted: activate or restore, retire, delete, start a phase-in (with the plan the consent
agreed to) or take its next step ahead of the pace, each through its own consent-gated core
function, which checks the decision again.
Refused: recorded (a never-used candidate becomes `refused`, kept archived); nothing else
changes. The outcome says what happened in one line a person can read, and whether what the
assistant talks through changed, so a caller need not know the kinds.
"""

from __future__ import annotations

from dataclasses import dataclass

from kindred.core.archive import versions
from kindred.core.archive.catalog import Version, name_of
from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import VersionId
from kindred.core.basics.states import ConsentKind, RolloutState, VersionStatus
from kindred.core.home import consent
from kindred.core.home.consent import Decision
from kindred.core.home.store import Store
from kindred.core.upgrades import rollout

KINDS = (ConsentKind.ACTIVATE, ConsentKind.RESTORE, ConsentKind.RETIRE, ConsentKind.DELETE,
         ConsentKind.ROLLOUT)


@dataclass(frozen=True)
class Outcome:
    kind: ConsentKind
    granted: bool
    version: Version | None
    message: str
    speaks_changed: bool  # what the assistant talks through is not what it was


def carry_out(store: Store, decision: Decision) -> Outcome:
    """Do what `decision` granted, or record its refusal (raises KindredError, changing
    nothing, if the request is not about a version or the state moved on since)."""
    request = decision.request
    kind = ConsentKind(request.kind) if request.kind in KINDS else None
    if kind is None:
        raise KindredError(f"A {request.kind} request is not about a version. Nothing was "
                           "changed.")
    next_step = kind == ConsentKind.ROLLOUT and request.evidence.get("action") == "next_step"
    if not decision.granted and next_step:
        return Outcome(kind, False, None, "Not taken: the rollout goes on at its pace.", False)
    if not decision.granted:
        refused = versions.record_refusal(store, decision)
        candidate = refused is not None and refused.status == VersionStatus.REFUSED
        return Outcome(kind, False, refused, "Refused and recorded. Nothing changed"
                       + ("; the candidate stays archived, and History can activate it later."
                          if candidate else "; the version stays archived."), False)
    if next_step:
        moved = rollout.next_step(store, request.assistant_id, decision)
        incoming = versions.get_version(store, moved.to_version)
        if moved.state == RolloutState.FINISHED:
            text = f"Rollout finished: {name_of(store, incoming)} alone answers now."
        else:
            text = "Next step taken: " + rollout.progress_text(store, moved)
        return Outcome(kind, True, incoming, text, True)
    if kind == ConsentKind.ROLLOUT:
        started = rollout.start(store, VersionId(request.subject),
                                rollout.Plan(**request.evidence["plan"]), decision)
        return Outcome(kind, True, versions.get_version(store, request.subject),
                       "Phasing in: " + rollout.progress_text(store, started), True)
    if kind in (ConsentKind.ACTIVATE, ConsentKind.RESTORE):
        version = versions.activate(store, VersionId(request.subject), decision)
        return Outcome(kind, True, version, f"{name_of(store, version)} is now active; your "
                       "next message uses it.", True)
    if kind == ConsentKind.RETIRE:
        version = versions.retire(store, VersionId(request.subject), decision)
        return Outcome(kind, True, version, f"{name_of(store, version)} retired; the base "
                       "model answers now.", True)
    version = versions.delete(store, VersionId(request.subject), decision)
    return Outcome(kind, True, version, f"{name_of(store, version)}'s weights were deleted; "
                   "its record stays.", False)


def answer(store: Store, request_id: int, *, granted: bool, via: str) -> Outcome:
    """Record the person's answer to a version request and carry it out, in one call."""
    return carry_out(store, consent.decide(store, request_id, granted=granted, via=via))
