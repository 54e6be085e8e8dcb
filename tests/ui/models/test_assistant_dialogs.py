"""Assistant settings persist; new assistants appear; bad values and bad model files are refused."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtWidgets import QDialogButtonBox

from kindred.core.home.assistants import get_assistant, list_assistants
from kindred.core.home.models import embedded_model_path, list_models
from kindred.core.session import Session
from kindred.ui.models.add_model import AddModelDialog
from kindred.ui.models.assistant import AssistantDialog


def click_save(dialog: AssistantDialog) -> None:
    box = dialog.findChild(QDialogButtonBox)
    box.button(QDialogButtonBox.StandardButton.Save).click()


def test_settings_dialog_persists_persona_and_sampling(qtbot, make_window, session) -> None:  # type: ignore[no-untyped-def]
    window = make_window(ready=False)
    window.open_settings()
    dialog = window.dialog
    assert isinstance(dialog, AssistantDialog)
    dialog.persona.setPlainText("You answer like a pirate.")
    dialog.temperature.setValue(0.3)
    dialog.max_tokens.setValue(99)
    click_save(dialog)
    saved = get_assistant(session.store, session.assistant().id)
    assert saved.persona == "You answer like a pirate."
    assert saved.sampling.temperature == 0.3 and saved.sampling.max_tokens == 99
    # A second look shows what was saved.
    window.open_settings()
    again = window.dialog
    assert again.persona.toPlainText() == "You answer like a pirate."
    assert again.max_tokens.value() == 99
    again.reject()


def test_settings_dialog_refuses_an_empty_name_and_saves_nothing(qtbot, make_window,  # type: ignore[no-untyped-def]
                                                                 session) -> None:
    window = make_window(ready=False)
    before = session.assistant()
    window.open_settings()
    dialog = window.dialog
    dialog.name.setText("  ")
    dialog.persona.setPlainText("changed")
    click_save(dialog)
    assert dialog.isVisible()
    assert dialog.error.isVisible() and "Nothing was saved" in dialog.error.text()
    assert get_assistant(session.store, before.id) == before
    dialog.reject()


def test_new_assistant_is_created_and_selected(qtbot, make_window, session) -> None:  # type: ignore[no-untyped-def]
    window = make_window(ready=False)
    window.new_assistant()
    dialog = window.dialog
    dialog.name.setText("Tutor")
    dialog.persona.setPlainText("You teach patiently.")
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save).click()
    names = [a.name for a in list_assistants(session.store)]
    assert names == ["Kindred", "Tutor"]
    assert window.controller.assistant.name == "Tutor"
    assert window.sidebar.assistant_box.currentText() == "Tutor"
    assert window.sidebar.titles() == []
    qtbot.waitUntil(lambda: window.controller.ready, timeout=60_000)
    assert window.controller.engine_info.assistant_id == window.controller.assistant.id


def test_add_model_refuses_a_file_that_is_not_gguf(qtbot, tmp_path: Path, home, session) -> None:  # type: ignore[no-untyped-def]
    bogus = tmp_path / "notes.gguf"
    bogus.write_text("this is not a model\n" * 10)
    before = list_models(session.store)
    dialog = AddModelDialog(home.root)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.path.setText(str(bogus))
    dialog.add_button.click()
    qtbot.waitUntil(lambda: bool(dialog.error_text), timeout=10_000)
    assert "No model was added" in dialog.error_text
    assert "GGUF" in dialog.error_text
    assert dialog.status.isVisible() and dialog.isVisible()
    assert dialog.add_button.isEnabled()  # the person can fix the path and retry
    assert list_models(session.store) == before


def test_add_model_refuses_a_missing_file(qtbot, tmp_path: Path, home, session) -> None:  # type: ignore[no-untyped-def]
    dialog = AddModelDialog(home.root)
    qtbot.addWidget(dialog)
    dialog.path.setText(str(tmp_path / "nowhere.gguf"))
    dialog.start()
    qtbot.waitUntil(lambda: bool(dialog.status.text()) and dialog.task is None, timeout=10_000)
    assert "No model was added" in dialog.status.text()
    assert len(list_models(session.store)) == 1


def test_add_model_registers_a_real_gguf(qtbot, tmp_path: Path, home, session: Session) -> None:  # type: ignore[no-untyped-def]
    copy = tmp_path / "my-model.gguf"
    shutil.copyfile(embedded_model_path(), copy)
    # Same bytes as the embedded model would be found as a duplicate: change one metadata-free
    # byte at the very end (tensor data) so it is a distinct file with a valid header.
    with copy.open("r+b") as f:
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 1]))
    dialog = AddModelDialog(home.root)
    qtbot.addWidget(dialog)
    added: list[object] = []
    dialog.model_added.connect(added.append)
    dialog.path.setText(str(copy))
    dialog.start()
    qtbot.waitUntil(lambda: bool(added), timeout=30_000)
    models = list_models(session.store)
    assert len(models) == 2 and models[1].path == copy.resolve()
    assert not dialog.isVisible()
