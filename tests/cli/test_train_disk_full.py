"""Training meets a full disk at its checkpoint: a clear message, the run stays resumable, and
once space is freed it resumes and finishes. The run folder is on a real 24 MB tmpfs (root
only); the dequantized base (cache/bases) stays on the big disk (a link), as it is shared."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kindred.core import consent
from kindred.core.session import open_session
from kindred.core.training import runner
from support.training_helpers import (
    PIRATE,
    add_examples,
    fast_config,
    grant_training,
    run_process,
    use_shared_cache,
)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_a_full_disk_at_the_checkpoint_stops_cleanly_and_resumes(small_disk: Path,
                                                                 tmp_path: Path) -> None:
    session = open_session(small_disk / "home")
    try:
        bases = tmp_path / "bases"
        bases.mkdir()
        (session.home.cache / "bases").symlink_to(bases)
        use_shared_cache(session.home, session.model_for(session.assistant()).sha256)
        add_examples(session, PIRATE[:3])
        plan = runner.plan_training(session, session.assistant(),
                                    fast_config(steps=4, checkpoint_every=2))
        granted = grant_training(session, plan)
        run = runner.start_training(session, plan, granted)
        filler = small_disk / "filler"
        free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        filler.write_bytes(b"\0" * max(0, free - 200_000))
        code, events = run_process(run, granted)
        assert code == 2, events[-1]
        assert "disk is full" in events[-1].get("message", ""), events[-1]
        assert run.status() in ("failed", "killed")
        filler.unlink()
        req = runner.request_resume(session.store, run)
        decision = consent.decide(session.store, req.id, granted=True, via="gui")
        code, events = run_process(run, decision, resume=True)
        assert code == 0 and events[-1]["event"] == "done", events[-1]
    finally:
        session.close()

