"""Finds text a person cannot read whole: a one-line label or a button narrower than its text,
and content wider than a scroll area that cannot scroll sideways (it runs past the edge, under
the scroll bar: the chat's small print did at 900 px).

Used by the window walkthroughs at a small and a large size. Rich-text and word-wrapped labels
reflow, and elided labels say so with "…", so only plain one-line text is measured."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QLabel, QScrollArea, QWidget


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
    for area in window.findChildren(QScrollArea):
        body = area.widget()
        if (body is None or not area.isVisibleTo(window)
                or area.horizontalScrollBarPolicy() != Qt.ScrollBarPolicy.ScrollBarAlwaysOff):
            continue
        if body.width() > area.viewport().width() + 1:
            found.append(f"scroll area {area.objectName() or type(body).__name__}: its content "
                         f"is {body.width()} px wide, {area.viewport().width()} px show")
    return found
