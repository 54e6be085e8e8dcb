"""Pause is cooperative: a request in the run folder, honoured between two steps; no SIGSTOP.

It works where that signal does not exist, a paused trainer still stops at once when asked,
and a run paused by a window that then died goes on by itself instead of waiting forever."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from kindred.core.basics.errors import KindredError
from kindred.core.home.paths import DataHome
from kindred.core.session import Session
from kindred.core.training import runner
from kindred.core.training.run import RunDir, StopFlag
from support.training_helpers import (
    PIRATE,
    add_examples,
    fast_config,
    grant_training,
    use_shared_cache,
)

TIMEOUT_S = 600


def _events(run: RunDir) -> list[dict[str, object]]:
    if not run.progress_path.exists():
        return []
    return [json.loads(line) for line in run.progress_path.read_text().splitlines() if line]


def _wait(what, timeout: float = TIMEOUT_S) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.2)


def test_a_pause_waits_until_withdrawn_and_a_stop_ends_it(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    seen: list[dict[str, object]] = []
    flag = StopFlag(run, seen.append)
    assert flag.requested is False and run.pause_requested() is None
    run.request_pause(0)
    waited: list[bool] = []
    thread = threading.Thread(target=lambda: waited.append(flag.requested))
    thread.start()
    time.sleep(1.2)
    assert thread.is_alive() and seen == [{"event": "paused"}] and run.state()["paused"]
    run.withdraw_pause()
    thread.join(5)
    assert waited == [False] and seen[-1] == {"event": "resumed", "why": "asked"}
    assert run.state()["paused"] is False

    run.request_pause(0)  # a stop (SIGTERM's handler) ends the wait at once, and is kept
    thread = threading.Thread(target=lambda: waited.append(flag.requested))
    thread.start()
    time.sleep(0.8)
    flag.requested = True
    thread.join(5)
    assert waited[-1] is True and seen[-1] == {"event": "paused"}


def test_a_pause_asked_by_a_process_that_has_gone_is_withdrawn(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    gone = subprocess.Popen(["true"])
    gone.wait()
    run.request_pause(gone.pid)
    seen: list[dict[str, object]] = []
    assert StopFlag(run, seen.append).requested is False
    assert run.pause_requested() is None
    assert seen == [{"event": "paused"}, {"event": "resumed", "why": "pauser gone"}]


def test_a_damaged_request_still_pauses_and_can_be_withdrawn(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.pause_path.write_bytes(b"\xff{not json")
    assert run.pause_requested() == 0
    run.withdraw_pause()
    run.withdraw_pause()  # twice: nothing to withdraw is not an error
    assert run.pause_requested() is None


def test_pausing_a_run_that_is_not_running_is_refused(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    with pytest.raises(KindredError, match="not running"):
        runner.pause(run, by_pid=1)
    assert run.pause_requested() is None


@pytest.mark.slow
def test_a_real_training_pauses_goes_on_when_its_pauser_dies_and_stops_when_paused(
        session: Session, home: DataHome) -> None:
    add_examples(session, PIRATE[:3])
    use_shared_cache(home, session.model_for(session.assistant()).sha256)
    plan = runner.plan_training(session, session.assistant(),
                                fast_config(steps=200, checkpoint_every=2))
    decision = grant_training(session, plan)
    run = runner.start_training(session, plan, decision)
    process = runner.launch(run, decision, attached=False)
    pauser = subprocess.Popen(["sleep", "600"])
    try:
        _wait(lambda: any(e["event"] == "step" for e in _events(run)))
        runner.pause(run, by_pid=pauser.pid)
        _wait(run.is_paused)
        steps = sum(e["event"] == "step" for e in _events(run))
        time.sleep(3)
        assert sum(e["event"] == "step" for e in _events(run)) == steps  # waits between steps
        assert process.poll() is None

        pauser.kill()  # the window that paused it died: the training goes on by itself
        pauser.wait()
        _wait(lambda: sum(e["event"] == "step" for e in _events(run)) > steps)
        assert {"event": "resumed", "why": "pauser gone"} in _events(run)

        runner.pause(run, by_pid=0)
        _wait(run.is_paused)
        runner.interrupt(session.store, run, runner_interrupt_consent(session, run))
        assert process.wait(timeout=TIMEOUT_S) is not None
        assert run.status() == "stopped" and run.last_checkpoint() is not None
    finally:
        pauser.kill()
        if process.poll() is None:
            process.kill()
        process.wait()


def runner_interrupt_consent(session: Session, run: RunDir):  # type: ignore[no-untyped-def]
    from kindred.core.home import consent

    request = runner.request_interrupt(session.store, run)
    return consent.decide(session.store, request.id, granted=True, via="cli-flag")
