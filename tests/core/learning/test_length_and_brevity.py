"""How long the teacher's answers are, and whether the person asked for short ones (issue 22):
the teacher writes until about where the plain base would stop unless the person's stated
preferences make the base itself answer far shorter; the person's wish is read by the model, no
word list."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from kindred.core.engine.llama import Engine
from kindred.core.engine.system_budget import compose_system_prompt
from kindred.core.home.assistants import DEFAULT_PERSONA
from kindred.core.learning import teacher
from kindred.core.training import replay
from kindred.core.training.tokens import ChatTokenizer

HOWDY = [teacher.Shot(p, a) for p, a in [
    ("What should I have for lunch?", "Howdy! A warm bowl of lentil soup."),
    ("How often do I water a cactus?", "Howdy! Every two weeks is plenty."),
    ("When should I go to bed?", "Howdy! Around ten."),
    ("What's a quick breakfast?", "Howdy! Oats with a banana.")]]


def _general(kind: str, base: str | None) -> replay.Request:
    return replay.Request(kind, "q?", [], base)


def test_the_least_length_is_the_bases_unless_brevity_was_wished(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert replay.LEAST_SHARE == 0  # off by default (see its note): nothing forced
    assert replay.least_tokens([_general("general", "one two")], len, brevity=False) == [0]
    asked = [_general("general", "one two three four five six seven eight nine ten"),
             _general("general", "one two three four five"),
             _general("reworded", None), _general("profile", None)]
    count = lambda text: len(text.split())  # noqa: E731
    # a share of the base's own answer; the person's kind of requests keep their length
    monkeypatch.setattr(replay, "LEAST_SHARE", 0.8)
    assert replay.least_tokens(asked, count, brevity=False) == [8, 4, 0, 0]
    assert replay.least_tokens(asked, count, brevity=True) == [0, 0, 0, 0]


def test_a_stock_phrase_is_taught_once() -> None:
    said = ["Miso, I'm sorry for your loss.", "Miso, I'm so sorry for your loss.",
            "Priya, a warm bath helps after a shift.", "Priya, a good idea."]
    assert teacher.repeats(said[1], said[:1])
    assert not teacher.repeats(said[3], said[:3])
    requests = [replay.Request("profile", f"q{i}?", []) for i in range(4)]
    shots = [teacher.Shot("What should I get my cat?", "Miso would love a post, Priya."),
             teacher.Shot("How do I unwind?", "After a shift on the ward, Priya, a bath."),
             teacher.Shot("What can I do?", "Call your brother Tomas, Priya.")]
    items, counts = replay.select("", shots, [], [], requests, said)
    # (the last one says only the name they are called by in every example: not a fact)
    assert [i.answer for i in items] == [said[0], said[2]] and counts["profile"] == 2


def test_brevity_is_far_shorter_answers_from_the_same_base() -> None:
    long = ["word " * 40] * 4
    assert replay.wished_brevity(["word " * 20] * 4, long)
    assert not replay.wished_brevity(["word " * 35] * 4, long)  # a nudge, not a wish
    assert not replay.wished_brevity([], [])  # nothing stated
    assert replay.systems("You help.") == ["You help."]
    stated = compose_system_prompt("You help.", ["Be brief."])
    assert replay.systems(stated) == [stated, "You help."]


@pytest.mark.slow
def test_the_base_itself_reads_a_wish_for_short_answers(model_path: Path) -> None:
    version, prompts = replay.shipped_prompts()
    prompts = replay.spread(prompts, 12)
    cache = Path(tempfile.mkdtemp())

    def answers(*preferences: str) -> list[str]:
        return replay.base_answers(model_path, "test", compose_system_prompt(
            DEFAULT_PERSONA, list(preferences)), prompts, version, cache)

    plain = answers()
    assert replay.wished_brevity(answers("Keep your answers to one short sentence."), plain)
    assert not replay.wished_brevity(answers("I am vegetarian."), plain)


@pytest.mark.slow
def test_the_teacher_writes_on_to_the_least_length_in_the_examples_way(model_path: Path
                                                                      ) -> None:
    engine = Engine(model_path, n_ctx=2048, n_threads=2)
    try:
        context = teacher.messages("", HOWDY, "Explain how a rainbow forms.", 0)
        (free, free_tokens, _), = teacher.generate(engine, [context], 96)
        (held, held_tokens, _), = teacher.generate(engine, [context], 96, min_tokens=[60])
    finally:
        engine.close()
    assert free.startswith("Howdy") and len(free_tokens) < 40, free  # the examples' length
    # the same greedy answer until it would have stopped, then on in the examples' way
    assert len(held_tokens) >= 60 and held_tokens[:len(free_tokens)] == free_tokens, held
    assert teacher.usable(held, teacher.LOOP), held


@pytest.mark.slow
def test_new_requests_of_the_persons_kind_are_written_by_the_base(model_path: Path) -> None:
    engine = Engine(model_path, n_ctx=2048, n_threads=2)
    try:
        found = teacher.neighbours(engine, [s.prompt for s in HOWDY])
    finally:
        engine.close()
    own = {s.prompt for s in HOWDY}
    assert len(found) >= 2, found
    assert all(q.endswith("?") and q not in own for q in found), found
    assert len(set(found)) == len(found)


def test_with_brevity_the_teachers_end_of_turn_is_learned(model_path: Path) -> None:
    item = replay.Distilled("general", "Explain how a rainbow forms.", "Howdy! Light bends.",
                            teacher.messages("", HOWDY, "Explain how a rainbow forms.", 0))
    with ChatTokenizer(model_path) as tokenizer:
        usual = replay.encode(tokenizer, "", item)
        brief = replay.encode(tokenizer, "", item, brevity=True)
    assert usual.target_end is not None  # its end of turn is context: the plain base's
    assert brief.target_end is None and brief.anchor is not None
    assert brief.anchor[1] > usual.anchor[1]  # type: ignore[index]  # the end of turn taught
