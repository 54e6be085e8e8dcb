"""A model-based test of the assistant's state: random sequences of every operation that
changes what the assistant talks through, run against the real core (real archive, SQLite,
ledger, consent gate, llama.cpp for the chat) and against a small reference model that says,
independently, what each operation should do. Used by tests/core/archive/test_state_machine.py
(a fast profile) and bench/state.py (the long one).

Consents are asked at one step and used at a later one, so stale, refused, re-used and
mismatched consents come up as naturally as fresh ones.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
)

from kindred.core.archive import assistant_state, versions
from kindred.core.archive.catalog import verify_all
from kindred.core.archive.objects import adapter_refs
from kindred.core.basics.errors import KindredError
from kindred.core.basics.sampling import Sampling
from kindred.core.basics.states import ConsentKind, RolloutState, VersionStatus
from kindred.core.bundles.bundle import export_bundle, import_bundle
from kindred.core.chat import turns
from kindred.core.chat.conversations import create_conversation, list_messages
from kindred.core.engine.llama import Engine
from kindred.core.home import consent, ledger
from kindred.core.session import Session, open_session
from kindred.core.upgrades import rollout, trial
from support.archive_helpers import make_version
from support.racing import consent_problems

S = VersionStatus
EVERY = 2  # a rollout step every 2 answers


@dataclass(frozen=True)
class RefRollout:
    id: int
    src: str | None
    dst: str
    step: int
    steps: int
    state: RolloutState

    @property
    def open(self) -> bool:
        return self.state not in (RolloutState.FINISHED, RolloutState.ROLLED_BACK)

    @property
    def blend(self) -> list[tuple[str, float]]:
        t = self.step / self.steps
        return [*([(self.src, 1.0 - t)] if self.src else []), (self.dst, t)]


@dataclass
class Reference:
    """What the rules say the state is: written from issue 21, not from the core's code."""

    status: dict[str, VersionStatus] = field(default_factory=dict)
    active: str | None = None
    rollout: RefRollout | None = None
    trial: tuple[int, str | None, str] | None = None
    answers_since_step: int = 0

    def speaks_through(self) -> list[tuple[str, float]]:
        if self.rollout is not None and self.rollout.open:
            return self.rollout.blend
        return [(self.active, 1.0)] if self.active else []

    def fingerprint(self, subject: str) -> tuple[Any, ...]:
        r = self.rollout if self.rollout is not None and self.rollout.open else None
        return (self.active, (r.id, r.step, str(r.state)) if r else None,
                self.trial[0] if self.trial else None, subject, self.status.get(subject))

    def sides(self) -> set[str]:
        found: set[str] = set()
        if self.rollout is not None and self.rollout.open:
            found |= {v for v in (self.rollout.src, self.rollout.dst) if v}
        return found

    def trial_sides(self) -> set[str]:
        return {v for v in self.trial[1:] if v} if self.trial else set()

    def rollout_open(self) -> bool:
        return self.rollout is not None and self.rollout.open

    def finish(self) -> None:
        assert self.rollout is not None
        if self.rollout.src:
            self.status[self.rollout.src] = S.RETIRED
        self.status[self.rollout.dst] = S.ACTIVE
        self.active = self.rollout.dst
        self.rollout = replace(self.rollout, step=self.rollout.steps,
                               state=RolloutState.FINISHED)
        self.trial = None
        self.answers_since_step = 0


@dataclass
class Asked:
    """A consent asked at some step, used at a later one (or never)."""

    decision: consent.Decision
    action: str
    version: str
    fingerprint: tuple[Any, ...]
    granted: bool
    rollout_step: tuple[int, int] | None = None


OUTCOMES: dict[str, int] = {}
"""How often each operation was carried out (`name`) or refused (`name refused`), over every
example: the test checks the sequences really reach the states where features meet."""


TOTALS = {"sequences": 0, "steps": 0, "exports": 0}
EXPORT_EVERY = [1]
"""Check the export of every Nth sequence (1 in the suite; bench/state.py's long profile checks
every 10th: an export and import into a fresh home cost about a second)."""
"""Sequences run and steps checked over every example (bench/state.py reports them)."""


