"""Phase a new version in gradually: the outgoing version A at 1−t and the incoming B at t.

LoRA deltas on the same base add, so two runtime adapters at scales (1−t, t) are exactly PEFT's
`cat` combination of A and B with weights (1−t, t) (tests/core/upgrades/test_rollout_exact.py
proves it against llama.cpp). A rollout is a plan the person agreed to once (one `rollout` consent
whose evidence is the plan): N steps (default 4: 25/50/75/100 %), advancing after every K answers
or every D days. Each step is a ledger event; the last step makes B active and retires A (archived,
restorable; its retirement interview follows, see `retirement`). Pause, resume and roll back are
the person's to take at any moment; "next step now" goes beyond the agreed pace, so it takes its
own consent (which shows the side-by-side trial's tally). While a trial says B loses, the pace
holds. A damaged version found at a step stops the rollout at the last good blend and says why.

State lives in the `rollouts` table, so closing the app keeps the rollout where it was. Every
change reads the row, checks consent and writes inside one `db_write` transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from kindred.core.archive import assistant_state, versions
from kindred.core.archive.catalog import Version, get_version, names, verify_version
from kindred.core.basics.errors import KindredError, NotFoundError
from kindred.core.basics.ids import AssistantId, RolloutId, VersionId
from kindred.core.basics.states import ConsentKind, ConsentVia, RolloutState, VersionStatus
from kindred.core.home import consent, ledger
from kindred.core.home.atomic import db_write
from kindred.core.home.consent import ConsentError, Decision
from kindred.core.home.store import Store, now
from kindred.core.upgrades import trial
from kindred.core.upgrades.rollout_state import OPEN_STATES

STATES = tuple(RolloutState)
DEFAULT_STEPS = 4
DEFAULT_EVERY_ANSWERS = 10
DAY_S = 86400.0


class RolloutStopped(KindredError):
    """A step found a damaged version: the rollout stopped at the last good blend."""


@dataclass(frozen=True)
class Plan:
    """What the person agrees to: how many steps, and the pace (answers or days per step)."""

    steps: int = DEFAULT_STEPS
    every_answers: int | None = DEFAULT_EVERY_ANSWERS
    every_days: float | None = None
    hold_on_loss: bool = True

    def validated(self) -> Plan:
        if not 2 <= self.steps <= 20:
            raise KindredError(f"A rollout has 2 to 20 steps, not {self.steps}.")
        if (self.every_answers is None) == (self.every_days is None):
            raise KindredError("Choose one pace: every K answers or every D days.")
        if self.every_answers is not None and self.every_answers < 1:
            raise KindredError("Advance after at least 1 answer.")
        if self.every_days is not None and not self.every_days > 0:
            raise KindredError("Advance after more than 0 days.")
        return self

    @property
    def percents(self) -> list[int]:
        return [round(100 * k / self.steps) for k in range(1, self.steps + 1)]

    @property
    def pace(self) -> str:
        if self.every_answers is not None:
            n = self.every_answers
            return f"every {n} answer{'s' if n != 1 else ''}"
        days = self.every_days or 0.0
        return f"every {days:g} day{'s' if days != 1 else ''}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Rollout:
    id: RolloutId
    assistant_id: AssistantId
    from_version: VersionId | None
    to_version: VersionId
    plan: Plan
    step: int
    state: str
    reason: str
    consent: int
    started_at: float
    step_at: float
    ended_at: float | None

    @property
    def steps(self) -> int:
        return self.plan.steps

    @property
    def scale(self) -> float:
        """t, the incoming version's share of the blend."""
        return self.step / self.plan.steps

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def adapters(self) -> list[tuple[str, float]]:
        """The blend as (version id, scale), outgoing first; B alone once finished."""
        if self.state == RolloutState.FINISHED:
            return [(self.to_version, 1.0)]
        if self.state == RolloutState.ROLLED_BACK:
            return [(self.from_version, 1.0)] if self.from_version else []
        out = [(self.from_version, 1.0 - self.scale)] if self.from_version else []
        return [*out, (self.to_version, self.scale)]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Rollout:
        plan = Plan(int(row["steps"]), row["every_answers"], row["every_days"],
                    bool(row["hold_on_loss"]))
        return cls(RolloutId(row["id"]), AssistantId(row["assistant_id"]), row["from_version"],
                   row["to_version"], plan, int(row["step"]), row["state"], row["reason"],
                   int(row["consent"]), float(row["started_at"]), float(row["step_at"]),
                   row["ended_at"])

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "assistant_id": self.assistant_id, "from": self.from_version,
                "to": self.to_version, "step": self.step, "steps": self.steps,
                "scale": self.scale, "state": self.state, "reason": self.reason,
                "plan": self.plan.to_json(), "consent": self.consent,
                "started_at": self.started_at, "step_at": self.step_at,
                "ended_at": self.ended_at, "adapters": self.adapters}


