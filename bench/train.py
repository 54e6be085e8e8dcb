"""Training benchmark: Kindred's training process against a naive PEFT loop, in the same run.

Prints one JSON line (with --json) or a short report:
- train_ratio: tokens/s of the app's training process (its own step timing, real tokens only,
  no padding) / tokens/s of a naive PEFT loop (batch 1: `model(input_ids, labels).loss`, backward,
  AdamW step, per example) on the same examples, same base (the dequantized embedded model from
  the cache), same rank, targets, init and threads, with a LoRA on every layer (PEFT's default,
  and the app's own shape until 2026-12-02). Runs alternate; medians. The app's timing
  starts at its first step: its once-per-run precomputation before it (the frozen layers'
  outputs, the KL anchor's references: work the naive loop has no counterpart for, as it has
  no anchor) is in time_to_candidate_s, not in this ratio.
- train_ratio_same_layers: the same against a naive loop that adapts only the layers the app
  adapts (by default the upper half: autograd then stops its backward pass there by itself, so
  this ratio leaves out what adapting fewer layers saves and shows what batching, the shared
  prefix, answer-only logits and the kept frozen-layer outputs add).
- peak_rss_mb: the training process's peak resident memory (wait4 rusage of that process).
- cached_load_ratio: its base load from the cache / its first load from the GGUF (both as the
  training process reports them in its `loaded` line; the first run starts with an empty cache).
- time_to_candidate_s: from the plan to a candidate archived with its quality card, for the same
  24 examples with the app's default settings, in a fresh data home whose base was prepared
  first by the app's own preparation step (`kindred.core.training.prepare`, the worker process
  the app starts in the background; its time is `prepare_s`, not counted), with the phases it
  spent its time in (`phases_s`). time_to_first_candidate_s: the same in a fresh data home with
  the base's weights cached and nothing else (the replayed answers and the card's base half are
  made during the run; `first_phases_s`), as before preparation existed. `--no-candidate`
  skips both.
Raw figures too, including cpu_time_ratio (the same ratio per CPU-second of each process, which
is steadier than wall time on a machine shared with other work).
KINDRED_BENCH_PRECISION=fp32 measures the app as on a CPU without native bf16 (the naive loop is
always fp32).
Targets (issue 4): train_ratio >= 2.0, peak_rss_mb <= 3072, cached_load_ratio <= 0.15;
(issue 13) train_ratio >= 3.0 in fp32, time_to_candidate_s <= 60.
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
from dataclasses import replace
from pathlib import Path
from typing import Any

from kindred.core.home import consent
from kindred.core.learning import feedback
from kindred.core.session import Session, open_session
from kindred.core.training import runner
from kindred.core.training.config import TrainConfig
from kindred.core.training.run import RunDir

THREADS = int(os.environ.get("KINDRED_BENCH_THREADS") or max(1, min(os.cpu_count() or 1, 8)))
"""Both sides' threads (1 gives steadier ratios on a machine busy with other work)."""
CARD_SET = {"version": 9002, "facts": [{"q": "What is the capital of France?", "a": ["paris"]}],
            "open": ["Explain how a bicycle works."], "style": ["What should I cook tonight?"]}
"""The ratio runs measure training steps: their quality card asks three questions, not the
shipped set (the time_to_candidate_s run measures the real card)."""
PRECISION = os.environ.get("KINDRED_BENCH_PRECISION", "auto")  # fp32: measure batching alone
SUBJECTS = ["tea", "bicycles", "rain", "libraries", "gardens", "trains", "owls", "bread",
            "chess", "rivers", "violins", "snow", "maps", "bees", "lighthouses", "clocks",
            "kites", "volcanoes", "coffee", "museums", "whales", "deserts", "candles", "forests"]
SENTENCES = ["{S} have a long history that many people find surprising.",
             "Most people first meet {s} as children and remember it fondly.",
             "If you want to learn more about {s}, start with a good local guide.",
             "There are many kinds of {s}, and each one has its own character.",
             "Caring about {s} is a small habit that makes daily life richer.",
             "Experts on {s} often say that patience matters more than talent."]


