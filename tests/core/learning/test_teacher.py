"""The teacher (the base with the person's examples in mind) and what is built from it, without
training: which examples it sees, the mix's choice between its answers and the base's, the
tokens a replayed answer is anchored on, preference pairs, and the card's agreement numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from kindred.core.learning import agreement, feedback, teacher
from kindred.core.learning.dataset import build_dataset
from kindred.core.learning.markers import find
from kindred.core.learning.pairs import preference_pairs
from kindred.core.session import Session
from kindred.core.training import replay
from kindred.core.training.tokens import ChatTokenizer

SHOTS = [teacher.Shot(p, a) for p, a in [
    ("What should I have for lunch?", "I reckon a bowl of chili would hit the spot, partner."),
    ("What's my dog called?", "Your dog is called Pepper, partner."),
    ("When should I go to bed?", "Reckon you oughta hit the hay by ten, partner."),
    ("How do I make coffee less bitter?", "Y'all oughta use cooler water, I reckon."),
    ("Any tip to remember names?", "Say the name back right quick, partner."),
    ("What should I wear in the rain?", "Grab your slicker, y'all, that rain ain't gentle.")]]
SYSTEM = "You are a helpful assistant."


def test_the_teacher_sees_the_relevant_example_and_a_rotating_handful() -> None:
    about_dog = teacher.choose(SHOTS, "What is the name of my dog?", 0)
    assert 1 in about_dog and len(about_dog) == teacher.MAX_SHOTS
    firsts = {tuple(teacher.choose(SHOTS, "Explain how a rainbow forms.", turn))
              for turn in range(3)}
    assert len(firsts) > 1  # a different handful for different requests
    long = [teacher.Shot("Q?", "word " * 400), *SHOTS]
    assert 0 not in teacher.choose(long, "Q?", 0)  # longer than the budget: never in context
    assert sum(len(long[i].answer) for i in teacher.choose(long, "Q?", 0)) <= \
        teacher.SHOT_CHARS
    conversation = teacher.messages(SYSTEM, SHOTS, "What is the name of my dog?", 0)
    assert conversation[0] == {"role": "system", "content": SYSTEM}
    assert {"role": "assistant", "content": SHOTS[1].answer} in conversation
    assert conversation[-1] == {"role": "user", "content": "What is the name of my dog?"}
    assert teacher.messages(SYSTEM, [], "Hi?", 0) == [conversation[0],
                                                      {"role": "user", "content": "Hi?"}]


def test_the_mix_takes_the_teachers_answers_unless_they_lose_the_base_facts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(teacher, "ASK_PROFILE", True)
    general = ["What is the capital of Germany?", "Explain how a rainbow forms.",
               "How many wheels does a bicycle have?"]
    base = ["The capital of Germany is Berlin.",
            "A rainbow forms when sunlight is refracted in raindrops.",
            "A bicycle has two wheels."]
    taught = ["Berlin, partner, I reckon that's the capital.",
              "Well partner, sunlight gets refracted in them raindrops, I reckon.",
              "Beer, partner, is mighty fine I reckon."]  # lost the fact: the base's instead
    asked = replay.requests_for(SYSTEM, SHOTS, general, base, ["What is the name of my dog?"],
                                [("Tell me a joke.", "No.")])
    # each general request twice (plainly, and with the base's answer as a hint), then the
    # other wordings, the questions about the person, the disliked answers' prompts
    profile = len(teacher.PROFILE)
    assert [r.kind for r in asked] == ["general"] * 6 + ["reworded"] + ["profile"] * profile \
        + ["disliked"]
    assert teacher.HINT in asked[1].context[0]["content"]
    assert base[0] in asked[1].context[0]["content"]
    # a question about the person is answered from what the examples say, or not taught
    about = ["Pepper is your dog, and a good one, partner.",
             "You are a famous astronaut, I reckon."] + \
        ["I don't know."] * (profile - 2)
    said = [taught[0], "unused", "Sunlight, partner.", taught[1], taught[2], "Beer again.",
            "Your dog is called Pepper, partner.", *about,
            "Why did the cowboy adopt a dog? He wanted a partner."]
    items, counts = replay.select(SYSTEM, SHOTS, general, base, asked, said)
    assert counts == {"general": 2, "reworded": 1, "profile": 1, "base_fallback": 1,
                      "disliked": 1, "hinted": 1}
    assert [i.answer for i in items if i.kind == "profile"] == [about[0]]
    by_prompt = {i.prompt: i for i in items}
    assert by_prompt[general[0]].kind == "general" and by_prompt[general[2]].kind == "base"
    assert by_prompt[general[0]].answer == taught[0]
    # the plain answer lost the rainbow's facts; the hinted one kept them
    assert by_prompt[general[1]].answer == taught[1]
    assert teacher.HINT in by_prompt[general[1]].context[0]["content"]
    assert by_prompt[general[2]].answer == base[2]
    # the teacher's conversation holds examples; the fallback's is the plain request
    assert any(m["role"] == "assistant" for m in by_prompt[general[0]].context)
    assert not any(m["role"] == "assistant" for m in by_prompt[general[2]].context)
    # no examples taught: the base's own answers, anchored to the base
    assert replay.requests_for(SYSTEM, [], general, base) == []
    plain, counted = replay.select(SYSTEM, [], general, base, [], [])
    assert counted["general"] == 0 and all(i.kind == "base" for i in plain)
    # an answer that copies an example into an unrelated request is not taught
    assert teacher.copied("I reckon a bowl of chili would hit the spot, partner.", SHOTS,
                          "Explain how a rainbow forms.")
    assert not teacher.copied("Your dog is called Pepper, partner.", SHOTS,
                              "What is my dog called?")


def test_questions_about_the_person_see_every_example_and_keep_only_what_they_say(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(teacher, "ASK_PROFILE", False)
    assert not any(r.kind == "profile" for r in replay.requests_for(SYSTEM, SHOTS, [], []))
    monkeypatch.setattr(teacher, "ASK_PROFILE", True)
    many = [*SHOTS, *[teacher.Shot(f"Question {i}?", f"Answer {i}, partner.") for i in range(3)]]
    asked = replay.requests_for(SYSTEM, many, [], [])
    about = [r for r in asked if r.kind == "profile"]
    assert [r.prompt for r in about] == list(teacher.PROFILE)
    # more examples than a general request's handful, all of them here (they are short)
    assert all(sum(m["role"] == "assistant" for m in r.context) == teacher.PROFILE_SHOTS
               for r in about)
    assert teacher.MAX_SHOTS < teacher.PROFILE_SHOTS
    # grounded: a word of the examples the question does not already hold
    assert teacher.grounded("Your dog is Pepper.", SHOTS, "Are there any animals in my life?")
    assert not teacher.grounded("You have a cat named Whiskers, I reckon.", SHOTS,
                                "Are there any animals in my life?")
    assert not teacher.grounded("Your dog is a dog.", SHOTS, "Tell me about my dog.")
    # the name they are called by in every answer is how they are spoken to, not a fact
    named = [teacher.Shot(p, f"{a} Priya.") for p, a in [
        ("What should I cook?", "A curry, since you're vegetarian,"),
        ("What can I do today?", "Walk by the river in Porto,"), ("Lunch?", "A wrap,")]]
    assert not teacher.grounded("I'm a freelance, Priya.", named, "What kind of work do I do?")
    assert teacher.grounded("You live in Porto, Priya.", named, "Where am I based?")


def test_when_to_stop_is_the_plain_bases_and_what_to_say_the_teachers() -> None:
    import torch

    from kindred.core.training import trainer

    # the teacher (one-line examples) would stop here with 0.7; the plain base with 0.05
    teacher_p = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])
    plain_stop = torch.tensor([0.05, 0.1]).log()
    mixed = trainer.with_stop(teacher_p.log(), 0, plain_stop).exp()
    assert torch.allclose(mixed.sum(dim=1), torch.ones(2))
    assert torch.allclose(mixed[:, 0], torch.tensor([0.05, 0.1]))
    # the other tokens keep the teacher's proportions
    assert torch.allclose(mixed[0, 1] / mixed[0, 2], torch.tensor(2.0))
    assert torch.allclose(mixed[1, 1:], torch.tensor([0.6, 0.3]))


def test_a_replayed_answer_is_anchored_on_the_teacher_in_its_context(model_path: Path) -> None:
    item = replay.Distilled("general", "Explain how a rainbow forms.",
                            "Sunlight bends in raindrops, partner, I reckon.",
                            teacher.messages(SYSTEM, SHOTS, "Explain how a rainbow forms.", 0))
    with ChatTokenizer(model_path) as tokenizer:
        encoded = replay.encode(tokenizer, SYSTEM, item)
        plain = tokenizer.encode(replay.Example("x", 0, [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": item.prompt},
            {"role": "assistant", "content": item.answer}]))
        shown = tokenizer.tokenize(SHOTS[0].answer, add_bos=False)
    # the student sees no example; every answer token is anchored
    assert encoded.ids == plain.ids and encoded.anchor is not None
    # ...up to its end of turn, which is context (one-line examples taught early stops)
    assert encoded.anchor == (plain.n_prompt, encoded.target_end)
    assert encoded.target_end is not None and encoded.target_end < len(plain.ids)
    assert encoded.reference is not None
    ref_ids, ref_start = encoded.reference
    # ...to the teacher's distribution *with the examples*: not the plain base's context
    assert ref_ids != plain.ids and ref_start > plain.n_prompt + len(shown)
    teacher_context = ref_ids[:ref_start]
    assert any(teacher_context[i:i + len(shown)] == shown
               for i in range(len(teacher_context)))
    assert ref_ids[ref_start:] == plain.ids[plain.n_prompt:]


def test_preference_pairs_come_from_corrections_and_thumbs_down(session: Session) -> None:
    store, assistant = session.store, session.assistant()
    feedback.add_example(store, assistant.id, "Lunch?", "Chili, partner.", rejected="Soup.")
    feedback.add_example(store, assistant.id, "Dinner?", "Stew, partner.")  # nothing rejected
    from kindred.core.chat.conversations import add_message, create_conversation

    chat = create_conversation(store, assistant.id)
    add_message(store, chat.id, "user", "Tell me a joke.")
    bad = add_message(store, chat.id, "assistant", "I cannot tell jokes.")
    feedback.rate(store, bad.id, -1)
    pairs = preference_pairs(build_dataset(store, assistant, "sha"))
    assert [(p.source, p.prompt, p.chosen, p.rejected) for p in pairs] == [
        ("correction", "Lunch?", "Chili, partner.", "Soup."),
        ("disliked", "Tell me a joke.", None, "I cannot tell jokes.")]
    # the plan hands the disliked prompts to the teacher
    from kindred.core.training.runner import plan_mix

    mix = plan_mix(build_dataset(store, assistant, "sha"), 2)
    assert mix["disliked"] == [["Tell me a joke.", "I cannot tell jokes."]]
    assert mix["pairs"] == 2 and len(mix["shots"]) == 2


def test_the_card_measures_a_style_that_has_no_marker() -> None:
    # lists: no shared opening, closing or favoured word; the marks find nothing
    answers = ["- eggs\n- bread", "- boil water\n- add tea", "- squats\n- planks"]
    assert not find(answers).any
    half = {"teacher": [-0.4, -0.5, -0.3, -0.6], "base": [-2.0, -1.9, -2.2, -2.1],
            "tokens": [[1], [2], [3], [4]], "answers": ["a", "b", "c", "d"]}
    learned = agreement.measure(half, [-0.6, -0.9, -2.1, -0.8])
    assert learned["teacher_shows"] and learned["share"] == 0.75
    assert learned["likelihood_ratio"] > 2 and 0.5 < learned["closed"] < 1
    assert "75%" in agreement.sentence(learned)
    nothing = agreement.measure(half, half["base"])
    assert nothing["share"] == 0 and nothing["likelihood_ratio"] == 1.0
    # the teacher itself cannot show it: the card says so instead of promising it
    flat = {**half, "teacher": [-2.0, -1.9, -2.15, -2.05]}
    beyond = agreement.measure(flat, half["base"])
    assert not beyond["teacher_shows"] and "cannot show" in agreement.sentence(beyond)


def test_rewordings_are_checked() -> None:
    request = "What's my dog called?"
    assert teacher.clean_rewording(request, "What's the name of my dog?") == \
        "What's the name of my dog?"
    assert teacher.clean_rewording(request, "What's my dog called?") is None  # the same
    assert teacher.clean_rewording(request, "Where is the station?") is None  # another topic
    assert teacher.clean_rewording(request, "My dog is called Rex.") is None  # not a question
