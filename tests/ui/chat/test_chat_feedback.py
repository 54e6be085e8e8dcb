"""Feedback in the chat as a person gives it: thumbs up / down on an answer, "Correct this
answer", and stated preferences that apply to the very next message. Real model, real database.
"""

from __future__ import annotations

from dataclasses import replace

from conftest_ui import send, wait_idle
from PySide6.QtCore import Qt

from kindred.core.chat.conversations import list_conversations, list_messages
from kindred.core.engine.system_budget import PREFERENCES_HEADER
from kindred.core.home.assistants import update_assistant
from kindred.core.learning import feedback
from kindred.core.session import Session
from kindred.ui.chat.message_widget import MessageWidget
from kindred.ui.learning.correct import CorrectDialog
from kindred.ui.shell.main_window import MainWindow

LEFT = Qt.MouseButton.LeftButton


def answer_widget(window: MainWindow) -> MessageWidget:
    widget = window.chat_view._messages()[-1]
    assert widget.role == "assistant"
    return widget


def saved_answer_id(session: Session) -> int:
    conversation = list_conversations(session.store, session.assistant().id)[0]
    answer = list_messages(session.store, conversation.id)[-1]
    assert answer.role == "assistant"
    return answer.id


def test_thumbs_toggle_persist_and_survive_a_restart(qtbot, make_window, session) -> None:  # type: ignore[no-untyped-def]
    window = make_window(max_tokens=8)
    send(qtbot, window, "Name a fruit.")
    wait_idle(qtbot, window)
    message_id = saved_answer_id(session)
    widget = answer_widget(window)
    assert widget.message_id == message_id
    up, down = widget.up_button, widget.down_button
    assert up.isVisible() and down.isVisible() and widget.correct_button.isVisible()
    assert not up.isChecked() and not down.isChecked()
    assert feedback.rating_of(session.store, message_id) is None

    qtbot.mouseClick(up, LEFT)
    assert feedback.rating_of(session.store, message_id) == 1
    assert up.isChecked() and not down.isChecked()
    assert "liked" in up.toolTip()

    qtbot.mouseClick(down, LEFT)  # switching replaces the rating, never adds a second one
    assert feedback.rating_of(session.store, message_id) == -1
    assert down.isChecked() and not up.isChecked()
    ratings = feedback.list_feedback(session.store, session.assistant().id, "rating")
    assert [(r.message_id, r.value) for r in ratings] == [(message_id, -1)]
    assert ratings[0].prompt == "Name a fruit." and ratings[0].answer == widget.text

    qtbot.mouseClick(down, LEFT)  # a second click clears
    assert feedback.rating_of(session.store, message_id) is None
    assert not up.isChecked() and not down.isChecked()
    assert feedback.list_feedback(session.store, session.assistant().id, "rating") == []

    qtbot.mouseClick(up, LEFT)
    window.close()
    again = make_window(ready=False, max_tokens=None)
    shown = answer_widget(again)
    assert shown.message_id == message_id
    assert shown.up_button.isChecked() and not shown.down_button.isChecked()
    qtbot.mouseClick(shown.up_button, LEFT)  # clearing works after a restart too
    assert feedback.rating_of(session.store, message_id) is None


def test_correct_saves_the_wanted_answer_and_keeps_the_original(qtbot, make_window,  # type: ignore[no-untyped-def]
                                                                 session) -> None:
    window = make_window(max_tokens=8)
    send(qtbot, window, "Say something about the sea.")
    wait_idle(qtbot, window)
    message_id = saved_answer_id(session)
    widget = answer_widget(window)
    original = widget.text
    assert not widget.corrected_mark.isVisible()

    qtbot.mouseClick(widget.correct_button, LEFT)
    dialog = window.chat_view.dialog
    assert isinstance(dialog, CorrectDialog) and dialog.isVisible()
    assert dialog.wanted == original  # pre-filled with the answer
    assert "Say something about the sea." in dialog.question.text()
    assert not dialog.save_button.isEnabled()  # unchanged: nothing to save
    dialog.editor.setPlainText("   ")
    assert not dialog.save_button.isEnabled()  # empty: nothing to save

    wanted = "The sea is wide, salty and always moving. 🌊"
    dialog.editor.selectAll()
    qtbot.keyClicks(dialog.editor, wanted[:-2])  # typed (QTest cannot type the emoji)
    dialog.editor.insertPlainText(wanted[-2:])
    assert dialog.save_button.isEnabled()
    qtbot.mouseClick(dialog.save_button, LEFT)
    qtbot.waitUntil(lambda: window.chat_view.dialog is None, timeout=5000)

    items = feedback.list_feedback(session.store, session.assistant().id, "correction")
    assert len(items) == 1
    item = items[0]
    assert (item.prompt, item.answer, item.rejected, item.message_id) == \
        ("Say something about the sea.", wanted, original, message_id)
    assert widget.corrected_mark.isVisible() and widget.corrected
    assert widget.text == original  # the transcript still shows what was said

    window.close()
    again = make_window(ready=False, max_tokens=None)
    assert answer_widget(again).corrected_mark.isVisible()


