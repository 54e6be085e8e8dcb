"""The chat as a person uses it: type, watch the answer stream, stop it, regenerate, restart."""

from __future__ import annotations

import pytest
from conftest_ui import send, wait_idle
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from kindred.core.chat.conversations import earlier_answers, list_conversations, list_messages
from kindred.core.learning import feedback
from kindred.core.session import Session


def messages_in_db(session: Session) -> list:  # type: ignore[type-arg]
    conversations = list_conversations(session.store, session.assistant().id)
    assert len(conversations) == 1
    return list_messages(session.store, conversations[0].id)


def test_typed_message_streams_an_answer_that_is_saved(qtbot, make_window, session) -> None:  # type: ignore[no-untyped-def]
    window = make_window(max_tokens=24)
    pieces: list[str] = []
    window.controller.answer_piece.connect(lambda _cid, text: pieces.append(text))
    send(qtbot, window, "Say hello to me.")
    assert window.chat_view.composer.toPlainText() == ""  # sent, box cleared
    wait_idle(qtbot, window)
    assert len(pieces) >= 2, "the answer should arrive in several streamed pieces"
    shown = window.chat_view.messages()
    assert shown[0] == ("user", "Say hello to me.")
    assert shown[1][0] == "assistant" and shown[1][1] == "".join(pieces)
    saved = messages_in_db(session)
    assert [m.role for m in saved] == ["user", "assistant"]
    assert saved[1].content == "".join(pieces)
    assert saved[1].tokens_out and saved[1].tokens_out <= 24
    assert saved[1].adapters == []
    assert "tok/s" in window.speed_label.text() and "—" not in window.speed_label.text()
    assert window.adapter_label.text() == "Adapter: none"
    assert window.chat_view.title.text() == "Say hello to me."


