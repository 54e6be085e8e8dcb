"""What it learned: the page that picks a version and a comparison and works out the insight.

Written for someone who has never heard of LoRA: the summary sentences come first, then what
taught it (their own preferences and corrections), then its answers before and now, and only
then the charts (words it favours, where inside the model it changed, how well it predicts what
the person wants). The insight is computed by `kindred.core.learning.insight` in the background with
its
own engine and its own database connection, so the chat stays usable; results are cached per
version by the core, so opening the page again is instant.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from kindred.core.archive import cards, versions
from kindred.core.basics.ids import AssistantId, VersionId
from kindred.core.basics.progress import Progress, result_last
from kindred.core.basics.states import VersionStatus
from kindred.core.home.assistants import Assistant, get_assistant
from kindred.core.session import Session
from kindred.ui.kit.page import Page
from kindred.ui.kit.tasks import Task
from kindred.ui.kit.widgets import scrolled
from kindred.ui.learning.insight_ahead import InsightAhead
from kindred.ui.learning.insight_sections import InsightReport
from kindred.ui.learning.insight_sections import label as _label
from kindred.ui.ops.op import OpContext, run_op

EMPTY_TEXT = "Teach your assistant, then train it, to see what it learned."
EMPTY_HINT = ("Rate or correct a few of its answers, or tell it your preferences; after "
              "training, this page shows what changed and what taught it.")
PLAIN_WORDS = {"the adapter": "the new version", "the comparison": "the old version"}


class _LazyEngine:
    """The page's own Engine, loaded on first use: a cached insight never needs the model."""

    def __init__(self, model_path: Path) -> None:
        self.model_path = model_path
        self._engine: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._engine is None:
            from kindred.core.engine.llama import Engine

            self._engine = Engine(self.model_path)
        return getattr(self._engine, name)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def insight_job(op: OpContext, assistant_id: AssistantId, version_id: VersionId, against: str
                ) -> Generator[Any, None, dict[str, Any] | None]:
    """Its own engine, loaded only if something is not cached; yields the core's progress,
    returns the result. Closing the generator (Cancel) stops at the next step and frees it."""
    from kindred.core.learning import insight
    from kindred.core.learning.feedback import system_prompt

    assistant = get_assistant(op.session.store, assistant_id)
    engine = _LazyEngine(op.session.model_for(assistant).path)
    try:
        return (yield from result_last(insight.compute(
            op.session.store, engine, version_id,  # type: ignore[arg-type]
            against=against, system=system_prompt(op.session.store, assistant))))
    finally:
        engine.close()