# -- reading ---------------------------------------------------------------------------------


def current(store: Store, assistant_id: AssistantId) -> Rollout | None:
    """The assistant's open rollout (running, paused, held or stopped), if any."""
    rows = list(store.db.query(
        "SELECT * FROM rollouts WHERE assistant_id = ? AND state IN (?, ?, ?, ?)",
        [assistant_id, *OPEN_STATES]))
    return Rollout.from_row(rows[0]) if rows else None


def latest(store: Store, assistant_id: AssistantId) -> Rollout | None:
    """The open rollout, else the most recent one (finished or rolled back)."""
    rows = list(store.db.query("SELECT * FROM rollouts WHERE assistant_id = ? "
                               "ORDER BY id DESC LIMIT 1", [assistant_id]))
    return Rollout.from_row(rows[0]) if rows else None


def get(store: Store, rollout_id: RolloutId) -> Rollout:
    rows = list(store.db.query("SELECT * FROM rollouts WHERE id = ?", [rollout_id]))
    if not rows:
        raise NotFoundError(f"No rollout {rollout_id}.")
    return Rollout.from_row(rows[0])


def blend(store: Store, assistant_id: AssistantId) -> list[tuple[str, float]] | None:
    """The adapters an open rollout answers with, or None when no rollout is open."""
    rollout = current(store, assistant_id)
    return rollout.adapters if rollout else None


def blend_label(named: dict[str, str], adapters: Sequence[tuple[str, float]]) -> str:
    """How a blend reads in the small print, each part with its share so that no number
    is read as another's: "Version 3 75 % + Version 4 25 %" (outgoing first)."""
    def name(key: str) -> str:
        return named.get(key, f"Version {key[:12]}")

    if not adapters:
        return "base model"
    if len(adapters) == 1:
        key, scale = adapters[0]
        if abs(scale - 1.0) < 1e-6:
            return name(key)
        return f"base model {_pct(1.0 - scale)} + {name(key)} {_pct(scale)}"
    return " + ".join(f"{name(k)} {_pct(s)}" for k, s in adapters)


def _pct(scale: float) -> str:
    return f"{round(100 * scale)} %"


def answers_since(store: Store, rollout: Rollout) -> int:
    """Answers given with the blend since the current step began (trial rounds excluded),
    in Kindred and to other apps through the local API (`api_answers`)."""
    api = store.db.execute(
        "SELECT COUNT(*) FROM api_answers WHERE assistant_id = ? AND created_at >= ? "
        "AND adapters LIKE ? AND message_id IS NULL",
        [rollout.assistant_id, rollout.step_at, f'%"{rollout.to_version}"%']).fetchone()
    row = store.db.execute(
        "SELECT COUNT(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id "
        "WHERE c.assistant_id = ? AND m.role = 'assistant' AND m.created_at >= ? "
        "AND m.adapters LIKE ? AND NOT EXISTS (SELECT 1 FROM trial_rounds r WHERE "
        "m.id IN (r.first_message, r.second_message))",
        [rollout.assistant_id, rollout.step_at, f'%"{rollout.to_version}"%']).fetchone()
    return int(row[0]) + int(api[0])


