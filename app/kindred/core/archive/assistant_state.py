"""The one owner of the assistant's state: what it talks through, and every version's status.

What an assistant talks through is one of: its active version alone, the base alone, or during a
rollout the blend of the outgoing and the incoming version; a side-by-side trial answers with its
pair besides. Activate, restore, retire, delete, the rollout's start, steps and roll-back, trials
and the switch to another base all change it, and each used to write `versions.status` and
`assistants.active_version` its own way, so where two met (a rollout and an activation, a
deletion mid-rollout) the promise broke. Now they are transitions of this module, made inside the
caller's write transaction: `set_status` checks the transition table, `set_active` keeps the
active row and the status in step, and `guard` refuses an operation that the open rollout or
trial forbids. No other code writes `status` or `active_version` (a test greps for it).

A consent names the state it was granted against (`fingerprint`, kept in its evidence); the gate
refuses it as stale when the state changed before it was used (see `consent.require`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kindred.core.archive.catalog import names
from kindred.core.basics.errors import KindredError
from kindred.core.basics.hashing import sha256_bytes
from kindred.core.basics.ids import AssistantId, RolloutId, TrialId, VersionId
from kindred.core.basics.states import OPEN_ROLLOUT, RolloutState, VersionStatus
from kindred.core.home import ledger
from kindred.core.home.store import Store, now

S = VersionStatus
TRANSITIONS: dict[VersionStatus, frozenset[VersionStatus]] = {
    S.CANDIDATE: frozenset({S.TRIAL, S.ACTIVE, S.REFUSED, S.RETIRED, S.DELETED}),
    S.TRIAL: frozenset({S.ACTIVE, S.REFUSED, S.RETIRED, S.DELETED}),
    S.ACTIVE: frozenset({S.RETIRED}),  # deleting an active version: retire it first
    S.REFUSED: frozenset({S.TRIAL, S.ACTIVE, S.RETIRED, S.DELETED}),
    S.RETIRED: frozenset({S.TRIAL, S.ACTIVE, S.DELETED}),
    S.DELETED: frozenset(),  # a tombstone is final
}
"""Which status may follow which; everything else is refused, whoever asks."""


class StateError(KindredError):
    """An operation that the assistant's current state does not allow; nothing was changed."""


@dataclass(frozen=True)
class OpenRollout:
    id: RolloutId
    from_version: VersionId | None
    to_version: VersionId
    step: int
    steps: int
    state: RolloutState

    @property
    def blend(self) -> list[tuple[VersionId, float]]:
        t = self.step / self.steps
        out = [(self.from_version, 1.0 - t)] if self.from_version else []
        return [*out, (self.to_version, t)]


@dataclass(frozen=True)
class OpenTrial:
    id: TrialId
    a_version: VersionId | None
    b_version: VersionId


@dataclass(frozen=True)
class Snapshot:
    """The assistant's state at one moment, read in one go."""

    assistant_id: AssistantId
    active: VersionId | None
    model_id: str | None
    rollout: OpenRollout | None
    trial: OpenTrial | None

    @property
    def speaks_through(self) -> list[tuple[VersionId, float]]:
        """(version id, scale) the assistant answers with: the blend, its version, or nothing."""
        if self.rollout is not None:
            return self.rollout.blend
        return [(self.active, 1.0)] if self.active else []

    def sides(self) -> set[VersionId]:
        """Versions an open rollout or trial stands on (they cannot be deleted or retired)."""
        found: set[VersionId] = set()
        if self.rollout is not None:
            found |= {v for v in (self.rollout.from_version, self.rollout.to_version) if v}
        if self.trial is not None:
            found |= {v for v in (self.trial.a_version, self.trial.b_version) if v}
        return found


def read(store: Store, assistant_id: AssistantId) -> Snapshot:
    row = store.db.execute("SELECT active_version, model_id FROM assistants WHERE id = ?",
                           [assistant_id]).fetchone()
    if row is None:
        raise KindredError(f"No assistant {assistant_id}. Nothing was changed.")
    r = store.db.execute(
        f"SELECT id, from_version, to_version, step, steps, state FROM rollouts WHERE "
        f"assistant_id = ? AND state IN ({', '.join('?' * len(OPEN_ROLLOUT))})",
        [assistant_id, *OPEN_ROLLOUT]).fetchone()
    rollout = OpenRollout(RolloutId(r[0]), r[1], VersionId(r[2]), int(r[3]), int(r[4]),
                          RolloutState(r[5])) if r else None
    t = store.db.execute("SELECT id, a_version, b_version FROM trials WHERE assistant_id = ? "
                         "AND ended_at IS NULL", [assistant_id]).fetchone()
    trial = OpenTrial(TrialId(t[0]), t[1], VersionId(t[2])) if t else None
    return Snapshot(assistant_id, row[0], None if row[1] is None else str(row[1]), rollout,
                    trial)


def speaks_through(store: Store, assistant_id: AssistantId
                   ) -> list[tuple[VersionId, float]]:
    """What the assistant answers with now, as (version id, scale): the one answer to that
    question, used by the chat, the window, the CLI and the tests' invariants alike."""
    return read(store, assistant_id).speaks_through


def status_of(store: Store, version_id: VersionId) -> VersionStatus:
    row = store.db.execute("SELECT status FROM versions WHERE id = ?", [version_id]).fetchone()
    if row is None:
        raise KindredError(f"No version {version_id[:12]}. Nothing was changed.")
    return VersionStatus(row[0])


