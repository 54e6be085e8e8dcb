"""The training cache of the base: fp16 on disk (half of fp32), fp32 in memory, the same
weights for the first run and every later one; an fp32 cache from before still loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def tiny_model():  # type: ignore[no-untyped-def]
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         tie_word_embeddings=True)
    return LlamaForCausalLM(config).float()


@pytest.mark.slow
def test_cache_is_fp16_on_disk_and_fp32_after_loading(tmp_path: Path) -> None:
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_model

    from kindred.core.training import base_cache

    model = tiny_model()
    original = {k: v.clone() for k, v in model.state_dict().items()}
    folder = base_cache.save_cache(model, tmp_path, "ab" * 32)
    with safe_open(str(folder / base_cache.WEIGHTS), "pt") as handle:
        assert {handle.get_slice(k).get_dtype() for k in handle.keys()} == {"F16"}  # noqa: SIM118
    assert json.loads((folder / "kindred.json").read_text())["format"].endswith("/2")
    loaded = base_cache.load_cached(tmp_path, "ab" * 32)
    for name, value in loaded.state_dict().items():
        assert value.dtype == torch.float32
        assert torch.equal(value, original[name].half().float())  # exactly fp16's rounding
        assert torch.equal(model.state_dict()[name], value)  # the first run trains on the same
    ids = torch.tensor([[1, 5, 9, 3]])
    assert torch.allclose(loaded(ids).logits, tiny_model()(ids).logits, atol=2e-2)
    # a format-1 cache (fp32), as written before, still loads as it is
    old = tiny_model()
    save_model(old, str(folder / base_cache.WEIGHTS))
    again = base_cache.load_cached(tmp_path, "ab" * 32)
    assert all(torch.equal(v, old.state_dict()[k]) for k, v in again.state_dict().items())
