"""The background-task helper, the theme and the icons (start-up: shell/test_startup.py)."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Generator

import pytest
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from kindred.core.basics.errors import KindredError
from kindred.ui.kit import theme
from kindred.ui.kit.tasks import run_task, wait_all


def test_task_runs_off_the_main_thread_and_reports_on_it(qtbot) -> None:  # type: ignore[no-untyped-def]
    main = threading.get_ident()
    seen: dict[str, object] = {}

    def work() -> int:
        seen["worker"] = threading.get_ident()
        return 42

    def done(value: int) -> None:
        seen["value"], seen["callback"] = value, threading.get_ident()

    run_task(work, on_done=done)
    qtbot.waitUntil(lambda: "value" in seen, timeout=5000)
    assert seen["value"] == 42
    assert seen["worker"] != main and seen["callback"] == main


def test_generator_task_reports_progress_then_its_return_value(qtbot) -> None:  # type: ignore[no-untyped-def]
    """The one progress rule: what a generator yields is progress, what it returns is the
    result (never its last event)."""
    progress: list[int] = []
    result: list[object] = []

    def steps() -> Generator[int, None, str]:
        yield from range(5)
        return "finished"

    run_task(steps, on_done=result.append, on_progress=progress.append)
    qtbot.waitUntil(lambda: bool(result), timeout=5000)
    assert progress == [0, 1, 2, 3, 4] and result == ["finished"]


def test_task_errors_reach_the_error_callback(qtbot) -> None:  # type: ignore[no-untyped-def]
    errors: list[str] = []

    def expected() -> None:
        raise KindredError("That file is not a model. Nothing was changed.")

    run_task(expected, on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert errors == ["That file is not a model. Nothing was changed."]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness: Linux")
def test_background_tasks_run_behind_the_chat_and_so_do_the_threads_they_start(qtbot) -> None:  # type: ignore[no-untyped-def]
    """llama.cpp starts its threads from the task's thread for each computation: they inherit
    its niceness, so an insight worked out while the person chats gets only what the chat
    leaves. Ordinary tasks keep the app's priority."""
    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def work() -> tuple[int, int]:
        started: list[int] = []
        thread = threading.Thread(target=lambda: started.append(niceness()))
        thread.start()
        thread.join()
        return niceness(), started[0]

    app_niceness = os.getpriority(os.PRIO_PROCESS, 0)
    seen: dict[str, tuple[int, int]] = {}
    run_task(work, on_done=lambda v: seen.setdefault("background", v), background=True)
    run_task(work, on_done=lambda v: seen.setdefault("ordinary", v))
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=5000)
    assert seen["background"] == (19, 19)
    assert seen["ordinary"] == (app_niceness, app_niceness)
    assert os.getpriority(os.PRIO_PROCESS, 0) == app_niceness  # the process itself: unchanged
    assert wait_all(5000)


def test_stylesheet_follows_the_palette(qapp: QApplication) -> None:
    light = QApplication.style().standardPalette()
    dark = theme.dark_palette()
    assert not theme.is_dark(light) and theme.is_dark(dark)
    light_qss, dark_qss = theme.stylesheet(light), theme.stylesheet(dark)
    assert "@" not in light_qss.replace("/*", "").split("*/", 1)[-1]  # every colour resolved
    assert light_qss != dark_qss
    base = dark.color(QPalette.ColorRole.Base).name()
    assert base in dark_qss


def test_icons_follow_a_palette_change(qapp: QApplication) -> None:
    from PySide6.QtWidgets import QToolButton

    from kindred.ui.kit.icons import retint, set_icon

    def darkest(button: QToolButton) -> int:
        image = button.icon().pixmap(48, 48).toImage()
        return min(image.pixelColor(x, y).lightness() for x in range(48) for y in range(48)
                   if image.pixelColor(x, y).alpha() > 200)

    button = QToolButton()
    before = QApplication.palette()
    try:
        QApplication.setPalette(QApplication.style().standardPalette())
        set_icon(button, "stop")
        light_mode = darkest(button)
        QApplication.setPalette(theme.dark_palette())
        retint()
        assert darkest(button) > light_mode + 100  # dark text became light text
    finally:
        QApplication.setPalette(before)
        button.deleteLater()
