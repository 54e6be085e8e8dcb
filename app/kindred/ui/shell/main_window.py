"""The main window: a navigation rail of pages (Chat first), a status bar, keyboard shortcuts.

Other views join with `add_page(name, widget, icon)`; this file wires the chat page's views to
the ChatController and otherwise stays out of the way.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication, QSettings, Qt
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QFrame,
    QHBoxLayout,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from kindred.core.basics.ids import AssistantId, ConversationId
from kindred.core.session import Session, open_session
from kindred.ui.archive.bundle_import import AssistantImport
from kindred.ui.archive.history_view import HistoryView
from kindred.ui.archive.ledger_view import LedgerView
from kindred.ui.archive.usage_view import UsageView
from kindred.ui.chat.chat_controller import ChatController
from kindred.ui.chat.chat_view import ChatView
from kindred.ui.chat.inference import InferenceThread
from kindred.ui.chat.sidebar import Sidebar
from kindred.ui.kit.icons import app_icon, set_icon
from kindred.ui.learning.insight_ahead import InsightAhead
from kindred.ui.learning.insight_view import InsightView
from kindred.ui.learning.teach_view import TeachView
from kindred.ui.ops.changes import bus
from kindred.ui.sharing.sharing import Sharing
from kindred.ui.shell.status_items import StatusItems
from kindred.ui.shell.window_reactions import WindowReactions
from kindred.ui.training.preparation import Preparation
from kindred.ui.training.training_view import TrainingView
from kindred.ui.upgrades.interviews import InterviewRunner
from kindred.ui.upgrades.rollout_bar import RolloutBar
from kindred.ui.upgrades.trial_panel import TrialPanel


class MainWindow(WindowReactions):
    """The window: pages, status bar, shortcuts, and the wiring to the reactions that keep
    them in step (`WindowReactions`)."""

    def __init__(self, home: str | Path | None = None, *,
                 session: Session | None = None) -> None:
        super().__init__()
        self.session = session or open_session(home)
        self._owns_session = session is None
        self.setWindowTitle("Kindred")
        self.setWindowIcon(app_icon())
        self.resize(1180, 780)
        self.setMinimumSize(760, 480)
        self.settings = QSettings(str(self.session.home.root / "ui.ini"),
                                  QSettings.Format.IniFormat)
        self.dialog: QDialog | QMessageBox | None = None  # the open dialog, if any
        self._search = ""
        self._closed = False

        self.inference = InferenceThread(self.session.home.root, self)
        self.controller = ChatController(self.session, self.inference, self)

        # Pages and the rail that switches them.
        self.stack = QStackedWidget()
        self.rail = QFrame()
        self.rail.setObjectName("rail")
        self.rail_layout = QVBoxLayout(self.rail)
        self.rail_layout.setContentsMargins(8, 12, 8, 12)
        self.rail_layout.setSpacing(6)
        self.rail_layout.addStretch(1)
        self.rail_group = QButtonGroup(self)
        self.rail_group.setExclusive(True)
        self.pages: dict[str, QWidget] = {}
        more = QToolButton()
        more.setObjectName("railButton")
        set_icon(more, "more")
        more.setToolTip("More")
        more.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        more.setMenu(self._more_menu())
        self.rail_layout.addWidget(more, 0, Qt.AlignmentFlag.AlignHCenter)

        central = QWidget()
        body = QHBoxLayout(central)
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(0)
        body.addWidget(self.rail)
        body.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        # The chat page.
        self.sidebar = Sidebar()
        self.chat_view = ChatView()
        self.splitter = QSplitter()
        self.splitter.setObjectName("chatSplitter")
        self.splitter.addWidget(self.sidebar)
        # Gradual replacement: the rollout bar and the trial's pick sit above the chat.
        self.rollout_bar = RolloutBar(self.session)
        self.trial_panel = TrialPanel(self.session)
        self.interviews = InterviewRunner(self.session, self)
        chat_column = QWidget()
        column = QVBoxLayout(chat_column)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        for part in (self.rollout_bar, self.trial_panel):
            column.addWidget(part)
        column.addWidget(self.chat_view, 1)
        self.splitter.addWidget(chat_column)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setCollapsible(1, False)
        self.splitter.setSizes([270, 910])
        self.sidebar.setMinimumWidth(200)
        self.add_page("Chat", self.splitter, "chat")
        self.teach = TeachView(self.session)
        self.teach.train_requested.connect(lambda: self.show_page("Training"))
        self.add_page("Teach", self.teach, "teach")
        self.training = TrainingView(self.session)
        self.add_page("Training", self.training, "training")
        self.history = HistoryView(self.session)
        self.add_page("History", self.history, "history")
        self.assistant_import = AssistantImport(self.session.home.root, self)
        self.assistant_import.imported.connect(self._assistant_imported)
        self.assistant_import.failed.connect(self._import_failed)
        self.assistant_import.already_here.connect(self._import_already_here)
        self.ledger = LedgerView(self.session)
        self.add_page("Ledger", self.ledger, "ledger")
        self.insight = InsightView(self.session)
        self.add_page("What it learned", self.insight, "insight")
        self.usage = UsageView(self.session)
        self.add_page("Usage", self.usage, "usage")
        self.preparation = Preparation(self.session, self)
        self.insight_ahead = InsightAhead(self.session, self)
        self.insight.follow(self.insight_ahead)

        self._build_status_bar()
        self._build_shortcuts()
        self._wire()
        self._restore_state()
        last_conversation = self._last("conversation")
        self.controller.start(
            AssistantId(last) if (last := self._last("assistant")) else None,
            ConversationId(last_conversation) if last_conversation else None)
        self.sharing = Sharing(self.session, self.controller, self)  # other apps: off by default
        self.sharing.restore()
        self.chat_view.composer.setFocus()  # type right away

    # -- pages -----------------------------------------------------------------------------

    def add_page(self, name: str, widget: QWidget, icon: QIcon | str | None = None) -> int:
        """Add a page to the rail and the stack; returns its index. The first page shows.

        `icon` is a QIcon, or the name of an icon in resources/icons (re-tinted with the theme).
        """
        index = self.stack.addWidget(widget)
        self.pages[name] = widget
        button = QToolButton()
        button.setObjectName("railButton")
        button.setCheckable(True)
        button.setToolTip(f"{name}  (Ctrl+{index + 1})" if index < 9 else name)
        button.setAccessibleName(name)
        if isinstance(icon, str):
            set_icon(button, icon)
        elif icon is not None and not icon.isNull():
            button.setIcon(icon)
        else:
            button.setText(name[:2])
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        button.clicked.connect(lambda: self.show_page(name))
        self.rail_group.addButton(button, index)
        self.rail_layout.insertWidget(index, button, 0, Qt.AlignmentFlag.AlignHCenter)
        if index == 0:
            button.setChecked(True)
        if index < 9:
            action = QAction(self)
            action.setShortcut(QKeySequence(f"Ctrl+{index + 1}"))
            action.triggered.connect(lambda: self.show_page(name))
            self.addAction(action)
        return int(index)

    def show_page(self, name: str) -> None:
        widget = self.pages[name]
        index = self.stack.indexOf(widget)
        self.stack.setCurrentIndex(index)
        button = self.rail_group.button(index)
        if button is not None:
            button.setChecked(True)

    # -- building --------------------------------------------------------------------------

    def _build_status_bar(self) -> None:
        items = self.status_items = StatusItems(self.statusBar(), self.preparation)
        self.busy_bar, self.state_label, self.prepare_label = (
            items.busy_bar, items.state_label, items.prepare_label)
        self.model_label, self.adapter_label, self.speed_label = (
            items.model_label, items.adapter_label, items.speed_label)

    def _action(self, keys: str, slot: object, *, widget: QWidget | None = None) -> QAction:
        action = QAction(widget or self)
        action.setShortcut(QKeySequence(keys))
        action.triggered.connect(slot)
        if widget is not None:
            action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        (widget or self).addAction(action)
        return action

    def _build_shortcuts(self) -> None:
        self._action("Ctrl+N", self.new_chat)
        self._action("Ctrl+F", self.focus_search)
        self._action("Esc", self.controller.stop)
        self._action("Ctrl+Shift+R", self.controller.regenerate)
        self._action("Ctrl+Shift+C", self.copy_last_answer)
        self._action("F2", lambda: self._rename_current())
        self._action("Ctrl+L", lambda: self.chat_view.composer.setFocus())
        self._action("Ctrl+,", self.open_settings)
        self._action("Ctrl+Q", self.close)
        self._action("Ctrl+Alt+P", self.rollout_bar.toggle_pause)
        self._action("Ctrl+Alt+N", self.rollout_bar.next_step)
        self._action("Ctrl+Alt+B", self.rollout_bar.roll_back)
        self._action("Ctrl+Alt+T", self.rollout_bar.start_trial)
        self._action("Del", lambda: self._delete_current(), widget=self.sidebar.list)

    def _wire(self) -> None:
        c, view, side = self.controller, self.chat_view, self.sidebar
        c.assistant_changed.connect(self._assistant_changed)
        c.conversations_changed.connect(self.refresh_conversations)
        c.conversation_opened.connect(self._conversation_opened)
        c.user_message_added.connect(self._if_current(view.add_user_message))
        c.answer_started.connect(self._if_current(lambda waiting: view.begin_answer(
            waiting=waiting)))
        c.answer_piece.connect(self._if_current(view.append_piece))
        c.answer_saved.connect(self._answer_saved)
        c.answer_removed.connect(self._if_current(lambda: view.remove_last_answer()))
        c.context_measured.connect(self._if_current(view.set_left_out))
        c.busy_changed.connect(view.set_busy)
        c.engine_changed.connect(self._engine_changed)
        c.speed_changed.connect(lambda v: self.speed_label.setText(f"{v:.1f} tok/s"))
        c.error.connect(view.show_error)
        c.rollout_changed.connect(lambda r: self._versions_changed())
        c.version_retired.connect(self.interviews.hold)
        c.answer_saved.connect(lambda *_: self.rollout_bar.refresh())  # answers to the next step
        c.trial_round.connect(self._if_current(lambda _round: self._follow_trial()))
        bar = self.rollout_bar
        bar.changed.connect(self.controller.reload_engine)
        bar.changed.connect(self._versions_changed)
        bar.retired.connect(self.interviews.hold)
        bar.message.connect(lambda text, error: view.show_error(text) if error
                            else self.statusBar().showMessage(text, 8000))
        self.trial_panel.picked.connect(self._trial_picked)
        self.interviews.progress.connect(lambda text, _f: self.statusBar().showMessage(text))
        self.interviews.finished.connect(self._interviewed)
        self.interviews.failed.connect(lambda m: self.statusBar().showMessage(
            f"The retirement interview could not be held: {m}", 10000))
        c.feedback_changed.connect(lambda *_: self.preparation.consider())
        self.teach.changed.connect(self.preparation.consider)
        self.training.following.connect(self.preparation.set_training)
        self.training.run_status.connect(self.status_items.show_training)
        self.training.move_review.connect(lambda _v: self.move_model())
        self.status_items.training_item.clicked.connect(lambda: self.show_page("Training"))
        self.training.candidate_ready.connect(self.insight_ahead.consider)
        self.training.following.connect(self.insight_ahead.training_started)
        changes = bus()  # what an operation or a consent changed: the pages that show it follow
        changes.changed.connect(self._changed)
        changes.failed.connect(self._operation_failed)
        view.send_requested.connect(self._send)
        view.stop_requested.connect(c.stop)
        view.regenerate_requested.connect(c.regenerate)
        c.attach_feedback(view)
        side.assistant_selected.connect(c.select_assistant)
        side.new_assistant_requested.connect(self.new_assistant)
        side.settings_requested.connect(self.open_settings)
        side.new_chat_requested.connect(self.new_chat)
        side.conversation_selected.connect(c.open_conversation)
        side.rename_requested.connect(self.rename_conversation)
        side.delete_requested.connect(self.delete_conversation)
        side.search_changed.connect(self._search_changed)

    # -- state -----------------------------------------------------------------------------

    def _last(self, what: str) -> int | None:
        try:
            value = int(str(self.settings.value(f"last_{what}", 0)))
        except (TypeError, ValueError):
            return None
        return value or None

    def _restore_state(self) -> None:
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        sizes = self.settings.value("splitter")
        if sizes is not None:
            self.splitter.restoreState(sizes)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop any answer, free the engine, remember the layout. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        changes = bus()
        changes.changed.disconnect(self._changed)
        changes.failed.disconnect(self._operation_failed)
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("splitter", self.splitter.saveState())
        self._remember_place()
        self.settings.sync()
        self.interviews.stop()
        self.preparation.stop(wait=True)
        self.insight_ahead.stop(wait=True)
        self.sharing.stop(remember=False)
        self.inference.shutdown()
        # The stopped answer's "finished" is queued for us: deliver it so it is saved.
        QCoreApplication.sendPostedEvents(self.controller)
        self.controller.closed = True
        if self._owns_session:
            self.session.close()
