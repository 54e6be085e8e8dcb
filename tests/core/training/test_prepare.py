"""Preparing a base for training ahead of time: the caches it fills are the very ones the
training process reads (a training afterwards makes none of them again), a preparation killed
half-way leaves nothing half-written and the next one completes, and a base-cache build killed
by SIGKILL leaves a scratch folder that is cleaned up."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from kindred.core.learning import feedback
from kindred.core.session import Session
from kindred.core.training import base_cache, prepare, replay, runner
from support.training_helpers import (
    PIRATE,
    add_examples,
    events_of,
    fast_config,
    grant_training,
    run_process,
    use_shared_cache,
)


def _files(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime for p in folder.rglob("*")
            if p.is_file()}


@pytest.mark.slow
def test_a_killed_preparation_leaves_nothing_and_the_training_then_finds_every_cache(
        session: Session) -> None:
    assistant = session.assistant()
    add_examples(session, PIRATE[:4])
    feedback.add_preference(session.store, assistant.id, "Call me Sam.")  # in the system prompt
    target = prepare.target_for(session.store, assistant.id)
    assert target is not None and "Call me Sam." in target.system
    use_shared_cache(session.home, target.base_sha256)  # the weights: see the test below
    assert prepare.missing(target) == ["replay", "quality"]

    # SIGKILL in the middle of answering the replayed requests: no cache, nothing partial
    with prepare.launch(target) as process:
        assert process.stdout is not None
        for line in process.stdout:
            event = runner.parse_line(line)
            if event and event["event"] == "progress" and "3 of" in event["message"]:
                break
        os.kill(process.pid, signal.SIGKILL)
    cache = session.home.cache
    assert not [p for p in cache.rglob("*") if p.name.endswith(".partial")]
    assert not (cache / "quality").exists()
    version, _ = replay.shipped_prompts()
    assert not replay.cache_path(cache, target.base_sha256, target.system, version).exists()
    assert prepare.missing(target) == ["replay", "quality"]

    # the next one completes
    with prepare.launch(target) as process:
        assert process.stdout is not None
        events = events_of(process.stdout.readlines())
    assert process.returncode == 0, events[-1:]
    assert events[0] == {"event": "start", "missing": ["replay", "quality"],
                         "base": target.name}
    assert events[-1]["event"] == "done" and events[-1]["prepared"] == ["replay", "quality"]
    assert prepare.is_prepared(target)
    before = _files(cache / "replay") | _files(cache / "quality")

    # a training afterwards answers nothing of the base's again: no replayed answer missing,
    # no base half of the card asked, the cache files untouched
    plan = runner.plan_training(session, assistant, fast_config(replay=True))
    assert plan.mix["replay"] >= replay.MIN_REPLAY
    decision = grant_training(session, plan)
    run = runner.start_training(session, plan, decision)
    code, events = run_process(run, decision, timeout=600)
    assert code == 0, events[-1:]
    # a prepared base asks nothing again: no 'replay' progress at all now (the teacher's own
    # answers report as 'teacher'), or only complete ones; the files below stay untouched
    replays = [e for e in events if e["event"] == "replay"]
    assert all(e["done"] == e["total"] for e in replays)
    assert next(e for e in events if e["event"] == "loaded")["cached"] is True
    asked = [e["message"] for e in events if e["event"] == "quality"]
    assert asked and not any("the base model" in m for m in asked)
    assert _files(cache / "replay") | _files(cache / "quality") == before
    assert prepare.is_prepared(target)


def test_a_dead_base_cache_build_is_cleaned_up(session: Session) -> None:
    """What a SIGKILLed build leaves (`save_cache`'s scratch folder) goes the next time a
    preparation or a build starts; a build whose process lives is left alone."""
    bases = session.home.cache / "bases"
    dead = subprocess_pid_that_ended()
    leftover = bases / f".{'ab' * 8}-{dead}-0123abcd{base_cache.PARTIAL}"
    going = bases / f".{'cd' * 8}-{os.getpid()}-4567cdef{base_cache.PARTIAL}"
    ancient = bases / f".{'ef' * 8}-{os.getppid()}-89abcdef{base_cache.PARTIAL}"
    for folder in (leftover, going, ancient):
        folder.mkdir(parents=True)
        (folder / base_cache.WEIGHTS).write_bytes(b"\0" * 1024)
    old = time.time() - base_cache.STALE_AFTER_S - 60
    os.utime(ancient, (old, old))
    target = prepare.target_for(session.store, session.assistant().id)
    assert target is not None
    use_shared_cache(session.home, target.base_sha256)
    list(prepare.prepare(target, []))  # nothing to make: only the cleanup
    assert sorted(p.name for p in bases.iterdir()) == sorted([going.name, target.base_sha256])
    assert base_cache.is_cached(session.home.cache, target.base_sha256)


def subprocess_pid_that_ended() -> int:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)
