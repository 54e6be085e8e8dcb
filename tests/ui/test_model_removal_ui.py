"""Remove a model… and resuming a stopped move in the GUI (fast: no training, no engine)."""

from __future__ import annotations

import json
from pathlib import Path

from kindred.core import consent
from kindred.core.archive import ledger
from kindred.core.assistants import create_assistant
from kindred.core.models import add_model, list_models
from kindred.core.session import Session
from kindred.ui.dialogs.migrate import MigrateDialog
from kindred.ui.dialogs.remove_model import RemoveModelDialog


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
    assert "the move to Other Model (training run move-1), stopped" in dialog.status.text()

    dialog.resume_button.click()
    asked = dialog.consent
    assert asked is not None and asked.request.kind == "migrate"
    assert asked.request.summary.startswith("Resume the move to Other Model")
    asked.refuse_button.click()
    assert "The move stays stopped" in dialog.status.text()
    decision = consent.get_decision(session.store, asked.request.id)
    assert decision is not None and not decision.granted
