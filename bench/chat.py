"""Chat benchmark: Kindred's engine against raw llama-cpp-python, in the same run.

Prints one JSON line (with --json) or a short report:
- decode_ratio: app decode tok/s / raw llama-cpp-python decode tok/s (same model, prompt, greedy,
  threads), median of alternating runs;
- switch_ms: time to change the active adapter set and be ready to decode: the set_adapters()
  call plus what the first decode after it costs beyond a steady one-token decode (median);
- switch_ms_two_adapters: the same for a rollout step with two adapters active: from
  (A at 1-t, B at t) to the next step's scales (issue 9: no dearer than switch_ms);
- reload_ms: what a raw llama-cpp-python user does instead: a new Llama(..., lora_path=...),
  measured the same way (construction plus its first decode's extra cost);
- smoke: `kindred gui --smoke` start-up timings (median of runs), unless --no-gui.
Targets (issue 2): decode_ratio >= 0.97; switch_ms <= 50 and <= 0.1 x reload_ms;
window_shown_s <= 1.5 with torch_imported false.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # support.lora: a real adapter shaped for the model

from kindred.core.engine.llama import AdapterRef, Engine, Sampling  # noqa: E402
from kindred.core.home.models import embedded_model_path  # noqa: E402

MESSAGES = [{"role": "user", "content": "Write a long story about a lighthouse keeper."}]
N_CTX, MAX_TOKENS = 2048, 160
THREADS = max(1, min(os.cpu_count() or 1, 8))


def raw_decode(llm: Any) -> float:
    start = time.perf_counter()
    first, count = None, 0
    for chunk in llm.create_chat_completion(MESSAGES, temperature=0.0, max_tokens=MAX_TOKENS,
                                            repeat_penalty=1.0, stream=True):
        if chunk["choices"][0]["delta"].get("content"):
            count += 1
            if first is None:
                first = time.perf_counter()
    assert first is not None and count > 10, "raw run produced too little text"
    del start
    return (count - 1) / (time.perf_counter() - first)


def app_decode(engine: Engine) -> float:
    generation = engine.chat(MESSAGES, Sampling(temperature=0.0, max_tokens=MAX_TOKENS,
                                                      repeat_penalty=1.0))
    generation.read()
    assert generation.stats.tok_s is not None and generation.stats.tokens_out > 10
    return generation.stats.tok_s


def switch_and_reload(engine: Engine, model: Path, adapter: Path, runs: int) -> dict[str, float]:
    from llama_cpp import Llama

    def timed(action: Any, *args: Any) -> float:
        start = time.perf_counter()
        action(*args)
        return (time.perf_counter() - start) * 1000

    def first_decode_extra(llm: Any, ids: list[int]) -> float:
        """What the first decode after a change costs beyond a steady one."""
        def decode() -> None:
            llm.reset()
            llm.eval(ids)

        first = timed(decode)
        return max(0.0, first - timed(decode))

    switches, reloads = [], []
    ref = AdapterRef("bench", adapter, 1.0)
    engine.set_adapters([ref])  # first load of the adapter file: measured apart
    engine.set_adapters([])
    hi = engine.llm.tokenize(b"Hi")
    for i in range(runs):
        target = [ref] if i % 2 == 0 else [AdapterRef("bench", adapter, 0.5)]
        cost = timed(engine.set_adapters, target)
        switches.append(cost + first_decode_extra(engine.llm, hi))
        engine.set_adapters([])
        start = time.perf_counter()
        llm = Llama(model_path=str(model), n_ctx=N_CTX, n_threads=THREADS,
                    lora_path=str(adapter), verbose=False)
        cost = (time.perf_counter() - start) * 1000
        reloads.append(cost + first_decode_extra(llm, hi))
        llm.close()
    return {"switch_ms": statistics.median(switches), "reload_ms": statistics.median(reloads)}


def rollout_steps(engine: Engine, first: Path, second: Path, runs: int) -> float:
    """Median ms of one rollout step (two adapters, new scales) until ready to decode."""
    def timed(action: Any, *args: Any) -> float:
        start = time.perf_counter()
        action(*args)
        return (time.perf_counter() - start) * 1000

    hi = engine.llm.tokenize(b"Hi")

    def decode() -> None:
        engine.llm.reset()
        engine.llm.eval(hi)

    blends = [[AdapterRef("a", first, 1 - t), AdapterRef("b", second, t)]
              for t in (0.25, 0.5, 0.75)]
    engine.set_adapters(blends[0])  # first load of both files: measured apart
    steps = []
    for i in range(runs):
        cost = timed(engine.set_adapters, blends[(i + 1) % len(blends)])
        first_decode = timed(decode)
        steps.append(cost + max(0.0, first_decode - timed(decode)))
    engine.set_adapters([])
    return statistics.median(steps)


def gui_smoke(runs: int) -> dict[str, Any]:
    results = []
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "KINDRED_HOME": home}
        for _ in range(runs):
            out = subprocess.run([sys.executable, "-m", "kindred", "gui", "--smoke"], env=env,
                                 capture_output=True, text=True, timeout=120, check=True)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "window_shown_s": statistics.median(r["window_shown_s"] for r in results),
        "model_ready_s": statistics.median(r["model_ready_s"] for r in results),
        "torch_imported": any(r["torch_imported"] for r in results),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON line")
    parser.add_argument("--runs", type=int, default=5, help="alternating runs per side (>= 5)")
    parser.add_argument("--no-gui", action="store_true", help="skip the gui --smoke timing")
    args = parser.parse_args()

    from llama_cpp import Llama

    from support.lora import make_lora_gguf

    model = embedded_model_path()
    engine = Engine(model, n_ctx=N_CTX, n_threads=THREADS)
    raw = Llama(model_path=str(model), n_ctx=N_CTX, n_threads=THREADS,
                n_threads_batch=THREADS, verbose=False)
    app_decode(engine), raw_decode(raw)  # warm up both
    app_runs, raw_runs = [], []
    for _ in range(max(5, args.runs)):
        raw_runs.append(raw_decode(raw))
        app_runs.append(app_decode(engine))
    raw.close()
    with tempfile.TemporaryDirectory() as tmp:
        adapter = make_lora_gguf(model, Path(tmp) / "bench-lora.gguf", rank=8)
        swap = switch_and_reload(engine, model, adapter, max(5, args.runs))
        other = make_lora_gguf(model, Path(tmp) / "bench-lora-b.gguf", rank=8, seed=1)
        step_ms = rollout_steps(engine, adapter, other, max(5, args.runs))
    engine.close()
    result: dict[str, Any] = {
        "decode_ratio": round(statistics.median(app_runs) / statistics.median(raw_runs), 3),
        "app_tok_s": round(statistics.median(app_runs), 1),
        "raw_tok_s": round(statistics.median(raw_runs), 1),
        "switch_ms": round(swap["switch_ms"], 2),
        "switch_ms_two_adapters": round(step_ms, 2),
        "reload_ms": round(swap["reload_ms"], 2),
        "switch_vs_reload": round(swap["switch_ms"] / swap["reload_ms"], 3),
        "threads": THREADS,
        "runs": max(5, args.runs),
    }
    if not args.no_gui:
        result["smoke"] = gui_smoke(3)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>18}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