def progress_text(store: Store, rollout: Rollout) -> str:
    """Where the rollout stands, in one line ("Version 3 50 % + Version 4 50 % · step 2 of 4 ·
    next step in 7 answers")."""
    named = names(store, rollout.assistant_id)
    head = f"{blend_label(named, rollout.adapters)} · step {rollout.step} of {rollout.steps}"
    if rollout.state == RolloutState.RUNNING:
        if rollout.plan.every_answers is not None:
            left = max(0, rollout.plan.every_answers - answers_since(store, rollout))
            head += f" · next step in {left} answer{'s' if left != 1 else ''}"
        else:
            due = rollout.step_at + (rollout.plan.every_days or 0) * DAY_S
            head += f" · next step in {max(0.0, (due - now()) / DAY_S):.1f} days"
    elif rollout.state in (RolloutState.PAUSED, RolloutState.HELD, RolloutState.STOPPED):
        head += f" · {rollout.state}" + (f": {rollout.reason}" if rollout.reason else "")
    return head


# -- consent texts ---------------------------------------------------------------------------


def _label(named: dict[str, str], version: Version | None) -> str:
    if version is None:
        return "the base model alone"
    return f"{named.get(version.id, 'Version')} ({version.short})"


def describe_start(store: Store, version: Version, plan: Plan
                   ) -> tuple[str, str, dict[str, Any]]:
    """(kind, summary, evidence) for the one consent that covers a whole rollout plan."""
    plan = plan.validated()
    outgoing = versions.active_version(store, version.assistant_id)
    named = names(store, version.assistant_id)
    a, b = _label(named, outgoing), _label(named, version)
    steps = " → ".join(f"{p} %" for p in plan.percents)
    # the base model is no version: nothing of it is retired, archived or interviewed
    back, after = ((f"{a} alone", f"{a} is retired: archived, interviewed, and restorable")
                   if outgoing is not None else
                   (a, "the base model stays under it, as it is under every version"))
    summary = (f"Phase in {b}, replacing {a}, over {plan.steps} steps ({steps}), one step "
               f"{plan.pace}. Each answer says the blend that wrote it. You can pause, take "
               f"the next step now, or roll back to {back} at any moment. After the last "
               f"step {b} alone answers and {after}.")
    if plan.hold_on_loss:
        summary += f" While a side-by-side trial says {b} answers worse, the rollout waits."
    evidence = {"action": "start", "version": version.id,
                "previous": outgoing.id if outgoing else None, "plan": plan.to_json(),
                "metrics": version.metrics, **_trial_evidence(store, outgoing, version),
                "interviews": versions.predecessor_interviews(store, version),
                "state": assistant_state.fingerprint(store, version.assistant_id, version.id)}
    return ConsentKind.ROLLOUT, summary, evidence


def describe_next_step(store: Store, assistant_id: AssistantId) -> tuple[str, str, dict[str, Any]]:
    """(kind, summary, evidence) for taking the next step now, beyond the agreed pace."""
    rollout = _open(store, assistant_id)
    named = names(store, assistant_id)
    b = get_version(store, rollout.to_version)
    a = get_version(store, rollout.from_version) if rollout.from_version else None
    target = rollout.step + 1
    after = _adapters_at(rollout, target)
    after_text = blend_label(named, after)
    summary = (f"Take the next step of the rollout now: from {blend_label(named, rollout.adapters)}"
               f" to {after_text} (step {target} of {rollout.steps}).")
    if target == rollout.steps:
        summary += (f" This is the last step: {_label(named, b)} alone answers and "
                    + (f"{_label(named, a)} is retired (archived, interviewed, restorable)."
                       if a is not None else "the base model no longer answers alone (it "
                       "stays; History can go back to it)."))
    evidence = {"action": "next_step", "rollout": rollout.id, "version": b.id,
                "step": target, "adapters": after, **_trial_evidence(store, a, b),
                "state": assistant_state.fingerprint(store, assistant_id, b.id)}
    if target == rollout.steps:  # the outgoing version steps down: what it and others said
        evidence["interviews"] = versions.predecessor_interviews(store, b)
    tally = evidence.get("trial")
    if tally and tally.get("decisive"):
        summary += f" Side-by-side trial so far: {tally['text']}."
    return ConsentKind.ROLLOUT, summary, evidence


def _trial_evidence(store: Store, a: Version | None, b: Version) -> dict[str, Any]:
    result = trial.tally(store, b.assistant_id, a.id if a else None, b.id)
    return {"trial": result.to_json()} if result.rounds else {}


