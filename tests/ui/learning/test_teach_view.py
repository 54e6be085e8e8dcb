"""The Teach page: preferences, corrected answers and ratings listed, added, edited and removed
through the real feedback core and database; bad input is refused with a message and changes
nothing."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from kindred.core.chat import conversations
from kindred.core.learning import feedback
from kindred.core.session import Session
from kindred.ui.learning.example_dialog import ExampleDialog
from kindred.ui.learning.teach_view import TeachView


@pytest.fixture
def view(qtbot, session: Session) -> TeachView:  # type: ignore[no-untyped-def]
    widget = TeachView(session)
    qtbot.addWidget(widget)
    widget.resize(900, 600)
    widget.show()
    return widget


def items(session: Session, kind: str) -> list[feedback.Feedback]:
    return feedback.list_feedback(session.store, session.assistant().id, kind)


def preference_texts(view: TeachView) -> list[str]:
    return [view.preferences.item(i).text() for i in range(view.preferences.count())]


def table_rows(table) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return [[table.item(r, c).text() for c in range(table.columnCount())]
            for r in range(table.rowCount())]


def answer_box(view: TeachView, choice: str) -> None:
    box = view.dialog
    assert isinstance(box, QMessageBox)
    for button in box.buttons():
        if button.text().replace("&", "") == choice:
            button.click()
            return
    raise AssertionError(f"no {choice} button")


def test_add_a_preference_it_applies_at_once(qtbot, view, session) -> None:  # type: ignore[no-untyped-def]
    changed: list[bool] = []
    view.changed.connect(lambda: changed.append(True))
    qtbot.keyClicks(view.preference_input, "Call me Sam")
    qtbot.keyClick(view.preference_input, Qt.Key.Key_Return)
    assert preference_texts(view) == ["Call me Sam"]
    assert view.preference_input.text() == ""
    assert changed == [True]
    assert "Call me Sam" in feedback.system_prompt(session.store, session.assistant())
    assert view.counts.text().startswith("1 preference ·")
    assert view.tabs.tabText(0) == "Preferences (1)"


def test_an_empty_preference_is_refused_and_nothing_changes(qtbot, view, session) -> None:  # type: ignore[no-untyped-def]
    qtbot.keyClicks(view.preference_input, "   ")
    view.add_preference()
    assert items(session, "preference") == []
    assert "Nothing was changed" in view.status.text()
    assert view.status.property("error") is True
    assert view.preference_input.text() == "   "  # what was typed is kept


def test_pause_edit_and_remove_a_preference(qtbot, view, session) -> None:  # type: ignore[no-untyped-def]
    pref = feedback.add_preference(session.store, session.assistant().id, "Keep answers short")
    view.refresh()
    item = view.preferences.item(0)
    item.setCheckState(Qt.CheckState.Unchecked)  # pause it
    assert feedback.get_feedback(session.store, pref.id).active is False
    assert "Keep answers short" not in feedback.system_prompt(session.store,
                                                              session.assistant())
    view.preferences.item(0).setText("Keep answers very short")  # as an inline edit does
    assert feedback.get_feedback(session.store, pref.id).text == "Keep answers very short"
    view.preferences.item(0).setText("")  # refused: the words stay as they were
    assert feedback.get_feedback(session.store, pref.id).text == "Keep answers very short"
    assert preference_texts(view) == ["Keep answers very short"]
    assert "Nothing was changed" in view.status.text()

    view.select(pref.id)
    view.remove_preference_button.click()
    answer_box(view, "Cancel")
    assert len(items(session, "preference")) == 1  # cancelled: kept
    view.select(pref.id)
    view.remove_preference_button.click()
    answer_box(view, "Remove")
    assert items(session, "preference") == [] and preference_texts(view) == []


def test_corrected_answers_add_edit_remove(qtbot, view, session) -> None:  # type: ignore[no-untyped-def]
    view.tabs.setCurrentIndex(1)
    view.add_example()
    dialog = view.dialog
    assert isinstance(dialog, ExampleDialog)
    qtbot.keyClicks(dialog.prompt, "What's a good breakfast?")
    dialog.save_button.click()  # no answer yet: refused inside the dialog
    assert dialog.isVisible() and "answer is empty" in dialog.error.text()
    assert items(session, "correction") == []
    qtbot.keyClicks(dialog.answer, "Oats with berries, Sam!")
    dialog.save_button.click()
    assert not dialog.isVisible()
    assert table_rows(view.examples) == [["What's a good breakfast?", "Oats with berries, Sam!",
                                         "—"]]
    example = items(session, "correction")[0]

    view.select(example.id)
    view.edit_example()
    dialog = view.dialog
    assert dialog.prompt.toPlainText() == "What's a good breakfast?"
    dialog.answer.setPlainText("Porridge, Sam. Warm and quick!")
    dialog.save_button.click()
    assert feedback.get_feedback(session.store, example.id).answer == \
        "Porridge, Sam. Warm and quick!"
    assert view.examples.item(0, 1).text() == "Porridge, Sam. Warm and quick!"

    view.select(example.id)
    view.remove(view._current_id(view.examples))
    answer_box(view, "Remove")
    assert items(session, "correction") == [] and view.examples.rowCount() == 0


def test_ratings_from_the_chat_are_listed_flipped_and_removed(qtbot, view, session) -> None:  # type: ignore[no-untyped-def]
    conv = conversations.create_conversation(session.store, session.assistant().id)
    conversations.add_message(session.store, conv.id, "user", "Name a fruit.")
    answer = conversations.add_message(session.store, conv.id, "assistant", "An orange.")
    rating = feedback.rate(session.store, answer.id, 1)
    view.hide()
    view.show()  # the page re-reads what the chat added
    view.tabs.setCurrentIndex(2)
    assert [row[:3] for row in table_rows(view.ratings)] == [["Liked", "Name a fruit.",
                                                              "An orange."]]
    assert "1 liked · 0 disliked" in view.counts.text()
    view.select(rating.id)
    assert view.flip_button.text() == "Change to disliked"
    assert not view.flip_button.icon().isNull()  # the glyph is our icon, not an emoji
    view.flip_button.click()
    assert feedback.rating_of(session.store, answer.id) == -1
    assert view.ratings.item(0, 0).text() == "Disliked"
    assert not view.ratings.item(0, 0).icon().isNull()
    assert "0 liked · 1 disliked" in view.counts.text()
    view.select(rating.id)
    view.remove(view._current_id(view.ratings))
    answer_box(view, "Remove")
    assert feedback.rating_of(session.store, answer.id) is None
    # The conversation itself is untouched.
    assert [m.content for m in conversations.list_messages(session.store, conv.id)] == [
        "Name a fruit.", "An orange."]


def test_remove_without_a_selection_says_so(view, session) -> None:  # type: ignore[no-untyped-def]
    view.remove(None)
    assert view.dialog is None and "Select something" in view.status.text()


def _inked_rows(widget) -> set[int]:  # type: ignore[no-untyped-def]
    """Rows of the viewport's middle band that hold anything but the background colour."""
    image = widget.viewport().grab().toImage()
    background = image.pixelColor(2, image.height() - 3)
    middle = range(image.height() // 3, 2 * image.height() // 3)
    return {y for y in middle for x in range(0, image.width(), 3)
            if image.pixelColor(x, y) != background}


def test_empty_lists_say_what_belongs_in_them(qtbot, view) -> None:  # type: ignore[no-untyped-def]
    assert view.preferences.count() == 0 and "Call me Sam" in view.preferences.placeholder
    assert _inked_rows(view.preferences)  # the hint is painted in the middle of the list
    qtbot.keyClicks(view.preference_input, "Call me Sam")
    qtbot.keyClick(view.preference_input, Qt.Key.Key_Return)
    assert view.preferences.count() == 1
    assert not _inked_rows(view.preferences)  # one item at the top, no hint any more
    for table in (view.examples, view.ratings):
        assert table.rowCount() == 0 and table.placeholder
