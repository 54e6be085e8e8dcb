"""The consent gate: nothing changes what the user talks to, or deletes, without a matching,
granted, unused decision; refusals are recorded and refused candidates stay archived."""

from __future__ import annotations

from pathlib import Path

import pytest

from kindred.core.archive import objects as archive
from kindred.core.archive import versions
from kindred.core.archive.versions import Version
from kindred.core.basics.errors import KindredError
from kindred.core.home import consent, ledger
from kindred.core.home.assistants import create_assistant
from kindred.core.home.consent import ConsentError, Decision
from kindred.core.session import Session
from kindred.core.upgrades import decisions
from support.archive_helpers import activate, grant, home_state, make_version


@pytest.fixture
def two(session: Session, model_path: Path) -> tuple[Version, Version]:
    first = make_version(session, model_path, seed=1)
    return first, make_version(session, model_path, seed=2, parent=first.id)


def _refuse(session: Session, kind: str, version: Version) -> Decision:
    req = consent.request(session.store, kind, version.assistant_id, version.id, "asked")
    return consent.decide(session.store, req.id, granted=False, via="cli-prompt")


def test_activation_needs_a_granted_matching_decision(session: Session,
                                                      two: tuple[Version, Version]) -> None:
    first, second = two
    before = home_state(session)
    cases = [
        (None, "none was given"),
        (_refuse(session, "activate", first), "it was refused"),
        (grant(session, "delete", first), "given for a delete, not a activate"),
        (grant(session, "activate", second), "given for " + second.short),
    ]
    for decision, reason in cases:
        with pytest.raises(ConsentError, match=reason):
            versions.activate(session.store, first.id, decision)
    assert session.assistant().active_version is None
    assert versions.get_version(session.store, first.id).status == "candidate"
    # the failed attempts did not use up the decisions that were valid for something else
    assert consent.get_decision(session.store, cases[3][0].id).used_at is None  # type: ignore
    assert before[0] == home_state(session)[0]


def test_a_decision_is_used_once(session: Session, two: tuple[Version, Version]) -> None:
    first, second = two
    decision = grant(session, "activate", first)
    versions.activate(session.store, first.id, decision)
    activate(session, second)
    with pytest.raises(ConsentError, match="already used"):
        versions.activate(session.store, first.id, decision)
    assert session.assistant().active_version == second.id


def test_a_forged_decision_object_is_checked_against_the_database(
        session: Session, two: tuple[Version, Version]) -> None:
    first, _ = two
    refused = _refuse(session, "activate", first)
    forged = Decision(refused.request, True, "gui", refused.decided_at, None)
    with pytest.raises(ConsentError, match="refused"):
        versions.activate(session.store, first.id, forged)
    with pytest.raises(ConsentError, match="no decision yet"):
        versions.activate(session.store, first.id, 424242)


def test_a_decision_for_another_assistant_does_not_apply(
        session: Session, two: tuple[Version, Version]) -> None:
    first, _ = two
    other = create_assistant(session.store, "Other")
    req = consent.request(session.store, "activate", other.id, first.id, "wrong assistant")
    decision = consent.decide(session.store, req.id, granted=True, via="gui")
    with pytest.raises(ConsentError, match="another assistant"):
        versions.activate(session.store, first.id, decision)


def test_requests_and_decisions_are_ledger_events_and_decided_once(
        session: Session, two: tuple[Version, Version]) -> None:
    first, _ = two
    req = consent.request(session.store, "activate", first.assistant_id, first.id, "Try it?",
                          {"answers": ["a", "b"]})
    consent.decide(session.store, req.id, granted=True, via="cli-flag")
    with pytest.raises(ConsentError, match="already decided"):
        consent.decide(session.store, req.id, granted=False, via="gui")
    last = ledger.events(session.store)[-2:]
    assert [e.kind for e in last] == [ledger.CONSENT_REQUESTED, ledger.CONSENT_DECIDED]
    assert last[0].payload["evidence"] == {"answers": ["a", "b"]}
    assert last[1].payload == {"request": req.id, "kind": "activate", "subject": first.id,
                               "granted": True, "via": "cli-flag"}
    for bad in ({"kind": "launch"}, {"via": "email"}):
        with pytest.raises(KindredError):
            if "kind" in bad:
                consent.request(session.store, bad["kind"], 1, first.id, "x")
            else:
                consent.decide(session.store, consent.request(
                    session.store, "train", 1, "run", "x").id, granted=True, via=bad["via"])


def test_refused_candidates_stay_archived(session: Session,
                                          two: tuple[Version, Version]) -> None:
    first, _ = two
    req = consent.request(session.store, "activate", first.assistant_id, first.id, "Use it?")
    assert consent.pending(session.store) == [req]
    outcome = decisions.answer(session.store, req.id, granted=False, via="gui")
    changed = outcome.version
    assert changed is not None and changed.status == "refused" and not outcome.granted
    assert archive.verify_version(session.store, first.id).ok  # the weights are kept
    assert ledger.events(session.store)[-1].kind == ledger.REFUSED
    assert consent.pending(session.store) == []
    # a refused version can still be chosen later, with a new consent
    activate(session, first)
    assert session.assistant().active_version == first.id


