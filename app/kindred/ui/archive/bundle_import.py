"""Import an assistant…: restore an exported bundle (`kindred export`, or Export… in History)
from the window, as `kindred import` does from a terminal.

The whole bundle is checked before anything is written (`core.bundles.bundle`); a bad one is
refused with the core's message and nothing changes. The imported assistant opens with every
version archived and none active: the version that was active when it was exported is offered
for restoring through the usual consent dialog (History), never switched on silently.

A bundle whose versions are here already (exported from this home, or imported before) cannot
come in again as it is: the window offers to import it as a copy (`copy_box`), a new assistant
beside the original whose versions get new ids (`core.bundles.copies`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from kindred.core.basics.ids import AssistantId
from kindred.ui.kit.tasks import Task
from kindred.ui.ops.changes import Change, announce
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
    copy_of: str | None = None

    def sentence(self) -> str:
        if self.copy_of is not None:
            said = (f"Imported {self.name}, a copy of {self.copy_of}: {self.versions} "
                    f"version(s) under new ids, {self.conversations} conversation(s).")
        else:
            said = (f"Imported {self.name}: {self.versions} version(s), "
                    f"{self.conversations} conversation(s).")
        if self.waiting:
            said += (f" {self.waiting} version(s) were made for a base model that is not among "
                     "your models; they are archived and work once you add that model file.")
        return said


@dataclass(frozen=True)
class AlreadyHere:
    """An import refused because the bundle's versions are here already: a copy can come in."""

    path: str
    assistant: str
    message: str


def import_job(op: OpContext, path: str, as_copy: bool = False) -> Imported | AlreadyHere:
    """The core checks the whole bundle first."""
    from kindred.core.bundles.bundle import AlreadyHereError, import_bundle

    try:
        result = import_bundle(op.session.store, path, as_copy=as_copy)
    except AlreadyHereError as exc:
        return AlreadyHere(path, exc.assistant, str(exc))
    return Imported(result.assistant.id, result.assistant.name, len(result.versions),
                    result.conversations, result.was_active, len(result.waiting),
                    result.copy_of)


def copy_box(parent: QWidget, found: AlreadyHere, on_copy: Callable[[], object]) -> QMessageBox:
    """The offer to import as a copy ("Import as a copy", the default, or Cancel); `on_copy`
    runs on the first. Not shown: the caller opens it (no nested event loop)."""
    name = found.assistant
    box = QMessageBox(QMessageBox.Icon.Question, "Import an assistant",
                      f"{name} is here already.", parent=parent)
    box.setInformativeText(
        f"{Path(found.path).name} was exported from here or imported before: its versions are "
        "in this data home, so it cannot come in again as it is. Import it as a copy: a new "
        f"assistant beside {name}, with the same versions, conversations and learning under "
        f"new ids. {name} stays as it is. Nothing was changed yet.")
    copy = box.addButton("Import as a copy", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(copy)
    box.setObjectName("copyBox")
    box.buttonClicked.connect(lambda button: on_copy() if button is copy else None)
    return box


class AssistantImport(QObject):
    """`imported(Imported)`, `already_here(AlreadyHere)` (nothing changed; a copy can come in)
    or `failed(str)` once a started import ends; one at a time."""

    imported = Signal(object)
    already_here = Signal(object)
    failed = Signal(str)

    def __init__(self, home: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.home = home
        self.task: Task | None = None

    def start(self, path: str, *, as_copy: bool = False) -> bool:
        """Import `path` (`as_copy`: beside the assistant it came from, under new ids) in the
        background; False (nothing started) while one is running."""
        if self.task is not None:
            return False
        home = self.home

        def done(result: Imported | AlreadyHere) -> None:
            self.task = None
            if isinstance(result, AlreadyHere):
                self.already_here.emit(result)
                return
            announce(Change.ASSISTANTS, Change.VERSIONS)
            self.imported.emit(result)

        def failed(message: str) -> None:
            self.task = None
            self.failed.emit(message)

        self.task = run_op(home, lambda op: import_job(op, path, as_copy), on_done=done,
                           on_error=failed, parent=self)
        return True
