"""Rollout: phase a version in by blending (real model, real adapters, real database)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kindred.core.archive import versions
from kindred.core.archive.catalog import version_dir
from kindred.core.archive.versions import Version
from kindred.core.basics.errors import KindredError
from kindred.core.basics.sampling import Sampling
from kindred.core.chat import runtime
from kindred.core.chat import turns as chat
from kindred.core.chat.conversations import Message, create_conversation
from kindred.core.engine.llama import Engine
from kindred.core.formats.peft_files import SAFETENSORS
from kindred.core.home import consent, ledger
from kindred.core.home.assistants import update_assistant
from kindred.core.home.consent import ConsentError
from kindred.core.session import Session, open_session
from kindred.core.upgrades import rollout, trial
from kindred.core.upgrades.rollout import Plan, RolloutStopped
from support.archive_helpers import activate, make_version

FAST = Sampling(temperature=0.0, top_k=1, max_tokens=3)


@pytest.fixture
def pair(session: Session, model_path: Path) -> tuple[Version, Version]:
    """A active (seed 0), B a candidate (seed 1, child of A); short greedy answers."""
    update_assistant(session.store, session.assistant().id,
                     sampling=Sampling(temperature=0.0, top_k=1, max_tokens=4))
    a = activate(session, make_version(session, model_path, seed=0))
    b = make_version(session, model_path, seed=1, parent=a.id)
    return a, b


def grant_start(session: Session, b: Version, plan: Plan, *, granted: bool = True
                ) -> consent.Decision:
    kind, summary, evidence = rollout.describe_start(session.store, b, plan)
    req = consent.request(session.store, kind, b.assistant_id, b.id, summary, evidence)
    return consent.decide(session.store, req.id, granted=granted, via="gui")


def grant_next(session: Session) -> consent.Decision:
    aid = session.assistant().id
    kind, summary, evidence = rollout.describe_next_step(session.store, aid)
    req = consent.request(session.store, kind, aid, evidence["version"], summary, evidence)
    return consent.decide(session.store, req.id, granted=True, via="cli-flag")


def answer(session: Session, engine: Engine, conversation_id: int, text: str = "Hi"
           ) -> Message:
    """One real answer through the assistant's current adapter set, then the pace check."""
    assistant = session.assistant()
    engine.set_adapters(runtime.adapter_refs_for(session, assistant))
    turn = chat.prepare(session.store, assistant, conversation_id, text)
    generation = engine.chat(turn.messages, FAST)
    generation.read()
    message = chat.save_answer(session.store, conversation_id, generation.text,
                               generation.stats)
    rollout.advance_if_due(session.store, assistant.id)
    return message


def kinds(session: Session) -> list[str]:
    return [e.kind for e in ledger.events(session.store) if e.kind.startswith(("rollout",
                                                                               "rolled"))]


@pytest.mark.slow
def test_full_rollout_through_all_steps(session: Session, engine: Engine,
                                        pair: tuple[Version, Version]) -> None:
    a, b = pair
    plan = Plan(steps=4, every_answers=1)
    started = rollout.start(session.store, b.id, plan, grant_start(session, b, plan))
    assert (started.step, started.state, started.scale) == (1, "running", 0.25)
    assert versions.get_version(session.store, b.id).status == "trial"
    conv = create_conversation(session.store, session.assistant().id)
    recorded = [answer(session, engine, conv.id).adapters for _ in range(4)]
    assert recorded == [[(a.id, 0.75), (b.id, 0.25)], [(a.id, 0.5), (b.id, 0.5)],
                        [(a.id, 0.25), (b.id, 0.75)], [(b.id, 1.0)]]
    done = rollout.latest(session.store, session.assistant().id)
    assert done is not None and (done.state, done.step, done.scale) == ("finished", 4, 1.0)
    assert rollout.current(session.store, session.assistant().id) is None
    assert versions.get_version(session.store, b.id).status == "active"
    assert versions.get_version(session.store, a.id).status == "retired"
    assert session.assistant().active_version == b.id
    assert kinds(session) == ["rollout_started", "rollout_step", "rollout_step", "rollout_step",
                              "rollout_finished"]
    steps = [e.payload for e in ledger.events(session.store, kind=ledger.ROLLOUT_STEP)]
    assert [(p["step"], p["scale"], p["by"]) for p in steps] == [
        (2, 0.5, "pace"), (3, 0.75, "pace"), (4, 1.0, "pace")]
    periods = versions.active_periods(session.store, session.assistant().id)
    assert periods[a.id][-1][1] is not None and periods[b.id][-1][1] is None
    assert ledger.verify(session.store).ok
    named = versions.names(session.store, session.assistant().id)
    assert rollout.blend_label(named, recorded[1]) == "Version 1 50 % + Version 2 50 %"


