"""How long a run will take, for the consent summary (an estimate, said as one)."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path

from kindred.core.formats.gguf_info import GGUFInfo
from kindred.core.home.atomic import write_atomic

REFERENCE_PARAMS = 135e6
REFERENCE_TOKENS_PER_S = 130.0
"""Measured training speed for SmolLM2-135M on 2 CPU cores (bf16 mixed precision, bench/train.py);
other sizes scale inversely with their parameter count."""
IMPORT_S = 8.0
"""torch + transformers + peft and the model's code, measured on the same machine."""
REFERENCE_FIRST_LOAD_S = 20.0
CACHED_LOAD_S = 0.5


def parameters(info: GGUFInfo) -> int:
    total = 0
    for shape in info.tensors.values():
        count = 1
        for dim in shape:
            count *= dim
        total += count
    return total


def seconds(info: GGUFInfo, steps: Sequence[Sequence[int]], all_lengths: Sequence[int],
            lengths: Sequence[int], *, cached: bool) -> float:
    """Start-up + base load + the steps (`steps` index `lengths`, the training examples) + two
    evaluation passes over all examples (a forward pass costs about a third of a step)."""
    scale = max(parameters(info), 1) / REFERENCE_PARAMS
    rate = REFERENCE_TOKENS_PER_S / scale
    trained = sum(lengths[i] for batch in steps for i in batch)
    evaluated = 2 * sum(all_lengths) / 3
    load = CACHED_LOAD_S * scale if cached else REFERENCE_FIRST_LOAD_S * scale
    return IMPORT_S + load + (trained + evaluated) / rate


REPLAY_ANSWER_S = 1.5
"""One replayed base answer from llama.cpp (made once per base and system prompt, then cached)."""
TEACHER_ANSWER_S = 0.6
"""One teacher answer (the base with the person's examples in its context; batched, made per
run) or one rewording of a request, on SmolLM2 and 2 cores."""


def replay_seconds(count: int, reworded: int = 0) -> float:
    """The base's general answers (cached after the first run: counted anyway), and with
    `reworded` requests the teacher's answers to the general ones and the rewordings."""
    teacher = (count + 2 * reworded) * TEACHER_ANSWER_S if reworded else 0.0
    return count * REPLAY_ANSWER_S + teacher


MEASURED = "estimates.json"
"""Under the data home's cache: how long this computer's last runs took against their
estimate, per base. The reference figures were measured on a quiet machine; a busy or slower
one took five times as long while the consent said "about 2 min"."""
KEPT_RUNS = 5


def record(cache: Path, base_sha256: str, estimated_s: float, took_s: float) -> None:
    """Keep how a run that went through in one go compared with its estimate."""
    if estimated_s <= 0 or took_s <= 0:
        return
    path = cache / MEASURED
    try:
        known = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict):  # damaged: start over
        known = {}
    ratios = [r for r in known.get(base_sha256, []) if isinstance(r, int | float)]
    known[base_sha256] = [*ratios, round(took_s / estimated_s, 3)][-KEPT_RUNS:]
    write_atomic(path, json.dumps(known, sort_keys=True).encode())


def measured_factor(cache: Path, base_sha256: str) -> float:
    """How much longer (or shorter) than the reference this computer's recent runs on this
    base took: the median of the last few, 1.0 before any (bounded, so one odd run cannot
    promise a day)."""
    try:
        ratios = json.loads((cache / MEASURED).read_text(encoding="utf-8")).get(base_sha256)
    except (OSError, ValueError, AttributeError):
        return 1.0
    if not isinstance(ratios, list):
        return 1.0
    usable = [float(r) for r in ratios if isinstance(r, int | float) and r > 0]
    return min(max(statistics.median(usable), 0.2), 20.0) if usable else 1.0


def human(value: float) -> str:
    """"45 s", "3 min", "1 h 20 min"."""
    value = max(0.0, value)
    if value < 90:
        return f"{max(1, round(value))} s"
    minutes = round(value / 60)
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"
