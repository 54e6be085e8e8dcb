"""The Training page: consent before anything starts, the real training process (detached) with
a moving progress bar, ETA and live loss chart, Pause/Resume (the process is really suspended),
Stop asking the interrupt consent and keeping the checkpoint, Continue from it, and the new
candidate announced with a notice that opens the activation consent with both versions' answers.
Everything runs for real: the training subprocess, llama.cpp for the answers, SQLite."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest_ui import LOAD_TIMEOUT_MS
from PySide6.QtCore import QElapsedTimer, QTimer

from kindred.core.archive import versions
from kindred.core.home import consent
from kindred.core.home.paths import DataHome
from kindred.core.session import Session
from kindred.core.training import runner
from kindred.core.training.run import list_runs
from kindred.ui.consent.dialog import ConsentDialog
from kindred.ui.kit import tasks
from kindred.ui.training.candidate_review import CandidateReviewer
from kindred.ui.training.training_view import TrainingView
from support.archive_helpers import make_version
from support.training_helpers import PIRATE, SHARED_CACHE, add_examples, fast_config

TRAIN_TIMEOUT_MS = 600_000  # a busy 2-core machine
ANSWERS_TIMEOUT_MS = 600_000


@pytest.fixture(scope="module")
def shared_cache() -> Path:
    """The dequantized base, built once per machine in a separate process: this GUI test
    process never imports torch."""
    from kindred.core.basics.hashing import sha256_file
    from kindred.core.home.models import embedded_model_path
    from kindred.core.training.base_cache import is_cached

    if not is_cached(SHARED_CACHE, sha256_file(embedded_model_path())):
        subprocess.run([sys.executable, "-c", "from support.training_helpers import "
                        "shared_base_cache; shared_base_cache()"],
                       cwd=Path(__file__).parents[2], check=True, timeout=900,
                       env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    return SHARED_CACHE


@pytest.fixture
def taught(session: Session, shared_cache: Path, home: DataHome) -> Iterator[Session]:
    """Pirate-style corrected answers, the base cache linked in; any training process left
    running by a failed test is killed afterwards."""
    from support.training_helpers import use_shared_cache

    add_examples(session, PIRATE[:4])
    use_shared_cache(home, session.model_for(session.assistant()).sha256)
    yield session
    assert tasks.wait_all(ANSWERS_TIMEOUT_MS)
    for run in list_runs(home.runs):
        pid = int(run.state().get("pid") or 0)
        if run.is_running() and pid > 0:
            os.kill(pid, signal.SIGKILL)


def make_view(qtbot, session: Session, **config) -> TrainingView:  # type: ignore[no-untyped-def]
    view = TrainingView(session, config=fast_config(**config))
    qtbot.addWidget(view)
    view.resize(900, 800)
    view.show()
    return view


def wait_dialog(qtbot, view, kind: str) -> ConsentDialog:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: isinstance(view.dialog, ConsentDialog), timeout=120_000)
    dialog = view.dialog
    assert dialog.request.kind == kind
    return dialog


def test_nothing_to_learn_is_said_and_nothing_is_asked(qtbot, session) -> None:  # type: ignore[no-untyped-def]
    view = make_view(qtbot, session)
    view.train_button.click()
    qtbot.waitUntil(lambda: view.state == "idle", timeout=60_000)
    assert "nothing to learn yet" in view.status.text()
    assert view.status.property("error") is True
    assert view.dialog is None
    assert consent.pending(session.store) == [] and list_runs(session.home.runs) == []


def test_refusing_to_train_trains_nothing(qtbot, taught) -> None:  # type: ignore[no-untyped-def]
    view = make_view(qtbot, taught)
    assert "4 corrected answers" in view.data_label.text()
    view.train_button.click()
    dialog = wait_dialog(qtbot, view, "train")
    shown = [w.text() for w in dialog.findChildren(type(view.status))]
    assert any("4 corrected answers" in t for t in shown)  # what it would learn from
    assert any("Estimated time" in t for t in shown)
    stored = consent.get_request(taught.store, dialog.request.id).evidence
    assert stored["counts"]["correction"] == 4  # the stored request keeps its full evidence
    dialog.refuse_button.click()
    assert view.status.text() == "Refused and recorded. Nothing was trained."
    assert list_runs(taught.home.runs) == []
    assert versions.list_versions(taught.store) == []
    decision = consent.get_decision(taught.store, dialog.request.id)
    assert decision is not None and not decision.granted


@pytest.mark.slow  # a real training or insight: minutes, not seconds
def test_train_pause_stop_continue_then_review_and_activate(qtbot, make_window, taught) -> None:  # type: ignore[no-untyped-def]
    window = make_window(ready=True)
    view: TrainingView = window.pages["Training"]
    view.config = fast_config(steps=40, checkpoint_every=2)
    window.show_page("Training")
    ticks: list[int] = []
    clock = QElapsedTimer()
    clock.start()
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(clock.elapsed()))
    timer.start(50)

    view.train_button.click()
    wait_dialog(qtbot, view, "train").approve_button.click()
    assert view.run is not None and view.pid > 0
    run = view.run
    qtbot.waitUntil(lambda: view.step >= 2, timeout=TRAIN_TIMEOUT_MS)
    assert view.progress.value() > 0 and view.eta.text().startswith("About ")
    assert view.chart.loss.count() >= 2
    assert view.chart.heldout.count() in (0, 1)  # the start evaluation, if any held out
    # A second page opened meanwhile finds the running run and follows it too.
    other = TrainingView(taught)
    qtbot.addWidget(other)
    assert other.run is not None and other.run.id == run.id

    # Pause: the trainer waits between two steps and no step happens; Resume continues.
    view.pause_button.click()
    assert view.paused and view.pause_button.text() == "Resume"
    assert view.run is not None
    qtbot.waitUntil(view.run.is_paused, timeout=TRAIN_TIMEOUT_MS)
    qtbot.wait(1000)  # the follower has read every step written before the pause
    paused_at = view.step
    qtbot.wait(2000)
    assert view.step == paused_at
    view.pause_button.click()
    assert not view.paused
    qtbot.waitUntil(lambda: view.step > paused_at, timeout=TRAIN_TIMEOUT_MS)

    # Stop asks first; refusing changes nothing.
    view.stop_button.click()
    dialog = wait_dialog(qtbot, view, "interrupt")
    assert "checkpoint" in dialog.request.summary
    dialog.refuse_button.click()
    assert view.state == "running" and run.is_running()
    view.stop_button.click()
    wait_dialog(qtbot, view, "interrupt").approve_button.click()
    qtbot.waitUntil(lambda: view.state == "stopped", timeout=TRAIN_TIMEOUT_MS)
    assert "checkpoint is kept" in view.status.text()
    assert run.last_checkpoint() is not None and run.status() == "stopped"
    assert view.continue_button.isVisible() and view.train_button.isEnabled()
    assert versions.list_versions(taught.store) == []  # nothing archived from a stopped run
    stopped_at = view.chart.loss.count()

    # Continue (asked again) finishes from the checkpoint; the chart keeps its history.
    view.continue_button.click()
    wait_dialog(qtbot, view, "train").approve_button.click()
    qtbot.waitUntil(lambda: view.state == "done", timeout=TRAIN_TIMEOUT_MS)
    timer.stop()
    assert view.chart.loss.count() >= stopped_at and view.progress.value() == 100
    assert any(e["event"] == "start" and e.get("resumed_from") for e in view.events)
    candidate = view.candidate
    assert candidate is not None
    assert versions.get_version(taught.store, candidate).status == "candidate"
    assert taught.assistant().active_version is None  # nothing changed without consent
    assert view.banner.isVisible() and "is ready" in view.banner_label.text()
    # The window stayed responsive the whole time.
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert max(gaps) < 2000

    # The notice floats over whatever page is shown and opens the review.
    window.show_page("Chat")
    notice = view.notice
    assert notice is not None and notice.isVisible() and notice.parent() is window
    assert "is ready" in notice.label.text()
    notice.review_button.click()
    reviewer: CandidateReviewer = view.reviewer
    switch = next(b for b in reviewer.choice.buttons() if b.text() == "Switch now")  # type: ignore[union-attr]
    switch.click()  # Phase in is the default (tests/e2e/test_gui_rollout.py)
    qtbot.waitUntil(lambda: reviewer.dialog is not None, timeout=ANSWERS_TIMEOUT_MS)
    dialog = reviewer.dialog
    assert dialog.request.kind == "activate" and dialog.request.subject == candidate
    assert "side_by_side" not in dialog.request.evidence  # shown as columns instead
    assert "on what it learned" in dialog.request.evidence["how_training_went"]
    pairs = consent.get_request(taught.store, dialog.request.id).evidence["side_by_side"]
    assert reviewer.side_by_side is not None
    assert len(reviewer.side_by_side.views) == len(pairs) >= 1
    for (now, new), pair in zip(reviewer.side_by_side.views, pairs, strict=True):
        assert now.markdown == pair["current"] and new.markdown == pair["candidate"]
    dialog.approve_button.click()
    assert taught.assistant().active_version == candidate
    assert not view.banner.isVisible()
    qtbot.waitUntil(lambda: window.controller.ready, timeout=LOAD_TIMEOUT_MS)
    assert window.controller.engine_info is not None
    assert [k for k, _ in window.controller.engine_info.adapters] == [candidate]


@pytest.mark.slow  # a real training or insight: minutes, not seconds
def test_refusing_a_candidate_keeps_it_archived_as_refused(qtbot, session, model_path) -> None:  # type: ignore[no-untyped-def]
    candidate = make_version(session, model_path, seed=3)
    view = make_view(qtbot, session)
    view.review(candidate.id)
    switch = next(b for b in view.reviewer.choice.buttons() if b.text() == "Switch now")
    switch.click()
    qtbot.waitUntil(lambda: view.reviewer.dialog is not None, timeout=ANSWERS_TIMEOUT_MS)
    dialog = view.reviewer.dialog
    assert dialog.request.evidence["how_training_went"] == ("no before-and-after figures were "
                                                            "recorded")
    # four prompts its training never saw (no recent chats here: new everyday requests)
    assert len(view.reviewer.side_by_side.views) == 4
    # a version without a card gets one measured before the person is asked
    assert view.reviewer.quality_card is not None and view.reviewer.quality_card.bars
    dialog.refuse_button.click()
    assert versions.get_version(session.store, candidate.id).status == "refused"
    assert session.assistant().active_version is None
    assert "Refused and recorded" in view.status.text()
    assert tasks.wait_all(60_000)


@pytest.mark.slow  # a real training or insight: minutes, not seconds
def test_a_killed_training_is_reported_and_can_continue(qtbot, taught) -> None:  # type: ignore[no-untyped-def]
    view = make_view(qtbot, taught, steps=40, checkpoint_every=1)
    view.train_button.click()
    wait_dialog(qtbot, view, "train").approve_button.click()
    qtbot.waitUntil(lambda: view.step >= 2, timeout=TRAIN_TIMEOUT_MS)
    os.kill(view.pid, signal.SIGKILL)  # as if the machine lost power
    qtbot.waitUntil(lambda: view.state == "failed", timeout=60_000)
    assert "ended unexpectedly" in view.status.text() and "checkpoint" in view.status.text()
    assert view.continue_button.isVisible()
    run = runner.resumable_run(taught, taught.assistant().id)
    assert run is not None and run.status() == "killed" and run.last_checkpoint() is not None


def test_training_metrics_read_as_words() -> None:
    from kindred.ui.training.candidate_review import how_it_went

    text = how_it_went({"train_loss_start": 3.59, "train_loss": 0.0458,
                        "heldout_loss_start": 2.92, "heldout_loss": 0.791, "steps": 30})
    assert text == "loss 3.59 → 0.0458 on what it learned, 2.92 → 0.791 on unseen examples"
    assert len(text) <= 80  # the consent dialog shows 80 characters of a line
    assert how_it_went({"train_loss_start": 2.0, "train_loss": 1.0, "heldout_loss_start": None}
                       ) == "loss 2 → 1 on what it learned"
    assert how_it_went({"loss": 1.0}) == "no before-and-after figures were recorded"
