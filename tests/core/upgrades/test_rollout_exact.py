"""A rollout's blend is exact: llama.cpp with A at 1−t and B at t equals PEFT's `cat` combination.

PEFT's `add_weighted_adapter(..., combination_type="cat")` stacks A's `lora_A`s and the scaled
`lora_B`s (rank = sum of ranks, alpha = rank). Baked into one adapter and converted by Kindred's
own converter (`archive_peft`: `to_gguf_tensors` + `write_lora_gguf`), it must give the logits
llama.cpp gives with the two runtime adapters at scales (1−t, t). torch and peft are imported
here only (tests are not the GUI process).

Measured on an F32 copy of the embedded base with an F32 KV cache: on the shipped Q4_1 file
llama.cpp quantizes the activations (Q8_1) in every matmul and keeps K/V in F16, so its logits
jump by about 1 for a 1e-4 change of an adapter's scale; any two routes to the same weights then
differ by that noise, blend or not. With F32 weights and cache the same 1e-4 nudge moves them by
about 1e-4, and the blend and the `cat` bake agree to the archive's F16 rounding of the weights.
"""

from __future__ import annotations

import ctypes
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kindred.core.archive import objects as archive
from kindred.core.archive.catalog import verified_path
from kindred.core.engine.llama import AdapterRef, Engine
from kindred.core.session import Session
from support.archive_helpers import lora_config, make_version
from support.training_helpers import shared_base_cache

LAYERS = (0, 1, 2)
F32_BASE = Path(tempfile.gettempdir()) / f"kindred-test-models-{os.getuid()}" / "smollm2-f32.gguf"
ALL_F32 = 0  # llama_ftype LLAMA_FTYPE_ALL_F32
GGML_F32 = 0  # ggml_type GGML_TYPE_F32


def f32_base() -> Path:
    """The embedded model dequantized to F32 by llama.cpp's quantize API (once per machine)."""
    import llama_cpp

    from kindred.core.home.models import embedded_model_path

    if not F32_BASE.is_file():
        F32_BASE.parent.mkdir(parents=True, exist_ok=True)
        work = F32_BASE.with_name(f".{F32_BASE.name}.{os.getpid()}.partial")
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = ALL_F32
        params.allow_requantize = True
        code = llama_cpp.llama_model_quantize(str(embedded_model_path()).encode(),
                                              str(work).encode(), ctypes.byref(params))
        assert code == 0, f"llama_model_quantize failed ({code})"
        os.replace(work, F32_BASE)
    return F32_BASE


@pytest.fixture(scope="module")
def exact_engine() -> Iterator[Engine]:
    """Kindred's Engine on the F32 base, its llama.cpp context rebuilt with an F32 KV cache
    (before any adapter is attached; everything else is the Engine's own code)."""
    from llama_cpp import Llama

    path = f32_base()
    engine = Engine(path, n_ctx=512, n_threads=2)
    engine.llm.close()
    engine.llm = Llama(model_path=str(path), n_ctx=512, n_threads=2, n_threads_batch=2,
                       type_k=GGML_F32, type_v=GGML_F32, use_mmap=True, verbose=False)
    yield engine
    engine.close()
TEXT = "<|im_start|>user\nWhat should I cook tonight?<|im_end|>\n<|im_start|>assistant\n"


