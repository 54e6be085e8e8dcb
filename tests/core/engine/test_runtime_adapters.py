"""LoRA adapters attached at runtime through llama.cpp's low-level API."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from kindred.core.basics.sampling import Sampling
from kindred.core.engine.llama import AdapterRef, Engine
from kindred.core.formats.adapters_check import AdapterMismatchError
from kindred.core.formats.gguf_info import InvalidGGUFError, read_gguf
from kindred.core.formats.lora_gguf import write_lora_gguf
from support.lora import make_lora_gguf

TEXT = "The weather today is"


@pytest.fixture
def lora(model_path: Path, tmp_path: Path) -> Path:
    return make_lora_gguf(model_path, tmp_path / "lora.gguf", magnitude=0.05)


def test_adapter_changes_logits_and_detach_restores_exactly(engine: Engine, lora: Path) -> None:
    engine.set_adapters([])
    base = engine.next_token_logits(TEXT)
    started = time.perf_counter()
    engine.set_adapters([AdapterRef("v1", lora, 1.0)])
    assert time.perf_counter() - started < 5  # sanity only: the benchmark measures speed
    with_adapter = engine.next_token_logits(TEXT)
    assert np.abs(with_adapter - base).max() > 0.1
    assert engine.adapters == [AdapterRef("v1", lora.resolve(), 1.0)]
    engine.set_adapters([])
    assert np.array_equal(engine.next_token_logits(TEXT), base)


def test_scale_only_change_applies(engine: Engine, lora: Path) -> None:
    engine.set_adapters([])
    base = engine.next_token_logits(TEXT)
    engine.set_adapters([AdapterRef("v1", lora, 1.0)])
    full = engine.next_token_logits(TEXT)
    engine.set_adapters([AdapterRef("v1", lora, 0.5)])
    half = engine.next_token_logits(TEXT)
    engine.set_adapters([AdapterRef("v1", lora, 0.0)])
    zero = engine.next_token_logits(TEXT)
    engine.set_adapters([])
    assert np.abs(half - full).max() > 0.05
    assert np.abs(half - base).max() > 0.05
    assert np.allclose(zero, base, atol=1e-4)


def test_two_adapters_blend_and_messages_record_them(engine: Engine, lora: Path,
                                                    model_path: Path, tmp_path: Path) -> None:
    other = make_lora_gguf(model_path, tmp_path / "other.gguf", seed=7)
    engine.set_adapters([AdapterRef("old", lora, 0.7), AdapterRef("new", other, 0.3)])
    generation = engine.chat([{"role": "user", "content": "Hi"}],
                             Sampling(temperature=0.0, max_tokens=8))
    generation.read()
    assert generation.stats.adapters == [("old", 0.7), ("new", pytest.approx(0.3))]
    engine.set_adapters([])


def test_loaded_adapters_are_cached_by_path(engine: Engine, lora: Path) -> None:
    engine.set_adapters([AdapterRef("v1", lora, 1.0)])
    handle = engine._loaded[lora.resolve()]
    engine.set_adapters([])
    engine.set_adapters([AdapterRef("v1", lora, 0.5)])
    assert engine._loaded[lora.resolve()] == handle
    engine.set_adapters([])


def _wrong_arch(model_path: Path, out: Path) -> Path:
    return make_lora_gguf(model_path, out, architecture="qwen2")


def _wrong_shapes(model_path: Path, out: Path) -> Path:
    rng = np.random.default_rng(0)
    tensors = {"blk.0.attn_q.weight.lora_a": rng.normal(size=(4, 640)).astype("f4"),
               "blk.0.attn_q.weight.lora_b": rng.normal(size=(576, 4)).astype("f4")}
    write_lora_gguf(out, tensors, architecture="llama", alpha=4)
    return out


def _unknown_tensor(model_path: Path, out: Path) -> Path:
    rng = np.random.default_rng(0)
    tensors = {"blk.99.attn_q.weight.lora_a": rng.normal(size=(4, 576)).astype("f4"),
               "blk.99.attn_q.weight.lora_b": rng.normal(size=(576, 4)).astype("f4")}
    write_lora_gguf(out, tensors, architecture="llama", alpha=4)
    return out


def _half_pair(model_path: Path, out: Path) -> Path:
    rng = np.random.default_rng(0)
    tensors = {"blk.0.attn_q.weight.lora_a": rng.normal(size=(4, 576)).astype("f4")}
    write_lora_gguf(out, tensors, architecture="llama", alpha=4)
    return out


def _base_model(model_path: Path, out: Path) -> Path:
    return model_path


def _truncated(model_path: Path, out: Path) -> Path:
    good = make_lora_gguf(model_path, out.with_suffix(".full"))
    out.write_bytes(good.read_bytes()[:-5000])
    return out


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (_wrong_arch, AdapterMismatchError, "'qwen2' architecture"),
        (_wrong_shapes, AdapterMismatchError, "do not fit"),
        (_unknown_tensor, AdapterMismatchError, "no tensor 'blk.99.attn_q.weight'"),
        (_half_pair, AdapterMismatchError, "lacks its lora_a or lora_b"),
        (_base_model, AdapterMismatchError, "not a llama.cpp LoRA adapter"),
        (_truncated, InvalidGGUFError, "truncated"),
    ],
)
def test_mismatched_adapters_are_refused_and_nothing_changes(
    engine: Engine, lora: Path, model_path: Path, tmp_path: Path, make, error, message
) -> None:  # type: ignore[no-untyped-def]
    engine.set_adapters([AdapterRef("good", lora, 1.0)])
    before = engine.next_token_logits(TEXT)
    bad = make(model_path, tmp_path / "bad.gguf")
    with pytest.raises(error, match=message):
        engine.set_adapters([AdapterRef("bad", bad, 1.0)])
    assert [a.key for a in engine.adapters] == ["good"]
    assert np.array_equal(engine.next_token_logits(TEXT), before)
    engine.set_adapters([])


def test_written_adapter_metadata_round_trips(model_path: Path, tmp_path: Path) -> None:
    info = read_gguf(make_lora_gguf(model_path, tmp_path / "x.gguf", rank=8))
    assert info.file_type == "adapter" and info.metadata["adapter.lora.alpha"] == 8.0
    assert info.tensors["blk.0.attn_q.weight.lora_a"] == (576, 8)
    assert info.tensors["blk.0.attn_q.weight.lora_b"] == (8, 576)
