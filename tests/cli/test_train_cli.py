"""`kindred examples`, `kindred teach` and `kindred train` as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import os
import re
import signal
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
from support.archive_helpers import home_state
from support.training_helpers import PIRATE, use_shared_cache


def kindred(*args: str, home: Path, input: str | None = None,
            timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kindred", *args, "--home", str(home)],
                          capture_output=True, text=True, input=input, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"}, check=False)


def test_examples_teach_and_list(home: DataHome, session: Session) -> None:
    out = kindred("examples", "add", "--prompt", "Hi", "--answer", "Ahoy!", home=home.root)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"
    assert kindred("teach", "Call me Sam.", home=home.root).returncode == 0
    items = json.loads(kindred("examples", "list", "--json", home=home.root).stdout)
    assert [(i["kind"], i.get("prompt"), i.get("answer"), i.get("text")) for i in items] == [
        ("correction", "Hi", "Ahoy!", None), ("preference", None, None, "Call me Sam.")]
    table = kindred("examples", "list", home=home.root).stdout
    assert "correction" in table and "Call me Sam." in table

    before = home_state(session)
    bad = kindred("examples", "add", "--prompt", "  ", "--answer", "x", home=home.root)
    assert bad.returncode == 2 and "prompt is empty" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert kindred("examples", "remove", "99", home=home.root).returncode == 2
    assert home_state(session) == before
    assert kindred("examples", "remove", "1", home=home.root).returncode == 0
    assert len(json.loads(kindred("examples", "list", "--json", home=home.root).stdout)) == 1


def test_train_refused_or_impossible_trains_nothing(home: DataHome, session: Session) -> None:
    empty = kindred("train", "--yes", home=home.root)
    assert empty.returncode == 2 and "nothing to learn" in empty.stderr
    for prompt, answer in PIRATE[:2]:
        kindred("examples", "add", "--prompt", prompt, "--answer", answer, home=home.root)
    for bad in (["--steps", "0"], ["--epochs", "-1"]):
        out = kindred("train", "--yes", *bad, home=home.root)
        assert out.returncode == 2 and "Nothing was changed" in out.stderr
    refused = kindred("train", "--steps", "3", home=home.root, input="n\n")
    assert refused.returncode == 1, refused.stderr
    assert "[y/N]" in refused.stderr and "2 corrected answers" in refused.stderr
    assert "not started" in refused.stderr and refused.stdout == ""
    assert list_runs(home.runs) == [] and not any(home.datasets.iterdir())
    history = consent.history(session.store)
    assert [(r.kind, d.granted if d else None) for r, d in history] == [("train", False)]
    nothing = kindred("train", "--resume", "--yes", home=home.root)
    assert nothing.returncode == 2 and "no stopped training run" in nothing.stderr


def _wait_for(path: Path, pattern: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and re.search(pattern, path.read_text()):
            return
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} never appeared in {path}")


@pytest.mark.slow
def test_sigkill_during_training_then_resume_completes(home: DataHome, session: Session,
                                                       tmp_path: Path) -> None:
    use_shared_cache(home, session.model_for(session.assistant()).sha256)
    for prompt, answer in PIRATE[:3]:
        kindred("examples", "add", "--prompt", prompt, "--answer", answer, home=home.root)
    log = tmp_path / "stderr.txt"
    with log.open("w") as err:
        cli = subprocess.Popen([sys.executable, "-m", "kindred", "train", "--yes", "--steps",
                                "12", "--home", str(home.root)], stdout=subprocess.PIPE,
                               stderr=err, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            _wait_for(log, r"Checkpoint at step \d+", 180)
            (run,) = list_runs(home.runs)
            os.kill(int(run.state()["pid"]), signal.SIGKILL)  # the training process itself
            out, _ = cli.communicate(timeout=60)
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.wait()
    assert cli.returncode == 2 and out == ""
    assert "ended unexpectedly" in log.read_text()
    assert run.status() == "killed" and run.last_checkpoint() is not None
    assert session.store.db.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == 0

    resumed = kindred("train", "--resume", "--yes", home=home.root)
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming from the checkpoint at step" in resumed.stderr
    version = resumed.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"[0-9a-f]{64}", version)
    assert verify_version(session.store, version).ok
    assert kindred("versions", "verify", home=home.root).returncode == 0
    assert session.assistant().active_version is None
    listed = json.loads(kindred("versions", "list", "--json", home=home.root).stdout)
    assert [(v["id"], v["status"]) for v in listed] == [(version, "candidate")]
