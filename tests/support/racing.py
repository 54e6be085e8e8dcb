"""Operations on the assistant's state from two processes at once, on one data home.

Two long-lived worker processes each hold their own session on the same home. For each pair,
the parent asks (and grants) the consents both operations need against the state as it is,
hands one operation to each worker, and both start together at a barrier; then the parent
checks the home (`problems`). Conflicting pairs must end with at most one carried out and the
other refused with a clear message, never a half-made or contradictory state.
Used by tests/core/archive/test_state_races.py and bench/state.py.
"""

from __future__ import annotations

import multiprocessing as mp
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kindred.core.archive import assistant_state, versions
from kindred.core.archive.catalog import verify_all
from kindred.core.basics.errors import KindredError
from kindred.core.basics.states import OPEN_ROLLOUT, VersionStatus
from kindred.core.home import consent, ledger
from kindred.core.home.store import Store
from kindred.core.session import Session, open_session
from kindred.core.upgrades import rollout, trial

OPS = ("activate", "retire", "delete", "rollout", "next_step", "roll_back", "pause",
       "trial_start", "trial_end")
PLAN = rollout.Plan(3, 50)


@dataclass(frozen=True)
class Job:
    op: str
    version: str | None
    decision: int | None


def prepare(session: Session, op: str, version: str | None) -> Job:
    """The job with its consent asked and granted now (as a dialog answered just before)."""
    store = session.store
    aid = session.assistant().id
    decision = None
    try:
        if op in ("activate", "retire", "delete", "rollout") and version:
            v = versions.get_version(store, version)
            kind, summary, evidence = {
                "activate": lambda: versions.describe_activation(store, v),
                "retire": lambda: versions.describe_retire(store, v),
                "delete": lambda: versions.describe_delete(store, v),
                "rollout": lambda: rollout.describe_start(store, v, PLAN)}[op]()
            subject = version
        elif op == "next_step":
            kind, summary, evidence = rollout.describe_next_step(store, aid)
            subject = str(evidence["version"])
        else:
            return Job(op, version, None)
    except KindredError:
        return Job(op, version, None)
    req = consent.request(store, kind, aid, subject, summary, evidence)
    decision = consent.decide(store, req.id, granted=True, via="gui").id
    return Job(op, version, decision)


def perform(session: Session, job: Job) -> None:
    store, aid = session.store, session.assistant().id
    if job.op == "activate":
        versions.activate(store, str(job.version), job.decision)
    elif job.op == "retire":
        versions.retire(store, str(job.version), job.decision)
    elif job.op == "delete":
        versions.delete(store, str(job.version), job.decision)
    elif job.op == "rollout":
        rollout.start(store, str(job.version), PLAN, job.decision)
    elif job.op == "next_step":
        rollout.next_step(store, aid, job.decision)
    elif job.op == "roll_back":
        rollout.roll_back(store, aid, via="gui")
    elif job.op == "pause":
        rollout.pause(store, aid, via="gui")
    elif job.op == "trial_start":
        trial.start(store, aid, job.version, prompts=3)
    elif job.op == "trial_end":
        trial.end(store, aid)


