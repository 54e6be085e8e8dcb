"""The base model for training: the GGUF dequantized by transformers, cached in fp16.

Dequantizing a GGUF through transformers takes ~16 s for SmolLM2; the result is saved once as
fp16 safetensors under `cache/bases/<base sha256>/` (half of fp32: 269 MB instead of 538 MB for
SmolLM2; the 4-bit weights lose nothing that matters in fp16's 11-bit mantissa) and upcast to
fp32 on load (~0.3 s). The model of the first run is rounded the same way, so every run trains
on the same weights. A format-1 cache (fp32) still loads as it is.
The cache is rebuildable and written atomically (built in a scratch folder, then renamed), so a
killed process never leaves a half-written cache that would later be trusted. Only safetensors
are ever loaded; nothing is downloaded (local files only).

Imported only in the training process (it imports torch inside its functions).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

from kindred.core.basics.errors import KindredError
from kindred.core.home.atomic import process_alive

CACHE_FORMAT = "kindred-base-cache/2"  # 1: fp32 weights; 2: fp16 weights, upcast on load
WEIGHTS = "model.safetensors"
PARTIAL = ".partial"
STALE_AFTER_S = 24 * 3600.0
"""A scratch folder whose writer's process id is alive is left alone until it is this old (the
id may have been reused)."""


def _quiet_transformers() -> None:
    """No progress bars or advice on stderr: the training process speaks in JSON lines."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


def cache_dir(cache_root: Path, base_sha256: str) -> Path:
    return cache_root / "bases" / base_sha256


def is_cached(cache_root: Path, base_sha256: str) -> bool:
    folder = cache_dir(cache_root, base_sha256)
    return (folder / WEIGHTS).is_file() and (folder / "kindred.json").is_file()


def load_from_gguf(gguf_path: Path) -> Any:
    """Dequantize a GGUF with transformers (slow); raises a clear error if it cannot."""
    import torch
    from transformers import AutoModelForCausalLM

    _quiet_transformers()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # library deprecation chatter is not the user's
            return AutoModelForCausalLM.from_pretrained(
                str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32,
                local_files_only=True)
    except (ValueError, KeyError, RuntimeError, OSError, NotImplementedError) as exc:
        raise KindredError(f"transformers cannot load {gguf_path.name} for training: {exc}. "
                           "Nothing was changed.") from exc


def clean_stale(cache_root: Path) -> list[str]:
    """Remove the scratch folders of cache builds whose process died (a SIGKILL, a power cut
    skips the cleanup in `save_cache`): each holds up to a model's size in fp16 that nothing
    will ever read. A build still going (its process alive) is kept. Returns the names
    removed."""
    folder = cache_root / "bases"
    removed: list[str] = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        if not (entry.name.startswith(".") and entry.name.endswith(PARTIAL)):
            continue
        parts = entry.name[1: -len(PARTIAL)].split("-")
        try:
            pid = int(parts[1])
        except (IndexError, ValueError):
            pid = 0
        try:
            age = time.time() - entry.lstat().st_mtime
        except FileNotFoundError:  # its writer just finished or cleaned up
            continue
        if pid > 0 and process_alive(pid) and age < STALE_AFTER_S:
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry.name)
    return removed


def save_cache(model: Any, cache_root: Path, base_sha256: str) -> Path:
    """Write the dequantized weights (fp16) and config (without the GGUF quantization marker)."""
    final = cache_dir(cache_root, base_sha256)
    clean_stale(cache_root)
    work = final.parent / f".{base_sha256[:16]}-{os.getpid()}-{uuid.uuid4().hex[:8]}{PARTIAL}"
    work.mkdir(parents=True)
    try:
        _save_half(model, work / WEIGHTS)
        config = model.config.to_dict()
        config.pop("quantization_config", None)
        (work / "config.json").write_text(json.dumps(config, indent=1))
        (work / "kindred.json").write_text(json.dumps({"format": CACHE_FORMAT,
                                                       "base_sha256": base_sha256,
                                                       "dtype": "float16"}))
        if final.exists():
            shutil.rmtree(final)
        os.replace(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return final


def _save_half(model: Any, path: Path) -> None:
    """Save the parameters in fp16 (buffers such as rotary frequencies stay as they are) and
    leave the model on the same fp16-rounded values, in fp32, so a first run trains on exactly
    what later runs load."""
    import torch
    from safetensors.torch import save_model

    with torch.no_grad():
        for param in model.parameters():  # tied weights are one parameter: rounded once
            param.data = param.data.to(torch.float16)
        try:
            save_model(model, str(path))
        finally:
            for param in model.parameters():
                param.data = param.data.to(torch.float32)


def load_cached(cache_root: Path, base_sha256: str) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    _quiet_transformers()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AutoModelForCausalLM.from_pretrained(
            str(cache_dir(cache_root, base_sha256)), dtype=torch.float32, use_safetensors=True,
            local_files_only=True)


def import_architecture(architecture: str) -> None:
    """Import the model's code up front (transformers imports it lazily, which takes seconds),
    so that `load_s` measures loading the weights only, the same way for both paths."""
    import importlib

    from transformers import AutoModelForCausalLM  # noqa: F401

    name = {"llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3", "gemma3": "gemma3"
            }.get(architecture)
    if name is not None:
        importlib.import_module(f"transformers.models.{name}.modeling_{name}")


def load_base(gguf_path: Path, base_sha256: str, cache_root: Path, architecture: str = ""
              ) -> tuple[Any, dict[str, Any]]:
    """The fp32 base model, from the cache when possible. Returns (model, timing info)."""
    began = time.perf_counter()
    import_architecture(architecture)
    start = time.perf_counter()
    code_s = start - began
    if is_cached(cache_root, base_sha256):
        try:
            model = load_cached(cache_root, base_sha256)
            return model, {"cached": True, "load_s": time.perf_counter() - start,
                           "code_import_s": code_s}
        except (OSError, ValueError, RuntimeError):
            shutil.rmtree(cache_dir(cache_root, base_sha256), ignore_errors=True)  # rebuild it
    model = load_from_gguf(gguf_path)
    loaded = time.perf_counter() - start
    save_cache(model, cache_root, base_sha256)
    return model, {"cached": False, "load_s": loaded, "code_import_s": code_s,
                   "cache_write_s": time.perf_counter() - start - loaded}
