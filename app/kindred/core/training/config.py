"""Training settings: LoRA shape, optimisation, batching. Plain data, no torch.

The defaults suit 1 to 500 short personal examples on a CPU with no knob to turn: rank 8 on
every linear layer of the attention and MLP blocks, three passes over the person's items plus
the replayed base answers (see `replay`), stopping early once the items are learned, and at
least `min_steps` optimiser steps so a single taught item still teaches something.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from kindred.core.errors import KindredError

ALL_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class TrainConfig:
    rank: int = 8
    alpha: float = 16.0
    targets: tuple[str, ...] = ALL_TARGETS
    lr: float = 1e-3
    epochs: int = 3
    steps: int | None = None
    """Exact number of optimiser steps; when None: `epochs` passes, but at least `min_steps`."""
    min_steps: int = 8
    warmup_steps: int = 3
    batch_tokens: int = 512
    """Tokens per batch including padding (examples are grouped by length, so little padding)."""
    max_length: int = 2048
    seed: int = 0
    checkpoint_every: int = 10
    holdout_fraction: float = 0.1
    holdout_min_examples: int = 10
    threads: int = field(default_factory=lambda: max(1, min(os.cpu_count() or 1, 8)))
    replay: bool = True
    """Replay the base's own answers to general requests beside the person's items (see
    `replay`); off only to measure what training without it does."""
    precision: str = "auto"
    """Compute precision of the frozen base: `auto` (bf16 where the CPU has native bf16),
    `bf16` or `fp32`. The adapter and optimizer are always fp32."""

    def validated(self) -> TrainConfig:
        checks = [
            (1 <= self.rank <= 256, "rank must be between 1 and 256"),
            (self.alpha > 0, "alpha must be positive"),
            (bool(self.targets) and set(self.targets) <= set(ALL_TARGETS),
             f"targets must be among {', '.join(ALL_TARGETS)}"),
            (0 < self.lr < 1, "the learning rate must be between 0 and 1"),
            (1 <= self.epochs <= 1000, "epochs must be between 1 and 1000"),
            (self.steps is None or 1 <= self.steps <= 1_000_000, "steps must be at least 1"),
            (self.min_steps >= 0, "min_steps must be 0 or more"),
            (self.warmup_steps >= 0, "warmup_steps must be 0 or more"),
            (64 <= self.batch_tokens <= 1 << 20, "batch_tokens must be at least 64"),
            (16 <= self.max_length <= 1 << 20, "max_length must be at least 16"),
            (self.checkpoint_every >= 1, "checkpoint_every must be at least 1"),
            (0 <= self.holdout_fraction < 0.5, "holdout_fraction must be in [0, 0.5)"),
            (1 <= self.threads <= 256, "threads must be at least 1"),
            (self.precision in ("auto", "bf16", "fp32"), "precision must be auto, bf16 or fp32"),
        ]
        for ok, message in checks:
            if not ok:
                raise KindredError(f"Invalid training setting: {message}. Nothing was changed.")
        return self

    def total_steps(self, batches_per_epoch: int) -> int:
        if self.steps is not None:
            return self.steps
        return max(self.epochs * batches_per_epoch, self.min_steps)

    def lr_at(self, step: int, total: int) -> float:
        """Linear warm-up, then cosine decay to a tenth of `lr` (a pure function of the step,
        so a resumed run follows exactly the same schedule)."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / (self.warmup_steps + 1)
        span = max(1, total - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["targets"] = list(self.targets)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "targets" in known:
            known["targets"] = tuple(known["targets"])
        return cls(**known).validated()

    def with_lora_of(self, peft_config: dict[str, Any]) -> TrainConfig:
        """Continuing a parent adapter keeps its LoRA shape (rank, alpha, target modules)."""
        targets = peft_config.get("target_modules") or list(self.targets)
        if isinstance(targets, str):
            targets = [targets]
        return replace(self, rank=int(peft_config["r"]), alpha=float(peft_config["lora_alpha"]),
                       targets=tuple(t for t in ALL_TARGETS if t in set(targets))).validated()
