"""Time together: how long the person and the assistant have known each other, and how each
version has been used (messages per day stacked by version, ratings per day, a table per version).

Everything comes from `kindred.core.chat.usage`, which derives it from the stored messages, feedback
and ledger; the page re-reads it whenever it is shown. The query is a few aggregates over the
assistant's messages (no text), quick enough for the event loop.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from kindred.core.archive import versions
from kindred.core.chat.usage import BASE, Usage, active_seconds, usage
from kindred.core.home.assistants import Assistant, get_assistant
from kindred.core.session import Session
from kindred.ui.archive.history_view import duration
from kindred.ui.kit.charts import (
    BAD,
    GOOD,
    SERIES_COLORS,
    Bars,
    ChartView,
    bar_chart,
    section,
)
from kindred.ui.kit.icons import icon, icon_text
from kindred.ui.kit.page import FigureCards, Page, read_only_table

BASE_COLOR = "#9a9a9a"
MAX_DAYS = 31  # the charts show at most the last month of activity
COLUMNS = ["Version", "Status", "Active for", "Conversations", "Answers", "Tokens out",
           "Liked", "Disliked", "Corrections", "From other apps"]
CARDS = [("messages", "answers given"), ("other_apps", "answers to other apps"),
         ("conversations", "conversations"),
         ("versions", "versions talked with"), ("ratings_up", "liked"),
         ("ratings_down", "disliked"), ("corrections", "answers corrected")]
ICONS = {"ratings_up": "thumbs-up", "ratings_down": "thumbs-down",  # cards, and table headers
         "Liked": "thumbs-up", "Disliked": "thumbs-down"}


def day_range(days: list[str], limit: int = MAX_DAYS) -> list[str]:
    """Every calendar day from the first to the last active one (gaps included, so the bars
    are to scale), at most the last `limit` days."""
    if not days:
        return []
    first, last = date.fromisoformat(min(days)), date.fromisoformat(max(days))
    first = max(first, last - timedelta(days=limit - 1))
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def day_label(day: str, many: bool) -> str:
    d = date.fromisoformat(day)
    return str(d.day) if many and d.day != 1 else d.strftime("%b %d").replace(" 0", " ")


class UsageView(Page):
    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__("Time together", "", parent, bottom=12)
        self.session = session
        self.assistant: Assistant = session.assistant()
        self.data: Usage | None = None
        self.names: dict[str, str] = {}
        self.days: list[str] = []
        self.messages_chart: ChartView | None = None
        self.ratings_chart: ChartView | None = None
        self.together = QLabel()
        self.together.setObjectName("emptyTitle")
        cards = FigureCards(
            [(key, icon_text(ICONS[key], text, "cardLabel") if key in ICONS else QLabel(text))
             for key, text in CARDS])
        self.cards = cards.figures

        self.table = read_only_table(COLUMNS)
        for col, name in enumerate(COLUMNS):
            header_item = self.table.horizontalHeaderItem(col)
            if name in ICONS and header_item is not None:
                header_item.setIcon(icon(ICONS[name]))
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        table_card, table_layout = section("Each version", "Who answered, for how long, and "
                                           "how it went.")
        table_layout.addWidget(self.table)

        self.messages_card, self.messages_layout = section(
            "Messages per day", "Answers each day, coloured by the version that gave them.")
        self.ratings_card, self.ratings_layout = section(
            "Ratings over time", "Answers you liked and disliked, per day.")

        column = self.add_scrolled_column()
        column.addWidget(self.together)
        column.addWidget(cards)
        column.addWidget(self.messages_card)
        column.addWidget(self.ratings_card)
        column.addWidget(table_card)
        column.addStretch(1)
        self.refresh()

    def set_assistant(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the usage; a hidden page waits until it is shown (`showEvent`)."""
        if not self.isVisible():
            return
        store = self.session.store
        self.assistant = get_assistant(store, self.assistant.id)
        data = usage(store, self.assistant.id)
        self.data = data
        all_versions = versions.list_versions(store, self.assistant.id)
        self.names = {BASE: "Base model", **versions.names(store, self.assistant.id)}
        order = [BASE] + [v.id for v in all_versions]
        n = data.days_together
        self.title.setText(f"Time together with {self.assistant.name}")
        since = date.today() - timedelta(days=n - 1)
        self.together.setText(f"{n} day{'s' if n != 1 else ''} together")
        self.together.setToolTip(f"Since {since.strftime('%B %d, %Y').replace(' 0', ' ')}")
        totals: dict[str, int] = {key: 0 for key, _ in CARDS}
        for counts in data.per_version.values():
            for key in totals:
                totals[key] += int(counts.get(key, 0))
        totals["conversations"] = data.conversations
        totals["ratings_up"] = sum(c.get("ratings_up", 0) for c in data.per_day.values())
        totals["ratings_down"] = sum(c.get("ratings_down", 0) for c in data.per_day.values())
        totals["corrections"] = sum(c.get("corrections", 0) for c in data.per_day.values())
        totals["versions"] = len([k for k, c in data.per_version.items()
                                  if c["messages"] or c.get("other_apps")])
        for key, label in self.cards.items():
            label.setText(str(totals[key]))
        self._fill_table(data, all_versions)
        self.days = day_range(list(data.per_day))
        self._messages_chart(data, order)
        self._ratings_chart(data)

    def version_order(self) -> list[str]:
        """Versions that answered something, base first, then in creation order."""
        assert self.data is not None
        known = list(self.names)
        used = [k for k in self.data.per_version if self.data.per_version[k]["messages"]]
        return sorted(used, key=lambda k: known.index(k) if k in known else len(known))

    def _fill_table(self, data: Usage, all_versions: list[versions.Version]) -> None:
        status: dict[str, str] = {v.id: v.status for v in all_versions}
        active = self.assistant.active_version
        rows = [BASE] + [v.id for v in reversed(all_versions)]
        rows = [k for k in rows if k in data.per_version or k in status]
        self.table.setRowCount(len(rows))
        for r, key in enumerate(rows):
            counts: dict[str, Any] = data.per_version.get(key, {})
            if key == BASE:
                state = "in use" if not active else "—"
                active_for = "—"
            else:
                state = status.get(key, "?")
                active_for = duration(active_seconds(data.active_periods.get(key, [])))
            values = [self.names.get(key, key[:12]), state, active_for,
                      counts.get("conversations", 0), counts.get("messages", 0),
                      counts.get("tokens_out", 0), counts.get("ratings_up", 0),
                      counts.get("ratings_down", 0), counts.get("corrections", 0),
                      counts.get("other_apps", 0)]
            for c, value in enumerate(values):
                item = QTableWidgetItem(str(value))
                if c == 0 and key != BASE:
                    item.setToolTip(key)
                if c >= 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
        height = self.table.horizontalHeader().height() + 4
        height += sum(self.table.rowHeight(r) for r in range(len(rows)))
        self.table.setFixedHeight(height)

    def _replace(self, layout: QVBoxLayout, old: QWidget | None, new: QWidget) -> None:
        if old is not None:  # hidden at once: deleteLater waits for the event loop
            old.hide()
            layout.removeWidget(old)
            old.deleteLater()
        layout.addWidget(new)

    def _messages_chart(self, data: Usage, order: list[str]) -> None:
        many = len(self.days) > 10
        labels = [day_label(d, many) for d in self.days]
        sets = []
        for i, key in enumerate(self.version_order()):
            values = [data.per_day_version.get(d, {}).get(key, 0) for d in self.days]
            position = order.index(key) - 1 if key in order else i
            color = BASE_COLOR if key == BASE else SERIES_COLORS[position % len(SERIES_COLORS)]
            sets.append(Bars(self.names.get(key, key[:12]), values, color))
        widget: QWidget
        if sets:
            chart = bar_chart(labels, sets, stacked=True, integer=True, legend=True)
            widget = ChartView(chart, height=260)
            self.messages_chart = widget
        else:
            widget = self._empty("No messages yet. Chat with your assistant and this fills in.")
            self.messages_chart = None
        self._replace(self.messages_layout, getattr(self, "_messages_widget", None), widget)
        self._messages_widget = widget

    def _ratings_chart(self, data: Usage) -> None:
        many = len(self.days) > 10
        labels = [day_label(d, many) for d in self.days]
        up = [data.per_day.get(d, {}).get("ratings_up", 0) for d in self.days]
        down = [data.per_day.get(d, {}).get("ratings_down", 0) for d in self.days]
        widget: QWidget
        if sum(up) + sum(down):
            chart = bar_chart(labels, [Bars("Liked", up, GOOD), Bars("Disliked", down, BAD)],
                              integer=True, legend=True)
            widget = ChartView(chart, height=220)
            self.ratings_chart = widget
        else:
            widget = self._empty("No ratings yet. Use the thumbs up and down under an answer "
                                 "to tell your assistant how it did.")
            self.ratings_chart = None
        self._replace(self.ratings_layout, getattr(self, "_ratings_widget", None), widget)
        self._ratings_widget = widget

    @staticmethod
    def _empty(text: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName("emptyHint")
        label.setWordWrap(True)
        return label
