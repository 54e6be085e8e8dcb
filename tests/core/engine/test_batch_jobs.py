"""The batch scheduler's shortcuts (drafts, held caches, refilled slots) give what the plain
way gives: real llama.cpp on the embedded model."""

from __future__ import annotations

import numpy as np

from kindred.core.engine.batch import BatchGenerator, Job
from kindred.core.engine.llama import Engine
from kindred.core.learning.scoring import Scorer

QUESTIONS = ["Explain what a black hole is.", "Name a fruit.", "Introduce yourself.",
             "What is the capital of France?", "How many days are in a week?"]


def turn(question: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}]


def test_a_draft_is_scored_and_kept_only_while_greedy_agrees(engine: Engine) -> None:
    with Scorer(engine, n_seq=4) as scorer:
        plain = next(scorer.answers([turn(QUESTIONS[0])], 32, scored=True))
        prompt = engine.tokenize_chat(turn(QUESTIONS[0]))
        wrong = list(plain.tokens)
        wrong[6:8] = [11, 12]  # two tokens the model would not choose there
        before = scorer.evaluated
        job = next(scorer.run([Job.answer(0, prompt, 32, draft=wrong)]))
        spent = scorer.evaluated - before
        # the answer leaves the draft where greedy disagrees: the wrong tokens never get in
        assert job.out[:6] == plain.tokens[:6] and job.out[6] == plain.tokens[6]
        assert 11 not in job.out[6:8]
        # the whole draft was scored on the way, as scoring it afresh gives
        again = scorer.score([(prompt + wrong, len(prompt))])[0]
        assert len(job.scores) == len(wrong)
        assert np.abs(np.asarray(job.scores) - again).mean() < 0.05
        # and only the answer after the departure was generated one token per decode:
        # the draft's six agreed tokens were not evaluated twice
        assert spent <= len(prompt) + len(wrong) + (len(job.out) - 6)


def test_an_answer_continues_from_a_held_prompt(engine: Engine) -> None:
    """Scoring another answer to a prompt answered with `hold` starts where the two answers part
    (what both share is given as `prior`), and gives what scoring it afresh gives."""
    with Scorer(engine, n_seq=3) as scorer:
        jobs = scorer.answer_jobs([turn(q) for q in QUESTIONS[:2]], 24, hold=True)
        done = sorted(scorer.run(jobs), key=lambda j: j.index)
        prompt = engine.tokenize_chat(turn(QUESTIONS[0]))
        ending = list(engine.llm.tokenize(b" and it is very dark.", add_bos=False))
        other = prompt + done[0].out[:5] + ending
        before = scorer.evaluated
        held = scorer.score([(other, len(prompt))], [done[0].logprobs[:5]])[0]
        assert scorer.evaluated - before == len(ending) + 1
    with Scorer(engine, n_seq=3) as fresh:
        plain = fresh.score([(other, len(prompt))])[0]
    assert len(held) == len(plain) == 5 + len(ending)
    assert np.abs(held - plain).max() < 0.5 and np.abs(held - plain).mean() < 0.1


def test_slots_are_refilled_and_answers_bounded(engine: Engine) -> None:
    """Five questions on two slots: a short answer's slot takes the next question at once;
    every answer keeps its own limit; the same run gives the same answers."""
    limits = [24, 3, 16, 3, 8]
    with BatchGenerator(engine, n_seq=2) as generator:
        first = {a.index: a for a in generator.answers([turn(q) for q in QUESTIONS], limits)}
        order = [a.index for a in generator.answers([turn(q) for q in QUESTIONS], limits)]
        again = {a.index: a.tokens for a in generator.answers([turn(q) for q in QUESTIONS],
                                                             limits)}
    assert sorted(first) == list(range(5))
    assert all(len(first[i].tokens) <= limits[i] for i in range(5))
    assert order.index(1) < order.index(0)  # the 3-token answer did not wait for the long one
    assert again == {i: a.tokens for i, a in first.items()}