@pytest.mark.slow
def test_pause_and_resume_survive_a_restart(home: object, session: Session, engine: Engine,
                                            pair: tuple[Version, Version]) -> None:
    a, b = pair
    plan = Plan(steps=4, every_answers=1)
    rollout.start(session.store, b.id, plan, grant_start(session, b, plan))
    aid = session.assistant().id
    paused = rollout.pause(session.store, aid, via="gui")
    assert paused.state == "paused"
    root = session.home.root
    session.close()
    reopened = open_session(root)
    try:
        kept = rollout.current(reopened.store, aid)
        assert kept is not None and (kept.state, kept.step) == ("paused", 1)
        refs = runtime.adapter_refs_for(reopened, reopened.assistant())
        assert [(r.key, r.scale) for r in refs] == [(a.id, 0.75), (b.id, 0.25)]
        conv = create_conversation(reopened.store, aid)
        answer(reopened, engine, conv.id)
        answer(reopened, engine, conv.id)
        assert rollout.current(reopened.store, aid).step == 1  # type: ignore[union-attr]
        with pytest.raises(KindredError, match="already paused"):
            rollout.pause(reopened.store, aid, via="gui")
        assert rollout.resume(reopened.store, aid, via="gui").state == "running"
        rollout.advance_if_due(reopened.store, aid)  # the answers given while paused count
        assert rollout.current(reopened.store, aid).step == 2  # type: ignore[union-attr]
        assert kinds(reopened) == ["rollout_started", "rollout_paused", "rollout_resumed",
                                   "rollout_step"]
    finally:
        reopened.close()


@pytest.mark.slow
def test_roll_back_returns_to_a_alone_as_the_persons_decision(
        session: Session, engine: Engine, pair: tuple[Version, Version]) -> None:
    a, b = pair
    plan = Plan(steps=4, every_answers=1)
    rollout.start(session.store, b.id, plan, grant_start(session, b, plan))
    conv = create_conversation(session.store, session.assistant().id)
    answer(session, engine, conv.id)
    back = rollout.roll_back(session.store, session.assistant().id, via="gui")
    assert (back.state, back.step) == ("rolled_back", 2)
    assert versions.get_version(session.store, b.id).status == "refused"
    assert versions.get_version(session.store, a.id).status == "active"
    assert answer(session, engine, conv.id).adapters == [(a.id, 1.0)]
    event = ledger.events(session.store, kind=ledger.ROLLED_BACK)[-1]
    assert event.payload["via"] == "gui" and event.payload["decision"].startswith("rolled back")
    assert event.payload["adapters"] == [[a.id, 1.0]]
    with pytest.raises(KindredError, match="No rollout"):
        rollout.roll_back(session.store, session.assistant().id, via="gui")


