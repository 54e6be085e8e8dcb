"""Chat while training: the app's decode speed while a real training process runs, against the
same decode with nothing else running, in the same run.

Prints one JSON line (with --json) or a short report:
- during_training_ratio: median tok/s of greedy answers while Kindred's training process runs
  (at its normal, lowered priority) / median tok/s alone. 1.0 means training costs the chat
  nothing; the target is >= 0.8.
- same_priority_ratio: the same with the trainer at the chat's priority (KINDRED_TRAIN_NICE=0),
  i.e. what lowering the priority buys.
- train_tokens_per_s_*: the trainer's own speed in each case (it yields while answers are
  written, and takes the cores back between them).
- during_insight_ratio: the same while "What it learned" is worked out in the app's own process
  (insights computed over and over on a thread lowered as the window's background tasks are,
  `tasks.run_task(background=True)`; its batched decodes also hold off while an answer is
  written, `core/engine/foreground.py`); insight_same_priority_ratio: with that thread at the
  chat's priority (it still holds off between decodes; before 2026-12-02 neither was done and the
  chat crawled at 0.7 tok/s, 0.007x). Target >= 0.8.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from chat import MESSAGES, N_CTX, app_decode  # bench/chat.py: the decode measurement
from kindred.core.basics.sampling import Sampling
from kindred.core.engine.llama import Engine
from kindred.core.home import consent
from kindred.core.home.models import embedded_model_path
from kindred.core.learning import feedback
from kindred.core.session import Session, open_session
from kindred.core.training import runner
from kindred.core.training.config import TrainConfig

THREADS = max(1, min(os.cpu_count() or 1, 8))


def decode_speed(engine: Engine, runs: int) -> float:
    """Median of bench/chat.py's own measurement (same prompt, greedy, same length)."""
    return statistics.median(app_decode(engine) for _ in range(runs))


Events = list[dict[str, Any]]


def start_trainer(session: Session, nice: int) -> tuple[subprocess.Popen[str], Events]:
    """A long real training run (stopped by the caller); its events collect in the list."""
    for i in range(12):
        feedback.add_example(session.store, session.assistant().id, f"Tell me about {i} owls.",
                             "Owls are quiet hunters of the night. " * (1 + i % 4))
    # a fixed number of steps: a run planned by epochs stops once the items are learned
    # (about 8 steps here), and the chat would then be measured against its quality card
    cfg = replace(TrainConfig(), steps=10_000, threads=THREADS).validated()
    plan = runner.plan_training(session, session.assistant(), cfg)
    req = runner.request_training(session.store, plan)
    decision = consent.decide(session.store, req.id, granted=True, via="cli-flag")
    run = runner.start_training(session, plan, decision)
    env = {**runner.training_env(), "KINDRED_TRAIN_NICE": str(nice)}
    proc = subprocess.Popen(runner.training_command(run, decision), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    events: Events = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            event = runner.parse_line(line)
            if event is not None:
                events.append(event)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 600
    while not any(e["event"] == "step" for e in events):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"training did not start: {events[-1:]}")
        time.sleep(0.2)
    return proc, events


def trainer_speed(events: list[dict[str, Any]]) -> float:
    steps = [e for e in events if e["event"] == "step"]
    return float(steps[-1]["tokens_per_s"]) if steps else 0.0


def during(engine: Engine, nice: int, runs: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="kindred-bench-contention-") as tmp:
        session = open_session(Path(tmp) / "home")
        proc, events = start_trainer(session, nice)
        try:
            time.sleep(2)
            speed = decode_speed(engine, runs)
        finally:
            proc.terminate()  # the trainer checkpoints and exits; the home is thrown away
            proc.wait(timeout=120)
            session.close()
        return speed, trainer_speed(events)