def test_restore_needs_a_restore_consent_and_keeps_history(
        session: Session, two: tuple[Version, Version]) -> None:
    first, second = two
    activate(session, first)
    activate(session, second)
    assert versions.get_version(session.store, first.id).status == "retired"
    assert versions.consent_kind_for(session.store, versions.get_version(
        session.store, first.id)) == "restore"
    with pytest.raises(ConsentError, match="not a restore"):
        versions.activate(session.store, first.id, grant(session, "activate", first))
    versions.restore(session.store, first.id, grant(session, "restore", first))
    assert session.assistant().active_version == first.id
    assert ledger.events(session.store)[-1].kind == ledger.RESTORED
    periods = versions.active_periods(session.store, first.assistant_id)
    assert len(periods[first.id]) == 2 and periods[first.id][-1][1] is None
    assert len(periods[second.id]) == 1 and periods[second.id][0][1] is not None


def test_retiring_the_active_version_needs_consent_others_do_not(
        session: Session, two: tuple[Version, Version]) -> None:
    first, second = two
    activate(session, first)
    with pytest.raises(ConsentError):
        versions.retire(session.store, first.id)
    assert versions.retire(session.store, second.id).status == "retired"  # not active: free
    versions.retire(session.store, first.id, grant(session, "retire", first))
    assert session.assistant().active_version is None
    event = ledger.events(session.store)[-1]
    assert event.kind == ledger.RETIRED and event.payload["active"] is None
    assert archive.verify_version(session.store, first.id).ok


def test_delete_needs_its_own_consent_and_leaves_a_tombstone(
        session: Session, two: tuple[Version, Version]) -> None:
    first, second = two
    activate(session, second)
    with pytest.raises(KindredError, match="is active"):
        versions.delete(session.store, second.id, grant(session, "delete", second))
    with pytest.raises(ConsentError):
        versions.delete(session.store, first.id, grant(session, "retire", first))
    assert versions.version_dir(session.home, first.id).exists()
    gone = versions.delete(session.store, first.id, grant(session, "delete", first))
    assert gone.status == "deleted" and gone.files == first.files  # the hashes remain
    assert not versions.version_dir(session.home, first.id).exists()
    event = ledger.events(session.store)[-1]
    assert event.kind == ledger.DELETED and event.payload["files"] == first.files
    assert versions.get_version(session.store, second.id).parent == first.id  # lineage kept
    with pytest.raises(KindredError, match="was deleted"):
        activate(session, gone)
    assert [c.version_id for c in archive.verify_all(session.store)] == [second.id]
    assert versions.report(session.store) == {"archived": 2, "candidate": 0, "trial": 0,
                                              "active": 1, "refused": 0, "retired": 0,
                                              "deleted": 1}


def test_the_generic_gate_serves_training_too(session: Session) -> None:
    assistant = session.assistant()
    req = consent.request(session.store, "train", assistant.id, "run-1", "Train on 12 examples")
    decision = consent.decide(session.store, req.id, granted=True, via="gui")
    with pytest.raises(ConsentError, match="not a interrupt"):
        consent.require(session.store, decision, "interrupt", assistant.id, "run-1")
    used = consent.require(session.store, decision, "train", assistant.id, "run-1")
    assert used.used_at is not None
    with pytest.raises(ConsentError, match="already used"):
        consent.require(session.store, decision, "train", assistant.id, "run-1")


def test_a_locked_database_during_activation_consumes_no_consent(
        session: Session, two: tuple[Version, Version]) -> None:
    import sqlite3

    from kindred.core.home.store import DatabaseLockedError

    first, _ = two
    decision = grant(session, "activate", first)
    other = sqlite3.connect(session.home.db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    session.store.db.execute("PRAGMA busy_timeout = 100")
    try:
        with pytest.raises(DatabaseLockedError, match="Nothing was changed"):
            versions.activate(session.store, first.id, decision)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert session.assistant().active_version is None
    assert consent.get_decision(session.store, decision.id).used_at is None  # type: ignore
    versions.activate(session.store, first.id, decision)  # still valid once the lock is gone
    assert session.assistant().active_version == first.id


def test_a_version_for_another_base_model_is_not_activated(
        session: Session, two: tuple[Version, Version]) -> None:
    first, _ = two
    model = session.model_for(session.assistant())
    session.store.db.execute(
        "INSERT INTO models (id, name, path, sha256, architecture, size_bytes, added_at) "
        "VALUES ('other', 'Other', ?, ?, 'llama', 1, 0)", [str(model.path), "e" * 64])
    session.store.db.execute("UPDATE assistants SET model_id = 'other' WHERE id = 1")
    # the version's own base is no longer registered: activating it cannot move the assistant
    session.store.db.execute("UPDATE models SET sha256 = ? WHERE id != 'other'", ["f" * 64])
    with pytest.raises(KindredError, match="not among your models"):
        versions.activate(session.store, first.id, grant(session, "activate", first))
    assert session.assistant().active_version is None
    assert session.assistant().model_id == "other"  # nothing was changed
