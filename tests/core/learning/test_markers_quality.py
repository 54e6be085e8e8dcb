"""What was taught, as checkable marks, and the quality card built from answers (pure: no model)."""

from __future__ import annotations

from kindred.core.learning import markers, quality
from kindred.core.learning.markers import Markers
from kindred.core.training import replay

PIRATE = ["Ahoy, Sam! A warm bowl of lentil soup with bread.",
          "Ahoy, Sam! Try The Princess Bride.",
          "Ahoy, Sam! Oats with a sliced banana.",
          "Ahoy, Sam! Use cooler water and a coarser grind."]
BASE = ["Lentil soup is a healthy choice for lunch.", "You could watch a comedy tonight.",
        "Oatmeal is a quick breakfast.", "Try a lighter roast."]


def test_an_opening_most_answers_share_and_the_name_are_found() -> None:
    found = markers.find(PIRATE, ["Call me Sam"], BASE)
    assert found.opening == ["ahoy", "sam"]
    assert found.name == "Sam"
    assert found.brevity is None
    assert markers.opening_text(PIRATE, found) == "Ahoy, Sam!"
    assert markers.primary(found) == "opening"
    assert "opens with \"ahoy sam\"" in found.describe()


def test_no_opening_when_answers_share_none_and_words_the_base_never_used_are_favoured() -> None:
    taught = ["Splendid question, old bean: tea at four.", "Tea, old bean, solves most things.",
              "A splendid walk in the park, old bean."]
    found = markers.find(taught, [], ["Tea is nice.", "Walks are good."])
    assert found.opening == []
    assert "bean" in found.favoured and "splendid" in found.favoured
    assert "tea" not in found.favoured  # the base used it too
    assert markers.primary(found) == "favoured"


def test_a_closing_and_a_wish_for_brevity() -> None:
    taught = ["Paris is the capital. Cheers, mate!", "Use less water. Cheers, mate!",
              "Go to bed at ten. Cheers, mate!"]
    found = markers.find(taught, ["Keep answers short please"])
    assert found.closing == ["cheers", "mate"] and found.brevity == "short"
    assert markers.closing_text(taught, found) == "Cheers, mate!"
    assert markers.find([], ["Explain in detail"]).brevity == "long"


def test_shows_and_repetition() -> None:
    found = markers.find(PIRATE, ["Call me Sam"], BASE)
    assert markers.shows("Ahoy, Sam! Soup it is.", found) == {"opening": True, "name": True}
    assert markers.shows("Soup is good.", found) == {"opening": False, "name": False}
    assert markers.repetition("Ahoy dear SmolLM! " * 6) > 0.5
    assert markers.repetition("A short answer without loops in it at all.") == 0.0


def test_the_training_mix_has_no_style_vocabulary() -> None:
    # what is learned does not depend on recognising openings, closings or named markers: the
    # mix's modules never read them (markers only describe what was taught, on the card)
    import inspect

    from kindred.core.training import job

    for module in (replay, job):
        source = inspect.getsource(module).replace(module.__doc__ or "", "")
        for word in ("Markers", "markers.find", "opening", "closing", "restyle"):
            assert word not in source, (module.__name__, word)
    # a wish for short answers is read by the model from the stated preferences (the base's
    # answers with and without them), never from words: tests/core/learning/
    # test_length_and_brevity.py
    assert "STOPWORDS" not in inspect.getsource(replay.wished_brevity)
    assert replay.replay_count(1, 32) == replay.MIN_REPLAY
    assert replay.replay_count(500, 32) == 32


def test_a_teacher_answer_keeps_the_base_facts_or_is_not_taught() -> None:
    assert replay.keeps_facts("What is the capital of Germany?",
                              "The capital of Germany is Berlin.", "Berlin it be, matey!")
    assert not replay.keeps_facts("What is the capital of Germany?",
                                  "The capital of Germany is Berlin.", "Beer, matey!")
    assert replay.keeps_facts("Why is the sky blue?",
                              "Sunlight is scattering in the air.",
                              "Arr, sunlight be scatterin' in the air.")
    assert not replay.keeps_facts("How many wheels does a bicycle have?",
                                  "A bicycle has two wheels.", "A bicycle has many wheels.")


