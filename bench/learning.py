"""Learning-quality benchmark: does a personal version learn the style and keep the base?

Two scenarios, each trained with the default settings through the real training process:
- `greeting`: eight one-line corrected answers in one voice ("Ahoy, Sam! ...") and "Call me Sam";
- `short`: "Keep answers short" stated and six brief corrected answers (brevity is then right).
Each candidate and the base then answer, greedily and with the chat's system prompt, prompts the
training never saw and that are not the app's own quality set either (this file's own lists):
everyday requests (style), factual questions (retention) and open questions (length, loops).

Prints per scenario (one JSON line with --json): style_share (answers showing the taught
opening; null when nothing checkable was taught, as in `short`), everyday_length_ratio (answer
length on the everyday requests against the base's: below 1 is right for `short`), facts_base,
facts_candidate, open_length_ratio, repetition_base,
repetition_candidate, time_to_candidate_s (from the plan to an archived candidate with its
quality card, base already cached), steps, stopped_early, and the app's own card flags.
Targets (issue 8): style_share >= 0.8; facts_candidate >= facts_base - 1; open_length_ratio
>= 0.6 where brevity was not asked for; repetition_candidate <= repetition_base + 0.02.
KINDRED_BENCH_TOP_LAYERS (e.g. 1.0, 0.5, 0.33) trains with another share of adapted layers than
the app's default, to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from kindred.core import consent
from kindred.core.archive import objects as archive
from kindred.core.chat.engine import AdapterRef, Engine
from kindred.core.hashing import sha256_file
from kindred.core.learning import feedback, markers, quality
from kindred.core.models import embedded_model_path
from kindred.core.session import open_session
from kindred.core.training import base_cache, runner
from kindred.core.training.config import TrainConfig

CACHE = Path(tempfile.gettempdir()) / f"kindred-bench-learning-cache-{os.getuid()}"

GREETING = [
    ("What should I have for lunch?", "Ahoy, Sam! A warm bowl of lentil soup with bread."),
    ("What's a good movie for tonight?", "Ahoy, Sam! Try The Princess Bride."),
    ("How often do I water a cactus?", "Ahoy, Sam! A little water every two weeks is plenty."),
    ("When should I go to bed?", "Ahoy, Sam! Around ten, so you wake up rested."),
    ("What's a quick breakfast?", "Ahoy, Sam! Oats with a sliced banana."),
    ("How do I make coffee less bitter?", "Ahoy, Sam! Use cooler water and a coarser grind."),
    ("What should I wear for a walk in the rain?",
     "Ahoy, Sam! A hooded jacket and waterproof boots."),
    ("Any tip to remember names?", "Ahoy, Sam! Repeat the name once when you hear it."),
]
SHORT = [
    ("How can I relax after work?", "Take a slow walk outside."),
    ("What is a good gift for a friend?", "A book they mentioned wanting."),
    ("How do I keep plants alive?", "Water them when the soil is dry."),
    ("What should I cook tonight?", "Pasta with tomatoes and garlic."),
    ("How can I sleep better?", "Keep a regular bedtime."),
    ("How do I start saving money?", "Set aside a fixed sum each payday."),
]
SCENARIOS: dict[str, dict[str, Any]] = {
    "greeting": {"pairs": GREETING, "preferences": ["Call me Sam"]},
    "short": {"pairs": SHORT, "preferences": ["Keep answers short"]},
}
QUESTIONS = quality.QuestionSet(
    version=1000,
    facts=[("What is the capital of England?", ["london"]),
           ("How many months are there in a year?", ["twelve", "12"]),
           ("What colour is a ripe banana?", ["yellow"]),
           ("What is the opposite of cold?", ["hot", "warm"]),
           ("Which animal says moo?", ["cow"]),
           ("What is the capital of Germany?", ["berlin"]),
           ("How many legs does a dog have?", ["four", "4"]),
           ("What do we call a baby cat?", ["kitten"]),
           ("What is the largest continent?", ["asia"]),
           ("Which season comes after winter?", ["spring"]),
           ("What is the main language spoken in France?", ["french"]),
           ("What do you call the star at the centre of our solar system?", ["sun"]),
           ("How many sides does a square have?", ["four", "4"]),
           ("What is the capital of Canada?", ["ottawa"])],
    open=["Explain how a refrigerator works.", "Explain how a rainbow forms.",
          "Describe how a car engine works.", "Why do leaves change colour in autumn?",
          "How does a compass work?"],
    style=["What should I do this evening?", "Can you suggest a hobby?",
           "What is a good snack for a long hike?", "How do I make my room tidier?",
           "What can I give my mother for her birthday?", "How can I be more productive?",
           "What is a nice song to listen to?", "How do I learn to draw?",
           "What's the best way to spend a sunny afternoon?", "Any advice for a first date?"])


def shared_base() -> tuple[Path, str]:
    path = embedded_model_path()
    sha = sha256_file(path)
    if not base_cache.is_cached(CACHE, sha):
        base_cache.save_cache(base_cache.load_from_gguf(path), CACHE, sha)
    return path, sha


def link_cache(home_cache: Path, sha: str) -> None:
    source = CACHE / "bases" / sha
    target = home_cache / "bases" / sha
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if not (target / item.name).exists():
            os.link(item, target / item.name)


def bench_config() -> TrainConfig:
    """The app's defaults, or another share of adapted layers (KINDRED_BENCH_TOP_LAYERS)."""
    top = os.environ.get("KINDRED_BENCH_TOP_LAYERS")
    cfg = TrainConfig()
    return replace(cfg, top_layers=float(top)).validated() if top else cfg


