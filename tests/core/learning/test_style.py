from __future__ import annotations

from kindred.core.learning.style import describe, measure


def test_measure_counts_what_people_notice() -> None:
    answers = ["Sure thing, Sam! Here's how:\n- one\n- two\n1. three", "Why not? 🙂 Let's go!"]
    m = measure(answers, user_name="Sam")
    assert m.list_items == 1.5 and m.questions == 0.5 and m.name_mentions == 0.5
    assert m.emoji == 0.5 and m.exclamations == 1.0 and m.contractions == 1.0
    assert measure([]).words == 0


def test_describe_says_shorter_and_more_casual() -> None:
    before = measure(["This is a long and formal answer. However, it is therefore complete. "
                      "Kindly note the details."] * 2)
    after = measure(["Short one, it's fine!"] * 2)
    sentences = describe(before, after)
    assert any(s.startswith("answers are") and s.endswith("shorter") for s in sentences)
    assert "sounds less formal" in sentences
    assert describe(before, before) == []
