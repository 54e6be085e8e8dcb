"""The frame every page of the window shares, so a page's file holds only what is its own.

A page opens with a title and one muted sentence, then its rows; most end with a status line
that says what the last action did. Banners, figure cards and read-only tables look the same
on every page that has them, and are built here once.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from kindred.ui.kit.widgets import page_heading, scrolled


class Page(QWidget):
    """A page: heading, subtitle (left out when empty), then `add_row` in order."""

    def __init__(self, title: str, subtitle: str = "", parent: QWidget | None = None, *,
                 bottom: int = 18) -> None:
        super().__init__(parent)
        self.setObjectName("page")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.title, self.subtitle = page_heading(title, subtitle)
        self.page_layout = QVBoxLayout(self)
        self.page_layout.setContentsMargins(24, 18, 24, bottom)
        self.page_layout.setSpacing(10)
        self.page_layout.addWidget(self.title)
        if subtitle:
            self.page_layout.addWidget(self.subtitle)

    def add_row(self, item: QWidget | QLayout, stretch: int = 0) -> None:
        if isinstance(item, QLayout):
            self.page_layout.addLayout(item, stretch)
        else:
            self.page_layout.addWidget(item, stretch)

    def add_scrolled_column(self) -> QVBoxLayout:
        """A column of cards that scrolls when the window is small; the caller fills it (and
        ends it with a stretch)."""
        body = QWidget()
        body.setObjectName("page")
        column = QVBoxLayout(body)
        column.setContentsMargins(0, 0, 8, 12)
        column.setSpacing(14)
        self.add_row(scrolled(body), 1)
        return column


def status_line(text: str = "") -> QLabel:
    """What the page's last action did (muted; red when it carries the `error` property)."""
    label = QLabel(text)
    label.setObjectName("dialogStatus")
    label.setWordWrap(True)
    return label


def hint(text: str = "") -> QLabel:
    """A muted sentence: an explanation, a figure's caption, what an empty place is for."""
    label = QLabel(text)
    label.setObjectName("emptyHint")
    label.setWordWrap(True)
    return label


def banner(action: str) -> tuple[QFrame, QLabel, QPushButton]:
    """A coloured strip with a sentence and one action (e.g. a candidate waiting for review)."""
    frame = QFrame()
    frame.setObjectName("banner")
    label = QLabel()
    label.setWordWrap(True)
    button = QPushButton(action)
    row = QHBoxLayout(frame)
    row.setContentsMargins(12, 8, 12, 8)
    row.addWidget(label, 1)
    row.addWidget(button)
    return frame, label, button


class FigureCards(QWidget):
    """Cards, each a large figure over its label, as many to a row as the width holds (a
    small window wraps them instead of scrolling sideways; a wide one keeps one row).
    `figures[key]` is the label showing the figure."""

    MIN_WIDTH = 150

    def __init__(self, labels: list[tuple[str, QWidget]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(10)
        self.figures: dict[str, QLabel] = {}
        self.cards: list[QFrame] = []
        for key, label in labels:
            card = QFrame()
            card.setObjectName("card")
            column = QVBoxLayout(card)
            column.setContentsMargins(14, 10, 14, 10)
            value = QLabel("0")
            value.setObjectName("cardValue")
            label.setObjectName("cardLabel")
            column.addWidget(value)
            column.addWidget(label)
            self.figures[key] = value
            self.cards.append(card)
        self.per_row = 0
        self._lay_out(len(self.cards))

    def _lay_out(self, per_row: int) -> None:
        per_row = max(1, min(per_row, len(self.cards)))
        if per_row == self.per_row:
            return
        for card in self.cards:
            self.grid.removeWidget(card)
        for col in range(max(self.per_row, per_row)):
            self.grid.setColumnStretch(col, 1 if col < per_row else 0)
        for index, card in enumerate(self.cards):
            self.grid.addWidget(card, index // per_row, index % per_row)
        self.per_row = per_row

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        fits = (event.size().width() + self.grid.spacing()) // (self.MIN_WIDTH
                                                               + self.grid.spacing())
        rows = -(-len(self.cards) // max(1, fits))  # as few rows as fit, evenly filled
        self._lay_out(-(-len(self.cards) // rows))


def read_only_table(columns: list[str], name: str = "ledgerTable") -> QTableWidget:
    """A table a person reads and selects rows in, never edits."""
    table = QTableWidget(0, len(columns))
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(columns)
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setAlternatingRowColors(True)
    return table