def peft_cat(session: Session, tensors: list[dict[str, np.ndarray]], ranks: list[int],
             weights: list[float], combination: str = "cat") -> tuple[dict[str, np.ndarray],
                                                                        dict[str, Any]]:
    """Load the versions' tensors as two PEFT adapters and combine them with PEFT itself."""
    import torch
    from peft import (
        LoraConfig,
        get_peft_model,
        get_peft_model_state_dict,
        set_peft_model_state_dict,
    )

    from kindred.core.training import base_cache

    torch.set_num_threads(2)
    sha = session.model_for(session.assistant()).sha256
    base = base_cache.load_cached(shared_base_cache(), sha)
    names = ["a", "b"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # peft calls transformers' deprecated names
        model: Any = None
        for name, rank, state in zip(names, ranks, tensors, strict=True):
            config = LoraConfig(r=rank, lora_alpha=2 * rank,  # type: ignore[arg-type]
                                target_modules=["q_proj", "v_proj", "down_proj"],
                                layers_to_transform=list(LAYERS), lora_dropout=0.0,
                                bias="none", task_type="CAUSAL_LM")
            if model is None:
                model = get_peft_model(base, config, adapter_name=name)
            else:
                model.add_adapter(name, config)
            loaded = set_peft_model_state_dict(
                model, {k: torch.from_numpy(v) for k, v in state.items()}, adapter_name=name)
            assert not [k for k in loaded.unexpected_keys if "lora" in k]
        model.add_weighted_adapter(names, weights, "mix", combination_type=combination)
    mixed = get_peft_model_state_dict(model, adapter_name="mix")
    cfg = model.peft_config["mix"]
    out = {k: v.detach().numpy().astype("f4") for k, v in mixed.items()}
    return out, {"r": int(cfg.r), "lora_alpha": float(cfg.lora_alpha)}


@pytest.mark.slow
@pytest.mark.parametrize("t", [0.25, 0.5])
def test_two_runtime_adapters_equal_the_peft_cat_combination(
        session: Session, exact_engine: Engine, model_path: Path, t: float) -> None:
    engine = exact_engine
    a = make_version(session, model_path, seed=11, rank=4, layers=LAYERS, magnitude=0.08)
    b = make_version(session, model_path, seed=12, rank=8, layers=LAYERS, magnitude=0.08)
    from kindred.core.formats.peft_files import read_safetensors

    tensors = [read_safetensors(verified_path(session.store, v.id, "adapter_model.safetensors"))
               for v in (a, b)]
    mixed, cfg = peft_cat(session, tensors, [4, 8], [1 - t, t])
    assert cfg["r"] == 12  # cat stacks the ranks
    baked = archive.archive_peft(session.store, session.assistant(), mixed,
                                 lora_config(cfg["r"], cfg["lora_alpha"]), name="cat")

    engine.set_adapters([AdapterRef(a.id, verified_path(session.store, a.id), 1 - t),
                         AdapterRef(b.id, verified_path(session.store, b.id), t)])
    blend = engine.sequence_logits(engine.llm.tokenize(TEXT.encode(), add_bos=True,
                                                       special=True))
    engine.set_adapters([AdapterRef(baked.id, verified_path(session.store, baked.id), 1.0)])
    single = engine.sequence_logits(engine.llm.tokenize(TEXT.encode(), add_bos=True,
                                                        special=True))
    engine.set_adapters([AdapterRef(a.id, verified_path(session.store, a.id), 1.0)])
    a_alone = engine.sequence_logits(engine.llm.tokenize(TEXT.encode(), add_bos=True,
                                                         special=True))
    engine.set_adapters([])

    gap = float(np.abs(blend - single).max())
    moved = float(np.abs(blend - a_alone).max())
    print(f"t={t}: blend vs cat bake {gap:.2e}, blend vs A alone {moved:.2f}")
    assert moved > 0.5  # the blend really differs from A alone ...
    assert gap < 1e-2  # ... and equals the cat bake (F16 storage rounding of the weights)
    assert np.array_equal(blend.argmax(axis=1), single.argmax(axis=1))


@pytest.mark.slow
def test_linear_combination_is_not_the_blend(session: Session, exact_engine: Engine,
                                             model_path: Path) -> None:
    engine = exact_engine
    """The test above can fail: `linear` (averaging A's and B's) is not a sum of deltas."""
    a = make_version(session, model_path, seed=21, rank=4, layers=LAYERS, magnitude=0.08)
    b = make_version(session, model_path, seed=22, rank=4, layers=LAYERS, magnitude=0.08)
    from kindred.core.formats.peft_files import read_safetensors

    tensors = [read_safetensors(verified_path(session.store, v.id, "adapter_model.safetensors"))
               for v in (a, b)]
    mixed, cfg = peft_cat(session, tensors, [4, 4], [0.5, 0.5], combination="linear")
    baked = archive.archive_peft(session.store, session.assistant(), mixed,
                                 lora_config(cfg["r"], cfg["lora_alpha"]), name="linear")
    ids = engine.llm.tokenize(TEXT.encode(), add_bos=True, special=True)
    engine.set_adapters([AdapterRef(a.id, verified_path(session.store, a.id), 0.5),
                         AdapterRef(b.id, verified_path(session.store, b.id), 0.5)])
    blend = engine.sequence_logits(ids)
    engine.set_adapters([AdapterRef(baked.id, verified_path(session.store, baked.id), 1.0)])
    single = engine.sequence_logits(ids)
    engine.set_adapters([])
    assert float(np.abs(blend - single).max()) > 0.05
