"""`kindred prepare`: the missing part is made by the real worker process, its events as JSON
lines with `--json`; once prepared it says so at once. The bundle's executable starts the same
worker with `--prepare-worker`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kindred.core.home.paths import DataHome
from kindred.core.session import Session
from kindred.core.training import PREPARE_ARG, prepare
from support.cli import kindred
from support.prepare_helpers import almost_prepared


@pytest.mark.slow
def test_prepare_makes_what_is_missing_then_has_nothing_to_do(session: Session,
                                                              home: DataHome) -> None:
    target = almost_prepared(session)
    done = kindred("prepare", "--json", home=home.root, timeout=300)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert events[0]["event"] == "start" and events[0]["missing"] == ["quality"]
    assert any(e["event"] == "progress" for e in events)
    assert events[-1]["event"] == "done" and events[-1]["prepared"] == ["quality"]
    assert prepare.is_prepared(target)
    again = kindred("prepare", home=home.root)
    assert again.returncode == 0 and "already prepared" in again.stderr
    # the bundle's one executable dispatches its worker argument the same way
    worker = subprocess.run([sys.executable, "-m", "kindred.frozen", PREPARE_ARG],
                            input=prepare.target_line(target).decode(), capture_output=True,
                            text=True, timeout=120, env=prepare_env())
    assert worker.returncode == 0, worker.stderr
    assert json.loads(worker.stdout.splitlines()[-1])["event"] == "done"


def prepare_env() -> dict[str, str]:
    from kindred.core.training.runner import training_env

    return training_env()
