"""The consent dialog, reused by every action that needs the person's explicit "yes".

It shows what will change, what is kept and the evidence, then records the answer through the
core consent API. Nothing is preselected: neither button is the default, Enter does nothing, and
Refuse sits beside Approve at the same size. Closing the window decides nothing: the request
stays open (pending) and can be answered later.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from html import escape
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from kindred.core.archive import versions
from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import AssistantId, VersionId
from kindred.core.home import consent
from kindred.core.home.consent import ConsentRequest, Decision
from kindred.core.home.store import Store
from kindred.core.upgrades.consent_words import in_words
from kindred.ui.consent.retirement_records import LINK, RecordsDialog, records_link
from kindred.ui.kit.widgets import error_label, scrolled


def _value(key: str, value: Any, named: dict[str, str]) -> str:
    """One evidence value as safe rich text: versions by name, times as dates, nested data
    as an indented list (evidence can hold the person's own words, so everything is escaped)."""
    if value is None:
        return "none (the base model alone)" if key == "previous" else "—"
    if key.endswith("_at") and isinstance(value, int | float):
        return datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M")
    if key in ("version", "previous") and isinstance(value, str):
        return escape(f"{named.get(value, 'Version')} ({value[:12]})")
    if isinstance(value, dict):
        if not value:
            return "—"
        return _bullets(f"{k.replace('_', ' ')}: {_short(v)}" for k, v in value.items())
    if isinstance(value, list):
        if not value:
            return "—"
        if all(isinstance(v, str | int | float) for v in value) and len(value) <= 4:
            return escape(", ".join(_short(v) for v in value))
        return _bullets(_short(v) for v in value)
    return escape(_short(value))


def _bullets(lines: Iterable[str]) -> str:
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    return f"<ul style='margin-top:2px; margin-bottom:0; margin-left:-18px'>{items}</ul>"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 80 else text[:79] + "…"


def _section(title: str, body: QWidget | str) -> QWidget:
    box = QFrame()
    box.setObjectName("consentSection")
    layout = QVBoxLayout(box)
    layout.setContentsMargins(14, 10, 14, 12)
    heading = QLabel(title)
    heading.setObjectName("consentHeading")
    layout.addWidget(heading)
    if isinstance(body, str):
        label = QLabel(body)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(label)
    else:
        layout.addWidget(body)
    return box


class ConsentDialog(QDialog):
    """Ask once, record the answer. `decided` carries the core's Decision (granted or not)."""

    decided = Signal(object)  # Decision

    def __init__(self, store: Store, request: ConsentRequest, *, changes: str, kept: str,
                 extra: QWidget | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.request = request
        self.decision: Decision | None = None
        self.setObjectName("consentDialog")
        self.setWindowTitle("Your consent")
        self.setMinimumWidth(560)

        words = in_words(store, request)
        title = QLabel(words.title)
        title.setObjectName("consentTitle")
        summary = QLabel(request.summary)
        summary.setWordWrap(True)
        summary.setObjectName("consentSummary")

        evidence = QWidget()
        grid = QVBoxLayout(evidence)
        grid.setContentsMargins(0, 0, 0, 0)
        for label, text in words.lines:
            row = QLabel(f"<b>{escape(label)}:</b> {escape(text)}")
            row.setTextFormat(Qt.TextFormat.RichText)
            row.setWordWrap(True)
            grid.addWidget(row)
        self.interviews = self._interview_links(request.evidence.get("interviews"))
        if self.interviews is not None:
            grid.addWidget(self.interviews)
        if not words.lines and self.interviews is None:
            grid.addWidget(QLabel("No further evidence was attached."))
        self.technical = self._technical(words.technical,
                                         versions.names(store, request.assistant_id))
        if self.technical is not None:
            grid.addWidget(self.technical)
        if extra is not None:
            grid.addWidget(extra)

        body = QWidget()
        sections = QVBoxLayout(body)
        sections.setContentsMargins(0, 0, 0, 0)
        sections.setSpacing(10)
        sections.addWidget(_section("What will change", changes))
        sections.addWidget(_section("What is kept", kept))
        sections.addWidget(_section("Evidence", evidence))
        sections.addStretch(1)
        scroll = scrolled(body)

        self.error = error_label()
        note = QLabel("Your answer is recorded either way. Closing this window decides "
                      "nothing; you can answer later.")
        note.setObjectName("emptyHint")
        note.setWordWrap(True)

        self.refuse_button = QPushButton("Refuse")
        self.approve_button = QPushButton("Approve")
        for button, role in ((self.refuse_button, "refuse"), (self.approve_button, "approve")):
            button.setObjectName("consentButton")
            button.setProperty("choice", role)
            button.setAutoDefault(False)
            button.setDefault(False)
            button.setMinimumWidth(140)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.refuse_button.clicked.connect(lambda: self.answer(False))
        self.approve_button.clicked.connect(lambda: self.answer(True))
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.refuse_button)
        buttons.addWidget(self.approve_button)
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(title)
        layout.addWidget(summary)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.error)
        layout.addWidget(note)
        layout.addLayout(buttons)
        summary.setFocus()  # focus on the text, never on a button

    def _technical(self, items: list[tuple[str, Any]], named: dict[str, str]
                   ) -> QWidget | None:
        """What the record keeps beyond the words above (run ids, hashes, settings), folded
        away: nothing is hidden from the person, and nothing raw is in their way."""
        if not items:
            return None
        rows = "<br>".join(f"<b>{escape(key.replace('_', ' ').capitalize())}:</b> "
                           f"{_value(key, value, named)}" for key, value in items)
        details = QLabel(rows)
        details.setObjectName("emptyHint")
        details.setTextFormat(Qt.TextFormat.RichText)
        details.setWordWrap(True)
        details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        details.hide()
        toggle = QToolButton()
        toggle.setObjectName("technicalToggle")
        toggle.setText("Technical details")
        toggle.setCheckable(True)
        toggle.setArrowType(Qt.ArrowType.RightArrow)
        toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toggle.setAutoRaise(True)

        def shown(on: bool) -> None:
            details.setVisible(on)
            toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

        toggle.toggled.connect(shown)
        self.technical_details = details
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 6, 0, 0)
        column.setSpacing(2)
        column.addWidget(toggle, 0, Qt.AlignmentFlag.AlignLeft)
        column.addWidget(details)
        return box

    def _interview_links(self, items: Any) -> QLabel | None:
        """The predecessors' retirement interviews, each a link to its records (issue 9: the
        successor's consent links to what the versions before it said)."""
        if not isinstance(items, list) or not items:
            return None
        lines = [records_link(self.store, self.request.assistant_id,
                              VersionId(str(item["version"])), item.get("interview"))
                 for item in items if isinstance(item, dict) and "version" in item]
        label = QLabel("<b>Said as they stepped down:</b><br>" + "<br>".join(lines))
        label.setObjectName("interviewLinks")
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setWordWrap(True)
        label.linkActivated.connect(self.open_records)
        return label

    def open_records(self, href: str) -> None:
        if href.startswith(LINK):
            RecordsDialog(self.store, VersionId(href[len(LINK):]), self).open()

    @classmethod
    def ask(cls, store: Store, kind: str, assistant_id: AssistantId, subject: str, summary: str,
            evidence: dict[str, Any], *, changes: str, kept: str,
            extra: QWidget | None = None, parent: QWidget | None = None) -> ConsentDialog:
        """Record a new consent request (the person is being asked) and build its dialog."""
        request = consent.request(store, kind, assistant_id, subject, summary, evidence)
        return cls(store, request, changes=changes, kept=kept, extra=extra, parent=parent)

    def answer(self, granted: bool) -> None:
        """Record the decision through the core; the caller carries out the action."""
        if self.decision is not None:
            return
        try:
            self.decision = consent.decide(self.store, self.request.id, granted=granted,
                                           via="gui")
        except KindredError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        self.decided.emit(self.decision)
        self.done(QDialog.DialogCode.Accepted if granted else QDialog.DialogCode.Rejected)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Enter must never answer for the person; Esc closes without deciding.
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()
            return
        super().keyPressEvent(event)
