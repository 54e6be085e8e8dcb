"""Context distillation end to end (real llama.cpp, a real tiny training in the real training
process): a style spread through the answers, with no shared opening, closing or favoured word,
is distilled from the teacher (the base with the person's examples in its context) and shows on
requests the training never saw, as the quality card measures it."""

from __future__ import annotations

import json

import pytest

from kindred.core.archive import cards
from kindred.core.learning import feedback
from kindred.core.learning.markers import find
from kindred.core.session import Session
from kindred.core.training import runner
from kindred.core.training.tokens import ChatTokenizer, Encoded
from support.training_helpers import (
    add_examples,
    fast_config,
    grant_training,
    run_process,
    use_shared_cache,
)

pytestmark = pytest.mark.slow
# lower-case chat: no shared first or last words, no word most answers use
CHATTY = [
    ("What should I have for lunch?", "hmm maybe a wrap with hummus and veggies, easy"),
    ("What's a good movie for tonight?", "ooh try paddington 2, it's so wholesome lol"),
    ("How often do I water a cactus?", "like every couple weeks, they hate wet feet tbh"),
    ("When should I go to bed?", "honestly around 11 so you're not a zombie tomorrow"),
    ("How do I make coffee less bitter?", "use water thats a bit cooler and grind coarser"),
    ("Any tip to remember names?", "say it back right away, works for me every time"),
    ("What should I wear for a walk in the rain?", "a rain jacket with a hood and boots, fine"),
    ("How can I relax after work?", "tea, comfy socks, a show, no emails lol")]


def test_a_spread_style_is_distilled_from_the_teacher_and_shows_on_new_requests(
        session: Session) -> None:
    assistant = session.assistant()
    add_examples(session, CHATTY)
    feedback.add_preference(session.store, assistant.id, "Talk to me casually.")
    assert not find([a for _, a in CHATTY]).any  # nothing a marker could recognise
    use_shared_cache(session.home, session.model_for(assistant).sha256)
    plan = runner.plan_training(session, assistant,
                                fast_config(replay=True, steps=24, lr=3e-3, holdout_fraction=0))
    assert len(plan.mix["shots"]) == len(CHATTY)
    decision = grant_training(session, plan)
    run = runner.start_training(session, plan, decision)
    code, events = run_process(run, decision, timeout=900)
    assert code == 0, events[-1:]

    # the teacher-with-context was applied: most replayed answers are the teacher's (the base's
    # own stands in only where every teacher answer lost a fact or looped), each anchored to a
    # conversation that holds the person's examples (not the plain base's)
    mix = json.loads((run.path / "replay.json").read_text())
    counts = mix["counts"]
    teacher_answers = counts["general"] + counts["reworded"] + counts["profile"]
    assert counts["general"] >= 1 and counts["reworded"] >= 1, counts
    assert teacher_answers >= 2 * counts["base_fallback"], counts
    taught = [a for _, a in CHATTY]
    teacher_items = [t for t in mix["texts"] if t["kind"] != "base"]
    assert all(any(m["content"] in taught for m in t["context"]) for t in teacher_items)
    with ChatTokenizer(session.model_for(assistant).path) as tokenizer:
        shown = [tokenizer.tokenize(a, add_bos=False)[1:] for a in taught]
    anchored = [Encoded.from_json(e) for e in mix["replay"]]
    with_examples = 0
    for encoded in anchored:
        assert encoded.anchor is not None and encoded.reference is not None
        context = encoded.reference[0][:encoded.reference[1]]
        with_examples += any(any(context[i:i + len(s)] == s for i in range(len(context)))
                             for s in shown)
    assert with_examples >= counts["general"] + counts["reworded"]

    # the card measures the style without a marker, on requests the training never saw
    card = cards.get_card(session.store, str(events[-1]["version"]))
    assert card is not None and card["style"]["primary"] is None
    agreed = card["style"]["teacher"]
    assert agreed["teacher_shows"], agreed  # the examples change the base's answers
    assert agreed["likelihood_ratio"] > 1.3, agreed  # the candidate moved towards them
    assert agreed["share"] >= 0.5, agreed
    assert any("answers like the model with your examples" in line for line in card["summary"])
