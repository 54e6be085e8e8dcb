"""A new version's insight is worked out ahead, in a low-priority process of the app's own CLI:
the What-it-learned page follows it instead of starting the same work, then shows the result from
the cache; a training that starts stops it, and nothing half-made is left."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from kindred.core.archive.versions import Version
from kindred.core.home.atomic import process_alive
from kindred.core.home.paths import DataHome
from kindred.core.learning import feedback, insight
from kindred.core.session import open_session
from kindred.ui.learning import insight_ahead
from kindred.ui.shell.main_window import MainWindow
from support.archive_helpers import make_version

AHEAD_TIMEOUT_MS = 600_000  # a cold insight at nice 19 on a busy 2-core machine


def test_the_command_is_the_apps_own_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    home = Path("/data/home")
    assert insight_ahead.command(home, "abc", python="/py") == [
        "/py", "-m", "kindred", "learned", "abc", "--home", "/data/home", "--background"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)  # the desktop bundle: no Python
    assert insight_ahead.command(home, "abc")[:2] == [sys.executable, "learned"]
    assert insight_ahead.parse_progress("[ 42%] The adapter answered 2 of 6 probe questions") \
        == (0.42, "The adapter answered 2 of 6 probe questions")
    assert insight_ahead.parse_progress("llama.cpp says something") is None


@pytest.fixture
def taught(home: DataHome, model_path: Path, make_window: Callable[..., MainWindow],
           monkeypatch: pytest.MonkeyPatch) -> tuple[MainWindow, Version]:
    """A window on a home with a version taught by a preference and a corrected answer, its
    insight not worked out yet, background insight switched on."""
    monkeypatch.setenv(insight_ahead.SWITCH, "1")
    session = open_session(home.root)
    try:
        aid = session.assistant().id
        feedback.add_preference(session.store, aid, "Call me Sam")
        feedback.add_example(session.store, aid, "What's a good breakfast?",
                             "Oats with berries, Sam. Quick and filling!")
        version: Version = make_version(session, model_path, seed=3, layers=(0, 1, 2))
    finally:
        session.close()
    window = make_window(ready=False)
    assert cached(window, version) is None
    return window, version


def cached(window: MainWindow, version: Version) -> dict[str, Any] | None:
    system = feedback.system_prompt(window.session.store, window.session.assistant())
    return insight.cached(window.session.store, version.id, system=system)


def niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


@pytest.mark.slow
def test_a_new_version_is_worked_out_ahead_and_the_page_follows_it(
        qtbot: QtBot, taught: tuple[MainWindow, Version], model_path: Path) -> None:
    window, version = taught
    ahead, page = window.insight_ahead, window.insight
    newer: Version = make_version(window.session, model_path, seed=4, layers=(0, 1, 2))

    window.training.candidate_ready.emit(version.id)  # as a training that made it announces
    assert ahead.running_for() == version.id and ahead.process is not None
    pid = int(ahead.process.pid)
    window.training.candidate_ready.emit(newer.id)  # another one meanwhile: waits its turn
    assert ahead.running_for() == version.id and ahead.waiting == newer.id
    if sys.platform.startswith("linux"):  # at the lowest priority: the chat keeps the cores
        qtbot.waitUntil(lambda: niceness(pid) == 19, timeout=60_000)

    window.show_page("What it learned")
    page.pick(version.id, "base")
    assert page.following_ahead == version.id and page.task is None  # no second computation
    assert page.progress_box.isVisible()
    shown: list[str] = []  # the page's progress line after each of the process's reports
    ahead.progressed.connect(lambda *_: shown.append(page.progress_label.text()))
    with qtbot.waitSignal(ahead.finished, timeout=AHEAD_TIMEOUT_MS) as done:
        pass
    assert done.args == [version.id, True] and not process_alive(pid)
    # in plain words: "the old version answered 3 of 6…", not "the comparison"/"the adapter"
    assert any("old version answered" in text.lower() for text in shown), shown
    assert not any("comparison" in t.lower() or "adapter" in t.lower() for t in shown), shown
    assert cached(window, version) is not None
    qtbot.waitUntil(lambda: page.shown_key == (version.id, "base"), timeout=30_000)
    assert page.result is not None and page.result["version"] == version.id
    assert page.following_ahead is None

    assert ahead.running_for() == newer.id  # then the newer one
    with qtbot.waitSignal(ahead.finished, timeout=AHEAD_TIMEOUT_MS) as second:
        pass
    assert second.args == [newer.id, True] and cached(window, newer) is not None
    window.training.candidate_ready.emit(version.id)  # known already: nothing starts
    assert ahead.running_for() is None and ahead.started_count == 2


@pytest.mark.slow
def test_a_training_that_starts_stops_it_and_nothing_half_made_is_kept(
        qtbot: QtBot, home: DataHome, taught: tuple[MainWindow, Version]) -> None:
    window, version = taught
    ahead = window.insight_ahead
    window.training.candidate_ready.emit(version.id)
    with qtbot.waitSignal(ahead.progressed, timeout=AHEAD_TIMEOUT_MS):
        pass  # under way
    assert ahead.process is not None
    pid = int(ahead.process.pid)
    with qtbot.waitSignal(ahead.finished, timeout=30_000) as stopped:
        window.training.following.emit(True)
    assert stopped.args == [version.id, False] and not process_alive(pid)
    assert cached(window, version) is None
    assert not [p for p in home.cache.rglob("*") if p.name.endswith(".partial")]
    # the training ended: what it interrupted is worked out again, without reopening anything
    with qtbot.waitSignal(ahead.finished, timeout=AHEAD_TIMEOUT_MS) as redone:
        window.training.following.emit(False)
    assert redone.args == [version.id, True] and cached(window, version) is not None
