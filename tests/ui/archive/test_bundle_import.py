"""Import an assistant… in the window: a bundle exported elsewhere comes in whole, the version
that was active is offered through the consent dialog (never switched on silently), and a bad
file is refused with the core's message, nothing changed."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from kindred.core.archive import versions
from kindred.core.bundles.bundle import export_bundle
from kindred.core.chat.conversations import create_conversation
from kindred.core.home.assistants import create_assistant
from kindred.core.home.models import embedded_model_path, ensure_embedded_model
from kindred.core.home.paths import DataHome
from kindred.core.session import open_session
from kindred.ui.consent.dialog import ConsentDialog
from support.archive_helpers import activate, make_version


def _exported(tmp_path: Path) -> tuple[Path, str]:
    """A home elsewhere with Ada, two versions (the second active) and a conversation."""
    source = open_session(tmp_path / "elsewhere")
    try:
        model = ensure_embedded_model(source.store)
        ada = create_assistant(source.store, "Ada", model_id=model.id)
        make_version(source, embedded_model_path(), assistant=ada)
        active = make_version(source, embedded_model_path(), assistant=ada, seed=1)
        activate(source, active)
        create_conversation(source.store, ada.id, "Tea")
        bundle = tmp_path / "ada.kindred"
        export_bundle(source.store, ada, bundle)
        return bundle, active.id
    finally:
        source.close()


def test_import_an_assistant_and_restore_its_version_with_consent(  # type: ignore[no-untyped-def]
        qtbot, make_window, home: DataHome, tmp_path: Path) -> None:
    bundle, was_active = _exported(tmp_path)
    window = make_window()
    window.import_assistant(str(bundle))
    assert "Checking and importing ada.kindred" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: window.controller.assistant.name == "Ada", timeout=30_000)
    assert "Imported Ada: 2 version(s), 1 conversation(s)." in \
        window.statusBar().currentMessage()
    assert window.stack.currentWidget() is window.history
    assert window.history.status.text().startswith("Imported Ada: 2 version(s)")
    store = window.session.store
    assert versions.active_version(store, window.controller.assistant.id) is None  # not yet
    dialog = window.history.dialog
    assert isinstance(dialog, ConsentDialog) and dialog.request.subject == was_active
    dialog.approve_button.click()
    restored = versions.active_version(store, window.controller.assistant.id)
    assert restored is not None and restored.id == was_active


def test_a_bad_file_is_refused_and_changes_nothing(  # type: ignore[no-untyped-def]
        qtbot, make_window, tmp_path: Path) -> None:
    window = make_window(ready=False)
    store = window.session.store
    before = [a.name for a in window.controller.assistants()]
    versions_before = store.db.execute("SELECT COUNT(*) FROM versions").fetchone()[0]
    bad = tmp_path / "holiday.kindred"
    bad.write_bytes(b"not a bundle at all")
    window.import_assistant(str(bad))
    qtbot.waitUntil(lambda: isinstance(window.dialog, QMessageBox), timeout=30_000)
    box = window.dialog
    assert isinstance(box, QMessageBox)
    assert "not a readable Kindred bundle" in box.text() and "Nothing was changed" in box.text()
    assert [a.name for a in window.controller.assistants()] == before
    assert store.db.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == versions_before
    box.close()


def test_a_bundle_already_here_is_offered_as_a_copy(  # type: ignore[no-untyped-def]
        qtbot, make_window, tmp_path: Path) -> None:
    window = make_window(ready=False)
    session, store = window.session, window.session.store
    first = make_version(session, embedded_model_path())
    active = activate(session, make_version(session, embedded_model_path(), seed=1,
                                            parent=first.id))
    bundle = tmp_path / "kindred.kindred"
    export_bundle(store, session.assistant(), bundle)
    window.import_assistant(str(bundle))
    qtbot.waitUntil(lambda: isinstance(window.dialog, QMessageBox), timeout=30_000)
    box = window.dialog
    assert isinstance(box, QMessageBox) and box.objectName() == "copyBox"
    assert box.text() == "Kindred is here already."
    assert "Import it as a copy" in box.informativeText()
    assert [a.name for a in window.controller.assistants()] == ["Kindred"]  # nothing yet
    [copy] = [b for b in box.buttons() if b.text() == "Import as a copy"]
    copy.click()
    assert "Importing a copy of Kindred" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: window.controller.assistant.name == "Kindred (copy)",
                    timeout=30_000)
    said = "Imported Kindred (copy), a copy of Kindred: 2 version(s) under new ids"
    assert said in window.statusBar().currentMessage()
    assert window.history.status.text().startswith(said)
    twin = window.controller.assistant
    copied = versions.list_versions(store, twin.id)
    assert [v.manifest["copy"]["of"] for v in copied] == [first.id, active.id]
    dialog = window.history.dialog  # the copy of what was active, offered through consent
    assert isinstance(dialog, ConsentDialog) and dialog.request.subject == copied[1].id
    dialog.approve_button.click()
    assert versions.active_version(store, twin.id) == versions.get_version(store, copied[1].id)
    assert versions.active_version(store, 1) == versions.get_version(store, active.id)
