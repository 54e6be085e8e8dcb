"""Long chats without a cliff: once a conversation outgrows the context, each turn still costs
llama.cpp only the new tokens (counted by llama.cpp itself), the system prompt stays first, and
the window's start moves in blocks, not one message per turn."""

from __future__ import annotations

import itertools
from pathlib import Path

import llama_cpp
import pytest

from kindred.core.basics.sampling import Sampling
from kindred.core.engine.llama import Engine
from kindred.core.engine.window import shift_plan, stable_cut

SYSTEM = {"role": "system", "content": "You are Kindred, a patient and friendly assistant."}
WORDS = ["river", "mountain", "lantern", "garden", "copper", "violin", "meadow", "harbor",
         "pepper", "canvas", "orchard", "thunder", "pebble", "saddle", "marble", "ribbon",
         "crystal", "falcon", "walnut", "velvet"]


def user_text(turn: int) -> str:
    """About forty words, different every turn."""
    words = [WORDS[(turn * 7 + i * 3) % len(WORDS)] for i in range(36)]
    return f"Turn {turn}: please remember these words " + " ".join(words) + "."


def prompt_evaluated(engine: Engine) -> int:
    """Prompt tokens llama.cpp has decoded in batches so far (its own performance counter)."""
    return int(llama_cpp.llama_perf_context(engine.llm._ctx.ctx).n_p_eval)


def test_stable_cut_moves_in_blocks_and_starts_at_a_user_message() -> None:
    roles = ["user", "assistant"] * 40
    costs = [30] * 80
    cuts = [stable_cut(costs[:n], roles[:n], 20, 500) for n in range(1, 81, 2)]
    assert cuts[0] == 0 and cuts[-1] > 0
    moves = [b for a, b in itertools.pairwise(cuts) if a != b]
    assert len(moves) < len(cuts) / 4          # not one message per turn
    assert all(roles[c] == "user" for c in cuts)
    assert all(cuts[i] <= cuts[i + 1] for i in range(len(cuts) - 1))
    for n, cut in zip(range(1, 81, 2), cuts, strict=False):
        assert 20 + sum(costs[cut:n]) <= 500


def test_shift_plan_finds_the_kept_turns_in_the_cache() -> None:
    cached = [1, 2, 3, 10, 11, 12, 20, 21, 22, 23, 24, 25]
    assert shift_plan(cached, [1, 2, 3, 20, 21, 22, 23, 24, 25, 30], min_match=4) == (3, 3)
    assert shift_plan(cached, [1, 2, 3, 40, 41], min_match=4) is None
    assert shift_plan(cached, [*cached, 5], min_match=4) is None


@pytest.mark.slow
def test_a_chat_past_the_context_keeps_a_bounded_prompt_evaluation(model_path: Path) -> None:
    engine = Engine(model_path, n_ctx=512)
    sampling = Sampling(temperature=0.0, max_tokens=16)
    history = [SYSTEM]
    evaluated, reported, dropped, windows = [], [], [], []
    try:
        for turn in range(14):
            history.append({"role": "user", "content": user_text(turn)})
            before = prompt_evaluated(engine)
            generation = engine.chat(history, sampling)
            answer = generation.read()
            evaluated.append(prompt_evaluated(engine) - before)
            reported.append(generation.stats.tokens_evaluated)
            dropped.append(generation.stats.dropped_messages)
            kept, tokens, _ = engine.fit_messages(history, engine.room_for(sampling))
            assert kept[0] == SYSTEM
            assert engine.llm.detokenize(tokens[:12], special=True).decode().startswith(
                "<|im_start|>system\nYou are Kindred")
            windows.append(len(tokens))
            assert len(tokens) + sampling.max_tokens <= 512
            history.append({"role": "assistant", "content": answer})
    finally:
        engine.close()
    overflowed = [i for i, d in enumerate(dropped) if d > 0]
    assert len(overflowed) >= 5, dropped                 # the chat really outgrew the context
    assert len(set(dropped)) >= 3, dropped               # and the window moved more than once
    # Every turn after the overflow evaluates about one new message (plus the last answer's
    # tail), never the whole context again (which would be ~400 tokens here).
    bound = 100  # a 40-word message is about 70 tokens, plus role markers and the answer's end
    for i in overflowed:
        assert evaluated[i] <= bound, (i, evaluated, dropped)
        assert abs(reported[i] - evaluated[i]) <= 2, (reported, evaluated)
    assert max(windows) <= 512