def _adapters_at(rollout: Rollout, step: int) -> list[tuple[str, float]]:
    if step >= rollout.steps:
        return [(rollout.to_version, 1.0)]
    t = step / rollout.steps
    out = [(rollout.from_version, 1.0 - t)] if rollout.from_version else []
    return [*out, (rollout.to_version, t)]


# -- changes ---------------------------------------------------------------------------------


def _open(store: Store, assistant_id: AssistantId) -> Rollout:
    rollout = current(store, assistant_id)
    if rollout is None:
        raise KindredError("No rollout is in progress. Nothing was changed.")
    return rollout


def _damage(store: Store, rollout: Rollout) -> str | None:
    for key in (rollout.from_version, rollout.to_version):
        if key:
            check = verify_version(store, key)
            if not check.ok:
                return check.message
    return None


def _write(store: Store, rollout_id: RolloutId, **fields: Any) -> None:
    sets = ", ".join(f"{k} = ?" for k in fields)
    store.db.execute(f"UPDATE rollouts SET {sets} WHERE id = ?", [*fields.values(), rollout_id])


def _event(store: Store, kind: str, rollout: Rollout, **extra: Any) -> None:
    payload = {"rollout": rollout.id, "version": rollout.to_version,
               "from": rollout.from_version, "step": rollout.step, "steps": rollout.steps,
               "scale": rollout.scale, **extra}
    ledger.append(store, kind, payload, assistant_id=rollout.assistant_id)


def start(store: Store, version_id: VersionId, plan: Plan, decision: Decision | int | None
          ) -> Rollout:
    """Begin phasing `version_id` in at step 1 (kind `rollout`; the consent's plan must be
    this plan). The assistant's active version (or the bare base) is the outgoing one."""
    plan = plan.validated()
    version = get_version(store, version_id)
    _startable(store, version)
    check = verify_version(store, version.id)
    if not check.ok:
        raise KindredError(check.message + " The rollout did not start; nothing was changed.")
    with db_write(store) as db:
        version = get_version(store, version.id)
        _startable(store, version)
        aid = version.assistant_id
        used = consent.require(store, decision, ConsentKind.ROLLOUT, aid, version.id,
                               state=assistant_state.fingerprint(store, aid, version.id))
        agreed = used.request.evidence
        if agreed.get("action") != "start" or agreed.get("plan") != plan.to_json():
            raise ConsentError(f"Consent {used.id} was given for another rollout plan, not "
                               f"this one ({plan.steps} steps, {plan.pace}). Nothing was "
                               "changed.")
        outgoing = db.execute("SELECT active_version FROM assistants WHERE id = ?",
                              [version.assistant_id]).fetchone()[0]
        if agreed.get("previous") != outgoing:
            raise ConsentError(f"Consent {used.id} was given while another version was "
                               "active. Nothing was changed.")
        if version.status != VersionStatus.TRIAL:
            versions.mark_trial(store, version.id)
        at = now()
        rollout_id = db.table("rollouts").insert({
            "assistant_id": version.assistant_id, "from_version": outgoing,
            "to_version": version.id, "steps": plan.steps, "step": 1,
            "every_answers": plan.every_answers, "every_days": plan.every_days,
            "hold_on_loss": int(plan.hold_on_loss), "state": RolloutState.RUNNING,
            "consent": used.id,
            "started_at": at, "step_at": at}).last_rowid
        rollout = get(store, RolloutId(rollout_id or 0))
        _event(store, ledger.ROLLOUT_STARTED, rollout, plan=plan.to_json(), consent=used.id,
               via=used.via, adapters=rollout.adapters)
    return rollout


def _startable(store: Store, version: Version) -> None:
    """A version can be phased in when it is archived, not in use, made for the assistant's
    base (a blend of two versions on different bases does not exist), and no other rollout is
    open; a trial that is open must be of this same pair."""
    if version.status in (VersionStatus.ACTIVE, VersionStatus.DELETED):
        raise KindredError(f"Version {version.short} is {version.status}; it cannot be phased "
                           "in. Nothing was changed.")
    versions._same_base(store, version)
    assistant_state.guard(store, version.assistant_id, "rollout", version.id)
    snap = assistant_state.read(store, version.assistant_id)
    if snap.trial is not None and (snap.trial.a_version, snap.trial.b_version) != (
            snap.active, version.id):
        raise KindredError("A side-by-side trial of another pair is open: end it first. "
                           "Nothing was changed.")


