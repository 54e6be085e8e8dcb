"""The window prepares the base for training in the background once something was taught:
not before, not again once prepared; a training that starts stops it (and it carries on after);
the status bar says so quietly."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kindred.core.learning import feedback
from kindred.core.paths import DataHome
from kindred.core.session import open_session
from kindred.core.training import prepare
from kindred.ui import preparation
from kindred.ui.main_window import MainWindow
from support.prepare_helpers import almost_prepared

PREPARE_TIMEOUT_MS = 120_000


@pytest.mark.slow
def test_the_window_prepares_once_something_is_taught(
        qtbot, home: DataHome, make_window: Callable[..., MainWindow],  # type: ignore[no-untyped-def]
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(preparation.SWITCH, "1")
    monkeypatch.setattr(preparation, "DELAY_MS", 50)
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
    assert stopped.args == [False] and not prep.running()
    assert not window.prepare_label.isVisible()
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
