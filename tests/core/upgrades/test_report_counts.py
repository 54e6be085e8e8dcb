"""The figures a person reads about a version agree with each other: a report's blended answers
are those given inside a phase-in, Usage counts a conversation once however many versions
answered in it, and ratings are counted alike everywhere."""

from __future__ import annotations

from pathlib import Path

from kindred.core.chat.conversations import add_message, create_conversation
from kindred.core.chat.usage import usage
from kindred.core.engine.llama import GenerationStats
from kindred.core.learning import feedback
from kindred.core.session import Session
from kindred.core.upgrades import retirement
from support.archive_helpers import activate, make_version


def test_blends_conversations_and_ratings_are_counted_once(session: Session,
                                                           model_path: Path) -> None:
    store = session.store
    a = activate(session, make_version(session, model_path, seed=1))
    b = make_version(session, model_path, seed=2, parent=a.id)
    aid = a.assistant_id
    conv = create_conversation(store, aid)
    answered = []
    for adapters in ([(a.id, 1.0)], [(a.id, 0.75), (b.id, 0.25)], [(a.id, 0.5), (b.id, 0.5)],
                     [(b.id, 1.0)]):
        add_message(store, conv.id, "user", "Hi")
        answered.append(add_message(store, conv.id, "assistant", "Hello",
                                    GenerationStats(adapters=adapters)))
    feedback.rate(store, answered[1].id, 1)

    report_a = retirement.build_report(store, a.id)
    assert (report_a["answers_given"], report_a["answers_in_a_blend"]) == (3, 2)
    assert report_a["ratings"] == {"up": 1, "down": 0}
    report_b = retirement.build_report(store, b.id)
    assert (report_b["answers_given"], report_b["answers_in_a_blend"]) == (3, 2)

    used = usage(store, aid)
    assert used.conversations == 1  # one conversation, though two versions answered in it
    assert sum(day["ratings_up"] for day in used.per_day.values()) == 1
