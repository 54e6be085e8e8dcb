from __future__ import annotations

import pytest

from kindred.core.basics.errors import KindredError, NotFoundError
from kindred.core.basics.sampling import Sampling
from kindred.core.chat import turns as chat
from kindred.core.chat.conversations import (
    create_conversation,
    delete_conversation,
    earlier_answers,
    earlier_counts,
    list_conversations,
    list_messages,
    rename_conversation,
)
from kindred.core.engine.llama import Engine
from kindred.core.home.assistants import create_assistant, list_assistants, update_assistant
from kindred.core.session import Session


def test_default_assistant_and_more(session: Session) -> None:
    default = session.assistant()
    assert default.name == "Kindred" and default.persona
    other = create_assistant(session.store, "Sam's helper", persona="Be terse.")
    assert [a.name for a in list_assistants(session.store)] == ["Kindred", "Sam's helper"]
    assert other.model_id == default.model_id
    with pytest.raises(KindredError, match="already"):
        create_assistant(session.store, "Kindred")
    with pytest.raises(NotFoundError):
        create_assistant(session.store, "x", model_id="nope")


def test_settings_are_validated_and_saved(session: Session) -> None:
    a = session.assistant()
    updated = update_assistant(session.store, a.id, persona="Talk like a pirate.",
                               sampling=Sampling(temperature=0.2, max_tokens=64))
    assert updated.persona == "Talk like a pirate." and updated.sampling.max_tokens == 64
    with pytest.raises(KindredError, match="temperature"):
        update_assistant(session.store, a.id, sampling=Sampling(temperature=-1))
    assert session.assistant().sampling.temperature == 0.2


def test_conversations_title_rename_search_delete(session: Session) -> None:
    a = session.assistant()
    c1 = create_conversation(session.store, a.id)
    chat.prepare(session.store, a, c1.id, "Tell me about octopus hearts")
    c2 = create_conversation(session.store, a.id)
    chat.prepare(session.store, a, c2.id, "Plan a trip")
    titles = [c.title for c in list_conversations(session.store, a.id)]
    assert titles == ["Plan a trip", "Tell me about octopus hearts"]
    rename_conversation(session.store, c2.id, "Holidays")
    assert [c.title for c in list_conversations(session.store, a.id, "OCTOPUS")] == [
        "Tell me about octopus hearts"]
    assert [c.id for c in list_conversations(session.store, a.id, "holi")] == [c2.id]
    delete_conversation(session.store, c1.id)
    assert [c.id for c in list_conversations(session.store, a.id)] == [c2.id]
    assert list_messages(session.store, c1.id) == []
    with pytest.raises(KindredError):
        rename_conversation(session.store, c2.id, "  ")


def test_a_turn_is_saved_with_its_stats_and_regenerate_replaces(session: Session,
                                                                engine: Engine) -> None:
    a = session.assistant()
    conv = create_conversation(session.store, a.id)
    turn = chat.prepare(session.store, a, conv.id, "Name a colour.")
    assert turn.messages[0]["role"] == "system" and turn.messages[-1]["content"] == "Name a colour."
    greedy = Sampling(temperature=0.0, max_tokens=24)
    generation = engine.chat(turn.messages, greedy)
    saved = chat.save_answer(session.store, conv.id, generation.read(), generation.stats)
    assert saved.content and saved.tokens_out and saved.tokens_out <= 24
    assert saved.tokens_in and saved.ttft_s is not None and saved.adapters == []
    regen, old = chat.prepare_regenerate(session.store, a, conv.id)
    assert old.id == saved.id and regen.messages == turn.messages
    again = engine.chat(regen.messages, Sampling(temperature=1.2, max_tokens=24))
    new = chat.save_answer(session.store, conv.id, again.read(), again.stats, replaces=old.id)
    roles = [(m.role, m.id) for m in list_messages(session.store, conv.id)]
    assert roles[-1] == ("assistant", new.id) and len(roles) == 2
    # nothing is lost: the replaced answer is kept, stats and all, out of the visible thread
    third = chat.save_answer(session.store, conv.id, "A third answer.", again.stats,
                             replaces=chat.prepare_regenerate(session.store, a, conv.id)[1].id)
    assert [m.id for m in earlier_answers(session.store, third.id)] == [saved.id, new.id]
    kept = earlier_answers(session.store, third.id)[0]
    assert kept.content == saved.content and kept.tokens_out == saved.tokens_out
    assert kept.replaced_by == new.id and earlier_answers(session.store, saved.id) == []
    everything = list_messages(session.store, conv.id, replaced=True)
    assert [m.id for m in everything][1:] == [saved.id, new.id, third.id]
    assert [m.id for m in list_messages(session.store, conv.id)][1:] == [third.id]
    assert earlier_counts(session.store, conv.id) == {third.id: 2}
    # and the next prompt sees only the visible thread
    follow = chat.prepare(session.store, a, conv.id, "And another?")
    assert [m["content"] for m in follow.messages[1:]] == ["Name a colour.", "A third answer.",
                                                           "And another?"]
    with pytest.raises(KindredError, match="no answer"):
        empty = create_conversation(session.store, a.id)
        chat.prepare_regenerate(session.store, a, empty.id)