class InsightView(Page):
    computed = Signal(dict)  # a result was shown (from the cache or freshly computed)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__("What it learned", "How a version of your assistant differs from "
                         "before, and what taught it.", parent, bottom=12)
        self.session = session
        self.assistant: Assistant = session.assistant()
        self.task: Task | None = None
        self.task_key: tuple[str, str] | None = None
        self.result: dict[str, Any] | None = None
        self.names: dict[str, str] = {}
        self.shown_key: tuple[str, str] | None = None
        self.cancelled_key: tuple[str, str] | None = None
        self.started_at = 0.0
        self.elapsed = 0.0
        self.progress_values: list[int] = []
        self.report: InsightReport | None = None
        self.ahead: InsightAhead | None = None
        self.following_ahead: str | None = None  # the version whose background run is shown
        self.version_box = QComboBox()
        self.version_box.setMinimumWidth(260)
        self.against_box = QComboBox()
        self.against_box.setMinimumWidth(260)
        self.version_box.currentIndexChanged.connect(lambda _i: self._version_picked())
        self.against_box.currentIndexChanged.connect(lambda _i: self._picked())
        self.pickers = QWidget()
        pickers = QHBoxLayout(self.pickers)
        pickers.setContentsMargins(0, 0, 0, 0)
        pickers.addWidget(QLabel("Version"))
        pickers.addWidget(self.version_box)
        pickers.addSpacing(12)
        pickers.addWidget(QLabel("compared with"))
        pickers.addWidget(self.against_box)
        pickers.addStretch(1)

        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setTextVisible(True)
        self.progress_label = _label("", muted=True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_box = QWidget()
        row = QHBoxLayout(self.progress_box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        progress_column = QVBoxLayout()
        progress_column.addWidget(self.progress_box)
        progress_column.addWidget(self.progress_label)
        self.progress_box.hide()

        # The three states: nothing to show, waiting (computing, cancelled, failed), the result.
        self.empty = _label(EMPTY_TEXT, size=1.3)
        self.empty.setObjectName("emptyTitle")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        empty_hint = _label(EMPTY_HINT, muted=True)
        empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        empty_page = QWidget()
        el = QVBoxLayout(empty_page)
        el.addStretch(1)
        el.addWidget(self.empty)
        el.addWidget(empty_hint)
        el.addStretch(2)
        self.waiting_label = _label("", size=1.1)
        self.waiting_label.setObjectName("dialogStatus")  # muted; red for an error
        self.waiting_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.compute_button = QPushButton("Work it out")
        self.compute_button.clicked.connect(self.start)
        waiting = QWidget()
        wl = QVBoxLayout(waiting)
        wl.addStretch(1)
        wl.setContentsMargins(120, 0, 120, 0)  # a readable column of text
        wl.addWidget(self.waiting_label)
        wl.addWidget(self.compute_button, 0, Qt.AlignmentFlag.AlignHCenter)
        wl.addStretch(2)
        self.report_scroll = scrolled()
        self.stack = QStackedWidget()
        for widget in (empty_page, waiting, self.report_scroll):
            self.stack.addWidget(widget)

        self.add_row(self.pickers)
        self.add_row(progress_column)
        self.add_row(self.stack, 1)
        self.refresh()

    # -- pickers -----------------------------------------------------------------------------

    def set_assistant(self, assistant: Assistant) -> None:
        if assistant.id != self.assistant.id:
            self.cancel()
            self.cancelled_key = None
        self.assistant = assistant
        self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the versions (training may have added one) and show the picked one."""
        store = self.session.store
        self.assistant = get_assistant(store, self.assistant.id)
        all_versions = versions.list_versions(store, self.assistant.id)
        self.names = versions.names(store, self.assistant.id)
        usable = [v for v in all_versions if v.status != VersionStatus.DELETED]
        current = self.version_box.currentData()
        wanted = current if current in {v.id for v in usable} else self.assistant.active_version
        self.version_box.blockSignals(True)
        self.version_box.clear()
        for v in reversed(usable):  # newest first
            when = datetime.fromtimestamp(v.created_at).strftime("%b %d, %H:%M")
            self.version_box.addItem(f"{self.names[v.id]} · {v.status} · {when}", v.id)
        index = self.version_box.findData(wanted) if wanted else -1
        self.version_box.setCurrentIndex(index if index >= 0 else 0)
        self.version_box.blockSignals(False)
        self._fill_against()
        self._picked()

    def _fill_against(self) -> None:
        key = self.version_box.currentData()
        current = self.against_box.currentData()
        self.against_box.blockSignals(True)
        self.against_box.clear()
        if key:
            version = versions.get_version(self.session.store, key)
            self.against_box.addItem("the base model (before any learning)", "base")
            others = [v for v in versions.list_versions(self.session.store, self.assistant.id)
                      if v.status != VersionStatus.DELETED and v.id != key]
            if version.parent and version.parent in {v.id for v in others}:
                self.against_box.addItem(f"its parent, {self.names[version.parent]}", "parent")
            for other in reversed(others):
                self.against_box.addItem(self.names[other.id], other.id)
        index = self.against_box.findData(current)
        self.against_box.setCurrentIndex(index if index >= 0 else 0)
        self.against_box.blockSignals(False)

    def _version_picked(self) -> None:
        self._fill_against()
        self._picked()

    def current_key(self) -> tuple[str, str] | None:
        version, against = self.version_box.currentData(), self.against_box.currentData()
        return (str(version), str(against or "base")) if version else None

    def pick(self, version_id: VersionId, against: str = "base") -> None:
        """Choose a version and a comparison (as the pickers would)."""
        self.version_box.setCurrentIndex(self.version_box.findData(version_id))
        self.against_box.setCurrentIndex(self.against_box.findData(against))

    def _picked(self) -> None:
        key = self.current_key()
        has_versions = key is not None
        self.version_box.setEnabled(has_versions)
        self.against_box.setEnabled(has_versions)
        self.pickers.setVisible(has_versions)
        if not has_versions:
            self.cancel()
            self.stack.setCurrentIndex(0)
            return
        if key == self.shown_key:
            self.stack.setCurrentIndex(2)
            return
        if (self.task is not None and key == self.task_key) or (
                self.following_ahead is not None and key == (self.following_ahead, "base")):
            return  # already being worked out
        if self.isVisible() and key != self.cancelled_key:
            self.start()
        elif self.task is None:
            self._waiting("Press “Work it out” to see what this version learned.", button=True)

    # -- computing ---------------------------------------------------------------------------

    def start(self) -> None:
        """Compute (or load from the cache) the insight for the picked version, in the
        background; anything already running for another pick is cancelled."""
        key = self.current_key()
        if key is None:
            return
        if self.task is not None:
            self.task.cancel()
        self.cancelled_key = None
        self.progress_values = []
        self.started_at = time.monotonic()
        self.progress.setValue(0)
        self.progress_label.setText("Starting…")
        self.progress_box.show()
        self.progress_label.show()
        self._waiting("Working out what it learned: it answers a few questions the old way and "
                      "the new way, and compares. This can take up to a minute; you can keep "
                      "chatting meanwhile.", button=False)
        home, aid = self.session.home.root, self.assistant.id
        version_id, against = VersionId(key[0]), key[1]
        if (self.ahead is not None and against == "base"
                and self.ahead.running_for() == version_id):
            # already being worked out in the background since the training: follow that
            self.following_ahead = version_id
            self.task, self.task_key = None, None
            self._progress(Progress(*self.ahead.last_progress))
            return
        self.following_ahead = None
        task: Task | None = None

        def done(result: Any) -> None:
            if task is self.task:
                self._done(key, result)

        def failed(message: str) -> None:
            if task is self.task:
                self._failed(message)

        task = run_op(home, lambda op: insight_job(op, aid, version_id, against),
                        on_done=done, on_error=failed, on_progress=self._progress, parent=self,
                        background=True)  # "you can keep chatting meanwhile": behind the chat
        self.task, self.task_key = task, key

    def _progress(self, event: Any) -> None:
        fraction = getattr(event, "fraction", None)
        if fraction is None:
            return  # the result itself; `done` shows it
        value = round(float(fraction) * 100)
        self.progress_values.append(value)
        self.progress.setValue(value)
        message = str(getattr(event, "message", ""))
        for word, plain in PLAIN_WORDS.items():
            message = message.replace(word, plain).replace(word.capitalize(),
                                                           plain.capitalize())
        self.progress_label.setText(message)

    def follow(self, ahead: InsightAhead) -> None:
        """Show the background run's progress instead of starting the same work again."""
        self.ahead = ahead
        ahead.progressed.connect(self._ahead_progressed)
        ahead.finished.connect(self._ahead_finished)

    def _ahead_progressed(self, fraction: float, message: str) -> None:
        if self.following_ahead is not None and self.task is None:
            self._progress(Progress(fraction, message))

    def _ahead_finished(self, version_id: VersionId, _cached: bool) -> None:
        if self.following_ahead != version_id:
            return
        self.following_ahead = None
        if self.current_key() == (version_id, "base"):
            self.start()  # from the cache now (or, if it was stopped, worked out here)

    def cancel(self) -> None:
        """Stop computing (at the core's next step); nothing is cached for a cancelled run.
        A background run being followed goes on; the page just stops showing it."""
        if self.task is None and self.following_ahead is None:
            return
        if self.task is not None:
            self.task.cancel()
        self.task = None
        self.following_ahead = None
        self.cancelled_key = self.current_key()
        self.progress_box.hide()
        self.progress_label.hide()
        if self.shown_key != self.current_key():
            self._waiting("Cancelled. Nothing was saved; press “Work it out” to start again.",
                          button=True)

    def _done(self, key: tuple[str, str], result: dict[str, Any]) -> None:
        self.task = None
        self.elapsed = time.monotonic() - self.started_at
        self.progress_box.hide()
        self.progress_label.hide()
        self.result = result
        self.shown_key = key
        self.show_report(result)
        self.stack.setCurrentIndex(2)
        self.computed.emit(result)

    def _failed(self, message: str) -> None:
        self.task = None
        self.progress_box.hide()
        self.progress_label.hide()
        self._waiting(f"{message}\nNothing was changed.", button=True, error=True)

    def _waiting(self, text: str, *, button: bool, error: bool = False) -> None:
        self.waiting_label.setText(text)
        self.waiting_label.setProperty("error", error)
        self.waiting_label.style().unpolish(self.waiting_label)
        self.waiting_label.style().polish(self.waiting_label)
        self.compute_button.setVisible(button)
        self.stack.setCurrentIndex(1)

    # -- rendering ---------------------------------------------------------------------------

    def show_report(self, result: dict[str, Any]) -> None:
        """Replace the shown report with one for `result` (the core's dict)."""
        old = self.report_scroll.takeWidget()
        if old is not None:
            old.deleteLater()
        card = cards.get_card(self.session.store, VersionId(str(result.get("version", ""))))
        self.report = InsightReport({**result, "quality": card}, self.names)
        self.report_scroll.setWidget(self.report)
        self.report_scroll.verticalScrollBar().setValue(0)
