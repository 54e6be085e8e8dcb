"""A system prompt longer than the context (80 preferences, a 45 kB persona, a 39 kB preference
from a bundle) is fitted, with a note saying what was left out, never a llama.cpp failure."""

from __future__ import annotations

import pytest

from kindred.core.basics.sampling import Sampling
from kindred.core.chat import turns as chat
from kindred.core.chat.conversations import create_conversation
from kindred.core.engine.llama import Engine
from kindred.core.engine.system_budget import (
    compose_system_prompt,
    fit_system_message,
    fit_system_prompt,
    split_system_prompt,
)
from kindred.core.home.assistants import update_assistant
from kindred.core.home.store import now
from kindred.core.learning import feedback
from kindred.core.session import Session

SHORT = Sampling(temperature=0.0, max_tokens=4)


def test_the_oldest_preferences_go_first_then_the_persona_end() -> None:
    prefs = [f"preference number {i}" for i in range(10)]
    full = compose_system_prompt("Be kind.", prefs)
    assert fit_system_prompt("Be kind.", prefs, len(full), len).text == full
    fitted = fit_system_prompt("Be kind.", prefs, len(full) - 30, len)
    assert fitted.preferences_left_out == 2 and not fitted.persona_shortened
    assert fitted.text == compose_system_prompt("Be kind.", prefs[2:])
    assert fitted.note is not None and "2 oldest stated preferences" in fitted.note
    persona = "P" * 1000
    fitted = fit_system_prompt(persona, prefs, 100, len)
    assert fitted.persona_shortened and fitted.preferences_left_out == 10
    assert len(fitted.text) <= 100 and fitted.text.startswith("PPP") and fitted.text.endswith("…")
    assert "end of the persona" in (fitted.note or "")
    assert split_system_prompt(full) == ("Be kind.", prefs)
    assert split_system_prompt(compose_system_prompt("", prefs)) == ("", prefs)
    assert fit_system_message(full, 10_000, len).note is None


def _answer(session: Session, engine: Engine) -> str:
    assistant = session.assistant()
    conv = create_conversation(session.store, assistant.id)
    turn = chat.prepare(session.store, assistant, conv.id, "Hello!")
    generation = engine.chat(turn.messages, SHORT)
    generation.read()
    assert generation.stats.tokens_in <= engine.n_ctx
    return generation.stats.system_note or ""


@pytest.mark.slow
def test_eighty_preferences_and_a_huge_one_from_a_bundle_still_chat(session: Session,
                                                                    engine: Engine) -> None:
    aid = session.assistant().id
    for i in range(80):
        feedback.add_preference(session.store, aid, f"Preference {i}: " + "be precise " * 40)
    # A bundle skips the 500-character limit: 39 kB in one preference.
    stamp = now()
    session.store.db.execute(
        "INSERT INTO feedback (assistant_id, kind, answer, created_at, updated_at) "
        "VALUES (?, 'preference', ?, ?, ?)", [aid, "Always " + "x y " * 9750, stamp, stamp])
    note = _answer(session, engine)
    assert "oldest stated preferences" in note and "Nothing was deleted" in note


@pytest.mark.slow
def test_a_45_kb_persona_still_chats(session: Session, engine: Engine) -> None:
    update_assistant(session.store, session.assistant().id,
                     persona="You are a helpful pirate. " * 1730)
    note = _answer(session, engine)
    assert "end of the persona" in note


def test_the_persona_alone_is_the_prompt_without_its_preferences() -> None:
    from kindred.core.engine.system_budget import compose_system_prompt, without_preferences

    stated = compose_system_prompt("You help.\n\nWarmly.", ["Be brief.", "Call me Sam."])
    assert without_preferences(stated) == "You help.\n\nWarmly."
    assert without_preferences(compose_system_prompt("", ["Be brief."])) == ""
    assert without_preferences("You help.") == "You help."
