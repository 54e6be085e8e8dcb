"""Import an assistant…: restore an exported bundle (`kindred export`, or Export… in History)
from the window, as `kindred import` does from a terminal.

The whole bundle is checked before anything is written (`core.archive.bundle`); a bad one is
refused with the core's message and nothing changes. The imported assistant opens with every
version archived and none active: the version that was active when it was exported is offered
for restoring through the usual consent dialog (History), never switched on silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from kindred.core.basics.ids import AssistantId
from kindred.ui.kit.tasks import Task
from kindred.ui.ops.changes import Change
from kindred.ui.ops.op import OpContext, run_op


@dataclass(frozen=True)
class Imported:
    """What the window needs after an import (plain values: made on a pool thread)."""

    assistant_id: AssistantId
    name: str
    versions: int
    conversations: int
    was_active: str | None
    waiting: int

    def sentence(self) -> str:
        said = (f"Imported {self.name}: {self.versions} version(s), "
                f"{self.conversations} conversation(s).")
        if self.waiting:
            said += (f" {self.waiting} version(s) were made for a base model that is not among "
                     "your models; they are archived and work once you add that model file.")
        return said


def import_job(op: OpContext, path: str) -> Imported:
    """The core checks the whole bundle first."""
    from kindred.core.bundles.bundle import import_bundle

    result = import_bundle(op.session.store, path)
    return Imported(result.assistant.id, result.assistant.name, len(result.versions),
                    result.conversations, result.was_active, len(result.waiting))


class AssistantImport(QObject):
    """`imported(Imported)` or `failed(str)` once a started import ends; one at a time."""

    imported = Signal(object)
    failed = Signal(str)

    def __init__(self, home: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.home = home
        self.task: Task | None = None

    def start(self, path: str) -> bool:
        """Import `path` in the background; False (nothing started) while one is running."""
        if self.task is not None:
            return False
        home = self.home

        def done(result: Imported) -> None:
            self.task = None
            self.imported.emit(result)

        def failed(message: str) -> None:
            self.task = None
            self.failed.emit(message)

        self.task = run_op(home, lambda op: import_job(op, path), on_done=done, on_error=failed,
                           changes=(Change.ASSISTANTS, Change.VERSIONS), parent=self)
        return True
