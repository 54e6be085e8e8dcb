"""Conversion equivalence: the archived llama.cpp adapter on the quantized base behaves like the
PEFT adapter on the dequantized base it was trained on (a real adapter from the real trainer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kindred.core.archive.objects import peft_folder, verified_path
from kindred.core.engine.llama import AdapterRef, Engine
from kindred.core.formats.gguf_info import read_gguf
from kindred.core.formats.lora_gguf import peft_to_gguf_tensors, write_lora_gguf
from kindred.core.formats.peft_files import read_safetensors
from kindred.core.learning.dataset import Example
from kindred.core.session import Session
from kindred.core.training.tokens import ChatTokenizer
from support.training_helpers import PIRATE, add_examples, fast_config, peft_model, train_version

TEXT = [{"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Where do ships go at night, and why?"},
        {"role": "assistant", "content": "Ahoy, matey! Ships rest in the harbour at night, "
                                         "safe from the storms and the rocks, arr!"},
        {"role": "user", "content": "What should I pack for a long trip to the mountains?"},
        {"role": "assistant", "content": "Pack warm layers, sturdy boots, a rain jacket, a "
                                         "map, water, some snacks and a small first aid kit. "
                                         "Tell someone where you are going before you leave."},
        {"role": "user", "content": "Can you explain how a bicycle stays upright?"},
        {"role": "assistant", "content": "A moving bicycle stays upright mostly because the "
                                         "rider keeps steering the front wheel under the centre "
                                         "of mass. The shape of the fork also turns the wheel "
                                         "into a lean by itself, and the spinning wheels add a "
                                         "little stability. When it stops moving, it falls."},
        {"role": "user", "content": "Write a short note to thank a friend for dinner."},
        {"role": "assistant", "content": "Dear Anna, thank you so much for the lovely dinner "
                                         "last night. The soup was wonderful and I enjoyed our "
                                         "long talk. Next time, dinner is at my place!"}]


def llama_logits(engine: Engine, ids: list[int]) -> np.ndarray:
    """Logits at every position from llama.cpp, one token at a time (KV cache kept)."""
    import llama_cpp

    llm = engine.llm
    llm.reset()
    out = []
    for token in ids:
        llm.eval([token])
        ptr = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
        out.append(np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).copy())
    llm.reset()
    return np.stack(out)


def agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(share of positions with the same argmax, correlation of all logits)."""
    same = float(np.mean(a.argmax(-1) == b.argmax(-1)))
    return same, float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.slow
def test_llama_cpp_adapter_matches_peft(session: Session, engine: Engine, model_path: Path,
                                        tmp_path: Path) -> None:
    import torch

    add_examples(session, PIRATE)
    version = train_version(session, fast_config(steps=10, lr=4e-3,
                                                 targets=("q_proj", "k_proj", "v_proj",
                                                          "down_proj")))
    with ChatTokenizer(model_path) as tokenizer:
        ids = tokenizer.encode(Example("correction", 0, TEXT)).ids
    peft = peft_model(session, version)
    with torch.no_grad():
        x = torch.tensor([ids])
        adapted = peft(input_ids=x).logits[0].float().numpy()
        with peft.disable_adapter():
            bare = peft(input_ids=x).logits[0].float().numpy()

    # the ported tensors without llama's q/k row permutation: a conversion that is subtly wrong
    info = read_gguf(model_path)
    tensors = read_safetensors(peft_folder(session.store, version) / "adapter_model.safetensors")
    unpermuted = tmp_path / "unpermuted.gguf"
    write_lora_gguf(unpermuted, peft_to_gguf_tensors(tensors, architecture="no-permutation",
                                                     n_head=9, n_head_kv=3),
                    architecture=info.architecture, alpha=fast_config().alpha)
    try:
        base_same, base_corr = agreement(llama_logits(engine, ids), bare)
        engine.set_adapters([AdapterRef(version, verified_path(session.store, version))])
        converted = llama_logits(engine, ids)
        engine.set_adapters([AdapterRef("wrong", unpermuted)])
        wrong = llama_logits(engine, ids)
    finally:
        engine.set_adapters([])
    same, corr = agreement(converted, adapted)
    assert same >= 0.95 and corr >= 0.99, (same, corr)
    # the test can tell: the adapter really changes the logits, and a wrong port is caught
    assert agreement(bare, adapted)[1] < corr
    wrong_same, wrong_corr = agreement(wrong, adapted)
    # (how far off depends on how many layers the adapter changes: by far more than the right one)
    assert wrong_same < same and 1 - wrong_corr > 5 * (1 - corr), (wrong_same, wrong_corr,
                                                                    same, corr)
    print(f"{len(ids)} positions: argmax agreement {same:.3f}, corr {corr:.4f} (bare base: "
          f"{base_same:.3f}, {base_corr:.4f}); base-vs-adapter corr "
          f"{agreement(bare, adapted)[1]:.4f}; unpermuted {wrong_same:.3f}/{wrong_corr:.4f}")