def count(name: str) -> None:
    OUTCOMES[name] = OUTCOMES.get(name, 0) + 1


class StateMachine(RuleBasedStateMachine):
    """Subclass it with `engine` and `model_path` set (see `machine_for`)."""

    engine: Engine
    model_path: Path
    versions_made = Bundle("versions")
    consents = Bundle("consents")

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="kindred-state-"))
        self.session: Session = open_session(self.root / "home")
        self.aid = self.session.assistant().id
        self.conversation = create_conversation(self.session.store, self.aid).id
        self.ref = Reference()
        self.seed = 0
        self.used: set[int] = set()
        self.steps = 0

    def teardown(self) -> None:
        TOTALS["sequences"] += 1
        try:
            if self.steps and TOTALS["sequences"] % EXPORT_EVERY[0] == 0:
                TOTALS["exports"] += 1
                self.check_export_restores()
                if TOTALS["exports"] % 3 == 1:  # one export in three (a copy costs ~2 s)
                    self.check_copy_here()
        finally:
            self.session.close()
            shutil.rmtree(self.root, ignore_errors=True)

    # -- versions and consents -------------------------------------------------------------

    @initialize(target=versions_made)
    def three_versions(self) -> Any:
        """As in the issue: imported adapters V1 (active), V2 and V3."""
        made = [self.new_version() for _ in range(3)]
        v1 = versions.get_version(self.session.store, made[0])
        kind, summary, evidence = versions.describe_activation(self.session.store, v1)
        req = consent.request(self.session.store, kind, self.aid, v1.id, summary, evidence)
        decision = consent.decide(self.session.store, req.id, granted=True, via="cli-flag")
        versions.activate(self.session.store, v1.id, decision)
        self.used.add(decision.id)
        self.ref.status[v1.id], self.ref.active = S.ACTIVE, v1.id
        return multiple(*made)

    @rule(target=versions_made)
    def new_version(self) -> str:
        self.seed += 1
        version = make_version(self.session, self.model_path, seed=self.seed)
        self.ref.status[version.id] = S.CANDIDATE
        return version.id

    @rule(target=consents, version=versions_made,
          action=st.sampled_from(["activate", "retire", "delete", "rollout"]),
          granted=st.booleans())
    def ask(self, version: str, action: str, granted: bool) -> Asked | None:
        store = self.session.store
        v = versions.get_version(store, version)
        try:
            if action == "activate":
                kind, summary, evidence = versions.describe_activation(store, v)
            elif action == "retire":
                kind, summary, evidence = versions.describe_retire(store, v)
            elif action == "delete":
                kind, summary, evidence = versions.describe_delete(store, v)
            else:
                kind, summary, evidence = rollout.describe_start(store, v,
                                                                 rollout.Plan(2, EVERY))
        except KindredError:
            return None
        req = consent.request(store, kind, self.aid, version, summary, evidence)
        decision = consent.decide(store, req.id, granted=granted, via="gui")
        if not granted and kind in (ConsentKind.ACTIVATE, ConsentKind.RESTORE):
            versions.record_refusal(store, decision)
            if self.ref.status[version] == S.CANDIDATE:
                self.ref.status[version] = S.REFUSED
        return Asked(decision, action, version, self.ref.fingerprint(version), granted)

    @rule(version=versions_made,
          action=st.sampled_from(["activate", "retire", "delete", "rollout"]),
          granted=st.sampled_from([True, True, True, False]))
    def act_now(self, version: str, action: str, granted: bool) -> None:
        """Asked and answered in one go, as a dialog usually is."""
        self.use(self.ask(version, action, granted))

    @rule(version=versions_made, other=versions_made,
          action=st.sampled_from(["activate", "retire", "delete", "rollout"]))
    def act_after_another_window(self, version: str, other: str, action: str) -> None:
        """Asked; meanwhile another window opens or ends a trial; then answered: the
        consent no longer describes the state, and must be refused as stale."""
        asked = self.ask(version, action, True)
        if self.ref.trial is None:
            self.start_trial(other)
        else:
            self.end_trial()
        self.use(asked)

    @rule()
    def next_step_now(self) -> None:
        self.use(self.ask_next_step())

    @rule(target=consents)
    def ask_next_step(self) -> Asked | None:
        try:
            kind, summary, evidence = rollout.describe_next_step(self.session.store, self.aid)
        except KindredError:
            assert not self.ref.rollout_open()
            return None
        version = evidence["version"]
        req = consent.request(self.session.store, kind, self.aid, version, summary, evidence)
        decision = consent.decide(self.session.store, req.id, granted=True, via="gui")
        assert self.ref.rollout is not None
        return Asked(decision, "next_step", version, self.ref.fingerprint(version), True,
                     (self.ref.rollout.id, self.ref.rollout.step + 1))

    @rule(asked=consents)
    def use(self, asked: Asked | None) -> None:
        if asked is None:
            return
        ok = self.expect(asked)
        store = self.session.store
        try:
            if asked.action == "activate":
                versions.activate(store, asked.version, asked.decision)
            elif asked.action == "retire":
                versions.retire(store, asked.version, asked.decision)
            elif asked.action == "delete":
                versions.delete(store, asked.version, asked.decision)
            elif asked.action == "rollout":
                rollout.start(store, asked.version, rollout.Plan(2, EVERY), asked.decision)
            else:
                rollout.next_step(store, self.aid, asked.decision)
        except KindredError as exc:
            assert not ok, f"{asked.action} {asked.version[:8]} refused: {exc}"
            count(f"{asked.action} refused" + (" (stale)" if "stale" in str(exc) else ""))
            return
        assert ok, f"{asked.action} {asked.version[:8]} was carried out; the model refuses it"
        count(asked.action)
        self.used.add(asked.decision.id)
        self.apply(asked)

    def expect(self, asked: Asked) -> bool:
        """Whether the rules allow carrying out `asked` now."""
        ref, v = self.ref, asked.version
        status = ref.status[v]
        fresh = asked.granted and asked.decision.id not in self.used \
            and asked.fingerprint == ref.fingerprint(v)
        if asked.action == "retire" and status != S.ACTIVE:
            # retiring a version that is not in use needs no consent at all
            return status not in (S.RETIRED, S.DELETED) and v not in ref.sides()
        if not fresh:
            return False
        if asked.action == "activate":
            return status not in (S.ACTIVE, S.DELETED) and not ref.rollout_open()
        if asked.action == "retire":
            return v not in ref.sides()
        if asked.action == "delete":
            return status not in (S.ACTIVE, S.DELETED) and v not in ref.sides() \
                and v not in ref.trial_sides()
        if asked.action == "rollout":
            pair_ok = ref.trial is None or (ref.trial[1], ref.trial[2]) == (ref.active, v)
            return status not in (S.ACTIVE, S.DELETED) and not ref.rollout_open() and pair_ok
        r = ref.rollout
        return r is not None and r.open and r.state != RolloutState.STOPPED \
            and asked.rollout_step == (r.id, r.step + 1)

    def apply(self, asked: Asked) -> None:
        ref, v = self.ref, asked.version
        if asked.action == "activate":
            if ref.active:
                ref.status[ref.active] = S.RETIRED
            ref.status[v], ref.active, ref.trial = S.ACTIVE, v, None
        elif asked.action == "retire":
            if v in ref.trial_sides() or (ref.status[v] == S.ACTIVE and ref.trial):
                ref.trial = None
            if ref.status[v] == S.ACTIVE:
                ref.active = None
            ref.status[v] = S.RETIRED
        elif asked.action == "delete":
            ref.status[v] = S.DELETED
        elif asked.action == "rollout":
            current = rollout.current(self.session.store, self.aid)
            assert current is not None
            ref.status[v] = S.TRIAL
            ref.rollout = RefRollout(current.id, ref.active, v, 1, 2, RolloutState.RUNNING)
            ref.answers_since_step = 0
        else:
            self.step_forward()

    def step_forward(self) -> None:
        r = self.ref.rollout
        assert r is not None
        if r.step + 1 >= r.steps:
            self.ref.finish()
        else:
            self.ref.rollout = replace(r, step=r.step + 1, state=RolloutState.RUNNING)
            self.ref.answers_since_step = 0

    # -- the one-click actions (no consent: pause, resume, roll back, end a trial) ---------

    @rule(which=st.sampled_from(["pause", "resume", "roll_back", "end_trial", "start_trial"]),
          version=versions_made)
    def one_click(self, which: str, version: str) -> None:
        if which == "start_trial":
            self.start_trial(version)
        else:
            getattr(self, which)()

    def pause(self) -> None:
        r = self.ref.rollout
        ok = r is not None and r.open and r.state not in (RolloutState.PAUSED,
                                                          RolloutState.STOPPED)
        self._try(_named("pause", lambda: rollout.pause(self.session.store, self.aid,
                                                         via="gui")), ok)
        if ok and r is not None:
            self.ref.rollout = replace(r, state=RolloutState.PAUSED)

    def resume(self) -> None:
        r = self.ref.rollout
        ok = r is not None and r.open and r.state == RolloutState.PAUSED
        self._try(_named("resume", lambda: rollout.resume(self.session.store, self.aid,
                                                           via="gui")), ok)
        if ok and r is not None:
            self.ref.rollout = replace(r, state=RolloutState.RUNNING)

    def roll_back(self) -> None:
        r = self.ref.rollout
        ok = r is not None and r.open
        self._try(_named("roll_back", lambda: rollout.roll_back(self.session.store, self.aid,
                                                                 via="gui")), ok)
        if ok and r is not None:
            self.ref.status[r.dst] = S.REFUSED
            if self.ref.trial and self.ref.trial[2] == r.dst:
                self.ref.trial = None
            self.ref.rollout = replace(r, state=RolloutState.ROLLED_BACK)

    # -- trials ----------------------------------------------------------------------------

    def start_trial(self, version: str) -> None:
        ref = self.ref
        a = ref.rollout.src if ref.rollout_open() and ref.rollout else ref.active
        ok = ref.trial is None and ref.status[version] not in (S.ACTIVE, S.DELETED) \
            and version != a
        self._try(_named("trial_start", lambda: trial.start(self.session.store, self.aid,
                                                             version, prompts=3)), ok)
        if ok:
            opened = trial.current(self.session.store, self.aid)
            assert opened is not None
            ref.trial = (opened.id, a, version)

    def end_trial(self) -> None:
        ok = self.ref.trial is not None
        self._try(_named("trial_end", lambda: trial.end(self.session.store, self.aid)), ok)
        self.ref.trial = None

    # -- chatting --------------------------------------------------------------------------

    @rule(text=st.sampled_from(["Hi!", "What is tea?", "Name a colour."]))
    def chat(self, text: str) -> None:
        """One real answer (two tokens) through what the state says; the pace may step."""
        store = self.session.store
        assistant = self.session.assistant(self.aid)
        self.engine.set_adapters(adapter_refs(store, assistant))
        self.conversation = create_conversation(store, self.aid).id  # short prompts: fast
        turn = turns.prepare(store, assistant, self.conversation, text)
        generation = self.engine.chat(turn.messages, Sampling(temperature=0.0, top_k=1,
                                                                    max_tokens=2))
        text_out, stats = turns.answered(generation)
        assert [(a.key, a.scale) for a in self.engine.adapters] == self.ref.speaks_through()
        turns.save_answer(store, self.conversation, text_out, stats)
        r = self.ref.rollout
        if r is not None and r.open:
            self.ref.answers_since_step += 1
        moved = rollout.advance_if_due(store, self.aid)
        due = r is not None and r.open and r.state == RolloutState.RUNNING \
            and self.ref.answers_since_step >= EVERY
        assert (moved is not None) == due, (moved, r, self.ref.answers_since_step)
        count("chat")
        if due:
            count("pace step")
            self.step_forward()

    def check_copy_here(self) -> None:
        """Export, then import as a copy into this same home in whatever state the sequence
        left the versions, the rollout and the trial: the copy's versions (new ids) verify and
        say what they were copied from; the original changes in nothing. (At the end of a
        sequence, not as a rule: a rule changes which sequences the derandomized run draws.)"""
        store = self.session.store
        path = self.root / "copy.kindred"
        export_bundle(store, self.session.assistant(self.aid), path)
        result = import_bundle(store, path, as_copy=True)
        copied = versions.list_versions(store, result.assistant.id)
        assert {v.id for v in copied}.isdisjoint(self.ref.status)
        kept = {v for v, s in self.ref.status.items() if s != S.DELETED}
        assert kept <= set(result.copied_from.values()) <= set(self.ref.status)
        assert all(c.ok for c in verify_all(store, result.assistant.id))
        assert ledger.verify(store).ok
        path.unlink()
        self.state_matches_the_model()
        self.every_change_has_its_consent()
        count("copy here")

    # -- checks after every step ------------------------------------------------------------

    def _try(self, action: Any, ok: bool) -> None:
        name = getattr(action, "__name__", "action")
        try:
            action()
        except KindredError as exc:
            assert not ok, f"refused, but the model allows it: {exc}"
            count(f"{name} refused")
            return
        assert ok, "carried out, but the model refuses it"
        count(name)

    @invariant()
    def state_matches_the_model(self) -> None:
        self.steps += 1
        TOTALS["steps"] += 1
        store = self.session.store
        real = {v.id: v.status for v in versions.list_versions(store, self.aid)}
        assert real == self.ref.status
        snap = assistant_state.read(store, self.aid)
        assert snap.active == self.ref.active
        assert snap.speaks_through == self.ref.speaks_through()
        assert [(r.key, r.scale) for r in adapter_refs(store, self.session.assistant(
            self.aid))] == snap.speaks_through
        actives = [k for k, s in real.items() if s == S.ACTIVE]
        assert actives == ([snap.active] if snap.active else [])
        assert (snap.trial.id if snap.trial else None) == (
            self.ref.trial[0] if self.ref.trial else None)

    @invariant()
    def every_change_has_its_consent(self) -> None:
        """Each event that changed what the assistant talks through names one used consent
        of the matching kind and subject, and no consent is used twice."""
        assert consent_problems(self.session.store, self.aid) == []

    @invariant()
    def archive_and_ledger_verify(self) -> None:
        if self.steps % 5:
            return  # hashing every version each step is the slow part; every 5th step
        store = self.session.store
        assert all(c.ok for c in verify_all(store, self.aid)), [
            c.message for c in verify_all(store, self.aid) if not c.ok]
        assert ledger.verify(store).ok

    def check_export_restores(self) -> None:
        """An export imports into a fresh home with the same versions, statuses (the active
        one comes back retired, offered for restoring), conversations and ledger chain."""
        store = self.session.store
        path = self.root / "backup.kindred"
        assistant = self.session.assistant(self.aid)
        export_bundle(store, assistant, path)
        other = open_session(self.root / "fresh")
        try:
            result = import_bundle(other.store, path)
            got = {v.id: v.status for v in versions.list_versions(other.store,
                                                                  result.assistant.id)}
            back = {S.ACTIVE: S.RETIRED, S.TRIAL: S.CANDIDATE}  # no rollout travels along
            want = {k: back.get(s, s) for k, s in self.ref.status.items()}
            assert got == want
            assert result.was_active == self.ref.active
            mine = sorted([(m.role, m.content) for m in list_messages(store, c.id)]
                          for c in _conversations(self.session, self.aid))
            theirs = sorted([(m.role, m.content) for m in list_messages(other.store, c.id)]
                            for c in _conversations(other, result.assistant.id))
            assert mine == theirs
            assert ledger.verify(other.store).ok
            count("export imported")
        finally:
            other.close()


def _named(name: str, action: Any) -> Any:
    action.__name__ = name
    return action


def _conversations(session: Session, assistant_id: int) -> list[Any]:
    from kindred.core.chat.conversations import list_conversations

    return list_conversations(session.store, assistant_id)


def machine_for(engine: Engine, model_path: Path) -> type[StateMachine]:
    return type("KindredState", (StateMachine,), {"engine": engine, "model_path": model_path})
