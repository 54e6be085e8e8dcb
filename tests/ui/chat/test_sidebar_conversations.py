"""Conversations from the sidebar: new, open, rename, delete (with confirmation), search."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QMessageBox

from kindred.core.basics.errors import NotFoundError
from kindred.core.chat.conversations import (
    add_message,
    create_conversation,
    get_conversation,
    list_conversations,
    list_messages,
    mark_replaced,
)
from kindred.core.session import Session


def seed(session: Session) -> tuple[int, int]:
    """Two saved conversations, made through the core (no model needed)."""
    aid = session.assistant().id
    a = create_conversation(session.store, aid)
    add_message(session.store, a.id, "user", "Plan a trip to Lisbon")
    add_message(session.store, a.id, "assistant", "Start at the castle, then the tram.")
    b = create_conversation(session.store, aid)
    add_message(session.store, b.id, "user", "Recipe for pancakes")
    return a.id, b.id


def test_opening_a_conversation_shows_its_messages(qtbot, make_window, session) -> None:  # type: ignore[no-untyped-def]
    a, _b = seed(session)
    window = make_window(ready=False)
    assert window.sidebar.titles() == ["Recipe for pancakes", "Plan a trip to Lisbon"]
    window.sidebar.list.setCurrentRow(1)
    assert window.controller.conversation is not None
    assert window.controller.conversation.id == a
    assert window.chat_view.messages() == [
        ("user", "Plan a trip to Lisbon"), ("assistant", "Start at the castle, then the tram.")]
    assert window.chat_view.title.text() == "Plan a trip to Lisbon"


def test_new_chat_shortcut_clears_the_view(qtbot, make_window, session) -> None:  # type: ignore[no-untyped-def]
    seed(session)
    window = make_window(ready=False)
    window.sidebar.list.setCurrentRow(0)
    assert window.chat_view.messages()
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.controller.conversation is None
    assert window.chat_view.messages() == []
    assert window.chat_view.pages.currentWidget() is window.chat_view.empty
    assert window.chat_view.title.text() == "New chat"


def test_search_filters_by_title_and_text(qtbot, make_window, session) -> None:  # type: ignore[no-untyped-def]
    seed(session)
    window = make_window(ready=False)
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.sidebar.search.hasFocus() or window.sidebar.search.isVisible()
    qtbot.keyClicks(window.sidebar.search, "tram")  # only in an answer's text
    qtbot.waitUntil(lambda: window.sidebar.titles() == ["Plan a trip to Lisbon"], timeout=3000)
    window.sidebar.search.setText("no such words")
    qtbot.waitUntil(lambda: window.sidebar.titles() == [], timeout=3000)
    assert window.sidebar.empty_label.isVisible()
    assert "Nothing matches" in window.sidebar.empty_label.text()
    window.sidebar.search.clear()
    qtbot.waitUntil(lambda: len(window.sidebar.titles()) == 2, timeout=3000)

    # Esc in the search box clears the filter at once
    qtbot.keyClicks(window.sidebar.search, "tram")
    qtbot.waitUntil(lambda: window.sidebar.titles() == ["Plan a trip to Lisbon"], timeout=3000)
    qtbot.keyClick(window.sidebar.search, Qt.Key.Key_Escape)
    assert window.sidebar.search.text() == "" and len(window.sidebar.titles()) == 2

    # a new chat is never hidden by a filter left on
    window.sidebar.search.setText("tram")
    qtbot.waitUntil(lambda: window.sidebar.titles() == ["Plan a trip to Lisbon"], timeout=3000)
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.sidebar.search.text() == "" and len(window.sidebar.titles()) == 2


def test_rename_through_the_dialog(qtbot, make_window, session) -> None:  # type: ignore[no-untyped-def]
    a, _b = seed(session)
    window = make_window(ready=False)
    window.rename_conversation(a)
    dialog = window.dialog
    assert isinstance(dialog, QInputDialog)
    assert dialog.textValue() == "Plan a trip to Lisbon"
    dialog.setTextValue("Lisbon weekend")
    dialog.accept()
    assert get_conversation(session.store, a).title == "Lisbon weekend"
    assert "Lisbon weekend" in window.sidebar.titles()


def test_rename_to_nothing_is_refused_and_changes_nothing(qtbot, make_window, session) -> None:  # type: ignore[no-untyped-def]
    a, _b = seed(session)
    window = make_window(ready=False)
    window.rename_conversation(a)
    window.dialog.setTextValue("   ")
    window.dialog.accept()
    assert get_conversation(session.store, a).title == "Plan a trip to Lisbon"
    assert "not changed" in window.chat_view.notice.text()


def test_delete_asks_first_and_cancel_keeps_it(qtbot, make_window, session) -> None:  # type: ignore[no-untyped-def]
    a, b = seed(session)
    window = make_window(ready=False)
    window.sidebar.list.setCurrentRow(1)  # open "a"
    window.delete_conversation(a)
    box = window.dialog
    assert isinstance(box, QMessageBox)
    assert "Plan a trip to Lisbon" in box.text() and "2 messages" in box.text()
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.Cancel)
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert get_conversation(session.store, a).title == "Plan a trip to Lisbon"

    window.delete_conversation(a)
    delete = next(b for b in window.dialog.buttons() if b.text() == "Delete")
    delete.click()
    with pytest.raises(NotFoundError):
        get_conversation(session.store, a)
    assert [c.id for c in list_conversations(session.store, session.assistant().id)] == [b]
    assert list_messages(session.store, a, replaced=True) == []
    assert window.sidebar.titles() == ["Recipe for pancakes"]
    assert window.controller.conversation is None  # the open one was deleted
    assert window.chat_view.messages() == []


def test_delete_counts_the_answers_regenerate_kept(qtbot, make_window, session) -> None:  # type: ignore[no-untyped-def]
    a, _b = seed(session)
    first = list_messages(session.store, a)[-1]
    again = add_message(session.store, a, "assistant", "Start at the river instead.")
    mark_replaced(session.store, first.id, again.id)  # Regenerate kept the first answer
    window = make_window(ready=False)
    window.delete_conversation(a)
    assert "3 messages" in window.dialog.text()  # all of them go, the kept answer too
    window.dialog.button(QMessageBox.StandardButton.Cancel).click()


def test_delete_key_in_the_list_asks_for_confirmation(qtbot, make_window, session) -> None:  # type: ignore[no-untyped-def]
    seed(session)
    window = make_window(ready=False)
    window.sidebar.list.setCurrentRow(0)
    window.sidebar.list.setFocus()
    qtbot.keyClick(window.sidebar.list, Qt.Key.Key_Delete)
    assert isinstance(window.dialog, QMessageBox)
    window.dialog.button(QMessageBox.StandardButton.Cancel).click()
    assert len(list_conversations(session.store, session.assistant().id)) == 2
