"""Which examples train, in which batches, in which order: pure functions of the data and seed.

Batches group examples of similar length (sorted, then cut when `count x longest` would exceed
the token budget or waste more than a quarter on padding) and are right-padded. Right padding
needs no attention mask: with causal attention a real token never sees the padding after it, so
the fast causal kernel is used and padding only costs the few wasted positions. The order of
batches is shuffled per epoch from the seed, and the whole schedule is known in advance, so a
resumed run replays it exactly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from kindred.core.training.config import TrainConfig

MAX_PADDING = 1.25
"""A batch is cut rather than padded to more than 1.25x its real tokens."""


def split_holdout(keys: Sequence[str], cfg: TrainConfig) -> tuple[list[int], list[int]]:
    """(train indices, held-out indices). Held-out examples measure generalisation; with fewer
    than `holdout_min_examples` examples every one is too precious and all train."""
    n = len(keys)
    if n < max(2, cfg.holdout_min_examples) or cfg.holdout_fraction <= 0:
        return list(range(n)), []
    count = max(1, round(n * cfg.holdout_fraction))
    ranked = sorted(range(n), key=lambda i: hashlib.sha256(
        f"{cfg.seed}:{keys[i]}".encode()).hexdigest())
    held = sorted(ranked[:count])
    return [i for i in range(n) if i not in set(held)], held


def epoch_batches(lengths: Sequence[int], batch_tokens: int, seed: int, epoch: int
                  ) -> list[list[int]]:
    """One epoch: every example once, in length-homogeneous batches, batches in shuffled order."""
    rng = np.random.default_rng([seed, epoch])
    tie = rng.permutation(len(lengths))
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], tie[i]))
    batches: list[list[int]] = []
    current: list[int] = []
    real = 0
    for i in order:
        padded = (len(current) + 1) * lengths[i]  # sorted: the newcomer is the longest
        if current and (padded > batch_tokens or padded > MAX_PADDING * (real + lengths[i])):
            batches.append(current)
            current, real = [], 0
        current.append(i)
        real += lengths[i]
    if current:
        batches.append(current)
    return [batches[j] for j in rng.permutation(len(batches))]


def schedule(lengths: Sequence[int], cfg: TrainConfig) -> list[list[int]]:
    """Every step's batch for the whole run (epochs repeat until the step count is reached)."""
    if not lengths:
        return []
    per_epoch = len(epoch_batches(lengths, cfg.batch_tokens, cfg.seed, 0))
    total = cfg.total_steps(per_epoch)
    steps: list[list[int]] = []
    epoch = 0
    while len(steps) < total:
        steps += epoch_batches(lengths, cfg.batch_tokens, cfg.seed, epoch)
        epoch += 1
    return steps[:total]


def padded_tokens(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> int:
    """Positions computed including padding (to report how much padding costs)."""
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)