def insight_load(lowered: bool, stop: threading.Event, done: list[float]) -> None:
    """Insights of a taught version, cold, one after another until `stop` (each one's seconds
    in `done`), on this thread: lowered first if asked, as the window's background pool does."""
    import shutil

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from kindred.core.basics.priority import lower_this_thread
    from kindred.core.learning import insight
    from support.archive_helpers import activate, make_version

    if lowered:
        lower_this_thread()
    with tempfile.TemporaryDirectory(prefix="kindred-bench-insight-") as tmp:
        session = open_session(Path(tmp) / "home")
        for i in range(6):
            feedback.add_example(session.store, session.assistant().id, f"How do I fold {i}?",
                                 "Ahoy! Fold it in half, then in half again.")
        version = make_version(session, embedded_model_path(), rank=8, layers=tuple(range(30)))
        activate(session, version)
        engine = Engine(embedded_model_path())
        try:
            while not stop.is_set():
                shutil.rmtree(session.home.cache / "insight", ignore_errors=True)
                began = time.perf_counter()
                insight.run(session.store, engine, version.id)
                done.append(time.perf_counter() - began)
        finally:
            engine.close()
            session.close()


def during_insight(engine: Engine, lowered: bool, runs: int) -> tuple[float, float]:
    """Chat decode speed while insights are worked out; and the median insight's seconds."""
    stop, done = threading.Event(), list[float]()
    worker = threading.Thread(target=insight_load, args=(lowered, stop, done))
    worker.start()
    try:
        time.sleep(3)  # its model loaded and computing
        speed = decode_speed(engine, runs)
    finally:
        stop.set()
        worker.join()
    return speed, statistics.median(done) if done else 0.0


OUTPUTS = {
    "during_training_ratio": ("training_lowered_tok_s", True),
    "same_priority_ratio": ("training_same_tok_s", True),
    "during_training_tok_s": ("training_lowered_tok_s", False),
    "same_priority_tok_s": ("training_same_tok_s", False),
    "train_tokens_per_s_lowered": ("train_tokens_per_s_lowered", False),
    "train_tokens_per_s_same": ("train_tokens_per_s_same", False),
    "during_insight_ratio": ("insight_lowered_tok_s", True),
    "insight_same_priority_ratio": ("insight_same_tok_s", True),
    "during_insight_tok_s": ("insight_lowered_tok_s", False),
    "insight_same_priority_tok_s": ("insight_same_tok_s", False),
    "insight_s_lowered": ("insight_s_lowered", False),
    "insight_s_same": ("insight_s_same", False),
}
"""Printed figure: (measured figure, whether it is divided by the chat's speed alone)."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON line")
    parser.add_argument("--runs", type=int, default=3, help="answers per condition")
    parser.add_argument("--part", choices=("all", "training", "insight"), default="all",
                        help="measure only the chat against training, or against insight")
    args = parser.parse_args()
    engine = Engine(embedded_model_path(), n_ctx=N_CTX)
    engine.chat(MESSAGES, Sampling(temperature=0.0, max_tokens=8)).read()  # warm up
    alone = decode_speed(engine, args.runs)
    measured: dict[str, float] = {}

    def note(name: str, value: float) -> None:
        measured[name] = value
        print(f"{name}: {value:.1f}", file=sys.stderr, flush=True)  # partial results survive

    if args.part in ("all", "training"):
        for label, nice in (("lowered", 10), ("same", 0)):
            speed, trainer = during(engine, nice, args.runs)
            note(f"training_{label}_tok_s", speed)
            note(f"train_tokens_per_s_{label}", trainer)
    if args.part in ("all", "insight"):
        # one answer at the chat's priority: should the holding off between decodes fail,
        # the two computations' threads wait for each other at every layer and it crawls
        for label, lowered, runs in (("lowered", True, args.runs), ("same", False, 1)):
            speed, seconds = during_insight(engine, lowered, runs)
            note(f"insight_{label}_tok_s", speed)
            note(f"insight_s_{label}", seconds)
    base = statistics.median([alone, decode_speed(engine, args.runs)])
    result: dict[str, Any] = {"alone_tok_s": round(base, 1), "threads": THREADS,
                              "runs": args.runs}
    for name, (source, ratio) in OUTPUTS.items():
        if source in measured:
            value = measured[source] / base if ratio else measured[source]
            result[name] = round(value, 3 if ratio else 1)
    engine.close()
    if args.json:
        print(json.dumps(result))
    else:
        print(", ".join(f"{k} {v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
