"""The continuity ledger: every event, hash-chained; Verify; and the continuity report.

Verify checks the chain and recomputes every archived version's hashes, in the background
(with its own database connection); the first bad event, if any, is named and highlighted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidgetItem,
    QWidget,
)

from kindred.core.archive import versions
from kindred.core.basics.ids import AssistantId
from kindred.core.basics.states import ConsentVia
from kindred.core.home import ledger
from kindred.core.home.assistants import Assistant, list_assistants
from kindred.core.session import Session
from kindred.ui.kit.icons import icon_text, set_icon
from kindred.ui.kit.page import FigureCards, Page, read_only_table
from kindred.ui.kit.tasks import Task
from kindred.ui.ops.op import OpContext, run_op

REPORT_KEYS = ["archived", "active", "candidate", "refused", "retired", "deleted"]
COLUMNS = ["#", "When", "Event", "Assistant", "Details", "Hash"]


@dataclass(frozen=True)
class Verification:
    ledger: ledger.LedgerCheck
    damaged: list[str]  # messages for versions whose files no longer match
    checked_versions: int


def verify_home(op: OpContext, assistant_id: AssistantId | None) -> Verification:
    """The chain and every archived version."""
    from kindred.core.archive import objects as archive

    chain = ledger.verify(op.session.store)
    checks = archive.verify_all(op.session.store, assistant_id)
    return Verification(chain, [c.message for c in checks if not c.ok], len(checks))


def details(event: ledger.Event, named: dict[str, str] | None = None) -> str:
    """One event in a line: versions by their names, a trial's sides and picks in words."""
    p: dict[str, Any] = event.payload
    named = named or {}

    def version(value: Any) -> str:
        if value is None:
            return "the base model"
        text = str(value)
        return named.get(text, text[:12] if len(text) >= 32 else text)

    if "summary" in p:
        return str(p["summary"])
    if event.kind in (ledger.TRIAL_STARTED, ledger.TRIAL_VOTE, ledger.TRIAL_ENDED) \
            and "b" in p:
        sides = f"{version(p.get('a'))} vs {version(p['b'])}"
        if event.kind == ledger.TRIAL_VOTE:
            choice = p.get("choice")
            picked = {"a": version(p.get("a")), "b": version(p["b"])}.get(str(choice))
            return f"{sides} · round {p.get('round', '?')}: " + (
                f"picked {picked}" if picked else "no difference")
        prompts = f" · {p['prompts']} prompts" if isinstance(p.get("prompts"), int) else ""
        return sides + prompts
    parts = []
    for key in ("version", "active", "previous", "kind", "granted", "via", "name", "model"):
        if key in p and p[key] is not None:
            parts.append(_said(key, p[key], version))
    return " · ".join(parts) or ", ".join(sorted(p))


VIA: dict[str, str] = {ConsentVia.GUI: "in the window", ConsentVia.CLI_FLAG: "with --yes",
                       ConsentVia.CLI_PROMPT: "at the command line"}
"""How a consent was answered, in words."""


def _said(key: str, value: Any, version: Callable[[Any], str]) -> str:
    """One field of an event as words: "Version 1", "now Version 2", "granted in the window"."""
    if key == "version":
        return version(value)
    if key in ("active", "previous"):
        return f"{'now' if key == 'active' else 'before'} {version(value)}"
    if key == "granted":
        return "granted" if value else "refused"
    if key == "via":
        return VIA.get(str(value), f"via {value}")
    if key == "kind":
        return f"to {value}"
    text = value[:12] if isinstance(value, str) and len(value) >= 32 else str(value)
    return f"{key} {text}"


