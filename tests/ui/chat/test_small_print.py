"""The small print under an answer: its figures, the versions that wrote it, and why it ends
where it does (stopped, or cut at the length limit: the text alone looked unfinished)."""

from __future__ import annotations

from kindred.core.basics.ids import ConversationId
from kindred.core.chat.conversations import Message
from kindred.ui.chat.message_widget import describe


def _answer(finish: str, adapters: list[tuple[str, float]] | None = None) -> Message:
    return Message(1, ConversationId(1), "assistant", "To boil an egg, you need", 0.0,
                   adapters or [], tokens_out=24, tok_s=31.0, finish_reason=finish)


def test_an_answer_cut_at_the_limit_says_so() -> None:
    named = {"a" * 64: "Version 1"}
    assert describe(_answer("length", [("a" * 64, 1.0)]), named) == \
        "24 tokens · cut at the length limit · 31 tok/s · Version 1"
    assert describe(_answer("stop")) == "24 tokens · 31 tok/s · base model"
    assert describe(_answer("cancelled")).startswith("Stopped · 24 tokens")
    # a trial round waits for the pick: the figures stay, the versions wait
    assert describe(_answer("stop", [("a" * 64, 1.0)]), named, versions=False) == \
        "24 tokens · 31 tok/s"


def test_a_long_small_print_wraps_in_a_small_window(  # type: ignore[no-untyped-def]
        qtbot, home, make_window, model_path) -> None:
    """At 900×600 an answer with every mark under it (earlier answers, corrected, cut at the
    limit, a blend) stays inside the chat: its small print wraps instead of running past the
    edge, under the scroll bar (and the user's bubble with it)."""
    from kindred.core.chat.conversations import add_message, create_conversation, mark_replaced
    from kindred.core.engine.llama import GenerationStats
    from kindred.core.learning import feedback
    from kindred.core.session import open_session
    from support.archive_helpers import phasing_in
    from support.clipping import clipped

    session = open_session(home.root)
    store = session.store
    a, b = phasing_in(session, model_path)
    conversation = create_conversation(store, a.assistant_id)
    add_message(store, conversation.id, "user", "How do I boil an egg?")
    stats = GenerationStats(adapters=[(a.id, 0.5), (b.id, 0.5)], tokens_out=24, tok_s=31.0,
                            finish_reason="length")
    first = add_message(store, conversation.id, "assistant", "To boil an egg, heat", stats)
    last = add_message(store, conversation.id, "assistant", "To boil an egg, take", stats)
    mark_replaced(store, first.id, last.id)
    feedback.correct(store, last.id, "Ahoy! Boil it nine minutes, arr!")
    session.close()
    window = make_window(ready=False)
    window.resize(900, 600)
    window.controller.open_conversation(conversation.id)
    qtbot.wait(50)
    answer = window.chat_view._messages()[-1]
    assert answer.meta.text().endswith("cut at the length limit · 31 tok/s · Version 1 50 % + "
                                       "Version 2 50 %")
    assert clipped(window) == []
    scroll = window.chat_view.transcript_scroll
    assert answer.meta.geometry().right() <= scroll.viewport().width()
