"""Correct this answer: the person writes the answer they wanted, starting from the one given.

The dialog only collects the text; whoever opened it saves it and then calls `saved()` (closes)
or `failed(text)` (stays open, says why), so a refused correction never loses what was typed.
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from kindred.ui.kit.widgets import error_label

PROMPT_PREVIEW = 300


class CorrectDialog(QDialog):
    submitted = Signal(str)  # the answer the person wanted

    def __init__(self, prompt: str, answer: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.original = answer
        self.setWindowTitle("Correct this answer")
        self.setMinimumWidth(560)
        shown = prompt if len(prompt) <= PROMPT_PREVIEW else prompt[:PROMPT_PREVIEW] + "…"
        self.question = question = QLabel(f"<b>You asked:</b> {escape(shown)}")
        question.setTextFormat(Qt.TextFormat.RichText)
        question.setWordWrap(True)
        intro = QLabel("Write the answer you wanted. Your assistant learns from it the next "
                       "time it trains; the answer it gave is kept as the one to avoid.")
        intro.setWordWrap(True)
        intro.setObjectName("dialogStatus")
        self.editor = QPlainTextEdit(answer)
        self.editor.setObjectName("correctionEditor")
        self.editor.setAccessibleName("The answer you wanted")
        self.editor.setTabChangesFocus(True)
        self.editor.setMinimumHeight(180)
        self.editor.textChanged.connect(self._changed)
        self.status = error_label()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.save_button = self.buttons.addButton("Save correction",
                                                  QDialogButtonBox.ButtonRole.AcceptRole)
        self.save_button.setToolTip("Save (Ctrl+Enter)")
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self, self.submit)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(question)
        layout.addWidget(intro)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.editor.setFocus()
        self.editor.selectAll()  # typing replaces the answer; arrow keys edit it instead
        self._changed()

    @property
    def wanted(self) -> str:
        return str(self.editor.toPlainText())

    def _changed(self) -> None:
        text = self.wanted.strip()
        self.save_button.setEnabled(bool(text) and text != self.original.strip())
        self.status.hide()

    def submit(self) -> None:
        if self.save_button.isEnabled():
            self.submitted.emit(self.wanted)

    def saved(self) -> None:
        self.accept()

    def failed(self, text: str) -> None:
        self.status.setText(text)
        self.status.show()