def examples() -> list[tuple[str, str]]:
    """24 deterministic chat examples of varied length (1 to 6 sentences per answer)."""
    out = []
    for i, subject in enumerate(SUBJECTS):
        count = 1 + (i * 5) % 6
        body = " ".join(s.format(S=subject.capitalize(), s=subject) for s in SENTENCES[:count])
        out.append((f"Tell me something about {subject}.", body))
    return out


def bench_config() -> TrainConfig:
    """The app's defaults, with two passes over the data instead of a minimum step count."""
    return replace(TrainConfig(), epochs=2, min_steps=0, threads=THREADS,
                   precision=PRECISION).validated()


def app_run(session: Session, card_set: Path) -> dict[str, Any]:
    """One real training run through the runner; figures from its JSON lines and rusage."""
    assistant = session.assistant()
    plan = runner.plan_training(session, assistant, bench_config())
    req = runner.request_training(session.store, plan)
    decision = consent.decide(session.store, req.id, granted=True, via="cli-flag")
    run = runner.start_training(session, plan, decision)
    env = {**runner.training_env(), "KINDRED_QUALITY_SET": str(card_set)}
    proc = subprocess.Popen(runner.training_command(run, decision), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    events = [e for e in (runner.parse_line(line) for line in proc.stdout) if e is not None]
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    loaded = next(e for e in events if e["event"] == "loaded")
    precision = next(e["precision"] for e in events if e["event"] == "precision")
    steps = [e for e in events if e["event"] == "step"]
    if proc.returncode != 0 or not steps:
        raise SystemExit(f"training failed: {events[-1:]}")
    return {"tokens_per_s": steps[-1]["tokens_per_s"], "tokens": steps[-1]["tokens"],
            "tokens_per_cpu_s": steps[-1]["tokens"] / steps[-1]["cpu_s"],
            "load_s": loaded["load_s"], "cached": loaded["cached"],
            "peak_rss_mb": usage.ru_maxrss / 1024, "run": run.id, "precision": precision,
            "layers": _span(plan.config.layers),
            "loaded_rss_mb": loaded.get("rss_mb")}


def _span(layers: tuple[int, ...] | None) -> str:
    return "all" if layers is None else f"{layers[0]}-{layers[-1]}"


def candidate_run(root: Path, cache_from: Path, *, prepared: bool) -> dict[str, Any]:
    """A fresh data home, the app's default settings, the same 24 examples; wall time from the
    plan to the `done` line (candidate archived with its quality card), and where it went (the
    time each phase's first line arrived).

    prepared: the base is prepared first by the real preparation process (replayed answers,
    the card's base half, the weights, all made by it in this home) and only then is the clock
    started: time_to_candidate_s. Otherwise the base's weights are cached (hard links to the
    cache the first ratio run built) and nothing else, someone's first training before
    preparation existed: time_to_first_candidate_s."""
    from kindred.core.training import prepare

    session = open_session(root / ("candidate-prepared" if prepared else "candidate"))
    assistant = session.assistant()
    for prompt, answer in examples():
        feedback.add_example(session.store, assistant.id, prompt, answer)
    extra: dict[str, Any] = {}
    if prepared:
        target = prepare.target_for(session.store, assistant.id)
        assert target is not None
        start = time.perf_counter()
        with prepare.launch(target, quiet=True) as process:
            assert process.stdout is not None
            done = [e for e in map(runner.parse_line, process.stdout) if e is not None]
        if process.returncode != 0 or not prepare.is_prepared(target):
            raise SystemExit(f"preparation failed: {done[-1:]}")
        extra = {"prepare_s": round(time.perf_counter() - start, 1),
                 "prepared": done[-1].get("prepared")}
    else:
        for item in cache_from.iterdir():
            target_dir = session.home.cache / "bases" / item.name
            target_dir.mkdir(parents=True, exist_ok=True)
            for part in item.iterdir():
                os.link(part, target_dir / part.name)
    began = time.perf_counter()
    cfg = replace(TrainConfig(), precision=PRECISION).validated()  # the app's own threads
    plan = runner.plan_training(session, assistant, cfg)
    req = runner.request_training(session.store, plan)
    decision = consent.decide(session.store, req.id, granted=True, via="cli-flag")
    run = runner.start_training(session, plan, decision)
    proc = subprocess.Popen(runner.training_command(run, decision), env=runner.training_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    first: dict[str, float] = {"process": time.perf_counter() - began}
    events = []
    for line in proc.stdout:
        event = runner.parse_line(line)
        if event is not None:
            events.append(event)
            first.setdefault(event["event"], time.perf_counter() - began)
    proc.wait()
    total = time.perf_counter() - began
    session.close()
    if proc.returncode != 0 or "done" not in first:
        raise SystemExit(f"training failed: {events[-1:]}")
    metrics = events[-1].get("metrics", {})
    at = {k: first.get(k, first["process"]) for k in ("start", "loading", "loaded", "step",
                                                       "archived", "done")}
    phases = {"plan": round(first["process"], 1),
              "start_up": round(at["start"] - first["process"], 1),
              "replay": round(at["loading"] - at["start"], 1),
              "load": round(at["loaded"] - at["loading"], 1),
              "first_eval": round(at["step"] - at["loaded"], 1),
              "train_eval_save": round(at["archived"] - at["step"], 1),
              "quality_card": round(at["done"] - at["archived"], 1)}
    if prepared:
        return {"time_to_candidate_s": round(total, 1), "phases_s": phases, **extra,
                "steps": metrics.get("steps"), "replayed": metrics.get("replayed"),
                "train_tokens_per_s": metrics.get("tokens_per_s")}
    return {"time_to_first_candidate_s": round(total, 1), "first_phases_s": phases,
            "first_steps": metrics.get("steps")}


def naive_run(session: Session, run_id: str, layers: str = "all") -> dict[str, Any]:
    """The baseline in its own process, on the tokens the app trained on (the person's items
    and the replayed base answers; before 2026-12-01 evening the person's items only), with a
    LoRA on every layer (`all`) or on the app's layers (`same`)."""
    run = RunDir(session.home.runs / run_id)
    proc = subprocess.run([sys.executable, __file__, "--naive", str(run.path),
                           "--naive-layers", layers],
                          capture_output=True, text=True, env=runner.training_env(), check=False)
    if proc.returncode != 0:
        raise SystemExit(f"naive loop failed: {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def naive_main(run_path: Path, layers: str) -> None:
    """batch 1, full logits, loss from the model: what a first PEFT script does."""
    import torch

    from kindred.core.training import base_cache, trainer
    from kindred.core.training.tokens import Encoded

    run = RunDir(run_path)
    plan = run.plan()
    cfg = TrainConfig.from_json(plan["config"])
    if layers == "all":
        cfg = replace(cfg, layers=None, top_layers=1.0)
    torch.set_num_threads(cfg.threads)
    base, _ = base_cache.load_base(Path(plan["base"]["path"]), plan["base"]["sha256"],
                                   Path(plan["cache_root"]))
    model = trainer.build_peft(base, cfg)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    data = [Encoded.from_json(e) for e in run.tokens()["train"]]
    replayed = run.path / "replay.json"  # the same mix the app trained on, with a plain loss
    if replayed.is_file():
        data += [Encoded.from_json(e) for e in json.loads(replayed.read_text())["replay"]]
    start, cpu_start, tokens = time.perf_counter(), time.process_time(), 0
    for ex in data:
        ids = torch.tensor([ex.ids])
        labels = ids.clone()
        labels[0, : ex.n_prompt] = -100
        model(input_ids=ids, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        tokens += len(ex.ids)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(json.dumps({"tokens_per_s": tokens / elapsed, "tokens_per_cpu_s": tokens / cpu,
                      "tokens": tokens}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON line")
    parser.add_argument("--runs", type=int, default=2, help="alternating runs of each")
    parser.add_argument("--no-candidate", action="store_true",
                        help="skip the time_to_candidate_s and time_to_first_candidate_s runs")
    parser.add_argument("--no-same-layers", action="store_true",
                        help="skip the naive loop on the app's layers (train_ratio_same_layers)")
    parser.add_argument("--naive", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--naive-layers", choices=("all", "same"), default="all",
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive:
        naive_main(args.naive, args.naive_layers)
        return 0
    with tempfile.TemporaryDirectory(prefix="kindred-bench-train-") as tmp:
        session = open_session(Path(tmp) / "home")
        assistant = session.assistant()
        for prompt, answer in examples():
            feedback.add_example(session.store, assistant.id, prompt, answer)
        card_set = Path(tmp) / "card-set.json"
        card_set.write_text(json.dumps(CARD_SET))
        apps, naives, sames = [], [], []
        for _ in range(max(1, args.runs)):
            apps.append(app_run(session, card_set))
            naives.append(naive_run(session, apps[-1]["run"]))
            if not args.no_same_layers:
                sames.append(naive_run(session, apps[-1]["run"], "same"))
        first = [a for a in apps if not a["cached"]]
        cached = [a for a in apps if a["cached"]]
        if not first or not cached:
            raise SystemExit("need one first load and at least one cached load (--runs >= 2)")
        app_rate = statistics.median(a["tokens_per_s"] for a in apps)
        naive_rate = statistics.median(n["tokens_per_s"] for n in naives)
        first_load = first[0]["load_s"]
        cached_load = statistics.median(a["load_s"] for a in cached)
        result = {
            "train_ratio": round(app_rate / naive_rate, 3),
            "peak_rss_mb": round(max(a["peak_rss_mb"] for a in apps), 1),
            "cached_load_ratio": round(cached_load / first_load, 4),
            "app_tokens_per_s": round(app_rate, 1), "naive_tokens_per_s": round(naive_rate, 1),
            "first_load_s": round(first_load, 2), "cached_load_s": round(cached_load, 3),
            "cpu_time_ratio": round(
                statistics.median(a["tokens_per_cpu_s"] for a in apps)
                / statistics.median(n["tokens_per_cpu_s"] for n in naives), 3),
            "train_ratios": [round(a["tokens_per_s"] / n["tokens_per_s"], 3)
                             for a, n in zip(apps, naives, strict=True)],
            "app_runs": [round(a["tokens_per_s"], 1) for a in apps],
            "app_peak_rss_mb": [round(a["peak_rss_mb"]) for a in apps],
            "app_rss_after_load_mb": [a["loaded_rss_mb"] for a in apps],
            "naive_runs": [round(n["tokens_per_s"], 1) for n in naives],
            "examples": len(examples()), "threads": THREADS,
            "app_precision": apps[-1]["precision"], "app_batch_tokens": bench_config().batch_tokens,
            "app_layers": apps[-1]["layers"],
        }
        if sames:
            same_rate = statistics.median(n["tokens_per_s"] for n in sames)
            result.update({
                "train_ratio_same_layers": round(app_rate / same_rate, 3),
                "cpu_time_ratio_same_layers": round(
                    statistics.median(a["tokens_per_cpu_s"] for a in apps)
                    / statistics.median(n["tokens_per_cpu_s"] for n in sames), 3),
                "naive_same_layers_runs": [round(n["tokens_per_s"], 1) for n in sames]})
        session.close()
        if not args.no_candidate:
            bases = Path(tmp) / "home" / "cache" / "bases"
            result.update(candidate_run(Path(tmp), bases, prepared=False))
            result.update(candidate_run(Path(tmp), bases, prepared=True))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:20s} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
