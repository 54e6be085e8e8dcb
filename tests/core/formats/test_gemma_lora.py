"""A LoRA made with PEFT on Gemma 3 (architecture gemma3) acts the same in llama.cpp after
Kindred's conversion: no q/k row permutation (that is llama's layout only), same tensor names.

Checked once by hand against llama.cpp's own convert_lora_to_gguf.py on a LoRA trained 8 steps
on Gemma 3 270M: the same 252 tensors, names, shapes and values (max difference 0) and alpha;
the logit change it causes correlates 0.997 between PEFT and llama.cpp, same top token.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from kindred.core.engine.llama import AdapterRef, Engine
from kindred.core.formats.gguf_info import read_gguf
from kindred.core.formats.lora_gguf import peft_to_gguf_tensors, write_lora_gguf
from support.bases import gemma_base_cache, gemma_expected_sha256

MODULES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
           "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
           "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}


def gemma_peft_tensors(path: Path, layers: tuple[int, ...] = (0, 5, 11),
                       rank: int = 4) -> dict[str, np.ndarray]:
    info = read_gguf(path)
    rng = np.random.default_rng(7)
    out: dict[str, np.ndarray] = {}
    for layer in layers:
        for module, name in MODULES.items():
            n_in, n_out = info.tensors[f"blk.{layer}.{name}.weight"]
            prefix = f"base_model.model.model.layers.{layer}.{module}"
            out[f"{prefix}.lora_A.weight"] = rng.normal(0, 0.05, (rank, n_in)).astype("f4")
            out[f"{prefix}.lora_B.weight"] = rng.normal(0, 0.05, (n_out, rank)).astype("f4")
    return out


def test_gemma_names_follow_llama_cpp_and_are_not_permuted(gemma_model_path: Path) -> None:
    import gguf

    tensors = gemma_peft_tensors(gemma_model_path, layers=(3,))
    converted = peft_to_gguf_tensors(tensors, architecture="gemma3", n_head=4, n_head_kv=1)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GEMMA3, 18)
    for module, short in MODULES.items():
        assert names.get_name(f"model.layers.3.{module}") == f"blk.3.{short}"
        b = tensors[f"base_model.model.model.layers.3.{module}.lora_B.weight"]
        assert np.array_equal(converted[f"blk.3.{short}.weight.lora_b"], b)


@pytest.mark.slow
def test_gemma_lora_moves_llama_cpp_logits_as_peft_does(gemma_model_path: Path,
                                                        tmp_path: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from peft.utils import set_peft_model_state_dict

    from kindred.core.training import base_cache

    torch.set_num_threads(2)
    tensors = gemma_peft_tensors(gemma_model_path)
    deltas = {}
    engine = Engine(gemma_model_path, n_ctx=256)
    try:
        ids = engine.llm.tokenize(b"User: Recommend a book.\nAssistant:", add_bos=True)
        base_cpp = engine.sequence_logits(ids)[-1]
        # Kindred's conversion, and the llama layout (q/k rows permuted) as a control
        for arch in ("gemma3", "llama"):
            adapter = tmp_path / f"{arch}.gguf"
            write_lora_gguf(adapter, peft_to_gguf_tensors(tensors, architecture=arch, n_head=4,
                                                          n_head_kv=1),
                            architecture="gemma3", alpha=8.0)
            engine.set_adapters([AdapterRef(arch, adapter, 1.0)])
            deltas[arch] = engine.sequence_logits(ids)[-1] - base_cpp
    finally:
        engine.close()

    base = base_cache.load_cached(gemma_base_cache(), gemma_expected_sha256())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # peft's deprecation chatter about transformers
        model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=[
            m.split(".")[-1] for m in MODULES], lora_dropout=0.0))
    state = {k.replace("base_model.model.", "", 1): torch.from_numpy(v)
             for k, v in tensors.items()}
    result = set_peft_model_state_dict(model, {f"base_model.model.{k}": v
                                               for k, v in state.items()})
    assert not [k for k in result.unexpected_keys if "lora" in k]
    model.eval()
    with torch.no_grad():
        adapted = model(input_ids=torch.tensor([ids])).logits[0, -1].numpy()
        with model.disable_adapter():
            plain = model(input_ids=torch.tensor([ids])).logits[0, -1].numpy()
    delta_torch = adapted - plain
    right = np.corrcoef(deltas["gemma3"], delta_torch)[0, 1]
    permuted = np.corrcoef(deltas["llama"], delta_torch)[0, 1]
    assert right > 0.9 and right > permuted + 0.1, (right, permuted)
    top = np.argsort(-delta_torch)[:20]  # what PEFT promotes most, llama.cpp promotes too
    assert (deltas["gemma3"][top] > 0).mean() >= 0.9