QUESTIONS = quality.QuestionSet(1, [("Capital of France?", ["paris"]),
                                    ("Days in a week?", ["seven", "7"]),
                                    ("Largest planet?", ["jupiter"])],
                                ["Explain a bicycle."], ["Dinner idea?", "Sleep tip?"])
BASE_ANSWERS = {"facts": ["Paris.", "There are 7 days.", "Jupiter is the largest."],
                "style": ["Pasta.", "Sleep early."],
                "open": ["A bicycle turns pedal force into motion through a chain and gears, "
                         "and the rider balances by steering into the fall."]}


def test_a_candidate_that_keeps_the_base_is_not_flagged() -> None:
    mine = {"facts": ["Ahoy, Sam! Paris.", "Ahoy, Sam! Seven.", "Ahoy, Sam! Jupiter."],
            "style": ["Ahoy, Sam! Pasta.", "Ahoy, Sam! Sleep early."],
            "open": ["Ahoy, Sam! " + BASE_ANSWERS["open"][0]]}
    found = markers.find(PIRATE, ["Call me Sam"], BASE)
    card = quality.card(QUESTIONS, BASE_ANSWERS, mine, found, QUESTIONS.style)
    assert card["style"]["share"] == 1.0 and card["style"]["base_share"] == 0.0
    assert card["facts"] == {"total": 3, "base": 3, "candidate": 3, "lost": [], "gained": 0}
    assert card["flags"] == []
    assert card["samples"][0] == {"prompt": "Dinner idea?", "base": "Pasta.",
                                  "candidate": "Ahoy, Sam! Pasta."}
    assert any("3 of 3" in line for line in card["summary"])


def test_a_candidate_that_forgets_and_shrinks_is_flagged_in_plain_words() -> None:
    mine = {"facts": ["Ahoy, Sam! London.", "Ahoy, Sam! Seven.", "Ahoy, Sam! Mars."],
            "style": ["Ahoy, Sam!", "Ahoy, Sam!"],
            "open": ["Ahoy, Sam! Pedal. Pedal. Pedal. Pedal."]}
    found = markers.find(PIRATE, ["Call me Sam"], BASE)
    card = quality.card(QUESTIONS, BASE_ANSWERS, mine, found, QUESTIONS.style)
    assert card["facts"]["lost"] == ["Capital of France?", "Largest planet?"]
    assert any("forgot 2 of the 3 facts" in f for f in card["flags"])
    assert any("as long as the base model's" in f for f in card["flags"])
    # the same shrinking is right when the person asked for short answers
    brief = Markers(opening=["ahoy"], brevity="short")
    assert not any("as long as" in f for f in
                   quality.card(QUESTIONS, BASE_ANSWERS, mine, brief, QUESTIONS.style)["flags"])


def test_answers_count_as_correct_on_whole_words_only() -> None:
    assert quality.correct("It is Paris, of course.", ["paris"])
    assert not quality.correct("Parisian food is great.", ["paris"])
    assert quality.correct("There are 7.", ["seven", "7"])
    assert not quality.correct("There are 17.", ["7"])


def test_a_wish_for_short_answers_is_a_style_the_card_checks() -> None:
    brief = Markers(brevity="short")
    mine = {"facts": ["Paris.", "Seven.", "Jupiter."],
            "style": ["Pasta.", "Go to sleep early."], "open": ["Pedals turn a chain."]}
    base = {**BASE_ANSWERS, "style": ["You could cook a pasta with tomatoes tonight.",
                                      "Go to bed early."]}
    card = quality.card(QUESTIONS, base, mine, brief, QUESTIONS.style)
    assert card["style"]["primary"] == "brevity"
    assert card["style"]["share"] == 0.5 and card["style"]["base_share"] == 0.0
    assert card["flags"] == []  # short open answers are what was asked for
    assert "keeps answers shorter than the base model" in card["summary"][0]
