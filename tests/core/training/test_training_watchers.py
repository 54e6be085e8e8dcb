"""A training run does not depend on who watches it: progress goes to the run folder, a closed
pipe is survived, and a follower reads the current attempt from the folder alone."""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
import time
from pathlib import Path

from kindred.core.training.run import ProgressLog, RunDir, follow


def _run(tmp_path: Path) -> RunDir:
    run = RunDir(tmp_path / "runs" / "r1")
    run.path.mkdir(parents=True)
    run.plan_path.write_text(json.dumps({"assistant_id": 1, "total_steps": 3}))
    return run


def test_a_closed_pipe_is_survived_and_the_folder_keeps_every_event(tmp_path: Path) -> None:
    run = _run(tmp_path)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the launcher died
    stream = io.TextIOWrapper(os.fdopen(write_end, "wb", buffering=0), encoding="utf-8")
    emit = ProgressLog(run, stream)
    for step in (1, 2, 3):
        emit({"event": "step", "step": step})  # EPIPE on the first write: survived
    emit.close()
    assert emit.stdout is None
    lines = [json.loads(x) for x in run.progress_path.read_text().splitlines()]
    assert [e["step"] for e in lines] == [1, 2, 3]
    with contextlib.suppress(OSError):
        stream.close()


def test_stdout_gets_every_line_while_it_is_read(tmp_path: Path) -> None:
    run = _run(tmp_path)
    out = io.StringIO()
    emit = ProgressLog(run, out)
    emit({"event": "start", "run": run.id})
    emit.close()
    assert out.getvalue() == run.progress_path.read_text()


def _lines(run: RunDir, *events: dict[str, object]) -> None:
    with run.progress_path.open("a") as handle:
        for event in events:
            handle.write(json.dumps(event) + "\n")


def test_follow_shows_the_current_attempt_then_new_events_until_the_end(tmp_path: Path) -> None:
    run = _run(tmp_path)
    _lines(run, {"event": "start", "resumed_from": None}, {"event": "step", "step": 1},
           {"event": "stopped", "step": 1}, {"event": "start", "resumed_from": 1},
           {"event": "step", "step": 2})
    started, release = threading.Event(), threading.Event()

    def trainer() -> None:
        with run.hold():
            run.write_state(status="running", pid=os.getpid())
            started.set()
            release.wait(10)
            _lines(run, {"event": "step", "step": 3})
            time.sleep(0.3)
            _lines(run, {"event": "done", "version": "v"}, {"event": "ignored after done"})

    thread = threading.Thread(target=trainer)
    thread.start()
    assert started.wait(10)
    seen = []
    for event in follow(run, poll_s=0.05):
        seen.append((event["event"], event.get("step", event.get("resumed_from"))))
        release.set()
    thread.join()
    assert seen == [("start", 1), ("step", 2), ("step", 3), ("done", None)]


def test_follow_ends_when_the_trainer_is_gone_without_a_last_word(tmp_path: Path) -> None:
    run = _run(tmp_path)
    run.write_state(status="running", pid=0)
    _lines(run, {"event": "start"}, {"event": "step", "step": 1})
    assert [e["event"] for e in follow(run, poll_s=0.05)] == ["start", "step"]
    # A finished run shows its last attempt, to the end.
    _lines(run, {"event": "done", "version": "v"})
    assert [e["event"] for e in follow(run, poll_s=0.05)] == ["start", "step", "done"]


def test_progress_lines_with_infinite_or_nan_numbers_are_not_events() -> None:
    from kindred.core.training.runner import parse_line

    for bad in (b'{"event": "step", "eta_s": Infinity}', b'{"event": "step", "loss": NaN}',
                b'{"event": "step", "eta_s": 1e400}'):
        assert parse_line(bad) is None
    assert parse_line(b'{"event": "step", "eta_s": 2.5}') == {"event": "step", "eta_s": 2.5}