def _worker(home: str, inbox: Any, outbox: Any, barrier: Any) -> None:
    session = open_session(Path(home))
    try:
        while (job := inbox.get()) is not None:
            barrier.wait()
            try:
                perform(session, job)
                outbox.put(("done", ""))
            except KindredError as exc:
                outbox.put(("refused", str(exc)))
            except Exception as exc:  # a traceback where a clear refusal was due
                outbox.put(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        session.close()


class Racers:
    """Two worker processes on one home; `race(a, b)` runs two jobs at once."""

    def __init__(self, home: Path) -> None:
        ctx = mp.get_context("spawn")  # a fresh interpreter each: no inherited SQLite handle
        self.barrier = ctx.Barrier(2)
        self.inboxes = [ctx.Queue(), ctx.Queue()]
        self.outbox = ctx.Queue()
        self.procs = [ctx.Process(target=_worker, args=(str(home), q, self.outbox,
                                                          self.barrier), daemon=True)
                      for q in self.inboxes]
        for p in self.procs:
            p.start()

    def race(self, a: Job, b: Job, timeout: float = 120) -> list[tuple[str, str]]:
        self.inboxes[0].put(a)
        self.inboxes[1].put(b)
        return [self.outbox.get(timeout=timeout) for _ in range(2)]

    def close(self) -> None:
        for q in self.inboxes:
            q.put(None)
        for p in self.procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()


def pick_pair(rng: random.Random, known: list[str]) -> tuple[tuple[str, str | None], ...]:
    ops = [(rng.choice(OPS), rng.choice(known)) for _ in range(2)]
    return tuple(ops)


def problems(store: Store, assistant_id: int) -> list[str]:
    """Everything that contradicts the one-owner rules in this home, in words (empty: fine)."""
    found: list[str] = []
    statuses = {v.id: v.status for v in versions.list_versions(store, assistant_id)}
    snap = assistant_state.read(store, assistant_id)
    actives = [k for k, s in statuses.items() if s == VersionStatus.ACTIVE]
    if actives != ([snap.active] if snap.active else []):
        found.append(f"active versions {actives} but the assistant says {snap.active}")
    opened = store.db.execute(
        f"SELECT COUNT(*) FROM rollouts WHERE assistant_id = ? AND state IN "
        f"({', '.join('?' * len(OPEN_ROLLOUT))})", [assistant_id, *OPEN_ROLLOUT]).fetchone()[0]
    if opened > 1:
        found.append(f"{opened} rollouts open at once")
    trials = [k for k, s in statuses.items() if s == VersionStatus.TRIAL]
    if snap.rollout is None and trials:
        found.append(f"versions {trials} are on trial without a rollout")
    if snap.rollout is not None:
        if statuses.get(snap.rollout.to_version) != VersionStatus.TRIAL:
            found.append("the rollout's incoming version is "
                         f"{statuses.get(snap.rollout.to_version)}")
        if snap.rollout.from_version != snap.active:
            found.append("the rollout's outgoing version is not the active one")
    for side in snap.sides():
        if statuses.get(side) == VersionStatus.DELETED:
            found.append(f"{side[:8]} was deleted while a rollout or trial stands on it")
    found += [c.message for c in verify_all(store, assistant_id) if not c.ok]
    check = ledger.verify(store)
    if not check.ok:
        found.append(f"ledger: {check.message}")
    found += consent_problems(store, assistant_id)
    return found


def consent_problems(store: Store, assistant_id: int) -> list[str]:
    """Each event that changed what the assistant talks through (or deleted weights) names one
    granted, used consent of its kind and subject, and no consent carries two such events."""
    found: list[str] = []
    seen: dict[int, str] = {}
    needs = {ledger.ACTIVATED: ("activate",), ledger.RESTORED: ("restore",),
             ledger.DELETED: ("delete",), ledger.ROLLOUT_STARTED: ("rollout",)}
    for event in ledger.events(store, assistant_id=assistant_id):
        p = event.payload
        kinds = needs.get(event.kind)
        if event.kind == ledger.RETIRED and p.get("consent") is not None:
            kinds = ("retire",)
        if event.kind == ledger.ROLLOUT_STEP and p.get("by") != "pace" and p.get("step", 0) > 1:
            kinds = ("rollout",)
        if kinds is None:
            continue
        cid = int(p["consent"])
        decision = consent.get_decision(store, cid)
        if decision is None or not decision.granted or decision.used_at is None \
                or decision.request.kind not in kinds \
                or decision.request.subject != p["version"]:
            found.append(f"event {event.seq} ({event.kind}) has no matching consent {cid}")
        if cid in seen:
            found.append(f"consent {cid} was used for {seen[cid]} and {event.kind}")
        seen[cid] = event.kind
    return found
