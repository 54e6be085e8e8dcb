"""Batched greedy answers (several sequences per llama.cpp decode): real model."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from kindred.core.basics.sampling import Sampling
from kindred.core.engine import foreground
from kindred.core.engine.batch import BatchGenerator, greedy_answers
from kindred.core.engine.llama import Engine

CONVERSATIONS = [[{"role": "user", "content": "What is the capital of France?"}],
                 [{"role": "user", "content": "Name a fruit."}],
                 [{"role": "user", "content": "How many days are in a week?"}]]


def test_batched_answers_are_greedy_deterministic_and_bounded(engine: Engine) -> None:
    first = greedy_answers(engine, CONVERSATIONS, [24, 4, 16], n_seq=2)  # two waves
    greedy = Sampling(temperature=0.0, top_k=1, top_p=1.0, repeat_penalty=1.1,
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


def test_batched_work_on_another_thread_waits_while_the_chat_answers(engine: Engine,
                                                                      model_path: Path) -> None:
    """An insight computed on its own thread holds off between decodes while an answer is
    being written (core/engine/foreground.py), and goes on as soon as it is done."""
    assert foreground.wait_turn() == 0.0  # nothing being answered: no wait
    other = Engine(model_path, n_ctx=1024)
    done: list[list[str]] = []
    waited: list[float] = []

    def batch() -> None:
        with BatchGenerator(other, n_seq=2) as generator:
            done.append([text for _, text in generator.chat(CONVERSATIONS[:2], 4)])
            waited.append(generator.waited_s)

    try:
        answer = iter(engine.chat(CONVERSATIONS[0], Sampling(temperature=0.0,
                                                                   max_tokens=12)))
        next(answer)  # the answer has begun (the prompt is evaluated, a piece is out)
        worker = threading.Thread(target=batch)
        worker.start()
        time.sleep(1.0)  # alone, the two short answers take about 0.2 s
        assert not done
        with foreground.answering():  # the chat's own thread never waits for itself
            assert foreground.wait_turn() == 0.0
        for _ in answer:  # the answer ends: the batch goes on
            pass
        worker.join(timeout=60)
        assert done and all(done[0]) and waited[0] >= 0.9
    finally:
        other.close()
