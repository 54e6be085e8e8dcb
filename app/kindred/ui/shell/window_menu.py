"""The window's More menu and what it opens: assistants (new, settings, import), base models
(add, remove, move to another), keyboard shortcuts and About. Each dialog opens window-modal
through `_open`, which keeps it as `self.dialog` (tests find it there). The main window is this
class plus its pages and status bar (`main_window`) and its reactions (`window_reactions`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QFileDialog, QMainWindow, QMenu, QMessageBox

from kindred.core.session import Session
from kindred.core.training.config import TrainConfig
from kindred.core.training.run import RunDir
from kindred.ui.archive.bundle_import import AssistantImport
from kindred.ui.chat.chat_controller import ChatController
from kindred.ui.chat.sidebar import Sidebar
from kindred.ui.kit.icons import icon
from kindred.ui.learning.insight_ahead import InsightAhead
from kindred.ui.models.add_model import AddModelDialog
from kindred.ui.models.assistant import AssistantDialog
from kindred.ui.sharing.dialog import SharingDialog
from kindred.ui.sharing.sharing import Sharing
from kindred.ui.shell.about import about_box, shortcuts_box
from kindred.ui.training.preparation import Preparation

if TYPE_CHECKING:
    from kindred.ui.upgrades.migrate import MigrateDialog


class WindowMenu(QMainWindow):
    """The More menu's commands; `MainWindow` sets the parts they use."""

    session: Session
    controller: ChatController
    sidebar: Sidebar
    assistant_import: AssistantImport
    preparation: Preparation
    insight_ahead: InsightAhead
    sharing: Sharing
    dialog: QDialog | QMessageBox | None
    move_dialog: MigrateDialog | None = None  # open beside the window

    def _more_menu(self) -> QMenu:
        menu = QMenu(self)
        menu.aboutToShow.connect(lambda: self._fill_more(menu))  # icons in today's palette
        self._fill_more(menu)
        return menu

    def _fill_more(self, menu: QMenu) -> None:
        menu.clear()
        menu.addAction(icon("user"), "New assistant…", self.new_assistant)
        menu.addAction(icon("archive"), "Import an assistant…", self.import_assistant)
        menu.addAction(icon("settings"), "Assistant settings…", self.open_settings)
        menu.addAction(icon("model"), "Add a model…", self.add_model)
        menu.addAction(icon("model"), "Remove a model…", self.remove_model)
        menu.addAction(icon("model"), "Move to another model…",
                       lambda: self.move_model())
        menu.addAction(icon("share"), "Other apps…", self.open_sharing)
        menu.addSeparator()
        menu.addAction("Keyboard shortcuts", self.show_shortcuts)
        menu.addAction("About Kindred", self.show_about)

    def open_sharing(self) -> None:
        """Let other apps on this computer talk to the assistant (the local API)."""
        self._open(SharingDialog(self.sharing, self))

    def open_settings(self) -> None:
        dialog = AssistantDialog(self.session, self.controller.assistant, self)
        dialog.saved.connect(lambda _a: self.controller.assistant_updated())
        self._open(dialog)

    def new_assistant(self) -> None:
        dialog = AssistantDialog(self.session, None, self)
        dialog.saved.connect(lambda a: self.controller.select_assistant(a.id))
        dialog.rejected.connect(lambda: self.sidebar.set_assistants(
            self.controller.assistants(), self.controller.assistant.id))
        self._open(dialog)

    def import_assistant(self, path: str | None = None) -> None:
        """Restore an exported assistant (a .kindred bundle); `path` skips the file dialog."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Import an assistant", str(Path.home()),
                                                  "Kindred bundles (*.kindred);;All files (*)")
            if not path:
                return
        if self.assistant_import.start(path):
            self.statusBar().showMessage(f"Checking and importing {Path(path).name}…")

    def add_model(self) -> None:
        dialog = AddModelDialog(self.session.home.root, self)
        dialog.model_added.connect(lambda m: self.statusBar().showMessage(
            f"Added {m.name}. Pick it when you create an assistant.", 6000))
        self._open(dialog)

    def remove_model(self) -> None:
        """Forget a base model (its file is kept), with consent; see core.model_removal."""
        from kindred.ui.models.remove_model import RemoveModelDialog

        dialog = RemoveModelDialog(self.session, self)
        dialog.removed.connect(lambda m: self.statusBar().showMessage(
            f"Removed {m.name} from Kindred's models; its file is kept.", 6000))
        self._open(dialog)

    def move_model(self, config: TrainConfig | None = None,
                   prompt_limit: int | None = None) -> None:
        """Move the assistant to another base model, keeping what it learned (`config` and
        `prompt_limit`: a quicker move, for tests)."""
        from kindred.ui.upgrades.migrate import MigrateDialog

        shown = getattr(self, "move_dialog", None)
        if shown is not None and shown.assistant.id == self.controller.assistant.id:
            shown.refresh()  # it stands beside the window: brought forward, not opened twice
            shown.raise_()
            shown.activateWindow()
            self.dialog = shown
            return
        dialog = MigrateDialog(self.session, self.controller.assistant, self, config=config,
                               prompt_limit=prompt_limit)
        self.move_dialog = dialog
        dialog.finished.connect(lambda _r: setattr(self, "move_dialog", None)
                                if self.move_dialog is dialog else None)
        dialog.switched.connect(lambda _v: self._base_switched())
        dialog.launched.connect(self._move_launched)
        self.preparation.block()  # a move trains on another base: leave it the cores
        self.insight_ahead.pause()
        dialog.finished.connect(lambda _r: self.preparation.unblock())
        dialog.finished.connect(lambda _r: self.insight_ahead.carry_on())
        self._open(dialog, modal=False)  # its plan and run take minutes: keep chatting

    def _base_switched(self) -> None:
        """The assistant now talks through another base (`MainWindow` reloads everything)."""
        raise NotImplementedError

    def _move_launched(self, run: RunDir, pid: int) -> None:
        """A move's run started: the Training page and the status bar follow it too."""
        raise NotImplementedError

    def show_shortcuts(self) -> None:
        self._open(shortcuts_box(self))

    def show_about(self) -> None:
        self._open(about_box(self))

    def _open(self, dialog: QDialog, *, modal: bool = True) -> None:
        """Open window-modal (or, `modal=False`, beside the window: long work the person need
        not watch) without a nested event loop; tests find it as `self.dialog`."""
        self.dialog = dialog
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _r: setattr(self, "dialog", None)
                                if self.dialog is dialog else None)
        if modal:
            dialog.open()
        else:
            dialog.show()
