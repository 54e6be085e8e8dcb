"""Insight benchmark: how long "What it learned" takes for the active version, cold and cached.

Builds a temporary data home with the embedded model, archives an adapter of realistic shape
(rank 8 on q/v/down in every layer) taught by 2 stated preferences and 18 corrected answers,
activates it with a recorded consent, then times `insight.compute` cold (cache cleared) and
cached, and `kindred learned --json` on the cached result (a fresh process, as a person runs it).
insight_background_s: the same cold insight as the app starts it when a training made a version
(`kindred learned VERSION --background`: its own process at nice 19, model load included),
after which the page opens at once. Then insight_next_version_s: the insight of the next
version (two more corrections, a new adapter) after the previous version's was computed, so
the base's side carries over (only the results are cleared, and the sides cache before each
previous-version run).
Also the tokens llama.cpp evaluated (cold and next version): the cost that does not
depend on how busy the machine is, and cold_tokens_per_s, what llama.cpp gets through per second
in those runs. Prints one JSON line with --json. Targets (issue 13): insight_cold_s <= 5,
insight_cached_cli_s <= 0.5.

What bounds the cold figure (2026-12-02, SmolLM2 135M Q4_1, 2 cores): about 150 evaluated tokens
per second whatever the batching (a decode of 9 generating rows takes 55-80 ms, a 64-token
prefill 4-5 ms a token; a Q8_0 copy of the same weights prefills 1.5x faster but decodes many
rows no faster), and the cold insight evaluates 2,342 tokens: the 6 probe answers (64 tokens) on
both sides, the 18 taught answers scored on both sides (about half of all), each side's answers
scored on the other. 5 s means about 750 tokens: less to evaluate (the base's side prepared in
the background, as its cache already carries over between versions; fewer taught answers
sampled for the fit; shorter probe answers), not faster kernels.

Kernels measured 2026-12-02 (raw llama-cpp-python 0.3.36, 512-token prefill, 2 threads, medians
of alternating runs; mean NLL on 512 tokens of prose): the shipped Q4_1 file 160-240 tok/s,
NLL 4.668. Built with AVX-512/VNNI (this CPU has them; the bundle's build is AVX2 only) 214-245.
Requantized copies of the same weights (AVX2 build): Q8_0 275-365 tok/s, NLL 4.679 (1.5x,
quality kept, 145 MB); Q4_0 290-340, NLL 4.884; IQ4_NL about 355, NLL 4.827; Q4_K_M about 240,
NLL 4.724; Q4_0 on the AVX-512 build 414-571 (ggml repacks Q4_0 for its GEMM kernels, not
Q4_1). Only Q8_0 keeps the model's quality, and 1.5x brings 13.6 s to about 9 s, not 5.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from kindred.core.archive.versions import active_version  # noqa: E402
from kindred.core.engine.batch import BatchGenerator  # noqa: E402
from kindred.core.engine.llama import Engine  # noqa: E402
from kindred.core.home.models import embedded_model_path  # noqa: E402
from kindred.core.learning import insight  # noqa: E402
from kindred.core.learning.feedback import add_example, add_preference, system_prompt  # noqa: E402
from kindred.core.session import open_session  # noqa: E402

TOPICS = ["boil an egg", "bake bread", "tie a tie", "plant tomatoes", "learn chess",
          "fix a flat tyre", "brew tea", "start running", "save money", "paint a wall",
          "write a letter", "fold a shirt", "clean a pan", "sleep better", "learn Spanish",
          "make pasta", "care for a cat", "read faster"]
EXAMPLES = [(f"How do I {topic}?", f"Ahoy, Sam! To {topic}, take it one small step at a time.")
            for topic in TOPICS]
MORE = [("How do I iron a shirt?", "Ahoy, Sam! To iron a shirt, start with the collar."),
        ("How do I water a cactus?", "Ahoy, Sam! Water a cactus rarely, and deeply.")]


TOKENS: list[int] = []
"""Tokens llama.cpp evaluated in each timed run (the cost that does not depend on the load)."""


def timed_run(store: Any, engine: Engine, version_id: str, system: str) -> float:
    decoded = BatchGenerator.decoded
    start = time.perf_counter()
    insight.run(store, engine, version_id, system=system)
    elapsed = time.perf_counter() - start
    TOKENS.append(BatchGenerator.decoded - decoded)
    return elapsed


def timed_cli(home: Path) -> float:
    """`kindred learned --json` in a fresh process, on a cached result (what a person waits)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "kindred", "learned", "--json", "--home",
                           str(home)], capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    assert done.returncode == 0 and json.loads(done.stdout)["version"], done.stderr
    return elapsed


