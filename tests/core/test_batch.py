"""Batched greedy answers (several sequences per llama.cpp decode): real model."""

from __future__ import annotations

from kindred.core.chat.batch import BatchGenerator, greedy_answers
from kindred.core.chat.engine import Engine, SamplingParams

CONVERSATIONS = [[{"role": "user", "content": "What is the capital of France?"}],
                 [{"role": "user", "content": "Name a fruit."}],
                 [{"role": "user", "content": "How many days are in a week?"}]]


def test_batched_answers_are_greedy_deterministic_and_bounded(engine: Engine) -> None:
    first = greedy_answers(engine, CONVERSATIONS, [24, 4, 16], n_seq=2)  # two waves
    greedy = SamplingParams(temperature=0.0, top_k=1, top_p=1.0, repeat_penalty=1.1,
                            max_tokens=8)
    alone = engine.chat(CONVERSATIONS[0], greedy).read()
    # what Engine.chat says greedily (later words may drift by float noise between contexts)
    assert first[0].split()[0] == alone.split()[0]
    assert len(engine.llm.tokenize(first[1].encode(), add_bos=False)) <= 4
    assert all(first)
    # the same batches give the same answers (another batch shape may differ in float noise)
    assert greedy_answers(engine, CONVERSATIONS, [24, 4, 16], n_seq=2) == first
    with BatchGenerator(engine, n_seq=2) as generator:
        order = [i for i, _ in generator.chat(CONVERSATIONS, 16)]
    assert sorted(order) == [0, 1, 2]
