"""The chat page's sidebar: the assistant picker and the conversation list with search."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from kindred.core.basics.ids import ConversationId
from kindred.core.chat.conversations import Conversation
from kindred.core.home.assistants import Assistant
from kindred.ui.kit.icons import icon, set_icon

NEW_ASSISTANT = -1


def when(timestamp: float) -> str:
    """A short, friendly date for the list: time today, weekday this week, else the date."""
    moment = datetime.fromtimestamp(timestamp)
    today = datetime.now()
    if moment.date() == today.date():
        return moment.strftime("%H:%M")
    if (today - moment).days < 7:
        return moment.strftime("%a")
    return moment.strftime("%d %b %Y" if moment.year != today.year else "%d %b")


class Sidebar(QWidget):
    """Emits what the person picks; the window wires it to the ChatController."""

    assistant_selected = Signal(int)
    new_assistant_requested = Signal()
    settings_requested = Signal()
    new_chat_requested = Signal()
    conversation_selected = Signal(int)
    rename_requested = Signal(int)
    delete_requested = Signal(int)
    search_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self._updating = False

        self.assistant_box = QComboBox()
        self.assistant_box.setObjectName("assistantBox")
        self.assistant_box.setToolTip("Who you talk to")
        self.assistant_box.activated.connect(self._assistant_activated)
        self.settings_button = QToolButton()
        self.settings_button.setObjectName("sidebarTool")
        set_icon(self.settings_button, "settings")
        self.settings_button.setToolTip("Persona and settings of this assistant (Ctrl+,)")
        self.settings_button.clicked.connect(self.settings_requested)
        top = QHBoxLayout()
        top.setSpacing(6)
        top.addWidget(self.assistant_box, 1)
        top.addWidget(self.settings_button)

        self.new_button = QPushButton("  New chat")
        set_icon(self.new_button, "plus")
        self.new_button.setObjectName("newChat")
        self.new_button.setToolTip("Start a new conversation (Ctrl+N)")
        self.new_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.new_button.clicked.connect(self.new_chat_requested)

        self.search = QLineEdit()
        self.search.setObjectName("search")
        self.search.setPlaceholderText("Search conversations  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(150)
        self._search_timer.timeout.connect(lambda: self.search_changed.emit(self.search.text()))
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.search.installEventFilter(self)  # Esc in the search box clears it

        self.list = QListWidget()
        self.list.setObjectName("conversationList")
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setUniformItemSizes(True)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.currentItemChanged.connect(self._picked)
        self.list.itemDoubleClicked.connect(lambda item: self.rename_requested.emit(
            item.data(Qt.ItemDataRole.UserRole)))
        self.empty_label = QLabel("No conversations yet.\nYour chats will appear here.")
        self.empty_label.setObjectName("sidebarEmpty")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)

        label = QLabel("Conversations")
        label.setObjectName("sectionLabel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(8)
        layout.addLayout(top)
        layout.addWidget(self.new_button)
        layout.addSpacing(4)
        layout.addWidget(self.search)
        layout.addWidget(label)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty_label, 1)

    # -- filled by the window --------------------------------------------------------------

    def set_assistants(self, assistants: list[Assistant], current: int) -> None:
        self._updating = True
        self.assistant_box.clear()
        for a in assistants:
            self.assistant_box.addItem(icon("user"), a.name, a.id)
        self.assistant_box.insertSeparator(self.assistant_box.count())
        self.assistant_box.addItem(icon("plus"), "New assistant…", NEW_ASSISTANT)
        self.assistant_box.setCurrentIndex(max(self.assistant_box.findData(current), 0))
        self._updating = False

    def set_conversations(self, conversations: list[Conversation], current: int | None,
                          searching: bool = False) -> None:
        self._updating = True
        self.list.clear()
        for c in conversations:
            item = QListWidgetItem(c.title)
            item.setData(Qt.ItemDataRole.UserRole, c.id)
            item.setToolTip(f"{c.title}\nLast message: {when(c.updated_at)}")
            self.list.addItem(item)
            if c.id == current:
                self.list.setCurrentItem(item)
        self._updating = False
        self.empty_label.setText("Nothing matches your search." if searching else
                                 "No conversations yet.\nYour chats will appear here.")
        self.empty_label.setVisible(not conversations)
        self.list.setVisible(bool(conversations))

    def current_id(self) -> ConversationId | None:
        item = self.list.currentItem()
        return None if item is None else ConversationId(int(item.data(Qt.ItemDataRole.UserRole)))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # a window-wide Esc (stop the answer) would take the key first: claim it (the
        # shortcut-override event) while there is a filter to clear
        if (watched is self.search and isinstance(event, QKeyEvent)
                and event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress)
                and event.key() == Qt.Key.Key_Escape and self.search.text()):
            self.clear_search()
            event.accept()
            return True
        return super().eventFilter(watched, event)

    def clear_search(self) -> None:
        """Show every conversation again, at once (no typing delay)."""
        self._search_timer.stop()
        if self.search.text():
            self.search.blockSignals(True)
            self.search.clear()
            self.search.blockSignals(False)
            self.search_changed.emit("")

    def titles(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    # -- internals ---------------------------------------------------------------------------

    def _assistant_activated(self, index: int) -> None:
        if self._updating:
            return
        value = self.assistant_box.itemData(index)
        if value == NEW_ASSISTANT:
            self.new_assistant_requested.emit()
        elif value is not None:
            self.assistant_selected.emit(int(value))

    def _picked(self, item: QListWidgetItem | None, _previous: object) -> None:
        if not self._updating and item is not None:
            self.conversation_selected.emit(int(item.data(Qt.ItemDataRole.UserRole)))

    def _menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        cid = int(item.data(Qt.ItemDataRole.UserRole))
        menu = QMenu(self)
        menu.addAction(icon("edit"), "Rename…", lambda: self.rename_requested.emit(cid))
        menu.addAction(icon("trash"), "Delete…", lambda: self.delete_requested.emit(cid))
        menu.exec(self.list.viewport().mapToGlobal(pos))