@pytest.mark.slow
def test_a_damaged_version_stops_the_rollout_at_the_last_good_blend(
        session: Session, engine: Engine, pair: tuple[Version, Version]) -> None:
    a, b = pair
    plan = Plan(steps=4, every_answers=2)
    rollout.start(session.store, b.id, plan, grant_start(session, b, plan))
    aid = session.assistant().id
    conv = create_conversation(session.store, aid)
    answer(session, engine, conv.id)  # 1 of 2 answers at 25 %
    path = version_dir(session.home, b.id) / SAFETENSORS
    os.chmod(path, 0o644)
    with path.open("r+b") as handle:
        handle.seek(-8, os.SEEK_END)
        handle.write(b"damaged!")
    # the engine still holds the blend it loaded before: a second answer makes the step due
    turn = chat.prepare(session.store, session.assistant(), conv.id, "Hi")
    generation = engine.chat(turn.messages, FAST)
    generation.read()
    chat.save_answer(session.store, conv.id, generation.text, generation.stats)
    stopped = rollout.advance_if_due(session.store, aid)
    assert stopped is not None and (stopped.state, stopped.step) == ("stopped", 1)
    assert "damaged" in stopped.reason and "Version 1 75 % + Version 2 25 %" in stopped.reason
    assert kinds(session)[-1] == "rollout_stopped"
    assert rollout.advance_if_due(session.store, aid) is None  # stays stopped, one event
    with pytest.raises(RolloutStopped, match="damaged"):
        rollout.next_step(session.store, aid, grant_next(session))
    with pytest.raises(RolloutStopped):
        rollout.resume(session.store, aid, via="gui")
    with pytest.raises(KindredError, match="damaged"):
        runtime.adapter_refs_for(session, session.assistant())
    assert kinds(session).count("rollout_stopped") == 1
    assert versions.get_version(session.store, b.id).status == "trial"
    rollout.roll_back(session.store, aid, via="gui")
    assert [r.key for r in runtime.adapter_refs_for(session, session.assistant())] == [a.id]


def test_consent_misuse_is_refused_and_changes_nothing(session: Session, model_path: Path,
                                                        pair: tuple[Version, Version]) -> None:
    _, b = pair
    plan = Plan(steps=4, every_answers=5)
    aid = session.assistant().id
    with pytest.raises(ConsentError, match="none was given"):
        rollout.start(session.store, b.id, plan, None)
    with pytest.raises(ConsentError, match="refused"):
        rollout.start(session.store, b.id, plan, grant_start(session, b, plan, granted=False))
    with pytest.raises(ConsentError, match="another rollout plan"):
        rollout.start(session.store, b.id, Plan(steps=2, every_answers=5),
                      grant_start(session, b, plan))
    other = make_version(session, model_path, seed=5)
    with pytest.raises(ConsentError, match="given for"):
        rollout.start(session.store, other.id, plan, grant_start(session, b, plan))
    activation = consent.decide(session.store, consent.request(
        session.store, "activate", aid, b.id, "activate").id, granted=True, via="gui")
    with pytest.raises(ConsentError, match="activate, not a rollout"):
        rollout.start(session.store, b.id, plan, activation)
    assert rollout.latest(session.store, aid) is None
    assert versions.get_version(session.store, b.id).status == "candidate"

    decision = grant_start(session, b, plan)
    rollout.start(session.store, b.id, plan, decision)
    rollout.roll_back(session.store, aid, via="gui")
    with pytest.raises(ConsentError, match="already used"):
        rollout.start(session.store, b.id, plan, decision)
    again = grant_start(session, b, plan)
    rollout.start(session.store, b.id, plan, again)
    with pytest.raises(ConsentError, match="already used"):
        rollout.next_step(session.store, aid, again)
    with pytest.raises(ConsentError, match="none was given"):
        rollout.next_step(session.store, aid, None)
    assert rollout.current(session.store, aid).step == 1  # type: ignore[union-attr]
    moved = rollout.next_step(session.store, aid, grant_next(session))
    assert moved.step == 2
    with pytest.raises(KindredError, match="is in progress"):
        rollout.start(session.store, other.id, plan, None)


