"""Preparing a base model for training ahead of time, so a person's first training is as quick
as the later ones.

A training run spends, besides the training itself, time on three things that depend only on the
base model, the system prompt (persona and stated preferences) and the shipped sets, never on the
person's items; each is cached, so only the first training on a base pays for them:

- `replay`: the base's own answers to the shipped replay prompts (`training.replay`): all of
  them (~25 s for 32), since a training replays as many as it has taught items (at least 12);
- `quality`: the base's half of the quality card (`learning.quality`), ~12 s;
- `weights`: the base's weights dequantized for torch (`training.base_cache`), ~21 s.
(SmolLM2 135M on 2 cores.)

`missing(target)` says which of them are not cached yet; `prepare(target)` makes them, yielding
`Progress`, with the very functions and cache keys the training process uses, so that process
then finds them. The `weights` part needs torch, which only a worker process may import: the app
runs all of it as its own low-priority process, `python -m kindred.core.training.prepare` (in the
desktop bundle `kindred --prepare-worker`, see `kindred.frozen`), which reads its `Target` as
one JSON object on stdin and prints JSON lines on stdout (parse them with `runner.parse_line`):

    {"event": "start", "missing": ["replay", "quality", "weights"], "base": NAME}
    {"event": "progress", "fraction": X, "message": TEXT}          # repeatedly
    {"event": "done", "prepared": [...], "seconds": S}             # then exit 0
    {"event": "busy"}      # another preparation of this data home is going; exit 0
    {"event": "stopped"}   # SIGTERM/SIGINT: what was finished is kept; exit 3
    {"event": "error", "message": TEXT}                            # then exit 2 (1: a crash)

No consent is asked: it trains nothing and changes no adapter. It never opens the person's
database (the caller computes the target) and writes only caches, each atomically (a kill at any
moment leaves a cache either complete or absent; a base cache build killed half-way leaves a
scratch folder that `base_cache.clean_stale` removes).
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Generator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from kindred.core.basics import processes
from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import AssistantId
from kindred.core.basics.progress import Progress, run_to_end
from kindred.core.home.store import Store

PARTS = ("replay", "quality", "weights")
SECONDS = {"replay": 25.0, "quality": 12.0, "weights": 21.0}
"""About how long each part takes for the embedded model on 2 cores (the progress bar's split)."""
EXIT_DONE, EXIT_CRASH, EXIT_FAILED, EXIT_STOPPED = 0, 1, 2, 3
DEFAULT_NICE = 19
LOCK = ".prepare.lock"


@dataclass(frozen=True)
class Target:
    """What is prepared: one base model with one system prompt, in one cache folder."""

    cache_root: Path
    model_path: Path
    base_sha256: str
    architecture: str
    system: str
    name: str = ""

    def to_json(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Target:
        return cls(Path(data["cache_root"]), Path(data["model_path"]), str(data["base_sha256"]),
                   str(data["architecture"]), str(data["system"]), str(data.get("name", "")))


def target_for(store: Store, assistant_id: AssistantId) -> Target | None:
    """The target a training of this assistant would use (its base and the system prompt its
    dataset carries), or None when its base cannot be trained on (nothing to prepare)."""
    from kindred.core.home.assistants import get_assistant
    from kindred.core.home.models import get_model
    from kindred.core.learning.dataset import build_dataset
    from kindred.core.training.runner import TRAINABLE_ARCHITECTURES

    assistant = get_assistant(store, assistant_id)
    model = get_model(store, assistant.model_id)
    if model.architecture not in TRAINABLE_ARCHITECTURES or not model.path.is_file():
        return None
    system = build_dataset(store, assistant, model.sha256).system_prompt
    return Target(store.home.cache, model.path, model.sha256, model.architecture, system,
                  model.name)


def missing(target: Target) -> list[str]:
    """The parts (of `PARTS`) not cached yet for this target."""
    from kindred.core.learning import quality
    from kindred.core.training import base_cache, replay

    out = []
    version, prompts = replay.shipped_prompts()
    for system in replay.systems(target.system):
        have = replay.cached_answers(target.cache_root, target.base_sha256, system, version)
        if any(p not in have for p in prompts):
            out.append("replay")
            break
    if quality.cached_base(_card_cache(target)) is None:
        out.append("quality")
    if not base_cache.is_cached(target.cache_root, target.base_sha256):
        out.append("weights")
    return out


def is_prepared(target: Target) -> bool:
    return not missing(target)


def _card_cache(target: Target) -> Path:
    """The file `quality.for_version` reads for a candidate of this base and system prompt (no
    held-out prompts: the training process measures cards without them)."""
    from kindred.core.learning import quality

    return quality.base_cache_file(target.cache_root / "quality", target.base_sha256,
                                   target.system, quality.QuestionSet.shipped())


def prepare(target: Target, parts: list[str] | None = None
            ) -> Generator[Progress, None, list[str]]:
    """Make the missing parts (or just `parts`), yielding progress; returns the parts made.

    The `weights` part imports torch: call this in a worker process (`main`), never in the
    GUI's."""
    from kindred.core.training import base_cache

    base_cache.clean_stale(target.cache_root)
    todo = [p for p in (parts if parts is not None else missing(target)) if p in PARTS]
    total = sum(SECONDS[p] for p in todo) or 1.0
    done_s = 0.0
    made: list[str] = []
    for part in todo:
        span = SECONDS[part] / total
        start = done_s / total
        for item in _PART_RUNNERS[part](target):
            yield Progress(min(1.0, start + span * item.fraction), item.message)
        made.append(part)
        done_s += SECONDS[part]
    yield Progress(1.0, "Prepared for training")
    return made


def _replay(target: Target) -> Generator[Progress, None, None]:
    from kindred.core.training import replay

    version, prompts = replay.shipped_prompts()
    yield Progress(0.0, "Answering general requests with the base model")
    systems = replay.systems(target.system)
    for turn, system in enumerate(systems):
        answers = replay.answer_missing(target.model_path, target.base_sha256, system,
                                        prompts, version, target.cache_root)
        for done, count in answers:
            yield Progress((turn + done / max(1, count)) / len(systems),
                           f"General requests: {done} of {count} answered")


def _quality(target: Target) -> Generator[Progress, None, None]:
    from kindred.core.engine.llama import Engine
    from kindred.core.learning import quality
    from kindred.core.learning.teacher import threads

    # as the training process measures cards
    engine = Engine(target.model_path, n_ctx=2048, n_threads=threads())
    try:
        yield from quality.base_half(engine, target.system, quality.QuestionSet.shipped(), [],
                                     _card_cache(target))
    finally:
        engine.close()


def _weights(target: Target) -> Generator[Progress, None, None]:
    from kindred.core.training import base_cache

    yield Progress(0.0, "Loading the base model's weights for training")
    base_cache.import_architecture(target.architecture)
    model = base_cache.load_from_gguf(target.model_path)
    yield Progress(0.95, "Saving the weights for training")
    base_cache.save_cache(model, target.cache_root, target.base_sha256)
    yield Progress(1.0, "Weights ready")


_PART_RUNNERS = {"replay": _replay, "quality": _quality, "weights": _weights}


# -- the worker process -------------------------------------------------------------------------


def command(python: str | None = None) -> list[str]:
    """argv of the preparation process (its target goes to its stdin: `Target.to_json`)."""
    if python is None and getattr(sys, "frozen", False):  # the desktop bundle: no Python in it
        from kindred.core.training import PREPARE_ARG

        return [sys.executable, PREPARE_ARG]
    return [python or sys.executable, "-m", "kindred.core.training.prepare"]


def target_line(target: Target) -> bytes:
    return (json.dumps(target.to_json()) + "\n").encode()


def launch(target: Target, *, quiet: bool = False) -> subprocess.Popen[bytes]:
    """Start the preparation process with its target; its events come as lines on its stdout
    (`quiet`: its stderr is discarded, else shared with the terminal)."""
    from kindred.core.training.runner import training_env

    return processes.start(command(), training_env(), stdout="pipe",
                           stderr="discard" if quiet else "inherit", stdin=target_line(target))


def lower_priority() -> int:
    """Renice this process (KINDRED_PREPARE_NICE, default 19: it is background work that
    nobody waits for); returns the niceness now."""
    from kindred.core.basics.priority import renice

    return renice("KINDRED_PREPARE_NICE", DEFAULT_NICE)


class Stopped(BaseException):
    """SIGTERM or SIGINT arrived: unwind (every cache write cleans up after itself)."""


def _hold_lock(cache_root: Path) -> IO[bytes] | None:
    """One preparation per data home at a time; None when another holds it."""
    import fcntl

    cache_root.mkdir(parents=True, exist_ok=True)
    handle = (cache_root / LOCK).open("ab")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def main(argv: list[str] | None = None, stdin: IO[str] | None = None) -> int:
    """The preparation process: target on stdin, JSON lines on stdout."""
    from kindred.core.training.run import worker_defaults

    worker_defaults()  # before torch or transformers are imported
    lower_priority()

    def on_signal(signum: int, frame: Any) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):  # a second one must not cut the cleanup
            signal.signal(sig, signal.SIG_IGN)
        raise Stopped

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)

    def emit(event: dict[str, Any]) -> None:
        with contextlib.suppress(OSError, ValueError):  # nobody reads any more: go on
            sys.stdout.write(json.dumps(event, allow_nan=False) + "\n")
            sys.stdout.flush()

    try:
        try:
            target = Target.from_json(json.loads((stdin or sys.stdin).readline()))
        except (ValueError, KeyError, TypeError) as exc:
            emit({"event": "error", "message": f"No preparation target on stdin: {exc}"})
            return EXIT_FAILED
        lock = _hold_lock(target.cache_root)
        if lock is None:
            emit({"event": "busy"})
            return EXIT_DONE
        try:
            began = time.perf_counter()
            todo = missing(target)
            emit({"event": "start", "missing": todo, "base": target.name})
            made = run_to_end(prepare(target, todo), lambda item: emit({
                "event": "progress", "fraction": round(item.fraction, 3),
                "message": item.message}))
            emit({"event": "done", "prepared": made,
                  "seconds": round(time.perf_counter() - began, 1)})
            return EXIT_DONE
        finally:
            lock.close()
    except Stopped:
        emit({"event": "stopped"})
        return EXIT_STOPPED
    except KindredError as exc:
        emit({"event": "error", "message": str(exc)})
        return EXIT_FAILED
    except Exception as exc:
        import traceback

        traceback.print_exc(file=sys.stderr)
        emit({"event": "error", "message": f"Preparing crashed: {type(exc).__name__}: {exc}"})
        return EXIT_CRASH


if __name__ == "__main__":
    from kindred.core.training.run import exit_now

    exit_now(main())
