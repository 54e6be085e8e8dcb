"""The window prepares the base for training in the background once something was taught:
not before, not again once prepared; a training that starts stops it (and it carries on after);
the status bar says so quietly."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytestqt.qtbot import QtBot

from kindred.core.home.atomic import process_alive
from kindred.core.home.paths import DataHome
from kindred.core.learning import feedback
from kindred.core.session import open_session
from kindred.core.training import prepare
from kindred.ui.shell.main_window import MainWindow
from kindred.ui.training import preparation
from support.prepare_helpers import almost_prepared

PREPARE_TIMEOUT_MS = 120_000


@pytest.fixture
def switched_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Background preparation on (the suite turns it off), after a short delay."""
    monkeypatch.setenv(preparation.SWITCH, "1")
    monkeypatch.setattr(preparation, "DELAY_MS", 50)


@pytest.mark.slow
def test_the_window_prepares_once_something_is_taught(
        qtbot: QtBot, home: DataHome, make_window: Callable[..., MainWindow],
        switched_on: None) -> None:
    session = open_session(home.root)
    target = almost_prepared(session)  # only the card's base half is left (a few seconds)
    window = make_window(ready=False)
    prep = window.preparation
    qtbot.wait(300)
    assert prep.started_count == 0  # nothing taught yet: nothing to prepare for

    # something is taught: it starts; a training that starts stops it, keeping what was done
    feedback.add_example(session.store, session.assistant().id, "Hi?", "Ahoy, matey!")
    window.teach.changed.emit()
    qtbot.waitUntil(prep.running, timeout=5000)
    assert prep.started_count == 1
    qtbot.waitUntil(window.prepare_label.isVisible, timeout=5000)
    assert "Preparing for your first training" in window.prepare_label.text()
    with qtbot.waitSignal(prep.finished, timeout=PREPARE_TIMEOUT_MS) as stopped:
        window.training.following.emit(True)
    assert stopped.args == [False]
    assert not window.prepare_label.isVisible()  # said at once, before the worker is gone
    qtbot.waitUntil(lambda: not prep.running(), timeout=PREPARE_TIMEOUT_MS)
    assert not window.prepare_label.isVisible()  # its last lines do not bring it back
    window.teach.changed.emit()
    qtbot.wait(300)
    assert prep.started_count == 1  # not while the training runs

    # the training ended: the rest is prepared, then nothing starts again
    with qtbot.waitSignal(prep.finished, timeout=PREPARE_TIMEOUT_MS) as ended:
        window.training.following.emit(False)
    assert ended.args == [True] and prep.started_count == 2
    assert prepare.is_prepared(target)
    window.teach.changed.emit()
    qtbot.wait(300)
    assert prep.started_count == 2 and not prep.running()
    session.close()


@pytest.mark.slow
def test_closing_the_window_mid_preparation_ends_the_worker_and_leaves_nothing_half_made(
        qtbot: QtBot, home: DataHome, make_window: Callable[..., MainWindow],
        switched_on: None) -> None:
    session = open_session(home.root)
    feedback.add_example(session.store, session.assistant().id, "Hi?", "Ahoy, matey!")
    target = almost_prepared(session)
    window = make_window(ready=False)
    prep = window.preparation
    with qtbot.waitSignal(prep.progressed, timeout=PREPARE_TIMEOUT_MS,
                          check_params_cb=lambda _f, message: message != "Starting"):
        window.teach.changed.emit()  # the worker reports: working on the card's base half
    assert prep.process is not None
    pid = int(prep.process.pid)
    assert process_alive(pid)

    window.close()  # as a person quits mid-way: the worker is told to stop, then waited for
    assert not prep.running() and not process_alive(pid)
    # the card's base half is whole (if the tiny question set was done first) or absent
    assert prepare.missing(target) in ([], ["quality"])
    assert not [p for p in home.cache.rglob("*") if p.name.endswith((".partial", ".tmp"))]
    session.close()
