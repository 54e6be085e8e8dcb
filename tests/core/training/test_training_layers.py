"""Adapters of the upper layers only (the default since 2026-12-02): the layer set is a training
setting, archived in adapter_config.json (peft's `layers_to_transform`), carried by children
(a child of an all-layer parent, as every version archived before, keeps every layer), exported
to llama.cpp with only the adapted layers, and the frozen layers below run once per example."""

from __future__ import annotations

import functools
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from kindred.core.archive import versions
from kindred.core.archive.objects import peft_folder, verified_path
from kindred.core.basics.errors import KindredError
from kindred.core.basics.sampling import Sampling
from kindred.core.engine.llama import AdapterRef, Engine
from kindred.core.formats.gguf_info import read_gguf
from kindred.core.formats.peft_files import CONFIG, read_config
from kindred.core.home import consent
from kindred.core.learning import insight
from kindred.core.session import Session
from kindred.core.training import evidence
from kindred.core.training.config import ALL_TARGETS, TrainConfig
from support.anchored_batch import anchored_examples, trained_looking_model
from support.training_helpers import (
    PIRATE,
    TEXTS,
    add_examples,
    fast_config,
    train_version,
)

DEPTH = 30  # SmolLM2-135M's decoder layers
UPPER = list(range(9, 30))  # the default: the top 0.67 of them
GREEDY = Sampling(temperature=0.0, max_tokens=24)


def test_layer_settings_resolve_and_children_keep_their_parents_layers() -> None:
    cfg = TrainConfig()
    assert cfg.for_depth(DEPTH).layers == tuple(UPPER)
    assert cfg.for_depth(18).layers == tuple(range(5, 18))  # Gemma 3 270M
    assert replace(cfg, top_layers=0.5).for_depth(DEPTH).layers == tuple(range(15, 30))
    assert replace(cfg, top_layers=1.0).for_depth(DEPTH).layers is None
    resolved = cfg.for_depth(DEPTH)
    assert TrainConfig.from_json(resolved.to_json()) == resolved
    assert resolved.lowest_layer() == 9 and TrainConfig(top_layers=1.0).lowest_layer() == 0
    # a run planned before layer subsets (no top_layers in its plan) resumes as all-layer
    assert TrainConfig.from_json({"rank": 4}).for_depth(DEPTH).layers is None

    peft = {"r": 8, "lora_alpha": 16.0, "target_modules": list(ALL_TARGETS)}
    old = cfg.with_lora_of({**peft, "layers_to_transform": None})
    assert old.layers is None and old.for_depth(DEPTH).layers is None
    subset = cfg.with_lora_of({**peft, "layers_to_transform": [22, 20, 21]})
    assert subset.for_depth(DEPTH).layers == (20, 21, 22)
    assert cfg.with_lora_of({**peft, "layers_to_transform": 7}).layers == (7,)
    with pytest.raises(KindredError, match="has 18 layers"):
        subset.for_depth(18)
    for bad in ({"top_layers": 0.0}, {"top_layers": 1.5}, {"layers": (3, 2)}, {"layers": ()}):
        with pytest.raises(KindredError):
            replace(cfg, **bad).validated()  # type: ignore[arg-type]


def _gguf_layers(path: Path) -> list[int]:
    found = {int(m.group(1)) for name in read_gguf(path).tensors
             if (m := re.match(r"blk\.(\d+)\.", name))}
    return sorted(found)


def _activate(session: Session, version_id: str) -> None:
    store = session.store
    kind, summary, proof = versions.describe_activation(store,
                                                        versions.get_version(store, version_id))
    req = consent.request(store, kind, session.assistant().id, version_id, summary, proof)
    versions.activate(store, version_id,
                      consent.decide(store, req.id, granted=True, via="gui"))