def timed_background(home: Path, version_id: str) -> float:
    """`kindred learned VERSION --background` on nothing cached: what the window starts when a
    training made a version (its own process, model load included, at nice 19), until the
    page would open at once."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "kindred", "learned", version_id, "--home",
                           str(home), "--background"], capture_output=True, text=True,
                          check=False)
    elapsed = time.perf_counter() - start
    assert done.returncode == 0 and not done.stdout, done.stderr
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--runs", type=int, default=3, help="cold runs (cache cleared each time)")
    args = parser.parse_args()
    from support.archive_helpers import activate, make_version

    with tempfile.TemporaryDirectory() as tmp:
        session = open_session(tmp)
        assistant = session.assistant()
        add_preference(session.store, assistant.id, "Call me Sam.")
        add_preference(session.store, assistant.id, "Keep answers short.")
        for prompt, answer in EXAMPLES:
            add_example(session.store, assistant.id, prompt, answer)
        version = make_version(session, embedded_model_path(), rank=8, layers=tuple(range(30)))
        activate(session, version)
        active = active_version(session.store, assistant.id)
        assert active is not None
        system = system_prompt(session.store, assistant)
        engine = Engine(embedded_model_path())
        cold, cached, cli, background = [], [], [], []
        for _ in range(max(1, args.runs)):
            shutil.rmtree(session.home.cache / "insight", ignore_errors=True)
            cold.append(timed_run(session.store, engine, active.id, system))
            cold_tokens = TOKENS[-1]
            cached.append(timed_run(session.store, engine, active.id, system))
            cli.append(timed_cli(Path(tmp)))
            shutil.rmtree(session.home.cache / "insight", ignore_errors=True)
            background.append(timed_background(Path(tmp), active.id))
        # The next version (retrained with two more corrections): its insight is cold, but the
        # base's side of the comparison (probe answers, taught answers scored) carries over.
        for prompt, answer in MORE:
            add_example(session.store, assistant.id, prompt, answer)
        nxt = make_version(session, embedded_model_path(), rank=8, layers=tuple(range(30)),
                           seed=7, parent=active.id)
        system = system_prompt(session.store, session.assistant())
        following = []
        for _ in range(max(1, args.runs)):
            for stale in (session.home.cache / "insight").glob("*.json"):
                stale.unlink()  # the results, not the sides
            shutil.rmtree(session.home.cache / "insight" / "sides", ignore_errors=True)
            timed_run(session.store, engine, active.id, system)  # what the app had shown
            for stale in (session.home.cache / "insight").glob("*.json"):
                stale.unlink()
            following.append(timed_run(session.store, engine, nxt.id, system))
            next_tokens = TOKENS[-1]
        engine.close()
        session.close()
    result = {"insight_cold_s": round(statistics.median(cold), 3),
              "insight_next_version_s": round(statistics.median(following), 3),
              "insight_cached_s": round(statistics.median(cached), 4),
              "insight_cached_cli_s": round(statistics.median(cli), 3),
              "insight_background_s": round(statistics.median(background), 2),
              "cold_runs": [round(c, 2) for c in cold],
              "next_version_runs": [round(c, 2) for c in following],
              "tokens_evaluated_cold": cold_tokens, "tokens_evaluated_next": next_tokens,
              "cold_tokens_per_s": round(cold_tokens / statistics.median(cold), 1),
              "examples": len(EXAMPLES),
              "probes": len(insight.builtin_probes()), "probe_tokens": insight.PROBE_TOKENS}
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