def _advance(store: Store, rollout: Rollout, *, by: str, consent_id: int) -> Rollout:
    """One step forward inside the caller's transaction; the last step finishes the rollout."""
    target = rollout.step + 1
    at = now()
    if target < rollout.steps:
        _write(store, rollout.id, step=target, step_at=at, state=RolloutState.RUNNING, reason="")
        moved = get(store, rollout.id)
        _event(store, ledger.ROLLOUT_STEP, moved, by=by, consent=consent_id,
               adapters=moved.adapters)
        return moved
    outgoing = rollout.from_version
    running = trial.current(store, rollout.assistant_id)
    if running is not None:  # the pair it compared is no longer what answers
        trial.end(store, rollout.assistant_id)
    assistant_state.set_active(store, rollout.assistant_id, rollout.to_version)
    _write(store, rollout.id, step=target, step_at=at, state=RolloutState.FINISHED, reason="",
           ended_at=at)
    done = get(store, rollout.id)
    _event(store, ledger.ROLLOUT_STEP, done, by=by, consent=consent_id, adapters=done.adapters)
    _event(store, ledger.ROLLOUT_FINISHED, done, active=rollout.to_version, previous=outgoing,
           consent=consent_id, by=by)
    return done


def _stop_for_damage(store: Store, rollout: Rollout, problem: str) -> Rollout:
    named = names(store, rollout.assistant_id)
    reason = (f"{problem} The rollout stopped at {blend_label(named, rollout.adapters)} "
              f"(step {rollout.step} of {rollout.steps}); roll it back, or put the files back "
              "and resume.")
    with db_write(store):
        fresh = get(store, rollout.id)
        if fresh.state != RolloutState.STOPPED:
            _write(store, rollout.id, state=RolloutState.STOPPED, reason=reason)
            _event(store, ledger.ROLLOUT_STOPPED, fresh, reason=reason)
    return get(store, rollout.id)


def _plan_consent(store: Store, rollout: Rollout) -> Decision:
    """The plan's consent, re-read: granted, for this rollout's version, and used by its start."""
    decision = consent.get_decision(store, rollout.consent)
    if (decision is None or not decision.granted or decision.used_at is None
            or decision.request.kind != "rollout"
            or decision.request.subject != rollout.to_version
            or decision.request.assistant_id != rollout.assistant_id):
        raise ConsentError(f"The rollout's consent {rollout.consent} does not cover it; "
                           "nothing was changed.")
    return decision


def due(store: Store, rollout: Rollout) -> bool:
    """Whether the agreed pace says the next step is due."""
    if rollout.plan.every_answers is not None:
        return answers_since(store, rollout) >= rollout.plan.every_answers
    return now() >= rollout.step_at + (rollout.plan.every_days or 0.0) * DAY_S


def advance_if_due(store: Store, assistant_id: AssistantId) -> Rollout | None:
    """Take the next step if the pace says so (after each answer, and at start-up).

    Returns the rollout when something changed (stepped, finished, held, stopped), else None.
    The plan's consent covers these steps; a trial that says B loses holds the rollout.
    """
    rollout = current(store, assistant_id)
    moving = (RolloutState.RUNNING, RolloutState.HELD)
    if rollout is None or rollout.state not in moving or not due(store, rollout):
        return None
    if problem := _damage(store, rollout):
        return _stop_for_damage(store, rollout, problem)
    with db_write(store):
        fresh = current(store, assistant_id)
        if fresh is None or fresh.id != rollout.id or fresh.step != rollout.step \
                or fresh.state not in (RolloutState.RUNNING, RolloutState.HELD):
            return None  # someone else moved it meanwhile
        decision = _plan_consent(store, fresh)
        tally = trial.tally(store, assistant_id, fresh.from_version, fresh.to_version)
        if fresh.plan.hold_on_loss and tally.losing:
            if fresh.state == RolloutState.HELD:
                return None
            named = names(store, assistant_id)
            reason = (f"{named.get(fresh.to_version, 'the new version')} is losing the "
                      f"side-by-side trial ({tally.text})")
            _write(store, fresh.id, state=RolloutState.HELD, reason=reason)
            _event(store, ledger.ROLLOUT_HELD, fresh, reason=reason, trial=tally.to_json())
            return get(store, fresh.id)
        return _advance(store, fresh, by="pace", consent_id=decision.id)


