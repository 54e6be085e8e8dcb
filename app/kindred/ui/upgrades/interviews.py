"""Retirement interviews in the window: `InterviewRunner` holds a retiring version's interview on
a pool thread (own engine and database connection) with progress in the status bar; the window
never waits for it."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from PySide6.QtCore import QObject, Signal

from kindred.core.archive import versions
from kindred.core.basics.ids import AssistantId, VersionId
from kindred.core.basics.progress import result_last
from kindred.core.session import Session
from kindred.core.upgrades import retirement
from kindred.ui.kit.tasks import Task
from kindred.ui.ops.op import OpContext, run_op


def interview_job(op: OpContext, version_id: VersionId
                  ) -> Generator[retirement.Progress, None, retirement.Record | None]:
    """Hold the interview (yielding progress), then write the report."""
    record = yield from result_last(retirement.hold_interview(op.session, version_id))
    retirement.report_for(op.session.store, version_id)
    return record


class InterviewRunner(QObject):
    """Interviews retiring versions one at a time in the background, with progress."""

    progress = Signal(str, float)  # message, fraction
    finished = Signal(str)         # version id
    failed = Signal(str)

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.queue: list[VersionId] = []
        self.task: Task | None = None

    def hold(self, version_id: VersionId) -> None:
        if version_id not in self.queue:
            self.queue.append(version_id)
        self._next()

    def catch_up(self, assistant_id: AssistantId) -> None:
        """Retired versions never interviewed (e.g. the app closed during one)."""
        for version_id in retirement.pending(self.session.store, assistant_id):
            self.hold(version_id)

    @property
    def busy(self) -> bool:
        return self.task is not None

    def stop(self) -> None:
        """At shutdown: the running interview stops before its next question (nothing is
        stored; `kindred versions interview` or the next retirement holds it again)."""
        self.queue.clear()
        if self.task is not None:
            self.task.cancel()

    def _next(self) -> None:
        if self.task is not None or not self.queue:
            return
        version_id = self.queue[0]
        home = self.session.home.root
        name = versions.name_of(self.session.store,
                                versions.get_version(self.session.store, version_id))

        def progress(event: Any) -> None:
            if isinstance(event, retirement.Progress):  # its first says whom it interviews
                said = "" if event.message.startswith("Interviewing") else f": {event.message}"
                self.progress.emit(f"Interviewing {name} before it retires{said}",
                                   event.fraction)

        self.task = run_op(home, lambda op: interview_job(op, version_id), on_progress=progress,
                           on_done=lambda _r: self._ended(version_id, None),
                           on_error=lambda m: self._ended(version_id, m), background=True)

    def _ended(self, version_id: VersionId, error: str | None) -> None:
        self.task = None
        if version_id in self.queue:
            self.queue.remove(version_id)
        if error is None:
            self.finished.emit(version_id)
        else:
            self.failed.emit(error)
        self._next()
