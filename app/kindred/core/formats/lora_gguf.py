"""PEFT LoRA tensors <-> llama.cpp LoRA GGUF (numpy only: no torch).

llama.cpp stores the llama architecture's q and k weights with rows permuted per head (for its
rope layout), so lora_B of q_proj and k_proj gets the same row permutation; A is unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from kindred.core.basics.errors import KindredError

_MODULES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_GGUF_MODULES = {v: k for k, v in _MODULES.items()}
_PEFT_NAME = re.compile(
    r"^(?:base_model\.model\.)?model\.layers\.(\d+)\.(\w+\.\w+)\.lora_([AB])(?:\.default)?\.weight$"
)
_GGUF_NAME = re.compile(r"^blk\.(\d+)\.(\w+)\.weight\.lora_([ab])$")


class LoraFormatError(KindredError):
    """Tensors that are not a LoRA adapter Kindred can convert."""


def permute_rows(weights: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's q/k row order: per head, interleave the two rope halves."""
    out = weights.shape[0]
    if out % (2 * n_head):
        raise LoraFormatError(f"{out} rows do not split into {n_head} heads.")
    return (weights.reshape(n_head, 2, out // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def unpermute_rows(weights: np.ndarray, n_head: int) -> np.ndarray:
    out = weights.shape[0]
    return (weights.reshape(n_head, out // n_head // 2, 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def peft_to_gguf_tensors(tensors: Mapping[str, np.ndarray], *, architecture: str, n_head: int,
                         n_head_kv: int) -> dict[str, np.ndarray]:
    """Rename PEFT tensors to llama.cpp's names, permuting q/k B rows for llama."""
    out: dict[str, np.ndarray] = {}
    for name, value in tensors.items():
        match = _PEFT_NAME.match(name)
        if not match or match.group(2) not in _MODULES:
            raise LoraFormatError(f"Unexpected tensor '{name}' in the adapter.")
        layer, module, half = match.groups()
        array = np.ascontiguousarray(value, dtype=np.float32)
        if array.ndim != 2:
            raise LoraFormatError(f"Tensor '{name}' is not a matrix.")
        if half == "B" and architecture == "llama" and module in ("self_attn.q_proj",
                                                                  "self_attn.k_proj"):
            heads = n_head if module == "self_attn.q_proj" else n_head_kv
            array = np.ascontiguousarray(permute_rows(array, heads))
        out[f"blk.{layer}.{_MODULES[module]}.weight.lora_{half.lower()}"] = array
    return out


def gguf_to_peft_tensors(tensors: Mapping[str, np.ndarray], *, architecture: str, n_head: int,
                         n_head_kv: int) -> dict[str, np.ndarray]:
    """The inverse of `peft_to_gguf_tensors` (for importing llama.cpp adapters)."""
    out: dict[str, np.ndarray] = {}
    for name, value in tensors.items():
        match = _GGUF_NAME.match(name)
        if not match or match.group(2) not in _GGUF_MODULES:
            raise LoraFormatError(f"Unexpected tensor '{name}' in the adapter.")
        layer, module, half = match.groups()
        peft_module = _GGUF_MODULES[module]
        array = np.asarray(value, dtype=np.float32)
        if half == "b" and architecture == "llama" and module in ("attn_q", "attn_k"):
            heads = n_head if module == "attn_q" else n_head_kv
            array = unpermute_rows(array, heads)
        key = f"base_model.model.model.layers.{layer}.{peft_module}.lora_{half.upper()}.weight"
        out[key] = np.ascontiguousarray(array)
    return out


def write_lora_gguf(path: str | Path, tensors: Mapping[str, np.ndarray], *, architecture: str,
                    alpha: float, metadata: Mapping[str, str] | None = None,
                    dtype: type[np.floating[Any]] = np.float32) -> None:
    """Write llama.cpp-named LoRA tensors (see `peft_to_gguf_tensors`) as an adapter GGUF
    (F32, or F16: llama.cpp applies F16 LoRA tensors as they are)."""
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), architecture)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(alpha))
    for key, value in (metadata or {}).items():
        writer.add_string(key, value)
    for name in sorted(tensors):
        writer.add_tensor(name, np.ascontiguousarray(tensors[name], dtype=dtype))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def read_lora_gguf(path: str | Path) -> tuple[dict[str, np.ndarray], float]:
    """llama.cpp-named tensors (numpy, PEFT orientation) and alpha from an adapter GGUF."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path), "r")
    alpha_field = reader.fields.get("adapter.lora.alpha")
    if alpha_field is None:
        raise LoraFormatError(f"{Path(path).name} has no adapter.lora.alpha.")
    alpha = float(alpha_field.parts[alpha_field.data[0]][0])
    tensors = {t.name: np.array(t.data, dtype=np.float32) for t in reader.tensors}
    return tensors, alpha
