"""The learning benchmark's figures: medians of the seeds, base / teacher / candidate side by side.
(Its scenarios train for real, a few minutes each: they are the benchmark's, not the suite's; the
suite trains a spread style and checks the pieces of the method in tests/core/learning.)"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench" / "learning.py"


def _bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_learning", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_learning"] = module
    spec.loader.exec_module(module)
    return module


def test_the_figures_are_medians_of_the_seeds_base_teacher_and_candidate_side_by_side() -> None:
    bench = _bench()
    one = {"scenario": "lists", "kind": "a format (lists)", "style_share_base": 0.18,
           "style_share_teacher": 0.91, "style_share": 1.0, "recall": None,
           "facts_base": 8, "facts_candidate": 9, "open_length_ratio": 0.52,
           "open_length_ratio_teacher": 0.4, "brevity_taught": False, "repetition_base": 0.017,
           "repetition_candidate": 0.0, "time_to_candidate_s": 291.0,
           "cpu_to_candidate_s": 120.0, "load": 8.5}
    runs = [{**one, "seed": 0}, {**one, "seed": 1, "open_length_ratio": 0.7, "style_share": 0.5},
            {**one, "seed": 2, "open_length_ratio": 0.65, "style_share": 0.95}]
    out = bench.median_of(runs)
    assert out["seeds"] == [0, 1, 2] and out["open_length_ratio"] == 0.65
    assert out["style_share"] == 0.95 and [s["style_share"] for s in out["per_seed"]] == [
        1.0, 0.5, 0.95]
    assert out["targets"] == {"style": True, "facts": True, "open_length": True,
                              "repetition": True, "time": False, "time_on_idle_cores": True}
    assert "| lists | 0.18 / 0.91 / 0.95 |" in bench.row(out)
    # seeds run side by side (one per line) combine into the same medians
    lines = [bench.median_of([r]) for r in runs]
    table = bench.combine(lines).splitlines()
    assert table[0] == bench.TABLE and len(table) == 3
    assert table[2].startswith("| lists (seeds 0, 1, 2) | 0.18 / 0.91 / 0.95 |")
    assert "0.65 (teacher 0.40)" in table[2] and table[2].endswith("| time |")
