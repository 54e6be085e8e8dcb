"""The Training page opened while a run started elsewhere is going (a `kindred train` that was
killed, a window that was closed): it shows the run with its live chart, and Pause and Stop work
on that process. The launcher's pipe is closed at once, as when the command that started the
run dies: the run goes on regardless."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kindred.core.home.paths import DataHome
from kindred.core.session import Session
from kindred.core.training import runner
from kindred.core.training.run import RunDir, list_runs
from kindred.ui.consent.dialog import ConsentDialog
from kindred.ui.training.training_view import TrainingView
from support.training_helpers import (
    PIRATE,
    SHARED_CACHE,
    add_examples,
    fast_config,
    grant_training,
)

TRAIN_TIMEOUT_MS = 600_000


@pytest.fixture
def orphan_run(session: Session, home: DataHome) -> Iterator[tuple[RunDir, int]]:
    """A run started as `kindred train` starts it, whose launcher then went away."""
    from kindred.core.basics.hashing import sha256_file
    from kindred.core.home.models import embedded_model_path
    from kindred.core.training.base_cache import is_cached
    from support.training_helpers import use_shared_cache

    if not is_cached(SHARED_CACHE, sha256_file(embedded_model_path())):
        subprocess.run([sys.executable, "-c", "from support.training_helpers import "
                        "shared_base_cache; shared_base_cache()"],
                       cwd=Path(__file__).parents[2], check=True, timeout=900,
                       env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    add_examples(session, PIRATE[:3])
    use_shared_cache(home, session.model_for(session.assistant()).sha256)
    plan = runner.plan_training(session, session.assistant(),
                                fast_config(steps=60, checkpoint_every=2))
    decision = grant_training(session, plan)
    run = runner.start_training(session, plan, decision)
    process = runner.launch(run, decision)
    assert process.stdout is not None
    process.stdout.close()  # nobody reads: the trainer must carry on
    yield run, process.pid
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    for other in list_runs(home.runs):
        assert not other.is_running()


@pytest.mark.slow
def test_a_page_opened_during_a_run_follows_it_and_can_pause_and_stop(  # type: ignore[no-untyped-def]
        qtbot, session: Session, orphan_run: tuple[RunDir, int]) -> None:
    run, pid = orphan_run
    qtbot.waitUntil(lambda: '"step"' in (run.progress_path.read_text()
                                         if run.progress_path.exists() else ""),
                    timeout=TRAIN_TIMEOUT_MS)
    view = TrainingView(session, config=fast_config())
    qtbot.addWidget(view)
    view.show()
    assert view.run is not None and view.run.id == run.id and view.pid == pid
    qtbot.waitUntil(lambda: view.state == "running" and view.chart.loss.count() >= 1,
                    timeout=30_000)
    assert view.pause_button.isEnabled() and view.stop_button.isEnabled()

    view.pause_button.click()
    assert view.paused and view.pause_button.text() == "Resume"
    qtbot.waitUntil(run.is_paused, timeout=60_000)  # the trainer waits between two steps
    # A page opened now sees the run paused, and can resume it.
    again = TrainingView(session, config=fast_config())
    qtbot.addWidget(again)
    assert again.paused and again.pause_button.text() == "Resume"
    again._detach()
    view.pause_button.click()
    assert not view.paused
    seen = view.step
    qtbot.waitUntil(lambda: view.step > seen, timeout=TRAIN_TIMEOUT_MS)  # the chart goes on
    assert view.chart.loss.count() >= 2

    view.stop_button.click()
    qtbot.waitUntil(lambda: isinstance(view.dialog, ConsentDialog), timeout=60_000)
    assert view.dialog.request.kind == "interrupt"
    view.dialog.approve_button.click()
    qtbot.waitUntil(lambda: view.state == "stopped", timeout=TRAIN_TIMEOUT_MS)
    assert run.status() == "stopped" and run.last_checkpoint() is not None
    assert view.continue_button.isVisible()


def test_a_damaged_progress_file_does_not_break_the_page(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    from kindred.ui.training.training_widgets import RunFollower

    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.plan_path.write_text(json.dumps({"assistant_id": 1, "total_steps": 3}))
    run.progress_path.write_text("\n".join([
        '{"event": "step", "step": 1, "total_steps": 3, "loss": 2.0, "eta_s": 5}',
        '{"event": "step", "step": "two", "loss": {"x": 1}}',
        '{"event": "step", "step": 3, "eta_s": Infinity}',
        '{"event": "done", "version": ["not", "text"]}', "garbage", ""]))
    follower = RunFollower(run)
    seen: list[dict[str, object]] = []
    follower.progressed.connect(lambda event, replayed: seen.append(event))
    follower.start()
    follower.stop()
    assert [e.get("step") for e in seen] == [1]
