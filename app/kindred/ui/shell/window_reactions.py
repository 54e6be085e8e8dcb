"""How the window keeps its pages in step: another assistant chosen, the engine loaded or
failed, versions changed (a rollout step, History, a trial's pick, a move to another base), an
interview held, an assistant imported. `MainWindow` builds the parts and wires them to these;
this layer only says what each event changes on screen.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QLabel, QMessageBox, QProgressBar

from kindred.core.archive import assistant_state, versions
from kindred.core.basics.ids import VersionId
from kindred.core.chat.conversations import Conversation, Message, list_messages
from kindred.core.home.assistants import Assistant
from kindred.core.training.run import RunDir
from kindred.core.upgrades import trial
from kindred.ui.archive.bundle_import import AlreadyHere, Imported, copy_box
from kindred.ui.archive.history_view import HistoryView
from kindred.ui.archive.ledger_view import LedgerView
from kindred.ui.archive.usage_view import UsageView
from kindred.ui.learning.insight_view import InsightView
from kindred.ui.learning.teach_view import TeachView
from kindred.ui.ops.changes import Change
from kindred.ui.shell.chat_window import ChatWindow
from kindred.ui.shell.status_items import StatusItems
from kindred.ui.training.training_view import TrainingView
from kindred.ui.upgrades.interviews import InterviewRunner
from kindred.ui.upgrades.rollout_bar import RolloutBar
from kindred.ui.upgrades.trial_panel import TrialPanel


class WindowReactions(ChatWindow):
    """The reactions that keep pages, status bar and chat in step; `MainWindow` sets the
    parts they use."""

    history: HistoryView
    ledger: LedgerView
    insight: InsightView
    usage: UsageView
    teach: TeachView
    training: TrainingView
    rollout_bar: RolloutBar
    trial_panel: TrialPanel
    interviews: InterviewRunner
    status_items: StatusItems
    busy_bar: QProgressBar
    state_label: QLabel
    model_label: QLabel
    _closed: bool

    def _assistant_changed(self, assistant: Assistant) -> None:
        self.history.set_assistant(assistant)
        self.ledger.set_assistant(assistant)
        self.insight.set_assistant(assistant)
        self.usage.set_assistant(assistant)
        self.teach.set_assistant(assistant)
        self.training.set_assistant(assistant)
        self.sidebar.set_assistants(self.controller.assistants(), assistant.id)
        self.chat_view.set_assistant_name(assistant.name)
        self.setWindowTitle(  # "Kindred — Kindred" says nothing twice
            assistant.name if assistant.name == "Kindred" else f"{assistant.name} — Kindred")
        model = self.session.model_for(assistant)
        self.model_label.setText(model.name)
        self.rollout_bar.set_assistant(assistant.id)
        self._show_adapters(assistant_state.speaks_through(self.session.store, assistant.id))
        self._follow_trial()
        self.preparation.consider(assistant.id)

    def _operation_failed(self, message: str) -> None:
        if not self._closed:
            self.statusBar().showMessage(message, 10000)

    def _changed(self, changes: frozenset[Change]) -> None:
        if self._closed:  # closing or closed: nothing here is shown any more
            return
        if Change.SPEAKS in changes:
            self.controller.reload_engine()
        if changes & {Change.SPEAKS, Change.VERSIONS, Change.ROLLOUT}:
            self._versions_changed()
        if Change.MODELS in changes:
            self.history.refresh()

    def _versions_changed(self) -> None:
        """A rollout moved, or History changed the active version: bar, status, interviews."""
        self.rollout_bar.refresh()
        self.history.refresh()
        self.interviews.catch_up(self.controller.assistant.id)

    def _trial_picked(self) -> None:
        conversation = self.controller.conversation
        if conversation is not None:
            self.chat_view.show_messages(list_messages(self.session.store, conversation.id))
        self._follow_trial()
        self.rollout_bar.refresh()
        if self.move_dialog is not None:  # a move's trial: its card shows the tally
            self.move_dialog.refresh()
        self.controller.after_answer()  # a tally that stops losing lets a held rollout go on

    def _conversation_opened(self, conversation: Conversation | None,
                             messages: list[Message]) -> None:
        super()._conversation_opened(conversation, messages)
        self._follow_trial()

    def _follow_trial(self) -> None:
        """The open conversation's trial round waiting for the person's pick has its panel
        (also when the conversation is opened again later), and until the pick nothing in
        the window names a version: not the bar, the status bar or any answer's small print
        (the trial is blind). Another conversation's round waits there."""
        conversation = self.controller.conversation
        waiting = (trial.undecided(self.session.store, conversation.id)
                   if conversation is not None else None)
        panel = self.trial_panel
        if waiting is not None and (panel.round is None or panel.round.id != waiting.id):
            panel.show_round(waiting)
        elif waiting is None and (conversation is None
                                  or panel.conversation_id != conversation.id):
            panel.hide()  # another conversation's round (waiting or revealed) stays there
            panel.round = None
        self.rollout_bar.set_blind(waiting is not None)
        self.status_items.set_blind(waiting is not None)

    def _interviewed(self, version_id: VersionId) -> None:
        name = versions.names(self.session.store, self.controller.assistant.id).get(
            version_id, version_id[:12])
        self.statusBar().showMessage(f"{name} was interviewed before retiring; its interview "
                                     "and report are in History.", 10000)
        self.history.refresh()

    def _show_adapters(self, adapters: Sequence[tuple[str, float]]) -> None:
        named = versions.names(self.session.store, self.controller.assistant.id) \
            if adapters else {}
        self.status_items.show_adapters(named, adapters)

    def _engine_changed(self, state: str, detail: str) -> None:
        self.busy_bar.setVisible(state == "loading")
        if state == "loading":
            self.state_label.setText("Loading model…")
            self.chat_view.set_ready(False, "Loading model… you can already type.")
        elif state == "ready":
            self.state_label.setText("Ready")
            self.chat_view.set_ready(True)
            # Interviews left unfinished (the app closed during one) resume once chat is up.
            self.interviews.catch_up(self.controller.assistant.id)
            info = self.controller.engine_info
            if info is not None:
                self.model_label.setText(info.model_name)
                self._show_adapters(info.adapters)
            if self.trial_panel.round is None:  # a reveal was about what answered before
                self.trial_panel.hide()
        else:
            self.state_label.setText("Model not loaded")
            self.chat_view.set_ready(False)
            self.chat_view.show_error(detail)

    # -- commands --------------------------------------------------------------------------

    def _assistant_imported(self, done: Imported) -> None:
        self.controller.select_assistant(done.assistant_id)
        self.statusBar().showMessage(done.sentence(), 15000)
        self.show_page("History")
        self.history.say(done.sentence())
        if done.was_active:  # offered, through the usual consent, never switched on silently
            self.history.restore(versions.get_version(self.session.store, done.was_active))

    def _import_failed(self, message: str) -> None:
        self.statusBar().clearMessage()
        self._open(QMessageBox(QMessageBox.Icon.Warning, "Import an assistant", message,
                               parent=self))

    def _import_already_here(self, found: AlreadyHere) -> None:
        """The bundle's versions are here already: offer it as a copy (one click)."""
        self.statusBar().clearMessage()

        def copy() -> None:
            if self.assistant_import.start(found.path, as_copy=True):
                self.statusBar().showMessage(f"Importing a copy of {found.assistant}…")

        self._open(copy_box(self, found, copy))

    def _move_launched(self, run: RunDir, pid: int) -> None:
        if self.training.run is None:  # (a training run of its own is not left for it)
            self.training.attach(run, pid)

    def _base_switched(self) -> None:
        self.controller.assistant_updated()
        self.controller.reload_engine()
        self._versions_changed()  # the version that stepped down is interviewed