@pytest.mark.slow
def test_an_upper_layer_adapter_archives_exports_and_answers_in_llama_cpp(
        session: Session, engine: Engine) -> None:
    add_examples(session, PIRATE)
    version = train_version(session, fast_config(steps=16, lr=3e-3))
    store = session.store
    assert read_config(peft_folder(store, version) / CONFIG)["layers_to_transform"] == UPPER
    record = versions.get_version(store, version)
    assert record.manifest["training"]["config"]["layers"] == UPPER
    gguf = verified_path(store, version)
    assert _gguf_layers(gguf) == UPPER
    engine.check_adapter(gguf)  # fits the base with layers 0-8 absent
    assert [row["layer"] for row in insight.layer_norms(gguf)] == UPPER

    rows = evidence.side_by_side(engine, store, session.assistant(), version,
                                 ["What is the tallest mountain?", "Tell me about dogs."],
                                 GREEDY)
    assert all("ahoy" in r["candidate"].lower() for r in rows), rows
    assert not any("ahoy" in r["current"].lower() for r in rows), rows

    # its child keeps the same layers
    _activate(session, version)
    add_examples(session, TEXTS)
    child = train_version(session, fast_config(steps=6))
    assert read_config(peft_folder(store, child) / CONFIG)["layers_to_transform"] == UPPER
    assert versions.get_version(store, child).parent == version


@pytest.mark.slow
def test_a_child_of_an_all_layer_parent_keeps_every_layer_and_loads(
        session: Session, engine: Engine) -> None:
    add_examples(session, PIRATE[:3])
    # every version archived before layer subsets adapts every layer (no layers_to_transform)
    parent = train_version(session, fast_config(steps=6, top_layers=1.0))
    store = session.store
    assert not read_config(peft_folder(store, parent) / CONFIG).get("layers_to_transform")
    assert _gguf_layers(verified_path(store, parent)) == list(range(DEPTH))
    _activate(session, parent)
    add_examples(session, TEXTS)
    child = train_version(session, fast_config(steps=6))  # the default: top half for new ones
    assert not read_config(peft_folder(store, child) / CONFIG).get("layers_to_transform")
    assert versions.get_version(store, child).manifest["training"]["config"]["layers"] is None
    assert _gguf_layers(verified_path(store, child)) == list(range(DEPTH))
    assert versions.get_version(store, child).parent == parent

    # both answer in llama.cpp, alone and blended as in a rollout
    messages = [{"role": "user", "content": "Describe rain."}]
    previous = engine.adapters
    try:
        for refs in ([AdapterRef(child, verified_path(store, child))],
                     [AdapterRef(parent, verified_path(store, parent), 0.5),
                      AdapterRef(child, verified_path(store, child), 0.5)]):
            engine.set_adapters(refs)
            assert len(engine.chat(messages, GREEDY).read().split()) >= 3
    finally:
        engine.set_adapters(previous)


@pytest.mark.slow
def test_the_frozen_layers_run_once_and_change_no_loss_or_gradient(model_path: Path) -> None:
    import torch

    from kindred.core.training import forward, trainer

    examples = anchored_examples(model_path)  # two taught, one replayed with its anchor
    model = trained_looking_model(model_path)
    frozen = forward.Frozen.for_model(model)
    assert frozen.first == UPPER[0]
    assert {int(n.split(".layers.")[1].split(".")[0])
            for n, _ in trainer.lora_parameters(model)} == set(UPPER)
    calls: list[int] = []
    lowest = model.get_base_model().get_decoder().layers[0]
    hook = lowest.register_forward_hook(lambda *_: calls.append(1))

    def step(kept: forward.Frozen | None) -> tuple[Any, dict[str, Any]]:
        model.zero_grad(set_to_none=True)
        rows = [0, 1, 2]
        ids, labels = trainer.batch_tensors(examples, rows)
        anchors, anchored = trainer.anchor_inputs(examples, rows, ids.shape[1])
        references = trainer.References(model, examples, 512, kept)
        below = kept.below([examples[i].ids for i in rows], ids.shape[1]) if kept else None
        sums, _ = trainer.row_losses(model, ids, labels, anchors,
                                     functools.partial(references.log_probs, anchored), below)
        sums.sum().backward()
        return sums.detach(), {n: p.grad.clone() for n, p in trainer.lora_parameters(model)}

    try:
        frozen.prepare([e.ids for e in examples], 512)
        prepared = len(calls)
        assert prepared > 0
        fast, fast_grads = step(frozen)
        # the references' sequences (the plain answer) are new to it: computed once, then kept
        again, _ = step(frozen)
        used = len(calls)
        step(frozen)
        assert len(calls) == used  # nothing below the adapted layers runs once all is kept
        slow, slow_grads = step(None)
        assert len(calls) > used
    finally:
        hook.remove()
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(again, fast)
    assert fast_grads.keys() == slow_grads.keys()
    for name, grad in slow_grads.items():
        assert float(grad.abs().max()) > 0, name
        # fp32 rounding only (measured: 1.0e-5 of the gradient's norm)
        assert float((fast_grads[name] - grad).norm()) <= 1e-4 * float(grad.norm()), name
    # the kept outputs are what the upper layers start from: spoiling them changes the loss
    for key in list(frozen._kept):
        frozen._kept[key] = frozen._kept[key] * 0.5
    spoiled, _ = step(frozen)
    assert float((spoiled - fast).abs().max()) > 1.0


