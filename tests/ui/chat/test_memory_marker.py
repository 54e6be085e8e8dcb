"""A conversation longer than the model's context shows where the assistant's memory begins."""

from __future__ import annotations

import pytest

from kindred.core.chat.conversations import add_message, create_conversation
from kindred.core.session import Session
from kindred.ui.chat.chat_view import FORGOTTEN


def long_conversation(session: Session, turns: int) -> int:
    """A saved chat of `turns` exchanges of ~60 words each: well past a 4096-token context."""
    conversation = create_conversation(session.store, session.assistant().id, "Long one")
    for i in range(turns):
        add_message(session.store, conversation.id, "user",
                    f"Question {i}: " + "tell me about the sea and its tides and its fish " * 6)
        add_message(session.store, conversation.id, "assistant",
                    f"Answer {i}: " + "the sea is wide and deep and full of life " * 6)
    return conversation.id


def marker_position(window) -> int | None:  # type: ignore[no-untyped-def]
    """How many messages come before the marker on screen (None: no marker)."""
    view = window.chat_view
    if not view.memory_marker.isVisibleTo(view):
        return None
    layout = view.column_layout
    at = layout.indexOf(view.memory_marker)
    return sum(1 for w in view._messages() if layout.indexOf(w) < at)


def test_short_chat_has_no_marker(qtbot, make_window, session) -> None:  # type: ignore[no-untyped-def]
    conversation = create_conversation(session.store, session.assistant().id, "Short")
    add_message(session.store, conversation.id, "user", "Hello")
    add_message(session.store, conversation.id, "assistant", "Hi!")
    window = make_window(max_tokens=8)
    window.controller.open_conversation(conversation.id)
    qtbot.wait(300)
    assert marker_position(window) is None


@pytest.mark.slow
def test_opening_a_long_chat_marks_where_the_assistants_memory_begins(  # type: ignore[no-untyped-def]
        qtbot, make_window, session) -> None:
    conversation_id = long_conversation(session, 40)
    window = make_window(max_tokens=8)
    window.controller.open_conversation(conversation_id)
    qtbot.waitUntil(lambda: marker_position(window) is not None, timeout=10_000)
    first = marker_position(window)
    assert first is not None and 0 < first < 80
    assert first == window.chat_view.left_out
    assert window.chat_view.memory_marker.text().count(FORGOTTEN) == 1
    shown = window.chat_view.messages()
    assert shown[first][0] == "user"  # memory starts at a question, not mid-exchange
    # a new message goes below the marker; the marker stays where memory begins
    window.chat_view.add_user_message("And what about the moon?")
    assert marker_position(window) == first
    window.chat_view.set_left_out(0)
    assert marker_position(window) is None
