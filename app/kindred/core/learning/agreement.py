"""Style as agreement with the teacher: did the candidate learn to answer the way the base does
with the person's examples in mind, on requests it never saw? (The quality card's style row.)

For each unseen request the teacher (`learning.teacher`: the base, the chat's system prompt and
a handful of the person's answers as earlier turns) answers greedily. Three numbers per request,
each the mean log-probability per token of that answer:

- `teacher`: under the teacher, in its context (known from generating it);
- `base`: under the base model without the examples (the chat's system prompt only);
- `candidate`: under the candidate, likewise without the examples.

`teacher - base` is what the examples change (the style the teacher shows, in nats per token);
`candidate - base` is how much of it the candidate learned. A request *shows the style* when the
candidate went at least half of the way (`SHOWN`); the card's share is how many do, and
`likelihood_ratio` is exp(mean `candidate - base`): how many times likelier per token the
candidate makes the teacher's answers than the base does. Where the examples change almost
nothing (`teacher - base` under `MIN_GAIN` on average), the teacher cannot show the style and
the card says so. Nothing here knows what a style is: it works for a dialect, a format, a
register, a length or a fact about the person alike.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kindred.core.engine.llama import Engine
from kindred.core.learning import teacher
from kindred.core.learning.scoring import Scorer

FORMAT = 1
SHOWN = 0.5
"""A request shows the style when the candidate closes at least half of the gap between the
base and the teacher on the teacher's answer."""
MIN_GAIN = 0.1
"""Nats per token: below this mean gain from the examples, the teacher does not show a style
(the base answers the same with or without them)."""
N_CTX_SEQ = 1024


def _mean(values: Sequence[float]) -> float:
    return float(statistics.fmean(values)) if values else 0.0


def _student(system: str, request: str) -> list[dict[str, str]]:
    return [*teacher.head(system), {"role": "user", "content": request}]


def teacher_half(engine: Engine, system: str, shots: Sequence[teacher.Shot],
                 requests: Sequence[str], max_tokens: int, cached: Path | None = None
                 ) -> dict[str, Any]:
    """The teacher's answers to `requests` with their scores under the teacher and under the
    base (no examples); cached in `cached` (per base, system prompt, examples and requests)."""
    if cached is not None and cached.is_file():
        try:
            return dict(json.loads(cached.read_text("utf-8")))
        except (ValueError, TypeError):
            pass
    said = teacher.answers(engine, system, shots, requests, max_tokens, scored=True)
    prompts = [engine.tokenize_chat(_student(system, r)) for r in requests]
    base = _scores(engine, prompts, [tokens for _, tokens, _ in said])
    half = {"format": FORMAT, "answers": [text for text, _, _ in said],
            "tokens": [tokens for _, tokens, _ in said],
            "teacher": [_mean(lp) for _, _, lp in said], "base": base}
    if cached is not None:
        from kindred.core.home.atomic import write_atomic

        cached.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cached, json.dumps(half).encode())
    return half


def _scores(engine: Engine, prompts: Sequence[list[int]], answers: Sequence[list[int]]
            ) -> list[float]:
    """Mean log-probability per token of each answer after its prompt, under the engine's
    current adapters."""
    jobs = [(p + a, len(p)) for p, a in zip(prompts, answers, strict=True) if a]
    scorer = Scorer(engine, n_seq=4, n_ctx_seq=N_CTX_SEQ, n_ctx=4 * N_CTX_SEQ)
    try:
        values = iter(scorer.score(jobs))
    finally:
        scorer.close()
    return [_mean([float(v) for v in next(values)]) if a else 0.0 for a in answers]


def candidate_scores(engine: Engine, system: str, requests: Sequence[str],
                     half: dict[str, Any]) -> list[float]:
    """The teacher's answers scored under the engine's current adapters (the candidate)."""
    prompts = [engine.tokenize_chat(_student(system, r)) for r in requests]
    return _scores(engine, prompts, half["tokens"])


def measure(half: dict[str, Any], candidate: Sequence[float]) -> dict[str, Any]:
    """The card's style-agreement numbers (pure: testable without a model)."""
    rows = [(t, b, c) for t, b, c, tokens in zip(half["teacher"], half["base"], candidate,
                                                 half["tokens"], strict=True) if tokens]
    gains = [t - b for t, b, _ in rows]
    learned = [c - b for _, b, c in rows]
    closed = [min(1.5, max(-0.5, c / g)) if g > 0 else 0.0 for g, c in zip(gains, learned,
                                                                            strict=True)]
    shown = [g > 0 and c >= SHOWN * g for g, c in zip(gains, learned, strict=True)]
    teacher_gain = _mean(gains)
    return {"requests": len(rows), "teacher_gain": round(teacher_gain, 3),
            "candidate_gain": round(_mean(learned), 3),
            "likelihood_ratio": round(math.exp(_mean(learned)), 3),
            "teacher_ratio": round(math.exp(teacher_gain), 3),
            "closed": round(_mean(closed), 3),
            "share": round(sum(shown) / max(1, len(rows)), 3),
            "teacher_shows": teacher_gain >= MIN_GAIN}


def sentence(found: dict[str, Any]) -> str:
    """The card's style line from `measure`'s numbers."""
    if not found["teacher_shows"]:
        return ("Style: even with your examples in mind, the base model answers new requests "
                "about as it does without them, so it cannot show this style yet; the card "
                "does not promise it.")
    return (f"Style: on {found['requests']} new requests it answers like the model with your "
            f"examples in mind in {found['share']:.0%} of them (it makes those answers "
            f"{found['likelihood_ratio']:.1f}x likelier per word than the base model does; "
            f"the examples themselves: {found['teacher_ratio']:.1f}x).")
