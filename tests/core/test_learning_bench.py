"""The learning benchmark's opening scenario, end to end, with loose bounds: a candidate taught
eight one-line answers opening with one word learns it on new requests as the teacher (the base
with those answers in mind) shows it, and stays itself (real model, real training with the
default settings, real quality measurement)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
BENCH = Path(__file__).resolve().parents[2] / "bench" / "learning.py"


def _bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_learning", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_learning"] = module
    spec.loader.exec_module(module)
    return module


def test_the_opening_scenario_learns_the_voice_and_keeps_the_base(tmp_path: Path) -> None:
    result = _bench().run_scenario("opening", tmp_path)
    assert result["style_share_teacher"] >= 0.5, result
    assert result["style_share"] >= 0.5 * result["style_share_teacher"], result
    assert result["style_share_base"] == 0, result
    assert result["facts_candidate"] >= result["facts_base"] - 3, result
    # issue 22's target is 0.6; one-line examples still shorten open answers (0.34 measured on
    # 2026-12-07): this bound catches a collapse, not the target
    assert result["open_length_ratio"] >= 0.25, result
    assert result["repetition_candidate"] <= result["repetition_base"] + 0.1, result
    assert result["replayed"] >= 10 and result["steps"] >= 8, result
    assert result["card_teacher_shows"] and result["card_share"] > 0, result