def test_shift_enter_adds_a_line_and_sends_nothing(qtbot, make_window, session) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    composer = window.chat_view.composer
    qtbot.keyClicks(composer, "first")
    qtbot.keyClick(composer, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(composer, "second")
    assert composer.toPlainText() == "first\nsecond"
    assert not window.controller.busy
    assert list_conversations(session.store, session.assistant().id) == []


def test_stop_cuts_the_answer_and_saves_it_as_cancelled(qtbot, make_window, session) -> None:  # type: ignore[no-untyped-def]
    window = make_window(max_tokens=400)
    pieces: list[str] = []
    window.controller.answer_piece.connect(lambda _cid, text: pieces.append(text))
    send(qtbot, window, "Write a long story about a lighthouse keeper.")
    qtbot.waitUntil(lambda: len(pieces) >= 3, timeout=60_000)
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    wait_idle(qtbot, window)
    answer = messages_in_db(session)[-1]
    assert answer.finish_reason == "cancelled"
    assert answer.tokens_out is not None and answer.tokens_out < 400
    assert answer.content == "".join(pieces)
    assert window.chat_view.messages()[-1] == ("assistant", answer.content)
    footer = window.chat_view._messages()[-1].meta.text()
    assert footer.startswith("Stopped")


def test_regenerate_replaces_the_last_answer_and_keeps_the_first(  # type: ignore[no-untyped-def]
        qtbot, make_window, session) -> None:
    window = make_window(max_tokens=12)
    send(qtbot, window, "Name a colour.")
    wait_idle(qtbot, window)
    first = messages_in_db(session)[-1]
    qtbot.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    assert window.controller.busy
    wait_idle(qtbot, window)
    saved = messages_in_db(session)
    assert [m.role for m in saved] == ["user", "assistant"]
    assert saved[-1].created_at > first.created_at  # a new answer (ids may be reused)
    assert [role for role, _ in window.chat_view.messages()] == ["user", "assistant"]
    assert window.chat_view.messages()[-1][1] == saved[-1].content
    # the first answer was not thrown away: one click shows it, kept as it was
    widget = window.chat_view._messages()[-1]
    assert widget.earlier_button.isVisible() and widget.earlier_button.text() == "1 earlier answer"
    assert [m.id for m in earlier_answers(session.store, saved[-1].id)] == [first.id]
    qtbot.mouseClick(widget.earlier_button, Qt.MouseButton.LeftButton)
    dialog = window.chat_view.earlier_dialog
    assert dialog is not None and dialog.isVisible()
    assert [view.markdown for view in dialog.views] == [first.content]
    dialog.close()
    # and a restart still offers it
    window.close()
    again = make_window(ready=False, max_tokens=None)
    assert again.chat_view._messages()[-1].earlier_button.text() == "1 earlier answer"


def test_restart_shows_the_history(qtbot, make_window, session) -> None:  # type: ignore[no-untyped-def]
    window = make_window(max_tokens=12)
    send(qtbot, window, "Remember this: blue kites.")
    wait_idle(qtbot, window)
    before = window.chat_view.messages()
    window.close()
    again = make_window(ready=False, max_tokens=None)
    assert again.chat_view.messages() == before
    assert again.sidebar.titles() == ["Remember this: blue kites."]


def test_a_message_sent_while_the_model_loads_is_answered_once_ready(qtbot, make_window,  # type: ignore[no-untyped-def]
                                                                      session) -> None:
    window = make_window(ready=False, max_tokens=8)
    assert not window.controller.ready
    send(qtbot, window, "Hello?")
    assert window.controller.busy  # queued, not refused
    wait_idle(qtbot, window)
    assert [m.role for m in messages_in_db(session)] == ["user", "assistant"]


def test_copy_puts_the_answer_on_the_clipboard(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    window = make_window(max_tokens=10)
    send(qtbot, window, "Say yes.")
    wait_idle(qtbot, window)
    answer = window.chat_view.messages()[-1][1]
    QGuiApplication.clipboard().clear()
    qtbot.mouseClick(window.chat_view._messages()[-1].copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == answer


def test_deleting_the_conversation_being_answered_stops_and_saves_nothing(qtbot, make_window,  # type: ignore[no-untyped-def]
                                                                          session) -> None:
    window = make_window(max_tokens=400)
    pieces: list[str] = []
    window.controller.answer_piece.connect(lambda _cid, text: pieces.append(text))
    send(qtbot, window, "Tell me a long story.")
    qtbot.waitUntil(lambda: len(pieces) >= 2, timeout=60_000)
    conversation = window.controller.conversation
    assert conversation is not None
    window.controller.delete(conversation.id)
    wait_idle(qtbot, window)
    assert list_conversations(session.store, session.assistant().id) == []
    assert window.chat_view.messages() == []
    assert not window.controller.busy
    send(qtbot, window, "Still there?")  # the chat goes on
    wait_idle(qtbot, window)
    assert [m.role for m in messages_in_db(session)] == ["user", "assistant"]


@pytest.mark.slow  # the first prompt fills half the context (about 2,000 tokens)
def test_preferences_too_long_for_the_context_show_a_note_until_they_fit(  # type: ignore[no-untyped-def]
        qtbot, make_window, session) -> None:
    aid = session.assistant().id
    added = [feedback.add_preference(session.store, aid, f"Rule {i}: " + "be precise " * 40)
             for i in range(80)]
    window = make_window(max_tokens=4)
    note = window.chat_view.system_note
    assert not note.isVisible()
    send(qtbot, window, "Hi.")
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=240_000)
    assert note.isVisible(), "the answer did not see every preference: the chat says so"
    assert "oldest stated preferences" in note.text() and "Nothing was deleted" in note.text()
    for item in added[:-3]:  # the person turns the old ones off: everything fits again
        feedback.remove_feedback(session.store, item.id)
    send(qtbot, window, "Hi again.")
    wait_idle(qtbot, window)
    assert not note.isVisible() and note.text() == ""
