"""The llama.cpp GGUF of a format-2 version, derived from its one stored copy of the weights.

Format 1 stored every version's weights twice, in fp32 (PEFT safetensors and adapter.gguf:
19.6 MB for the default adapter). Format 2 stores them once, in fp16 safetensors (a quarter of
that; llama.cpp's own logits move by its noise level and the top token stays, see the tests), and
the manifest records how to derive the GGUF (`gguf`: architecture, heads, alpha, metadata) and the
derived file's sha256. The GGUF is rebuilt into `cache/adapters/` when missing; a cached file is
used only if it still has that sha256, otherwise it is rebuilt from the verified weights.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from kindred.core.basics.hashing import sha256_file
from kindred.core.basics.ids import VersionId
from kindred.core.formats.lora_gguf import peft_to_gguf_tensors, write_lora_gguf
from kindred.core.formats.peft_files import SAFETENSORS, read_safetensors, write_safetensors
from kindred.core.home.paths import DataHome

GGUF = "adapter.gguf"
CACHE = "adapters"
DTYPES: dict[str, type[np.floating[Any]]] = {"F16": np.float16, "F32": np.float32}


def half(tensors: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], str]:
    """The tensors in fp16, or in fp32 if a value would not survive the cast (overflow)."""
    cast = {k: np.asarray(v, dtype=np.float16) for k, v in tensors.items()}
    if all(np.all(np.isfinite(v)) for v in cast.values()):
        return cast, "F16"
    return {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}, "F32"


def write_gguf(target: Path, tensors: dict[str, np.ndarray], spec: dict[str, Any]) -> None:
    """Write the GGUF `spec` (a manifest's `gguf` entry, sha256 aside) describes."""
    converted = peft_to_gguf_tensors(tensors, architecture=spec["architecture"],
                                     n_head=int(spec["n_head"]), n_head_kv=int(spec["n_head_kv"]))
    write_lora_gguf(target, converted, architecture=spec["architecture"],
                    alpha=float(spec["alpha"]), metadata=dict(spec.get("metadata") or {}),
                    dtype=DTYPES[spec["dtype"]])


def write_weights(work: Path, tensors: Mapping[str, np.ndarray], *, architecture: str,
                  n_head: int, n_head_kv: int, alpha: float, metadata: dict[str, str]
                  ) -> dict[str, Any]:
    """Write the weights once (fp16 safetensors) into `work`, derive `work/adapter.gguf` from
    exactly what was written, and return the manifest entries that pin both."""
    stored, dtype = half(dict(tensors))
    write_safetensors(work / SAFETENSORS, stored, DTYPES[dtype])
    spec: dict[str, Any] = {"architecture": architecture, "n_head": n_head,
                            "n_head_kv": n_head_kv, "alpha": float(alpha),
                            "metadata": dict(metadata), "dtype": dtype}
    write_gguf(work / GGUF, read_safetensors(work / SAFETENSORS), spec)
    spec["sha256"] = sha256_file(work / GGUF)
    return {"weights": {"dtype": dtype}, "gguf": spec}


def keep_derived(home: DataHome, version_id: VersionId, built: Path) -> None:
    """Move a GGUF just derived at archiving time into the cache (not part of the version)."""
    target = cache_path(home, version_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(built, target)


def drop_derived(home: DataHome, version_id: VersionId) -> None:
    cache_path(home, version_id).unlink(missing_ok=True)


def cache_path(home: DataHome, version_id: VersionId) -> Path:
    return home.cache / CACHE / f"{version_id}.gguf"


def derived_gguf(home: DataHome, version_id: VersionId, folder: Path, spec: dict[str, Any]) -> Path:
    """The version's GGUF, built from `folder`'s weights (verified by the caller) if needed."""
    path = cache_path(home, version_id)
    if path.is_file() and sha256_file(path) == spec["sha256"]:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        write_gguf(partial, read_safetensors(folder / SAFETENSORS), spec)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def folder_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.is_dir() else 0


def disk_usage(home: DataHome) -> dict[str, int]:
    """Bytes on disk: the archive's versions and datasets, and the rebuildable caches."""
    return {"versions": folder_bytes(home.objects), "datasets": folder_bytes(home.datasets),
            "cache": folder_bytes(home.cache)}