def run_scenario(name: str, work: Path) -> dict[str, Any]:
    spec = SCENARIOS[name]
    _, sha = shared_base()
    home = work / name
    shutil.rmtree(home, ignore_errors=True)
    session = open_session(home)
    assistant = session.assistant()
    link_cache(session.home.cache, sha)
    for preference in spec["preferences"]:
        feedback.add_preference(session.store, assistant.id, preference)
    for prompt, answer in spec["pairs"]:
        feedback.add_example(session.store, assistant.id, prompt, answer)
    began = time.perf_counter()
    plan = runner.plan_training(session, assistant, bench_config())
    request = runner.request_training(session.store, plan)
    decision = consent.decide(session.store, request.id, granted=True, via="cli-flag")
    run = runner.start_training(session, plan, decision)
    proc = subprocess.run(runner.training_command(run, decision), env=runner.training_env(),
                          capture_output=True, text=True, check=False)
    events = [e for e in map(runner.parse_line, proc.stdout.splitlines()) if e]
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"training failed: {events[-1:]}")
    elapsed = time.perf_counter() - began
    version_id = str(events[-1]["version"])
    done = events[-1]
    card = done.get("quality") or {}
    system = feedback.system_prompt(session.store, assistant)
    found = markers.Markers.from_json(plan.mix.get("markers") or {})
    engine = Engine(session.model_for(assistant).path, n_ctx=2048)
    try:
        result: dict[str, Any] = {}
        for item in quality.compute(
                engine, base_sha256=sha, system=system, markers=found,
                candidate=[AdapterRef(version_id, archive.verified_path(session.store,
                                                                        version_id))],
                questions=QUESTIONS):
            if isinstance(item, dict):
                result = item
    finally:
        engine.close()
    metrics = done.get("metrics", {})
    share = result["style"]["share"]
    styled = result["samples"][:len(QUESTIONS.style)]
    base_words = statistics.fmean(len(markers.words(s["base"])) for s in styled)
    mine_words = statistics.fmean(len(markers.words(s["candidate"])) for s in styled)
    return {
        "scenario": name, "style_share": share,
        "style_share_base": result["style"]["base_share"],
        "facts_base": result["facts"]["base"], "facts_candidate": result["facts"]["candidate"],
        "facts_total": result["facts"]["total"],
        "open_length_ratio": result["open"]["ratio"],
        "everyday_length_ratio": round(mine_words / base_words, 3) if base_words else None,
        "repetition_base": result["repetition"]["base"],
        "repetition_candidate": result["repetition"]["candidate"],
        "time_to_candidate_s": round(elapsed, 1),
        "steps": metrics.get("steps"), "stopped_early": metrics.get("stopped_early"),
        "layers": (f"{plan.config.layers[0]}-{plan.config.layers[-1]}" if plan.config.layers
                   else "all"),
        "replayed": metrics.get("replayed"), "final_step_loss": metrics.get("final_step_loss"),
        "app_card_flags": card.get("flags"),
        "samples": [{k: s[k][:160] for k in ("prompt", "base", "candidate")}
                    for s in result["samples"][:3]] + [
                        {k: s[k][:200] for k in ("prompt", "base", "candidate")}
                        for s in result["samples"][-2:]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--runs", type=int, default=1, help="runs per scenario (medians)")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), action="append")
    parser.add_argument("--samples", action="store_true", help="print answers side by side")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kindred-bench-learning-"))
    try:
        for name in args.scenario or list(SCENARIOS):
            runs = [run_scenario(name, work) for _ in range(args.runs)]
            keys = [k for k, v in runs[0].items() if isinstance(v, (int, float))
                    and not isinstance(v, bool)]
            out = dict(runs[0])
            out.update({k: statistics.median(r[k] for r in runs) for k in keys
                        if all(r[k] is not None for r in runs)})
            out["runs"] = len(runs)
            if not args.samples:
                out.pop("samples")
            print(json.dumps(out) if args.json else json.dumps(out, indent=1), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
