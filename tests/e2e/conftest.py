"""End-to-end tests drive the real main window: the GUI fixtures of tests/ui apply here too."""

from __future__ import annotations

import pytest

from ui.conftest_ui import make_window  # noqa: F401  (fixture)

# The offscreen platform cannot resize native dialogs and says so for every dialog shown (see
# tests/ui/conftest.py): the test platform talking, not the app.
OFFSCREEN_NOISE = r"This plugin does not support propagateSizeHints\(\)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_NOISE))
