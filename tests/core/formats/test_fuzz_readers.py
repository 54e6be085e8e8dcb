"""The readers of outside data under structure-aware fuzzing (bench/fuzz.py, fixed seed): GGUF,
safetensors, adapter_config.json, bundles and training progress lines either parse or raise
Kindred's clear error; no other exception, no hang."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).parents[3] / "bench" / "fuzz.py"


def _fuzz() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kindred_bench_fuzz", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_600_mutated_inputs_give_no_crash_and_no_hang(tmp_path: Path) -> None:
    result = _fuzz().campaign(600, seed_value=20261201, work=tmp_path)
    assert result["cases"] >= 500
    assert set(result["by_kind"]) == {"gguf", "safetensors", "config", "bundle", "progress"}
    assert result["crashes"] == 0, result["examples"]
    assert result["hangs"] == 0, result["examples"]


def test_a_lying_gguf_header_is_refused_before_allocating(tmp_path: Path) -> None:
    """A header that claims 10^12 tensors, or a 1 TB string, is refused at once."""
    import struct

    from kindred.core.formats.gguf_info import InvalidGGUFError, read_gguf

    fuzz = _fuzz()
    seed = fuzz.gguf_seed()
    for offset in (seed.u64[0], seed.u64[2]):  # the tensor count, the first key's length
        raw = bytearray(seed.data)
        raw[offset:offset + 8] = struct.pack("<Q", 10**12)
        path = tmp_path / "lying.gguf"
        path.write_bytes(bytes(raw))
        with pytest.raises(InvalidGGUFError):
            read_gguf(path)
