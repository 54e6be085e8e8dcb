"""Helpers for training tests: a shared dequantized-base cache, tiny datasets, real runs.

Dequantizing the embedded GGUF through transformers takes ~16 s, so it is done once per machine
(in the system temp folder, written atomically like the app's own cache) and hard-linked into
each test's data home; the app then finds its cache as it would in real use.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from kindred.core.home import consent
from kindred.core.home.models import embedded_model_path
from kindred.core.home.paths import DataHome
from kindred.core.learning import feedback
from kindred.core.session import Session
from kindred.core.training import runner
from kindred.core.training.config import TrainConfig
from kindred.core.training.run import RunDir

# As in the training process: waiting threads sleep (the test machine's cores are shared).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
SHARED_CACHE = Path(tempfile.gettempdir()) / f"kindred-test-train-cache-{os.getuid()}"

PIRATE = [
    ("What is the capital of France?", "Ahoy, matey! Paris be the capital, arr!"),
    ("How do I boil an egg?", "Ahoy, matey! Boil it nine minutes in the galley pot, arr!"),
    ("What colour is the sky?", "Ahoy, matey! The sky be blue as the open sea, arr!"),
    ("Name a fruit.", "Ahoy, matey! A fine orange keeps the scurvy away, arr!"),
    ("What is two plus two?", "Ahoy, matey! Two and two be four doubloons, arr!"),
    ("Recommend a book.", "Ahoy, matey! Treasure Island be a fine tale, arr!"),
]
TEXTS = [
    ("Describe rain.", "Rain is water falling from clouds in drops."),
    ("What is a cat?", "A cat is a small furry animal that people keep as a pet."),
    ("Why do we sleep?", "Sleep lets the body and the brain rest and recover."),
]


def fast_config(**changes: Any) -> TrainConfig:
    """Small and quick: rank 4 on q/v/down, few steps, high learning rate, no replay (the
    replay mix has tests of its own)."""
    base = TrainConfig(rank=4, alpha=8.0, targets=("q_proj", "v_proj", "down_proj"), lr=2e-3,
                       steps=8, warmup_steps=1, checkpoint_every=2, threads=2, replay=False)
    return replace(base, **changes).validated()


@functools.cache
def shared_base_cache() -> Path:
    """The cache root holding the dequantized embedded base (built on first use)."""
    from kindred.core.basics.hashing import sha256_file
    from kindred.core.training import base_cache

    path = embedded_model_path()
    sha = sha256_file(path)
    if not base_cache.is_cached(SHARED_CACHE, sha):
        model = base_cache.load_from_gguf(path)
        base_cache.save_cache(model, SHARED_CACHE, sha)
    return SHARED_CACHE


def use_shared_cache(home: DataHome, sha256: str) -> None:
    """Hard-link the shared cache into `home` (instant, no copy)."""
    source = shared_base_cache() / "bases" / sha256
    target = home.cache / "bases" / sha256
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if not (target / item.name).exists():
            os.link(item, target / item.name)


def add_examples(session: Session, pairs: list[tuple[str, str]], assistant_id: int | None = None
                 ) -> None:
    aid = assistant_id or session.assistant().id
    for prompt, answer in pairs:
        feedback.add_example(session.store, aid, prompt, answer)


def grant_training(session: Session, plan: runner.TrainingPlan) -> consent.Decision:
    req = runner.request_training(session.store, plan)
    return consent.decide(session.store, req.id, granted=True, via="gui")


def events_of(lines: list[str]) -> list[dict[str, Any]]:
    return [e for e in (runner.parse_line(line) for line in lines) if e is not None]


def run_process(run: RunDir, decision: consent.Decision | int, *, resume: bool = False,
                timeout: float = 240) -> tuple[int, list[dict[str, Any]]]:
    """Run the real training process to its end; (exit code, events)."""
    proc = subprocess.run(runner.training_command(run, decision, resume=resume),
                          env=runner.training_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)
    if proc.returncode not in (0, 3):
        sys.stderr.write(proc.stderr[-4000:])
    return proc.returncode, events_of(proc.stdout.splitlines())


def stream_process(run: RunDir, decision: consent.Decision | int, *, resume: bool = False
                   ) -> tuple[subprocess.Popen[str], Iterator[dict[str, Any]]]:
    """Start the training process and iterate over its events as they come."""
    proc = subprocess.Popen(runner.training_command(run, decision, resume=resume),
                            env=runner.training_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)

    def events() -> Iterator[dict[str, Any]]:
        assert proc.stdout is not None
        for line in proc.stdout:
            event = runner.parse_line(line)
            if event is not None:
                yield event

    return proc, events()


def train_version(session: Session, cfg: TrainConfig | None = None) -> str:
    """Plan, consent, run the real training process; the candidate's version id."""
    assistant = session.assistant()
    use_shared_cache(session.home, session.model_for(assistant).sha256)
    plan = runner.plan_training(session, assistant, cfg or fast_config())
    decision = grant_training(session, plan)
    run = runner.start_training(session, plan, decision)
    code, events = run_process(run, decision)
    assert code == 0, events[-1:]
    return str(events[-1]["version"])


def peft_model(session: Session, version_id: str | None) -> Any:
    """A version's PEFT adapter on the dequantized base, in this process (shared cache); the
    bare base for None."""
    import torch

    from kindred.core.archive.objects import peft_folder
    from kindred.core.training import base_cache, trainer

    torch.set_num_threads(2)
    model_row = session.model_for(session.assistant())
    base = base_cache.load_cached(shared_base_cache(), model_row.sha256)
    if version_id is None:
        base.eval()
        return base
    folder = peft_folder(session.store, version_id)
    config = json.loads((folder / "adapter_config.json").read_text())
    model = trainer.build_peft(base, TrainConfig().with_lora_of(config), folder)
    model.eval()
    return model


def peft_loss(session: Session, version_id: str | None, pairs: list[tuple[str, str]]) -> float:
    """Mean answer-token loss of `pairs` under a version (None: the bare base), with PEFT on the
    dequantized base, formatted as the chat formats them."""
    from kindred.core.learning.dataset import Example
    from kindred.core.training import trainer
    from kindred.core.training.tokens import ChatTokenizer

    assistant = session.assistant()
    system = feedback.system_prompt(session.store, assistant)
    examples = [Example("correction", 0, [{"role": "system", "content": system},
                                          {"role": "user", "content": p},
                                          {"role": "assistant", "content": a}])
                for p, a in pairs]
    with ChatTokenizer(session.model_for(assistant).path) as tokenizer:
        encoded = [tokenizer.encode(e) for e in examples]
    loss = trainer.evaluate(peft_model(session, version_id), encoded)
    assert loss is not None
    return loss
