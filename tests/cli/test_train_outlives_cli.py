"""`kindred train` killed while it trains: the run carries on to its candidate (no interrupt
consent was given, so nothing stops it), and `kindred train --resume` says it is running and
follows it to the end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kindred.core.archive.objects import verify_version
from kindred.core.home import consent
from kindred.core.home.paths import DataHome
from kindred.core.session import Session
from kindred.core.training.run import list_runs
from support.training_helpers import PIRATE, add_examples, use_shared_cache

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def _wait_for(path: Path, pattern: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and re.search(pattern, path.read_text()):
            return
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} never appeared in {path}")


@pytest.mark.slow
def test_killing_the_train_command_does_not_stop_the_run(home: DataHome, session: Session,
                                                         tmp_path: Path) -> None:
    use_shared_cache(home, session.model_for(session.assistant()).sha256)
    add_examples(session, PIRATE[:3])
    log = tmp_path / "stderr.txt"
    with log.open("w") as err:
        cli = subprocess.Popen([sys.executable, "-m", "kindred", "train", "--yes", "--steps",
                                "10", "--home", str(home.root)], stdout=subprocess.PIPE,
                               stderr=err, text=True, env=ENV)
        _wait_for(log, r"step 1/10", 300)
        cli.kill()  # kill -9 of the command (the trainer is in its own session)
        cli.communicate(timeout=30)
    (run,) = list_runs(home.runs)
    assert run.is_running()

    follower = subprocess.run([sys.executable, "-m", "kindred", "train", "--resume", "--yes",
                               "--home", str(home.root)], capture_output=True, text=True,
                              env=ENV, timeout=600, check=False)
    assert follower.returncode == 0, follower.stderr
    assert "is already running" in follower.stderr and "following it" in follower.stderr
    assert "step 10/10" in follower.stderr
    version = follower.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"[0-9a-f]{64}", version)
    assert run.status() == "done" and run.state()["version"] == version
    assert verify_version(session.store, version).ok
    # Nobody consented to an interrupt, and none happened; the resume asked for nothing.
    assert [r.kind for r, _ in consent.history(session.store)] == ["train"]
    events = run.progress_path.read_text()
    assert '"stopped"' not in events and '"error"' not in events
    follow = subprocess.run([sys.executable, "-m", "kindred", "train", "--follow",
                             "--home", str(home.root)], capture_output=True, text=True,
                            env=ENV, timeout=60, check=False)
    assert follow.returncode == 2 and "No training run" in follow.stderr