def fingerprint(store: Store, assistant_id: AssistantId, subject: str | None = None) -> str:
    """A short digest of the state a consent is asked against: what the assistant talks
    through, its base, the open rollout (and its step) and trial, and the subject's status.
    A new candidate being archived meanwhile does not change it; anything the consent's text
    describes does."""
    snap = read(store, assistant_id)
    subject_status = None
    if subject:
        row = store.db.execute("SELECT status FROM versions WHERE id = ?", [subject]).fetchone()
        subject_status = row[0] if row else None
    body = {"active": snap.active, "model": snap.model_id,
            "rollout": [snap.rollout.id, snap.rollout.step, str(snap.rollout.state)]
            if snap.rollout else None,
            "trial": snap.trial.id if snap.trial else None,
            "subject": [subject, subject_status]}
    return sha256_bytes(json.dumps(body, sort_keys=True).encode())[:16]


# -- transitions (inside the caller's write transaction) ------------------------------------


def set_status(store: Store, version_id: VersionId, to: VersionStatus) -> VersionStatus:
    """Move one version to status `to`, if the transition table allows it; returns the old
    status. Raises StateError (nothing written) otherwise."""
    was = status_of(store, version_id)
    if to == was:
        return was
    if to not in TRANSITIONS[was]:
        raise StateError(f"Version {version_id[:12]} is {was}; it cannot become {to}. "
                         "Nothing was changed.")
    if to == S.ACTIVE or was == S.ACTIVE:
        raise StateError("The active status changes only with the active version "
                         "(set_active). Nothing was changed.")
    _write_status(store, version_id, to)
    return was


def _write_status(store: Store, version_id: VersionId, to: VersionStatus) -> None:
    store.db.execute("UPDATE versions SET status = ?, status_at = ? WHERE id = ?",
                     [str(to), now(), version_id])


def set_active(store: Store, assistant_id: AssistantId, version_id: VersionId | None, *,
               model_id: str | None = None) -> str | None:
    """Make `version_id` (None: the base alone) what the assistant talks through; the version
    active before becomes `retired`. Optionally moves the assistant to `model_id` (a version on
    another base). Returns the version that was active before."""
    previous = read(store, assistant_id).active
    if version_id is not None:
        was = status_of(store, version_id)
        if was != S.ACTIVE and S.ACTIVE not in TRANSITIONS[was]:
            raise StateError(f"Version {version_id[:12]} is {was}; it cannot become active. "
                             "Nothing was changed.")
    if previous and previous != version_id:
        _write_status(store, previous, S.RETIRED)
    if version_id is not None:
        _write_status(store, version_id, S.ACTIVE)
    store.db.execute("UPDATE assistants SET active_version = ? WHERE id = ?",
                     [version_id, assistant_id])
    if model_id is not None:
        store.db.execute("UPDATE assistants SET model_id = ? WHERE id = ?",
                         [model_id, assistant_id])
    return previous


# -- what the open rollout and trial allow ---------------------------------------------------


def guard(store: Store, assistant_id: AssistantId, action: str,
          version_id: VersionId | None = None) -> None:
    """Refuse `action` ('activate', 'restore', 'retire', 'delete', 'rollout') when the open
    rollout or trial stands in its way, saying what to do instead. An activation or retirement
    ends an open trial (`trial_ends_with`, said in its consent); a rollout never ends behind the
    person's back, and nothing deletes a version a rollout or trial stands on."""
    snap = read(store, assistant_id)
    named = names(store, assistant_id)
    label = named.get(version_id or "", f"Version {_short(version_id)}")
    if snap.rollout is not None:
        r = snap.rollout
        phase = (f"the phase-in of {named.get(r.to_version, _short(r.to_version))} "
                 f"(step {r.step} of {r.steps})")
        if action in ("activate", "restore", "rollout"):
            raise StateError(f"{phase[0].upper()}{phase[1:]} is in progress: finish it (next "
                             "step now) or roll it back first. Nothing was changed.")
        if action in ("retire", "delete") and version_id in (r.from_version, r.to_version):
            raise StateError(f"{label} is part of {phase}: roll it back or finish it first. "
                             "Nothing was changed.")
    if snap.trial is not None and action == "delete" and version_id in (
            snap.trial.a_version, snap.trial.b_version):
        raise StateError(f"{label} is in a side-by-side trial: end the trial first. "
                         "Nothing was changed.")


def end_trial(store: Store, assistant_id: AssistantId, **extra: Any) -> OpenTrial | None:
    """End the open trial, if any (its rounds and tally stay), with a ledger event."""
    trial = read(store, assistant_id).trial
    if trial is None:
        return None
    store.db.execute("UPDATE trials SET ended_at = ? WHERE id = ?", [now(), trial.id])
    ledger.append(store, ledger.TRIAL_ENDED,
                  {"trial": trial.id, "a": trial.a_version, "b": trial.b_version, **extra},
                  assistant_id=assistant_id)
    return trial


def trial_ends_with(store: Store, assistant_id: AssistantId, action: str,
                    version_id: VersionId | None) -> bool:
    """Whether `action` on `version_id` ends the open trial: an activation or restore always
    does (the trial compares against what the assistant answers with now), a retirement of one
    of its two sides too."""
    trial = read(store, assistant_id).trial
    if trial is None:
        return False
    if action in ("activate", "restore"):
        return True
    return action == "retire" and version_id in (trial.a_version, trial.b_version)


def _short(version_id: VersionId | None) -> str:
    return version_id[:12] if version_id else "the base model"
