"""Finds text a person cannot read whole: a one-line label or a button narrower than its text.

Used by the window walkthroughs at a small and a large size. Rich-text and word-wrapped labels
reflow, and elided labels say so with "…", so only plain one-line text is measured."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QLabel, QWidget


def clipped(window: QWidget) -> list[str]:
    """'<kind> "<text>": needs N px, has M' for every visible widget whose text is cut."""
    found: list[str] = []
    for label in window.findChildren(QLabel):
        text = label.text()
        if (not text or not label.isVisibleTo(window) or label.wordWrap()
                or label.textFormat() == Qt.TextFormat.RichText or "<" in text
                or text.endswith("…") or not label.pixmap().isNull()):
            continue
        needs = max(label.fontMetrics().horizontalAdvance(line) for line in text.split("\n"))
        has = label.contentsRect().width() - 2 * label.margin() - label.indent() \
            if label.indent() > 0 else label.contentsRect().width() - 2 * label.margin()
        if needs > has + 1:
            found.append(f'label "{text[:60]}": needs {needs} px, has {has}')
    for button in window.findChildren(QAbstractButton):
        text = button.text().replace("&", "")
        if not text or not button.isVisibleTo(window):
            continue
        if button.sizeHint().width() > button.width() + 1:
            found.append(f'button "{text[:60]}": needs {button.sizeHint().width()} px, '
                         f"has {button.width()}")
    return found
