"""A side-by-side trial across bases (issue 10): each version answers on the base it was made
for, in its own llama.cpp engine, and the tally joins the migration card."""

from __future__ import annotations

import io
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from kindred.cli import main
from kindred.core.archive import objects as archive
from kindred.core.basics.errors import KindredError
from kindred.core.chat.conversations import create_conversation
from kindred.core.engine.llama import Engine
from kindred.core.home import consent
from kindred.core.home.assistants import update_assistant
from kindred.core.home.models import add_model
from kindred.core.session import Session
from kindred.core.upgrades import migration, model_removal, trial
from support.archive_helpers import activate, lora_config, make_version
from support.lora import peft_tensors


@pytest.mark.slow
def test_old_and_new_answer_each_on_its_own_base(session: Session, engine: Engine,
                                                 model_path: Path, sibling_model_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    store = session.store
    assistant = session.assistant()
    sibling = add_model(store, sibling_model_path)
    old = activate(session, make_version(session, model_path, seed=1, magnitude=0.08))
    new = archive.archive_peft(store, assistant, peft_tensors(sibling_model_path, layers=(0,),
                                                              seed=2, magnitude=0.08),
                               lora_config(), source="migrated", parent=old.id, model=sibling)
    greedy = replace(assistant.sampling, temperature=0.0, top_k=1, max_tokens=12)
    assistant = update_assistant(store, assistant.id, sampling=greedy)
    assert trial.side_base(store, old.id) is None and trial.side_base(store, None) is None
    assert trial.side_base(store, new.id) == sibling.sha256
    assert migration.pending(store, assistant) == new

    before = engine.adapters
    started = trial.start(store, assistant.id, prompts=2)
    assert (started.a_version, started.b_version) == (old.id, new.id)
    conv = create_conversation(store, assistant.id)
    round_ = trial.run_round(store, engine, assistant, conv.id, "Name a colour.")
    first, second = trial.answers(store, round_)
    assert first is not None and second is not None
    by_side = {round_.first_is: first, round_.version_of("second"): second}
    assert by_side["b"].adapters == [(new.id, 1.0)] and by_side["b"].content
    assert engine.adapters == before and engine.model_path == model_path  # left as it was

    # the tally joins the migration card, from the new version's side
    migration.store_card(store, new.id, {"summary": ["Style kept."],
                                         "from": {"version": old.id},
                                         "to": {"version": new.id}})
    assert "trial" not in (migration.get_card(store, new.id) or {})
    trial.choose(store, round_.id, "first" if round_.first_is == "b" else "second")
    card = migration.get_card(store, new.id)
    assert card is not None and card["trial"]["wins"] == 1 and card["trial"]["rounds"] == 1
    assert card["summary"][-1].startswith("Side-by-side trial (your blind picks): the new "
                                          "version won 1, tied 0, lost 0")
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))  # the switch is asked with it
    assert main(["versions", "activate", new.short, "--home", str(session.home.root)]) == 1
    asked = capsys.readouterr().out
    assert "Side-by-side trial (your blind picks): the new version won 1" in asked

    # B answers on its own base: with that model removed meanwhile it cannot answer at all
    # (on the assistant's engine it would have, misleadingly) and no round is recorded
    plan = model_removal.plan_removal(store, sibling.id)
    request = model_removal.request_removal(store, plan)
    model_removal.remove_model(store, sibling.id, consent.decide(
        store, request.id, granted=True, via="cli-flag"))
    with pytest.raises(KindredError, match=rf"{new.short} cannot answer: its base model"):
        trial.run_round(store, engine, assistant, conv.id, "Another colour?")
    assert trial.get_trial(store, started.id).decided == 1 and trial.current(store, assistant.id)
    assert engine.adapters == before
