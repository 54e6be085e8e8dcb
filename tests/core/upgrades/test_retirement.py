"""Retirement: a version that stops being used is interviewed and documented, once, immutably."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kindred.core.archive import versions
from kindred.core.basics.sampling import Sampling
from kindred.core.chat import turns as chat
from kindred.core.chat.conversations import create_conversation
from kindred.core.engine.llama import Engine
from kindred.core.home import consent, ledger
from kindred.core.learning import feedback
from kindred.core.session import Session
from kindred.core.upgrades import retirement, rollout
from kindred.core.upgrades.retirement import TamperedRecordError
from kindred.core.upgrades.rollout import Plan
from support.archive_helpers import activate, grant, make_version


def phase_in_fully(session: Session, model_path: Path, engine: Engine) -> tuple[str, str]:
    """A answers once (rated up), then B replaces it through a whole rollout; (A, B)."""
    a = activate(session, make_version(session, model_path, seed=0))
    aid = session.assistant().id
    conv = create_conversation(session.store, aid)
    engine.set_adapters(rollout_refs(session))
    turn = chat.prepare(session.store, session.assistant(), conv.id, "Hello")
    generation = engine.chat(turn.messages, Sampling(temperature=0.0, max_tokens=3))
    generation.read()
    message = chat.save_answer(session.store, conv.id, generation.text, generation.stats)
    feedback.rate(session.store, message.id, 1)
    b = make_version(session, model_path, seed=1, parent=a.id)
    plan = Plan(steps=2, every_answers=50)
    kind, summary, evidence = rollout.describe_start(session.store, b, plan)
    req = consent.request(session.store, kind, aid, b.id, summary, evidence)
    rollout.start(session.store, b.id, plan,
                  consent.decide(session.store, req.id, granted=True, via="gui"))
    kind, summary, evidence = rollout.describe_next_step(session.store, aid)
    req = consent.request(session.store, kind, aid, b.id, summary, evidence)
    done = rollout.next_step(session.store, aid,
                             consent.decide(session.store, req.id, granted=True, via="gui"))
    assert done.state == "finished"
    return a.id, b.id


def rollout_refs(session: Session) -> list:  # type: ignore[type-arg]
    from kindred.core.chat.runtime import adapter_refs_for

    return adapter_refs_for(session, session.assistant())


@pytest.mark.slow
def test_interview_and_report_are_stored_once_and_never_change(
        session: Session, engine: Engine, model_path: Path) -> None:
    a, b = phase_in_fully(session, model_path, engine)
    assert retirement.pending(session.store, session.assistant().id) == [a]
    assert retirement.interview_for(session.store, a) is None
    before = engine.adapters
    events = list(retirement.hold_interview(session, a, engine=engine, max_tokens=6))
    progress = [e for e in events if isinstance(e, retirement.Progress)]
    record = events[-1]
    assert isinstance(record, retirement.Record)
    set_id, questions = retirement.question_set()
    assert progress[-1].fraction == 1.0 and len(progress) == len(questions) + 1
    assert record.content["questions"] == set_id
    assert [q["question"] for q in record.content["answers"]] == questions
    assert all(q["answer"].strip() for q in record.content["answers"])
    assert engine.adapters == before  # the borrowed engine was given back as it was
    path = retirement.record_path(session.store, record.sha256)
    assert path.is_file() and (path.stat().st_mode & 0o777) == 0o444
    assert not str(path).startswith(str(versions.version_dir(session.home, a)))
    assert retirement.pending(session.store, session.assistant().id) == []

    again = retirement.interview(session, a, engine=engine)
    assert (again.sha256, again.content) == (record.sha256, record.content)
    assert len(ledger.events(session.store, kind=ledger.INTERVIEWED)) == 1

    report = retirement.report_for(session.store, a)
    content = report.content
    assert content["final"] is True and content["status"] == "retired"
    assert content["answers_given"] == 1 and content["ratings"] == {"up": 1, "down": 0}
    assert content["active"][0]["to"] is not None
    assert content["interview"] == record.sha256
    assert [c["id"] for c in content["lineage"]["children"]] == [b]
    assert any(e["kind"] == ledger.ROLLOUT_FINISHED for e in content["ledger"])
    second = retirement.report_for(session.store, a)
    assert (second.sha256, second.content) == (report.sha256, report.content)
    assert len(ledger.events(session.store, kind=ledger.REPORTED)) == 1

    # The successor's consent links what the versions before it said (issue 9).
    c = make_version(session, model_path, seed=2, parent=b)
    _, _, evidence = versions.describe_activation(session.store, c)
    assert evidence["interviews"] == [{"version": b, "interview": None},
                                      {"version": a, "interview": record.sha256}]

    live = retirement.report_for(session.store, b)  # still active: provisional, not stored
    assert live.content["final"] is False and retirement.stored_report(session.store, b) is None
    assert any(line[0] == "answers given" for line in retirement.report_lines(content))

    os.chmod(path, 0o644)
    edited = json.loads(path.read_text())
    edited["answers"][0]["answer"] = "I never said that."
    path.write_text(json.dumps(edited))
    with pytest.raises(TamperedRecordError, match="edited"):
        retirement.interview_for(session.store, a)


def test_only_a_retired_version_gets_a_stored_report(session: Session, model_path: Path
                                                     ) -> None:
    version = make_version(session, model_path, seed=3)
    assert retirement.report_for(session.store, version.id).content["final"] is False
    assert retirement.stored_report(session.store, version.id) is None
    versions.retire(session.store, version.id)
    assert retirement.pending(session.store, version.assistant_id) == []  # never in use
    assert retirement.report_for(session.store, version.id).content["final"] is True
    assert retirement.stored_report(session.store, version.id) is not None
    with pytest.raises(retirement.KindredError, match="registered"):
        retirement._model_for(session.store, "0" * 64)


def test_the_version_an_import_brings_back_is_interviewed_only_once_it_steps_down(
        session: Session, model_path: Path, tmp_path: Path) -> None:
    """What was active comes in retired, to be restored with consent: it did not step down,
    so no retirement interview is due (the window held one at once, then restored it)."""
    from kindred.core.bundles.bundle import export_bundle, import_bundle
    from kindred.core.session import open_session

    used = activate(session, make_version(session, model_path, seed=5))
    bundle = tmp_path / "Kindred.kindred"
    export_bundle(session.store, session.assistant(), bundle)
    other = open_session(tmp_path / "other")
    try:
        result = import_bundle(other.store, bundle)
        aid = result.assistant.id
        assert result.was_active == used.id
        assert versions.get_version(other.store, used.id).status == "retired"
        assert retirement.set_aside_by_import(other.store, used.id)
        assert retirement.pending(other.store, aid) == []
        version = versions.get_version(other.store, used.id)
        versions.restore(other.store, used.id, grant(other, "restore", version))
        version = versions.get_version(other.store, used.id)
        versions.retire(other.store, used.id, grant(other, "retire", version))
        assert not retirement.set_aside_by_import(other.store, used.id)
        assert retirement.pending(other.store, aid) == [used.id]
    finally:
        other.close()
