"""PySide6 6.12.0 releases `None` once too often on every call of a method returning void;
on Python 3.11 the interpreter aborts after a few thousand calls (a few minutes of chatting).
pyproject pins around it; this test fails if a bad binding comes back.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QLabel


def test_void_calls_keep_none_alive(qapp) -> None:  # type: ignore[no-untyped-def]
    label = QLabel()
    before = sys.getrefcount(None)
    for _ in range(300):
        label.setText("x")
        QCoreApplication.processEvents()
    # Other threads may hold or drop a few references meanwhile; a leak would be -600.
    assert sys.getrefcount(None) - before > -100
