"""Remove a model…, resuming a stopped move, and a waiting move's card with its side-by-side trial,
in the GUI (fast: no training, no engine)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kindred.core.archive import objects as archive
from kindred.core.basics.sampling import Sampling
from kindred.core.chat import turns
from kindred.core.chat.conversations import create_conversation
from kindred.core.engine.llama import GenerationStats
from kindred.core.home import consent, ledger
from kindred.core.home.assistants import create_assistant
from kindred.core.home.models import add_model, list_models
from kindred.core.session import Session
from kindred.core.upgrades import model_removal, trial
from kindred.ui.chat.inference import InferenceWorker
from kindred.ui.models.remove_model import RemoveModelDialog
from kindred.ui.upgrades.migrate import MigrateDialog
from support.archive_helpers import lora_config, moved
from support.lora import peft_tensors


def test_a_model_in_use_cannot_be_removed(qtbot, session: Session,  # type: ignore[no-untyped-def]
                                          sibling_model_path: Path) -> None:
    sibling = add_model(session.store, sibling_model_path)
    create_assistant(session.store, "Bo", model_id=sibling.id)
    dialog = RemoveModelDialog(session)
    qtbot.addWidget(dialog)
    assert [dialog.models.itemData(i) for i in range(dialog.models.count())] == [sibling.id]
    assert "Bo answers with" in dialog.about.text() and "Switch it" in dialog.about.text()
    assert not dialog.remove_button.isEnabled()


def test_remove_a_model_with_consent(qtbot, session: Session,  # type: ignore[no-untyped-def]
                                     sibling_model_path: Path) -> None:
    sibling = add_model(session.store, sibling_model_path)
    dialog = RemoveModelDialog(session)
    qtbot.addWidget(dialog)
    removed: list[object] = []
    dialog.removed.connect(removed.append)
    assert "not deleted" in dialog.about.text() and dialog.remove_button.isEnabled()

    dialog.remove_button.click()
    asked = dialog.consent
    assert asked is not None and asked.request.kind == "remove_model"
    assert asked.request.subject == sibling.sha256
    asked.refuse_button.click()
    assert "Refused and recorded" in dialog.about.text() and not removed
    assert sibling.id in [m.id for m in list_models(session.store)]

    dialog.remove_button.click()
    asked = dialog.consent
    assert asked is not None
    asked.approve_button.click()
    assert [m.id for m in removed] == [sibling.id]  # type: ignore[attr-defined]
    assert sibling.id not in [m.id for m in list_models(session.store)]
    assert sibling_model_path.is_file() and "file" in dialog.about.text()
    assert dialog.models.count() == 0 and not dialog.remove_button.isEnabled()
    assert ledger.events(session.store, kind=ledger.MODEL_REMOVED)[-1].payload["via"] == "gui"


def test_a_stopped_move_is_offered_for_resuming(qtbot,  # type: ignore[no-untyped-def]
                                                session: Session) -> None:
    assistant = session.assistant()
    run = session.home.runs / "move-1"
    run.mkdir(parents=True)
    (run / "plan.json").write_text(json.dumps({
        "assistant_id": assistant.id, "created_at": 1.0, "total_steps": 12,
        "consent_kind": "migrate", "migration": {"to_base": {"name": "Other Model"}}}))
    (run / "state.json").write_text(json.dumps({"status": "stopped"}))
    dialog = MigrateDialog(session, assistant)
    qtbot.addWidget(dialog)
    assert not dialog.resume_button.isHidden() and not dialog.plan_button.isEnabled()
    assert "the move to Other Model (started " in dialog.status.text()
    assert "), stopped when asked, from the beginning" in dialog.status.text()
    assert "move-1" not in dialog.status.text()  # a person knows a run by when it began

    dialog.resume_button.click()
    asked = dialog.consent
    assert asked is not None and asked.request.kind == "migrate"
    assert asked.request.summary.startswith("Resume the move to Other Model")
    asked.refuse_button.click()
    assert "The move stays stopped" in dialog.status.text()
    decision = consent.get_decision(session.store, asked.request.id)
    assert decision is not None and not decision.granted


def test_a_waiting_move_shows_its_card_trial_and_tally(qtbot,  # type: ignore[no-untyped-def]
                                                       session: Session, model_path: Path,
                                                       sibling_model_path: Path) -> None:
    store = session.store
    assistant = session.assistant()
    old, new = moved(session, model_path, sibling_model_path)
    dialog = MigrateDialog(session, assistant)
    qtbot.addWidget(dialog)
    assert dialog.card is not None and dialog.new_version == new.id
    assert not dialog.try_button.isHidden() and not dialog.switch_button.isHidden()

    dialog.try_button.click()  # the chat answers the next prompts with both, blind
    running = trial.current(store, assistant.id)
    assert running is not None and (running.a_version, running.b_version) == (old.id, new.id)
    assert "Trial started" in dialog.status.text()
    conv = create_conversation(store, assistant.id)
    turns.prepare(store, assistant, conv.id, "Hi")
    stats = GenerationStats(adapters=[])
    round_ = trial.record_round(store, running, conv.id, "b", ("Ahoy there!", stats),
                                ("Ahoy!", stats))
    trial.choose(store, round_.id, "first")  # the new version's answer

    dialog.ask_switch(new.id)
    asked = dialog.consent
    assert asked is not None and asked.request.kind == "activate"
    assert "Side-by-side trial (your blind picks): the new version won 1, tied 0, lost 0" \
        in asked.request.summary
    assert asked.request.evidence["trial"]["wins"] == 1


@pytest.mark.slow
def test_the_inference_worker_answers_a_side_on_its_own_base(  # type: ignore[no-untyped-def]
        qtbot, session: Session, sibling_model_path: Path) -> None:
    store = session.store
    assistant = session.assistant()
    sibling = add_model(store, sibling_model_path)
    new = archive.archive_peft(store, assistant, peft_tensors(sibling_model_path, layers=(0,)),
                               lora_config(), model=sibling)
    worker = InferenceWorker(session.home.root)
    done: list[tuple[int, str]] = []
    failed: list[tuple[int, str]] = []
    worker.finished.connect(lambda rid, text, _stats: done.append((rid, text)))
    worker.failed.connect(lambda rid, message: failed.append((rid, message)))
    try:
        worker.load(assistant.id)
        messages = [{"role": "user", "content": "Hi"}]
        sampling = Sampling(temperature=0.0, top_k=1, max_tokens=4)
        worker.generate_with(1, messages, sampling, trial.side_refs(store, new.id))
        assert list(worker._others) == [sibling.sha256] and [r for r, _ in done] == [1]
        assert worker._engine.adapters == []  # the assistant's own engine is untouched
        plan = model_removal.plan_removal(store, sibling.id)
        request = model_removal.request_removal(store, plan)
        model_removal.remove_model(store, sibling.id, consent.decide(
            store, request.id, granted=True, via="gui"))
        worker.close()  # a new session: the side engine is gone, its model too
        worker.load(assistant.id)
        worker.generate_with(2, messages, sampling, trial.side_refs(store, new.id))
        assert failed[0][0] == 2 and "cannot answer: its base model" in failed[0][1]
        assert len(done) == 1 and len(failed) == 1
    finally:
        worker.close()
