"""The project's bar as tests: ruff clean and mypy clean, with the project's own config.

Both run as `python -m TOOL` from the repo root, so they read pyproject.toml exactly as a person
running them by hand does; a failure shows the tool's output.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_ruff_is_clean() -> None:
    done = _run("ruff", "check", "app", "tests", "bench", timeout=120)
    assert done.returncode == 0, f"ruff found problems:\n{done.stdout}{done.stderr}"


@pytest.mark.slow  # ~40 s without a warm .mypy_cache (PySide6's stubs are large)
def test_mypy_is_clean() -> None:
    done = _run("mypy", timeout=600)
    assert done.returncode == 0, f"mypy found problems:\n{done.stdout}{done.stderr}"
    assert "Success" in done.stdout, done.stdout