def test_plans_are_checked() -> None:
    with pytest.raises(KindredError, match="2 to 20"):
        Plan(steps=1).validated()
    with pytest.raises(KindredError, match="one pace"):
        Plan(every_answers=3, every_days=1.0).validated()
    with pytest.raises(KindredError, match="one pace"):
        Plan(every_answers=None).validated()
    assert Plan().percents == [25, 50, 75, 100]
    assert Plan(every_answers=None, every_days=2).pace == "every 2 days"


def test_blend_labels() -> None:
    named = {"a" * 64: "Version 3", "b" * 64: "Version 4"}
    assert rollout.blend_label(named, [("a" * 64, 0.5), ("b" * 64, 0.5)]) == \
        "Version 3 50 % + Version 4 50 %"
    assert rollout.blend_label(named, [("b" * 64, 1.0)]) == "Version 4"
    assert rollout.blend_label(named, [("b" * 64, 0.25)]) == "base model 75 % + Version 4 25 %"
    assert rollout.blend_label(named, []) == "base model"


def test_coming_in_over_the_base_model_retires_nothing_of_it(session: Session,
                                                              model_path: Path) -> None:
    """The base model is no version: the consents that replace it say it stays under the new
    one, not that it is "retired: archived, interviewed" (or "the base model alone alone")."""
    first = make_version(session, model_path, seed=0)
    _kind, summary, _evidence = rollout.describe_start(session.store, first, Plan())
    assert "roll back to the base model alone at any moment" in summary
    assert "the base model stays under it" in summary
    assert "alone alone" not in summary and "interviewed" not in summary
    _kind, summary, _evidence = versions.describe_activation(session.store, first)
    assert "Nothing is deleted: the base model alone stays one step away." in summary
    assert "archived" not in summary
    a = activate(session, first)
    b = make_version(session, model_path, seed=1, parent=a.id)
    _kind, summary, _evidence = rollout.describe_start(session.store, b, Plan())
    assert "Version 1 (" in summary and "is retired: archived, interviewed" in summary
    _kind, summary, _evidence = versions.describe_activation(session.store, b)
    assert "stays archived and can be restored" in summary


@pytest.mark.slow
def test_a_losing_trial_holds_the_rollout_and_shows_in_the_next_consent(
        session: Session, engine: Engine, pair: tuple[Version, Version]) -> None:
    a, b = pair
    aid = session.assistant().id
    plan = Plan(steps=4, every_answers=1)
    rollout.start(session.store, b.id, plan, grant_start(session, b, plan))
    started = trial.start(session.store, aid, prompts=2)
    assert (started.a_version, started.b_version) == (a.id, b.id)
    conv = create_conversation(session.store, aid)
    assistant = session.assistant()
    for _ in range(2):
        round_ = trial.run_round(session.store, engine, assistant, conv.id, "Hello")
        first, second = trial.answers(session.store, round_)
        assert first is not None and second is not None
        by_side = {round_.first_is: first, round_.version_of("second"): second}
        assert by_side["a"].adapters == [(a.id, 1.0)] and by_side["b"].adapters == [(b.id, 1.0)]
        pick = "first" if round_.first_is == "a" else "second"  # the person prefers A
        chosen = trial.choose(session.store, round_.id, pick)
        assert chosen.choice == "a"
    assert trial.current(session.store, aid) is None  # two rounds ended it
    tally = trial.tally(session.store, aid, a.id, b.id)
    assert (tally.wins, tally.ties, tally.losses, tally.losing) == (0, 0, 2, True)
    assert rollout.current(session.store, aid).step == 1  # type: ignore[union-attr]
    answer(session, engine, conv.id)  # the pace is due, but B is losing
    held = rollout.current(session.store, aid)
    assert held is not None and (held.state, held.step) == ("held", 1)
    assert "losing" in held.reason
    with pytest.raises(KindredError, match="waits"):
        rollout.resume(session.store, aid, via="gui")
    _, summary, evidence = rollout.describe_next_step(session.store, aid)
    assert evidence["trial"]["losses"] == 2 and "lost 2" in summary
    assert rollout.next_step(session.store, aid, grant_next(session)).step == 2
