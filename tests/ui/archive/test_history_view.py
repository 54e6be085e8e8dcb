"""The History view: lineage, and Restore / Retire / Compare / Export / Import through the real
core, with the consent dialog in the way of every change to what the assistant talks through."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from conftest_ui import send, wait_idle
from PySide6.QtCore import Qt

from kindred.core.archive import versions
from kindred.core.archive.objects import version_dir
from kindred.core.chat.conversations import list_conversations, list_messages
from kindred.core.home import consent, ledger
from kindred.core.session import Session
from kindred.ui.archive.compare import CompareDialog
from kindred.ui.archive.history_view import HistoryView
from kindred.ui.consent.dialog import ConsentDialog
from kindred.ui.ops.changes import Change, bus
from support.archive_helpers import activate, make_version, write_peft_folder


@pytest.fixture
def view(qtbot, session: Session) -> HistoryView:  # type: ignore[no-untyped-def]
    widget = HistoryView(session)
    qtbot.addWidget(widget)
    widget.resize(900, 600)
    widget.show()
    return widget


def rows(view: HistoryView) -> list[tuple[int, str, str]]:
    """(depth, first column, status) of every row, in tree order."""
    out: list[tuple[int, str, str]] = []

    def walk(item, depth: int) -> None:  # type: ignore[no-untyped-def]
        out.append((depth, item.text(0), item.text(3)))
        for i in range(item.childCount()):
            walk(item.child(i), depth + 1)
    walk(view.tree.topLevelItem(0), 0)
    return out


def test_lineage_is_a_tree_under_the_base_model(view, session, model_path) -> None:  # type: ignore[no-untyped-def]
    first = make_version(session, model_path, seed=1)
    child = make_version(session, model_path, seed=2, parent=first.id)
    activate(session, first)
    view.refresh()
    shown = rows(view)
    assert shown[0][0] == 0 and shown[0][1].startswith("Base model")
    assert shown[1] == (1, "Version 1", "active")
    assert shown[2] == (2, "Version 2", "candidate")
    item = view.tree.topLevelItem(0).child(0)
    assert first.id in item.toolTip(0)  # the id stays one hover away
    view.select(child.id)
    assert "Version 2 · id " + child.id in view.details.text()
    assert "Parent: Version 1" in view.details.text()
    assert item.text(4) != "—"  # it has been active for a moment
    assert item.text(5) == "0"  # and answered nothing yet


def test_activate_asks_and_approval_switches_the_version(qtbot, view, session, model_path) -> None:  # type: ignore[no-untyped-def]
    version = make_version(session, model_path, seed=3)
    view.refresh()
    view.select(version.id)
    assert view.restore_button.text() == "Activate"
    changed: list[frozenset[Change]] = []
    bus().changed.connect(changed.append)
    view.restore_button.click()
    dialog = view.dialog
    assert isinstance(dialog, ConsentDialog)
    assert dialog.request.kind == "activate" and dialog.request.subject == version.id
    assert session.assistant().active_version is None  # asking changed nothing
    dialog.approve_button.click()
    assert session.assistant().active_version == version.id
    assert changed == [{Change.VERSIONS, Change.SPEAKS}]  # the chat reloads its engine
    event = ledger.events(session.store, kind=ledger.ACTIVATED)[-1]
    assert event.payload["version"] == version.id and event.payload["via"] == "gui"
    assert rows(view)[1][2] == "active"


def test_refusing_keeps_everything_and_marks_the_candidate_refused(qtbot, view, session,  # type: ignore[no-untyped-def]
                                                                   model_path) -> None:
    current = make_version(session, model_path, seed=4)
    activate(session, current)
    candidate = make_version(session, model_path, seed=5, parent=current.id)
    view.refresh()
    view.select(candidate.id)
    view.restore_button.click()
    view.dialog.refuse_button.click()
    assert session.assistant().active_version == current.id
    assert versions.get_version(session.store, candidate.id).status == "refused"
    assert version_dir(session.home, candidate.id).is_dir()  # refused, still archived
    assert "Refused and recorded" in view.status.text()


def test_restore_an_earlier_version(qtbot, view, session, model_path) -> None:  # type: ignore[no-untyped-def]
    old = make_version(session, model_path, seed=6)
    activate(session, old)
    new = make_version(session, model_path, seed=7, parent=old.id)
    activate(session, new)
    view.refresh()
    view.select(old.id)
    assert view.restore_button.text() == "Restore"
    view.restore_button.click()
    assert view.dialog.request.kind == "restore"
    view.dialog.approve_button.click()
    assert session.assistant().active_version == old.id
    assert versions.get_version(session.store, new.id).status == "retired"


def test_retiring_the_active_version_needs_consent_and_keeps_the_weights(qtbot, view, session,  # type: ignore[no-untyped-def]
                                                                          model_path) -> None:
    version = make_version(session, model_path, seed=8)
    activate(session, version)
    view.refresh()
    view.select(version.id)
    view.retire_button.click()
    assert isinstance(view.dialog, ConsentDialog) and view.dialog.request.kind == "retire"
    view.dialog.approve_button.click()
    assert session.assistant().active_version is None
    assert versions.get_version(session.store, version.id).status == "retired"
    assert version_dir(session.home, version.id).is_dir()


def test_retiring_a_candidate_needs_no_consent(qtbot, view, session, model_path) -> None:  # type: ignore[no-untyped-def]
    version = make_version(session, model_path, seed=9)
    view.refresh()
    view.select(version.id)
    view.retire_button.click()
    assert view.dialog is None
    assert versions.get_version(session.store, version.id).status == "retired"
    assert consent.history(session.store) == []


def test_a_request_left_open_can_be_answered_later(qtbot, view, session, model_path) -> None:  # type: ignore[no-untyped-def]
    version = make_version(session, model_path, seed=10)
    view.refresh()
    view.select(version.id)
    view.restore_button.click()
    view.dialog.reject()  # closed without deciding
    assert view.banner.isVisible() and "awaiting your answer" in view.banner_label.text()
    view.review_pending()
    view.dialog.approve_button.click()
    assert session.assistant().active_version == version.id
    assert not view.banner.isVisible()


def test_compare_shows_both_answers(qtbot, view, session, model_path) -> None:  # type: ignore[no-untyped-def]
    version = make_version(session, model_path, seed=11, magnitude=0.5)
    view.refresh()
    view.select(version.id)
    view.compare_button.click()
    dialog = view.dialog
    assert isinstance(dialog, CompareDialog)
    assert [s.version_id for s in dialog.sides] == [None, version.id]
    dialog.prompt.setText("Name a fruit.")
    dialog.run()
    qtbot.waitUntil(lambda: bool(dialog.answers), timeout=60_000)
    assert len(dialog.answers) == 2 and all(a.strip() for a in dialog.answers)
    assert [v.markdown for v in dialog.views] == dialog.answers


def test_export_writes_a_bundle(qtbot, view, session, model_path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    make_version(session, model_path, seed=12)
    target = tmp_path / "kindred.bundle"
    view.export_to(str(target))
    qtbot.waitUntil(lambda: view.task is None, timeout=90_000)
    assert "Exported" in view.status.text(), view.status.text()
    assert tarfile.is_tarfile(target)
    assert ledger.events(session.store, kind=ledger.EXPORTED)


def test_import_adds_a_candidate_and_a_bad_file_changes_nothing(qtbot, view, session,  # type: ignore[no-untyped-def]
                                                                 model_path, tmp_path) -> None:
    folder = write_peft_folder(model_path, tmp_path / "peft", seed=13)
    view.import_from(str(folder))
    qtbot.waitUntil(lambda: view.task is None, timeout=90_000)
    imported = versions.list_versions(session.store)
    assert len(imported) == 1 and imported[0].status == "candidate"
    assert imported[0].source == "imported"
    assert "Imported as candidate" in view.status.text()

    bad = tmp_path / "weights.bin"
    bad.write_bytes(b"\x80\x04not really a pickle")
    view.import_from(str(bad))
    qtbot.waitUntil(lambda: view.task is None, timeout=90_000)
    assert view.status.property("error") is True
    assert len(versions.list_versions(session.store)) == 1


def test_approving_in_the_window_reloads_the_engine_with_the_adapter(qtbot, make_window,  # type: ignore[no-untyped-def]
                                                                     session, model_path) -> None:
    version = make_version(session, model_path, seed=14)
    window = make_window(max_tokens=8)
    window.show_page("History")
    assert window.stack.currentWidget() is window.history
    window.history.select(version.id)
    window.history.restore_button.click()
    window.history.dialog.approve_button.click()
    qtbot.waitUntil(lambda: bool(window.controller.ready and window.controller.engine_info
                                 and window.controller.engine_info.adapters), timeout=60_000)
    assert window.adapter_label.text() == "Adapter: Version 1"
    assert version.id in window.adapter_label.toolTip()
    window.show_page("Chat")
    send(qtbot, window, "Hi")
    wait_idle(qtbot, window)
    conversation = list_conversations(session.store, session.assistant().id)[0]
    answer = list_messages(session.store, conversation.id)[-1]
    assert answer.adapters == [(version.id, 1.0)]
    window.show_page("History")
    assert window.history.tree.topLevelItem(0).child(0).text(5) == "1"  # answered one message


def test_a_version_activated_elsewhere_is_used_for_the_next_answer(qtbot, make_window,  # type: ignore[no-untyped-def]
                                                                   session, model_path) -> None:
    window = make_window(max_tokens=6)
    version = make_version(session, model_path, seed=15)
    activate(session, version)  # as `kindred versions activate --yes` would, from outside
    send(qtbot, window, "Hello")
    wait_idle(qtbot, window)
    conversation = list_conversations(session.store, session.assistant().id)[0]
    assert list_messages(session.store, conversation.id)[-1].adapters == [(version.id, 1.0)]
    assert window.adapter_label.text() == "Adapter: Version 1"


def test_a_lineage_begun_before_a_move_stands_under_its_own_base(  # type: ignore[no-untyped-def]
        view, session, model_path, sibling_model_path) -> None:
    from kindred.core.archive import assistant_state
    from support.bases import register

    first = make_version(session, model_path, seed=1)
    sibling = register(session, sibling_model_path)
    with session.store.tx():  # the assistant moved to another base, talking through it alone
        assistant_state.set_active(session.store, session.assistant().id, None,
                                   model_id=sibling.id)
    view.refresh()
    top = [view.tree.topLevelItem(i) for i in range(view.tree.topLevelItemCount())]
    assert [t.text(0) for t in top] == [f"Base model · {sibling.name}",
                                       "Earlier base model · SmolLM2 135M Instruct (built-in)"]
    assert top[0].childCount() == 0
    assert top[1].child(0).data(0, Qt.ItemDataRole.UserRole) == first.id
    assert not top[1].flags() & Qt.ItemFlag.ItemIsSelectable  # a heading, nothing to act on
    assert top[0].text(3) == "in use alone"
