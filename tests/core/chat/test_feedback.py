"""Feedback: ratings, corrections, preferences; preferences reach the system prompt at once."""

from __future__ import annotations

import pytest

from kindred.core.basics.errors import KindredError, NotFoundError
from kindred.core.chat import turns as chat
from kindred.core.chat.conversations import add_message, create_conversation, delete_conversation
from kindred.core.engine.system_budget import PREFERENCES_HEADER
from kindred.core.learning import feedback
from kindred.core.session import Session


def _exchange(session: Session, prompt: str = "What is 2+2?", answer: str = "It is 4."
              ) -> tuple[int, int, int]:
    assistant = session.assistant()
    conv = create_conversation(session.store, assistant.id)
    user = add_message(session.store, conv.id, "user", prompt)
    reply = add_message(session.store, conv.id, "assistant", answer)
    return conv.id, user.id, reply.id


def test_rating_copies_prompt_and_answer_and_rerating_replaces(session: Session) -> None:
    _, _, reply = _exchange(session)
    first = feedback.rate(session.store, reply, 1)
    assert (first.kind, first.prompt, first.answer, first.value) == (
        "rating", "What is 2+2?", "It is 4.", 1)
    again = feedback.rate(session.store, reply, -1)
    assert again.id == first.id and again.value == -1
    assert feedback.rating_of(session.store, reply) == -1
    assert feedback.counts(session.store, session.assistant().id) == {
        "corrections": 0, "preferences": 0, "liked": 0, "disliked": 1}


def test_feedback_survives_deleting_the_conversation(session: Session) -> None:
    conv, _, reply = _exchange(session)
    feedback.rate(session.store, reply, 1)
    fixed = feedback.correct(session.store, reply, "Four.")
    delete_conversation(session.store, conv)
    kept = feedback.get_feedback(session.store, fixed.id)
    assert (kept.prompt, kept.answer, kept.rejected, kept.message_id) == (
        "What is 2+2?", "Four.", "It is 4.", None)
    assert len(feedback.list_feedback(session.store, session.assistant().id)) == 2


def test_add_example_list_edit_remove(session: Session) -> None:
    aid = session.assistant().id
    item = feedback.add_example(session.store, aid, "  Hi ", " Ahoy, matey! ")
    assert (item.prompt, item.answer, item.rejected) == ("Hi", "Ahoy, matey!", None)
    edited = feedback.edit_feedback(session.store, item.id, answer="Ahoy!")
    assert edited.answer == "Ahoy!" and edited.updated_at >= item.updated_at
    assert [f.id for f in feedback.list_feedback(session.store, aid, "correction")] == [item.id]
    assert feedback.list_feedback(session.store, aid, "rating") == []
    assert item.to_json()["prompt"] == "Hi"
    feedback.remove_feedback(session.store, item.id)
    assert feedback.list_feedback(session.store, aid) == []
    with pytest.raises(NotFoundError):
        feedback.remove_feedback(session.store, item.id)


def test_preferences_take_effect_in_the_next_turn(session: Session) -> None:
    assistant = session.assistant()
    conv = create_conversation(session.store, assistant.id)
    pref = feedback.add_preference(session.store, assistant.id, "Call me Sam.")
    turn = chat.prepare(session.store, assistant, conv.id, "Hello")
    system = turn.messages[0]
    assert system["role"] == "system"
    assert system["content"].startswith(assistant.persona)
    assert "- Call me Sam." in system["content"]
    feedback.edit_feedback(session.store, pref.id, active=False)
    assert "Sam" not in chat.history(session.store, assistant, conv.id)[0]["content"]
    feedback.edit_feedback(session.store, pref.id, active=True, answer="Call me Samantha.")
    assert "- Call me Samantha." in chat.history(session.store, assistant, conv.id)[0]["content"]
    feedback.remove_feedback(session.store, pref.id)
    assert chat.history(session.store, assistant, conv.id)[0]["content"] == assistant.persona


def test_preferences_alone_make_a_system_prompt() -> None:
    assert feedback.compose_system_prompt("", ["Be brief."]) == (
        PREFERENCES_HEADER + "\n- Be brief.")
    assert feedback.compose_system_prompt("  ", []) == ""


@pytest.mark.parametrize("bad", [
    lambda s, a, m, u: feedback.rate(s, m, 0),
    lambda s, a, m, u: feedback.rate(s, u, 1),           # a user message
    lambda s, a, m, u: feedback.rate(s, 99999, 1),
    lambda s, a, m, u: feedback.correct(s, m, "   "),
    lambda s, a, m, u: feedback.add_example(s, a, "", "answer"),
    lambda s, a, m, u: feedback.add_example(s, a, "prompt", "x" * (feedback.MAX_TEXT + 1)),
    lambda s, a, m, u: feedback.add_example(s, 424242, "prompt", "answer"),
    lambda s, a, m, u: feedback.add_preference(s, a, "p" * (feedback.MAX_PREFERENCE + 1)),
    lambda s, a, m, u: feedback.add_preference(s, a, "\n"),
    lambda s, a, m, u: feedback.edit_feedback(s, 1, value=1),       # not a rating
    lambda s, a, m, u: feedback.edit_feedback(s, 1, active=False),  # not a preference
    lambda s, a, m, u: feedback.edit_feedback(s, 1, answer=" "),
    lambda s, a, m, u: feedback.list_feedback(s, a, "grade"),
])
def test_bad_input_is_refused_and_changes_nothing(session: Session, bad) -> None:  # type: ignore[no-untyped-def]
    _, user, reply = _exchange(session)
    aid = session.assistant().id
    feedback.add_example(session.store, aid, "Q", "A")
    before = [f.to_json() for f in feedback.list_feedback(session.store, aid)]
    with pytest.raises(KindredError):
        bad(session.store, aid, reply, user)
    assert [f.to_json() for f in feedback.list_feedback(session.store, aid)] == before