@pytest.mark.slow
def test_frozen_layers_on_gemma_with_its_sliding_window_layers(gemma_model_path: Path) -> None:
    """Gemma 3 mixes sliding-window and full-attention layers (each with its own mask and
    rotary table): starting at its 6th layer from kept outputs gives the same numbers."""
    import torch

    from kindred.core.training import base_cache, forward, trainer
    from support.bases import gemma_base_cache, gemma_expected_sha256

    torch.set_num_threads(2)
    base = base_cache.load_cached(gemma_base_cache(), gemma_expected_sha256())
    model = trainer.build_peft(base, TrainConfig(rank=4, targets=("q_proj", "down_proj")))
    frozen = forward.Frozen.for_model(model)
    assert frozen.first == 5  # the top 0.67 of 18 layers: 5-17
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name, param in trainer.lora_parameters(model):
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.02)
    shared = torch.randint(10, 20000, (24,), generator=generator).tolist()
    rows = [shared + torch.randint(10, 20000, (n,), generator=generator).tolist()
            for n in (30, 22, 27)]
    width = max(len(r) for r in rows)
    ids = torch.zeros((3, width), dtype=torch.long)
    labels = torch.full((3, width), trainer.IGNORE, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        labels[i, 30: len(row)] = torch.tensor(row[30:])
    assert forward.shared_prefix(ids, 29) == 24

    def losses(below: forward.Below | None) -> tuple[Any, list[Any]]:
        model.zero_grad(set_to_none=True)
        sums, _ = trainer.row_losses(model, ids, labels, below=below)
        sums.sum().backward()
        return sums.detach(), [p.grad.clone() for _, p in trainer.lora_parameters(model)]

    fast, fast_grads = losses(frozen.below(rows, width))
    slow, slow_grads = losses(None)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)
    for a, b in zip(fast_grads, slow_grads, strict=True):
        assert float(b.abs().max()) > 0
        # fp32 rounding only (measured: 1.5e-5 of the gradient's norm)
        assert float((a - b).norm()) <= 1e-4 * float(b.norm())


def test_a_fresh_adapter_is_measured_with_it_switched_off(model_path: Path) -> None:
    """The run's starting losses skip a fresh adapter's products (job.py): the same numbers,
    since every B starts at zero; an adapter that learned anything is never skipped."""
    import torch

    from kindred.core.basics.hashing import sha256_file
    from kindred.core.training import base_cache, forward, lora_kernel, trainer
    from support.training_helpers import shared_base_cache

    examples = anchored_examples(model_path)
    base = base_cache.load_cached(shared_base_cache(), sha256_file(model_path))
    model = trainer.build_peft(base, TrainConfig(rank=4))
    lora_kernel.fuse(model)
    frozen = forward.Frozen.for_model(model)
    assert trainer.adds_nothing(model)
    with_it = trainer.evaluate(model, examples, frozen=frozen)
    with model.disable_adapter():
        without = trainer.evaluate(model, examples, frozen=frozen)
    assert with_it == without
    with torch.no_grad():
        name, param = next((n, p) for n, p in trainer.lora_parameters(model) if "lora_B" in n)
        param[0, 0] = 0.5
    assert not trainer.adds_nothing(model), name
    assert not trainer.adds_nothing(trained_looking_model(model_path))
