"""Where two features meet, the assistant's state has one owner (archive.assistant_state).

Each reproduction of issue 21 (found on 29bc867 with imported adapters V1 active, V2, V3) is a
test here: a rollout beside an activation, retirement or deletion; an interview held before a
version's use; a consent used after the state it described changed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kindred.core.archive import assistant_state, versions
from kindred.core.archive.assistant_state import TRANSITIONS, StateError
from kindred.core.archive.objects import adapter_refs
from kindred.core.basics.states import VersionStatus
from kindred.core.home import consent, ledger
from kindred.core.home.consent import ConsentError
from kindred.core.session import Session
from kindred.core.upgrades import retirement, rollout, trial
from support.archive_helpers import activate, make_version

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def three(session: Session, model_path: Path) -> tuple[str, str, str]:
    """V1 active, V2 and V3 candidates."""
    v1 = make_version(session, model_path, seed=1)
    activate(session, v1)
    v2 = make_version(session, model_path, seed=2)
    v3 = make_version(session, model_path, seed=3)
    return v1.id, v2.id, v3.id


def start_rollout(session: Session, version_id: str, steps: int = 2) -> rollout.Rollout:
    version = versions.get_version(session.store, version_id)
    plan = rollout.Plan(steps=steps)
    kind, summary, evidence = rollout.describe_start(session.store, version, plan)
    req = consent.request(session.store, kind, version.assistant_id, version.id, summary,
                          evidence)
    decision = consent.decide(session.store, req.id, granted=True, via="cli-flag")
    return rollout.start(session.store, version.id, plan, decision)


def next_step(session: Session, aid: int) -> rollout.Rollout:
    kind, summary, evidence = rollout.describe_next_step(session.store, aid)
    req = consent.request(session.store, kind, aid, evidence["version"], summary, evidence)
    return rollout.next_step(session.store, aid,
                             consent.decide(session.store, req.id, granted=True, via="gui"))


def ask(session: Session, version_id: str, describe: str = "activation") -> consent.Decision:
    """A granted consent asked as the CLI and the window ask it (describe_* gives the text)."""
    version = versions.get_version(session.store, version_id)
    describer = {"activation": versions.describe_activation, "retire": versions.describe_retire,
                 "delete": versions.describe_delete}[describe]
    kind, summary, evidence = describer(session.store, version)
    req = consent.request(session.store, kind, version.assistant_id, version.id, summary,
                          evidence)
    return consent.decide(session.store, req.id, granted=True, via="cli-flag")


def status(session: Session, version_id: str) -> str:
    return versions.get_version(session.store, version_id).status


def assert_one_owner(session: Session) -> None:
    """At most one active version, mirrored by the assistant row; the engine loads the state."""
    assistant = session.assistant()
    active = [v.id for v in versions.list_versions(session.store, assistant.id)
              if v.status == VersionStatus.ACTIVE]
    assert active == ([assistant.active_version] if assistant.active_version else [])
    wanted = assistant_state.speaks_through(session.store, assistant.id)
    assert [(r.key, r.scale) for r in adapter_refs(session.store, assistant)] == wanted
    assert versions.report(session.store)["active"] <= 1


def test_activating_another_version_mid_rollout_is_refused(session: Session,
                                                           three: tuple[str, str, str]) -> None:
    v1, v2, v3 = three
    aid = session.assistant().id
    start_rollout(session, v2)
    with pytest.raises(StateError, match=r"phase-in of Version 2 .* is in progress: finish it"):
        versions.activate(session.store, v3, ask(session, v3))
    assert status(session, v3) == "candidate" and status(session, v1) == "active"
    done = next_step(session, aid)
    assert done.state == "finished"
    assert [status(session, v) for v in three] == ["retired", "active", "candidate"]
    assert versions.report(session.store)["active"] == 1
    assert_one_owner(session)


def test_activating_the_incoming_version_mid_rollout_is_refused_and_roll_back_holds(
        session: Session, three: tuple[str, str, str]) -> None:
    v1, v2, _ = three
    aid = session.assistant().id
    start_rollout(session, v2)
    with pytest.raises(StateError, match="in progress"):
        versions.activate(session.store, v2, ask(session, v2))
    back = rollout.roll_back(session.store, aid, via="cli-flag")
    assert back.adapters == [(v1, 1.0)]
    assert assistant_state.speaks_through(session.store, aid) == [(v1, 1.0)]
    assert status(session, v2) == "refused" and versions.report(session.store)["active"] == 1
    assert_one_owner(session)


def test_a_version_in_an_open_rollout_cannot_be_deleted_or_retired(
        session: Session, three: tuple[str, str, str]) -> None:
    v1, v2, _ = three
    aid = session.assistant().id
    start_rollout(session, v2, steps=4)
    with pytest.raises(StateError, match="part of the phase-in"):
        versions.delete(session.store, v2, ask(session, v2, "delete"))
    with pytest.raises(StateError, match="roll it back or finish it first"):
        versions.retire(session.store, v1, ask(session, v1, "retire"))
    assert adapter_refs(session.store, session.assistant())  # every chat still finds weights
    assert all(check.ok for check in map(
        lambda v: versions.verify_version(session.store, v), three))
    back = rollout.roll_back(session.store, aid, via="gui")
    assert back.adapters == [(v1, 1.0)] and status(session, v2) == "refused"
    # after the roll-back both are free again: deleting the refused one is a real tombstone
    versions.delete(session.store, v2, ask(session, v2, "delete"))
    assert status(session, v2) == "deleted"
    with pytest.raises(Exception, match="deleted"):
        start_rollout(session, v2)
    assert_one_owner(session)


def test_a_trial_side_cannot_be_deleted_and_an_activation_ends_the_trial(
        session: Session, three: tuple[str, str, str]) -> None:
    v1, v2, v3 = three
    aid = session.assistant().id
    trial.start(session.store, aid, v2)
    with pytest.raises(StateError, match="side-by-side trial"):
        versions.delete(session.store, v2, ask(session, v2, "delete"))
    decision = ask(session, v3)
    assert "trial that is open ends" in decision.request.summary
    versions.activate(session.store, v3, decision)
    assert trial.current(session.store, aid) is None
    ended = [e for e in ledger.events(session.store) if e.kind == ledger.TRIAL_ENDED]
    assert ended and ended[-1].payload["ended_by"] == "activate"
    assert [status(session, v) for v in three] == ["retired", "candidate", "active"]
    assert v1 != v3
    assert_one_owner(session)


def test_a_consent_asked_before_the_state_changed_is_stale(
        session: Session, three: tuple[str, str, str]) -> None:
    v1, v2, v3 = three
    for_v2 = ask(session, v2)  # "the assistant now answers with Version 1; afterwards Version 2"
    versions.activate(session.store, v3, ask(session, v3))  # meanwhile, another window
    with pytest.raises(ConsentError, match="stale"):
        versions.activate(session.store, v2, for_v2)
    assert status(session, v2) == "candidate" and status(session, v3) == "active"
    assert consent.get_decision(session.store, for_v2.id).used_at is None  # type: ignore[union-attr]
    retire_v3 = ask(session, v3, "retire")
    trial.start(session.store, session.assistant().id, v2)  # a trial opened: state changed
    with pytest.raises(ConsentError, match="stale"):
        versions.retire(session.store, v3, retire_v3)
    assert status(session, v1) == "retired"
    assert_one_owner(session)


def test_tombstones_are_final_and_the_table_says_who_may_follow_whom() -> None:
    assert TRANSITIONS[VersionStatus.DELETED] == frozenset()
    assert VersionStatus.DELETED not in TRANSITIONS[VersionStatus.ACTIVE]
    for status_, following in TRANSITIONS.items():
        assert status_ not in following
        assert set(following) <= set(VersionStatus)


def test_only_the_owner_writes_statuses_and_the_active_version() -> None:
    """No other module of the app writes `versions.status` or `assistants.active_version`
    (creating a row with its first status is not a change of state)."""
    writes = re.compile(r"UPDATE\s+(versions|assistants)\s+SET[^\"']*(status|active_version)",
                        re.I)
    found = [str(p.relative_to(ROOT)) for p in (ROOT / "app" / "kindred").rglob("*.py")
             if writes.search(p.read_text()) and p.name != "assistant_state.py"]
    assert found == []


@pytest.mark.slow
def test_an_interview_held_before_use_is_not_the_retirement_interview(
        session: Session, three: tuple[str, str, str]) -> None:
    """The candidate is interviewed out of curiosity, later used and retired: retiring holds
    its real retirement interview; the earlier one stays in the archive and the ledger."""
    _, v2, _ = three
    aid = session.assistant().id
    early = retirement.interview(session, v2)
    versions.activate(session.store, v2, ask(session, v2))
    assert retirement.retirement_interview(session.store, v2) is None
    versions.retire(session.store, v2, ask(session, v2, "retire"))
    assert retirement.pending(session.store, aid) == [v2] or v2 in retirement.pending(
        session.store, aid)
    held = retirement.interview(session, v2)
    assert held.sha256 != early.sha256
    assert held.content["held_at"] > early.content["held_at"]
    assert retirement.retirement_interview(session.store, v2) == held
    assert v2 not in retirement.pending(session.store, aid)
    interviewed = [e.payload["sha256"] for e in ledger.events(session.store)
                   if e.kind == ledger.INTERVIEWED and e.payload["version"] == v2]
    assert interviewed == [early.sha256, held.sha256]
    assert retirement.read_record(session.store, early.sha256)["version"] == v2  # still kept