class LedgerView(Page):
    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(
            "Continuity ledger",
            "An append-only record of everything that happened to your assistants' versions. "
            "Each event is chained to the one before by its hash, so an edited, removed or "
            "reordered event is detected.", parent)
        self.session = session
        self.assistant: Assistant = session.assistant()
        self.task: Task | None = None
        self.result: Verification | None = None

        self.scope = QComboBox()
        self.scope.addItems(["This assistant", "All assistants"])
        self.scope.currentIndexChanged.connect(lambda _i: self.refresh())
        self.verify_button = QPushButton("Verify")
        set_icon(self.verify_button, "shield")
        self.verify_button.setToolTip("Check the hash chain and every archived version's files")
        self.verify_button.clicked.connect(self.verify)
        top = QHBoxLayout()
        top.addWidget(self.scope)
        top.addStretch(1)
        top.addWidget(self.verify_button)

        cards = FigureCards([(k, QLabel(k.capitalize())) for k in REPORT_KEYS])
        self.cards = cards.figures

        self.result_box = QFrame()
        self.result_box.setObjectName("verifyResult")
        self.result_label = QLabel()
        self.result_label.setWordWrap(True)
        self.result_icon = icon_text("")
        box = QHBoxLayout(self.result_box)
        box.setContentsMargins(12, 8, 12, 8)
        box.addWidget(self.result_icon, 0, Qt.AlignmentFlag.AlignTop)
        box.addWidget(self.result_label, 1)
        self.result_box.hide()

        self.table = read_only_table(COLUMNS)
        header = self.table.horizontalHeader()
        for col in range(len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)

        for row, stretch in ((top, 0), (cards, 0), (self.result_box, 0), (self.table, 1)):
            self.add_row(row, stretch)
        self.refresh()

    def set_assistant(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        self.refresh()
        super().showEvent(event)

    @property
    def scoped_id(self) -> AssistantId | None:
        return self.assistant.id if self.scope.currentIndex() == 0 else None

    def refresh(self) -> None:
        store = self.session.store
        report = versions.report(store, self.scoped_id)
        for key, label in self.cards.items():
            label.setText(str(report.get(key, 0)))
        assistants = list_assistants(store)
        names = {a.id: a.name for a in assistants}
        version_names = {k: v for a in assistants
                         for k, v in versions.names(store, a.id).items()}
        events = ledger.events(store, assistant_id=self.scoped_id)
        self.table.setRowCount(len(events))
        for row, event in enumerate(reversed(events)):  # newest first
            values = [str(event.seq), datetime.fromtimestamp(event.at).strftime(
                "%Y-%m-%d %H:%M:%S"), event.kind.replace("_", " "),
                names.get(event.assistant_id or AssistantId(-1), "—"),
                details(event, version_names), event.hash[:12]]
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, event.seq)
                if col == 5:
                    item.setToolTip(f"hash {event.hash}\nprevious {event.prev_hash}")
                self.table.setItem(row, col, item)
        self._mark_bad()

    def rows(self) -> list[tuple[int, str]]:
        """(seq, kind) of the shown events, newest first (for tests)."""
        return [(int(self._cell(r, 0).text()), self._cell(r, 2).text())
                for r in range(self.table.rowCount())]

    def _cell(self, row: int, col: int) -> QTableWidgetItem:
        item = self.table.item(row, col)
        if item is None:  # refresh() fills every cell of every row it makes
            raise LookupError(f"the ledger table has no item at row {row}, column {col}")
        return item

    def verify(self) -> None:
        if self.task is not None:
            return
        self.verify_button.setEnabled(False)
        self._show("Verifying the chain and every archived version…", None)
        home, scoped = self.session.home.root, self.scoped_id
        self.task = run_op(home, lambda op: verify_home(op, scoped), on_done=self._verified,
                           on_error=self._error, parent=self)

    def _verified(self, result: Verification) -> None:
        self.task = None
        self.result = result
        self.verify_button.setEnabled(True)
        chain = result.ledger
        if chain.ok and not result.damaged:
            self._show(f"The ledger verifies: {chain.count} events, unbroken. "
                       f"{result.checked_versions} archived version(s) match their hashes.",
                       True)
        else:
            problems = []
            if not chain.ok:
                where = (f" (first bad event: #{chain.first_bad})"
                         if chain.first_bad is not None else "")  # a record has no one event
                problems.append(f"The ledger does not verify: {chain.reason.rstrip('.')}{where}.")
            problems += result.damaged
            self._show(" ".join(problems) + " Nothing was changed.", False)
        self.refresh()

    def _error(self, message: str) -> None:
        self.task = None
        self.verify_button.setEnabled(True)
        self._show(message, False)

    def _show(self, text: str, ok: bool | None) -> None:
        self.result_label.setText(text)
        self.result_icon.setVisible(ok is not None)
        if ok is not None:
            set_icon(self.result_icon, "verified" if ok else "error")
        self.result_box.setProperty("ok", "" if ok is None else ("true" if ok else "false"))
        self.result_box.style().unpolish(self.result_box)
        self.result_box.style().polish(self.result_box)
        self.result_box.show()

    def _mark_bad(self) -> None:
        bad = self.result.ledger.first_bad if self.result and not self.result.ledger.ok else None
        if bad is None:
            return
        red = QBrush(QColor(224, 96, 90, 90))
        for row in range(self.table.rowCount()):
            if self._cell(row, 0).data(Qt.ItemDataRole.UserRole) == bad:
                for col in range(len(COLUMNS)):
                    self._cell(row, col).setBackground(red)
                self.table.scrollToItem(self._cell(row, 0))
