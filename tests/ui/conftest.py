"""GUI test setup; fixtures and helpers live in conftest_ui (importable by the tests)."""

from __future__ import annotations

import pytest
from conftest_ui import make_window  # noqa: F401  (fixture)

# The offscreen platform cannot resize native dialogs and says so for every dialog shown; that
# is the test platform talking, not the app, so it does not fail GUI tests.
OFFSCREEN_NOISE = r"This plugin does not support propagateSizeHints\(\)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/ui/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_NOISE))
