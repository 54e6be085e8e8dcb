"""Training settings: LoRA shape, optimisation, batching. Plain data, no torch.

The defaults suit 1 to 500 short personal examples on a CPU with no knob to turn: rank 8 on
every linear layer of the attention and MLP blocks of the upper two thirds of the decoder layers,
five passes over the person's items plus the teacher's answers (see `replay`), stopping
early once the items are learned, and at least `min_steps` optimiser steps so a single taught
item still teaches something.

Which layers are adapted is part of the adapter's shape: `layers` lists them (peft's
`layers_to_transform`, written into adapter_config.json), None meaning every layer, as in every
version archived before 2026-12-02. A new adapter gets the top `top_layers` share of the base's
layers (`for_depth`, when the base's depth is known); a child keeps its parent's layers
(`with_lora_of`), so a child of an all-layer parent stays an all-layer adapter.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from kindred.core.basics.errors import KindredError

ALL_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class TrainConfig:
    rank: int = 8
    alpha: float = 16.0
    targets: tuple[str, ...] = ALL_TARGETS
    lr: float = 1e-3
    epochs: int = 5
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
    top_layers: float = 0.67
    """The share of the decoder's layers a new adapter adapts, counted from the output end: the
    frozen layers below run once per example, without gradients, and their outputs are kept
    (see `forward.Frozen`). 1.0: every layer. 0.67 (SmolLM2: layers 9-29 of 30) kept the
    learning bench's figures of all layers. The top half trains about 1.3x faster per token
    but shortens open answers in bench/learning.py's greeting scenario: 0.28x the base's
    length against 0.50x (2026-12-01); with the prompt run without gradients 0.42x and 0.36x
    against 0.51x for 0.67 (2026-12-02); 0.4 of the layers also forgot facts (greeting: 2 of the
    base's 6 kept, the card 9 of 13 forgotten)."""
    layers: tuple[int, ...] | None = None
    """The adapted layers (0 = nearest the input), sorted; None: every layer. Set by `for_depth`
    from `top_layers`, or from the parent adapter by `with_lora_of`."""

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
            (0 < self.top_layers <= 1, "top_layers must be in (0, 1]"),
            (self.layers is None or (bool(self.layers) and list(self.layers)
                                     == sorted(set(self.layers)) and self.layers[0] >= 0),
             "layers must be distinct layer numbers, sorted"),
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
        out["layers"] = None if self.layers is None else list(self.layers)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "targets" in known:
            known["targets"] = tuple(known["targets"])
        if known.get("layers") is not None:
            known["layers"] = tuple(int(i) for i in known["layers"])
        if "top_layers" not in known:  # written before layer subsets: every layer was adapted
            known["top_layers"] = 1.0
        return cls(**known).validated()

    def for_depth(self, n_layers: int) -> TrainConfig:
        """The layers to adapt on a base of `n_layers` decoder layers: the given ones (checked
        to exist), else the top `top_layers` share of them (None when that is all of them)."""
        if self.layers is not None:
            if self.layers[-1] >= n_layers:
                raise KindredError(f"The adapter adapts layer {self.layers[-1]}, but this model "
                                   f"has {n_layers} layers. Nothing was changed.")
            return self
        count = max(1, min(n_layers, math.ceil(n_layers * self.top_layers - 1e-9)))
        if count >= n_layers:
            return self
        return replace(self, layers=tuple(range(n_layers - count, n_layers))).validated()

    def lowest_layer(self) -> int:
        """The first adapted layer: those below it never change."""
        return 0 if self.layers is None else self.layers[0]

    def with_lora_of(self, peft_config: dict[str, Any]) -> TrainConfig:
        """Continuing a parent adapter keeps its LoRA shape (rank, alpha, target modules, and
        layers: a parent without `layers_to_transform` adapts every layer, so its child does)."""
        targets = peft_config.get("target_modules") or list(self.targets)
        if isinstance(targets, str):
            targets = [targets]
        raw = peft_config.get("layers_to_transform")
        layers: list[int] = [int(raw)] if isinstance(raw, int) else [int(i) for i in raw or []]
        return replace(self, rank=int(peft_config["r"]), alpha=float(peft_config["lora_alpha"]),
                       targets=tuple(t for t in ALL_TARGETS if t in set(targets)),
                       layers=None if not layers else tuple(sorted({int(i) for i in layers})),
                       top_layers=self.top_layers if layers else 1.0).validated()
