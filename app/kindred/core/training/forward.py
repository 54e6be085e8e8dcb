"""Running part of a decoder, in the training process only (imports torch).

A new adapter adapts only the upper layers: the layers below never change during a run, so
their output per example is computed once without gradients and kept (`Frozen`), and every
later pass starts from it at the lowest adapted layer (`hidden_states` with a `Below`); the
backward pass stops there. A start every row of a batch shares runs once (`shared_prefix`).
The model's own forward runs throughout (`_running` swaps the skipped layers for pass-throughs),
so masks, rotary positions and per-layer attention types stay its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch


def base_of(model: Any) -> Any:
    """The transformers model under a peft wrapper (the model itself without one)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def autocast_for(model: Any) -> Any:
    """Autocast to bf16 when the base is stored in bf16 (mixes it with the fp32 adapter)."""
    low = base_of(model).get_output_embeddings().weight.dtype == torch.bfloat16
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=low)


MIN_SHARED = 8
"""A batch whose rows all begin with at least this many identical context tokens computes them
once (see `shared_prefix`)."""


def shared_prefix(ids: torch.Tensor, need_from: int) -> int:
    """How many leading tokens every row of the batch shares, up to `need_from` (the first
    position whose output is needed): the system prompt and the opening of the user's turn, in
    practice about half of a short taught example. They are computed once for the whole batch
    and their keys and values repeated for every row (exact: the rows would compute the same
    numbers, and the gradients through the repeat add up as theirs would). 0 when not worth it."""
    if ids.shape[0] < 2:
        return 0
    same = (ids == ids[:1]).all(dim=0)
    common = int(same.long().cumprod(dim=0).sum())
    prefix = min(common, need_from, ids.shape[1] - 1)
    return prefix if prefix >= MIN_SHARED else 0


@dataclass(frozen=True)
class Below:
    """What the frozen layers below `first` output for each row of a batch (right-padded):
    the upper layers start from it instead of from the tokens."""

    first: int
    hidden: torch.Tensor


class _Skipped(torch.nn.Module):
    """Stands in for a decoder layer that is not run: passes the hidden states through, and
    keeps the layer's slot of a KV cache as long as the sequence (one number per position), so the
    model's own position and mask logic, which reads the first layers' cache, stays right."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        if cache is not None:
            rows, length = hidden_states.shape[:2]
            empty = hidden_states.new_zeros((rows, 1, length, 1))
            cache.update(empty, empty, self.index)
        return hidden_states


@contextlib.contextmanager
def _running(decoder: Any, keep: range, *, norm: bool = True) -> Iterator[None]:
    """Run only the decoder layers in `keep` (the others pass their input through), and the
    final norm only if `norm`. The model's own forward runs, so masks, rotary positions and
    per-layer attention types stay its own."""
    layers = decoder.layers
    saved, saved_norm = list(layers), decoder.norm
    try:
        for index in range(len(layers)):
            if index not in keep:
                layers[index] = _Skipped(index)
        if not norm:
            decoder.norm = torch.nn.Identity()
        yield
    finally:
        for index, layer in enumerate(saved):
            layers[index] = layer
        decoder.norm = saved_norm


def hidden_states(inner: Any, ids: torch.Tensor, start: int = 0, below: Below | None = None,
                  *, shared: int = 0) -> torch.Tensor:
    """The decoder's last hidden states for the positions from `start` on. The positions before
    `start` are context (the prompt): they run without gradients, their keys and values enter
    the backward pass as constants, and the first `shared` of them (the same in every row) run
    once for all rows. With `below`, only the layers from `below.first` up run, starting from
    the frozen layers' outputs."""
    decoder = inner.get_decoder()
    if below is None:
        return _forward(decoder, inner.config, "input_ids", ids, start, shared)
    with _running(decoder, range(below.first, len(decoder.layers))):
        return _forward(decoder, inner.config, "inputs_embeds", below.hidden, start, shared)


