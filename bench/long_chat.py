"""Long-chat benchmark: time to first token late in a conversation that outgrew the context,
against early in the same conversation (same run, same engine).

A chat of ~40-word messages (answers capped near 40 words) runs for --turns turns on the
embedded model with the app's default 4096-token context; it passes the context around turn 30.
Prints one JSON line (with --json) or a short report:
- ttft_turn_100_ratio: time to first token at the last turn ÷ at turn 5 (target <= 2);
- ttft_late_median_ratio: the same with the median of the last five turns ÷ turns 3-7;
- max_ttft_after_overflow_s, first_overflow_turn, evaluated_max_after_overflow (prompt tokens
  llama.cpp evaluated in the worst turn after the overflow; the whole context before the fix).
Time to first token is measured around Engine.chat as the app calls it (fitting included).
With --runs N (default 3) the chat is held N times (each a fresh engine); the ratios are the
medians over the runs (one turn's time is noisy), with every run's ratio listed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from kindred.core.basics.sampling import Sampling
from kindred.core.engine.llama import DEFAULT_CTX, Engine
from kindred.core.home.models import embedded_model_path

TOPICS = ("gardening", "bicycles", "bread", "the moon", "jazz", "chess", "rivers", "tea",
          "volcanoes", "knitting", "owls", "maps")
SYSTEM = {"role": "system", "content": "You are Kindred, a friendly assistant. Answer briefly, "
                                       "in two or three sentences."}


def user_message(turn: int) -> str:
    """About forty words on a changing topic."""
    topic = TOPICS[turn % len(TOPICS)]
    return (f"Message {turn}. I have been thinking about {topic} lately, and I would like to "
            f"hear something new about it. Tell me one surprising fact about {topic}, why it "
            "is true, and one small thing I could try this week to learn more about it myself.")


def run(turns: int, answer_tokens: int, n_ctx: int) -> dict[str, object]:
    engine = Engine(embedded_model_path(), n_ctx=n_ctx)
    sampling = Sampling(temperature=0.7, max_tokens=answer_tokens)
    history = [SYSTEM]
    ttft: list[float] = []
    evaluated: list[int] = []
    dropped: list[int] = []
    try:
        for turn in range(1, turns + 1):
            history.append({"role": "user", "content": user_message(turn)})
            start = time.perf_counter()
            generation = engine.chat(history, sampling)
            first: float | None = None
            for _piece in generation:
                if first is None:
                    first = time.perf_counter() - start
            ttft.append(first if first is not None else time.perf_counter() - start)
            evaluated.append(generation.stats.tokens_evaluated)
            dropped.append(generation.stats.dropped_messages)
            history.append({"role": "assistant", "content": generation.text})
    finally:
        engine.close()
    early = 5 if turns >= 5 else 1
    overflow = [i for i, d in enumerate(dropped) if d > 0]
    return {
        "turns": turns, "n_ctx": n_ctx, "answer_tokens": answer_tokens,
        "ttft_turn_5_s": round(ttft[early - 1], 4),
        f"ttft_turn_{turns}_s": round(ttft[-1], 4),
        "ttft_turn_100_ratio": round(ttft[-1] / ttft[early - 1], 3),
        "ttft_late_median_ratio": round(statistics.median(ttft[-5:])
                                        / statistics.median(ttft[2:7]), 3),
        "first_overflow_turn": overflow[0] + 1 if overflow else None,
        "max_ttft_after_overflow_s": round(max(ttft[i] for i in overflow), 4)
        if overflow else None,
        "evaluated_max_after_overflow": max(evaluated[i] for i in overflow) if overflow else None,
        "evaluated_last_turn": evaluated[-1],
        "dropped_last_turn": dropped[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON line")
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--answer-tokens", type=int, default=56, help="cap per answer")
    parser.add_argument("--n-ctx", type=int, default=DEFAULT_CTX)
    parser.add_argument("--quick", action="store_true",
                        help="a short check: 30 turns in a 1024-token context")
    parser.add_argument("--runs", type=int, default=3, help="whole chats; ratios are medians")
    args = parser.parse_args()
    if args.quick:
        args.turns, args.n_ctx, args.runs = 30, 1024, 1
    runs = [run(args.turns, args.answer_tokens, args.n_ctx) for _ in range(max(1, args.runs))]
    result = dict(runs[len(runs) // 2])
    for key in ("ttft_turn_100_ratio", "ttft_late_median_ratio"):
        result[key] = round(statistics.median(float(r[key]) for r in runs), 3)  # type: ignore[arg-type]
        result[key.replace("_ratio", "_runs")] = [r[key] for r in runs]
    result["max_ttft_after_overflow_s"] = max(
        float(r["max_ttft_after_overflow_s"] or 0) for r in runs)  # type: ignore[arg-type]
    result["runs"] = len(runs)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:32} {value}")


if __name__ == "__main__":
    main()
