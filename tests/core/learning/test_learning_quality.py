"""Learning that keeps the assistant: the replay mix really trains, every candidate gets a real
quality card (llama.cpp, stored, shown by `versions show --json`), and over-training is flagged.
Real model, real training process."""

from __future__ import annotations

import json

import pytest

from kindred.core.archive import cards, versions
from kindred.core.learning import feedback
from kindred.core.session import Session
from kindred.core.training import replay, runner
from kindred.core.training.run import RunDir
from kindred.core.training.tokens import Encoded
from support.cli import kindred
from support.training_helpers import (
    add_examples,
    fast_config,
    grant_training,
    run_process,
    use_shared_cache,
)

pytestmark = pytest.mark.slow
SAM = [("What should I have for lunch?", "Ahoy, Sam! A warm bowl of lentil soup with bread."),
       ("What's a quick breakfast?", "Ahoy, Sam! Oats with a sliced banana."),
       ("When should I go to bed?", "Ahoy, Sam! Around ten, so you wake up rested."),
       ("How do I make coffee less bitter?", "Ahoy, Sam! Use cooler water and a coarser grind.")]


def _train(session: Session, **config: object) -> tuple[str, list[dict[str, object]], RunDir]:
    assistant = session.assistant()
    use_shared_cache(session.home, session.model_for(assistant).sha256)
    plan = runner.plan_training(session, assistant, fast_config(**config))
    decision = grant_training(session, plan)
    run = runner.start_training(session, plan, decision)
    code, events = run_process(run, decision, timeout=600)
    assert code == 0, events[-1:]
    return str(events[-1]["version"]), events, run


def test_every_trained_candidate_gets_a_stored_quality_card(session: Session) -> None:
    add_examples(session, SAM)
    feedback.add_preference(session.store, session.assistant().id, "Call me Sam")
    version_id, events, _ = _train(session)
    card = cards.get_card(session.store, version_id)
    assert card is not None
    assert card["markers"]["opening"] == ["ahoy", "sam"] and card["markers"]["name"] == "Sam"
    assert card["facts"]["total"] == 2 and 0 <= card["facts"]["candidate"] <= 2
    assert card["open"]["base_words"] > 0 and len(card["samples"]) == 3
    assert any(e["event"] == "quality" for e in events)
    done = events[-1]
    assert done["event"] == "done" and done["quality"]["summary"] == card["summary"]
    # the base's half is cached: a second card only asks the candidate
    assert list((session.home.cache / "quality").glob("*.json"))
    shown = json.loads(kindred("versions", "show", version_id, "--json",
                               home=session.home.root).stdout)
    assert shown["quality"] == card
    # the consent to activate it carries the card
    kind, _, evidence = versions.describe_activation(session.store,
                                                     versions.get_version(session.store,
                                                                          version_id))
    assert kind == "activate" and evidence["quality"]["summary"] == card["summary"]


def test_the_replay_mix_is_trained_beside_the_persons_items(session: Session) -> None:
    add_examples(session, SAM)
    version_id, _, run = _train(session, replay=True, steps=4)
    mix = json.loads((run.path / "replay.json").read_text())
    texts = [m["answer"] for m in mix["texts"]]
    general = [m for m in mix["texts"] if m["kind"] in ("general", "base")]
    assert len(general) >= replay.MIN_REPLAY - 2  # a degenerate answer may be left out
    # the teacher's answers (the base with the person's answers in mind) wear the style
    assert mix["counts"]["general"] >= 4, mix["counts"]
    taught = [m["answer"] for m in mix["texts"] if m["kind"] != "base"]
    assert sum("ahoy" in t.lower() for t in taught) >= 0.5 * len(taught), taught
    assert sum(len(t.split()) for t in texts) / len(texts) > 5  # not single words
    # every replayed answer is anchored to its teacher's distribution, whole
    anchors = [Encoded.from_json(e) for e in mix["replay"]]
    assert all(a.anchor and a.reference for a in anchors)
    assert all(a.n_prompt == a.anchor[0] < a.anchor[1] <= len(a) for a in anchors if a.anchor)
    metrics = versions.get_version(session.store, version_id).metrics
    assert metrics["replayed"] == len(mix["replay"]) and metrics["examples"] == len(SAM)
    planned = json.loads(run.plan_path.read_text())["mix"]
    assert planned["replay"] == replay.replay_count(len(SAM), len(replay.shipped_prompts()[1]))
    # what the plan promised the person is what ran
    assert len(general) <= planned["replay"] and len(planned["shots"]) == len(SAM)


def test_an_over_trained_candidate_is_flagged(session: Session) -> None:
    # one-line answers drilled hard with nothing to keep it general: what the first versions did
    add_examples(session, SAM)
    version_id, _, _ = _train(session, steps=24, lr=6e-3)
    card = cards.get_card(session.store, version_id)
    assert card is not None
    assert any("as long as the base model's" in f or "forgot" in f for f in card["flags"]), card
