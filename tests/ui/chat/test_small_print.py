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
