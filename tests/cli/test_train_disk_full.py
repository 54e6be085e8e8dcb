"""Training meets a full disk while caching the dequantized base, and at its checkpoint: a clear
message, nothing half-written that a later run would trust, the run stays resumable, and once
space is freed it resumes and finishes. The disks are real small tmpfs mounts (root only)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kindred.core.archive.catalog import list_versions
from kindred.core.home import consent
from kindred.core.session import Session, open_session
from kindred.core.training import runner
from kindred.core.training.run import RunDir
from support.disk import resize, small_tmpfs
from support.training_helpers import (
    PIRATE,
    add_examples,
    fast_config,
    grant_training,
    run_process,
)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "disk", "24m") as mount:
        yield mount


@pytest.mark.slow
def test_a_full_disk_at_the_base_cache_then_at_the_checkpoint_stops_cleanly_and_resumes(
        small_disk: Path) -> None:
    """The home is on a 24 MB disk, its base cache (cache/bases: 269 MB of fp16 weights for
    SmolLM2) on another 24 MB disk. The cache write fails part-way; once that disk has room, the
    resumed run caches the base, then its checkpoint meets the full home disk; once that has
    room too, it resumes and finishes."""
    from kindred.core.training import base_cache

    session = open_session(small_disk / "home")
    bases = session.home.cache / "bases"
    sha = session.model_for(session.assistant()).sha256
    try:
        with small_tmpfs(bases, "24m"):
            add_examples(session, PIRATE[:3])
            plan = runner.plan_training(session, session.assistant(),
                                        fast_config(steps=4, checkpoint_every=2))
            granted = grant_training(session, plan)
            run = runner.start_training(session, plan, granted)
            filler = small_disk / "filler"
            free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
            filler.write_bytes(b"\0" * max(0, free - 200_000))

            code, events = run_process(run, granted)
            _stopped_on_a_full_disk(run, code, events)
            assert list(bases.iterdir()) == []  # no partial folder, no cache a later run trusts
            assert not base_cache.is_cached(session.home.cache, sha)

            resize(bases, "400m")  # room for the cache; the home disk is still full
            code, events = run_process(run, _resume_consent(session, run), resume=True)
            _stopped_on_a_full_disk(run, code, events)
            assert base_cache.is_cached(session.home.cache, sha)
            assert list_versions(session.store) == []

            filler.unlink()
            code, events = run_process(run, _resume_consent(session, run), resume=True)
            assert code == 0 and events[-1]["event"] == "done", events[-1]
            assert [v.id for v in list_versions(session.store)] == [events[-1]["version"]]
    finally:
        session.close()


def _stopped_on_a_full_disk(run: RunDir, code: int, events: list[dict[str, Any]]) -> None:
    message = events[-1].get("message", "")
    assert code == 2, events[-1]
    assert "disk is full" in message and "nothing was lost" in message, events[-1]
    assert run.status() in ("failed", "killed")


def _resume_consent(session: Session, run: RunDir) -> consent.Decision:
    request = runner.request_resume(session.store, run)
    return consent.decide(session.store, request.id, granted=True, via="gui")
