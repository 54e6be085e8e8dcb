"""Teach: everything the person has taught their assistant, to read, add, edit and remove.

Three kinds, one tab each: stated preferences (they apply to the next answer at once, and are
learned at the next training), corrected answers (the answer the person wanted, the original kept
as the one to move away from) and ratings (thumbs up or down, given in the chat). Every change
goes through `kindred.core.learning.feedback`, which refuses bad input with a message and changes
nothing; removing an item forgets it for future training only, since each trained version keeps
its own snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from kindred.core.basics.errors import KindredError
from kindred.core.home.assistants import Assistant, get_assistant
from kindred.core.learning import feedback
from kindred.core.learning.feedback import Feedback
from kindred.core.session import Session
from kindred.ui.kit.icons import icon
from kindred.ui.kit.page import Page, hint, status_line
from kindred.ui.kit.widgets import HintedList, HintedTable, destructive_box
from kindred.ui.learning.example_dialog import ExampleDialog, short

ID_ROLE = Qt.ItemDataRole.UserRole


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%b %d, %H:%M")


class TeachView(Page):
    changed = Signal()  # something taught was added, edited or removed
    train_requested = Signal()  # "Train on these…": the window shows the Training page

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__("", "What you teach stays with your assistant. Preferences apply to "
                         "the very next answer; corrected answers and ratings are learned when "
                         "you train it.", parent)
        self.session = session
        self.assistant: Assistant = session.assistant()
        self.dialog: QDialog | QMessageBox | None = None
        self.counts = QLabel()
        self.train_button = QPushButton(icon("check"), "Train on these…")
        self.train_button.clicked.connect(self.train_requested)
        top = QHBoxLayout()
        top.addWidget(self.counts, 1)
        top.addWidget(self.train_button)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._preferences_tab(), "Preferences")
        self.tabs.addTab(self._examples_tab(), "Corrected answers")
        self.tabs.addTab(self._ratings_tab(), "Ratings")
        self.status = status_line()
        self.add_row(top)
        self.add_row(self.tabs, 1)
        self.add_row(self.status)
        self.refresh()

    # -- building ----------------------------------------------------------------------------

    def _preferences_tab(self) -> QWidget:
        self.preference_input = QLineEdit()
        self.preference_input.setPlaceholderText("Tell it something to remember, e.g. “Call me "
                                                 "Sam” or “Keep answers short”")
        self.preference_input.returnPressed.connect(self.add_preference)
        add = QPushButton(icon("plus"), "Add")
        add.clicked.connect(self.add_preference)
        row = QHBoxLayout()
        row.addWidget(self.preference_input, 1)
        row.addWidget(add)
        self.preferences = HintedList("No preferences yet. Tell your assistant something to "
                                      "keep in mind, like “Call me Sam” or “Keep answers "
                                      "short”: it applies from the next answer on.")
        self.preferences.setAlternatingRowColors(True)
        self.preferences.itemChanged.connect(self._preference_changed)
        note = hint("Untick a preference to pause it; double-click to change its words.")
        edit = QPushButton(icon("edit"), "Edit")
        edit.clicked.connect(lambda: self._edit_current_preference())
        self.remove_preference_button = QPushButton(icon("trash"), "Remove")
        self.remove_preference_button.clicked.connect(
            lambda: self.remove(self._current_id(self.preferences)))
        return self._tab([row], self.preferences, [note], [edit, self.remove_preference_button])

    def _examples_tab(self) -> QWidget:
        self.examples = self._table(["You asked", "The answer you want", "It had said"],
                                    "No corrected answers yet. Under any answer in the chat, "
                                    "“Correct this answer” lets you write the one you wanted; "
                                    "or add one here.")
        self.examples.itemDoubleClicked.connect(lambda _i: self.edit_example())
        add = QPushButton(icon("plus"), "Add…")
        add.clicked.connect(self.add_example)
        edit = QPushButton(icon("edit"), "Edit…")
        edit.clicked.connect(self.edit_example)
        remove = QPushButton(icon("trash"), "Remove")
        remove.clicked.connect(lambda: self.remove(self._current_id(self.examples)))
        note = hint("Write the answer you wanted; training teaches your assistant to answer "
                    "like that. “Correct this answer” under a chat answer adds one too.")
        return self._tab([], self.examples, [note], [add, edit, remove])

    def _ratings_tab(self) -> QWidget:
        self.ratings = self._table(["", "You asked", "It answered", "When"],
                                   "No ratings yet. Use the thumbs up and down under the "
                                   "answers in the chat.")
        self.flip_button = QPushButton(icon("thumbs-down"), "Change to disliked")
        self.flip_button.clicked.connect(self.flip_rating)
        remove = QPushButton(icon("trash"), "Remove")
        remove.clicked.connect(lambda: self.remove(self._current_id(self.ratings)))
        self.ratings.itemSelectionChanged.connect(self._update_flip)
        note = hint("Rate answers with the thumbs up and down in the chat; liked answers are "
                    "learned as good examples.")
        return self._tab([], self.ratings, [note], [self.flip_button, remove])

    @staticmethod
    def _table(headers: list[str], placeholder: str) -> QTableWidget:
        table = HintedTable(0, len(headers), placeholder)
        table.setHorizontalHeaderLabels(headers)
        table.verticalHeader().hide()
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setAlternatingRowColors(True)
        table.setWordWrap(True)
        header = table.horizontalHeader()
        for col in range(len(headers)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch)
        if headers[0] == "":
            header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        if headers[-1] == "When":
            header.setSectionResizeMode(len(headers) - 1,
                                        QHeaderView.ResizeMode.ResizeToContents)
        return table

    @staticmethod
    def _tab(top: list[QHBoxLayout], main: QWidget, hints: list[QLabel],
             buttons: list[QPushButton]) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(10, 10, 10, 10)
        for row in top:
            layout.addLayout(row)
        layout.addWidget(main, 1)
        actions = QHBoxLayout()
        for note in hints:
            actions.addWidget(note, 1)
        for button in buttons:
            actions.addWidget(button)
        layout.addLayout(actions)
        return page

    # -- content -----------------------------------------------------------------------------

    def set_assistant(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()  # ratings and corrections also arrive from the chat

    def refresh(self) -> None:
        store = self.session.store
        self.assistant = get_assistant(store, self.assistant.id)
        self.title.setText(f"Teach {self.assistant.name}")
        items = feedback.list_feedback(store, self.assistant.id)
        prefs = [f for f in items if f.kind == "preference"]
        examples = [f for f in items if f.kind == "correction"]
        ratings = [f for f in items if f.kind == "rating"]
        counts = feedback.counts(store, self.assistant.id)
        self.counts.setText(
            f"{counts['preferences']} preference{'s' if counts['preferences'] != 1 else ''} · "
            f"{counts['corrections']} corrected answer{'s' if counts['corrections'] != 1 else ''}"
            f" · {counts['liked']} liked · {counts['disliked']} disliked")
        self.train_button.setEnabled(bool(items))
        self.tabs.setTabText(0, f"Preferences ({len(prefs)})")
        self.tabs.setTabText(1, f"Corrected answers ({len(examples)})")
        self.tabs.setTabText(2, f"Ratings ({len(ratings)})")
        self._fill_preferences(prefs)
        self._fill(self.examples, examples,
                   lambda f: [f.prompt, f.answer, f.rejected or "—"])
        self._fill(self.ratings, list(reversed(ratings)),  # newest first
                   lambda f: ["Liked" if f.value == 1 else "Disliked", f.prompt, f.answer,
                              _when(f.updated_at)])
        for row in range(self.ratings.rowCount()):
            cell = self.ratings.item(row, 0)
            if cell is not None:
                cell.setIcon(icon("thumbs-up" if cell.text() == "Liked" else "thumbs-down"))
        self._update_flip()

    def _fill_preferences(self, prefs: list[Feedback]) -> None:
        self.preferences.blockSignals(True)
        self.preferences.clear()
        for pref in prefs:
            item = QListWidgetItem(pref.text)
            item.setData(ID_ROLE, pref.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable
                          | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if pref.active else
                               Qt.CheckState.Unchecked)
            item.setToolTip(f"Added {_when(pref.created_at)}"
                            + ("" if pref.active else " · paused"))
            self.preferences.addItem(item)
        self.preferences.blockSignals(False)

    @staticmethod
    def _fill(table: QTableWidget, items: list[Feedback],
              columns: Callable[[Feedback], list[str]]) -> None:
        selected = TeachView._current_id(table)
        table.setRowCount(len(items))
        for row, item in enumerate(items):
            for col, text in enumerate(columns(item)):
                cell = QTableWidgetItem(short(text))
                cell.setToolTip(text if len(text) > 60 else "")
                cell.setData(ID_ROLE, item.id)
                table.setItem(row, col, cell)
            if item.id == selected:
                table.selectRow(row)
        table.resizeRowsToContents()

    @staticmethod
    def _current_id(widget: QListWidget | QTableWidget) -> int | None:
        item = widget.currentItem()
        if item is None or (isinstance(widget, QTableWidget) and not item.isSelected()):
            return None
        value = item.data(ID_ROLE)
        return int(value) if value is not None else None

    def select(self, feedback_id: int) -> None:
        """Select an item by id in whichever list holds it (for tests and keyboard users)."""
        for index, widget in enumerate((self.preferences, self.examples, self.ratings)):
            if isinstance(widget, QListWidget):
                for row in range(widget.count()):
                    if widget.item(row).data(ID_ROLE) == feedback_id:
                        self.tabs.setCurrentIndex(index)
                        widget.setCurrentRow(row)
                        return
            elif isinstance(widget, QTableWidget):
                for row in range(widget.rowCount()):
                    cell = widget.item(row, 0)
                    if cell is not None and cell.data(ID_ROLE) == feedback_id:
                        self.tabs.setCurrentIndex(index)
                        widget.selectRow(row)
                        widget.setCurrentCell(row, 0)
                        return

    # -- changes -----------------------------------------------------------------------------

    def _say(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setProperty("error", error)
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)

    def _apply(self, action: Callable[[], object], done: str) -> bool:
        try:
            action()
        except KindredError as exc:
            self._say(str(exc), error=True)
            self.refresh()
            return False
        self._say(done)
        self.refresh()
        self.changed.emit()
        return True

    def add_preference(self) -> None:
        text = self.preference_input.text()
        if self._apply(lambda: feedback.add_preference(self.session.store, self.assistant.id,
                                                       text),
                       "Added. It applies to the next answer, and training will learn it."):
            self.preference_input.clear()

    def _preference_changed(self, item: QListWidgetItem) -> None:
        fid = int(item.data(ID_ROLE))
        current = feedback.get_feedback(self.session.store, fid)
        active = item.checkState() == Qt.CheckState.Checked
        if active != current.active:
            self._apply(lambda: feedback.edit_feedback(self.session.store, fid, active=active),
                        "Preference on again." if active else
                        "Preference paused: it no longer applies, and training skips it.")
        elif item.text() != current.text:
            text = item.text()
            self._apply(lambda: feedback.edit_feedback(self.session.store, fid, answer=text),
                        "Preference changed.")

    def _edit_current_preference(self) -> None:
        item = self.preferences.currentItem()
        if item is not None:
            self.preferences.editItem(item)

    def add_example(self) -> None:
        store, aid = self.session.store, self.assistant.id

        def submit(prompt: str, answer: str) -> None:
            feedback.add_example(store, aid, prompt, answer)
            self._after_dialog("Corrected answer added; training will learn it.")
        self._open(ExampleDialog(submit, parent=self))

    def edit_example(self) -> None:
        fid = self._current_id(self.examples)
        if fid is None:
            return
        item = feedback.get_feedback(self.session.store, fid)

        def submit(prompt: str, answer: str) -> None:
            feedback.edit_feedback(self.session.store, fid, prompt=prompt, answer=answer)
            self._after_dialog("Corrected answer changed.")
        self._open(ExampleDialog(submit, prompt=item.prompt, answer=item.answer,
                                 rejected=item.rejected, parent=self))

    def _after_dialog(self, message: str) -> None:
        self._say(message)
        self.refresh()
        self.changed.emit()

    def flip_rating(self) -> None:
        fid = self._current_id(self.ratings)
        if fid is None:
            return
        item = feedback.get_feedback(self.session.store, fid)
        value = -1 if item.value == 1 else 1
        self._apply(lambda: feedback.edit_feedback(self.session.store, fid, value=value),
                    f"Now rated {'liked' if value == 1 else 'disliked'}.")

    def _update_flip(self) -> None:
        fid = self._current_id(self.ratings)
        self.flip_button.setEnabled(fid is not None)
        if fid is not None:
            value = feedback.get_feedback(self.session.store, fid).value
            self.flip_button.setText("Change to disliked" if value == 1 else "Change to liked")
            self.flip_button.setIcon(icon("thumbs-down" if value == 1 else "thumbs-up"))

    def remove(self, feedback_id: int | None) -> None:
        """Ask, then forget an item for future training (trained versions keep theirs)."""
        if feedback_id is None:
            self._say("Select something to remove first.")
            return
        item = feedback.get_feedback(self.session.store, feedback_id)
        what = {"preference": "this preference", "correction": "this corrected answer",
                "rating": "this rating"}[item.kind]
        self._open(destructive_box(
            self, "Remove?", f"Remove {what}?",
            "Future training will not use it. Versions already trained keep it in their "
            "archived learning data.", "Remove",
            lambda: self._apply(lambda: feedback.remove_feedback(self.session.store, feedback_id),
                                "Removed. Versions already trained keep it in their snapshot.")))

    def _open(self, dialog: QDialog | QMessageBox) -> None:
        """Window-modal without a nested event loop; tests find it as `self.dialog`."""
        self.dialog = dialog
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _r: setattr(self, "dialog", None)
                                if self.dialog is dialog else None)
        dialog.open()
