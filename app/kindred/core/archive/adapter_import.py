"""Importing an outside LoRA adapter as a candidate version of an assistant.

Accepted: a PEFT folder (`adapter_config.json` + `adapter_model.safetensors`) or a llama.cpp LoRA
GGUF. Both are checked against the assistant's base model (architecture, module names, shapes)
before anything is written, then archived through the same path as trained versions, so the
imported version has all three files and verifies like any other. Pickle weights are refused
without being opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kindred.core.archive import objects as archive
from kindred.core.archive.versions import Version
from kindred.core.formats.adapters_check import AdapterMismatchError, check_adapter_fits
from kindred.core.formats.gguf_info import GGUF_MAGIC, read_gguf
from kindred.core.formats.lora_gguf import LoraFormatError, gguf_to_peft_tensors, read_lora_gguf
from kindred.core.formats.peft_files import (
    CONFIG,
    PICKLE_SUFFIXES,
    SAFETENSORS,
    AdapterFileError,
    read_config,
    read_safetensors,
    refuse_pickle,
    tensor_rank,
)
from kindred.core.home.assistants import Assistant
from kindred.core.home.models import get_model
from kindred.core.home.store import Store

_PEFT_MODULES = {"attn_q": "q_proj", "attn_k": "k_proj", "attn_v": "v_proj",
                 "attn_output": "o_proj", "ffn_gate": "gate_proj", "ffn_up": "up_proj",
                 "ffn_down": "down_proj"}


@archive.says_nothing_changed
def import_adapter(store: Store, assistant: Assistant, path: str | Path, *,
                   parent: str | None = None) -> Version:
    """Check an outside adapter against the assistant's base and archive it as a candidate."""
    path = Path(path).expanduser()
    if not path.exists():
        raise AdapterFileError(f"{path}: no such file or folder. Nothing was changed.")
    if path.is_dir():
        tensors, config = _read_peft_folder(path)
        fmt = "peft"
    elif path.suffix.lower() in PICKLE_SUFFIXES:
        refuse_pickle(path)
    elif path.suffix.lower() == ".safetensors":
        tensors, config = _read_peft_folder(path.parent, weights=path)
        fmt = "peft"
    else:
        with path.open("rb") as handle:
            magic = handle.read(4)
        if magic != GGUF_MAGIC:
            raise AdapterFileError(
                f"{path.name} is neither a PEFT adapter folder nor a llama.cpp LoRA GGUF. "
                "Nothing was changed."
            )
        tensors, config = _read_gguf_adapter(store, assistant, path)
        fmt = "gguf"
    return archive.archive_peft(
        store, assistant, tensors, config, source="imported", parent=parent, name=path.name,
        training={"imported_from": path.name, "format": fmt},
        imported={"from": path.name, "format": fmt})


def _read_peft_folder(folder: Path, weights: Path | None = None
                      ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    weights = weights or folder / SAFETENSORS
    if not weights.is_file():
        pickles = sorted(p for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
        if pickles:
            refuse_pickle(pickles[0])
        raise AdapterFileError(
            f"{folder.name} has no {SAFETENSORS}; a PEFT adapter folder needs it and "
            f"{CONFIG}. Nothing was changed."
        )
    config = read_config(folder / CONFIG)
    return read_safetensors(weights), config


def _read_gguf_adapter(store: Store, assistant: Assistant, path: Path
                       ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    info = read_gguf(path)
    model = get_model(store, assistant.model_id)
    base = read_gguf(model.path)
    if info.file_type != "adapter":
        raise AdapterMismatchError(
            f"{path.name} is a {info.file_type} GGUF (a base model?), not a LoRA adapter. "
            "Nothing was changed."
        )
    check_adapter_fits(info, base)
    try:
        gguf_tensors, alpha = read_lora_gguf(path)
    except (ValueError, KeyError, IndexError, OSError) as exc:
        raise AdapterFileError(f"{path.name}: damaged adapter GGUF ({exc}).") from exc
    for name, array in gguf_tensors.items():
        expected = tuple(reversed(info.tensors[name]))
        if array.shape != expected:
            raise AdapterFileError(
                f"{path.name}: tensor '{name}' is stored in a type Kindred cannot read "
                "(quantized adapters are not supported; use F32 or F16). Nothing was changed."
            )
        if not np.all(np.isfinite(array)):
            raise AdapterFileError(f"{path.name}: tensor '{name}' holds NaN or infinite values.")
    if not np.isfinite(alpha) or alpha <= 0:
        raise AdapterFileError(f"{path.name}: adapter.lora.alpha must be a positive number.")
    try:
        tensors = gguf_to_peft_tensors(
            gguf_tensors, architecture=base.architecture,
            n_head=base.arch_int("attention.head_count") or 1,
            n_head_kv=base.arch_int("attention.head_count_kv")
            or base.arch_int("attention.head_count") or 1)
    except LoraFormatError as exc:
        raise AdapterMismatchError(f"{path.name}: {exc} Nothing was changed.") from exc
    modules = sorted({_PEFT_MODULES[n.split(".")[2]] for n in gguf_tensors})
    config = {"peft_type": "LORA", "r": tensor_rank(tensors), "lora_alpha": float(alpha),
              "target_modules": modules, "task_type": "CAUSAL_LM", "bias": "none",
              "lora_dropout": 0.0, "inference_mode": True,
              "base_model_name_or_path": model.name}
    return tensors, config
