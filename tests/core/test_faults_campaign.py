"""A fixed-seed subset of bench/faults.py: one SIGKILL at a random point of each writing
operation (archive, activate, retire, delete, bundle import, adapter import, ledger appends, the
schema upgrade, the rollout's start, next step, last step and roll back, and a move to another
base in the training process); after each, the home verifies, nothing was lost, the operation
happened fully or not at all, what did not happen can be done again, and a killed move resumes
to its end."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "bench" / "faults.py"


@pytest.mark.slow
def test_one_kill_in_each_writing_operation_loses_and_breaks_nothing(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("kindred_bench_faults", BENCH)
    assert spec is not None and spec.loader is not None
    faults = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = faults
    spec.loader.exec_module(faults)
    result = faults.campaign(len(faults.OPS), seed_value=1201, work=tmp_path)
    assert result["trials"] == len(faults.OPS)
    assert set(result["by_op"]) == set(faults.OPS)
    for key in ("lost", "corrupt", "half_done", "stuck"):
        assert result[key] == 0, result["problems"]