def test_a_refused_correction_keeps_the_dialog_and_changes_nothing(qtbot, make_window,  # type: ignore[no-untyped-def]
                                                                    session) -> None:
    window = make_window(max_tokens=6)
    send(qtbot, window, "Hi.")
    wait_idle(qtbot, window)
    widget = answer_widget(window)
    qtbot.mouseClick(widget.correct_button, LEFT)
    dialog = window.chat_view.dialog
    assert isinstance(dialog, CorrectDialog)
    too_long = "x" * (feedback.MAX_TEXT + 1)
    dialog.editor.setPlainText(too_long)
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert window.chat_view.dialog is dialog and dialog.isVisible()  # what was typed stays
    assert "too long" in dialog.status.text() and "Nothing was changed" in dialog.status.text()
    assert dialog.status.isVisible()
    assert feedback.list_feedback(session.store, session.assistant().id) == []
    assert not widget.corrected_mark.isVisible()
    dialog.reject()
    assert window.chat_view.dialog is None


def test_feedback_shows_in_the_learning_data_list(qtbot, make_window, session) -> None:  # type: ignore[no-untyped-def]
    window = make_window(max_tokens=6)
    for question in ("First question?", "Second question?"):
        send(qtbot, window, question)
        wait_idle(qtbot, window)
    first, second = [w for w in window.chat_view._messages() if w.role == "assistant"]
    qtbot.mouseClick(first.down_button, LEFT)
    qtbot.mouseClick(second.up_button, LEFT)
    qtbot.mouseClick(first.correct_button, LEFT)
    dialog = window.chat_view.dialog
    assert isinstance(dialog, CorrectDialog)
    dialog.editor.setPlainText("A better first answer.")
    dialog.submit()
    items = feedback.list_feedback(session.store, session.assistant().id)
    assert [(i.kind, i.prompt, i.value) for i in items] == [
        ("rating", "First question?", -1), ("rating", "Second question?", 1),
        ("correction", "First question?", None)]
    assert items[2].rejected == first.text and items[2].answer == "A better first answer."
    assert feedback.counts(session.store, session.assistant().id) == {
        "corrections": 1, "preferences": 0, "liked": 1, "disliked": 1}
    # The other answer's state is untouched by the first one's feedback.
    assert second.up_button.isChecked() and not second.corrected_mark.isVisible()
    assert first.down_button.isChecked() and first.corrected_mark.isVisible()


def test_feedback_needs_a_saved_answer_and_works_from_the_keyboard(qtbot, make_window,  # type: ignore[no-untyped-def]
                                                                    session) -> None:
    window = make_window(max_tokens=200)
    pieces: list[str] = []
    window.controller.answer_piece.connect(lambda _cid, text: pieces.append(text))
    send(qtbot, window, "Tell me about clouds.")
    qtbot.waitUntil(lambda: len(pieces) >= 2, timeout=60_000)
    streaming = answer_widget(window)
    assert streaming.message_id is None  # nothing to attach feedback to yet
    assert not streaming.up_button.isVisible() and not streaming.correct_button.isVisible()
    user = window.chat_view._messages()[0]
    assert not user.up_button.isVisible()  # the person's own messages carry no thumbs
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    wait_idle(qtbot, window)
    widget = answer_widget(window)
    message_id = saved_answer_id(session)
    assert widget.message_id == message_id and widget.up_button.isVisible()

    for button in (widget.up_button, widget.down_button, widget.correct_button):
        assert button.toolTip() and button.accessibleName()
        assert button.focusPolicy() & Qt.FocusPolicy.TabFocus
    widget.down_button.setFocus(Qt.FocusReason.TabFocusReason)
    assert widget.down_button.hasFocus()
    qtbot.keyClick(widget.down_button, Qt.Key.Key_Space)
    assert feedback.rating_of(session.store, message_id) == -1
    assert widget.down_button.isChecked()


def test_a_preference_applies_to_the_next_message(qtbot, make_window, session) -> None:  # type: ignore[no-untyped-def]
    """A preference typed in the Teach page is in the very next message's system prompt, and
    the real model's answer shows it; paused there, it is gone from the next one."""
    assistant = session.assistant()
    update_assistant(session.store, assistant.id,  # greedy: the same prompt, the same answer
                     sampling=replace(assistant.sampling, temperature=0.0))
    window = make_window(max_tokens=10)
    send(qtbot, window, "Say hello to me.")
    system = window.controller.turn.prepared.messages[0]
    assert system["role"] == "system" and PREFERENCES_HEADER not in system["content"]
    wait_idle(qtbot, window)
    before = window.chat_view.messages()[-1][1]
    assert "Bonjour" not in before

    window.show_page("Teach")
    qtbot.keyClicks(window.teach.preference_input, "Always answer in French.")
    qtbot.keyClick(window.teach.preference_input, Qt.Key.Key_Return)
    assert feedback.active_preferences(session.store, assistant.id) == [
        "Always answer in French."]
    window.new_chat()  # shows the chat page
    send(qtbot, window, "Say hello to me.")
    system = window.controller.turn.prepared.messages[0]
    assert "- Always answer in French." in system["content"]
    wait_idle(qtbot, window)
    after = window.chat_view.messages()[-1][1]
    assert "Bonjour" in after, after

    window.show_page("Teach")
    window.teach.preferences.item(0).setCheckState(Qt.CheckState.Unchecked)  # paused
    window.new_chat()
    send(qtbot, window, "Say hello to me.")
    assert "French" not in window.controller.turn.prepared.messages[0]["content"]
    wait_idle(qtbot, window)
    # paused: the French is gone (the words may differ from the first answer: llama.cpp reuses
    # the cached prompt prefix, which moves greedy decoding by float noise)
    assert "Bonjour" not in window.chat_view.messages()[-1][1]
