"""Make small but real LoRA adapters for tests, shaped for the embedded model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kindred.core.formats.gguf_info import read_gguf
from kindred.core.formats.lora_gguf import peft_to_gguf_tensors, write_lora_gguf

MODULE_DIMS = {  # PEFT module -> (GGUF base tensor suffix)
    "self_attn.q_proj": "attn_q",
    "self_attn.v_proj": "attn_v",
    "mlp.down_proj": "ffn_down",
}


def peft_tensors(base_path: Path, *, rank: int = 4, layers: tuple[int, ...] = (0, 1, 2),
                 seed: int = 0, magnitude: float = 0.05) -> dict[str, np.ndarray]:
    """Random PEFT-named A/B pairs whose shapes fit the base model's tensors."""
    info = read_gguf(base_path)
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for layer in layers:
        for module, gguf_name in MODULE_DIMS.items():
            n_in, n_out = info.tensors[f"blk.{layer}.{gguf_name}.weight"]
            prefix = f"base_model.model.model.layers.{layer}.{module}"
            out[f"{prefix}.lora_A.weight"] = rng.normal(0, magnitude, (rank, n_in)).astype("f4")
            out[f"{prefix}.lora_B.weight"] = rng.normal(0, magnitude, (n_out, rank)).astype("f4")
    return out


def make_lora_gguf(base_path: Path, out: Path, *, rank: int = 4, seed: int = 0,
                   magnitude: float = 0.05, alpha: float | None = None,
                   architecture: str | None = None) -> Path:
    info = read_gguf(base_path)
    arch = architecture or info.architecture
    tensors = peft_to_gguf_tensors(
        peft_tensors(base_path, rank=rank, seed=seed, magnitude=magnitude),
        architecture=info.architecture, n_head=info.arch_int("attention.head_count") or 1,
        n_head_kv=info.arch_int("attention.head_count_kv") or 1,
    )
    write_lora_gguf(out, tensors, architecture=arch, alpha=float(alpha or rank))
    return out