def next_step(store: Store, assistant_id: AssistantId, decision: Decision | int | None) -> Rollout:
    """Take the next step now (kind `rollout`, evidence from `describe_next_step`)."""
    rollout = _open(store, assistant_id)
    if problem := _damage(store, rollout):
        stopped = _stop_for_damage(store, rollout, problem)
        raise RolloutStopped(stopped.reason)
    with db_write(store):
        fresh = _open(store, assistant_id)
        used = consent.require(store, decision, ConsentKind.ROLLOUT, assistant_id,
                               fresh.to_version,
                               state=assistant_state.fingerprint(store, assistant_id,
                                                                 fresh.to_version))
        agreed = used.request.evidence
        if agreed.get("action") != "next_step" or agreed.get("rollout") != fresh.id \
                or agreed.get("step") != fresh.step + 1:
            raise ConsentError(f"Consent {used.id} was not given for step {fresh.step + 1} "
                               "of this rollout. Nothing was changed.")
        return _advance(store, fresh, by=used.via, consent_id=used.id)


def pause(store: Store, assistant_id: AssistantId, *, via: str) -> Rollout:
    """Keep the current blend and stop advancing until resumed (the person's choice)."""
    with db_write(store):
        rollout = _open(store, assistant_id)
        if rollout.state == RolloutState.PAUSED:
            raise KindredError("The rollout is already paused. Nothing was changed.")
        if rollout.state == RolloutState.STOPPED:
            raise KindredError("The rollout is stopped: " + rollout.reason)
        _write(store, rollout.id, state=RolloutState.PAUSED, reason="paused by you")
        _event(store, ledger.ROLLOUT_PAUSED, rollout, via=via)
    return get(store, rollout.id)


def resume(store: Store, assistant_id: AssistantId, *, via: str) -> Rollout:
    """Continue the agreed plan from where it paused (or stopped, once the files verify)."""
    rollout = _open(store, assistant_id)
    if rollout.state == RolloutState.RUNNING:
        raise KindredError("The rollout is already running. Nothing was changed.")
    if rollout.state == RolloutState.HELD:
        raise KindredError(f"The rollout waits because {rollout.reason}. Run more trial "
                           "rounds, or take the next step now. Nothing was changed.")
    if rollout.state == RolloutState.STOPPED and (problem := _damage(store, rollout)):
        raise RolloutStopped(problem + " The rollout stays stopped; roll it back.")
    with db_write(store):
        fresh = _open(store, assistant_id)
        if fresh.state != rollout.state:
            raise KindredError("The rollout changed meanwhile. Nothing was changed.")
        _write(store, fresh.id, state=RolloutState.RUNNING, reason="")
        _event(store, ledger.ROLLOUT_RESUMED, fresh, via=via, was=fresh.state)
    return get(store, rollout.id)


def roll_back(store: Store, assistant_id: AssistantId, *, via: str) -> Rollout:
    """Back to the outgoing version alone, at once: the person's decision, recorded as such.

    The incoming version is kept archived with status `refused` (it can be phased in again);
    a side-by-side trial of it ends too (its tally is kept).
    """
    if via not in consent.VIAS:
        raise KindredError(f"Unknown channel '{via}'; use one of {', '.join(ConsentVia)}.")
    with db_write(store):
        rollout = _open(store, assistant_id)
        running = trial.current(store, assistant_id)
        if running is not None and running.b_version == rollout.to_version:
            trial.end(store, assistant_id)
        at = now()
        _write(store, rollout.id, state=RolloutState.ROLLED_BACK, ended_at=at,
               reason=f"rolled back by you at step {rollout.step} of {rollout.steps}")
        # the incoming version was `trial` for the whole rollout (nothing else may change it
        # meanwhile: assistant_state.guard); it steps back as refused, kept archived
        assistant_state.set_status(store, rollout.to_version, VersionStatus.REFUSED)
        _event(store, ledger.ROLLED_BACK, rollout, via=via, decision="rolled back by the person",
               active=rollout.from_version, adapters=get(store, rollout.id).adapters)
    return get(store, rollout.id)