def _forward(decoder: Any, config: Any, name: str, value: torch.Tensor, start: int,
             shared: int = 0, *, whole: bool = False) -> torch.Tensor:
    """The decoder on `value` (ids or input vectors, by `name`): outputs from `start` on, or
    at every position if `whole`; the positions before `start` run without gradients as a
    cache the rest continues from, the first `shared` of them once for all rows."""
    if start <= 0:
        return decoder(**{name: value}, use_cache=False).last_hidden_state  # type: ignore[no-any-return]
    from transformers import DynamicCache

    rows, shared = value.shape[0], min(shared, start)
    cache = DynamicCache(config=config)
    heads: list[torch.Tensor] = []
    with torch.no_grad():
        if shared > 0:
            head = decoder(**{name: value[:1, :shared]}, cache=cache,
                           use_cache=True).last_hidden_state
            cache.batch_repeat_interleave(rows)
            heads.append(head.expand(rows, -1, -1))
        if start > shared:
            heads.append(decoder(**{name: value[:, shared:start]}, cache=cache,
                                 use_cache=True).last_hidden_state)
    tail = decoder(**{name: value[:, start:]}, cache=cache, use_cache=True).last_hidden_state
    if whole:
        return torch.cat([*heads, tail], dim=1)
    return tail  # type: ignore[no-any-return]


FROZEN_BUDGET = 512 * 1024 * 1024
"""Bytes of frozen-layer outputs kept per run (SmolLM2, fp32: about 230,000 tokens); past it,
the rest are computed again when needed (still without gradients)."""


class Frozen:
    """The outputs of the layers below the lowest adapted one, kept per token sequence.

    Those layers have no adapter, so what they output for an example never changes during a
    run: it is computed once (no gradients, shared prefix once per batch) and every later pass
    over the example (each epoch, the evaluations, the KL anchor's references, which run the
    base with the adapter off) starts at the first adapted layer; the backward pass stops there
    too. `prepare` computes the training set's outputs in a fixed grouping before the first
    step, so a resumed run starts from exactly the same numbers."""

    def __init__(self, model: Any, first: int, budget: int = FROZEN_BUDGET) -> None:
        self.model = model
        self.first = first
        self.budget = budget
        self._kept: dict[tuple[int, ...], torch.Tensor] = {}
        self._bytes = 0

    @classmethod
    def for_model(cls, model: Any) -> Frozen:
        """For a peft model: from its adapter's lowest layer (0, nothing frozen, without one)."""
        config = getattr(model, "peft_config", {}).get("default")
        layers = getattr(config, "layers_to_transform", None)
        if isinstance(layers, int):
            layers = [layers]
        return cls(model, min(layers) if layers else 0)

    def prepare(self, sequences: Sequence[Sequence[int]], batch_tokens: int) -> None:
        """Compute (and keep) the outputs of `sequences` in length-grouped batches."""
        from kindred.core.training.data import epoch_batches

        if self.first <= 0:
            return
        todo = list({tuple(s): None for s in sequences if tuple(s) not in self._kept})
        for batch in epoch_batches([len(s) for s in todo], batch_tokens, 0, 0):
            self._compute([todo[b] for b in batch])

    def below(self, sequences: Sequence[Sequence[int]], width: int) -> Below | None:
        """The frozen outputs of a batch's rows (right-padded with zeros to `width`), or None
        when no layer is frozen."""
        if self.first <= 0:
            return None
        keys = [tuple(s) for s in sequences]
        fresh = self._compute([k for k in dict.fromkeys(keys) if k not in self._kept])
        rows = [self._kept[k] if k in self._kept else fresh[k] for k in keys]
        out = rows[0].new_zeros((len(rows), width, rows[0].shape[-1]))
        for row, value in enumerate(rows):
            out[row, : value.shape[0]] = value
        return Below(self.first, out)

    def _compute(self, keys: Sequence[tuple[int, ...]]) -> dict[tuple[int, ...], torch.Tensor]:
        if not keys:
            return {}
        width = max(len(k) for k in keys)
        ids = torch.zeros((len(keys), width), dtype=torch.long)
        for row, key in enumerate(keys):
            ids[row, : len(key)] = torch.tensor(key)
        prefix = shared_prefix(ids, width - 1)
        inner = base_of(self.model)
        decoder = inner.get_decoder()
        with torch.no_grad(), autocast_for(self.model), _running(decoder, range(self.first),
                                                              norm=False):
            rest = _forward(decoder, inner.config, "input_ids", ids, prefix, prefix, whole=True)
        out: dict[tuple[int, ...], torch.Tensor] = {}
        for row, key in enumerate(keys):
            value = rest[row, : len(key)].clone()
            out[key] = value
            if self._bytes + value.nbytes <= self.budget:
                self._kept[key] = value
                self._bytes += value.nbytes
        return out
