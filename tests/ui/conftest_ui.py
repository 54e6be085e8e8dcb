"""GUI fixtures: a real main window on the test's data home, with the real engine loaded."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from kindred.core.home.assistants import update_assistant
from kindred.core.home.paths import DataHome
from kindred.core.session import open_session
from kindred.ui.shell.main_window import MainWindow

LOAD_TIMEOUT_MS = 60_000
ANSWER_TIMEOUT_MS = 60_000


def set_max_tokens(home: DataHome, max_tokens: int) -> None:
    """Short answers keep GUI tests fast; every test sets its own length."""
    session = open_session(home.root)
    try:
        assistant = session.assistant()
        update_assistant(session.store, assistant.id,
                         sampling=replace(assistant.sampling, max_tokens=max_tokens))
    finally:
        session.close()


@pytest.fixture
def make_window(qtbot, home: DataHome) -> Iterator[Callable[..., MainWindow]]:  # type: ignore[no-untyped-def]
    """Open a MainWindow on the test's home; `ready=True` waits for the model."""
    windows: list[MainWindow] = []

    def make(*, ready: bool = True, max_tokens: int | None = 16) -> MainWindow:
        if max_tokens is not None:
            set_max_tokens(home, max_tokens)
        window = MainWindow(home.root)
        qtbot.addWidget(window)
        window.show()
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow, timeout=5000)  # shortcuts need it
        windows.append(window)
        if ready:
            qtbot.waitUntil(lambda: window.controller.ready, timeout=LOAD_TIMEOUT_MS)
        return window

    yield make
    for window in windows:
        window.shutdown()


def send(qtbot, window: MainWindow, text: str) -> None:  # type: ignore[no-untyped-def]
    """Type like a person and press Enter."""
    composer = window.chat_view.composer
    composer.setFocus()
    qtbot.keyClicks(composer, text)
    from PySide6.QtCore import Qt

    qtbot.keyClick(composer, Qt.Key.Key_Return)


def wait_idle(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=ANSWER_TIMEOUT_MS)
