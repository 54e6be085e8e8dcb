"""PEFT adapter files: a strict safetensors reader and writer, and `adapter_config.json`.

The safetensors header is checked against the file before any tensor is read (every tensor's
byte range must match its dtype and shape, ranges must tile the data exactly, and the file must
be exactly that long), so a truncated file or a header that lies about sizes is refused with a
message instead of a crash. Pickle weights (`.bin`, `.pt`) are never opened: loading them can run
arbitrary code.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from kindred.core.basics.errors import KindredError

SAFETENSORS = "adapter_model.safetensors"
CONFIG = "adapter_config.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
MAX_HEADER = 16 * 1024 * 1024
MAX_CONFIG = 1024 * 1024
_DTYPES = {"F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": ("<u2", 2)}
_UNSUPPORTED_PEFT = ("use_dora", "fan_in_fan_out", "rank_pattern", "alpha_pattern",
                     "modules_to_save", "layers_pattern")


class AdapterFileError(KindredError):
    """An adapter file is damaged, lies about itself, or is in a format Kindred never loads."""


def refuse_pickle(path: Path) -> None:
    raise AdapterFileError(
        f"{path.name} is a pickle file, which can run code when loaded; Kindred never opens "
        "pickles. Save the adapter as safetensors (PEFT: save_pretrained(..., "
        "safe_serialization=True)) or convert it to a llama.cpp LoRA GGUF. Nothing was changed."
    )


def _read_header(path: Path, size: int) -> tuple[dict[str, Any], int]:
    name = path.name
    if size < 8:
        raise AdapterFileError(f"{name}: not a safetensors file (only {size} bytes).")
    with path.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        if length > min(MAX_HEADER, size - 8):
            raise AdapterFileError(
                f"{name}: damaged or truncated safetensors file (its header claims {length} "
                f"bytes; the file has {size})."
            )
        raw = handle.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise AdapterFileError(f"{name}: damaged safetensors header ({exc}).") from exc
    if not isinstance(header, dict):
        raise AdapterFileError(f"{name}: damaged safetensors header (not an object).")
    return header, 8 + length


def _check_entry(name: str, key: str, entry: Any) -> tuple[str, tuple[int, ...], int, int]:
    if not isinstance(entry, dict):
        raise AdapterFileError(f"{name}: tensor '{key}' has no description.")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in _DTYPES:
        raise AdapterFileError(
            f"{name}: tensor '{key}' has type {dtype}; adapters must be F32, F16 or BF16."
        )
    if (not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape)
            or not isinstance(offsets, list) or len(offsets) != 2
            or not all(isinstance(o, int) and o >= 0 for o in offsets)):
        raise AdapterFileError(f"{name}: tensor '{key}' has a malformed shape or offsets.")
    begin, end = offsets
    count = 1
    for dim in shape:
        count *= dim
    if end - begin != count * _DTYPES[dtype][1]:
        raise AdapterFileError(
            f"{name}: the header lies about tensor '{key}': shape {shape} of {dtype} needs "
            f"{count * _DTYPES[dtype][1]} bytes, its offsets give {end - begin}."
        )
    return dtype, tuple(shape), begin, end


def read_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file as float32 numpy arrays, after a full header check."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        refuse_pickle(path)
    if not path.is_file():
        raise AdapterFileError(f"{path}: no such file.")
    size = path.stat().st_size
    header, data_start = _read_header(path, size)
    entries = {k: _check_entry(path.name, k, v) for k, v in header.items() if k != "__metadata__"}
    if not entries:
        raise AdapterFileError(f"{path.name} holds no tensors.")
    position = 0
    for key, (_, _, begin, end) in sorted(entries.items(), key=lambda kv: kv[1][2]):
        if begin != position:
            raise AdapterFileError(
                f"{path.name}: the header lies about sizes (tensor '{key}' starts at {begin}, "
                f"expected {position})."
            )
        position = end
    if data_start + position != size:
        state = "truncated" if data_start + position > size else "has trailing bytes"
        raise AdapterFileError(
            f"{path.name}: {state} ({size} bytes; its header describes "
            f"{data_start + position})."
        )
    data = path.read_bytes()[data_start:]
    out: dict[str, np.ndarray] = {}
    for key, (dtype, shape, begin, end) in entries.items():
        raw = np.frombuffer(data, dtype=_DTYPES[dtype][0], count=(end - begin)
                            // _DTYPES[dtype][1], offset=begin)
        if dtype == "BF16":
            array = (raw.astype(np.uint32) << 16).view(np.float32)
        else:
            array = raw.astype(np.float32)
        if not np.all(np.isfinite(array)):
            raise AdapterFileError(f"{path.name}: tensor '{key}' holds NaN or infinite values.")
        out[key] = array.reshape(shape)
    return out


def write_safetensors(path: Path, tensors: Mapping[str, np.ndarray],
                      dtype: type[np.floating[Any]] = np.float32) -> None:
    """Safetensors (float32, or float16 for the archive) with sorted names (so equal tensors
    give equal bytes)."""
    from safetensors.numpy import save_file

    save_file({k: np.ascontiguousarray(tensors[k], dtype=dtype) for k in sorted(tensors)},
              str(path))


def read_config(path: Path) -> dict[str, Any]:
    """`adapter_config.json`, refused unless it is a plain LoRA llama.cpp can apply."""
    if not path.is_file():
        raise AdapterFileError(f"{path.parent.name} has no {CONFIG}.")
    if path.stat().st_size > MAX_CONFIG:
        raise AdapterFileError(f"{path.name} is implausibly large for an adapter config.")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise AdapterFileError(f"{path.name} is not valid JSON ({exc}).") from exc
    return check_config(config, path.name)


def check_config(config: Any, name: str = CONFIG) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise AdapterFileError(f"{name} is not a JSON object.")
    if str(config.get("peft_type", "")).upper() != "LORA":
        raise AdapterFileError(
            f"{name}: peft_type is {config.get('peft_type')!r}; only LoRA adapters are supported."
        )
    for key in ("r", "lora_alpha"):
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise AdapterFileError(f"{name}: '{key}' must be a positive number.")
    for key in _UNSUPPORTED_PEFT:
        if config.get(key):
            raise AdapterFileError(
                f"{name} uses '{key}', which llama.cpp adapters cannot express."
            )
    return config


def portable_config(config: Mapping[str, Any], base_name: str) -> dict[str, Any]:
    """The config as archived and exported: nothing that names this computer travels.

    PEFT records where the base model was loaded from (`base_model_name_or_path`); for a
    Kindred-trained adapter that is a folder in the data home, i.e. inside the person's home
    folder. The archive names the base by its display name (the manifest has its sha256); any
    other value that is a file path keeps only its last part."""
    out = dict(config)
    out["base_model_name_or_path"] = _last_part(base_name)
    for key, value in config.items():
        if key != "base_model_name_or_path" and isinstance(value, str) and _is_path(value):
            out[key] = _last_part(value)
    return out


def _is_path(value: str) -> bool:
    return value.startswith(("/", "~", "\\")) or (len(value) > 2 and value[1:3] in (":\\", ":/"))


def _last_part(value: str) -> str:
    return value.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] if _is_path(value) else value


def gguf_alpha(config: Mapping[str, Any]) -> float:
    """The alpha to write into the GGUF so llama.cpp's scale (alpha / r) equals PEFT's.

    rsLoRA scales by alpha / sqrt(r), so it becomes alpha * sqrt(r) in llama.cpp's terms.
    """
    alpha, rank = float(config["lora_alpha"]), float(config["r"])
    return alpha * rank ** 0.5 if config.get("use_rslora") else alpha


def tensor_rank(tensors: Mapping[str, np.ndarray]) -> int:
    """The LoRA rank, checked to be the same for every A/B pair."""
    ranks = {int(a.shape[0]) for k, a in tensors.items() if ".lora_A." in k and a.ndim == 2}
    ranks |= {int(b.shape[1]) for k, b in tensors.items() if ".lora_B." in k and b.ndim == 2}
    if len(ranks) != 1:
        raise AdapterFileError(
            f"The adapter's tensors have mixed or missing ranks {sorted(ranks)}."
        )
    return ranks.pop()
